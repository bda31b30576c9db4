package compute

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAggregatesCRUD(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)

	a.call("POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "a1"}}, "token=member").
		fault(t, 403, "forbidden", "Policy doesn't allow os_compute_api:os-aggregates:create to be performed.")
	c := a.call("POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "a1", "availability_zone": "london"}}, "2.41")
	c.must(t, 200)
	id := int(c.num("aggregate.id"))
	if c.str("aggregate.name") != "a1" || c.str("aggregate.availability_zone") != "london" || c.str("aggregate.uuid") == "" ||
		c.has("aggregate.hosts") || c.has("aggregate.metadata") || c.path("aggregate.deleted") != false ||
		c.path("aggregate.updated_at") != nil || c.str("aggregate.created_at") == "" {
		t.Errorf("create: %s", c.raw)
	}
	c2 := a.call("POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "a2", "availability_zone": nil}}).must(t, 200)
	if c2.path("aggregate.availability_zone") != nil || c2.has("aggregate.uuid") {
		t.Errorf("create without zone before 2.41: %s", c2.raw)
	}
	a.call("POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "a1"}}).
		fault(t, 409, "conflictingRequest", "Aggregate a1 already exists.")
	for _, bad := range []any{
		map[string]any{"aggregate": map[string]any{}},
		map[string]any{"aggregate": map[string]any{"name": ""}},
		map[string]any{"aggregate": map[string]any{"name": " a3 "}},
		map[string]any{"aggregate": map[string]any{"name": "x", "availability_zone": "a:b"}},
		map[string]any{"aggregate": map[string]any{"name": "x", "availability_zone": ""}},
		map[string]any{"aggregate": map[string]any{"name": "x", "foo": 1}},
		map[string]any{"name": "x"},
		"[1]",
	} {
		a.call("POST", "/v2.1/os-aggregates", bad).must(t, 400)
	}

	l := a.call("GET", "/v2.1/os-aggregates", nil).must(t, 200)
	if got := names(l.list("aggregates"), "name"); fmt.Sprint(got) != "[a1 a2]" ||
		l.str("aggregates.0.metadata.availability_zone") != "london" || l.list("aggregates.0.hosts") == nil {
		t.Errorf("list: %s", l.raw)
	}
	p := fmt.Sprintf("/v2.1/os-aggregates/%d", id)
	s := a.call("GET", p, nil).must(t, 200)
	if s.str("aggregate.name") != "a1" || len(s.list("aggregate.hosts")) != 0 {
		t.Errorf("show: %s", s.raw)
	}
	a.call("GET", "/v2.1/os-aggregates/x", nil).fault(t, 400, "badRequest", "Invalid input received: id must be an integer")
	a.call("GET", "/v2.1/os-aggregates/9999", nil).fault(t, 404, "itemNotFound", "Aggregate 9999 could not be found.")
	a.call("GET", p, nil, "token=member").must(t, 403)

	u := a.call("PUT", p, map[string]any{"aggregate": map[string]any{"name": " renamed ", "availability_zone": "paris"}}).must(t, 200)
	if u.str("aggregate.name") != "renamed" || u.str("aggregate.availability_zone") != "paris" ||
		u.str("aggregate.metadata.availability_zone") != "paris" || u.path("aggregate.updated_at") == nil {
		t.Errorf("update: %s", u.raw)
	}
	a.call("PUT", p, map[string]any{"aggregate": map[string]any{"name": "a2"}}).must(t, 409)
	a.call("PUT", p, map[string]any{"aggregate": map[string]any{}}).must(t, 400)
	a.call("PUT", p, map[string]any{"aggregate": map[string]any{"availability_zone": nil}}).fault(t, 400, "badRequest",
		fmt.Sprintf("Cannot update aggregate %d. Reason: Aggregate renamed does not support empty named availability zone.", id))
	a.call("PUT", "/v2.1/os-aggregates/9999", map[string]any{"aggregate": map[string]any{"name": "z"}}).must(t, 404)

	md := a.call("POST", p+"/action", map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{"ssd": "true", "k": "v"}}}).must(t, 200)
	if md.str("aggregate.metadata.ssd") != "true" || md.str("aggregate.metadata.availability_zone") != "paris" {
		t.Errorf("set_metadata: %s", md.raw)
	}
	md = a.call("POST", p+"/action", map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{"k": nil}}}).must(t, 200)
	if md.has("aggregate.metadata.k") || md.str("aggregate.metadata.ssd") != "true" {
		t.Errorf("remove a key: %s", md.raw)
	}
	a.call("POST", p+"/action", map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{"bad/key": "v"}}}).must(t, 400)
	a.call("POST", p+"/action", map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{"availability_zone": nil}}}).must(t, 400)
	a.call("POST", p+"/action", map[string]any{"nope": map[string]any{}}).must(t, 400)

	a.call("DELETE", p, nil, "token=member").must(t, 403)
	a.call("DELETE", p, nil).must(t, 200)
	a.call("GET", p, nil).must(t, 404)
	a.call("DELETE", p, nil).must(t, 404)
}

func TestAggregateHosts(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)
	addHost(t, a, "c1", time.Now())
	addHost(t, a, "c2", time.Now())
	mk := func(name string, zone any) string {
		r := a.call("POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": name, "availability_zone": zone}}).must(t, 200)
		return fmt.Sprintf("/v2.1/os-aggregates/%d", int(r.num("aggregate.id")))
	}
	az1, az2, plain := mk("az1", "az1"), mk("az2", "az2"), mk("plain", nil)
	add := func(p, host string) *resp {
		return a.call("POST", p+"/action", map[string]any{"add_host": map[string]any{"host": host}})
	}
	remove := func(p, host string) *resp {
		return a.call("POST", p+"/action", map[string]any{"remove_host": map[string]any{"host": host}})
	}

	r := add(az1, "c1").must(t, 200)
	if fmt.Sprint(r.list("aggregate.hosts")) != "[c1]" {
		t.Errorf("add_host: %s", r.raw)
	}
	add(az1, "c1").must(t, 409)
	add(az1, "nohost").fault(t, 404, "itemNotFound", "Compute host nohost could not be found.")
	add("/v2.1/os-aggregates/9999", "c1").must(t, 404)
	// c1 is in az1: it cannot also be in az2.
	r = add(az2, "c1")
	r.must(t, 409)
	if want := "One or more hosts already in availability zone(s) ['az1']"; !strings.Contains(r.str("conflictingRequest.message"), want) {
		t.Errorf("zone conflict: %s", r.raw)
	}
	add(plain, "c1").must(t, 200) // no zone: fine
	// c1 is in "plain" too: giving it a zone other than az1 is refused.
	add(az2, "c2").must(t, 200)
	a.call("POST", plain+"/action", map[string]any{"set_metadata": map[string]any{"metadata": map[string]any{"availability_zone": "az9"}}}).
		must(t, 400)
	a.call("PUT", plain, map[string]any{"aggregate": map[string]any{"availability_zone": "az9"}}).must(t, 400)
	a.call("PUT", plain, map[string]any{"aggregate": map[string]any{"availability_zone": "az1"}}).must(t, 200)

	// The services list shows the zones.
	l := a.call("GET", "/v2.1/os-services?binary=nova-compute", nil).must(t, 200)
	zones := map[string]string{}
	for _, s := range l.list("services") {
		m := s.(map[string]any)
		zones[m["host"].(string)] = m["zone"].(string)
	}
	if zones["c1"] != "az1" || zones["c2"] != "az2" {
		t.Errorf("zones: %v", zones)
	}

	// A host holding a server may not change zone.
	addInstance(t, a, demoProject, "c2", 1, 512, 1, time.Now())
	remove(az2, "c2").must(t, 409)
	a.call("PUT", az2, map[string]any{"aggregate": map[string]any{"availability_zone": "az3"}}).fault(t, 400, "badRequest", "")

	remove(az1, "c2").fault(t, 404, "itemNotFound", "Cannot remove host c2 in aggregate "+az1[len("/v2.1/os-aggregates/"):])
	remove(az1, "nohost").must(t, 404)
	r = remove(az1, "c1").must(t, 200)
	if len(r.list("aggregate.hosts")) != 0 {
		t.Errorf("remove_host: %s", r.raw)
	}
	a.call("DELETE", az2, nil).fault(t, 400, "badRequest", "")
	a.call("DELETE", az1, nil).must(t, 200)

	// 2.81 image precache: checked, then not supported.
	img := map[string]any{"cache": []any{map[string]any{"id": "2f9c4b6e-0a3c-4d8f-9b1e-6c7d8e9f0a1b"}}}
	a.call("POST", az2+"/images", img, "2.80").must(t, 404)
	a.call("POST", az2+"/images", img, "2.81").must(t, 501)
	a.call("POST", az2+"/images", map[string]any{"cache": []any{}}, "2.81").must(t, 400)
	a.call("POST", "/v2.1/os-aggregates/9999/images", img, "2.81").must(t, 404)
	dup := map[string]any{"cache": []any{img["cache"].([]any)[0], img["cache"].([]any)[0]}}
	a.call("POST", az2+"/images", dup, "2.81").fault(t, 400, "badRequest", "Duplicate images in request")
}

// Without a ZoneSource, os-availability-zone reads the services and the
// aggregates' zones from the compute database.
func TestAvailabilityZonesFromStore(t *testing.T) {
	a := newAPI(t)
	needAdminStore(t, a)
	l := a.call("GET", "/v2.1/os-availability-zone", nil, "token=member").must(t, 200)
	if got := names(l.list("availabilityZoneInfo"), "zoneName"); fmt.Sprint(got) != "[nova]" {
		t.Errorf("before any service: %s", l.raw)
	}
	now := time.Now()
	addHost(t, a, "c1", now)
	c2, _ := addHost(t, a, "c2", now)
	if _, _, err := a.svc.instances.Heartbeat(t.Context(), "ctl", "nova-conductor", now, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	r := a.call("POST", "/v2.1/os-aggregates", map[string]any{"aggregate": map[string]any{"name": "a", "availability_zone": "az1"}}).must(t, 200)
	a.call("POST", fmt.Sprintf("/v2.1/os-aggregates/%d/action", int(r.num("aggregate.id"))),
		map[string]any{"add_host": map[string]any{"host": "c1"}}).must(t, 200)

	l = a.call("GET", "/v2.1/os-availability-zone", nil, "token=member").must(t, 200)
	if got := names(l.list("availabilityZoneInfo"), "zoneName"); fmt.Sprint(got) != "[az1 nova]" {
		t.Errorf("zones: %s", l.raw)
	}
	d := a.call("GET", "/v2.1/os-availability-zone/detail", nil).must(t, 200)
	if got := names(d.list("availabilityZoneInfo"), "zoneName"); fmt.Sprint(got) != "[az1 internal nova]" ||
		d.path("availabilityZoneInfo.0.hosts.c1.nova-compute.available") != true ||
		d.path("availabilityZoneInfo.1.hosts.ctl.nova-conductor.active") != true ||
		!d.has("availabilityZoneInfo.2.hosts.c2") {
		t.Errorf("detail: %s", d.raw)
	}
	// The default zone's only host disabled: the zone is not available.
	a.call("PUT", "/v2.1/os-services/"+c2.UUID, map[string]any{"status": "disabled"}, "2.53").must(t, 200)
	l = a.call("GET", "/v2.1/os-availability-zone", nil, "token=member").must(t, 200)
	if l.str("availabilityZoneInfo.1.zoneName") != "nova" || l.path("availabilityZoneInfo.1.zoneState.available") != false {
		t.Errorf("nova with its host disabled: %s", l.raw)
	}
}
