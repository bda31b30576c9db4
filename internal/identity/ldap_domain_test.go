package identity

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend/ldap/ldaptest"
)

// An LDAP domain serves its users and groups from a real slapd: they
// authenticate by binding, get roles from SQL assignments, and cannot be
// changed through the API.
func TestLDAPDomainUsersAuthenticateAndAreReadOnly(t *testing.T) {
	t.Parallel()
	dir := ldaptest.Start(t)
	dir.AddUser(t, "jdoe", "jdoe", "ldap-pass-1", "jdoe@example.org")
	dir.AddUser(t, "rroe", "rroe", "ldap-pass-2", "rroe@example.org")
	dir.AddGroup(t, "devs", "devs", "jdoe")

	c := newTestCloud(t, func(cfg *Config) {
		cfg.LDAP = map[string]backend.LDAPConfig{"corp": dir.Config()}
	})

	out := c.must(200, "GET", "/v3/domains?name=corp", c.adminToken, nil)
	domains, _ := out["domains"].([]any)
	if len(domains) != 1 {
		t.Fatalf("domain corp: %v", out)
	}
	corp := domains[0].(map[string]any)["id"].(string)

	out = c.must(200, "GET", "/v3/users?domain_id="+corp, c.adminToken, nil)
	users, _ := out["users"].([]any)
	if len(users) != 2 {
		t.Fatalf("LDAP users = %v, want jdoe and rroe", out)
	}
	var jdoe string
	for _, u := range users {
		m := u.(map[string]any)
		if m["name"] == "jdoe" {
			jdoe = m["id"].(string)
			if m["email"] != "jdoe@example.org" {
				t.Errorf("jdoe email = %v", m["email"])
			}
		}
	}
	if len(jdoe) != 64 {
		t.Fatalf("jdoe public id = %q, want a 64-hex mapping id", jdoe)
	}
	// Stable id: the same user looked up again has the same id.
	c.must(200, "GET", "/v3/users/"+jdoe, c.adminToken, nil)

	groups := c.must(200, "GET", "/v3/users/"+jdoe+"/groups", c.adminToken, nil)
	if gl, _ := groups["groups"].([]any); len(gl) != 1 {
		t.Fatalf("jdoe's groups = %v", groups)
	}

	pid := c.newProject("ldap-project")
	c.grant(UserProject, jdoe, pid, "member", false)
	auth := func(password string) int {
		resp, _ := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
			"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
				"name": "jdoe", "password": password, "domain": map[string]any{"name": "corp"}}}},
			"scope": map[string]any{"project": map[string]any{"id": pid}}}})
		return resp.StatusCode
	}
	if code := auth("ldap-pass-1"); code != 201 {
		t.Fatalf("LDAP user auth = %d, want 201", code)
	}
	for _, bad := range []string{"wrong", ""} {
		if code := auth(bad); code != 401 {
			t.Fatalf("LDAP auth with %q = %d, want 401", bad, code)
		}
	}
	c.must(403, "POST", "/v3/users", c.adminToken, map[string]any{"user": map[string]any{"name": "new", "domain_id": corp}})
	c.must(403, "PATCH", "/v3/users/"+jdoe, c.adminToken, map[string]any{"user": map[string]any{"name": "x"}})
	c.must(403, "DELETE", "/v3/users/"+jdoe, c.adminToken, nil)
}
