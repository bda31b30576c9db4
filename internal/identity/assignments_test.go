package identity

import (
	"strings"
	"testing"
)

func projectScope(pid string) map[string]any {
	return map[string]any{"project": map[string]any{"id": pid}}
}

func (c *testCloud) newGroup(name string) string {
	c.t.Helper()
	return id(c.must(201, "POST", "/v3/groups", c.adminToken, map[string]any{"group": map[string]any{"name": name}}), "group")
}

func (c *testCloud) newChildProject(name, parent string) string {
	c.t.Helper()
	return id(c.must(201, "POST", "/v3/projects", c.adminToken, map[string]any{"project": map[string]any{"name": name, "parent_id": parent}}), "project")
}

func assignments(c *testCloud, query string) []map[string]any {
	c.t.Helper()
	out := c.must(200, "GET", "/v3/role_assignments"+query, c.adminToken, nil)
	var list []map[string]any
	for _, x := range out["role_assignments"].([]any) {
		list = append(list, x.(map[string]any))
	}
	return list
}

func TestGrantsOfEachKind(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("gina", "pw-gina-1")
	gid := c.newGroup("staff")
	pid := c.newProject("gp")
	member := c.roleID("member")
	for _, base := range []string{
		"/v3/projects/" + pid + "/users/" + uid + "/roles",
		"/v3/projects/" + pid + "/groups/" + gid + "/roles",
		"/v3/domains/default/users/" + uid + "/roles",
		"/v3/domains/default/groups/" + gid + "/roles",
		"/v3/system/users/" + uid + "/roles",
		"/v3/system/groups/" + gid + "/roles",
	} {
		c.must(404, "HEAD", base+"/"+member, c.adminToken, nil)
		c.must(204, "PUT", base+"/"+member, c.adminToken, nil)
		c.must(204, "PUT", base+"/"+member, c.adminToken, nil) // idempotent
		c.must(204, "HEAD", base+"/"+member, c.adminToken, nil)
		c.must(204, "GET", base+"/"+member, c.adminToken, nil)
		out := c.must(200, "GET", base, c.adminToken, nil)
		if l, _ := out["roles"].([]any); len(l) != 1 || l[0].(map[string]any)["name"] != "member" {
			t.Fatalf("GET %s = %v", base, out)
		}
		c.must(204, "DELETE", base+"/"+member, c.adminToken, nil)
		c.must(404, "DELETE", base+"/"+member, c.adminToken, nil)
	}
	for _, base := range []string{
		"/v3/OS-INHERIT/domains/default/users/" + uid + "/roles/",
		"/v3/OS-INHERIT/domains/default/groups/" + gid + "/roles/",
		"/v3/OS-INHERIT/projects/" + pid + "/users/" + uid + "/roles/",
		"/v3/OS-INHERIT/projects/" + pid + "/groups/" + gid + "/roles/",
	} {
		c.must(204, "PUT", base+member+"/inherited_to_projects", c.adminToken, nil)
		c.must(204, "HEAD", base+member+"/inherited_to_projects", c.adminToken, nil)
		out := c.must(200, "GET", base+"inherited_to_projects", c.adminToken, nil)
		if l, _ := out["roles"].([]any); len(l) != 1 {
			t.Fatalf("GET %s = %v", base, out)
		}
		c.must(204, "DELETE", base+member+"/inherited_to_projects", c.adminToken, nil)
	}

	// Missing things are 404 with Keystone's messages.
	_, body := c.do("PUT", "/v3/projects/"+pid+"/users/"+uid+"/roles/nope", c.adminToken, nil)
	if msg(body) != "Could not find role: nope." {
		t.Fatalf("missing role: %v", body)
	}
	c.must(404, "PUT", "/v3/projects/"+pid+"/users/nope/roles/"+member, c.adminToken, nil)
	c.must(404, "PUT", "/v3/projects/nope/users/"+uid+"/roles/"+member, c.adminToken, nil)
	c.must(404, "PUT", "/v3/domains/nope/groups/"+gid+"/roles/"+member, c.adminToken, nil)
}

func TestGrantsReachTokensAndRevokeAtOnce(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("hal", "pw-hal-1")
	parent := c.newProject("parent")
	child := c.newChildProject("child", parent)
	member := c.roleID("member")

	// Inherited grant on the parent reaches the child, not the parent.
	c.must(204, "PUT", "/v3/OS-INHERIT/projects/"+parent+"/users/"+uid+"/roles/"+member+"/inherited_to_projects", c.adminToken, nil)
	tok := c.passwordToken("hal", "pw-hal-1", projectScope(child))
	if r := names(c.postToken(c.adminToken, tok)["roles"]); !r["member"] || !r["reader"] {
		t.Fatalf("inherited token roles = %v", r)
	}
	resp, _ := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": "hal", "password": "pw-hal-1", "domain": map[string]any{"id": "default"}}}},
		"scope": projectScope(parent)}})
	if resp.StatusCode != 401 {
		t.Fatalf("parent scope without a role = %d, want 401", resp.StatusCode)
	}

	// A group grant reaches its member.
	gid := c.newGroup("ops")
	c.must(204, "PUT", "/v3/groups/"+gid+"/users/"+uid, c.adminToken, nil)
	c.must(204, "PUT", "/v3/projects/"+parent+"/groups/"+gid+"/roles/"+member, c.adminToken, nil)
	tok = c.passwordToken("hal", "pw-hal-1", projectScope(parent))
	if r := names(c.postToken(c.adminToken, tok)["roles"]); !r["member"] {
		t.Fatalf("group token roles = %v", r)
	}

	// Removing a user's grant fails its project token at once.
	other := c.newProject("other")
	c.must(204, "PUT", "/v3/projects/"+other+"/users/"+uid+"/roles/"+member, c.adminToken, nil)
	tok = c.passwordToken("hal", "pw-hal-1", projectScope(other))
	c.must(200, "GET", "/v3/projects/"+other, tok, nil)
	// A member cannot grant roles.
	c.must(403, "PUT", "/v3/projects/"+other+"/users/"+uid+"/roles/"+c.roleID("admin"), tok, nil)
	c.must(403, "GET", "/v3/role_assignments", tok, nil)
	c.must(204, "DELETE", "/v3/projects/"+other+"/users/"+uid+"/roles/"+member, c.adminToken, nil)
	c.must(401, "GET", "/v3/projects/"+other, tok, nil)
}

func TestDomainSpecificRoleGrants(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("dee", "pw-dee-1")
	pid := c.newProject("dp")
	did := id(c.must(201, "POST", "/v3/domains", c.adminToken, map[string]any{"domain": map[string]any{"name": "elsewhere"}}), "domain")
	other := c.newRole("local", did)
	mine := c.newRole("local", DefaultDomainID)
	c.must(403, "PUT", "/v3/projects/"+pid+"/users/"+uid+"/roles/"+other, c.adminToken, nil)
	c.must(400, "PUT", "/v3/system/users/"+uid+"/roles/"+mine, c.adminToken, nil)
	c.must(204, "PUT", "/v3/projects/"+pid+"/users/"+uid+"/roles/"+mine, c.adminToken, nil)
	// Non-effective listings show it; effective ones keep only what it implies.
	if l := assignments(c, "?user.id="+uid); len(l) != 1 {
		t.Fatalf("direct = %v", l)
	}
	if l := assignments(c, "?effective&user.id="+uid); len(l) != 0 {
		t.Fatalf("effective = %v", l)
	}
	c.must(201, "PUT", "/v3/roles/"+mine+"/implies/"+c.roleID("reader"), c.adminToken, nil)
	l := assignments(c, "?effective&user.id="+uid)
	if len(l) != 1 || id(l[0], "role") != c.roleID("reader") {
		t.Fatalf("effective with implied = %v", l)
	}
	links := l[0]["links"].(map[string]any)
	if !strings.HasSuffix(links["assignment"].(string), "/v3/projects/"+pid+"/users/"+uid+"/roles/"+mine) || links["prior_role"] == nil {
		t.Fatalf("links = %v", links)
	}
	// Deleting the role drops its assignments.
	c.must(204, "DELETE", "/v3/roles/"+mine, c.adminToken, nil)
	if l := assignments(c, "?user.id="+uid); len(l) != 0 {
		t.Fatalf("after role delete = %v", l)
	}
}

func TestRoleAssignmentsListing(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("rae", "pw-rae-1")
	gid := c.newGroup("team")
	c.must(204, "PUT", "/v3/groups/"+gid+"/users/"+uid, c.adminToken, nil)
	parent := c.newProject("top")
	child := c.newChildProject("sub", parent)
	member, reader := c.roleID("member"), c.roleID("reader")
	c.must(204, "PUT", "/v3/projects/"+parent+"/groups/"+gid+"/roles/"+member, c.adminToken, nil)
	c.must(204, "PUT", "/v3/OS-INHERIT/domains/default/users/"+uid+"/roles/"+reader+"/inherited_to_projects", c.adminToken, nil)

	// Direct.
	l := assignments(c, "?group.id="+gid)
	if len(l) != 1 || id(l[0], "group") != gid || id(l[0]["scope"].(map[string]any), "project") != parent {
		t.Fatalf("group.id = %v", l)
	}
	l = assignments(c, "?user.id="+uid)
	if len(l) != 1 || l[0]["scope"].(map[string]any)["OS-INHERIT:inherited_to"] != "projects" ||
		!strings.Contains(l[0]["links"].(map[string]any)["assignment"].(string), "/v3/OS-INHERIT/domains/default/users/") {
		t.Fatalf("user.id = %v", l)
	}
	if l := assignments(c, "?scope.OS-INHERIT:inherited_to=projects&user.id="+uid); len(l) != 1 {
		t.Fatalf("inherited filter = %v", l)
	}
	if l := assignments(c, "?scope.system=all"); len(l) != 1 || l[0]["scope"].(map[string]any)["system"] == nil {
		t.Fatalf("system (bootstrap admin) = %v", l)
	}

	// Effective: the group grant becomes rae's, with a membership link;
	// the inherited reader lands on every project; member implies reader.
	l = assignments(c, "?effective&user.id="+uid+"&scope.project.id="+parent)
	roles := map[string]int{}
	for _, e := range l {
		if id(e, "user") != uid {
			t.Fatalf("effective entry without the user: %v", e)
		}
		roles[id(e, "role")]++
		if id(e, "role") == member && e["links"].(map[string]any)["membership"] == nil {
			t.Fatalf("no membership link: %v", e)
		}
	}
	if roles[member] != 1 || roles[reader] != 2 { // inherited + implied by member
		t.Fatalf("effective on parent = %v", l)
	}
	if l := assignments(c, "?effective&user.id="+uid+"&scope.project.id="+child); len(l) != 1 || id(l[0], "role") != reader {
		t.Fatalf("effective on child = %v", l)
	}
	c.must(400, "GET", "/v3/role_assignments?effective&group.id="+gid, c.adminToken, nil)
	c.must(400, "GET", "/v3/role_assignments?user.id="+uid+"&group.id="+gid, c.adminToken, nil)

	// include_subtree and include_names.
	if l := assignments(c, "?scope.project.id="+parent+"&include_subtree=true"); len(l) != 1 {
		t.Fatalf("include_subtree = %v", l)
	}
	c.must(400, "GET", "/v3/role_assignments?include_subtree=true", c.adminToken, nil)
	l = assignments(c, "?group.id="+gid+"&include_names")
	g := l[0]["group"].(map[string]any)
	p := l[0]["scope"].(map[string]any)["project"].(map[string]any)
	if g["name"] != "team" || p["name"] != "top" || p["domain"].(map[string]any)["name"] != "Default" ||
		l[0]["role"].(map[string]any)["name"] != "member" {
		t.Fatalf("include_names = %v", l[0])
	}
}
