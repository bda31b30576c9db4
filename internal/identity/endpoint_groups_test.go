package identity

import (
	"net/http"
	"testing"
)

// newCatalogService makes a service with public and admin endpoints.
func (c *testCloud) newCatalogService(typ string) (svcID, publicEP, adminEP string) {
	c.t.Helper()
	svcID = id(c.must(201, "POST", "/v3/services", c.adminToken, map[string]any{"service": map[string]any{"type": typ}}), "service")
	ep := func(iface string) string {
		return id(c.must(201, "POST", "/v3/endpoints", c.adminToken, map[string]any{"endpoint": map[string]any{
			"service_id": svcID, "interface": iface, "url": "http://" + typ + "/" + iface}}), "endpoint")
	}
	return svcID, ep("public"), ep("admin")
}

func listIDs(body map[string]any, key string) []string {
	items, _ := body[key].([]any)
	var out []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		s, _ := m["id"].(string)
		out = append(out, s)
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		if seen[s]--; seen[s] < 0 {
			return false
		}
	}
	return true
}

func TestEndpointGroupCRUD(t *testing.T) {
	c := newTestCloud(t)
	tok := c.adminToken
	svc1, _, _ := c.newCatalogService("svc1")
	svc2, _, _ := c.newCatalogService("svc2")
	const base = "/v3/OS-EP-FILTER/endpoint_groups"

	out := c.must(201, "POST", base, tok, map[string]any{"endpoint_group": map[string]any{
		"name": "g1", "description": "d1", "filters": map[string]any{"service_id": svc1}}})
	g := out["endpoint_group"].(map[string]any)
	gid := g["id"].(string)
	if g["name"] != "g1" || g["description"] != "d1" || g["filters"].(map[string]any)["service_id"] != svc1 {
		t.Fatalf("created %v", g)
	}
	if self := g["links"].(map[string]any)["self"]; self != c.srv.URL+base+"/"+gid {
		t.Errorf("self = %v", self)
	}

	list := c.must(200, "GET", base, tok, nil)
	if ids := listIDs(list, "endpoint_groups"); !sameSet(ids, []string{gid}) {
		t.Errorf("list = %v", ids)
	}
	if ids := listIDs(c.must(200, "GET", base+"?name=nope", tok, nil), "endpoint_groups"); len(ids) != 0 {
		t.Errorf("list name=nope = %v", ids)
	}
	got := c.must(200, "GET", base+"/"+gid, tok, nil)["endpoint_group"].(map[string]any)
	if got["id"] != gid || got["name"] != "g1" {
		t.Errorf("get = %v", got)
	}
	c.must(200, "HEAD", base+"/"+gid, tok, nil)

	upd := c.must(200, "PATCH", base+"/"+gid, tok, map[string]any{"endpoint_group": map[string]any{
		"name": "g2", "description": "d2", "filters": map[string]any{"service_id": svc2, "interface": "admin"}}})["endpoint_group"].(map[string]any)
	if upd["name"] != "g2" || upd["description"] != "d2" || upd["filters"].(map[string]any)["service_id"] != svc2 {
		t.Errorf("updated = %v", upd)
	}

	for name, body := range map[string]map[string]any{
		"no filters":     {"name": "x"},
		"empty filters":  {"name": "x", "filters": map[string]any{}},
		"bad filter key": {"name": "x", "filters": map[string]any{"url": "http://x"}},
		"bad interface":  {"name": "x", "filters": map[string]any{"interface": "private"}},
		"no name":        {"filters": map[string]any{"interface": "public"}},
		"extra field":    {"name": "x", "filters": map[string]any{"interface": "public"}, "colour": "red"},
	} {
		if resp, _ := c.do("POST", base, tok, map[string]any{"endpoint_group": body}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("create with %s = %d, want 400", name, resp.StatusCode)
		}
	}
	if resp, _ := c.do("PATCH", base+"/"+gid, tok, map[string]any{"endpoint_group": map[string]any{"filters": map[string]any{"url": "x"}}}); resp.StatusCode != 400 {
		t.Errorf("patch bad filter = %d, want 400", resp.StatusCode)
	}

	c.must(204, "DELETE", base+"/"+gid, tok, nil)
	c.must(404, "GET", base+"/"+gid, tok, nil)
	c.must(404, "HEAD", base+"/"+gid, tok, nil)
	c.must(404, "DELETE", base+"/"+gid, tok, nil)
	c.must(404, "PATCH", base+"/"+gid, tok, map[string]any{"endpoint_group": map[string]any{"name": "z"}})
}

func TestProjectEndpointAssociations(t *testing.T) {
	c := newTestCloud(t)
	tok := c.adminToken
	_, pub, adm := c.newCatalogService("compute")
	proj := c.newProject("p1")
	const pre = "/v3/OS-EP-FILTER"
	assoc := pre + "/projects/" + proj + "/endpoints/" + pub

	c.must(404, "HEAD", assoc, tok, nil)
	c.must(204, "PUT", assoc, tok, nil)
	c.must(409, "PUT", assoc, tok, nil)
	c.must(204, "HEAD", assoc, tok, nil)
	c.must(204, "GET", assoc, tok, nil)
	c.must(404, "PUT", pre+"/projects/"+proj+"/endpoints/nope", tok, nil)
	c.must(404, "PUT", pre+"/projects/nope/endpoints/"+pub, tok, nil)

	if ids := listIDs(c.must(200, "GET", pre+"/projects/"+proj+"/endpoints", tok, nil), "endpoints"); !sameSet(ids, []string{pub}) {
		t.Errorf("endpoints for project = %v, want [%s]", ids, pub)
	}
	if ids := listIDs(c.must(200, "GET", pre+"/endpoints/"+pub+"/projects", tok, nil), "projects"); !sameSet(ids, []string{proj}) {
		t.Errorf("projects for endpoint = %v, want [%s]", ids, proj)
	}
	if ids := listIDs(c.must(200, "GET", pre+"/endpoints/"+adm+"/projects", tok, nil), "projects"); len(ids) != 0 {
		t.Errorf("projects for unassociated endpoint = %v", ids)
	}
	c.must(404, "GET", pre+"/endpoints/nope/projects", tok, nil)
	c.must(404, "GET", pre+"/projects/nope/endpoints", tok, nil)

	c.must(204, "DELETE", assoc, tok, nil)
	c.must(404, "DELETE", assoc, tok, nil)
	c.must(404, "HEAD", assoc, tok, nil)

	// Deleting the endpoint or project takes its associations with it.
	c.must(204, "PUT", assoc, tok, nil)
	c.must(204, "DELETE", "/v3/endpoints/"+pub, tok, nil)
	if ids := listIDs(c.must(200, "GET", pre+"/projects/"+proj+"/endpoints", tok, nil), "endpoints"); len(ids) != 0 {
		t.Errorf("endpoints after endpoint delete = %v", ids)
	}
	c.must(204, "PUT", pre+"/projects/"+proj+"/endpoints/"+adm, tok, nil)
	c.must(200, "PATCH", "/v3/projects/"+proj, tok, map[string]any{"project": map[string]any{"enabled": false}})
	c.must(204, "DELETE", "/v3/projects/"+proj, tok, nil)
	if ids := listIDs(c.must(200, "GET", pre+"/endpoints/"+adm+"/projects", tok, nil), "projects"); len(ids) != 0 {
		t.Errorf("projects after project delete = %v", ids)
	}
}

func TestEndpointGroupProjectAssociations(t *testing.T) {
	c := newTestCloud(t)
	tok := c.adminToken
	svc, pub, adm := c.newCatalogService("volume")
	_, otherPub, _ := c.newCatalogService("image")
	proj := c.newProject("p1")
	const pre = "/v3/OS-EP-FILTER"

	gid := id(c.must(201, "POST", pre+"/endpoint_groups", tok, map[string]any{"endpoint_group": map[string]any{
		"name": "volume-admin", "filters": map[string]any{"service_id": svc, "interface": "admin"}}}), "endpoint_group")
	if ids := listIDs(c.must(200, "GET", pre+"/endpoint_groups/"+gid+"/endpoints", tok, nil), "endpoints"); !sameSet(ids, []string{adm}) {
		t.Errorf("endpoints in group = %v, want [%s]", ids, adm)
	}
	c.must(404, "GET", pre+"/endpoint_groups/nope/endpoints", tok, nil)

	assoc := pre + "/endpoint_groups/" + gid + "/projects/" + proj
	c.must(404, "GET", assoc, tok, nil)
	c.must(204, "PUT", assoc, tok, nil)
	c.must(409, "PUT", assoc, tok, nil)
	c.must(200, "HEAD", assoc, tok, nil)
	got := c.must(200, "GET", assoc, tok, nil)["project_endpoint_group"].(map[string]any)
	if got["endpoint_group_id"] != gid || got["project_id"] != proj {
		t.Errorf("association = %v", got)
	}
	c.must(404, "PUT", pre+"/endpoint_groups/nope/projects/"+proj, tok, nil)
	c.must(404, "PUT", pre+"/endpoint_groups/"+gid+"/projects/nope", tok, nil)

	if ids := listIDs(c.must(200, "GET", pre+"/endpoint_groups/"+gid+"/projects", tok, nil), "projects"); !sameSet(ids, []string{proj}) {
		t.Errorf("projects of group = %v", ids)
	}
	if ids := listIDs(c.must(200, "GET", pre+"/projects/"+proj+"/endpoint_groups", tok, nil), "endpoint_groups"); !sameSet(ids, []string{gid}) {
		t.Errorf("groups of project = %v", ids)
	}
	c.must(404, "GET", pre+"/projects/nope/endpoint_groups", tok, nil)

	// The project's endpoints are the direct ones and the group's, once each.
	c.must(204, "PUT", pre+"/projects/"+proj+"/endpoints/"+otherPub, tok, nil)
	c.must(204, "PUT", pre+"/projects/"+proj+"/endpoints/"+adm, tok, nil)
	if ids := listIDs(c.must(200, "GET", pre+"/projects/"+proj+"/endpoints", tok, nil), "endpoints"); !sameSet(ids, []string{adm, otherPub}) {
		t.Errorf("endpoints for project = %v, want %s and %s (not %s)", ids, adm, otherPub, pub)
	}

	// The token catalog is not filtered: Keystone does that only with
	// the endpoint_filter catalog driver.
	uid := c.newUser("alice", "pw-alice-1")
	c.grant(UserProject, uid, proj, "member", false)
	resp, body := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"id": uid, "password": "pw-alice-1"}}},
		"scope": map[string]any{"project": map[string]any{"id": proj}}}})
	if resp.StatusCode != 201 {
		t.Fatalf("auth = %d %v", resp.StatusCode, body)
	}
	catalog, _ := body["token"].(map[string]any)["catalog"].([]any)
	if len(catalog) != 3 { // identity, volume, image
		t.Errorf("catalog has %d services, want all 3", len(catalog))
	}

	c.must(204, "DELETE", assoc, tok, nil)
	c.must(404, "DELETE", assoc, tok, nil)
	c.must(404, "HEAD", assoc, tok, nil)

	// Deleting a group drops its associations.
	c.must(204, "PUT", assoc, tok, nil)
	c.must(204, "DELETE", pre+"/endpoint_groups/"+gid, tok, nil)
	if ids := listIDs(c.must(200, "GET", pre+"/projects/"+proj+"/endpoint_groups", tok, nil), "endpoint_groups"); len(ids) != 0 {
		t.Errorf("groups after group delete = %v", ids)
	}
}

func TestEPFilterPolicy(t *testing.T) {
	c := newTestCloud(t)
	proj := c.newProject("p1")
	uid := c.newUser("bob", "pw-bob-123")
	c.grant(UserProject, uid, proj, "member", false)
	tok := c.passwordToken("bob", "pw-bob-123", map[string]any{"project": map[string]any{"id": proj}})
	const pre = "/v3/OS-EP-FILTER"
	c.must(403, "GET", pre+"/endpoint_groups", tok, nil)
	c.must(403, "POST", pre+"/endpoint_groups", tok, map[string]any{"endpoint_group": map[string]any{
		"name": "g", "filters": map[string]any{"interface": "public"}}})
	c.must(403, "GET", pre+"/projects/"+proj+"/endpoints", tok, nil)
	c.must(401, "GET", pre+"/endpoint_groups", "", nil)
}
