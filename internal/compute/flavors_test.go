package compute

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestFlavorCreateAndShowPerMicroversion(t *testing.T) {
	a := newAPI(t)
	r := a.call("POST", "/v2.1/flavors", flavorBody("small", 2048, 2, 20, map[string]any{"id": 1001})).must(t, 200)
	if r.str("flavor.id") != "1001" || r.num("flavor.ram") != 2048 || r.num("flavor.vcpus") != 2 || r.num("flavor.disk") != 20 {
		t.Fatalf("create: %s", r.raw)
	}
	for _, tc := range []struct {
		version  string
		swap     any
		desc     bool
		specs    bool
		disabled bool
	}{
		{"2.1", "", false, false, true},
		{"2.54", "", false, false, true},
		{"2.55", "", true, false, true},
		{"2.61", "", true, true, true},
		{"2.75", 0.0, true, true, true},
		{"latest", 0.0, true, true, true},
	} {
		s := a.call("GET", "/v2.1/flavors/1001", nil, tc.version).must(t, 200)
		if s.path("flavor.swap") != tc.swap {
			t.Errorf("%s: swap %#v, want %#v", tc.version, s.path("flavor.swap"), tc.swap)
		}
		if s.has("flavor.description") != tc.desc || (tc.desc && s.path("flavor.description") != nil) {
			t.Errorf("%s: description %#v", tc.version, s.path("flavor.description"))
		}
		if s.has("flavor.extra_specs") != tc.specs {
			t.Errorf("%s: extra_specs present=%v", tc.version, s.has("flavor.extra_specs"))
		}
		if s.path("flavor.OS-FLV-EXT-DATA:ephemeral") != 0.0 || s.path("flavor.os-flavor-access:is_public") != true ||
			s.path("flavor.OS-FLV-DISABLED:disabled") != false || s.path("flavor.rxtx_factor") != 1.0 {
			t.Errorf("%s: %s", tc.version, s.raw)
		}
		if got := s.str("flavor.links.0.href"); got != a.srv.URL+"/v2.1/flavors/1001" {
			t.Errorf("self link %q", got)
		}
		if got := s.str("flavor.links.1.href"); got != a.srv.URL+"/flavors/1001" {
			t.Errorf("bookmark link %q", got)
		}
	}
}

func TestFlavorCreateIDs(t *testing.T) {
	a := newAPI(t)
	// No id (or null) is a new UUID.
	for i, extra := range []map[string]any{nil, {"id": nil}} {
		r := a.call("POST", "/v2.1/flavors", flavorBody("auto"+string(rune('a'+i)), 64, 1, 1, extra)).must(t, 200)
		if _, err := uuid.Parse(r.str("flavor.id")); err != nil {
			t.Errorf("generated id %q: %v", r.str("flavor.id"), err)
		}
	}
	id := uuid.NewString()
	if got := a.call("POST", "/v2.1/flavors", flavorBody("u", 64, 1, 1, map[string]any{"id": id})).must(t, 200).str("flavor.id"); got != id {
		t.Errorf("id %q, want %q", got, id)
	}
	// Numbers become the text Python's str() gives them.
	if got := a.call("POST", "/v2.1/flavors", flavorBody("float", 64, 1, 1, map[string]any{"id": 1.5})).must(t, 200).str("flavor.id"); got != "1.5" {
		t.Errorf("float id %q", got)
	}
	// Strings are fine for numbers.
	r := a.call("POST", "/v2.1/flavors", map[string]any{"flavor": map[string]any{
		"name": "strs", "ram": "1024", "vcpus": "2", "disk": "10", "swap": "512", "OS-FLV-EXT-DATA:ephemeral": "5",
		"rxtx_factor": "2.5", "os-flavor-access:is_public": "False"}}).must(t, 200)
	if r.num("flavor.ram") != 1024 || r.num("flavor.swap") != 512 || r.num("flavor.rxtx_factor") != 2.5 ||
		r.path("flavor.os-flavor-access:is_public") != false || r.num("flavor.OS-FLV-EXT-DATA:ephemeral") != 5 {
		t.Errorf("string values: %s", r.raw)
	}
}

func TestFlavorCreateRefusals(t *testing.T) {
	a := newAPI(t)
	a.call("POST", "/v2.1/flavors", flavorBody("taken", 64, 1, 1, map[string]any{"id": "t1"})).must(t, 200)
	a.call("POST", "/v2.1/flavors", flavorBody("taken", 64, 1, 1, map[string]any{"id": "t2"})).fault(t, 409, "conflictingRequest",
		"Flavor with name taken already exists.")
	a.call("POST", "/v2.1/flavors", flavorBody("other", 64, 1, 1, map[string]any{"id": "t1"})).fault(t, 409, "conflictingRequest",
		"Flavor with ID t1 already exists.")
	a.call("POST", "/v2.1/flavors", flavorBody("mine", 64, 1, 1, nil), "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.")
	for name, body := range map[string]any{
		"zero ram":         flavorBody("x", 0, 1, 1, nil),
		"zero vcpus":       flavorBody("x", 64, 0, 1, nil),
		"negative disk":    flavorBody("x", 64, 1, -1, nil),
		"huge ram":         flavorBody("x", 1<<31, 1, 1, nil),
		"float ram":        flavorBody("x", 64, 1, 1, map[string]any{"ram": 1.5}),
		"ram text":         flavorBody("x", 64, 1, 1, map[string]any{"ram": "lots"}),
		"leading space":    flavorBody(" x", 64, 1, 1, nil),
		"empty name":       flavorBody("", 64, 1, 1, nil),
		"long name":        flavorBody(strings.Repeat("n", 256), 64, 1, 1, nil),
		"control char":     flavorBody("a\tb", 64, 1, 1, nil),
		"bad id":           flavorBody("x", 64, 1, 1, map[string]any{"id": "a/b"}),
		"id space end":     flavorBody("x", 64, 1, 1, map[string]any{"id": "ab "}),
		"empty id":         flavorBody("x", 64, 1, 1, map[string]any{"id": ""}),
		"rxtx zero":        flavorBody("x", 64, 1, 1, map[string]any{"rxtx_factor": 0}),
		"is_public maybe":  flavorBody("x", 64, 1, 1, map[string]any{"os-flavor-access:is_public": "maybe"}),
		"unknown field":    flavorBody("x", 64, 1, 1, map[string]any{"color": "red"}),
		"description<2.55": flavorBody("x", 64, 1, 1, map[string]any{"description": "d"}),
		"missing disk":     map[string]any{"flavor": map[string]any{"name": "x", "ram": 64, "vcpus": 1}},
		"no flavor":        map[string]any{"flavour": map[string]any{}},
		"not an object":    `[]`,
		"bad json":         `{"flavor": `,
	} {
		r := a.call("POST", "/v2.1/flavors", body)
		if r.code != 400 || !r.has("badRequest.message") {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
		}
	}
	a.call("POST", "/v2.1/flavors", flavorBody("x", 64, 1, 1, nil), "ct=text/plain").fault(t, 415, "badMediaType", "Unsupported Content-Type")
	r := a.call("POST", "/v2.1/flavors", flavorBody("x", 64, 1, 1, map[string]any{"ram": 0}))
	r.fault(t, 400, "badRequest", "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1")
	a.call("POST", "/v2.1/flavors", flavorBody(" x", 64, 1, 1, nil)).fault(t, 400, "badRequest",
		"An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.")
}

func TestFlavorDescriptionUpdateAndDelete(t *testing.T) {
	a := newAPI(t)
	r := a.call("POST", "/v2.1/flavors", flavorBody("d", 64, 1, 1, map[string]any{"id": "d1", "description": "first"}), "2.55").must(t, 200)
	if r.str("flavor.description") != "first" {
		t.Fatalf("description %s", r.raw)
	}
	// PUT does not exist before 2.55.
	a.call("PUT", "/v2.1/flavors/d1", map[string]any{"flavor": map[string]any{"description": "x"}}, "2.54").fault(t, 404, "itemNotFound", "")
	u := a.call("PUT", "/v2.1/flavors/d1", map[string]any{"flavor": map[string]any{"description": "second"}}, "2.55").must(t, 200)
	if u.str("flavor.description") != "second" || u.has("flavor.extra_specs") {
		t.Errorf("update: %s", u.raw)
	}
	u = a.call("PUT", "/v2.1/flavors/d1", map[string]any{"flavor": map[string]any{"description": nil}}, "2.61").must(t, 200)
	if u.path("flavor.description") != nil || !u.has("flavor.extra_specs") {
		t.Errorf("clear: %s", u.raw)
	}
	a.call("PUT", "/v2.1/flavors/d1", map[string]any{"flavor": map[string]any{"name": "n"}}, "2.55").must(t, 400)
	a.call("PUT", "/v2.1/flavors/d1", map[string]any{"flavor": map[string]any{"description": "x"}}, "2.55", "token=member").must(t, 403)
	a.call("PUT", "/v2.1/flavors/nope", map[string]any{"flavor": map[string]any{"description": "x"}}, "2.55").must(t, 404)
	// Brief lists show it from 2.55 too.
	l := a.call("GET", "/v2.1/flavors", nil, "2.55").must(t, 200)
	if !l.has("flavors.0.description") || l.has("flavors.0.ram") {
		t.Errorf("brief list: %s", l.raw)
	}

	a.call("DELETE", "/v2.1/flavors/d1", nil, "token=member").must(t, 403)
	d := a.call("DELETE", "/v2.1/flavors/d1", nil).must(t, 202)
	if d.raw != "" {
		t.Errorf("delete body %q", d.raw)
	}
	a.call("GET", "/v2.1/flavors/d1", nil).fault(t, 404, "itemNotFound", "Flavor d1 could not be found.")
	a.call("DELETE", "/v2.1/flavors/d1", nil).fault(t, 404, "itemNotFound", "Flavor d1 could not be found.")
}

// seedFlavors makes public p1..p3 (ram 512, 1024, 2048; disk 5, 10, 20)
// and private x1 shared with the demo project and x2 shared with none.
func seedFlavors(a *api) {
	for i, f := range []struct {
		id, name  string
		ram, disk int
		public    bool
	}{{"p1", "pub-a", 512, 5, true}, {"p2", "pub-b", 1024, 10, true}, {"p3", "pub-c", 2048, 20, true},
		{"x1", "priv-a", 4096, 40, false}, {"x2", "priv-b", 8192, 80, false}} {
		_ = i
		a.call("POST", "/v2.1/flavors", flavorBody(f.name, f.ram, 1, f.disk, map[string]any{"id": f.id,
			"os-flavor-access:is_public": f.public})).must(a.t, 200)
	}
	a.call("POST", "/v2.1/flavors/x1/action", map[string]any{"addTenantAccess": map[string]any{"tenant": demoProject}}).must(a.t, 200)
}

func listIDs(a *api, query string, opts ...string) []string {
	a.t.Helper()
	r := a.call("GET", "/v2.1/flavors"+query, nil, opts...).must(a.t, 200)
	return names(r.list("flavors"), "id")
}

func TestFlavorListVisibility(t *testing.T) {
	a := newAPI(t)
	seedFlavors(a)
	for _, tc := range []struct {
		who, query string
		want       []string
	}{
		{"member", "", []string{"p1", "p2", "p3", "x1"}},
		{"member", "?is_public=false", []string{"p1", "p2", "p3", "x1"}}, // ignored for non-admins
		{"alt", "", []string{"p1", "p2", "p3"}},
		{"admin", "", []string{"p1", "p2", "p3"}},
		{"admin", "?is_public=true", []string{"p1", "p2", "p3"}},
		{"admin", "?is_public=f", []string{"x1", "x2"}},
		{"admin", "?is_public=no", []string{"x1", "x2"}},
		{"admin", "?is_public=None", []string{"p1", "p2", "p3", "x1", "x2"}},
		{"admin", "?is_public=none&minRam=1024", []string{"p2", "p3", "x1", "x2"}},
		{"member", "?minDisk=20", []string{"p3", "x1"}},
		{"member", "?sort_key=memory_mb&sort_dir=desc", []string{"x1", "p3", "p2", "p1"}},
		{"member", "?sort_key=name", []string{"x1", "p1", "p2", "p3"}},
	} {
		if got := listIDs(a, tc.query, "token="+tc.who); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s: %v, want %v", tc.who, tc.query, got, tc.want)
		}
	}
	// Showing follows the same rule.
	a.call("GET", "/v2.1/flavors/x1", nil, "token=member").must(t, 200)
	a.call("GET", "/v2.1/flavors/x2", nil, "token=member").fault(t, 404, "itemNotFound", "Flavor x2 could not be found.")
	a.call("GET", "/v2.1/flavors/x2", nil, "token=admin").must(t, 200)

	a.call("GET", "/v2.1/flavors?is_public=maybe", nil).fault(t, 400, "badRequest", "Invalid is_public filter [maybe]")
	a.call("GET", "/v2.1/flavors?minRam=lots", nil).fault(t, 400, "badRequest", "Invalid minRam filter [lots]")
	a.call("GET", "/v2.1/flavors?minDisk=1.5", nil).fault(t, 400, "badRequest", "Invalid minDisk filter [1.5]")
	a.call("GET", "/v2.1/flavors?sort_key=color", nil).must(t, 400)
	a.call("GET", "/v2.1/flavors?sort_dir=up", nil).must(t, 400)
	// Unknown parameters are ignored until 2.75, refused from it.
	a.call("GET", "/v2.1/flavors?color=red", nil, "2.74").must(t, 200)
	a.call("GET", "/v2.1/flavors?color=red", nil, "2.75").must(t, 400)
}

func TestFlavorListPaging(t *testing.T) {
	a := newAPI(t)
	seedFlavors(a)
	r := a.call("GET", "/v2.1/flavors/detail?limit=2&is_public=none", nil).must(t, 200)
	if got := names(r.list("flavors"), "id"); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("page 1 %v", got)
	}
	next := r.str("flavors_links.0.href")
	if r.str("flavors_links.0.rel") != "next" || !strings.HasPrefix(next, a.srv.URL+"/v2.1/flavors/detail?") {
		t.Fatalf("next link %q", next)
	}
	u, _ := url.Parse(next)
	if u.Query().Get("marker") != "p2" || u.Query().Get("limit") != "2" || u.Query().Get("is_public") != "none" {
		t.Errorf("next link query %v", u.Query())
	}
	var all []string
	for path := "/v2.1/flavors/detail?limit=2&is_public=none"; path != ""; {
		p := a.call("GET", path, nil).must(t, 200)
		all = append(all, names(p.list("flavors"), "id")...)
		path = strings.TrimPrefix(p.str("flavors_links.0.href"), a.srv.URL)
		if len(all) > 10 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(all, []string{"p1", "p2", "p3", "x1", "x2"}) {
		t.Errorf("all pages %v", all)
	}
	// Descending pages go backwards from the marker.
	if got := listIDs(a, "?sort_key=flavorid&sort_dir=desc&marker=p3&is_public=none"); !slices.Equal(got, []string{"p2", "p1"}) {
		t.Errorf("desc after p3: %v", got)
	}
	if got := listIDs(a, "?limit=0"); len(got) != 0 {
		t.Errorf("limit=0: %v", got)
	}
	a.call("GET", "/v2.1/flavors?marker=nope", nil).fault(t, 400, "badRequest", "marker [nope] not found")
	// A private flavor the caller cannot see is no marker for them.
	a.call("GET", "/v2.1/flavors?marker=x2", nil, "token=member").must(t, 400)
	a.call("GET", "/v2.1/flavors?limit=-1", nil).must(t, 400)
	// No next link when the page is not full.
	if r := a.call("GET", "/v2.1/flavors?limit=10", nil).must(t, 200); r.has("flavors_links") {
		t.Errorf("unexpected next link: %s", r.raw)
	}
}

func TestFlavorPagingCappedByMaxLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxLimit = 2
	a := newAPIWith(t, cfg)
	seedFlavors(a)
	r := a.call("GET", "/v2.1/flavors?limit=100", nil).must(t, 200)
	if len(r.list("flavors")) != 2 || !r.has("flavors_links") {
		t.Fatalf("max_limit not applied: %s", r.raw)
	}
	if r := a.call("GET", "/v2.1/flavors", nil).must(t, 200); len(r.list("flavors")) != 2 || !r.has("flavors_links") {
		t.Fatalf("max_limit page without limit: %s", r.raw)
	}
}

func TestExtraSpecs(t *testing.T) {
	a := newAPI(t)
	a.call("POST", "/v2.1/flavors", flavorBody("es", 64, 1, 1, map[string]any{"id": "es"})).must(t, 200)
	base := "/v2.1/flavors/es/os-extra_specs"
	r := a.call("POST", base, map[string]any{"extra_specs": map[string]any{"hw:numa_nodes": 1, "hw:cpu_policy": "shared"}}).must(t, 200)
	if r.path("extra_specs.hw:numa_nodes") != 1.0 {
		t.Errorf("create echoes the request as given: %s", r.raw)
	}
	l := a.call("GET", base, nil, "token=reader").must(t, 200)
	if l.str("extra_specs.hw:numa_nodes") != "1" || l.str("extra_specs.hw:cpu_policy") != "shared" {
		t.Errorf("list (values are text once stored): %s", l.raw)
	}
	s := a.call("GET", base+"/hw:cpu_policy", nil, "token=member").must(t, 200)
	if len(s.body) != 1 || s.str("hw:cpu_policy") != "shared" {
		t.Errorf("show: %s", s.raw)
	}
	a.call("GET", base+"/hw:cpu_thread_policy", nil).fault(t, 404, "itemNotFound",
		"Flavor es has no extra specs with key hw:cpu_thread_policy.")
	a.call("PUT", base+"/hw:numa_nodes", map[string]any{"hw:numa_nodes": "2"}).must(t, 200)
	a.call("PUT", base+"/hw:numa_nodes", map[string]any{"hw:cpu_policy": "shared"}).fault(t, 400, "badRequest", "Request body and URI mismatch")
	a.call("PUT", base+"/hw:numa_nodes", map[string]any{"hw:numa_nodes": "1", "hw:cpu_policy": "shared"}).must(t, 400)
	a.call("POST", base, map[string]any{"extra_specs": map[string]any{"bad/key": "v"}}).must(t, 400)
	a.call("POST", base, map[string]any{"extra_specs": map[string]any{"k": strings.Repeat("v", 256)}}).must(t, 400)
	a.call("POST", base, map[string]any{"extra_specs": map[string]any{"k": true}}).must(t, 400)
	for _, who := range []string{"member", "reader"} {
		a.call("POST", base, map[string]any{"extra_specs": map[string]any{"k": "v"}}, "token="+who).fault(t, 403, "forbidden",
			"Policy doesn't allow os_compute_api:os-flavor-extra-specs:create to be performed.")
		a.call("PUT", base+"/hw:numa_nodes", map[string]any{"hw:numa_nodes": "1"}, "token="+who).must(t, 403)
		a.call("DELETE", base+"/hw:numa_nodes", nil, "token="+who).must(t, 403)
	}
	// The flavor shows them from 2.61, to whoever may list them.
	f := a.call("GET", "/v2.1/flavors/es", nil, "2.61", "token=reader").must(t, 200)
	if f.str("flavor.extra_specs.hw:numa_nodes") != "2" {
		t.Errorf("flavor at 2.61: %s", f.raw)
	}
	d := a.call("GET", "/v2.1/flavors/detail", nil, "2.61").must(t, 200)
	if d.str("flavors.0.extra_specs.hw:cpu_policy") != "shared" {
		t.Errorf("detail at 2.61: %s", d.raw)
	}
	a.call("DELETE", base+"/hw:numa_nodes", nil).must(t, 200)
	a.call("DELETE", base+"/hw:numa_nodes", nil).must(t, 404)
	a.call("GET", "/v2.1/flavors/nope/os-extra_specs", nil).must(t, 404)

	// From 2.86 the values of known keys are checked.
	bad := map[string]any{"extra_specs": map[string]any{"hw:cpu_policy": "bogus"}}
	a.call("POST", base, bad, "2.85").must(t, 200)
	a.call("POST", base, bad, "2.86").fault(t, 400, "badRequest",
		"Validation failed; 'bogus' is not one of: dedicated, shared, mixed.")
	for k, v := range map[string]string{"hw:numa_nodes": "0", "hw_rng:allowed": "perhaps", "hw:mem_page_size": "huge",
		"trait:HW_CPU_X86_AVX": "wanted", "resources:VCPU": "two"} {
		a.call("POST", base, map[string]any{"extra_specs": map[string]any{k: v}}, "2.86").must(t, 400)
	}
	for k, v := range map[string]string{"hw:numa_nodes": "2", "hw_rng:allowed": "True", "hw:mem_page_size": "2MB",
		"trait:HW_CPU_X86_AVX": "required", "resources1:VCPU": "2", "custom:anything": "goes"} {
		a.call("POST", base, map[string]any{"extra_specs": map[string]any{k: v}}, "2.86").must(t, 200)
	}
}

func TestFlavorAccess(t *testing.T) {
	a := newAPI(t)
	a.call("POST", "/v2.1/flavors", flavorBody("pub", 64, 1, 1, map[string]any{"id": "pub"})).must(t, 200)
	a.call("POST", "/v2.1/flavors", flavorBody("priv", 64, 1, 1, map[string]any{"id": "priv",
		"os-flavor-access:is_public": false})).must(t, 200)
	add := func(flavor, tenant string, opts ...string) *resp {
		return a.call("POST", "/v2.1/flavors/"+flavor+"/action", map[string]any{"addTenantAccess": map[string]any{"tenant": tenant}}, opts...)
	}
	remove := func(flavor, tenant string, opts ...string) *resp {
		return a.call("POST", "/v2.1/flavors/"+flavor+"/action", map[string]any{"removeTenantAccess": map[string]any{"tenant": tenant}}, opts...)
	}
	a.call("GET", "/v2.1/flavors/pub/os-flavor-access", nil).fault(t, 404, "itemNotFound", "Access list not available for public flavors.")
	if l := a.call("GET", "/v2.1/flavors/priv/os-flavor-access", nil).must(t, 200); len(l.list("flavor_access")) != 0 {
		t.Errorf("new private flavor has access: %s", l.raw)
	}
	a.call("GET", "/v2.1/flavors/priv", nil, "token=member").must(t, 404)
	r := add("priv", demoProject).must(t, 200)
	if r.str("flavor_access.0.flavor_id") != "priv" || r.str("flavor_access.0.tenant_id") != demoProject {
		t.Errorf("add: %s", r.raw)
	}
	a.call("GET", "/v2.1/flavors/priv", nil, "token=member").must(t, 200)
	a.call("GET", "/v2.1/flavors/priv", nil, "token=alt").must(t, 404)
	add("priv", demoProject).fault(t, 409, "conflictingRequest",
		"Flavor access already exists for flavor priv and project "+demoProject+" combination.")
	add("priv", "not-a-project").fault(t, 400, "badRequest", "Project ID not-a-project is not a valid project.")
	add("priv", altProject, "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-flavor-access:add_tenant_access to be performed.")
	a.call("GET", "/v2.1/flavors/priv/os-flavor-access", nil, "token=member").must(t, 403)
	// 2.7 refuses access lists on public flavors; before, they were kept.
	add("pub", demoProject, "2.7").fault(t, 409, "conflictingRequest", "Can not add access to a public flavor.")
	add("pub", demoProject, "2.6").must(t, 200)

	remove("priv", demoProject, "token=member").must(t, 403)
	if r := remove("priv", demoProject).must(t, 200); len(r.list("flavor_access")) != 0 {
		t.Errorf("remove: %s", r.raw)
	}
	remove("priv", demoProject).fault(t, 404, "itemNotFound", "Flavor access not found for priv / "+demoProject+" combination.")
	a.call("GET", "/v2.1/flavors/priv", nil, "token=member").must(t, 404)

	a.call("POST", "/v2.1/flavors/priv/action", map[string]any{"fly": map[string]any{}}).fault(t, 400, "badRequest", "There is no such action: fly")
	a.call("POST", "/v2.1/flavors/priv/action", map[string]any{"a": 1, "b": 2}).fault(t, 400, "badRequest", "Malformed request body")
	a.call("POST", "/v2.1/flavors/priv/action", map[string]any{"addTenantAccess": map[string]any{}}).must(t, 400)
	add("nope", demoProject).must(t, 404)
}

func TestEnsureDefaultFlavors(t *testing.T) {
	a := newAPI(t)
	ctx := context.Background()
	if err := a.svc.EnsureDefaultFlavors(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.EnsureDefaultFlavors(ctx); err != nil {
		t.Fatal(err)
	}
	r := a.call("GET", "/v2.1/flavors/detail?sort_key=memory_mb", nil, "token=member").must(t, 200)
	want := []string{"m1.nano", "m1.micro", "m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"}
	if got := names(r.list("flavors"), "name"); !slices.Equal(got, want) {
		t.Fatalf("default flavors %v", got)
	}
	if got := names(r.list("flavors"), "id"); !slices.Equal(got, []string{"42", "84", "1", "2", "3", "4", "5"}) {
		t.Errorf("ids %v", got)
	}
	if r.num("flavors.0.ram") != 64 || r.num("flavors.0.disk") != 1 || r.num("flavors.0.vcpus") != 1 {
		t.Errorf("m1.nano %v", r.path("flavors.0"))
	}

	// A cloud with a flavor of its own gets none.
	b := newAPI(t)
	b.call("POST", "/v2.1/flavors", flavorBody("mine", 64, 1, 1, nil)).must(t, 200)
	if err := b.svc.EnsureDefaultFlavors(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b.call("GET", "/v2.1/flavors", nil).must(t, 200).list("flavors")); n != 1 {
		t.Errorf("%d flavors after EnsureDefaultFlavors on a cloud with one", n)
	}
}
