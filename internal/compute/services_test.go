package compute

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// needAdminStore skips while the instances store's service, node,
// group and aggregate methods are still being written.
func needAdminStore(t *testing.T, a *api) {
	t.Helper()
	ok := func() (ok bool) {
		defer func() {
			if recover() != nil {
				ok = false
			}
		}()
		_, err := a.svc.instances.ListAggregates(context.Background())
		return err == nil
	}()
	if !ok {
		t.Skip("instances store: aggregates not implemented yet")
	}
}

// addHost registers a compute host as its agent does: a heartbeat and
// its node.
func addHost(t *testing.T, a *api, host string, at time.Time) (*instances.Service, *instances.ComputeNode) {
	t.Helper()
	ctx := context.Background()
	sv, _, err := a.svc.instances.Heartbeat(ctx, host, computeBinary, at, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n, err := a.svc.instances.PutComputeNode(ctx, instances.ComputeNode{Host: host, HypervisorHostname: host + ".node",
		HypervisorType: "QEMU", HypervisorVersion: 8002000, VCPUs: 8, MemoryMB: 16384, LocalGB: 100,
		CPUInfo: `{"arch": "x86_64"}`, HostIP: "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	return sv, n
}

// addInstance puts a server straight into the store, on host.
func addInstance(t *testing.T, a *api, project, host string, vcpus, ram, disk int64, launched time.Time) *instances.Instance {
	t.Helper()
	inst := &instances.Instance{UUID: uuid.NewString(), Name: "vm-" + host, ProjectID: project, UserID: "u-demo",
		Host: host, Node: host + ".node", VMState: instances.Active, PowerState: instances.PowerRunning,
		Flavor:     instances.Flavor{FlavorID: "1", Name: "m1.test", VCPUs: vcpus, MemoryMB: ram, RootGB: disk},
		LaunchedAt: launched, CreatedAt: launched}
	if host == "" {
		inst.Node = ""
	}
	err := a.svc.db.Tx(context.Background(), func(tx *sql.Tx) error {
		return a.svc.instances.CreateTx(context.Background(), tx, inst, instances.Action{RequestID: "req-" + inst.UUID})
	})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestServicesList(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)
	now := time.Now()
	ctx := context.Background()
	c1, _ := addHost(t, a, "c1", now)
	addHost(t, a, "c2", now.Add(-2*time.Minute)) // silent for two minutes: down
	if _, _, err := a.svc.instances.Heartbeat(ctx, "ctl", "nova-scheduler", now, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.svc.instances.Heartbeat(ctx, "ctl", "nova-osapi_compute", now, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	a.call("GET", "/v2.1/os-services", nil, "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-services:list to be performed.")

	l := a.call("GET", "/v2.1/os-services", nil).must(t, 200)
	svcs := l.list("services")
	if len(svcs) != 3 {
		t.Fatalf("services (API service hidden): %s", l.raw)
	}
	byHost := map[string]map[string]any{}
	for _, s := range svcs {
		m := s.(map[string]any)
		byHost[m["host"].(string)+"/"+m["binary"].(string)] = m
	}
	if s := byHost["c1/nova-compute"]; s["state"] != "up" || s["status"] != "enabled" || s["zone"] != "nova" ||
		s["id"] != float64(c1.ID) || s["disabled_reason"] != nil || s["updated_at"] == nil || s["forced_down"] != nil {
		t.Errorf("c1 at 2.1: %v", s)
	}
	if s := byHost["c2/nova-compute"]; s["state"] != "down" {
		t.Errorf("c2 silent for 2 minutes: %v", s)
	}
	if s := byHost["ctl/nova-scheduler"]; s["zone"] != "internal" || s["state"] != "up" {
		t.Errorf("scheduler: %v", s)
	}

	// 2.53: uuids, forced_down; filters.
	l = a.call("GET", "/v2.1/os-services?host=c1&binary=nova-compute", nil, "2.53").must(t, 200)
	if len(l.list("services")) != 1 || l.str("services.0.id") != c1.UUID || l.path("services.0.forced_down") != false {
		t.Errorf("filtered at 2.53: %s", l.raw)
	}
	// 2.75 refuses unknown query parameters.
	a.call("GET", "/v2.1/os-services?foo=1", nil, "2.75").must(t, 400)
	a.call("GET", "/v2.1/os-services?foo=1", nil, "2.74").must(t, 200)

	// A host in a zone-bearing aggregate shows that zone.
	agg := &instances.Aggregate{Name: "fast", AvailabilityZone: "az1", Metadata: map[string]string{"availability_zone": "az1"}, CreatedAt: now}
	if err := a.svc.instances.CreateAggregate(ctx, agg); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.instances.AddAggregateHost(ctx, agg.ID, "c1"); err != nil {
		t.Fatal(err)
	}
	l = a.call("GET", "/v2.1/os-services?host=c1", nil).must(t, 200)
	if l.str("services.0.zone") != "az1" {
		t.Errorf("zone from aggregate: %s", l.raw)
	}
}

func TestServiceUpdateV253(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)
	c1, _ := addHost(t, a, "c1", time.Now())
	ctx := context.Background()
	sched, _, err := a.svc.instances.Heartbeat(ctx, "ctl", "nova-scheduler", time.Now(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	path := "/v2.1/os-services/" + c1.UUID

	a.call("PUT", path, map[string]any{"status": "disabled"}, "2.53", "token=member").must(t, 403)
	r := a.call("PUT", path, map[string]any{"status": "disabled", "disabled_reason": "maintenance"}, "2.53").must(t, 200)
	if r.str("service.status") != "disabled" || r.str("service.disabled_reason") != "maintenance" || r.str("service.id") != c1.UUID ||
		r.str("service.state") != "up" {
		t.Errorf("disable: %s", r.raw)
	}
	l := a.call("GET", "/v2.1/os-services?binary=nova-compute", nil, "2.53").must(t, 200)
	if l.str("services.0.status") != "disabled" || l.str("services.0.disabled_reason") != "maintenance" {
		t.Errorf("list after disable: %s", l.raw)
	}
	r = a.call("PUT", path, map[string]any{"forced_down": true}, "2.53").must(t, 200)
	if r.str("service.state") != "down" || r.path("service.forced_down") != true || r.str("service.status") != "disabled" {
		t.Errorf("forced down: %s", r.raw)
	}
	r = a.call("PUT", path, map[string]any{"status": "enabled", "forced_down": "false"}, "2.53").must(t, 200)
	if r.str("service.state") != "up" || r.str("service.status") != "enabled" || r.path("service.disabled_reason") != nil {
		t.Errorf("enabled again: %s", r.raw)
	}

	for _, c := range []struct {
		body any
		path string
		code int
		msg  string
	}{
		{map[string]any{"status": "enabled", "disabled_reason": "x"}, path, 400,
			"Specifying 'disabled_reason' with status 'enabled' is invalid."},
		{map[string]any{}, path, 400, "No updates were requested. Fields 'status' or 'forced_down' should be specified."},
		{map[string]any{"disabled_reason": "x"}, path, 400, "No updates were requested. Fields 'status' or 'forced_down' should be specified."},
		{map[string]any{"status": "off"}, path, 400, ""},
		{map[string]any{"status": "enabled", "host": "c1"}, path, 400, ""},
		{map[string]any{"status": "enabled"}, "/v2.1/os-services/not-a-uuid", 400, "Invalid uuid not-a-uuid"},
		{map[string]any{"status": "enabled"}, "/v2.1/os-services/" + uuid.NewString(), 404, ""},
		{map[string]any{"status": "disabled"}, "/v2.1/os-services/" + sched.UUID, 400,
			"Updating a nova-scheduler service is not supported. Only nova-compute services can be updated."},
	} {
		name := "badRequest"
		if c.code == 404 {
			name = "itemNotFound"
		}
		a.call("PUT", c.path, c.body, "2.53").fault(t, c.code, name, c.msg)
	}
	// Nothing changed by the refused requests.
	l = a.call("GET", "/v2.1/os-services?binary=nova-compute", nil, "2.53").must(t, 200)
	if l.str("services.0.status") != "enabled" || l.path("services.0.forced_down") != false {
		t.Errorf("after refused updates: %s", l.raw)
	}
}

func TestServiceUpdateLegacy(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)
	addHost(t, a, "c1", time.Now())

	r := a.call("PUT", "/v2.1/os-services/disable", map[string]any{"host": "c1", "binary": "nova-compute"}).must(t, 200)
	if r.str("service.status") != "disabled" || r.str("service.host") != "c1" || r.has("service.disabled_reason") {
		t.Errorf("disable: %s", r.raw)
	}
	r = a.call("PUT", "/v2.1/os-services/disable-log-reason", map[string]any{"host": "c1", "binary": "nova-compute",
		"disabled_reason": "bad disk"}).must(t, 200)
	if r.str("service.disabled_reason") != "bad disk" {
		t.Errorf("disable-log-reason: %s", r.raw)
	}
	a.call("PUT", "/v2.1/os-services/disable-log-reason", map[string]any{"host": "c1", "binary": "nova-compute"}).
		fault(t, 400, "badRequest", "Missing disabled reason field")
	l := a.call("GET", "/v2.1/os-services?host=c1", nil).must(t, 200)
	if l.str("services.0.status") != "disabled" || l.str("services.0.disabled_reason") != "bad disk" {
		t.Errorf("list: %s", l.raw)
	}
	a.call("PUT", "/v2.1/os-services/enable", map[string]any{"host": "c1", "binary": "nova-compute"}).must(t, 200)

	// force-down exists from 2.11.
	a.call("PUT", "/v2.1/os-services/force-down", map[string]any{"host": "c1", "binary": "nova-compute"}).
		fault(t, 404, "itemNotFound", "Unknown action")
	r = a.call("PUT", "/v2.1/os-services/force-down", map[string]any{"host": "c1", "binary": "nova-compute", "forced_down": true}, "2.11").must(t, 200)
	if r.path("service.forced_down") != true {
		t.Errorf("force-down: %s", r.raw)
	}
	l = a.call("GET", "/v2.1/os-services?host=c1", nil, "2.11").must(t, 200)
	if l.str("services.0.state") != "down" || l.path("services.0.forced_down") != true {
		t.Errorf("forced down list: %s", l.raw)
	}

	a.call("PUT", "/v2.1/os-services/enable", map[string]any{"host": "nope", "binary": "nova-compute"}).
		fault(t, 404, "itemNotFound", "Could not find binary nova-compute on host nope.")
	a.call("PUT", "/v2.1/os-services/enable", map[string]any{"host": "c1", "binary": "nova-scheduler"}).
		fault(t, 400, "badRequest", "Updating a nova-scheduler service is not supported. Only nova-compute services can be updated.")
	a.call("PUT", "/v2.1/os-services/enable", map[string]any{"host": "c1"}).fault(t, 400, "badRequest", "'binary' is a required property")
	a.call("PUT", "/v2.1/os-services/enable", map[string]any{"host": "c1", "binary": "nova-compute"}, "token=member").must(t, 403)
}

func TestServiceDelete(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)
	ctx := context.Background()
	c1, _ := addHost(t, a, "c1", time.Now())
	c2, _ := addHost(t, a, "c2", time.Now())
	inst := addInstance(t, a, demoProject, "c1", 1, 512, 1, time.Now())
	agg := &instances.Aggregate{Name: "a", Metadata: map[string]string{}, CreatedAt: time.Now()}
	if err := a.svc.instances.CreateAggregate(ctx, agg); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.instances.AddAggregateHost(ctx, agg.ID, "c2"); err != nil {
		t.Fatal(err)
	}

	a.call("DELETE", "/v2.1/os-services/"+c1.UUID, nil, "2.53", "token=member").must(t, 403)
	a.call("DELETE", "/v2.1/os-services/"+c1.UUID, nil, "2.53").fault(t, 409, "conflictingRequest",
		"Unable to delete compute service that is hosting instances. Migrate or delete the instances first.")
	a.call("DELETE", "/v2.1/os-services/abc", nil, "2.53").fault(t, 400, "badRequest", "Invalid uuid abc")
	a.call("DELETE", "/v2.1/os-services/abc", nil).fault(t, 400, "badRequest", "Invalid input received: id must be an integer")
	a.call("DELETE", "/v2.1/os-services/"+uuid.NewString(), nil, "2.53").must(t, 404)

	// Numeric id before 2.53; the node and the aggregate membership go too.
	a.call("DELETE", fmt.Sprintf("/v2.1/os-services/%d", c2.ID), nil).must(t, 204)
	if nodes, err := a.svc.instances.ListComputeNodes(ctx, "c2"); err != nil || len(nodes) != 0 {
		t.Errorf("c2 nodes after delete: %v %v", nodes, err)
	}
	if got, err := a.svc.instances.GetAggregate(ctx, fmt.Sprint(agg.ID)); err != nil || len(got.Hosts) != 0 {
		t.Errorf("aggregate after delete: %+v %v", got, err)
	}
	l := a.call("GET", "/v2.1/os-services", nil).must(t, 200)
	if got := names(l.list("services"), "host"); strings.Join(got, ",") != "c1" {
		t.Errorf("services after delete: %v", got)
	}

	// Once its server is gone, c1 can go.
	if _, err := a.svc.instances.Destroy(ctx, inst.UUID); err != nil {
		t.Fatal(err)
	}
	a.call("DELETE", "/v2.1/os-services/"+c1.UUID, nil, "2.53").must(t, 204)
}

func TestHypervisors(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)
	ctx := context.Background()
	_, n1 := addHost(t, a, "c1", time.Now())
	_, n2 := addHost(t, a, "c2", time.Now())
	i1 := addInstance(t, a, demoProject, "c1", 2, 1024, 10, time.Now())
	addInstance(t, a, altProject, "c1", 1, 512, 5, time.Now())
	gone := addInstance(t, a, altProject, "c1", 4, 4096, 40, time.Now())
	if _, err := a.svc.instances.Destroy(ctx, gone.UUID); err != nil {
		t.Fatal(err)
	}
	addInstance(t, a, demoProject, "", 8, 8192, 80, time.Now()) // not scheduled: on no host

	a.call("GET", "/v2.1/os-hypervisors", nil, "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-hypervisors:list to be performed.")

	l := a.call("GET", "/v2.1/os-hypervisors", nil).must(t, 200)
	if len(l.list("hypervisors")) != 2 || l.num("hypervisors.0.id") != float64(n1.ID) ||
		l.str("hypervisors.0.hypervisor_hostname") != "c1.node" || l.str("hypervisors.0.state") != "up" ||
		l.str("hypervisors.0.status") != "enabled" || l.has("hypervisors.0.vcpus") {
		t.Errorf("list: %s", l.raw)
	}
	d := a.call("GET", "/v2.1/os-hypervisors/detail", nil, "2.28").must(t, 200)
	if d.num("hypervisors.0.vcpus_used") != 3 || d.num("hypervisors.0.memory_mb_used") != 1536 ||
		d.num("hypervisors.0.local_gb_used") != 15 || d.num("hypervisors.0.running_vms") != 2 ||
		d.num("hypervisors.0.free_ram_mb") != 16384-1536 || d.num("hypervisors.0.free_disk_gb") != 85 ||
		d.str("hypervisors.0.cpu_info.arch") != "x86_64" || d.str("hypervisors.0.hypervisor_type") != "QEMU" ||
		d.str("hypervisors.0.service.host") != "c1" || d.num("hypervisors.1.running_vms") != 0 {
		t.Errorf("detail: %s", d.raw)
	}
	// Before 2.28 cpu_info is the JSON text.
	d = a.call("GET", "/v2.1/os-hypervisors/detail", nil).must(t, 200)
	if d.str("hypervisors.0.cpu_info") != `{"arch": "x86_64"}` {
		t.Errorf("cpu_info before 2.28: %s", d.raw)
	}
	// 2.53: uuids, pattern, servers; 2.88 drops the resources.
	d = a.call("GET", "/v2.1/os-hypervisors/detail?hypervisor_hostname_pattern=c1&with_servers=true", nil, "2.88").must(t, 200)
	if len(d.list("hypervisors")) != 1 || d.str("hypervisors.0.id") != n1.UUID || d.has("hypervisors.0.vcpus_used") ||
		!d.has("hypervisors.0.uptime") || len(d.list("hypervisors.0.servers")) != 2 {
		t.Errorf("2.88 detail: %s", d.raw)
	}
	d = a.call("GET", "/v2.1/os-hypervisors?with_servers=1", nil, "2.75").must(t, 200)
	if len(d.list("hypervisors.1.servers")) != 0 || !d.has("hypervisors.1.servers") {
		t.Errorf("2.75 with_servers shows an empty list: %s", d.raw)
	}
	a.call("GET", "/v2.1/os-hypervisors?hypervisor_hostname_pattern=zzz", nil, "2.53").fault(t, 404, "itemNotFound",
		"No hypervisor matching 'zzz' could be found.")
	a.call("GET", "/v2.1/os-hypervisors?hypervisor_hostname_pattern=c&limit=1", nil, "2.53").fault(t, 400, "badRequest",
		"Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.")
	a.call("GET", "/v2.1/os-hypervisors?with_servers=maybe", nil, "2.53").must(t, 400)
	a.call("GET", "/v2.1/os-hypervisors?foo=1", nil, "2.53").must(t, 400)

	// Paging (2.33): markers are ids, then uuids.
	p := a.call("GET", "/v2.1/os-hypervisors?limit=1", nil, "2.33").must(t, 200)
	if len(p.list("hypervisors")) != 1 || !strings.Contains(p.str("hypervisors_links.0.href"), fmt.Sprintf("marker=%d", n1.ID)) {
		t.Errorf("page 1: %s", p.raw)
	}
	p = a.call("GET", fmt.Sprintf("/v2.1/os-hypervisors?limit=1&marker=%d", n1.ID), nil, "2.33").must(t, 200)
	if p.num("hypervisors.0.id") != float64(n2.ID) {
		t.Errorf("page 2: %s", p.raw)
	}
	p = a.call("GET", "/v2.1/os-hypervisors?marker="+n1.UUID, nil, "2.53").must(t, 200)
	if len(p.list("hypervisors")) != 1 || p.str("hypervisors.0.id") != n2.UUID {
		t.Errorf("uuid marker: %s", p.raw)
	}
	a.call("GET", "/v2.1/os-hypervisors?marker=nope", nil, "2.53").fault(t, 400, "badRequest", "marker [nope] not found")

	// Show.
	s := a.call("GET", fmt.Sprintf("/v2.1/os-hypervisors/%d", n1.ID), nil).must(t, 200)
	if s.num("hypervisor.vcpus_used") != 3 || s.num("hypervisor.service.id") == 0 {
		t.Errorf("show: %s", s.raw)
	}
	s = a.call("GET", "/v2.1/os-hypervisors/"+n1.UUID+"?with_servers=true", nil, "2.53").must(t, 200)
	if len(s.list("hypervisor.servers")) != 2 || s.str("hypervisor.servers.0.uuid") == "" ||
		!strings.HasPrefix(s.str("hypervisor.servers.0.name"), "instance-") {
		t.Errorf("show with servers: %s", s.raw)
	}
	found := false
	for _, sv := range s.list("hypervisor.servers") {
		if sv.(map[string]any)["uuid"] == i1.UUID {
			found = true
		}
	}
	if !found {
		t.Errorf("%s not in servers: %s", i1.UUID, s.raw)
	}
	a.call("GET", "/v2.1/os-hypervisors/abc", nil).fault(t, 404, "itemNotFound", "Hypervisor with ID 'abc' could not be found.")
	a.call("GET", "/v2.1/os-hypervisors/9999", nil).must(t, 404)
	a.call("GET", "/v2.1/os-hypervisors/abc", nil, "2.53").fault(t, 400, "badRequest", "Invalid uuid abc")
	a.call("GET", "/v2.1/os-hypervisors/"+uuid.NewString(), nil, "2.53").must(t, 404)

	// Statistics, uptime, search, servers: their versions.
	st := a.call("GET", "/v2.1/os-hypervisors/statistics", nil).must(t, 200)
	if st.num("hypervisor_statistics.count") != 2 || st.num("hypervisor_statistics.vcpus") != 16 ||
		st.num("hypervisor_statistics.vcpus_used") != 3 || st.num("hypervisor_statistics.running_vms") != 2 {
		t.Errorf("statistics: %s", st.raw)
	}
	a.call("GET", "/v2.1/os-hypervisors/statistics", nil, "2.88").must(t, 404)
	a.call("GET", fmt.Sprintf("/v2.1/os-hypervisors/%d/uptime", n1.ID), nil).fault(t, 501, "notImplemented",
		"The requested functionality is not supported.")
	a.call("GET", "/v2.1/os-hypervisors/"+n1.UUID+"/uptime", nil, "2.88").must(t, 404)
	se := a.call("GET", "/v2.1/os-hypervisors/c2/search", nil).must(t, 200)
	if len(se.list("hypervisors")) != 1 || se.str("hypervisors.0.hypervisor_hostname") != "c2.node" || se.has("hypervisors.0.servers") {
		t.Errorf("search: %s", se.raw)
	}
	sv := a.call("GET", "/v2.1/os-hypervisors/c1/servers", nil).must(t, 200)
	if len(sv.list("hypervisors.0.servers")) != 2 {
		t.Errorf("servers: %s", sv.raw)
	}
	a.call("GET", "/v2.1/os-hypervisors/c1/servers", nil, "2.53").must(t, 404)
	a.call("GET", "/v2.1/os-hypervisors/zzz/search", nil).must(t, 404)
}

// TestTempestAdminClientSchemas runs Tempest's clients of the admin APIs
// at many microversions; they check each answer against Tempest's JSON
// schema for that version.
func TestTempestAdminClientSchemas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Tempest's clients")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import tempest.lib.services.compute").Run(); err != nil {
		t.Skip("python3-tempest is not installed")
	}
	svc, err := New(context.Background(), DefaultConfig(), Options{DB: db.OpenTest(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	a := &api{t: t, svc: svc}
	now := time.Now()
	addHost(t, a, "c1", now)
	addHost(t, a, "c2", now)
	if _, _, err := svc.instances.Heartbeat(context.Background(), "ctl", "nova-scheduler", now, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	addInstance(t, a, demoProject, "c1", 1, 512, 1, now.Add(-time.Hour))
	validator := authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		if token != "admin" {
			return nil, fault.Unauthorizedf("The request you have made requires authentication.")
		}
		return tokens["admin"], nil
	})
	compute := httptest.NewServer(svc.Handler(httpx.Options{}, validator))
	t.Cleanup(compute.Close)
	ks := fakeKeystone(t, compute.URL)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/admin_tempest_clients.py")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AUTH_URL=" + ks.URL + "/v3", "PROJECT=" + adminProject}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tempest clients: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "ok "); n != 12 {
		t.Fatalf("%d microversions passed, want 12:\n%s", n, out)
	}
}
