package placement

import (
	"sort"
	"strconv"
	"strings"
	"testing"
)

// candidateSets renders the allocation requests (1.12+ shape) as sorted
// "name:CLASS=n+..." strings, with names for provider uuids.
func candidateSets(t *testing.T, r *resp, names map[string]string) []string {
	t.Helper()
	var out []string
	for _, ar := range r.path("allocation_requests").([]any) {
		var parts []string
		for rp, v := range ar.(map[string]any)["allocations"].(map[string]any) {
			for rc, n := range v.(map[string]any)["resources"].(map[string]any) {
				parts = append(parts, names[rp]+":"+rc+"="+jsonNum(n))
			}
		}
		sort.Strings(parts)
		out = append(out, strings.Join(parts, "+"))
	}
	sort.Strings(out)
	return out
}

func jsonNum(v any) string {
	f, _ := v.(float64)
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func TestAllocationCandidatesSharedStorage(t *testing.T) {
	t.Parallel()
	testAllocationCandidatesSharedStorage(t, newAPI(t))
}

func testAllocationCandidatesSharedStorage(t *testing.T, a *api) {
	cn1 := a.provider("cn1", "", map[string]int64{"VCPU": 8, "MEMORY_MB": 2048})
	cn2 := a.provider("cn2", "", map[string]int64{"VCPU": 8, "MEMORY_MB": 2048})
	ss := a.provider("ss", "", map[string]int64{"DISK_GB": 2000})
	for _, rp := range []string{cn1, cn2, ss} {
		a.call("PUT", "/resource_providers/"+rp+"/aggregates", []string{agg1}, "1.1").must(t, 200)
	}
	a.call("PUT", "/resource_providers/"+ss+"/traits", map[string]any{"resource_provider_generation": 1,
		"traits": []string{"MISC_SHARES_VIA_AGGREGATE", "STORAGE_DISK_SSD"}}, "latest").must(t, 200)
	a.call("PUT", "/resource_providers/"+cn1+"/traits", map[string]any{"resource_provider_generation": 1,
		"traits": []string{"HW_CPU_X86_AVX2"}}, "latest").must(t, 200)
	names := map[string]string{cn1: "cn1", cn2: "cn2", ss: "ss"}
	sets := func(want ...string) func(t *testing.T, r *resp) {
		return func(t *testing.T, r *resp) {
			t.Helper()
			got := candidateSets(t, r, names)
			sort.Strings(want)
			if strings.Join(got, " | ") != strings.Join(want, " | ") {
				t.Errorf("candidates\n got %v\nwant %v", got, want)
			}
		}
	}
	q := "/allocation_candidates?resources=VCPU:1,MEMORY_MB:1024,DISK_GB:100"
	a.run(t, []step{
		{name: "shared disk", method: "GET", path: q, ver: "1.12", status: 200,
			check: sets("cn1:MEMORY_MB=1024+cn1:VCPU=1+ss:DISK_GB=100", "cn2:MEMORY_MB=1024+cn2:VCPU=1+ss:DISK_GB=100")},
		{name: "1.10 list shape", method: "GET", path: q, ver: "1.10", status: 200, check: func(t *testing.T, r *resp) {
			list := r.path("allocation_requests.0.allocations").([]any)
			if len(list) != 2 || list[0].(map[string]any)["resource_provider"].(map[string]any)["uuid"] == nil {
				t.Errorf("1.10 shape: %s", r.raw)
			}
			if s := r.path("provider_summaries." + ss); s == nil || r.path("provider_summaries."+ss+".traits") != nil {
				t.Errorf("summaries: %s", r.raw)
			}
		}},
		{name: "summaries grow traits (1.17), all classes (1.27), tree (1.29)", method: "GET",
			path: "/allocation_candidates?resources=VCPU:1", ver: "1.29", status: 200,
			check: eq("provider_summaries."+cn1+".resources", map[string]any{"VCPU": map[string]any{"capacity": 8, "used": 0},
				"MEMORY_MB": map[string]any{"capacity": 2048, "used": 0}},
				"provider_summaries."+cn1+".traits", []any{"HW_CPU_X86_AVX2"},
				"provider_summaries."+cn1+".root_provider_uuid", cn1, "provider_summaries."+cn1+".parent_provider_uuid", nil)},
		{name: "only requested classes before 1.27", method: "GET", path: "/allocation_candidates?resources=VCPU:1", ver: "1.26", status: 200,
			check: eq("provider_summaries."+cn1+".resources", map[string]any{"VCPU": map[string]any{"capacity": 8, "used": 0}})},
		{name: "limit", method: "GET", path: q + "&limit=1", ver: "1.16", status: 200, check: func(t *testing.T, r *resp) {
			if n := len(r.path("allocation_requests").([]any)); n != 1 {
				t.Errorf("%d candidates", n)
			}
			if n := len(r.path("provider_summaries").(map[string]any)); n != 2 {
				t.Errorf("%d summaries after limit: %s", n, r.raw)
			}
		}},
		{name: "bad limit", method: "GET", path: q + "&limit=0", ver: "1.16", status: 400},
		{name: "limit before 1.16", method: "GET", path: q + "&limit=1", ver: "1.15", status: 400},
		{name: "required from the sharing provider", method: "GET", path: q + "&required=STORAGE_DISK_SSD,HW_CPU_X86_AVX2", ver: "1.17",
			status: 200, check: sets("cn1:MEMORY_MB=1024+cn1:VCPU=1+ss:DISK_GB=100")},
		{name: "forbidden", method: "GET", path: q + "&required=!HW_CPU_X86_AVX2", ver: "1.22", status: 200,
			check: sets("cn2:MEMORY_MB=1024+cn2:VCPU=1+ss:DISK_GB=100")},
		{name: "any-of (1.39)", method: "GET", path: q + "&required=in:HW_CPU_X86_AVX2,HW_CPU_X86_SSE", ver: "1.39", status: 200,
			check: sets("cn1:MEMORY_MB=1024+cn1:VCPU=1+ss:DISK_GB=100")},
		{name: "member_of another aggregate", method: "GET", path: q + "&member_of=" + agg2, ver: "1.21", status: 200, check: eq("allocation_requests", []any{})},
		{name: "forbidden aggregate", method: "GET", path: q + "&member_of=!" + agg1, ver: "1.32", status: 200, check: eq("allocation_requests", []any{})},
		{name: "in_tree of cn2", method: "GET", path: "/allocation_candidates?resources=VCPU:1&in_tree=" + cn2, ver: "1.31", status: 200,
			check: sets("cn2:VCPU=1")},
		{name: "too much", method: "GET", path: "/allocation_candidates?resources=VCPU:9", ver: "1.12", status: 200, check: eq("allocation_requests", []any{}, "provider_summaries", map[string]any{})},
		{name: "root_required", method: "GET", path: "/allocation_candidates?resources=VCPU:1&root_required=HW_CPU_X86_AVX2", ver: "1.35", status: 200,
			check: sets("cn1:VCPU=1")},
		{name: "root_required forbidden", method: "GET", path: "/allocation_candidates?resources=VCPU:1&root_required=!HW_CPU_X86_AVX2", ver: "1.35", status: 200,
			check: sets("cn2:VCPU=1")},
		{name: "root_required twice", method: "GET", path: "/allocation_candidates?resources=VCPU:1&root_required=A&root_required=B", ver: "1.35",
			status: 400, check: eq("errors.0.code", "placement.query.duplicate_key")},
		{name: "unknown class", method: "GET", path: "/allocation_candidates?resources=CUSTOM_NOPE:1", ver: "1.12", status: 400,
			check: has("Invalid resource class in resources parameter")},
		{name: "unknown trait", method: "GET", path: "/allocation_candidates?resources=VCPU:1&required=CUSTOM_NOPE", ver: "1.17", status: 400,
			check: has("No such trait(s): CUSTOM_NOPE")},
		{name: "resources required before 1.25", method: "GET", path: "/allocation_candidates", ver: "1.24", status: 400},
		{name: "at least one group", method: "GET", path: "/allocation_candidates", ver: "1.25", status: 400},
		{name: "bad param", method: "GET", path: "/allocation_candidates?resources=VCPU:1&cow=moo", ver: "1.25", status: 400},
	})
	// Capacity used counts: fill cn1 so only cn2 remains.
	a.call("PUT", "/allocations/"+cons1, allocBody(cn1, map[string]any{"VCPU": 8}, "project_id", "p", "user_id", "u"), "1.12").must(t, 204)
	r := a.call("GET", "/allocation_candidates?resources=VCPU:1", nil, "1.12").must(t, 200)
	sets("cn2:VCPU=1")(t, r)
}

// A compute node with two NUMA nodes, each with a NIC (physical
// function) offering virtual functions on a physnet.
func TestAllocationCandidatesNested(t *testing.T) {
	t.Parallel()
	testAllocationCandidatesNested(t, newAPI(t))
}

func testAllocationCandidatesNested(t *testing.T, a *api) {
	cn := a.provider("cn", "", map[string]int64{"DISK_GB": 100})
	numa0 := a.provider("numa0", cn, map[string]int64{"VCPU": 4, "MEMORY_MB": 2048})
	numa1 := a.provider("numa1", cn, map[string]int64{"VCPU": 4, "MEMORY_MB": 2048})
	pf0 := a.provider("pf0", numa0, map[string]int64{"SRIOV_NET_VF": 8})
	pf1 := a.provider("pf1", numa1, map[string]int64{"SRIOV_NET_VF": 8})
	a.call("PUT", "/traits/CUSTOM_PHYSNET_A", nil, "latest").must(t, 201)
	a.call("PUT", "/resource_providers/"+pf1+"/traits", map[string]any{"resource_provider_generation": 1,
		"traits": []string{"CUSTOM_PHYSNET_A"}}, "latest").must(t, 200)
	a.call("PUT", "/resource_providers/"+cn+"/traits", map[string]any{"resource_provider_generation": 1,
		"traits": []string{"COMPUTE_VOLUME_MULTI_ATTACH"}}, "latest").must(t, 200)
	names := map[string]string{cn: "cn", numa0: "numa0", numa1: "numa1", pf0: "pf0", pf1: "pf1"}
	sets := func(want ...string) func(t *testing.T, r *resp) {
		return func(t *testing.T, r *resp) {
			t.Helper()
			got := candidateSets(t, r, names)
			sort.Strings(want)
			if strings.Join(got, " | ") != strings.Join(want, " | ") {
				t.Errorf("candidates\n got %v\nwant %v", got, want)
			}
		}
	}
	a.run(t, []step{
		{name: "spread over the tree (1.29)", method: "GET", path: "/allocation_candidates?resources=VCPU:1,DISK_GB:10", ver: "1.29", status: 200,
			check: all(sets("cn:DISK_GB=10+numa0:VCPU=1", "cn:DISK_GB=10+numa1:VCPU=1"), func(t *testing.T, r *resp) {
				if n := len(r.path("provider_summaries").(map[string]any)); n != 5 {
					t.Errorf("%d summaries, want the whole tree", n)
				}
				eq("provider_summaries."+pf0+".parent_provider_uuid", numa0, "provider_summaries."+pf0+".root_provider_uuid", cn)(t, r)
			})},
		{name: "not before 1.29", method: "GET", path: "/allocation_candidates?resources=VCPU:1,DISK_GB:10", ver: "1.28", status: 200,
			check: eq("allocation_requests", []any{})},
		{name: "unnumbered traits come from the providers used", method: "GET",
			path: "/allocation_candidates?resources=VCPU:1,SRIOV_NET_VF:1&required=CUSTOM_PHYSNET_A", ver: "1.29", status: 200,
			check: sets("numa0:VCPU=1+pf1:SRIOV_NET_VF=1", "numa1:VCPU=1+pf1:SRIOV_NET_VF=1")},
		{name: "granular needs group_policy", method: "GET", path: "/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1", ver: "1.25", status: 400,
			check: has(`The "group_policy" parameter is required`)},
		{name: "isolate", method: "GET", path: "/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1&group_policy=isolate", ver: "1.29",
			status: 200, check: sets("numa0:VCPU=1+numa1:VCPU=1", "numa0:VCPU=1+numa1:VCPU=1")},
		{name: "none", method: "GET", path: "/allocation_candidates?resources1=VCPU:1&resources2=VCPU:1&group_policy=none", ver: "1.29",
			status: 200, check: sets("numa0:VCPU=2", "numa0:VCPU=1+numa1:VCPU=1", "numa0:VCPU=1+numa1:VCPU=1", "numa1:VCPU=2")},
		{name: "merged amounts respect capacity", method: "GET", path: "/allocation_candidates?resources1=VCPU:3&resources2=VCPU:3&group_policy=none", ver: "1.29",
			status: 200, check: sets("numa0:VCPU=3+numa1:VCPU=3", "numa0:VCPU=3+numa1:VCPU=3")},
		{name: "mappings (1.34)", method: "GET", path: "/allocation_candidates?resources_CPU=VCPU:1&required_CPU=!CUSTOM_PHYSNET_A&resources_NET=SRIOV_NET_VF:1&required_NET=CUSTOM_PHYSNET_A&group_policy=isolate",
			ver: "1.34", status: 200, check: all(sets("numa0:VCPU=1+pf1:SRIOV_NET_VF=1", "numa1:VCPU=1+pf1:SRIOV_NET_VF=1"), func(t *testing.T, r *resp) {
				for _, ar := range r.path("allocation_requests").([]any) {
					m := ar.(map[string]any)["mappings"].(map[string]any)
					if len(m["_NET"].([]any)) != 1 || m["_NET"].([]any)[0] != pf1 || len(m["_CPU"].([]any)) != 1 {
						t.Errorf("mappings %v", m)
					}
				}
			})},
		{name: "string suffixes not before 1.33", method: "GET", path: "/allocation_candidates?resources_CPU=VCPU:1", ver: "1.32", status: 400},
		{name: "same_subtree", method: "GET", path: "/allocation_candidates?resources_CPU=VCPU:1&resources_NET=SRIOV_NET_VF:1&group_policy=none&same_subtree=_CPU,_NET",
			ver: "1.36", status: 200, check: sets("numa0:VCPU=1+pf0:SRIOV_NET_VF=1", "numa1:VCPU=1+pf1:SRIOV_NET_VF=1")},
		{name: "resourceless group in same_subtree", method: "GET",
			path: "/allocation_candidates?resources_NET=SRIOV_NET_VF:1&required_NUMA=HW_NUMA_ROOT&group_policy=none&same_subtree=_NET,_NUMA",
			ver:  "1.36", status: 200, check: eq("allocation_requests", []any{})},
		{name: "resourceless group must be in same_subtree", method: "GET", path: "/allocation_candidates?resources=VCPU:1&required_X=HW_NUMA_ROOT",
			ver: "1.36", status: 400, check: eq("errors.0.code", "placement.query.bad_value")},
		{name: "orphan traits before 1.36", method: "GET", path: "/allocation_candidates?resources=VCPU:1&required1=HW_NUMA_ROOT",
			ver: "1.35", status: 400, check: has("orphaned traits keys: required1")},
		{name: "conflicting traits", method: "GET", path: "/allocation_candidates?resources=VCPU:1&required=CUSTOM_PHYSNET_A,!CUSTOM_PHYSNET_A",
			ver: "1.22", status: 400, check: has("Conflicting required and forbidden traits found in the following traits keys: required: (CUSTOM_PHYSNET_A)")},
		{name: "in_tree per group", method: "GET", path: "/allocation_candidates?resources=VCPU:1&in_tree=" + numa1, ver: "1.31", status: 200,
			check: sets("numa0:VCPU=1", "numa1:VCPU=1")},
		{name: "in_tree elsewhere", method: "GET", path: "/allocation_candidates?resources=VCPU:1&in_tree=" + nowhere, ver: "1.31", status: 200,
			check: eq("allocation_requests", []any{})},
		{name: "root_required sees the root only", method: "GET", path: "/allocation_candidates?resources=SRIOV_NET_VF:1&root_required=COMPUTE_VOLUME_MULTI_ATTACH",
			ver: "1.35", status: 200, check: sets("pf0:SRIOV_NET_VF=1", "pf1:SRIOV_NET_VF=1")},
	})
	// A resourceless group satisfied: mark numa0 and numa1 as NUMA roots.
	for _, rp := range []string{numa0, numa1} {
		gen := a.generation(rp)
		a.call("PUT", "/resource_providers/"+rp+"/traits", map[string]any{"resource_provider_generation": gen,
			"traits": []string{"HW_NUMA_ROOT"}}, "latest").must(t, 200)
	}
	r := a.call("GET", "/allocation_candidates?resources_NET=SRIOV_NET_VF:1&required_NUMA=HW_NUMA_ROOT&group_policy=none&same_subtree=_NET,_NUMA", nil, "1.36").must(t, 200)
	sets("pf0:SRIOV_NET_VF=1", "pf1:SRIOV_NET_VF=1")(t, r)
	for _, ar := range r.path("allocation_requests").([]any) {
		m := ar.(map[string]any)["mappings"].(map[string]any)
		if len(m["_NUMA"].([]any)) != 1 {
			t.Errorf("resourceless mapping %v", m)
		}
	}
}

func TestCandidateQueryValidation(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	cases := []struct{ query, ver, text string }{
		{"resources=VCPU:1&resources1=VCPU:1", "1.24", "'resources1' was unexpected"},
		{"resources=VCPU:1&group_policy=none", "1.24", "'group_policy' was unexpected"},
		{"resources=VCPU:1&limit=1", "1.15", "'limit' was unexpected"},
		{"resources=VCPU:1&required=HW_CPU_X86_AVX", "1.16", "'required' was unexpected"},
		{"resources01=VCPU:1", "1.25", "'resources01' does not match any of the regexes"},
		{"resources1@=VCPU:1", "1.33", "'resources1@' does not match any of the regexes"},
		{"resources1=VCPU:1&group_policy=bogus", "1.25", "'bogus' is not one of ['none', 'isolate']"},
		{"resources=VCPU:1&member_of3=" + agg1, "1.25", "Found the following orphaned member_of keys: member_of3"},
		{"resources=", "1.10", "Got: empty string."},
		{"resources=VCPU:1&in_tree=x", "1.31", "Expected 'in_tree' parameter to be a format of uuid"},
		{"resources1=VCPU:1&same_subtree=1,", "1.36", "Empty string (unsuffixed group) can not be specified in `same_subtree`"},
		{"resources1=VCPU:1&same_subtree=2", "1.36", "Real suffixes should be specified in `same_subtree`: ['2'] not found in ['1']."},
		{"required1=HW_CPU_X86_AVX&same_subtree=1", "1.36", "There must be at least one resources or resources[$S] parameter."},
		{"resources=VCPU:1&root_required=A,!A", "1.35", "Conflicting required and forbidden traits found in root_required: A"},
	}
	for _, c := range cases {
		r := a.call("GET", "/allocation_candidates?"+c.query, nil, c.ver)
		if r.code != 400 || !containsText(r.detail(), c.text) {
			t.Errorf("%s @%s: %d %s, want 400 with %q", c.query, c.ver, r.code, r.detail(), c.text)
		}
	}
	r := a.call("PUT", "/resource_providers/"+nowhere+"/traits", map[string]any{"traits": "invalid_type",
		"resource_provider_generation": "invalid_generation"}, "1.6")
	if r.code != 400 || !containsText(r.detail(), "'invalid_generation' is not of type 'integer'") {
		t.Errorf("python repr in schema errors: %d %s", r.code, r.detail())
	}
}
