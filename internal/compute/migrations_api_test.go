package compute

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

func TestMigrationsList(t *testing.T) {
	a := newActionsAPI(t)
	ctx := context.Background()
	act := func(inst *instances.Instance, name, msg string, at time.Time) {
		t.Helper()
		if err := a.svc.instances.StartAction(ctx, &instances.Action{Action: name, UUID: inst.UUID, RequestID: "req-" + name + inst.UUID,
			UserID: inst.UserID, ProjectID: inst.ProjectID, StartTime: at, Message: msg}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	finished := a.server(t, "member", instances.Resized)
	act(finished, "resize", "", t0)
	confirmed := a.server(t, "member", instances.Active)
	act(confirmed, "resize", "", t0.Add(time.Minute))
	act(confirmed, "confirmResize", "", t0.Add(2*time.Minute))
	reverted := a.server(t, "alt", instances.Active)
	act(reverted, "resize", "", t0.Add(3*time.Minute))
	act(reverted, "revertResize", "", t0.Add(4*time.Minute))
	failed := a.server(t, "alt", instances.Active)
	act(failed, "resize", "Error", t0.Add(5*time.Minute))

	r := a.call("GET", "/v2.1/os-migrations", nil, "2.1").must(t, http.StatusOK)
	status := map[string]string{}
	for _, m := range r.list("migrations") {
		m := m.(map[string]any)
		status[m["instance_uuid"].(string)] = m["status"].(string)
		if m["source_compute"] != "host1" || m["dest_compute"] != "host1" || m["source_node"] != "node1" || m["old_instance_type_id"] != nil {
			t.Fatalf("migration %v", m)
		}
		if _, ok := m["migration_type"]; ok {
			t.Fatalf("2.1 shows migration_type: %v", m)
		}
		if len(m) != 12 {
			t.Fatalf("2.1 fields %v", m)
		}
	}
	want := map[string]string{finished.UUID: "finished", confirmed.UUID: "confirmed", reverted.UUID: "reverted", failed.UUID: "error"}
	if len(status) != 4 {
		t.Fatalf("migrations %s", r.raw)
	}
	for id, st := range want {
		if status[id] != st {
			t.Fatalf("status of %s: %q, want %q (%s)", id, status[id], st, r.raw)
		}
	}
	if r := a.call("GET", "/v2.1/os-migrations?status=confirmed", nil, "2.23").must(t, http.StatusOK); len(r.list("migrations")) != 1 ||
		r.str("migrations.0.migration_type") != "resize" || r.has("migrations.0.links") {
		t.Fatalf("2.23 status filter: %s", r.raw)
	}
	if r := a.call("GET", "/v2.1/os-migrations?instance_uuid="+reverted.UUID, nil).must(t, http.StatusOK); len(r.list("migrations")) != 1 {
		t.Fatalf("instance filter: %s", r.raw)
	}

	// 2.59: newest first, paged by uuid.
	r = a.call("GET", "/v2.1/os-migrations?limit=2", nil, "2.59").must(t, http.StatusOK)
	if len(r.list("migrations")) != 2 || r.str("migrations.0.instance_uuid") != failed.UUID || r.str("migrations.0.uuid") == "" ||
		len(r.list("migrations_links")) != 1 {
		t.Fatalf("2.59 page: %s", r.raw)
	}
	r = a.call("GET", "/v2.1/os-migrations?marker="+r.str("migrations.1.uuid"), nil, "2.59").must(t, http.StatusOK)
	if len(r.list("migrations")) != 2 || r.str("migrations.1.instance_uuid") != finished.UUID {
		t.Fatalf("2.59 second page: %s", r.raw)
	}
	a.call("GET", "/v2.1/os-migrations?marker=nope", nil, "2.59").fault(t, http.StatusBadRequest, "badRequest", "Marker nope could not be found.")
	a.call("GET", "/v2.1/os-migrations?foo=1", nil, "2.59").must(t, http.StatusBadRequest)
	a.call("GET", "/v2.1/os-migrations?foo=1", nil, "2.58").must(t, http.StatusOK)
	a.call("GET", "/v2.1/os-migrations?changes-since=bad", nil, "2.59").must(t, http.StatusBadRequest)
	since := t0.Add(150 * time.Second).UTC().Format(time.RFC3339)
	if r := a.call("GET", "/v2.1/os-migrations?changes-since="+since, nil, "2.59").must(t, http.StatusOK); len(r.list("migrations")) != 2 {
		t.Fatalf("changes-since: %s", r.raw)
	}

	// 2.80: users and projects.
	r = a.call("GET", "/v2.1/os-migrations?project_id="+altProject, nil, "2.80").must(t, http.StatusOK)
	if len(r.list("migrations")) != 2 || r.str("migrations.0.project_id") != altProject || r.str("migrations.0.user_id") != "u-alt" {
		t.Fatalf("2.80 project filter: %s", r.raw)
	}
	a.call("GET", "/v2.1/os-migrations", nil, "token=member").fault(t, http.StatusForbidden, "forbidden",
		"Policy doesn't allow os_compute_api:os-migrations:index to be performed.")
}
