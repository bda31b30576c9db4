package compute

import (
	"context"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

func groupBody(name string, policies ...any) map[string]any {
	return map[string]any{"server_group": map[string]any{"name": name, "policies": policies}}
}

func TestServerGroups(t *testing.T) {
	a := newAPI(t)

	c := a.call("POST", "/v2.1/os-server-groups", groupBody("web", "anti-affinity"), "token=member").must(t, 200)
	id := c.str("server_group.id")
	if c.str("server_group.name") != "web" || len(c.list("server_group.policies")) != 1 ||
		c.str("server_group.policies.0") != "anti-affinity" || c.path("server_group.metadata") == nil ||
		len(c.list("server_group.members")) != 0 || c.has("server_group.project_id") {
		t.Errorf("create 2.1: %s", c.raw)
	}
	// 2.13 adds the owner; 2.15 the soft policies; 2.64 policy and rules.
	c = a.call("POST", "/v2.1/os-server-groups", groupBody("soft", "soft-affinity"), "2.15", "token=member").must(t, 200)
	if c.str("server_group.project_id") != demoProject || c.str("server_group.user_id") != "u-demo" {
		t.Errorf("create 2.15: %s", c.raw)
	}
	a.call("POST", "/v2.1/os-server-groups", groupBody("soft", "soft-affinity"), "2.14", "token=member").must(t, 400)
	c = a.call("POST", "/v2.1/os-server-groups", map[string]any{"server_group": map[string]any{
		"name": "db", "policy": "anti-affinity", "rules": map[string]any{"max_server_per_host": 3}}}, "2.64", "token=member").must(t, 200)
	dbID := c.str("server_group.id")
	if c.str("server_group.policy") != "anti-affinity" || c.num("server_group.rules.max_server_per_host") != 3 ||
		c.has("server_group.policies") || c.has("server_group.metadata") {
		t.Errorf("create 2.64: %s", c.raw)
	}
	for _, bad := range []struct {
		body    any
		version string
		msg     string
	}{
		{groupBody("x"), "2.1", ""},
		{groupBody("x", "affinity", "anti-affinity"), "2.1", ""},
		{groupBody("x", "bogus"), "2.1", ""},
		{groupBody("", "affinity"), "2.1", ""},
		{map[string]any{"server_group": map[string]any{"name": "x", "policies": []any{"affinity"}}}, "2.64", ""},
		{map[string]any{"server_group": map[string]any{"name": "x", "policy": "affinity", "rules": map[string]any{"max_server_per_host": 2}}},
			"2.64", "Only anti-affinity policy supports rules."},
		{map[string]any{"server_group": map[string]any{"name": "x", "policy": "anti-affinity", "rules": map[string]any{"max_server_per_host": 0}}}, "2.64", ""},
		{map[string]any{"server_group": map[string]any{"name": "x", "policy": "anti-affinity", "rules": map[string]any{"foo": 1}}}, "2.64", ""},
	} {
		a.call("POST", "/v2.1/os-server-groups", bad.body, bad.version, "token=member").fault(t, 400, "badRequest", bad.msg)
	}
	a.call("POST", "/v2.1/os-server-groups", groupBody("x", "affinity"), "token=reader").must(t, 403)

	// Show: the project's own; another project's is refused by policy.
	s := a.call("GET", "/v2.1/os-server-groups/"+dbID, nil, "2.64", "token=member").must(t, 200)
	if s.str("server_group.name") != "db" {
		t.Errorf("show: %s", s.raw)
	}
	a.call("GET", "/v2.1/os-server-groups/"+dbID, nil, "token=alt").must(t, 403)
	a.call("GET", "/v2.1/os-server-groups/"+dbID, nil).must(t, 200) // admin
	a.call("GET", "/v2.1/os-server-groups/00000000-0000-0000-0000-000000000000", nil, "token=member").
		fault(t, 404, "itemNotFound", "Instance group 00000000-0000-0000-0000-000000000000 could not be found.")

	// List: own project; all_projects for admins only.
	a.call("POST", "/v2.1/os-server-groups", groupBody("alt", "affinity"), "token=alt").must(t, 200)
	l := a.call("GET", "/v2.1/os-server-groups", nil, "token=member").must(t, 200)
	if len(l.list("server_groups")) != 3 {
		t.Errorf("member list: %s", l.raw)
	}
	l = a.call("GET", "/v2.1/os-server-groups?all_projects=1", nil, "token=member").must(t, 200)
	if len(l.list("server_groups")) != 3 {
		t.Errorf("member's all_projects is ignored: %s", l.raw)
	}
	l = a.call("GET", "/v2.1/os-server-groups?all_projects=1", nil).must(t, 200)
	if len(l.list("server_groups")) != 4 {
		t.Errorf("admin all_projects: %s", l.raw)
	}
	l = a.call("GET", "/v2.1/os-server-groups?all_projects=1&limit=2&offset=1", nil).must(t, 200)
	if len(l.list("server_groups")) != 2 {
		t.Errorf("limit/offset: %s", l.raw)
	}
	a.call("GET", "/v2.1/os-server-groups?limit=-1", nil).must(t, 400)
	a.call("GET", "/v2.1/os-server-groups?foo=1", nil, "2.75").must(t, 400)

	// Members: servers that joined, not deleted ones.
	ctx := context.Background()
	inst := addInstance(t, a, demoProject, "", 1, 512, 1, time.Now())
	if err := a.svc.instances.AddGroupMember(ctx, nil, id, inst.UUID); err != nil {
		t.Fatal(err)
	}
	s = a.call("GET", "/v2.1/os-server-groups/"+id, nil, "token=member").must(t, 200)
	if len(s.list("server_group.members")) != 1 || s.str("server_group.members.0") != inst.UUID {
		t.Errorf("members: %s", s.raw)
	}
	if _, err := a.svc.instances.Destroy(ctx, inst.UUID); err != nil {
		t.Fatal(err)
	}
	s = a.call("GET", "/v2.1/os-server-groups/"+id, nil, "token=member").must(t, 200)
	if len(s.list("server_group.members")) != 0 {
		t.Errorf("members after delete: %s", s.raw)
	}

	// Delete: 204; another project's is refused.
	a.call("DELETE", "/v2.1/os-server-groups/"+id, nil, "token=alt").must(t, 403)
	a.call("DELETE", "/v2.1/os-server-groups/"+id, nil, "token=member").must(t, 204)
	a.call("DELETE", "/v2.1/os-server-groups/"+id, nil, "token=member").must(t, 404)
}

func TestServerGroupQuota(t *testing.T) {
	a := newAPI(t)
	a.call("PUT", "/v2.1/os-quota-sets/"+demoProject, map[string]any{"quota_set": map[string]any{"server_groups": 2}}).must(t, 200)
	a.call("POST", "/v2.1/os-server-groups", groupBody("g1", "affinity"), "token=member").must(t, 200)
	a.call("POST", "/v2.1/os-server-groups", groupBody("g2", "affinity"), "token=member").must(t, 200)
	a.call("POST", "/v2.1/os-server-groups", groupBody("g3", "affinity"), "token=member").
		fault(t, 403, "forbidden", "Quota exceeded, too many server groups.")
	l := a.call("GET", "/v2.1/os-server-groups", nil, "token=member").must(t, 200)
	if len(l.list("server_groups")) != 2 {
		t.Errorf("over quota created a group: %s", l.raw)
	}
	d := a.call("GET", "/v2.1/os-quota-sets/"+demoProject+"/detail", nil, "token=member").must(t, 200)
	if d.num("quota_set.server_groups.in_use") != 2 || d.num("quota_set.server_groups.limit") != 2 {
		t.Errorf("quota detail: %s", d.raw)
	}
	// Another project is not affected.
	a.call("POST", "/v2.1/os-server-groups", groupBody("g3", "affinity"), "token=alt").must(t, 200)

	// server_group_members: counted per user in the group.
	ctx := context.Background()
	g, err := a.svc.CreateServerGroup(ctx, tokens["alt"], ServerGroupSpec{Name: "m", Policy: "affinity"})
	if err != nil {
		t.Fatal(err)
	}
	a.call("PUT", "/v2.1/os-quota-sets/"+altProject, map[string]any{"quota_set": map[string]any{"server_group_members": 1}}).must(t, 200)
	if err := a.svc.CheckServerGroupMembers(ctx, g, altProject, "u-alt", 1); err != nil {
		t.Fatalf("first member: %v", err)
	}
	inst := addInstance(t, a, altProject, "", 1, 512, 1, time.Now())
	if _, err := a.svc.instances.Update(ctx, inst.UUID, instances.Guard{}, func(i *instances.Instance) error {
		i.UserID = "u-alt"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.instances.AddGroupMember(ctx, nil, g.UUID, inst.UUID); err != nil {
		t.Fatal(err)
	}
	g, err = a.svc.instances.GetServerGroup(ctx, g.UUID)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.CheckServerGroupMembers(ctx, g, altProject, "u-alt", 1); err == nil {
		t.Error("second member passed a quota of 1")
	}
}
