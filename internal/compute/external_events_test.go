package compute_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

func TestExternalEvents(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	srv := a.server("member")
	noHost := a.server("alt")
	if _, err := a.svc.InstancesForTest().Update(context.Background(), noHost, instances.Guard{}, func(i *instances.Instance) error {
		i.Host, i.Node = "", ""
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	post := func(token, version string, events ...map[string]any) *answer {
		return a.nova("POST", "/os-server-external-events", map[string]any{"events": events}, token, version)
	}

	r := post("neutron", "2.1", map[string]any{"name": "network-changed", "server_uuid": srv}).must(t, http.StatusOK)
	ev := r.body["events"].([]any)[0].(map[string]any)
	if len(ev) != 4 || ev["name"] != "network-changed" || ev["server_uuid"] != srv || ev["status"] != "completed" || ev["code"] != 200.0 {
		t.Fatalf("events %s", r.raw)
	}
	act := a.nova("GET", "/servers/"+srv+"/os-instance-actions/req-"+srv, nil, "admin", "2.84").must(t, http.StatusOK)
	found := false
	for _, e := range act.body["instanceAction"].(map[string]any)["events"].([]any) {
		e := e.(map[string]any)
		if e["event"] == "compute_external_instance_event" && e["result"] == "Success" && e["details"] == "network-changed" {
			found = true
		}
	}
	if !found {
		t.Fatalf("event not recorded: %s", act.raw)
	}

	missing := uuid.NewString()
	r = post("neutron", "2.76",
		map[string]any{"name": "network-vif-plugged", "server_uuid": srv, "tag": "port-1", "status": "in-progress"},
		map[string]any{"name": "network-vif-plugged", "server_uuid": missing},
		map[string]any{"name": "power-update", "server_uuid": srv},
		map[string]any{"name": "network-changed", "server_uuid": noHost},
	).must(t, http.StatusMultiStatus)
	want := []struct {
		status string
		code   float64
	}{{"completed", 200}, {"failed", 404}, {"failed", 400}, {"failed", 422}}
	for i, w := range want {
		ev := r.body["events"].([]any)[i].(map[string]any)
		if ev["status"] != w.status || ev["code"] != w.code {
			t.Fatalf("event %d: %v, want %+v", i, ev, w)
		}
	}
	if ev := r.body["events"].([]any)[0].(map[string]any); ev["tag"] != "port-1" {
		t.Fatalf("tag not echoed: %v", ev)
	}

	// Refusals.
	post("admin", "2.1", map[string]any{"name": "network-changed", "server_uuid": srv}).must(t, http.StatusOK)
	post("member", "2.1", map[string]any{"name": "network-changed", "server_uuid": srv}).fault(t, http.StatusForbidden, "forbidden",
		"Policy doesn't allow os_compute_api:os-server-external-events:create to be performed.")
	post("neutron", "2.50", map[string]any{"name": "volume-extended", "server_uuid": srv, "tag": "v"}).fault(t, http.StatusBadRequest,
		"badRequest", "Invalid input for field/attribute events/0/name. Value: volume-extended. 'volume-extended' is not one of "+
			"['network-changed', 'network-vif-plugged', 'network-vif-unplugged', 'network-vif-deleted']")
	post("neutron", "2.51", map[string]any{"name": "volume-extended", "server_uuid": srv, "tag": "v"}).must(t, http.StatusOK)
	post("neutron", "2.1", map[string]any{"name": "network-changed"}).must(t, http.StatusBadRequest)
	post("neutron", "2.1", map[string]any{"name": "network-changed", "server_uuid": "nope"}).must(t, http.StatusBadRequest)
	post("neutron", "2.1", map[string]any{"name": "network-changed", "server_uuid": srv, "status": "done"}).must(t, http.StatusBadRequest)
	post("neutron", "2.1", map[string]any{"name": "network-changed", "server_uuid": srv, "x": 1}).must(t, http.StatusBadRequest)
	a.nova("POST", "/os-server-external-events", map[string]any{"events": []any{}}, "neutron", "2.1").fault(t, http.StatusBadRequest, "badRequest", "Invalid input for field/attribute events. Value: []. [] should be non-empty")
}
