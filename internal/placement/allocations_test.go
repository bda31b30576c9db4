package placement

import "testing"

func allocBody(rp string, res map[string]any, extra ...any) map[string]any {
	b := map[string]any{"allocations": map[string]any{rp: map[string]any{"resources": res}}}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

func TestAllocationsAcrossMicroversions(t *testing.T) {
	t.Parallel()
	testAllocationsAcrossMicroversions(t, newAPI(t))
}

func testAllocationsAcrossMicroversions(t *testing.T, a *api) {
	cn := a.provider("cn", "", nil)
	inv := "/resource_providers/" + cn + "/inventories"
	a.call("PUT", inv, map[string]any{"resource_provider_generation": 0, "inventories": map[string]any{
		"DISK_GB": map[string]any{"total": 2048, "min_unit": 10, "max_unit": 1024, "step_size": 10},
		"VCPU":    map[string]any{"total": 8, "allocation_ratio": 2.0}}}).must(t, 200)
	c1 := "/allocations/" + cons1
	a.run(t, []step{
		{name: "1.0 list form", method: "PUT", path: c1, body: map[string]any{"allocations": []any{
			map[string]any{"resource_provider": map[string]any{"uuid": cn}, "resources": map[string]any{"DISK_GB": 10}}}}, status: 204},
		{name: "1.0 get has no project", method: "GET", path: c1, status: 200, check: func(t *testing.T, r *resp) {
			eq("allocations."+cn+".resources.DISK_GB", 10, "allocations."+cn+".generation", 2)(t, r)
			if _, ok := r.body["project_id"]; ok {
				t.Errorf("1.0 shows project_id")
			}
		}},
		{name: "1.12 get shows the incomplete consumer", method: "GET", path: c1, ver: "1.12", status: 200,
			check: eq("project_id", "00000000-0000-0000-0000-000000000000", "user_id", "00000000-0000-0000-0000-000000000000")},
		{name: "1.8 needs project and user", method: "PUT", path: c1, ver: "1.8", body: map[string]any{"allocations": []any{
			map[string]any{"resource_provider": map[string]any{"uuid": cn}, "resources": map[string]any{"DISK_GB": 10}}}}, status: 400,
			check: has("'project_id' is a required property")},
		{name: "1.12 dict form", method: "PUT", path: c1, ver: "1.12", body: allocBody(cn, map[string]any{"DISK_GB": 20},
			"project_id", "p1", "user_id", "u1"), status: 204},
		{name: "1.12 list form refused", method: "PUT", path: c1, ver: "1.12", body: map[string]any{"allocations": []any{},
			"project_id": "p", "user_id": "u"}, status: 400},
		{name: "1.12 empty refused", method: "PUT", path: c1, ver: "1.12", body: map[string]any{"allocations": map[string]any{},
			"project_id": "p", "user_id": "u"}, status: 400},
		{name: "1.28 needs the generation", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"DISK_GB": 20},
			"project_id", "p1", "user_id", "u1"), status: 400, check: has("'consumer_generation' is a required property")},
		{name: "1.28 get shows it", method: "GET", path: c1, ver: "1.28", status: 200, check: eq("consumer_generation", 2, "project_id", "p1")},
		{name: "1.28 stale generation", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"DISK_GB": 20},
			"project_id", "p1", "user_id", "u1", "consumer_generation", 1), status: 409,
			check: has("consumer generation conflict - expected 2 but got 1")},
		{name: "1.28 null for an existing consumer", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"DISK_GB": 20},
			"project_id", "p1", "user_id", "u1", "consumer_generation", nil), status: 409, check: has("consumer generation conflict")},
		{name: "1.28 generation for a new consumer", method: "PUT", path: "/allocations/" + cons2, ver: "1.28",
			body: allocBody(cn, map[string]any{"DISK_GB": 20}, "project_id", "p1", "user_id", "u1", "consumer_generation", 5), status: 409,
			check: has("consumer generation conflict - expected null but got 5")},
		{name: "1.28 right generation", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"DISK_GB": 30},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 2), status: 204},
		{name: "project moved", method: "GET", path: c1, ver: "1.28", status: 200, check: eq("consumer_generation", 3, "project_id", "p2")},
		{name: "1.38 needs consumer_type", method: "PUT", path: c1, ver: "1.38", body: allocBody(cn, map[string]any{"DISK_GB": 30},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 3), status: 400},
		{name: "1.38 lower-case type", method: "PUT", path: c1, ver: "1.38", body: allocBody(cn, map[string]any{"DISK_GB": 30},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 3, "consumer_type", "instance"), status: 400},
		{name: "1.38 unknown before", method: "GET", path: c1, ver: "1.38", status: 200, check: eq("consumer_type", "unknown")},
		{name: "1.38 with type", method: "PUT", path: c1, ver: "1.38", body: allocBody(cn, map[string]any{"DISK_GB": 30},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 3, "consumer_type", "INSTANCE"), status: 204},
		{name: "1.38 shows type", method: "GET", path: c1, ver: "1.38", status: 200, check: eq("consumer_type", "INSTANCE", "consumer_generation", 4)},
		{name: "1.34 mappings accepted", method: "PUT", path: c1, ver: "1.34", body: allocBody(cn, map[string]any{"DISK_GB": 30},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 4, "mappings", map[string]any{"": []string{cn}}), status: 204},
		{name: "1.33 mappings refused", method: "PUT", path: c1, ver: "1.33", body: allocBody(cn, map[string]any{"DISK_GB": 30},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5, "mappings", map[string]any{"": []string{cn}}), status: 400},
		{name: "over step size", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"DISK_GB": 35},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 409, check: has("would violate inventory constraints")},
		{name: "over max_unit", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"DISK_GB": 1030},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 409, check: has("would violate inventory constraints")},
		{name: "over capacity (ratio 2: 16 VCPU)", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"VCPU": 17},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 409, check: has("The requested amount would exceed the capacity.")},
		{name: "class the provider lacks", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"MEMORY_MB": 1},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 409,
			check: has("Inventory for 'MEMORY_MB' on resource provider '" + cn + "' invalid.")},
		{name: "unknown class", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"CUSTOM_NOPE": 1},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 400, check: has("No such resource class CUSTOM_NOPE")},
		{name: "unknown provider", method: "PUT", path: c1, ver: "1.28", body: allocBody(nowhere, map[string]any{"VCPU": 1},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 400,
			check: has("Allocation for resource provider '" + nowhere + "' that does not exist.")},
		{name: "zero amount", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"VCPU": 0},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 400},
		{name: "malformed consumer", method: "PUT", path: "/allocations/not-a-uuid", ver: "1.28", body: allocBody(cn, map[string]any{"VCPU": 1},
			"project_id", "p2", "user_id", "u2", "consumer_generation", nil), status: 400, check: has("Malformed consumer_uuid")},
		{name: "exactly the capacity", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"VCPU": 16, "DISK_GB": 30},
			"project_id", "p2", "user_id", "u2", "consumer_generation", 5), status: 204},
		{name: "provider allocations", method: "GET", path: "/resource_providers/" + cn + "/allocations", ver: "1.28", status: 200,
			check: eq("allocations."+cons1+".resources.VCPU", 16, "allocations."+cons1+".consumer_generation", 6)},
		{name: "provider allocations before 1.28", method: "GET", path: "/resource_providers/" + cn + "/allocations", status: 200,
			check: func(t *testing.T, r *resp) {
				if _, ok := r.path("allocations." + cons1).(map[string]any)["consumer_generation"]; ok {
					t.Errorf("consumer_generation before 1.28")
				}
			}},
		{name: "empty dict deletes safely (1.28)", method: "PUT", path: c1, ver: "1.28", body: map[string]any{"allocations": map[string]any{},
			"project_id": "p2", "user_id": "u2", "consumer_generation": 6}, status: 204},
		{name: "gone", method: "GET", path: c1, ver: "1.28", status: 200, check: eq("allocations", map[string]any{})},
		{name: "the consumer went with them", method: "PUT", path: c1, ver: "1.28", body: allocBody(cn, map[string]any{"VCPU": 1},
			"project_id", "p2", "user_id", "u2", "consumer_generation", nil), status: 204},
		{name: "delete", method: "DELETE", path: c1, status: 204},
		{name: "delete again", method: "DELETE", path: c1, status: 404, check: has("No allocations for consumer '" + cons1 + "'")},
		{name: "provider allocations of nothing", method: "GET", path: "/resource_providers/" + nowhere + "/allocations", status: 404},
	})
}

func TestPostAllocations(t *testing.T) {
	t.Parallel()
	testPostAllocations(t, newAPI(t))
}

func testPostAllocations(t *testing.T, a *api) {
	cn1 := a.provider("cn1", "", map[string]int64{"VCPU": 4})
	cn2 := a.provider("cn2", "", map[string]int64{"VCPU": 4})
	consumer := func(rp string, n int, gen any) map[string]any {
		return map[string]any{"allocations": map[string]any{rp: map[string]any{"resources": map[string]any{"VCPU": n}}},
			"project_id": "p", "user_id": "u", "consumer_generation": gen}
	}
	a.run(t, []step{
		{name: "not before 1.13", method: "POST", path: "/allocations", ver: "1.12", body: map[string]any{cons1: consumer(cn1, 1, nil)}, status: 404},
		{name: "two consumers at once", method: "POST", path: "/allocations", ver: "1.28",
			body: map[string]any{cons1: consumer(cn1, 2, nil), cons2: consumer(cn2, 2, nil)}, status: 204},
		{name: "all or nothing", method: "POST", path: "/allocations", ver: "1.28",
			body: map[string]any{cons3: consumer(cn1, 2, nil), cons2: consumer(cn2, 5, 1)}, status: 409,
			check: has("exceed the capacity")},
		{name: "nothing written", method: "GET", path: "/allocations/" + cons3, ver: "1.28", status: 200, check: eq("allocations", map[string]any{})},
		{name: "move: clear one, claim other", method: "POST", path: "/allocations", ver: "1.28",
			body: map[string]any{cons1: map[string]any{"allocations": map[string]any{}, "project_id": "p", "user_id": "u", "consumer_generation": 1},
				cons3: consumer(cn1, 4, nil)}, status: 204},
		{name: "cn1 now holds the new consumer", method: "GET", path: "/resource_providers/" + cn1 + "/usages", status: 200, check: eq("usages.VCPU", 4)},
		{name: "empty body", method: "POST", path: "/allocations", ver: "1.28", body: map[string]any{}, status: 400},
		{name: "bad consumer key", method: "POST", path: "/allocations", ver: "1.28", body: map[string]any{"cow": consumer(cn1, 1, nil)}, status: 400},
	})
}

func TestUsages(t *testing.T) {
	t.Parallel()
	testUsages(t, newAPI(t))
}

func testUsages(t *testing.T, a *api) {
	cn := a.provider("cn", "", map[string]int64{"VCPU": 16, "MEMORY_MB": 8192})
	put := func(consumer, project, user, typ string, vcpu int) {
		body := allocBody(cn, map[string]any{"VCPU": vcpu, "MEMORY_MB": 512}, "project_id", project, "user_id", user, "consumer_generation", nil)
		ver := "1.28"
		if typ != "" {
			body["consumer_type"], ver = typ, "1.38"
		}
		a.call("PUT", "/allocations/"+consumer, body, ver).must(t, 204)
	}
	put(cons1, "p1", "u1", "INSTANCE", 1)
	put(cons2, "p1", "u2", "MIGRATION", 2)
	put(cons3, "p1", "u1", "", 4)
	a.run(t, []step{
		{name: "not before 1.9", method: "GET", path: "/usages?project_id=p1", ver: "1.8", status: 404},
		{name: "project is required", method: "GET", path: "/usages", ver: "1.9", status: 400},
		{name: "project", method: "GET", path: "/usages?project_id=p1", ver: "1.9", status: 200,
			check: eq("usages", map[string]any{"VCPU": 7, "MEMORY_MB": 1536})},
		{name: "project and user", method: "GET", path: "/usages?project_id=p1&user_id=u1", ver: "1.9", status: 200,
			check: eq("usages", map[string]any{"VCPU": 5, "MEMORY_MB": 1024})},
		{name: "other project", method: "GET", path: "/usages?project_id=p2", ver: "1.9", status: 200, check: eq("usages", map[string]any{})},
		{name: "consumer_type before 1.38", method: "GET", path: "/usages?project_id=p1&consumer_type=INSTANCE", ver: "1.37", status: 400},
		{name: "grouped by type", method: "GET", path: "/usages?project_id=p1", ver: "1.38", status: 200, check: eq("usages", map[string]any{
			"INSTANCE":  map[string]any{"VCPU": 1, "MEMORY_MB": 512, "consumer_count": 1},
			"MIGRATION": map[string]any{"VCPU": 2, "MEMORY_MB": 512, "consumer_count": 1},
			"unknown":   map[string]any{"VCPU": 4, "MEMORY_MB": 512, "consumer_count": 1}})},
		{name: "one type", method: "GET", path: "/usages?project_id=p1&consumer_type=INSTANCE", ver: "1.38", status: 200,
			check: eq("usages", map[string]any{"INSTANCE": map[string]any{"VCPU": 1, "MEMORY_MB": 512, "consumer_count": 1}})},
		{name: "all", method: "GET", path: "/usages?project_id=p1&consumer_type=all", ver: "1.38", status: 200,
			check: eq("usages", map[string]any{"all": map[string]any{"VCPU": 7, "MEMORY_MB": 1536, "consumer_count": 3}})},
		{name: "unknown", method: "GET", path: "/usages?project_id=p1&consumer_type=unknown", ver: "1.38", status: 200,
			check: eq("usages", map[string]any{"unknown": map[string]any{"VCPU": 4, "MEMORY_MB": 512, "consumer_count": 1}})},
		{name: "a project reader sees its own", method: "GET", path: "/usages?project_id=p-reader", ver: "1.9", token: "reader", status: 200},
		{name: "but not another's", method: "GET", path: "/usages?project_id=p1", ver: "1.9", token: "reader", status: 403},
	})
}
