package instances

import (
	"context"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

var _ = addCases(storeCase{"Aggregates", testAggregates})

func testAggregates(t *testing.T, s *Store) {
	ctx := context.Background()
	a := &Aggregate{Name: "rack1", AvailabilityZone: "az1", Metadata: map[string]string{"ssd": "true"}, Hosts: []string{"h2", "h1"}}
	if err := s.CreateAggregate(ctx, a); err != nil || a.ID == 0 || a.UUID == "" || a.CreatedAt.IsZero() {
		t.Fatalf("create: %+v %v", a, err)
	}
	want := map[string]string{"ssd": "true", "availability_zone": "az1"}
	for _, ref := range []string{a.UUID, strconv.FormatInt(a.ID, 10)} {
		got, err := s.GetAggregate(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "rack1" || got.AvailabilityZone != "az1" || !cmp.Equal(got.Metadata, want) ||
			!cmp.Equal(got.Hosts, []string{"h1", "h2"}) || !got.UpdatedAt.IsZero() || !got.CreatedAt.Equal(a.CreatedAt) {
			t.Errorf("GetAggregate(%s) = %+v", ref, got)
		}
	}
	_, err := s.GetAggregate(ctx, uuid.NewString())
	wantErr(t, "GetAggregate(unknown)", err, ErrNotFound)
	_, err = s.GetAggregate(ctx, "999")
	wantErr(t, "GetAggregate(unknown id)", err, ErrNotFound)
	wantErr(t, "CreateAggregate(same name)", s.CreateAggregate(ctx, &Aggregate{Name: "rack1"}), ErrConflict)

	b := &Aggregate{Name: "rack2"}
	if err := s.CreateAggregate(ctx, b); err != nil {
		t.Fatal(err)
	}
	if b.AvailabilityZone != "" || len(b.Metadata) != 0 || b.Hosts == nil {
		t.Errorf("plain aggregate %+v", b)
	}

	// Rename and zone.
	_, err = s.UpdateAggregate(ctx, b.ID, ptr("rack1"), nil)
	wantErr(t, "rename to a taken name", err, ErrConflict)
	up, err := s.UpdateAggregate(ctx, b.ID, ptr("rack2b"), ptr("az2"))
	if err != nil || up.Name != "rack2b" || up.AvailabilityZone != "az2" || up.Metadata["availability_zone"] != "az2" || up.UpdatedAt.IsZero() {
		t.Errorf("update: %+v %v", up, err)
	}
	up, err = s.UpdateAggregate(ctx, b.ID, ptr("rack2b"), nil) // its own name
	if err != nil || up.AvailabilityZone != "az2" {
		t.Errorf("update to own name: %+v %v", up, err)
	}
	if up, err = s.UpdateAggregate(ctx, b.ID, nil, ptr("")); err != nil || up.AvailabilityZone != "" || len(up.Metadata) != 0 {
		t.Errorf("zone removed: %+v %v", up, err)
	}
	_, err = s.UpdateAggregate(ctx, 999, ptr("x"), nil)
	wantErr(t, "UpdateAggregate(unknown)", err, ErrNotFound)

	// Metadata: merge, nil deletes, the zone is metadata too.
	md, err := s.SetAggregateMetadata(ctx, a.ID, map[string]*string{"ssd": nil, "gpu": ptr("2"), "availability_zone": ptr("az9"), "absent": nil})
	if err != nil || !cmp.Equal(md.Metadata, map[string]string{"gpu": "2", "availability_zone": "az9"}) || md.AvailabilityZone != "az9" {
		t.Errorf("metadata: %+v %v", md, err)
	}
	_, err = s.SetAggregateMetadata(ctx, 999, map[string]*string{"a": ptr("1")})
	wantErr(t, "SetAggregateMetadata(unknown)", err, ErrNotFound)

	// Hosts.
	_, err = s.AddAggregateHost(ctx, a.ID, "h1")
	wantErr(t, "AddAggregateHost(present)", err, ErrConflict)
	if got, err := s.AddAggregateHost(ctx, b.ID, "h1"); err != nil || !cmp.Equal(got.Hosts, []string{"h1"}) {
		t.Errorf("add host: %+v %v", got, err)
	}
	_, err = s.AddAggregateHost(ctx, 999, "h1")
	wantErr(t, "AddAggregateHost(unknown aggregate)", err, ErrNotFound)
	if got, err := s.RemoveAggregateHost(ctx, a.ID, "h2"); err != nil || !cmp.Equal(got.Hosts, []string{"h1"}) {
		t.Errorf("remove host: %+v %v", got, err)
	}
	_, err = s.RemoveAggregateHost(ctx, a.ID, "h2")
	wantErr(t, "RemoveAggregateHost(absent)", err, ErrNotFound)

	names := func(l []Aggregate, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, g := range l {
			out = append(out, g.Name)
		}
		return out
	}
	if got := names(s.ListAggregates(ctx)); !cmp.Equal(got, []string{"rack1", "rack2b"}) {
		t.Errorf("list %v", got)
	}
	if got := names(s.HostAggregates(ctx, "h1")); !cmp.Equal(got, []string{"rack1", "rack2b"}) {
		t.Errorf("aggregates of h1 %v", got)
	}
	if got := names(s.HostAggregates(ctx, "h2")); len(got) != 0 {
		t.Errorf("aggregates of h2 %v", got)
	}
	if l, _ := s.HostAggregates(ctx, "h1"); l[0].AvailabilityZone != "az9" || !cmp.Equal(l[0].Hosts, []string{"h1"}) {
		t.Errorf("host aggregate details %+v", l[0])
	}

	if err := s.DeleteAggregate(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteAggregate twice", s.DeleteAggregate(ctx, a.ID), ErrNotFound)
	if got := names(s.HostAggregates(ctx, "h1")); !cmp.Equal(got, []string{"rack2b"}) {
		t.Errorf("aggregates of h1 after a delete %v", got)
	}
	// The name is free again.
	if err := s.CreateAggregate(ctx, &Aggregate{Name: "rack1"}); err != nil {
		t.Errorf("re-create: %v", err)
	}

	// Deleting h1's compute service takes it out of its aggregates.
	svc, _, _ := s.Heartbeat(ctx, "h1", "nova-compute", s.now(), 0)
	if err := s.DeleteService(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	if got := names(s.HostAggregates(ctx, "h1")); len(got) != 0 {
		t.Errorf("aggregates of a deleted service's host %v", got)
	}
}
