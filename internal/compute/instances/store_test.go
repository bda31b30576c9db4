package instances

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/db/pgtest"
)

// storeCase is a test run on each engine with a fresh database.
type storeCase struct {
	name string
	fn   func(t *testing.T, s *Store)
}

// cases lists every store test; TestSQLite and TestPostgres run them.
var cases []storeCase

func addCases(cs ...storeCase) bool { cases = append(cases, cs...); return true }

// clock is a store's time: it moves one millisecond on every reading, so
// that every write is later than the one before.
func withClock(s *Store) *Store {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var n atomic.Int64
	s.now = func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Millisecond) }
	return s
}

func TestSQLite(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := db.OpenTest(t, os.DirFS("../migrations"))
			c.fn(t, withClock(New(d)))
		})
	}
}

func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	dsn := pgtest.Start(t)
	admin, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	for n, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("t%d", n)
			if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
				t.Fatal(err)
			}
			d, err := db.Open(context.Background(), strings.Replace(dsn, "/postgres?", "/"+name+"?", 1))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			if err := d.Migrate(context.Background(), os.DirFS("../migrations")); err != nil {
				t.Fatal(err)
			}
			c.fn(t, withClock(New(d)))
		})
	}
}

// newInstance is a building instance of project p named name.
func newInstance(p, name string) *Instance {
	return &Instance{
		UUID: uuid.NewString(), Name: name, ProjectID: p, UserID: "u-" + p, Hostname: name,
		VMState: Building, TaskState: TaskScheduling,
		Flavor:   Flavor{FlavorID: "1", Name: "m1.tiny", MemoryMB: 512, VCPUs: 1, RootGB: 1, RXTXFactor: 1},
		ImageRef: "img-1", Metadata: map[string]string{}, Tags: []string{},
		Spec: RequestSpec{Image: Image{ID: "img-1"}},
	}
}

// create inserts inst with its create action (request id "req-"+name).
func create(t *testing.T, s *Store, inst *Instance) *Instance {
	t.Helper()
	if inst.CreatedAt.IsZero() {
		inst.CreatedAt = s.now()
	}
	err := s.DB().Tx(context.Background(), func(tx *sql.Tx) error {
		return s.CreateTx(context.Background(), tx, inst, Action{RequestID: "req-" + inst.Name})
	})
	if err != nil {
		t.Fatalf("create %s: %v", inst.Name, err)
	}
	return inst
}

func mustGet(t *testing.T, s *Store, id string) *Instance {
	t.Helper()
	inst, err := s.Get(context.Background(), id, false)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return inst
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func ptr[T any](v T) *T { return &v }

var _ = addCases(
	storeCase{"CreateGet", testCreateGet},
	storeCase{"Update", testUpdate},
	storeCase{"ConcurrentUpdates", testConcurrentUpdates},
	storeCase{"Destroy", testDestroy},
	storeCase{"MetadataTags", testMetadataTags},
	storeCase{"Faults", testFaults},
	storeCase{"CountUsage", testCountUsage},
)

func testCreateGet(t *testing.T, s *Store) {
	ctx := context.Background()
	in := newInstance("p1", "full")
	in.Description = ptr("a server")
	in.Host, in.Node, in.LaunchedOn, in.AvailabilityZone = "h1", "h1.node", "h1", "nova"
	in.Flavor.ExtraSpecs = map[string]string{"hw:cpu_policy": "shared"}
	in.Flavor.Description = ptr("tiny")
	in.NewFlavor = &Flavor{FlavorID: "2", Name: "m1.small", MemoryMB: 2048, VCPUs: 1, RootGB: 20}
	in.KeyName, in.KeyData, in.KeyType = "k", "ssh-ed25519 AAAA", "ssh"
	in.UserData = []byte{0, 1, 2, 'x'}
	in.ConfigDrive, in.Locked, in.LockedBy, in.LockedReason = true, true, "owner", ptr("because")
	in.AccessIPv4, in.AccessIPv6, in.AutoDiskConfig = "10.0.0.1", "::1", true
	in.ReservationID, in.LaunchIndex, in.RootDeviceName = "r-1", 2, "/dev/vda"
	in.Metadata = map[string]string{"a": "1", "b": "2"}
	in.Tags = []string{"z", "a", "z"}
	in.Spec = RequestSpec{Image: Image{ID: "img-1", Properties: map[string]string{"hw_rng_model": "virtio"}},
		AvailabilityZone: "nova", SchedulerHints: map[string][]string{"group": {"g"}}, NumInstances: 3,
		IgnoreHosts: []string{"h0"}, Attempts: 1}
	in.TrustedCerts = []string{"c1", "c2"}
	in.PreviousVMState, in.ShelvedImageID, in.RescueImageRef = Active, "shelved", "rescue"
	in.LaunchedAt = s.now().UTC().Truncate(time.Microsecond)
	create(t, s, in)
	if in.ID == 0 {
		t.Fatal("ID not filled in")
	}
	got := mustGet(t, s, in.UUID)
	want := *in
	want.Tags = []string{"a", "z"}
	want.CreatedAt = want.CreatedAt.UTC()
	if d := cmp.Diff(&want, got); d != "" {
		t.Errorf("Get differs (-want +got):\n%s", d)
	}

	// A plain instance: nil pointers stay nil, maps and slices empty.
	plain := create(t, s, newInstance("p1", "plain"))
	got = mustGet(t, s, plain.UUID)
	if got.Description != nil || got.OldFlavor != nil || got.NewFlavor != nil || got.UserData != nil ||
		got.TrustedCerts != nil || got.LockedReason != nil || got.Metadata == nil || got.Tags == nil || got.Fault != nil {
		t.Errorf("plain instance: %+v", got)
	}
	if !got.UpdatedAt.IsZero() || !got.LaunchedAt.IsZero() {
		t.Errorf("times never set are not zero: %v %v", got.UpdatedAt, got.LaunchedAt)
	}

	_, err := s.Get(ctx, uuid.NewString(), false)
	wantErr(t, "Get(unknown)", err, ErrNotFound)

	dup := newInstance("p1", "dup")
	dup.UUID = in.UUID
	err = s.DB().Tx(ctx, func(tx *sql.Tx) error { return s.CreateTx(ctx, tx, dup, Action{}) })
	wantErr(t, "CreateTx(same uuid)", err, ErrConflict)

	// The create action is there.
	acts, err := s.ListActions(ctx, in.UUID, 0, "", time.Time{}, time.Time{})
	if err != nil || len(acts) != 1 || acts[0].Action != "create" || acts[0].RequestID != "req-full" ||
		acts[0].UserID != "u-p1" || acts[0].ProjectID != "p1" || !acts[0].StartTime.Equal(in.CreatedAt) {
		t.Errorf("actions %+v, %v", acts, err)
	}
}

func testUpdate(t *testing.T, s *Store) {
	ctx := context.Background()
	in := create(t, s, newInstance("p1", "u"))

	// A guard that does not hold writes nothing.
	_, err := s.Update(ctx, in.UUID, Guard{ExpectTask: []string{""}}, func(i *Instance) error {
		i.TaskState = TaskPoweringOff
		return nil
	})
	wantErr(t, "Update(wrong task)", err, ErrConflict)
	_, err = s.Update(ctx, in.UUID, Guard{ExpectVM: []string{Active, Stopped}}, func(i *Instance) error {
		i.Name = "changed"
		return nil
	})
	wantErr(t, "Update(wrong vm)", err, ErrConflict)
	// An error from change writes nothing either.
	boom := errors.New("boom")
	_, err = s.Update(ctx, in.UUID, Guard{}, func(i *Instance) error {
		i.Name = "changed"
		i.Metadata["x"] = "y"
		return boom
	})
	wantErr(t, "Update(change fails)", err, boom)
	if got := mustGet(t, s, in.UUID); got.Name != "u" || got.TaskState != TaskScheduling || len(got.Metadata) != 0 || !got.UpdatedAt.IsZero() {
		t.Fatalf("failed updates wrote: %+v", got)
	}

	out, err := s.Update(ctx, in.UUID, Guard{ExpectTask: []string{TaskScheduling}, ExpectVM: []string{Building}}, func(i *Instance) error {
		i.VMState, i.TaskState, i.PowerState = Active, "", PowerRunning
		i.Host, i.Node = "h1", "n1"
		i.Metadata["k"] = "v"
		i.Tags = append(i.Tags, "t2", "t1")
		i.OldFlavor = &Flavor{FlavorID: "0", Name: "old"}
		i.ID = 999 // ignored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.UpdatedAt.IsZero() || out.ID != in.ID {
		t.Errorf("Update result %+v", out)
	}
	got := mustGet(t, s, in.UUID)
	if d := cmp.Diff(out, got); d != "" {
		t.Errorf("Update returned what it did not write (-returned +stored):\n%s", d)
	}
	if got.VMState != Active || got.TaskState != "" || got.Host != "h1" || got.Metadata["k"] != "v" ||
		!cmp.Equal(got.Tags, []string{"t1", "t2"}) || got.OldFlavor == nil || got.OldFlavor.Name != "old" {
		t.Errorf("after update: %+v", got)
	}
	// ExpectTask "" is None.
	if _, err := s.Update(ctx, in.UUID, Guard{ExpectTask: []string{""}}, func(i *Instance) error {
		i.TaskState = TaskPoweringOff
		return nil
	}); err != nil {
		t.Errorf("Update(expect None): %v", err)
	}

	// ERROR with its fault in one update; the fault shows while in ERROR.
	out, err = s.Update(ctx, in.UUID, Guard{}, func(i *Instance) error {
		i.VMState, i.TaskState = Error, ""
		i.Fault = &Fault{Code: 500, Message: "No valid host was found.", Details: "trace"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got = mustGet(t, s, in.UUID)
	if got.Fault == nil || got.Fault.Message != "No valid host was found." || got.Fault.Code != 500 ||
		got.Fault.Details != "trace" || got.Fault.Created.IsZero() {
		t.Errorf("fault after ERROR: %+v", got.Fault)
	}
	if d := cmp.Diff(out.Fault, got.Fault); d != "" {
		t.Errorf("Update's fault differs:\n%s", d)
	}
	// An update that leaves the fault alone does not record it again.
	if _, err := s.Update(ctx, in.UUID, Guard{}, func(i *Instance) error { i.Progress = 5; return nil }); err != nil {
		t.Fatal(err)
	}
	var n int
	s.DB().QueryRow(`SELECT COUNT(*) FROM instance_faults WHERE instance_uuid = $1`, in.UUID).Scan(&n)
	if n != 1 {
		t.Errorf("%d faults recorded, want 1", n)
	}
	// Back to ACTIVE: no fault shown.
	if out, _ := s.Update(ctx, in.UUID, Guard{}, func(i *Instance) error { i.VMState = Active; return nil }); out == nil || out.Fault != nil {
		t.Errorf("fault of an ACTIVE server: %+v", out)
	}
	if got := mustGet(t, s, in.UUID); got.Fault != nil {
		t.Errorf("fault of an ACTIVE server: %+v", got.Fault)
	}

	_, err = s.Update(ctx, uuid.NewString(), Guard{}, func(*Instance) error { return nil })
	wantErr(t, "Update(unknown)", err, ErrNotFound)
	if _, err := s.Destroy(ctx, in.UUID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Update(ctx, in.UUID, Guard{}, func(*Instance) error { return nil })
	wantErr(t, "Update(deleted)", err, ErrNotFound)
}

func testConcurrentUpdates(t *testing.T, s *Store) {
	ctx := context.Background()
	in := create(t, s, newInstance("p1", "c"))
	const n = 16
	var wg sync.WaitGroup
	var won atomic.Int32
	errs := make(chan error, 2*n)
	for range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, in.UUID, Guard{}, func(i *Instance) error {
				i.Progress++
				i.Metadata[fmt.Sprint(i.Progress)] = "x"
				return nil
			})
			if err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, in.UUID, Guard{ExpectTask: []string{TaskScheduling}}, func(i *Instance) error {
				i.TaskState = TaskSpawning
				return nil
			})
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, ErrConflict):
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := mustGet(t, s, in.UUID)
	if got.Progress != n || len(got.Metadata) != n {
		t.Errorf("progress %d, %d metadata keys; want %d (lost updates)", got.Progress, len(got.Metadata), n)
	}
	if won.Load() != 1 || got.TaskState != TaskSpawning {
		t.Errorf("%d guarded updates won, want 1 (task %q)", won.Load(), got.TaskState)
	}
}

func testDestroy(t *testing.T, s *Store) {
	ctx := context.Background()
	in := create(t, s, newInstance("p1", "d"))
	keep := create(t, s, newInstance("p1", "keep"))
	if _, err := s.Update(ctx, in.UUID, Guard{}, func(i *Instance) error {
		i.VMState, i.TaskState, i.PowerState = Active, TaskDeleting, PowerRunning
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := s.Destroy(ctx, in.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Deleted || out.VMState != Deleted || out.TaskState != "" || out.PowerState != PowerNoState ||
		out.DeletedAt.IsZero() || out.TerminatedAt.IsZero() {
		t.Errorf("destroyed: %+v", out)
	}
	_, err = s.Get(ctx, in.UUID, false)
	wantErr(t, "Get(deleted)", err, ErrNotFound)
	got, err := s.Get(ctx, in.UUID, true)
	if err != nil || !got.Deleted {
		t.Errorf("Get(deleted, withDeleted) = %+v, %v", got, err)
	}
	_, err = s.Destroy(ctx, in.UUID)
	wantErr(t, "Destroy twice", err, ErrNotFound)
	_, err = s.Destroy(ctx, uuid.NewString())
	wantErr(t, "Destroy(unknown)", err, ErrNotFound)

	if l := names(t, s, Query{}); !cmp.Equal(l, []string{"keep"}) {
		t.Errorf("default list %v", l)
	}
	if l := names(t, s, Query{Deleted: ptr(true)}); !cmp.Equal(l, []string{"d"}) {
		t.Errorf("deleted list %v", l)
	}
	if l := names(t, s, Query{Deleted: ptr(false)}); !cmp.Equal(l, []string{"keep"}) {
		t.Errorf("deleted=false list %v", l)
	}
	if l := names(t, s, Query{ChangesSince: keep.CreatedAt}); !cmp.Equal(l, []string{"keep", "d"}) {
		t.Errorf("changes-since list %v", l)
	}
	if l := names(t, s, Query{ChangesSince: out.DeletedAt}); !cmp.Equal(l, []string{"d"}) {
		t.Errorf("changes-since the deletion %v", l)
	}
	if n, _, _, err := s.CountUsage(ctx, s.DB(), "p1", ""); err != nil || n != 1 {
		t.Errorf("usage after delete: %d, %v", n, err)
	}
	// The actions of a deleted server stay readable.
	if acts, err := s.ListActions(ctx, in.UUID, 0, "", time.Time{}, time.Time{}); err != nil || len(acts) != 1 {
		t.Errorf("actions of a deleted server: %v %v", acts, err)
	}
}

func testMetadataTags(t *testing.T, s *Store) {
	ctx := context.Background()
	in := newInstance("p1", "m")
	in.Metadata = map[string]string{"a": "1"}
	create(t, s, in)

	md, err := s.SetMetadata(ctx, in.UUID, map[string]string{"b": "2", "a": "3"}, false)
	if err != nil || !cmp.Equal(md, map[string]string{"a": "3", "b": "2"}) {
		t.Errorf("merge: %v %v", md, err)
	}
	md, err = s.SetMetadata(ctx, in.UUID, map[string]string{"c": "4"}, true)
	if err != nil || !cmp.Equal(md, map[string]string{"c": "4"}) {
		t.Errorf("replace: %v %v", md, err)
	}
	md, err = s.SetMetadata(ctx, in.UUID, map[string]string{}, true)
	if err != nil || len(md) != 0 {
		t.Errorf("replace with nothing: %v %v", md, err)
	}
	s.SetMetadata(ctx, in.UUID, map[string]string{"x": "1", "y": "2"}, false)
	if err := s.DeleteMetadataKey(ctx, in.UUID, "x"); err != nil {
		t.Error(err)
	}
	wantErr(t, "delete absent key", s.DeleteMetadataKey(ctx, in.UUID, "x"), ErrNotFound)
	if got := mustGet(t, s, in.UUID); !cmp.Equal(got.Metadata, map[string]string{"y": "2"}) {
		t.Errorf("metadata %v", got.Metadata)
	}

	tags, err := s.SetTags(ctx, in.UUID, []string{"b", "a", "b"})
	if err != nil || !cmp.Equal(tags, []string{"a", "b"}) {
		t.Errorf("SetTags: %v %v", tags, err)
	}
	if err := s.AddTag(ctx, in.UUID, "c"); err != nil {
		t.Error(err)
	}
	if err := s.AddTag(ctx, in.UUID, "a"); err != nil {
		t.Errorf("AddTag present: %v", err)
	}
	if err := s.DeleteTag(ctx, in.UUID, "b"); err != nil {
		t.Error(err)
	}
	wantErr(t, "delete absent tag", s.DeleteTag(ctx, in.UUID, "b"), ErrNotFound)
	if got := mustGet(t, s, in.UUID); !cmp.Equal(got.Tags, []string{"a", "c"}) {
		t.Errorf("tags %v", got.Tags)
	}
	if tags, err := s.SetTags(ctx, in.UUID, nil); err != nil || tags == nil || len(tags) != 0 {
		t.Errorf("SetTags(nil): %v %v", tags, err)
	}

	other := uuid.NewString()
	_, err = s.SetMetadata(ctx, other, map[string]string{"a": "1"}, false)
	wantErr(t, "SetMetadata(unknown)", err, ErrNotFound)
	wantErr(t, "DeleteMetadataKey(unknown)", s.DeleteMetadataKey(ctx, other, "a"), ErrNotFound)
	_, err = s.SetTags(ctx, other, []string{"a"})
	wantErr(t, "SetTags(unknown)", err, ErrNotFound)
	wantErr(t, "AddTag(unknown)", s.AddTag(ctx, other, "a"), ErrNotFound)
	wantErr(t, "DeleteTag(unknown)", s.DeleteTag(ctx, other, "a"), ErrNotFound)
	s.Destroy(ctx, in.UUID)
	wantErr(t, "AddTag(deleted)", s.AddTag(ctx, in.UUID, "z"), ErrNotFound)
}

func testFaults(t *testing.T, s *Store) {
	ctx := context.Background()
	in := create(t, s, newInstance("p1", "f"))
	if err := s.AddFault(ctx, in.UUID, Fault{Code: 500, Message: "first"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFault(ctx, in.UUID, Fault{Code: 404, Message: "second", Details: "d"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, in.UUID); got.Fault != nil {
		t.Errorf("fault of a BUILD server: %+v", got.Fault)
	}
	s.Update(ctx, in.UUID, Guard{}, func(i *Instance) error { i.VMState = Error; return nil })
	got := mustGet(t, s, in.UUID)
	if got.Fault == nil || got.Fault.Message != "second" || got.Fault.Code != 404 || got.Fault.Details != "d" {
		t.Errorf("newest fault: %+v", got.Fault)
	}
	if l, err := s.List(ctx, Query{ProjectID: "p1"}); err != nil || len(l) != 1 || l[0].Fault == nil || l[0].Fault.Message != "second" {
		t.Errorf("list fault: %v", err)
	}
	wantErr(t, "AddFault(unknown)", s.AddFault(ctx, uuid.NewString(), Fault{Code: 500}), ErrNotFound)
}

func testCountUsage(t *testing.T, s *Store) {
	ctx := context.Background()
	for n, p := range []string{"p1", "p1", "p2"} {
		in := newInstance(p, fmt.Sprint("i", n))
		in.Flavor.VCPUs, in.Flavor.MemoryMB = int64(n+1), int64(1024*(n+1))
		if n == 1 {
			in.UserID = "other"
		}
		create(t, s, in)
	}
	off := newInstance("p1", "offloaded")
	off.VMState = ShelvedOffloaded
	create(t, s, off)
	err := s.DB().Tx(ctx, func(tx *sql.Tx) error {
		i, c, r, err := s.CountUsage(ctx, tx, "p1", "")
		if err != nil || i != 3 || c != 4 || r != 1024+2048+512 {
			t.Errorf("project usage %d %d %d %v", i, c, r, err)
		}
		i, c, r, err = s.CountUsage(ctx, tx, "p1", "other")
		if err != nil || i != 1 || c != 2 || r != 2048 {
			t.Errorf("user usage %d %d %d %v", i, c, r, err)
		}
		i, c, r, err = s.CountUsage(ctx, tx, "nobody", "")
		if err != nil || i != 0 || c != 0 || r != 0 {
			t.Errorf("empty usage %d %d %d %v", i, c, r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Resized, deleted, and a deleted row removed: the counts follow.
	l, err := s.List(ctx, Query{ProjectID: "p1"})
	if err != nil || len(l) != 3 {
		t.Fatalf("list: %d %v", len(l), err)
	}
	byName := map[string]*Instance{}
	for _, in := range l {
		byName[in.Name] = in
	}
	if _, err := s.Update(ctx, byName["i0"].UUID, Guard{}, func(i *Instance) error {
		i.Flavor.VCPUs, i.Flavor.MemoryMB = 8, 8192
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Destroy(ctx, byName["i1"].UUID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM instances WHERE uuid = $1`, byName["i1"].UUID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user          string
		i, cores, ram int64
	}{{"", 2, 8 + 1, 8192 + 512}, {"other", 0, 0, 0}} {
		i, cores, ram, err := s.CountUsage(ctx, nil, "p1", c.user)
		if err != nil || i != c.i || cores != c.cores || ram != c.ram {
			t.Errorf("usage of p1/%q after resize and delete: %d %d %d %v, want %d %d %d", c.user, i, cores, ram, err, c.i, c.cores, c.ram)
		}
	}
}

// names lists q's instance names.
func names(t *testing.T, s *Store, q Query) []string {
	t.Helper()
	l, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	out := []string{}
	for _, i := range l {
		out = append(out, i.Name)
	}
	return out
}
