package identity

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/db/pgtest"
)

// The same API on PostgreSQL: the SQL is portable, so a split deployment
// behaves like the all-in-one cloud.
func TestIdentityOnPostgres(t *testing.T) {
	c := newTestCloudOn(t, pgtest.Start(t))
	uid := c.newUser("pg-user", "pg-pass-1")
	pid := c.newProject("pg-project")
	child := c.must(201, "POST", "/v3/projects", c.adminToken, map[string]any{"project": map[string]any{"name": "pg-child", "parent_id": pid, "tags": []string{"a", "b"}}})
	c.grant(UserProject, uid, pid, "member", true) // inherited to the child
	tok := c.passwordToken("pg-user", "pg-pass-1", map[string]any{"project": map[string]any{"id": id(child, "project")}})
	body := c.postToken(c.adminToken, tok)
	if !names(body["roles"])["reader"] {
		t.Fatalf("inherited member (implying reader) missing: %v", body["roles"])
	}
	c.must(200, "GET", "/v3/projects?tags=a,b", c.adminToken, nil)
	g := c.must(201, "POST", "/v3/groups", c.adminToken, map[string]any{"group": map[string]any{"name": "pg-group"}})
	c.must(204, "PUT", "/v3/groups/"+id(g, "group")+"/users/"+uid, c.adminToken, nil)
	c.must(204, "HEAD", "/v3/groups/"+id(g, "group")+"/users/"+uid, c.adminToken, nil)
	c.must(409, "POST", "/v3/users", c.adminToken, map[string]any{"user": map[string]any{"name": "pg-user"}})
	c.must(204, "POST", "/v3/users/"+uid+"/password", tok, map[string]any{"user": map[string]any{"password": "pg-pass-2", "original_password": "pg-pass-1"}})
	c.must(401, "GET", "/v3/projects/"+pid, tok, nil)
	c.passwordToken("pg-user", "pg-pass-2", nil)
	c.must(204, "DELETE", "/v3/users/"+uid, c.adminToken, nil)
}
