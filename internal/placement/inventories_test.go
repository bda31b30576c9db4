package placement

import "testing"

func TestInventories(t *testing.T) {
	t.Parallel()
	testInventories(t, newAPI(t))
}

func testInventories(t *testing.T, a *api) {
	a.call("POST", "/resource_providers", map[string]any{"name": "a", "uuid": rpA}).must(t, 201)
	inv := "/resource_providers/" + rpA + "/inventories"
	a.run(t, []step{
		{name: "missing provider", method: "GET", path: "/resource_providers/" + nowhere + "/inventories", status: 404,
			check: has("No resource provider with uuid " + nowhere + " found")},
		{name: "empty", method: "GET", path: inv, status: 200, check: eq("resource_provider_generation", 0, "inventories", map[string]any{})},
		{name: "reserved over total", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": 100, "reserved": 200},
			status: 400, check: has("Unable to create inventory for resource provider")},
		{name: "no total", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB"},
			status: 400, check: has("JSON does not validate", "'total' is a required property")},
		{name: "negative total", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": -1},
			status: 400, check: has("-1 is less than the minimum of 1")},
		{name: "zero min_unit", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": 1, "min_unit": 0},
			status: 400, check: has("0 is less than the minimum of 1", "Failed validating 'minimum' in schema['properties']['min_unit']")},
		{name: "zero step", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": 1, "step_size": 0},
			status: 400, check: has("Failed validating 'minimum' in schema['properties']['step_size']")},
		{name: "total too big", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": 2147483648},
			status: 400, check: has("Failed validating 'maximum'")},
		{name: "ratio too big", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": 1, "allocation_ratio": 3.5e38},
			status: 400, check: has("Failed validating 'maximum'")},
		{name: "total not integer", method: "POST", path: inv, body: `{"resource_class": "DISK_GB", "total": 1.5}`, status: 400},
		{name: "malformed", method: "POST", path: inv, body: `{"resource_class": "DISK_GB", "total": `, status: 400, check: has("Malformed JSON")},
		{name: "unknown class", method: "POST", path: inv, body: map[string]any{"resource_class": "NO_CLASS_14", "total": 2},
			status: 400, check: has("No such resource class NO_CLASS_14")},
		{name: "bad class name", method: "POST", path: inv, body: map[string]any{"resource_class": "cow", "total": 2}, status: 400},
		{name: "post one", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": 2048, "reserved": 512,
			"min_unit": 10, "max_unit": 1024, "step_size": 10, "allocation_ratio": 1.0}, status: 201,
			check: all(eq("resource_provider_generation", 1, "total", 2048, "reserved", 512, "min_unit", 10, "max_unit", 1024,
				"step_size", 10, "allocation_ratio", 1), func(t *testing.T, r *resp) {
				if r.header.Get("Location") != inv+"/DISK_GB" {
					t.Errorf("Location %q", r.header.Get("Location"))
				}
			})},
		{name: "post it again", method: "POST", path: inv, body: map[string]any{"resource_class": "DISK_GB", "total": 2}, status: 409,
			check: has("Update conflict")},
		{name: "get one", method: "GET", path: inv + "/DISK_GB", status: 200, check: eq("total", 2048, "resource_provider_generation", 1)},
		{name: "modify", method: "PUT", path: inv + "/DISK_GB", body: map[string]any{"resource_provider_generation": 1, "total": 4096,
			"reserved": 0}, status: 200, check: eq("total", 4096, "reserved", 0, "min_unit", 1, "max_unit", 2147483647, "resource_provider_generation", 2)},
		{name: "stale generation", method: "PUT", path: inv + "/DISK_GB", ver: "1.23", body: map[string]any{"resource_provider_generation": 1, "total": 1},
			status: 409, check: all(has("resource provider generation conflict"), eq("errors.0.code", "placement.concurrent_update"))},
		{name: "modify absent class", method: "PUT", path: inv + "/MEMORY_MB", body: map[string]any{"resource_provider_generation": 2, "total": 1},
			status: 400, check: has("No inventory record with resource class")},
		{name: "modify bad capacity", method: "PUT", path: inv + "/DISK_GB", body: map[string]any{"resource_provider_generation": 2, "total": 1, "reserved": 5},
			status: 400, check: has("Unable to update inventory for resource provider " + rpA)},
		{name: "put all bad form", method: "PUT", path: inv, body: map[string]any{"house": "red"}, status: 400, check: has("JSON does not validate")},
		{name: "put all", method: "PUT", path: inv, body: map[string]any{"resource_provider_generation": 2, "inventories": map[string]any{
			"IPV4_ADDRESS": map[string]any{"total": 253}, "DISK_GB": map[string]any{"total": 1024, "allocation_ratio": 1.5}}}, status: 200,
			check: eq("resource_provider_generation", 3, "inventories.IPV4_ADDRESS.total", 253, "inventories.DISK_GB.allocation_ratio", 1.5)},
		{name: "put all stale", method: "PUT", path: inv, body: map[string]any{"resource_provider_generation": 2, "inventories": map[string]any{}},
			status: 409, check: has("resource provider generation conflict")},
		{name: "put all unknown class", method: "PUT", path: inv, body: map[string]any{"resource_provider_generation": 3, "inventories": map[string]any{
			"CUSTOM_NOPE": map[string]any{"total": 1}}}, status: 400, check: has("Unknown resource class in inventory")},
		{name: "reserved equal to total before 1.26", method: "PUT", path: inv, ver: "1.25", body: map[string]any{"resource_provider_generation": 3,
			"inventories": map[string]any{"IPV4_ADDRESS": map[string]any{"total": 253, "reserved": 253}}}, status: 400,
			check: has("greater than or equal to total")},
		{name: "reserved equal to total from 1.26", method: "PUT", path: inv, ver: "1.26", body: map[string]any{"resource_provider_generation": 3,
			"inventories": map[string]any{"IPV4_ADDRESS": map[string]any{"total": 253, "reserved": 253}}}, status: 200},
		{name: "reserved over total at 1.26", method: "PUT", path: inv, ver: "1.26", body: map[string]any{"resource_provider_generation": 4,
			"inventories": map[string]any{"IPV4_ADDRESS": map[string]any{"total": 253, "reserved": 254}}}, status: 400,
			check: has("The reserved value is greater than total.")},
		{name: "delete one", method: "DELETE", path: inv + "/IPV4_ADDRESS", status: 204},
		{name: "delete it again", method: "DELETE", path: inv + "/IPV4_ADDRESS", status: 404, check: has("No inventory of class IPV4_ADDRESS found for delete")},
		{name: "get deleted", method: "GET", path: inv + "/IPV4_ADDRESS", status: 404},
		{name: "delete all before 1.5", method: "DELETE", path: inv, ver: "1.4", status: 405},
		{name: "delete all", method: "DELETE", path: inv, ver: "1.5", status: 204},
		{name: "all gone", method: "GET", path: inv, status: 200, check: eq("inventories", map[string]any{}, "resource_provider_generation", 6)},
	})
}

func TestInventoryInUse(t *testing.T) {
	t.Parallel()
	testInventoryInUse(t, newAPI(t))
}

func testInventoryInUse(t *testing.T, a *api) {
	cn := a.provider("cn", "", map[string]int64{"VCPU": 8, "DISK_GB": 10})
	a.call("PUT", "/allocations/"+cons1, map[string]any{"allocations": map[string]any{cn: map[string]any{
		"resources": map[string]any{"VCPU": 2}}}, "project_id": "p", "user_id": "u"}, "1.12").must(t, 204)
	inv := "/resource_providers/" + cn + "/inventories"
	gen := a.generation(cn)
	a.run(t, []step{
		{name: "drop a used class", method: "PUT", path: inv, ver: "1.23", body: map[string]any{"resource_provider_generation": gen,
			"inventories": map[string]any{"DISK_GB": map[string]any{"total": 10}}}, status: 409,
			check: all(eq("errors.0.code", "placement.inventory.inuse"), has("Inventory for 'VCPU' on resource provider '"+cn+"' in use."))},
		{name: "delete a used class", method: "DELETE", path: inv + "/VCPU", ver: "1.23", status: 409,
			check: eq("errors.0.code", "placement.concurrent_update")},
		{name: "delete all in use", method: "DELETE", path: inv, ver: "1.23", status: 409, check: eq("errors.0.code", "placement.inventory.inuse")},
		{name: "shrinking below usage is allowed", method: "PUT", path: inv, body: map[string]any{"resource_provider_generation": gen,
			"inventories": map[string]any{"VCPU": map[string]any{"total": 1}}}, status: 200},
		{name: "provider in use", method: "DELETE", path: "/resource_providers/" + cn, ver: "1.23", status: 409,
			check: eq("errors.0.code", "placement.resource_provider.inuse")},
		{name: "usages", method: "GET", path: "/resource_providers/" + cn + "/usages", status: 200,
			check: eq("usages", map[string]any{"VCPU": 2}, "resource_provider_generation", gen+1)},
	})
}

func TestAggregates(t *testing.T) {
	t.Parallel()
	testAggregates(t, newAPI(t))
}

func testAggregates(t *testing.T, a *api) {
	a.call("POST", "/resource_providers", map[string]any{"name": "a", "uuid": rpA}).must(t, 201)
	p := "/resource_providers/" + rpA + "/aggregates"
	a.run(t, []step{
		{name: "not before 1.1", method: "GET", path: p, status: 404},
		{name: "empty", method: "GET", path: p, ver: "1.1", status: 200, check: eq("aggregates", []any{})},
		{name: "set a list", method: "PUT", path: p, ver: "1.1", body: []string{agg1, agg2}, status: 200,
			check: eq("aggregates", []any{agg1, agg2})},
		{name: "no generation bump before 1.19", method: "GET", path: "/resource_providers/" + rpA, status: 200, check: eq("generation", 0)},
		{name: "not unique", method: "PUT", path: p, ver: "1.1", body: []string{agg1, agg1}, status: 400, check: has("has non-unique elements")},
		{name: "not uuids", method: "PUT", path: p, ver: "1.1", body: []string{"cow"}, status: 400},
		{name: "1.19 shape", method: "GET", path: p, ver: "1.19", status: 200, check: eq("resource_provider_generation", 0)},
		{name: "1.19 needs the generation", method: "PUT", path: p, ver: "1.19", body: []string{agg1}, status: 400},
		{name: "1.19 stale", method: "PUT", path: p, ver: "1.23", body: map[string]any{"aggregates": []string{agg1},
			"resource_provider_generation": 5}, status: 409, check: eq("errors.0.code", "placement.concurrent_update")},
		{name: "1.19 set", method: "PUT", path: p, ver: "1.19", body: map[string]any{"aggregates": []string{agg3},
			"resource_provider_generation": 0}, status: 200, check: eq("aggregates", []any{agg3}, "resource_provider_generation", 1)},
		{name: "missing provider", method: "GET", path: "/resource_providers/" + nowhere + "/aggregates", ver: "1.1", status: 404},
	})
}

func TestTraits(t *testing.T) {
	t.Parallel()
	testTraits(t, newAPI(t))
}

func testTraits(t *testing.T, a *api) {
	a.call("POST", "/resource_providers", map[string]any{"name": "a", "uuid": rpA}).must(t, 201)
	rp := "/resource_providers/" + rpA + "/traits"
	a.run(t, []step{
		{name: "standard traits exist", method: "GET", path: "/traits?name=in:HW_CPU_X86_AVX,MISC_SHARES_VIA_AGGREGATE", ver: "1.6",
			status: 200, check: eq("traits", []any{"HW_CPU_X86_AVX", "MISC_SHARES_VIA_AGGREGATE"})},
		{name: "bad name filter", method: "GET", path: "/traits?name=HW", ver: "1.6", status: 400, check: has("Badly formatted name parameter")},
		{name: "bad associated", method: "GET", path: "/traits?associated=maybe", ver: "1.6", status: 400},
		{name: "invalid custom", method: "PUT", path: "/traits/NOT_CUSTOM", ver: "1.6", status: 400, check: has("The trait is invalid")},
		{name: "create", method: "PUT", path: "/traits/CUSTOM_TRAIT_1", ver: "1.6", status: 201, check: func(t *testing.T, r *resp) {
			if r.header.Get("Location") != "/traits/CUSTOM_TRAIT_1" {
				t.Errorf("Location %q", r.header.Get("Location"))
			}
		}},
		{name: "create again", method: "PUT", path: "/traits/CUSTOM_TRAIT_1", ver: "1.6", status: 204},
		{name: "get", method: "GET", path: "/traits/CUSTOM_TRAIT_1", ver: "1.6", status: 204},
		{name: "get missing", method: "GET", path: "/traits/CUSTOM_NOPE", ver: "1.6", status: 404, check: has("No such trait(s): CUSTOM_NOPE.")},
		{name: "startswith", method: "GET", path: "/traits?name=startswith:CUSTOM", ver: "1.6", status: 200, check: eq("traits", []any{"CUSTOM_TRAIT_1"})},
		{name: "provider traits empty", method: "GET", path: rp, ver: "1.6", status: 200,
			check: eq("traits", []any{}, "resource_provider_generation", 0)},
		{name: "set unknown", method: "PUT", path: rp, ver: "1.6", body: map[string]any{"traits": []string{"CUSTOM_NOPE"},
			"resource_provider_generation": 0}, status: 400, check: has("No such trait CUSTOM_NOPE")},
		{name: "set stale", method: "PUT", path: rp, ver: "1.6", body: map[string]any{"traits": []string{"CUSTOM_TRAIT_1"},
			"resource_provider_generation": 9}, status: 409},
		{name: "set", method: "PUT", path: rp, ver: "1.6", body: map[string]any{"traits": []string{"CUSTOM_TRAIT_1", "HW_CPU_X86_AVX"},
			"resource_provider_generation": 0}, status: 200,
			check: eq("traits", []any{"CUSTOM_TRAIT_1", "HW_CPU_X86_AVX"}, "resource_provider_generation", 1)},
		{name: "associated", method: "GET", path: "/traits?associated=true", ver: "1.6", status: 200,
			check: eq("traits", []any{"CUSTOM_TRAIT_1", "HW_CPU_X86_AVX"})},
		{name: "custom in use", method: "DELETE", path: "/traits/CUSTOM_TRAIT_1", ver: "1.6", status: 409, check: has("is in use")},
		{name: "standard kept", method: "DELETE", path: "/traits/HW_CPU_X86_AVX", ver: "1.6", status: 400,
			check: has("Cannot delete standard trait HW_CPU_X86_AVX.")},
		{name: "same set does not bump", method: "PUT", path: rp, ver: "1.6", body: map[string]any{"traits": []string{"CUSTOM_TRAIT_1", "HW_CPU_X86_AVX"},
			"resource_provider_generation": 1}, status: 200, check: eq("resource_provider_generation", 1)},
		{name: "clear", method: "DELETE", path: rp, ver: "1.6", status: 204},
		{name: "cleared", method: "GET", path: rp, ver: "1.6", status: 200, check: eq("traits", []any{}, "resource_provider_generation", 2)},
		{name: "delete custom", method: "DELETE", path: "/traits/CUSTOM_TRAIT_1", ver: "1.6", status: 204},
		{name: "delete missing", method: "DELETE", path: "/traits/CUSTOM_TRAIT_1", ver: "1.6", status: 404},
	})
}

func TestResourceClasses(t *testing.T) {
	t.Parallel()
	testResourceClasses(t, newAPI(t))
}

func testResourceClasses(t *testing.T, a *api) {
	a.run(t, []step{
		{name: "list starts with the standard ones", method: "GET", path: "/resource_classes", ver: "1.2", status: 200,
			check: eq("resource_classes.0.name", "VCPU", "resource_classes.0.links.0.href", "/resource_classes/VCPU",
				"resource_classes.1.name", "MEMORY_MB")},
		{name: "get standard", method: "GET", path: "/resource_classes/DISK_GB", ver: "1.2", status: 200, check: eq("name", "DISK_GB")},
		{name: "not custom", method: "POST", path: "/resource_classes", ver: "1.2", body: map[string]any{"name": "GOLD"}, status: 400},
		{name: "create", method: "POST", path: "/resource_classes", ver: "1.2", body: map[string]any{"name": "CUSTOM_GOLD"}, status: 201,
			check: func(t *testing.T, r *resp) {
				if r.header.Get("Location") != "/resource_classes/CUSTOM_GOLD" {
					t.Errorf("Location %q", r.header.Get("Location"))
				}
			}},
		{name: "create again", method: "POST", path: "/resource_classes", ver: "1.2", body: map[string]any{"name": "CUSTOM_GOLD"}, status: 409,
			check: has("Conflicting resource class already exists: CUSTOM_GOLD")},
		{name: "rename (1.2-1.6)", method: "PUT", path: "/resource_classes/CUSTOM_GOLD", ver: "1.6", body: map[string]any{"name": "CUSTOM_SILVER"},
			status: 200, check: eq("name", "CUSTOM_SILVER")},
		{name: "rename standard", method: "PUT", path: "/resource_classes/VCPU", ver: "1.6", body: map[string]any{"name": "CUSTOM_VCPU"},
			status: 400, check: has("Cannot update standard resource class VCPU")},
		{name: "idempotent put creates", method: "PUT", path: "/resource_classes/CUSTOM_BRONZE", ver: "1.7", status: 201},
		{name: "idempotent put verifies", method: "PUT", path: "/resource_classes/CUSTOM_BRONZE", ver: "1.7", status: 204},
		{name: "idempotent put refuses standard", method: "PUT", path: "/resource_classes/VCPU", ver: "1.7", status: 400},
		{name: "delete standard", method: "DELETE", path: "/resource_classes/VCPU", ver: "1.2", status: 400,
			check: has("Cannot delete standard resource class VCPU.")},
		{name: "delete missing", method: "DELETE", path: "/resource_classes/CUSTOM_NOPE", ver: "1.2", status: 404},
		{name: "delete", method: "DELETE", path: "/resource_classes/CUSTOM_SILVER", ver: "1.2", status: 204},
	})
	cn := a.provider("cn", "", map[string]int64{"CUSTOM_BRONZE": 2})
	r := a.call("DELETE", "/resource_classes/CUSTOM_BRONZE", nil, "1.2").must(t, 409)
	has("Class is in use in inventory.")(t, r)
	_ = cn
}
