package identity

import (
	"testing"
)

func TestRegionsWithParents(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tok := c.adminToken
	parent := c.must(201, "PUT", "/v3/regions/Europe", tok, map[string]any{"region": map[string]any{"description": "EU"}})
	if id(parent, "region") != "Europe" {
		t.Fatalf("PUT region = %v", parent)
	}
	child := c.must(201, "POST", "/v3/regions", tok, map[string]any{"region": map[string]any{"id": "Paris", "parent_region_id": "Europe"}})
	if got := child["region"].(map[string]any)["parent_region_id"]; got != "Europe" {
		t.Errorf("parent_region_id = %v", got)
	}
	gen := c.must(201, "POST", "/v3/regions", tok, map[string]any{"region": map[string]any{"description": "anon"}})
	if len(id(gen, "region")) != 32 {
		t.Errorf("generated region id = %q", id(gen, "region"))
	}
	c.must(409, "PUT", "/v3/regions/Europe", tok, map[string]any{"region": map[string]any{}})
	c.must(404, "POST", "/v3/regions", tok, map[string]any{"region": map[string]any{"parent_region_id": "Atlantis"}})
	// A cycle: Europe under its own child.
	c.must(400, "PATCH", "/v3/regions/Europe", tok, map[string]any{"region": map[string]any{"parent_region_id": "Paris"}})

	list := c.must(200, "GET", "/v3/regions?parent_region_id=Europe", tok, nil)
	if rs, _ := list["regions"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != "Paris" {
		t.Errorf("children of Europe = %v", list["regions"])
	}
	upd := c.must(200, "PATCH", "/v3/regions/Paris", tok, map[string]any{"region": map[string]any{"description": "FR"}})
	if upd["region"].(map[string]any)["description"] != "FR" {
		t.Errorf("update = %v", upd)
	}

	// A region whose subtree has endpoints cannot go; without, children go too.
	svc := c.must(201, "POST", "/v3/services", tok, map[string]any{"service": map[string]any{"type": "compute", "name": "nova"}})
	ep := c.must(201, "POST", "/v3/endpoints", tok, map[string]any{"endpoint": map[string]any{
		"service_id": id(svc, "service"), "interface": "public", "url": "http://nova", "region_id": "Paris"}})
	c.must(403, "DELETE", "/v3/regions/Europe", tok, nil)
	c.must(204, "DELETE", "/v3/endpoints/"+id(ep, "endpoint"), tok, nil)
	c.must(204, "DELETE", "/v3/regions/Europe", tok, nil)
	resp, body := c.do("GET", "/v3/regions/Paris", tok, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("child after parent delete = %d", resp.StatusCode)
	}
	if e, _ := body["error"].(map[string]any); e["code"] != float64(404) || e["message"] != "Could not find region: Paris." {
		t.Errorf("404 body = %v", body)
	}
}

func TestServicesCRUDAndFilters(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tok := c.adminToken
	c.must(400, "POST", "/v3/services", tok, map[string]any{"service": map[string]any{"name": "typeless"}})
	out := c.must(201, "POST", "/v3/services", tok, map[string]any{"service": map[string]any{
		"type": "image", "name": "glance", "description": "images", "color": "blue"}})
	s := out["service"].(map[string]any)
	if s["enabled"] != true || s["color"] != "blue" || s["links"] == nil {
		t.Errorf("created service = %v", s)
	}
	sid := id(out, "service")
	list := c.must(200, "GET", "/v3/services?type=image", tok, nil)
	if ss, _ := list["services"].([]any); len(ss) != 1 {
		t.Errorf("type filter = %v", list["services"])
	}
	list = c.must(200, "GET", "/v3/services?name=keystone", tok, nil)
	if ss, _ := list["services"].([]any); len(ss) != 1 || ss[0].(map[string]any)["type"] != "identity" {
		t.Errorf("name filter = %v", list["services"])
	}
	upd := c.must(200, "PATCH", "/v3/services/"+sid, tok, map[string]any{"service": map[string]any{"enabled": false, "color": nil}})
	if s := upd["service"].(map[string]any); s["enabled"] != false || s["color"] != nil {
		t.Errorf("update = %v", s)
	}
	c.must(204, "DELETE", "/v3/services/"+sid, tok, nil)
	c.must(404, "GET", "/v3/services/"+sid, tok, nil)
}

func TestEndpointsValidateAndFeedTheCatalog(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tok := c.adminToken
	sid := id(c.must(201, "POST", "/v3/services", tok, map[string]any{"service": map[string]any{"type": "volumev3", "name": "cinder"}}), "service")

	for name, ep := range map[string]map[string]any{
		"bad interface":   {"service_id": sid, "interface": "sideways", "url": "http://x"},
		"missing service": {"service_id": "nope", "interface": "public", "url": "http://x"},
		"no url":          {"service_id": sid, "interface": "public"},
		"unknown region":  {"service_id": sid, "interface": "public", "url": "http://x", "region_id": "Nowhere"},
	} {
		if resp, body := c.do("POST", "/v3/endpoints", tok, map[string]any{"endpoint": ep}); resp.StatusCode != 400 {
			t.Errorf("%s: %d %v, want 400", name, resp.StatusCode, body)
		}
	}
	// The legacy "region" attribute creates the region, as Keystone does.
	out := c.must(201, "POST", "/v3/endpoints", tok, map[string]any{"endpoint": map[string]any{
		"service_id": sid, "interface": "internal", "url": "http://cinder:8776/v3", "region": "RegionTwo"}})
	ep := out["endpoint"].(map[string]any)
	if ep["region"] != "RegionTwo" || ep["region_id"] != "RegionTwo" || ep["enabled"] != true {
		t.Errorf("endpoint = %v", ep)
	}
	eid := id(out, "endpoint")
	c.must(200, "GET", "/v3/regions/RegionTwo", tok, nil)

	inCatalog := func() bool {
		tok := c.passwordToken("admin", testAdminPassword, map[string]any{"project": map[string]any{"id": c.adminProjectID}})
		for _, e := range c.postToken(tok, tok)["catalog"].([]any) {
			for _, x := range e.(map[string]any)["endpoints"].([]any) {
				if x.(map[string]any)["id"] == eid {
					return true
				}
			}
		}
		return false
	}
	if !inCatalog() {
		t.Fatal("new endpoint missing from a new token's catalog")
	}
	list := c.must(200, "GET", "/v3/endpoints?interface=internal&service_id="+sid, tok, nil)
	if eps, _ := list["endpoints"].([]any); len(eps) != 1 {
		t.Errorf("filtered endpoints = %v", list["endpoints"])
	}
	list = c.must(200, "GET", "/v3/endpoints?region_id=RegionOne", tok, nil)
	if eps, _ := list["endpoints"].([]any); len(eps) != 3 {
		t.Errorf("RegionOne endpoints = %d, want keystone's 3", len(eps))
	}
	c.must(400, "PATCH", "/v3/endpoints/"+eid, tok, map[string]any{"endpoint": map[string]any{"interface": "bogus"}})
	upd := c.must(200, "PATCH", "/v3/endpoints/"+eid, tok, map[string]any{"endpoint": map[string]any{"enabled": false}})
	if upd["endpoint"].(map[string]any)["enabled"] != false {
		t.Errorf("update = %v", upd)
	}
	if inCatalog() {
		t.Error("disabled endpoint still in the catalog")
	}
	c.must(200, "PATCH", "/v3/endpoints/"+eid, tok, map[string]any{"endpoint": map[string]any{"enabled": true}})
	c.must(204, "DELETE", "/v3/endpoints/"+eid, tok, nil)
	if inCatalog() {
		t.Error("deleted endpoint still in the catalog")
	}
	c.must(404, "GET", "/v3/endpoints/"+eid, tok, nil)
}

func TestCatalogAdminOnly(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	_, _, tok := c.memberOf("bob")
	c.must(403, "POST", "/v3/services", tok, map[string]any{"service": map[string]any{"type": "x"}})
	c.must(403, "GET", "/v3/endpoints", tok, nil)
	c.must(200, "GET", "/v3/regions", tok, nil)
}
