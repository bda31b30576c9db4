package instances

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

var _ = addCases(
	storeCase{"ListFilters", testListFilters},
	storeCase{"ListPaging", testListPaging},
	storeCase{"Actions", testActions},
)

func testListFilters(t *testing.T, s *Store) {
	ctx := context.Background()
	mk := func(p, name string, f func(*Instance)) *Instance {
		in := newInstance(p, name)
		if f != nil {
			f(in)
		}
		return create(t, s, in)
	}
	a := mk("p1", "alpha", func(i *Instance) {
		i.Host, i.Node, i.AvailabilityZone, i.VMState, i.TaskState = "h1", "n1", "az1", Active, ""
		i.Tags = []string{"red", "blue"}
		i.LaunchedAt = s.now()
	})
	b := mk("p1", "beta", func(i *Instance) {
		i.Host, i.VMState, i.TaskState, i.Locked = "h2", Stopped, "", true
		i.Flavor.FlavorID, i.ImageRef, i.ReservationID = "2", "img-2", "r-2"
		i.Tags = []string{"red"}
		i.UserID = "u-other"
	})
	c := mk("p1", "alphabet", func(i *Instance) {
		i.Hostname = "gamma-host"
		i.Tags = []string{"green"}
	})
	mk("p2", "alpha", nil)
	soft := mk("p1", "soft", func(i *Instance) { i.VMState = SoftDeleted })

	for _, tc := range []struct {
		q    Query
		want []string
	}{
		{Query{ProjectID: "p1"}, []string{"alphabet", "beta", "alpha"}}, // created_at desc
		{Query{}, []string{"alpha", "alphabet", "beta", "alpha"}},
		{Query{ProjectID: "p1", UserID: "u-other"}, []string{"beta"}},
		{Query{ProjectID: "p1", Name: "^alpha"}, []string{"alphabet", "alpha"}},
		{Query{ProjectID: "p1", Name: "ph"}, []string{"alphabet", "alpha"}},
		{Query{ProjectID: "p1", Name: "alpha$"}, []string{"alpha"}},
		{Query{ProjectID: "p1", Name: "^alpha", Limit: 1}, []string{"alphabet"}},
		{Query{ProjectID: "p1", Hostname: "^gam"}, []string{"alphabet"}},
		{Query{ProjectID: "p1", Host: "h1"}, []string{"alpha"}},
		{Query{ProjectID: "p1", Node: "n1"}, []string{"alpha"}},
		{Query{ProjectID: "p1", Statuses: []string{Active, Stopped}}, []string{"beta", "alpha"}},
		{Query{ProjectID: "p1", TaskStates: []string{TaskScheduling}}, []string{"alphabet"}},
		{Query{ProjectID: "p1", TaskStates: []string{""}}, []string{"beta", "alpha"}},
		{Query{ProjectID: "p1", Flavor: "2"}, []string{"beta"}},
		{Query{ProjectID: "p1", Image: "img-2"}, []string{"beta"}},
		{Query{ProjectID: "p1", ReservationID: "r-2"}, []string{"beta"}},
		{Query{ProjectID: "p1", AvailabilityZone: "az1"}, []string{"alpha"}},
		{Query{ProjectID: "p1", Locked: ptr(true)}, []string{"beta"}},
		{Query{ProjectID: "p1", Locked: ptr(false)}, []string{"alphabet", "alpha"}},
		{Query{ProjectID: "p1", Tags: []string{"red", "blue"}}, []string{"alpha"}},
		{Query{ProjectID: "p1", Tags: []string{"red"}}, []string{"beta", "alpha"}},
		{Query{ProjectID: "p1", TagsAny: []string{"blue", "green"}}, []string{"alphabet", "alpha"}},
		{Query{ProjectID: "p1", NotTags: []string{"red", "blue"}}, []string{"alphabet", "beta"}},
		{Query{ProjectID: "p1", NotTagsAny: []string{"red", "green"}}, []string{}},
		{Query{ProjectID: "p1", NotTagsAny: []string{"blue"}}, []string{"alphabet", "beta"}},
		{Query{ProjectID: "p1", UUIDs: []string{a.UUID, c.UUID}}, []string{"alphabet", "alpha"}},
		{Query{ProjectID: "p1", UUIDs: []string{}}, []string{}},
		{Query{ProjectID: "p1", LaunchedAt: a.LaunchedAt}, []string{"alpha"}},
		{Query{ProjectID: "p1", LaunchedAt: a.LaunchedAt.Add(time.Microsecond)}, []string{}},
		{Query{ProjectID: "p1", ChangesSince: b.CreatedAt}, []string{"soft", "alphabet", "beta"}},
		{Query{ProjectID: "p1", ChangesBefore: b.CreatedAt}, []string{"beta", "alpha"}},
		{Query{ProjectID: "p1", Statuses: []string{SoftDeleted}}, []string{"soft"}},
		{Query{ProjectID: "p1", Deleted: ptr(true)}, []string{"soft"}},
		{Query{ProjectID: "p1", SortKeys: []string{"display_name"}, SortDirs: []string{"asc"}}, []string{"alpha", "alphabet", "beta"}},
		{Query{ProjectID: "p1", SortKeys: []string{"display_name"}}, []string{"beta", "alphabet", "alpha"}},
		{Query{ProjectID: "p1", SortKeys: []string{"host", "display_name"}, SortDirs: []string{"desc", "asc"}}, []string{"beta", "alpha", "alphabet"}},
		{Query{ProjectID: "p1", Limit: 2}, []string{"alphabet", "beta"}},
		{Query{ProjectID: "p3"}, []string{}},
	} {
		if got := names(t, s, tc.q); !cmp.Equal(got, tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	_ = soft

	// An update moves a server into changes-since.
	mark := s.now()
	s.Update(ctx, a.UUID, Guard{}, func(i *Instance) error { i.Progress = 1; return nil })
	if got := names(t, s, Query{ProjectID: "p1", ChangesSince: mark}); !cmp.Equal(got, []string{"alpha"}) {
		t.Errorf("changes-since an update: %v", got)
	}
	// Listed instances carry metadata and tags.
	l, _ := s.List(ctx, Query{ProjectID: "p1", UUIDs: []string{a.UUID}})
	if len(l) != 1 || !cmp.Equal(l[0].Tags, []string{"blue", "red"}) || l[0].Metadata == nil {
		t.Errorf("listed: %+v", l)
	}

	for _, q := range []Query{
		{SortKeys: []string{"password"}},
		{SortKeys: []string{"display_name"}, SortDirs: []string{"up"}},
		{SortKeys: []string{"display_name"}, SortDirs: []string{"asc", "desc"}},
	} {
		_, err := s.List(ctx, q)
		wantErr(t, fmt.Sprintf("List(%+v)", q), err, ErrInvalid)
	}
	// A name Go cannot compile is searched for as text.
	odd := mk("p1", "x(y[z", nil)
	if got := names(t, s, Query{ProjectID: "p1", Name: "x(y["}); !cmp.Equal(got, []string{"x(y[z"}) {
		t.Errorf("name x(y[: %v", got)
	}
	if got := names(t, s, Query{ProjectID: "p1", Hostname: "(?=x)"}); len(got) != 0 {
		t.Errorf("hostname (?=x): %v", got)
	}
	s.Destroy(ctx, odd.UUID)
	_, err := s.List(ctx, Query{Marker: uuid.NewString()})
	wantErr(t, "List(unknown marker)", err, ErrNotFound)
	_, err = s.List(ctx, Query{ProjectID: "p2", Marker: a.UUID})
	wantErr(t, "List(marker of another project)", err, ErrNotFound)
}

// testListPaging walks every page of several sort orders, with ties in
// the sort keys, and finds the same servers in the same order as one
// unlimited list.
func testListPaging(t *testing.T, s *Store) {
	ctx := context.Background()
	created := s.now()
	for n := range 23 {
		in := newInstance("p1", fmt.Sprintf("s%02d", n%5)) // names repeat
		in.Host = fmt.Sprintf("h%d", n%3)
		in.CreatedAt = created.Add(time.Duration(n%4) * time.Second) // times repeat
		if n%7 == 0 {
			in.VMState = Active
		}
		create(t, s, in)
	}
	victim, _ := s.List(ctx, Query{ProjectID: "p1", Limit: 1})
	s.Destroy(ctx, victim[0].UUID)
	for _, order := range []struct{ keys, dirs []string }{
		{nil, nil},
		{[]string{"display_name"}, []string{"asc"}},
		{[]string{"display_name", "host"}, []string{"desc", "asc"}},
		{[]string{"host", "vm_state", "created_at"}, []string{"asc", "desc", "asc"}},
		{[]string{"uuid"}, nil},
	} {
		q := Query{ProjectID: "p1", SortKeys: order.keys, SortDirs: order.dirs}
		all, err := s.List(ctx, q)
		if err != nil || len(all) != 22 {
			t.Fatalf("List(%v): %d, %v", order, len(all), err)
		}
		var paged []string
		for page := 0; ; page++ {
			q.Limit = 5
			l, err := s.List(ctx, q)
			if err != nil {
				t.Fatalf("page %d of %v: %v", page, order, err)
			}
			for _, i := range l {
				paged = append(paged, i.UUID)
			}
			if len(l) < 5 {
				break
			}
			q.Marker = l[len(l)-1].UUID
		}
		var want []string
		for _, i := range all {
			want = append(want, i.UUID)
		}
		if !slices.Equal(paged, want) {
			t.Errorf("pages of %v differ from the whole list:\n%v\n%v", order, paged, want)
		}
	}
	// A deleted server is still a marker (as Nova's read_deleted=yes).
	if _, err := s.List(ctx, Query{ProjectID: "p1", Marker: victim[0].UUID}); err != nil {
		t.Errorf("deleted marker: %v", err)
	}
}

func testActions(t *testing.T, s *Store) {
	ctx := context.Background()
	in := create(t, s, newInstance("p1", "a"))
	for _, r := range []string{"req-stop", "req-start"} {
		a := &Action{Action: r[4:], UUID: in.UUID, RequestID: r, UserID: "u", ProjectID: "p1"}
		if err := s.StartAction(ctx, a); err != nil || a.ID == 0 || a.StartTime.IsZero() {
			t.Fatalf("StartAction: %+v %v", a, err)
		}
	}
	if err := s.StartEvent(ctx, in.UUID, "req-stop", "compute_stop_instance", "h1"); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishEvent(ctx, in.UUID, "req-stop", "compute_stop_instance", "Success", "", ""); err != nil {
		t.Fatal(err)
	}
	s.StartEvent(ctx, in.UUID, "req-start", "compute_start_instance", "h1")
	if err := s.FinishEvent(ctx, in.UUID, "req-start", "compute_start_instance", "Error", "Traceback...", "it broke"); err != nil {
		t.Fatal(err)
	}
	// Finishing an event never started records it.
	if err := s.FinishEvent(ctx, in.UUID, "req-start", "conductor_start", "Success", "", ""); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "StartEvent(unknown request)", s.StartEvent(ctx, in.UUID, "req-x", "e", "h"), ErrNotFound)
	wantErr(t, "FinishEvent(unknown request)", s.FinishEvent(ctx, in.UUID, "req-x", "e", "Success", "", ""), ErrNotFound)

	acts, err := s.ListActions(ctx, in.UUID, 0, "", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.Action+"/"+a.Message)
		if a.Events != nil {
			t.Errorf("ListActions gave events")
		}
	}
	if !cmp.Equal(got, []string{"start/Error", "stop/", "create/"}) {
		t.Errorf("actions %v", got)
	}
	if acts[0].UpdatedAt.IsZero() || !acts[2].UpdatedAt.IsZero() {
		t.Errorf("updated_at: %v / %v", acts[0].UpdatedAt, acts[2].UpdatedAt)
	}

	a, err := s.GetAction(ctx, in.UUID, "req-start")
	if err != nil {
		t.Fatal(err)
	}
	if a.Action != "start" || a.Message != "Error" || len(a.Events) != 2 {
		t.Fatalf("GetAction: %+v", a)
	}
	e := a.Events[1] // newest first
	if e.Event != "compute_start_instance" || e.Host != "h1" || e.Result != "Error" || e.Traceback != "Traceback..." ||
		e.Details != "it broke" || e.StartTime.IsZero() || !e.FinishTime.After(e.StartTime) {
		t.Errorf("event %+v", e)
	}
	if a.Events[0].Event != "conductor_start" || a.Events[0].Result != "Success" {
		t.Errorf("event %+v", a.Events[0])
	}
	if a, err := s.GetAction(ctx, in.UUID, "req-a"); err != nil || a.Action != "create" || len(a.Events) != 0 || a.Events == nil {
		t.Errorf("create action %+v %v", a, err)
	}
	_, err = s.GetAction(ctx, in.UUID, "req-x")
	wantErr(t, "GetAction(unknown)", err, ErrNotFound)
	_, err = s.GetAction(ctx, uuid.NewString(), "req-start")
	wantErr(t, "GetAction(other instance)", err, ErrNotFound)

	// Paging by request id, and changes-since/before.
	list := func(limit int, marker string, since, before time.Time) []string {
		t.Helper()
		acts, err := s.ListActions(ctx, in.UUID, limit, marker, since, before)
		if err != nil {
			t.Fatalf("ListActions(%d, %q): %v", limit, marker, err)
		}
		out := []string{}
		for _, a := range acts {
			out = append(out, a.Action)
		}
		return out
	}
	if got := list(2, "", time.Time{}, time.Time{}); !cmp.Equal(got, []string{"start", "stop"}) {
		t.Errorf("limit 2: %v", got)
	}
	if got := list(2, "req-stop", time.Time{}, time.Time{}); !cmp.Equal(got, []string{"create"}) {
		t.Errorf("after req-stop: %v", got)
	}
	_, err = s.ListActions(ctx, in.UUID, 0, "req-x", time.Time{}, time.Time{})
	wantErr(t, "ListActions(unknown marker)", err, ErrNotFound)
	stop, _ := s.GetAction(ctx, in.UUID, "req-stop")
	if got := list(0, "", stop.UpdatedAt, time.Time{}); !cmp.Equal(got, []string{"start", "stop"}) {
		t.Errorf("changes-since stop's last change: %v", got)
	}
	if got := list(0, "", time.Time{}, stop.UpdatedAt); !cmp.Equal(got, []string{"stop", "create"}) {
		t.Errorf("changes-before stop's last change: %v", got)
	}
}
