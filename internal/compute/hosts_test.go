package compute

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// hostsAPI is the actions harness with host1's node and a scheduler.
func hostsAPI(t *testing.T) *actionsAPI {
	t.Helper()
	a := newActionsAPI(t)
	ctx := context.Background()
	if _, err := a.svc.instances.PutComputeNode(ctx, instances.ComputeNode{Host: "host1", HypervisorHostname: "node1",
		HypervisorType: "QEMU", VCPUs: 8, MemoryMB: 16384, LocalGB: 100}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.svc.instances.Heartbeat(ctx, "ctl", "nova-scheduler", time.Now(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHostsList(t *testing.T) {
	a := hostsAPI(t)
	r := a.call("GET", "/v2.1/os-hosts", nil, "2.42").must(t, http.StatusOK)
	hosts := r.list("hosts")
	if len(hosts) != 2 || r.str("hosts.0.host_name") != "host1" || r.str("hosts.0.service") != "compute" ||
		r.str("hosts.0.zone") != "nova" || r.str("hosts.1.service") != "scheduler" || r.str("hosts.1.zone") != "internal" {
		t.Fatalf("hosts %s", r.raw)
	}
	if n := len(a.call("GET", "/v2.1/os-hosts?zone=nova", nil).must(t, http.StatusOK).list("hosts")); n != 1 {
		t.Fatalf("zone nova: %d hosts", n)
	}
	if n := len(a.call("GET", "/v2.1/os-hosts?zone=", nil).must(t, http.StatusOK).list("hosts")); n != 2 {
		t.Fatalf("blank zone: %d hosts", n)
	}
	r = a.call("GET", "/v2.1/os-hosts?zone=xxx", nil).must(t, http.StatusOK)
	if r.raw != "{\"hosts\":[]}\n" {
		t.Fatalf("unknown zone: %s", r.raw)
	}
	a.call("GET", "/v2.1/os-hosts", nil, "token=member").fault(t, http.StatusForbidden, "forbidden",
		"Policy doesn't allow os_compute_api:os-hosts:list to be performed.")
	a.call("GET", "/v2.1/os-hosts", nil, "2.43").fault(t, http.StatusNotFound, "itemNotFound", "The resource could not be found.")

	// A disabled service's host is not listed.
	a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "disable"}).must(t, http.StatusOK)
	if r := a.call("GET", "/v2.1/os-hosts", nil); len(r.list("hosts")) != 1 || r.str("hosts.0.host_name") != "ctl" {
		t.Fatalf("after disable: %s", r.raw)
	}
}

func TestHostShow(t *testing.T) {
	a := hostsAPI(t)
	a.server(t, "member", instances.Active)
	a.server(t, "member", instances.Stopped)
	a.server(t, "alt", instances.Active)
	r := a.call("GET", "/v2.1/os-hosts/host1", nil).must(t, http.StatusOK)
	res := r.list("host")
	if len(res) != 5 {
		t.Fatalf("resources %s", r.raw)
	}
	want := []struct {
		project        string
		cpu, mem, disk float64
	}{{"(total)", 8, 16384, 100}, {"(used_now)", 3, 1536, 3}, {"(used_max)", 3, 1536, 3}, {demoProject, 2, 1024, 2}, {altProject, 1, 512, 1}}
	for i, w := range want {
		p := "host." + string(rune('0'+i)) + ".resource."
		if r.str(p+"host") != "host1" || r.str(p+"project") != w.project || r.num(p+"cpu") != w.cpu ||
			r.num(p+"memory_mb") != w.mem || r.num(p+"disk_gb") != w.disk {
			t.Fatalf("resource %d: %v, want %+v", i, res[i], w)
		}
	}
	a.call("GET", "/v2.1/os-hosts/nonexistent_hostname", nil).fault(t, http.StatusNotFound, "itemNotFound",
		"Compute host nonexistent_hostname could not be found.")
	a.call("GET", "/v2.1/os-hosts/host1", nil, "token=member").must(t, http.StatusForbidden)
}

func TestHostUpdateAndPower(t *testing.T) {
	a := hostsAPI(t)
	disabled := func() bool {
		list, err := a.svc.instances.ListServices(context.Background(), "host1", "nova-compute")
		if err != nil || len(list) != 1 {
			t.Fatalf("services %v %v", list, err)
		}
		return list[0].Disabled
	}
	r := a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "Disable"}).must(t, http.StatusOK)
	if r.raw != "{\"host\":\"host1\",\"status\":\"disabled\"}\n" || !disabled() {
		t.Fatalf("disable: %s", r.raw)
	}
	if r := a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "enable"}).must(t, http.StatusOK); r.str("status") != "enabled" || disabled() {
		t.Fatalf("enable: %s", r.raw)
	}

	// Refusals change nothing.
	a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "invalid", "maintenance_mode": "enable"}).fault(t,
		http.StatusBadRequest, "badRequest", "Invalid input for field/attribute status. Value: invalid. 'invalid' is not one of "+
			"['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']")
	a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "disable", "maintenance_mode": "invalid"}).must(t, http.StatusBadRequest)
	a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{}).fault(t, http.StatusBadRequest, "badRequest",
		"{} is not valid under any of the given schemas")
	a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "disable", "x": 1}).must(t, http.StatusBadRequest)
	a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "disable", "maintenance_mode": "enable"}).fault(t,
		http.StatusNotImplemented, "notImplemented", "The requested functionality is not supported.")
	a.call("PUT", "/v2.1/os-hosts/host1", map[string]any{"status": "disable"}, "token=member").must(t, http.StatusForbidden)
	a.call("PUT", "/v2.1/os-hosts/nonexistent_hostname", map[string]any{"status": "disable"}).fault(t,
		http.StatusNotFound, "itemNotFound", "Host nonexistent_hostname could not be found.")
	if disabled() {
		t.Fatal("a refused update disabled the host")
	}

	for _, action := range []string{"startup", "shutdown", "reboot"} {
		a.call("GET", "/v2.1/os-hosts/host1/"+action, nil).fault(t, http.StatusNotImplemented, "notImplemented", "")
		a.call("GET", "/v2.1/os-hosts/nonexistent_hostname/"+action, nil).must(t, http.StatusNotFound)
		a.call("GET", "/v2.1/os-hosts/host1/"+action, nil, "token=member").must(t, http.StatusForbidden)
		a.call("GET", "/v2.1/os-hosts/host1/"+action, nil, "2.43").must(t, http.StatusNotFound)
	}
}
