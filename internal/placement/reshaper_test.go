package placement

import "testing"

func TestReshaperMovesInventoryAndAllocations(t *testing.T) {
	t.Parallel()
	testReshaperMovesInventoryAndAllocations(t, newAPI(t))
}

func testReshaperMovesInventoryAndAllocations(t *testing.T, a *api) {
	cn := a.provider("cn", "", map[string]int64{"VCPU": 8, "SRIOV_NET_VF": 4})
	a.call("PUT", "/allocations/"+cons1, map[string]any{
		"allocations": map[string]any{cn: map[string]any{"resources": map[string]any{"VCPU": 2, "SRIOV_NET_VF": 2}}},
		"project_id":  "p", "user_id": "u", "consumer_generation": nil}, "1.28").must(t, 204)
	pf := a.provider("pf", cn, nil)
	cnGen, pfGen := a.generation(cn), a.generation(pf)
	body := func(cnGen, pfGen int64) map[string]any {
		return map[string]any{
			"inventories": map[string]any{
				cn: map[string]any{"resource_provider_generation": cnGen, "inventories": map[string]any{"VCPU": map[string]any{"total": 8}}},
				pf: map[string]any{"resource_provider_generation": pfGen, "inventories": map[string]any{"SRIOV_NET_VF": map[string]any{"total": 4}}},
			},
			"allocations": map[string]any{cons1: map[string]any{
				"allocations": map[string]any{
					cn: map[string]any{"resources": map[string]any{"VCPU": 2}},
					pf: map[string]any{"resources": map[string]any{"SRIOV_NET_VF": 2}}},
				"project_id": "p", "user_id": "u", "consumer_generation": 1}},
		}
	}
	a.run(t, []step{
		{name: "not before 1.30", method: "POST", path: "/reshaper", ver: "1.29", body: body(cnGen, pfGen), status: 404},
		{name: "only services reshape", method: "POST", path: "/reshaper", ver: "1.30", body: body(cnGen, pfGen), status: 403},
		{name: "stale generation", method: "POST", path: "/reshaper", ver: "1.30", token: "service", body: body(cnGen-1, pfGen), status: 409,
			check: has("resource provider generation conflict for provider")},
		{name: "reshape", method: "POST", path: "/reshaper", ver: "1.30", token: "service", body: body(cnGen, pfGen), status: 204},
		{name: "the VFs moved", method: "GET", path: "/resource_providers/" + pf + "/usages", status: 200, check: eq("usages.SRIOV_NET_VF", 2)},
		{name: "the root kept its VCPU only", method: "GET", path: "/resource_providers/" + cn + "/inventories", status: 200,
			check: func(t *testing.T, r *resp) {
				invs := r.path("inventories").(map[string]any)
				if len(invs) != 1 || invs["VCPU"] == nil {
					t.Errorf("inventories %v", invs)
				}
			}},
		{name: "consumer generation moved", method: "GET", path: "/allocations/" + cons1, ver: "1.28", status: 200, check: eq("consumer_generation", 2)},
	})
	// Dropping a class still allocated fails and changes nothing.
	cnGen, pfGen = a.generation(cn), a.generation(pf)
	bad := map[string]any{
		"inventories": map[string]any{pf: map[string]any{"resource_provider_generation": pfGen, "inventories": map[string]any{
			"VCPU": map[string]any{"total": 1}}}},
		"allocations": map[string]any{},
	}
	r := a.call("POST", "/reshaper", bad, "1.30", "token=service").must(t, 409)
	has("in use")(t, r)
	a.call("GET", "/resource_providers/"+pf+"/usages", nil).must(t, 200)
	if g := a.generation(pf); g != pfGen {
		t.Errorf("failed reshape moved the generation %d -> %d", pfGen, g)
	}
}
