package identity

import "testing"

func (c *testCloud) newRole(name, domainID string) string {
	c.t.Helper()
	body := map[string]any{"name": name}
	if domainID != "" {
		body["domain_id"] = domainID
	}
	return id(c.must(201, "POST", "/v3/roles", c.adminToken, map[string]any{"role": body}), "role")
}

func TestRoleCRUD(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	rid := c.newRole("observer", "")
	c.must(409, "POST", "/v3/roles", c.adminToken, map[string]any{"role": map[string]any{"name": "observer"}})
	out := c.must(200, "GET", "/v3/roles/"+rid, c.adminToken, nil)
	role, _ := out["role"].(map[string]any)
	if role["name"] != "observer" || role["domain_id"] != nil || role["links"] == nil {
		t.Fatalf("role = %v", role)
	}
	out = c.must(200, "GET", "/v3/roles?name=observer", c.adminToken, nil)
	if l, _ := out["roles"].([]any); len(l) != 1 {
		t.Fatalf("roles?name = %v", out)
	}
	out = c.must(200, "PATCH", "/v3/roles/"+rid, c.adminToken, map[string]any{"role": map[string]any{"description": "looks"}})
	if id(out, "role") != rid || out["role"].(map[string]any)["description"] != "looks" {
		t.Fatalf("patch = %v", out)
	}

	// Domain-specific roles are listed only with their domain.
	drid := c.newRole("observer", DefaultDomainID)
	out = c.must(200, "GET", "/v3/roles", c.adminToken, nil)
	for _, x := range out["roles"].([]any) {
		if x.(map[string]any)["id"] == drid {
			t.Fatalf("global list shows domain role")
		}
	}
	out = c.must(200, "GET", "/v3/roles?domain_id="+DefaultDomainID, c.adminToken, nil)
	if l, _ := out["roles"].([]any); len(l) != 1 || id(map[string]any{"r": l[0]}, "r") != drid {
		t.Fatalf("domain roles = %v", out)
	}

	// Immutable roles refuse changes until the option is cleared.
	c.must(200, "PATCH", "/v3/roles/"+rid, c.adminToken, map[string]any{"role": map[string]any{"options": map[string]any{"immutable": true}}})
	c.must(403, "DELETE", "/v3/roles/"+rid, c.adminToken, nil)
	c.must(403, "PATCH", "/v3/roles/"+rid, c.adminToken, map[string]any{"role": map[string]any{"name": "x"}})
	c.must(200, "PATCH", "/v3/roles/"+rid, c.adminToken, map[string]any{"role": map[string]any{"options": map[string]any{"immutable": false}}})
	c.must(400, "PATCH", "/v3/roles/"+rid, c.adminToken, map[string]any{"role": map[string]any{"options": map[string]any{"bogus": true}}})

	c.must(204, "DELETE", "/v3/roles/"+rid, c.adminToken, nil)
	resp, body := c.do("GET", "/v3/roles/"+rid, c.adminToken, nil)
	if resp.StatusCode != 404 || msg(body) != "Could not find role: "+rid+"." {
		t.Fatalf("get deleted = %d %v", resp.StatusCode, body)
	}
}

func TestImpliedRoles(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	prior := c.newRole("prior", "")
	implied := c.newRole("implied", "")
	out := c.must(201, "PUT", "/v3/roles/"+prior+"/implies/"+implied, c.adminToken, nil)
	inf, _ := out["role_inference"].(map[string]any)
	if id(inf, "prior_role") != prior || id(inf, "implies") != implied {
		t.Fatalf("create inference = %v", out)
	}
	c.must(200, "GET", "/v3/roles/"+prior+"/implies/"+implied, c.adminToken, nil)
	c.must(204, "HEAD", "/v3/roles/"+prior+"/implies/"+implied, c.adminToken, nil)
	out = c.must(200, "GET", "/v3/roles/"+prior+"/implies", c.adminToken, nil)
	if l, _ := out["role_inference"].(map[string]any)["implies"].([]any); len(l) != 1 {
		t.Fatalf("list implies = %v", out)
	}
	out = c.must(200, "GET", "/v3/role_inferences", c.adminToken, nil)
	if l, _ := out["role_inferences"].([]any); len(l) < 2 { // bootstrap's admin>manager>member>reader too
		t.Fatalf("role_inferences = %v", out)
	}
	// Cycles, admin and global-implies-domain are refused.
	c.must(403, "PUT", "/v3/roles/"+implied+"/implies/"+prior, c.adminToken, nil)
	c.must(403, "PUT", "/v3/roles/"+prior+"/implies/"+c.roleID("admin"), c.adminToken, nil)
	drole := c.newRole("dom", DefaultDomainID)
	c.must(403, "PUT", "/v3/roles/"+prior+"/implies/"+drole, c.adminToken, nil)
	c.must(404, "PUT", "/v3/roles/"+prior+"/implies/nope", c.adminToken, nil)

	// A user holding prior gets implied in the token.
	uid := c.newUser("ivy", "pw-ivy-1")
	pid := c.newProject("ivyp")
	c.must(204, "PUT", "/v3/projects/"+pid+"/users/"+uid+"/roles/"+prior, c.adminToken, nil)
	tok := c.passwordToken("ivy", "pw-ivy-1", map[string]any{"project": map[string]any{"id": pid}})
	if r := names(c.postToken(c.adminToken, tok)["roles"]); !r["prior"] || !r["implied"] {
		t.Fatalf("token roles = %v", r)
	}
	// A domain-specific role gives only what it implies.
	c.must(201, "PUT", "/v3/roles/"+drole+"/implies/"+c.roleID("reader"), c.adminToken, nil)
	c.must(204, "PUT", "/v3/projects/"+pid+"/users/"+uid+"/roles/"+drole, c.adminToken, nil)
	tok = c.passwordToken("ivy", "pw-ivy-1", map[string]any{"project": map[string]any{"id": pid}})
	if r := names(c.postToken(c.adminToken, tok)["roles"]); !r["reader"] || r["dom"] {
		t.Fatalf("token roles with domain role = %v", r)
	}

	c.must(204, "DELETE", "/v3/roles/"+prior+"/implies/"+implied, c.adminToken, nil)
	c.must(404, "GET", "/v3/roles/"+prior+"/implies/"+implied, c.adminToken, nil)
}
