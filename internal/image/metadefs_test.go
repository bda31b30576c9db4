package image

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
)

func metadefNames(list any, key string) []string {
	var out []string
	items, _ := list.([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		s, _ := m[key].(string)
		out = append(out, s)
	}
	return out
}

func TestMetadefNamespaces(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	const base = "/v2/metadefs/namespaces"

	ns := c.must(201, "POST", base, c.admin, map[string]any{
		"namespace": "OS::Test::Pub", "display_name": "Pub", "description": "d", "visibility": "public",
		"protected": true, "resource_type_associations": []any{map[string]any{"name": "OS::Glance::Image", "prefix": "hw_"}},
		"properties": map[string]any{"cpu": map[string]any{"title": "CPU", "type": "integer", "minimum": 1}},
		"objects":    []any{map[string]any{"name": "obj", "properties": map[string]any{"x": map[string]any{"type": "string"}}}},
		"tags":       []any{map[string]any{"name": "t1"}},
	})
	if ns["self"] != base+"/OS::Test::Pub" || ns["protected"] != true || ns["created_at"] == nil {
		t.Fatalf("create = %v", ns)
	}
	c.must(409, "POST", base, c.admin, map[string]any{"namespace": "OS::Test::Pub"})
	c.must(400, "POST", base, c.admin, map[string]any{"namespace": "x", "bogus": 1})
	c.must(400, "POST", base, c.admin, map[string]any{"namespace": "x", "visibility": "shared"})
	c.must(400, "POST", base, c.admin, map[string]any{"display_name": "no namespace"})
	c.must(403, "POST", base, c.admin, map[string]any{"namespace": "x", "self": "/x"})
	c.must(403, "POST", base, c.alice, map[string]any{"namespace": "OS::Test::Alice"})
	// A private namespace of project A, made by an admin for it.
	c.must(201, "POST", base, c.admin, map[string]any{"namespace": "OS::Test::PrivA", "owner": c.projectA})

	got := c.must(200, "GET", base+"/OS::Test::Pub", c.bob, nil)
	if got["properties"].(map[string]any)["cpu"].(map[string]any)["minimum"] != 1.0 ||
		len(got["objects"].([]any)) != 1 || len(got["tags"].([]any)) != 1 ||
		metadefNames(got["resource_type_associations"], "prefix")[0] != "hw_" {
		t.Fatalf("get = %v", got)
	}
	c.must(200, "GET", base+"/OS::Test::PrivA", c.alice, nil)
	c.must(404, "GET", base+"/OS::Test::PrivA", c.bob, nil)
	c.must(404, "GET", base+"/nope", c.admin, nil)

	for _, tc := range []struct {
		name, token, query string
		want               []string
	}{
		{"alice sees public and her own", c.alice, "", []string{"OS::Test::PrivA", "OS::Test::Pub"}},
		{"bob sees public", c.bob, "", []string{"OS::Test::Pub"}},
		{"admin sees all", c.admin, "?sort_key=namespace&sort_dir=asc", []string{"OS::Test::PrivA", "OS::Test::Pub"}},
		{"visibility filter", c.admin, "?visibility=private", []string{"OS::Test::PrivA"}},
		{"resource type filter", c.admin, "?resource_types=OS::Glance::Image,OS::Nova::Flavor", []string{"OS::Test::Pub"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := c.must(200, "GET", base+tc.query, tc.token, nil)
			names := metadefNames(list["namespaces"], "namespace")
			slices.Sort(names)
			if !slices.Equal(names, tc.want) {
				t.Fatalf("list = %v, want %v", names, tc.want)
			}
		})
	}
	page := c.must(200, "GET", base+"?limit=1&sort_key=namespace&sort_dir=asc", c.admin, nil)
	if n := metadefNames(page["namespaces"], "namespace"); len(n) != 1 || n[0] != "OS::Test::PrivA" || page["next"] == nil {
		t.Fatalf("page 1 = %v", page)
	}
	page = c.must(200, "GET", base+"?limit=1&sort_key=namespace&sort_dir=asc&marker=OS::Test::PrivA", c.admin, nil)
	if n := metadefNames(page["namespaces"], "namespace"); len(n) != 1 || n[0] != "OS::Test::Pub" {
		t.Fatalf("page 2 = %v", page)
	}

	c.must(403, "DELETE", base+"/OS::Test::Pub", c.admin, nil) // protected
	c.must(403, "PUT", base+"/OS::Test::Pub", c.alice, map[string]any{"namespace": "OS::Test::Pub"})
	up := c.must(200, "PUT", base+"/OS::Test::Pub", c.admin, map[string]any{
		"namespace": "OS::Test::Renamed", "visibility": "private", "protected": false})
	if up["visibility"] != "private" || up["protected"] != false || up["self"] != base+"/OS::Test::Renamed" {
		t.Fatalf("update = %v", up)
	}
	c.must(409, "PUT", base+"/OS::Test::Renamed", c.admin, map[string]any{"namespace": "OS::Test::PrivA"})
	// Its definitions moved with it.
	got = c.must(200, "GET", base+"/OS::Test::Renamed", c.admin, nil)
	if len(got["objects"].([]any)) != 1 {
		t.Fatalf("renamed = %v", got)
	}
	c.must(404, "GET", base+"/OS::Test::Renamed", c.bob, nil) // private now
	c.must(204, "DELETE", base+"/OS::Test::Renamed", c.admin, nil)
	c.must(404, "GET", base+"/OS::Test::Renamed", c.admin, nil)
}

func TestMetadefObjects(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	const ns = "/v2/metadefs/namespaces/OS::Test::Obj"
	c.must(201, "POST", "/v2/metadefs/namespaces", c.admin, map[string]any{"namespace": "OS::Test::Obj", "visibility": "public"})

	obj := c.must(201, "POST", ns+"/objects", c.admin, map[string]any{"name": "CPU Limits", "description": "d",
		"required":   []any{"quota:cpu_period"},
		"properties": map[string]any{"quota:cpu_period": map[string]any{"title": "Period", "type": "integer", "maximum": 1000000}}})
	if obj["self"] != ns+"/objects/CPU Limits" || obj["schema"] != "/v2/schemas/metadefs/object" {
		t.Fatalf("create = %v", obj)
	}
	c.must(409, "POST", ns+"/objects", c.admin, map[string]any{"name": "CPU Limits"})
	c.must(400, "POST", ns+"/objects", c.admin, map[string]any{"description": "no name"})
	c.must(400, "POST", ns+"/objects", c.admin, map[string]any{"name": "bad", "properties": map[string]any{"p": map[string]any{"type": "float"}}})
	c.must(403, "POST", ns+"/objects", c.bob, map[string]any{"name": "bob's"})
	c.must(404, "POST", "/v2/metadefs/namespaces/missing/objects", c.admin, map[string]any{"name": "x"})

	got := c.must(200, "GET", ns+"/objects/CPU%20Limits", c.bob, nil)
	if got["properties"].(map[string]any)["quota:cpu_period"].(map[string]any)["maximum"] != 1e6 {
		t.Fatalf("get = %v", got)
	}
	list := c.must(200, "GET", ns+"/objects", c.alice, nil)
	if n := metadefNames(list["objects"], "name"); !slices.Equal(n, []string{"CPU Limits"}) {
		t.Fatalf("list = %v", list)
	}
	up := c.must(200, "PUT", ns+"/objects/CPU%20Limits", c.admin, map[string]any{"name": "Limits"})
	if up["name"] != "Limits" || len(up["required"].([]any)) != 0 {
		t.Fatalf("update = %v", up)
	}
	c.must(404, "GET", ns+"/objects/CPU%20Limits", c.admin, nil)
	c.must(403, "DELETE", ns+"/objects/Limits", c.alice, nil)
	c.must(204, "DELETE", ns+"/objects/Limits", c.admin, nil)
	c.must(404, "DELETE", ns+"/objects/Limits", c.admin, nil)
}

func TestMetadefProperties(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	const ns = "/v2/metadefs/namespaces/OS::Test::Props"
	c.must(201, "POST", "/v2/metadefs/namespaces", c.admin, map[string]any{"namespace": "OS::Test::Props",
		"resource_type_associations": []any{map[string]any{"name": "OS::Glance::Image", "prefix": "hw_"}}})
	enum := []any{"xen", "qemu", "kvm"}

	pr := c.must(201, "POST", ns+"/properties", c.admin, map[string]any{"name": "hypervisor_type",
		"title": "Hypervisor", "type": "string", "enum": enum, "default": "kvm"})
	if pr["name"] != "hypervisor_type" || pr["default"] != "kvm" || len(pr["enum"].([]any)) != 3 {
		t.Fatalf("create = %v", pr)
	}
	c.must(409, "POST", ns+"/properties", c.admin, map[string]any{"name": "hypervisor_type", "title": "x", "type": "string"})
	for _, bad := range []map[string]any{
		{"title": "no name", "type": "string"},
		{"name": "p", "type": "string"},
		{"name": "p", "title": "t", "type": "float"},
		{"name": "p", "title": "t", "type": "string", "colour": "red"},
		{"name": "p", "title": "t", "type": "integer", "minimum": "one"},
	} {
		c.must(400, "POST", ns+"/properties", c.admin, bad)
	}
	got := c.must(200, "GET", ns+"/properties/hypervisor_type", c.admin, nil)
	if got["title"] != "Hypervisor" {
		t.Fatalf("get = %v", got)
	}
	c.must(200, "GET", ns+"/properties/hw_hypervisor_type?resource_type=OS::Glance::Image", c.admin, nil)
	c.must(404, "GET", ns+"/properties/hypervisor_type", c.alice, nil) // the admin project's private namespace
	list := c.must(200, "GET", ns+"/properties", c.admin, nil)
	if _, ok := list["properties"].(map[string]any)["hypervisor_type"]; !ok {
		t.Fatalf("list = %v", list)
	}
	up := c.must(200, "PUT", ns+"/properties/hypervisor_type", c.admin, map[string]any{"name": "hypervisor_type",
		"title": "Hypervisor Type", "type": "string", "enum": enum})
	if up["title"] != "Hypervisor Type" || up["default"] != nil {
		t.Fatalf("update = %v", up)
	}
	c.must(204, "DELETE", ns+"/properties/hypervisor_type", c.admin, nil)
	c.must(404, "GET", ns+"/properties/hypervisor_type", c.admin, nil)
}

func TestMetadefTags(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	const ns = "/v2/metadefs/namespaces/OS::Test::Tags"
	c.must(201, "POST", "/v2/metadefs/namespaces", c.admin, map[string]any{"namespace": "OS::Test::Tags", "visibility": "public"})
	tags := func(token string) []string {
		t.Helper()
		return metadefNames(c.must(200, "GET", ns+"/tags", token, nil)["tags"], "name")
	}
	many := func(appending bool, names ...string) (int, map[string]any) {
		var list []any
		for _, n := range names {
			list = append(list, map[string]any{"name": n})
		}
		req, _ := http.NewRequest("POST", c.srv.URL+ns+"/tags", jsonBody(map[string]any{"tags": list}))
		req.Header.Set("X-Auth-Token", c.admin)
		req.Header.Set("Content-Type", "application/json")
		if appending {
			req.Header.Set("X-Openstack-Append", "True")
		}
		return doJSON(t, req)
	}

	if code, body := many(false, "a", "b", "c"); code != 201 || len(body["tags"].([]any)) != 3 {
		t.Fatalf("create tags = %d %v", code, body)
	}
	if code, _ := many(false, "x", "x"); code != 409 {
		t.Fatalf("duplicate in request = %d, want 409", code)
	}
	if code, _ := many(false, "d"); code != 201 || !slices.Equal(tags(c.bob), []string{"d"}) {
		t.Fatalf("replace = %d, tags %v", code, tags(c.bob))
	}
	if code, _ := many(true, "e"); code != 201 || !slices.Equal(tags(c.bob), []string{"d", "e"}) {
		t.Fatalf("append = %d, tags %v", code, tags(c.bob))
	}
	if code, _ := many(true, "e"); code != 409 {
		t.Fatalf("append existing = %d, want 409", code)
	}

	tag := c.must(201, "POST", ns+"/tags/single", c.admin, nil)
	if tag["name"] != "single" || tag["created_at"] == nil {
		t.Fatalf("create tag = %v", tag)
	}
	c.must(409, "POST", ns+"/tags/single", c.admin, nil)
	c.must(403, "POST", ns+"/tags/alice", c.alice, nil)
	c.must(200, "GET", ns+"/tags/single", c.alice, nil)
	up := c.must(200, "PUT", ns+"/tags/single", c.admin, map[string]any{"name": "renamed"})
	if up["name"] != "renamed" {
		t.Fatalf("update tag = %v", up)
	}
	c.must(409, "PUT", ns+"/tags/renamed", c.admin, map[string]any{"name": "d"})
	c.must(404, "GET", ns+"/tags/single", c.admin, nil)
	c.must(204, "DELETE", ns+"/tags/renamed", c.admin, nil)
	c.must(404, "DELETE", ns+"/tags/renamed", c.admin, nil)
	c.must(204, "DELETE", ns+"/tags", c.admin, nil)
	if got := tags(c.admin); len(got) != 0 {
		t.Fatalf("after delete all: %v", got)
	}

	// A protected namespace keeps its tags.
	c.must(200, "PUT", ns, c.admin, map[string]any{"namespace": "OS::Test::Tags", "visibility": "public", "protected": true})
	c.must(201, "POST", ns+"/tags/kept", c.admin, nil)
	c.must(403, "DELETE", ns+"/tags/kept", c.admin, nil)
	c.must(403, "DELETE", ns+"/tags", c.admin, nil)
}

func TestMetadefResourceTypes(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	const ns = "/v2/metadefs/namespaces/OS::Test::RT"
	list := c.must(200, "GET", "/v2/metadefs/resource_types", c.alice, nil)
	names := metadefNames(list["resource_types"], "name")
	if len(names) < 5 || names[0] != "OS::Glance::Image" || !slices.Contains(names, "OS::Nova::Flavor") {
		t.Fatalf("resource types = %v", names)
	}
	c.must(201, "POST", "/v2/metadefs/namespaces", c.admin, map[string]any{"namespace": "OS::Test::RT", "visibility": "public"})

	as := c.must(201, "POST", ns+"/resource_types", c.admin, map[string]any{"name": "OS::Nova::Flavor", "prefix": "hw:"})
	if as["name"] != "OS::Nova::Flavor" || as["prefix"] != "hw:" || as["created_at"] == nil {
		t.Fatalf("associate = %v", as)
	}
	c.must(409, "POST", ns+"/resource_types", c.admin, map[string]any{"name": "OS::Nova::Flavor"})
	c.must(400, "POST", ns+"/resource_types", c.admin, map[string]any{"prefix": "x"})
	c.must(403, "POST", ns+"/resource_types", c.bob, map[string]any{"name": "OS::Glance::Image"})
	// An unknown resource type is created, as Glance does.
	c.must(201, "POST", ns+"/resource_types", c.admin, map[string]any{"name": "OS::Test::Thing"})
	list = c.must(200, "GET", "/v2/metadefs/resource_types", c.admin, nil)
	if !slices.Contains(metadefNames(list["resource_types"], "name"), "OS::Test::Thing") {
		t.Fatalf("resource types = %v", list)
	}
	got := c.must(200, "GET", ns+"/resource_types", c.bob, nil)
	if n := metadefNames(got["resource_type_associations"], "name"); !slices.Equal(n, []string{"OS::Nova::Flavor", "OS::Test::Thing"}) {
		t.Fatalf("associations = %v", got)
	}
	c.must(403, "DELETE", ns+"/resource_types/OS::Nova::Flavor", c.bob, nil)
	c.must(204, "DELETE", ns+"/resource_types/OS::Nova::Flavor", c.admin, nil)
	c.must(404, "DELETE", ns+"/resource_types/OS::Nova::Flavor", c.admin, nil)
	got = c.must(200, "GET", ns+"/resource_types", c.admin, nil)
	if n := metadefNames(got["resource_type_associations"], "name"); !slices.Equal(n, []string{"OS::Test::Thing"}) {
		t.Fatalf("associations after delete = %v", got)
	}
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}
