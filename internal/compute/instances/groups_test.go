package instances

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

var _ = addCases(storeCase{"ServerGroups", testServerGroups})

func testServerGroups(t *testing.T, s *Store) {
	ctx := context.Background()
	g := &ServerGroup{Name: "web", ProjectID: "p1", UserID: "u1", Policy: "anti-affinity",
		Rules: map[string]string{"max_server_per_host": "2"}}
	if err := s.CreateServerGroup(ctx, g); err != nil || g.ID == 0 || g.UUID == "" || g.CreatedAt.IsZero() {
		t.Fatalf("create: %+v %v", g, err)
	}
	got, err := s.GetServerGroup(ctx, g.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(g, got); d != "" {
		t.Errorf("GetServerGroup differs:\n%s", d)
	}
	_, err = s.GetServerGroup(ctx, uuid.NewString())
	wantErr(t, "GetServerGroup(unknown)", err, ErrNotFound)

	a := newInstance("p1", "a")
	a.Host = "h1"
	create(t, s, a)
	b := newInstance("p1", "b")
	b.Host = "h1"
	create(t, s, b)
	c := newInstance("p1", "c") // not scheduled yet
	// A member added in the transaction that creates the instance.
	err = s.DB().Tx(ctx, func(tx *sql.Tx) error {
		if err := s.CreateTx(ctx, tx, c, Action{RequestID: "r"}); err != nil {
			return err
		}
		return s.AddGroupMember(ctx, tx, g.UUID, c.UUID)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{a.UUID, b.UUID, a.UUID} {
		if err := s.AddGroupMember(ctx, nil, g.UUID, m); err != nil {
			t.Fatalf("AddGroupMember: %v", err)
		}
	}
	wantErr(t, "AddGroupMember(unknown group)", s.AddGroupMember(ctx, nil, uuid.NewString(), a.UUID), ErrNotFound)
	other := &ServerGroup{Name: "db", ProjectID: "p1", UserID: "u2", Policy: "affinity", Members: []string{}}
	if err := s.CreateServerGroup(ctx, other); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "AddGroupMember(in another group)", s.AddGroupMember(ctx, nil, other.UUID, a.UUID), ErrConflict)

	got, _ = s.GetServerGroup(ctx, g.UUID)
	want := []string{a.UUID, b.UUID, c.UUID}
	slices.Sort(want)
	if !cmp.Equal(got.Members, want) {
		t.Errorf("members %v, want %v", got.Members, want)
	}
	if of, err := s.GroupOf(ctx, b.UUID); err != nil || of.UUID != g.UUID || len(of.Members) != 3 {
		t.Errorf("GroupOf(b) = %+v, %v", of, err)
	}
	_, err = s.GroupOf(ctx, uuid.NewString())
	wantErr(t, "GroupOf(no group)", err, ErrNotFound)
	if hosts, err := s.MemberHosts(ctx, g.UUID); err != nil || !cmp.Equal(hosts, map[string]int{"h1": 2}) {
		t.Errorf("MemberHosts = %v, %v", hosts, err)
	}

	// A deleted server leaves its group.
	s.Destroy(ctx, b.UUID)
	got, _ = s.GetServerGroup(ctx, g.UUID)
	if len(got.Members) != 2 {
		t.Errorf("members after a delete: %v", got.Members)
	}
	_, err = s.GroupOf(ctx, b.UUID)
	wantErr(t, "GroupOf(deleted)", err, ErrNotFound)

	// Members given at creation.
	third := &ServerGroup{Name: "x", ProjectID: "p2", UserID: "u3", Policy: "soft-affinity", Members: []string{b.UUID}}
	if err := s.CreateServerGroup(ctx, third); err != nil {
		t.Fatal(err)
	}
	if of, err := s.GroupOf(ctx, b.UUID); err != nil || of.UUID != third.UUID || of.Rules == nil {
		t.Errorf("GroupOf after create with members: %+v %v", of, err)
	}
	list := func(p string, limit, offset int) []string {
		t.Helper()
		l, err := s.ListServerGroups(ctx, p, limit, offset)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, g := range l {
			out = append(out, g.Name)
		}
		return out
	}
	for _, tc := range []struct {
		p             string
		limit, offset int
		want          []string
	}{
		{"", 0, 0, []string{"web", "db", "x"}},
		{"p1", 0, 0, []string{"web", "db"}},
		{"", 2, 0, []string{"web", "db"}},
		{"", 2, 1, []string{"db", "x"}},
		{"", 0, 2, []string{"x"}},
		{"p9", 0, 0, []string{}},
	} {
		if got := list(tc.p, tc.limit, tc.offset); !cmp.Equal(got, tc.want) {
			t.Errorf("ListServerGroups(%q, %d, %d) = %v, want %v", tc.p, tc.limit, tc.offset, got, tc.want)
		}
	}
	if l, _ := s.ListServerGroups(ctx, "p1", 0, 0); len(l[0].Members) != 2 {
		t.Errorf("listed members %v", l[0].Members)
	}
	for _, tc := range []struct {
		p, u string
		want int64
	}{{"p1", "", 2}, {"p1", "u1", 1}, {"p2", "", 1}, {"p9", "", 0}} {
		if n, err := s.CountServerGroups(ctx, nil, tc.p, tc.u); err != nil || n != tc.want {
			t.Errorf("CountServerGroups(%s, %s) = %d, %v; want %d", tc.p, tc.u, n, err, tc.want)
		}
	}

	if err := s.DeleteServerGroup(ctx, g.UUID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteServerGroup twice", s.DeleteServerGroup(ctx, g.UUID), ErrNotFound)
	_, err = s.GroupOf(ctx, a.UUID)
	wantErr(t, "GroupOf(member of a deleted group)", err, ErrNotFound)
	// Its former members may join another.
	if err := s.AddGroupMember(ctx, nil, other.UUID, a.UUID); err != nil {
		t.Errorf("join after the group went: %v", err)
	}
}
