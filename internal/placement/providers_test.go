package placement

import (
	"testing"
)

const (
	rpA     = "f3d4a1b2-0000-4000-8000-00000000000a"
	rpB     = "f3d4a1b2-0000-4000-8000-00000000000b"
	rpC     = "f3d4a1b2-0000-4000-8000-00000000000c"
	agg1    = "a0000000-0000-4000-8000-000000000001"
	agg2    = "a0000000-0000-4000-8000-000000000002"
	agg3    = "a0000000-0000-4000-8000-000000000003"
	cons1   = "c0000000-0000-4000-8000-000000000001"
	cons2   = "c0000000-0000-4000-8000-000000000002"
	cons3   = "c0000000-0000-4000-8000-000000000003"
	nowhere = "00000000-0000-4000-8000-0000000000ff"
)

func TestResourceProviders(t *testing.T) {
	t.Parallel()
	testResourceProviders(t, newAPI(t))
}

func testResourceProviders(t *testing.T, a *api) {
	links := func(n int) func(t *testing.T, r *resp) {
		return func(t *testing.T, r *resp) {
			if got := len(r.path("links").([]any)); got != n {
				t.Errorf("%d links, want %d: %s", got, n, r.raw)
			}
		}
	}
	a.run(t, []step{
		{name: "empty list", method: "GET", path: "/resource_providers", status: 200, check: eq("resource_providers", []any{})},
		{name: "non admin forbidden", method: "GET", path: "/resource_providers", token: "reader", status: 403},
		{name: "old create is 201 and empty", method: "POST", path: "/resource_providers", ver: "1.19",
			body: map[string]any{"name": "a", "uuid": rpA}, status: 201, check: func(t *testing.T, r *resp) {
				if r.raw != "" || r.header.Get("Location") != "/resource_providers/"+rpA {
					t.Errorf("body %q location %q", r.raw, r.header.Get("Location"))
				}
			}},
		{name: "delete it", method: "DELETE", path: "/resource_providers/" + rpA, status: 204},
		{name: "1.20 create returns the provider", method: "POST", path: "/resource_providers", ver: "1.20",
			body: map[string]any{"name": "a", "uuid": rpA}, status: 200,
			check: eq("uuid", rpA, "name", "a", "generation", 0, "parent_provider_uuid", nil, "root_provider_uuid", rpA)},
		{name: "same uuid and name", method: "POST", path: "/resource_providers", ver: "1.23",
			body: map[string]any{"name": "a", "uuid": rpA}, status: 409,
			check: all(has("Conflicting resource provider uuid: "+rpA+", name: a already exists."), eq("errors.0.code", "placement.duplicate_name"))},
		{name: "same name", method: "POST", path: "/resource_providers", ver: "latest",
			body: map[string]any{"name": "a"}, status: 409, check: has("Conflicting resource provider name: a already exists")},
		{name: "1.0 shape", method: "GET", path: "/resource_providers/" + rpA, status: 200,
			check: all(links(3), func(t *testing.T, r *resp) {
				if _, ok := r.body["root_provider_uuid"]; ok {
					t.Errorf("1.0 shows root_provider_uuid")
				}
			})},
		{name: "1.6 links traits", method: "GET", path: "/resource_providers/" + rpA, ver: "1.6", status: 200, check: links(5)},
		{name: "1.11 links allocations", method: "GET", path: "/resource_providers/" + rpA, ver: "1.11", status: 200,
			check: all(links(6), eq("links.5.rel", "allocations", "links.5.href", "/resource_providers/"+rpA+"/allocations"))},
		{name: "missing", method: "GET", path: "/resource_providers/" + nowhere, status: 404},
		{name: "filter by name", method: "GET", path: "/resource_providers?name=a", status: 200, check: eq("resource_providers.0.uuid", rpA)},
		{name: "filter out by name", method: "GET", path: "/resource_providers?name=b", status: 200, check: eq("resource_providers", []any{})},
		{name: "filter by uuid", method: "GET", path: "/resource_providers?uuid=" + rpA, status: 200, check: eq("resource_providers.0.name", "a")},
		{name: "bad uuid filter", method: "GET", path: "/resource_providers?uuid=spameggs", status: 400, check: has("Invalid query string parameters")},
		{name: "unknown filter", method: "GET", path: "/resource_providers?cow=moo", status: 400,
			check: has("Invalid query string parameters", "'cow' was unexpected")},
		{name: "member_of before 1.3", method: "GET", path: "/resource_providers?member_of=" + agg1, ver: "1.2", status: 400},
		{name: "rename", method: "PUT", path: "/resource_providers/" + rpA, ver: "1.14", body: map[string]any{"name": "new name"},
			status: 200, check: eq("name", "new name", "generation", 0)},
		{name: "poor update", method: "PUT", path: "/resource_providers/" + rpA, body: map[string]any{"name": "x", "color": "blue"},
			status: 400, check: has("JSON does not validate", "Additional properties are not allowed")},
		{name: "no uuid in update", method: "PUT", path: "/resource_providers/" + rpA, body: map[string]any{"name": "x", "uuid": rpA}, status: 400},
		{name: "nesting before 1.14", method: "POST", path: "/resource_providers", ver: "1.13",
			body: map[string]any{"name": "child", "parent_provider_uuid": rpA}, status: 400},
		{name: "root is read only", method: "PUT", path: "/resource_providers/" + rpA, ver: "1.14",
			body: map[string]any{"name": "x", "root_provider_uuid": rpA}, status: 400},
		{name: "self parent", method: "POST", path: "/resource_providers", ver: "1.14",
			body: map[string]any{"name": "child", "uuid": rpB, "parent_provider_uuid": rpB}, status: 400,
			check: has("parent provider UUID cannot be same as UUID")},
		{name: "missing parent", method: "POST", path: "/resource_providers", ver: "1.14",
			body: map[string]any{"name": "child", "parent_provider_uuid": nowhere}, status: 400,
			check: has("parent provider UUID does not exist.")},
		{name: "child", method: "POST", path: "/resource_providers", ver: "1.20",
			body: map[string]any{"name": "child", "uuid": rpB, "parent_provider_uuid": rpA}, status: 200,
			check: eq("parent_provider_uuid", rpA, "root_provider_uuid", rpA)},
		{name: "grandchild", method: "POST", path: "/resource_providers", ver: "1.20",
			body: map[string]any{"name": "grandchild", "uuid": rpC, "parent_provider_uuid": rpB}, status: 200,
			check: eq("root_provider_uuid", rpA)},
		{name: "in_tree", method: "GET", path: "/resource_providers?in_tree=" + rpC, ver: "1.14", status: 200,
			check: func(t *testing.T, r *resp) {
				if n := len(r.path("resource_providers").([]any)); n != 3 {
					t.Errorf("%d providers in the tree", n)
				}
			}},
		{name: "in_tree of nothing", method: "GET", path: "/resource_providers?in_tree=" + nowhere, ver: "1.14", status: 200,
			check: eq("resource_providers", []any{})},
		{name: "no loops", method: "PUT", path: "/resource_providers/" + rpA, ver: "1.37",
			body: map[string]any{"name": "new name", "parent_provider_uuid": rpC}, status: 400, check: has("creating loop in the provider tree is not allowed.")},
		{name: "no un-parenting before 1.37", method: "PUT", path: "/resource_providers/" + rpB, ver: "1.36",
			body: map[string]any{"name": "child", "parent_provider_uuid": nil}, status: 400, check: has("un-parenting a provider is not currently allowed.")},
		{name: "un-parent moves the subtree", method: "PUT", path: "/resource_providers/" + rpB, ver: "1.37",
			body: map[string]any{"name": "child", "parent_provider_uuid": nil}, status: 200,
			check: eq("parent_provider_uuid", nil, "root_provider_uuid", rpB)},
		{name: "grandchild followed", method: "GET", path: "/resource_providers/" + rpC, ver: "1.14", status: 200,
			check: eq("root_provider_uuid", rpB)},
		{name: "parent a root provider (allowed since 1.14)", method: "PUT", path: "/resource_providers/" + rpB, ver: "1.14",
			body: map[string]any{"name": "child", "parent_provider_uuid": rpA}, status: 200, check: eq("root_provider_uuid", rpA)},
		{name: "no re-parenting before 1.37", method: "PUT", path: "/resource_providers/" + rpC, ver: "1.36",
			body: map[string]any{"name": "grandchild", "parent_provider_uuid": rpA}, status: 400,
			check: has("re-parenting a provider is not currently allowed.")},
		{name: "parent with children stays", method: "DELETE", path: "/resource_providers/" + rpA, ver: "1.23", status: 409,
			check: eq("errors.0.code", "placement.resource_provider.cannot_delete_parent")},
		{name: "rename onto an existing name", method: "PUT", path: "/resource_providers/" + rpC, ver: "1.23",
			body: map[string]any{"name": "child"}, status: 409, check: eq("errors.0.code", "placement.duplicate_name")},
		{name: "delete missing", method: "DELETE", path: "/resource_providers/" + nowhere, status: 404},
	})
}

func TestProviderListFilters(t *testing.T) {
	t.Parallel()
	testProviderListFilters(t, newAPI(t))
}

func testProviderListFilters(t *testing.T, a *api) {
	cn1 := a.provider("cn1", "", map[string]int64{"VCPU": 8, "DISK_GB": 100})
	cn2 := a.provider("cn2", "", map[string]int64{"VCPU": 2})
	cn3 := a.provider("cn3", "", nil)
	a.call("PUT", "/resource_providers/"+cn1+"/traits", map[string]any{"resource_provider_generation": 1,
		"traits": []string{"HW_CPU_X86_AVX", "STORAGE_DISK_SSD"}}, "latest").must(t, 200)
	a.call("PUT", "/resource_providers/"+cn2+"/traits", map[string]any{"resource_provider_generation": 1,
		"traits": []string{"HW_CPU_X86_AVX"}}, "latest").must(t, 200)
	a.call("PUT", "/resource_providers/"+cn1+"/aggregates", []string{agg1}, "1.1").must(t, 200)
	a.call("PUT", "/resource_providers/"+cn2+"/aggregates", []string{agg1, agg2}, "1.1").must(t, 200)
	a.call("PUT", "/resource_providers/"+cn3+"/aggregates", []string{agg3}, "1.1").must(t, 200)
	names := func(r *resp) []string {
		var out []string
		for _, p := range r.path("resource_providers").([]any) {
			out = append(out, p.(map[string]any)["name"].(string))
		}
		return out
	}
	cases := []struct {
		query, ver string
		status     int
		want       []string
		text       string
	}{
		{"resources=VCPU:4", "1.4", 200, []string{"cn1"}, ""},
		{"resources=VCPU:1", "1.4", 200, []string{"cn1", "cn2"}, ""},
		{"resources=VCPU:1,DISK_GB:10", "1.4", 200, []string{"cn1"}, ""},
		{"resources=VCPU:9", "1.4", 200, nil, ""},
		{"resources=VCPU:0", "1.4", 400, nil, "requires amount >= 1"},
		{"resources=VCPU", "1.4", 400, nil, "Badly formed resources parameter"},
		{"resources=CUSTOM_NOPE:1", "1.4", 400, nil, "Invalid resource class in resources parameter"},
		{"resources=VCPU:1", "1.3", 400, nil, "Invalid query string parameters"},
		{"member_of=" + agg1, "1.3", 200, []string{"cn1", "cn2"}, ""},
		{"member_of=in:" + agg2 + "," + agg3, "1.3", 200, []string{"cn2", "cn3"}, ""},
		{"member_of=" + agg1 + "," + agg2, "1.3", 400, nil, "must be prefixed with the 'in:'"},
		{"member_of=" + agg1 + "&member_of=" + agg2, "1.23", 400, nil, "Multiple member_of parameters are not supported"},
		{"member_of=" + agg1 + "&member_of=" + agg2, "1.24", 200, []string{"cn2"}, ""},
		{"member_of=!" + agg2, "1.31", 400, nil, "Forbidden member_of parameters are not supported"},
		{"member_of=!" + agg2, "1.32", 200, []string{"cn1", "cn3"}, ""},
		{"member_of=!in:" + agg2 + "," + agg3, "1.32", 200, []string{"cn1"}, ""},
		{"member_of=not-a-uuid", "1.3", 400, nil, "Expected 'member_of' parameter to contain valid UUID(s)"},
		{"required=HW_CPU_X86_AVX", "1.18", 200, []string{"cn1", "cn2"}, ""},
		{"required=HW_CPU_X86_AVX,STORAGE_DISK_SSD", "1.18", 200, []string{"cn1"}, ""},
		{"required=HW_CPU_X86_AVX", "1.17", 400, nil, "Invalid query string parameters"},
		{"required=!STORAGE_DISK_SSD", "1.21", 400, nil, "Invalid query string parameters"},
		{"required=!STORAGE_DISK_SSD", "1.22", 200, []string{"cn2", "cn3"}, ""},
		{"required=HW_CPU_X86_AVX,!STORAGE_DISK_SSD", "1.22", 200, []string{"cn2"}, ""},
		{"required=", "1.22", 400, nil, "Got an empty trait in"},
		{"required=HW_CPU_X86_AVX,,STORAGE_DISK_SSD", "1.22", 400, nil, "Got an empty trait in"},
		{"required=CUSTOM_NOPE", "1.22", 400, nil, "No such trait(s): CUSTOM_NOPE"},
		{"required=in:STORAGE_DISK_SSD,HW_CPU_X86_AVX", "1.38", 400, nil, "only supported since microversion 1.39"},
		{"required=in:STORAGE_DISK_SSD,HW_CPU_X86_SSE", "1.39", 200, []string{"cn1"}, ""},
		{"required=in:STORAGE_DISK_SSD,HW_CPU_X86_AVX&required=!STORAGE_DISK_SSD", "1.39", 200, []string{"cn2"}, ""},
		{"required=in:STORAGE_DISK_SSD,!HW_CPU_X86_AVX", "1.39", 400, nil, "does not support forbidden traits"},
		// Before 1.39 only the last of a repeated required counts.
		{"required=STORAGE_DISK_SSD&required=HW_CPU_X86_AVX", "1.38", 200, []string{"cn1", "cn2"}, ""},
		{"required=HW_CPU_X86_AVX&resources=VCPU:4", "1.18", 200, []string{"cn1"}, ""},
	}
	for _, c := range cases {
		r := a.call("GET", "/resource_providers?"+c.query, nil, c.ver)
		if r.code != c.status {
			t.Errorf("%s @%s: %d, want %d: %s", c.query, c.ver, r.code, c.status, r.raw)
			continue
		}
		if c.status == 200 {
			got := names(r)
			if len(got) != len(c.want) || (len(got) > 0 && !equalStrings(got, c.want)) {
				t.Errorf("%s @%s: %v, want %v", c.query, c.ver, got, c.want)
			}
		} else if !containsText(r.raw, c.text) {
			t.Errorf("%s @%s: %s lacks %q", c.query, c.ver, r.raw, c.text)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func containsText(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (func() bool {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
		return false
	})())
}
