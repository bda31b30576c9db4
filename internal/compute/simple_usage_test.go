package compute

import (
	"context"
	"math"
	"net/url"
	"testing"
	"time"
)

func TestSimpleTenantUsage(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	now := time.Now().UTC()
	running := addInstance(t, a, demoProject, "c1", 2, 1024, 10, now.Add(-3*time.Hour))
	deleted := addInstance(t, a, demoProject, "c1", 1, 512, 5, now.Add(-5*time.Hour))
	if _, err := a.svc.instances.Destroy(ctx, deleted.UUID); err != nil {
		t.Fatal(err)
	}
	addInstance(t, a, altProject, "c1", 4, 4096, 40, now.Add(-1*time.Hour))
	addInstance(t, a, altProject, "c1", 4, 4096, 40, now.Add(time.Hour)) // launched after the period
	addInstance(t, a, demoProject, "", 1, 512, 1, time.Time{})           // never launched: not in any period

	ts := func(t time.Time) string { return url.QueryEscape(t.Format("2006-01-02T15:04:05.000000")) }
	q := "?start=" + ts(now.Add(-2*time.Hour)) + "&end=" + ts(now.Add(time.Hour))
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.05 }

	a.call("GET", "/v2.1/os-simple-tenant-usage"+q, nil, "token=member").must(t, 403)
	l := a.call("GET", "/v2.1/os-simple-tenant-usage"+q+"&detailed=1", nil).must(t, 200)
	if len(l.list("tenant_usages")) != 2 {
		t.Fatalf("usages: %s", l.raw)
	}
	demo := l.path("tenant_usages.0").(map[string]any)
	if demo["tenant_id"] != demoProject {
		demo = l.path("tenant_usages.1").(map[string]any)
	}
	// Two hours each in the window: the running one 2 vCPUs, the deleted one 1.
	if !near(demo["total_hours"].(float64), 4) || !near(demo["total_vcpus_usage"].(float64), 6) ||
		!near(demo["total_memory_mb_usage"].(float64), 3072) || !near(demo["total_local_gb_usage"].(float64), 30) ||
		len(demo["server_usages"].([]any)) != 2 {
		t.Errorf("demo usage: %v", demo)
	}
	states := map[string]string{}
	for _, u := range demo["server_usages"].([]any) {
		m := u.(map[string]any)
		states[m["instance_id"].(string)] = m["state"].(string)
		if m["flavor"] != "m1.test" || m["started_at"] == nil {
			t.Errorf("server usage: %v", m)
		}
	}
	if states[running.UUID] != "active" || states[deleted.UUID] != "terminated" {
		t.Errorf("states: %v", states)
	}
	l = a.call("GET", "/v2.1/os-simple-tenant-usage"+q, nil).must(t, 200)
	if l.has("tenant_usages.0.server_usages") {
		t.Errorf("not detailed: %s", l.raw)
	}

	// One project's, by its member.
	s := a.call("GET", "/v2.1/os-simple-tenant-usage/"+demoProject+q, nil, "token=member").must(t, 200)
	if !near(s.num("tenant_usage.total_hours"), 4) || len(s.list("tenant_usage.server_usages")) != 2 {
		t.Errorf("show: %s", s.raw)
	}
	a.call("GET", "/v2.1/os-simple-tenant-usage/"+altProject+q, nil, "token=member").must(t, 403)
	e := a.call("GET", "/v2.1/os-simple-tenant-usage/"+adminProject+q, nil).must(t, 200)
	if len(e.body["tenant_usage"].(map[string]any)) != 0 {
		t.Errorf("no servers: %s", e.raw)
	}

	// 2.40 paging over servers.
	p := a.call("GET", "/v2.1/os-simple-tenant-usage"+q+"&detailed=1&limit=1", nil, "2.40").must(t, 200)
	if len(p.list("tenant_usages")) != 1 || len(p.list("tenant_usages_links")) != 1 {
		t.Errorf("page: %s", p.raw)
	}
	a.call("GET", "/v2.1/os-simple-tenant-usage"+q+"&marker=nope", nil, "2.40").fault(t, 400, "badRequest", "Marker nope could not be found.")

	// Bad periods.
	a.call("GET", "/v2.1/os-simple-tenant-usage?start=yesterday", nil).fault(t, 400, "badRequest",
		"Invalid datetime string: Datetime is in invalid format")
	a.call("GET", "/v2.1/os-simple-tenant-usage?start="+ts(now)+"&end="+ts(now.Add(-time.Hour)), nil).fault(t, 400, "badRequest",
		"Invalid start time. The start time cannot occur after the end time.")
}
