package identity

import "testing"

func TestPoliciesCRUD(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tok := c.adminToken
	c.must(400, "POST", "/v3/policies", tok, map[string]any{"policy": map[string]any{"type": "application/json"}})
	out := c.must(201, "POST", "/v3/policies", tok, map[string]any{"policy": map[string]any{
		"type": "application/json", "blob": `{"default": ""}`, "note": "x"}})
	pid := id(out, "policy")
	if p := out["policy"].(map[string]any); p["blob"] != `{"default": ""}` || p["note"] != "x" || p["links"] == nil {
		t.Errorf("created = %v", p)
	}
	c.must(201, "POST", "/v3/policies", tok, map[string]any{"policy": map[string]any{"type": "text/yaml", "blob": "a: b"}})
	if l := c.must(200, "GET", "/v3/policies?type=text/yaml", tok, nil)["policies"].([]any); len(l) != 1 {
		t.Errorf("type filter = %v", l)
	}
	upd := c.must(200, "PATCH", "/v3/policies/"+pid, tok, map[string]any{"policy": map[string]any{"blob": "{}"}})
	if upd["policy"].(map[string]any)["blob"] != "{}" {
		t.Errorf("update = %v", upd)
	}
	c.must(200, "GET", "/v3/policies/"+pid, tok, nil)
	c.must(204, "DELETE", "/v3/policies/"+pid, tok, nil)
	c.must(404, "GET", "/v3/policies/"+pid, tok, nil)
	_, _, member := c.memberOf("carol")
	c.must(403, "GET", "/v3/policies", member, nil)
}

func TestDomainConfig(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tok := c.adminToken
	did := id(c.must(201, "POST", "/v3/domains", tok, map[string]any{"domain": map[string]any{"name": "ldapland"}}), "domain")
	base := "/v3/domains/" + did + "/config"
	c.must(404, "GET", base, tok, nil)
	cfg := map[string]any{"identity": map[string]any{"driver": "ldap"},
		"ldap": map[string]any{"url": "ldap://myldap.com:389/", "user_tree_dn": "ou=Users,dc=org", "password": "hunter2"}}
	c.must(403, "PUT", base, tok, map[string]any{"config": map[string]any{"ldap": map[string]any{"bogus": 1}}})
	c.must(403, "PUT", base, tok, map[string]any{"config": map[string]any{"assignment": map[string]any{"driver": "sql"}}})
	out := c.must(201, "PUT", base, tok, map[string]any{"config": cfg})
	if _, shown := out["config"].(map[string]any)["ldap"].(map[string]any)["password"]; shown {
		t.Error("PUT shows the sensitive password")
	}
	got := c.must(200, "GET", base, tok, nil)["config"].(map[string]any)
	ldap := got["ldap"].(map[string]any)
	if _, shown := ldap["password"]; shown || ldap["url"] != "ldap://myldap.com:389/" {
		t.Errorf("GET config = %v", got)
	}
	c.must(404, "GET", base+"/ldap/password", tok, nil)
	if g := c.must(200, "GET", base+"/identity", tok, nil)["config"].(map[string]any); g["identity"].(map[string]any)["driver"] != "ldap" {
		t.Errorf("group = %v", g)
	}
	if o := c.must(200, "GET", base+"/ldap/url", tok, nil)["config"].(map[string]any); o["url"] != "ldap://myldap.com:389/" {
		t.Errorf("option = %v", o)
	}
	// The stored password stays through updates.
	c.must(200, "PATCH", base+"/identity", tok, map[string]any{"config": map[string]any{"identity": map[string]any{"driver": "sql", "list_limit": 5}}})
	c.must(403, "PATCH", base+"/identity", tok, map[string]any{"config": map[string]any{"ldap": map[string]any{"url": "x"}}})
	upd := c.must(200, "PATCH", base+"/ldap/url", tok, map[string]any{"config": map[string]any{"url": "ldap://new"}})
	if upd["config"].(map[string]any)["ldap"].(map[string]any)["url"] != "ldap://new" {
		t.Errorf("option update = %v", upd)
	}
	c.must(404, "PATCH", base+"/ldap/suffix", tok, map[string]any{"config": map[string]any{"suffix": "dc=x"}})
	var n int
	if err := c.svc.db.QueryRow(`SELECT COUNT(*) FROM domain_configs WHERE domain_id = $1 AND opt = 'password'`, did).Scan(&n); err != nil || n != 1 {
		t.Errorf("stored password rows = %d, %v", n, err)
	}
	c.must(200, "PUT", base, tok, map[string]any{"config": cfg}) // replacing answers 200
	c.must(204, "DELETE", base+"/ldap/url", tok, nil)
	c.must(404, "GET", base+"/ldap/url", tok, nil)
	c.must(204, "DELETE", base+"/identity", tok, nil)
	c.must(404, "GET", base+"/identity", tok, nil)
	c.must(204, "DELETE", base, tok, nil)
	c.must(404, "GET", base, tok, nil)
	c.must(404, "GET", "/v3/domains/nope/config", tok, nil)

	def := c.must(200, "GET", "/v3/domains/config/default", tok, nil)["config"].(map[string]any)
	if _, ok := def["ldap"].(map[string]any)["user_tree_dn"]; !ok || def["identity"].(map[string]any)["driver"] != "sql" {
		t.Errorf("defaults = %v", def)
	}
	c.must(200, "GET", "/v3/domains/config/ldap/default", tok, nil)
	if o := c.must(200, "GET", "/v3/domains/config/identity/driver/default", tok, nil)["config"].(map[string]any); o["driver"] != "sql" {
		t.Errorf("default option = %v", o)
	}
	_, _, member := c.memberOf("dave")
	c.must(403, "GET", base, member, nil)
	c.must(200, "GET", "/v3/domains/"+did+"/config/security_compliance", member, nil)
}
