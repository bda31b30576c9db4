package placement

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/db/pgtest"
)

// claimRace has many consumers claim the same inventory at once, through
// the API, and checks that no more than its capacity was granted and that
// the usage matches the successful claims.
func claimRace(t *testing.T, a *api) {
	const (
		workers  = 40
		perClaim = 3
		total    = 64
	)
	cn := a.provider("race", "", nil)
	a.call("PUT", "/resource_providers/"+cn+"/inventories", map[string]any{
		"resource_provider_generation": 0,
		"inventories":                  map[string]any{"VCPU": map[string]any{"total": total, "reserved": 4, "allocation_ratio": 1.5}},
	}, "latest").must(t, 200)
	capacity := int64(float64(total-4) * 1.5) // 90: room for 30 claims of 3
	var wg sync.WaitGroup
	codes := make([]int, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
			r := a.call("PUT", "/allocations/"+consumer, map[string]any{
				"allocations": map[string]any{cn: map[string]any{"resources": map[string]any{"VCPU": perClaim}}},
				"project_id":  "p", "user_id": "u", "consumer_generation": nil, "consumer_type": "INSTANCE",
			}, "latest")
			codes[i] = r.code
		}()
	}
	wg.Wait()
	ok := 0
	for i, c := range codes {
		switch c {
		case 204:
			ok++
		case 409:
		default:
			t.Errorf("claim %d: status %d", i, c)
		}
	}
	used := a.call("GET", "/resource_providers/"+cn+"/usages", nil, "latest").must(t, 200).num("usages.VCPU")
	if used != int64(ok*perClaim) {
		t.Errorf("usage %d, but %d claims of %d succeeded", used, ok, perClaim)
	}
	if used > capacity {
		t.Fatalf("over-commit: %d used of a capacity of %d", used, capacity)
	}
	if ok != int(capacity/perClaim) {
		t.Errorf("%d claims succeeded, want %d (the capacity)", ok, capacity/perClaim)
	}
	// The provider generation moved once per successful claim, after the
	// inventory write.
	if g := a.generation(cn); g != int64(1+ok) {
		t.Errorf("generation %d, want %d", g, 1+ok)
	}
}

func TestConcurrentClaimsNeverOverCommitSQLite(t *testing.T) {
	t.Parallel()
	claimRace(t, newAPI(t))
}

// TestPostgres runs the scenarios and the race on PostgreSQL: one
// server, a fresh database for each.
func TestPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	admin, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	n := 0
	fresh := func(t *testing.T) *api {
		n++
		name := fmt.Sprintf("placement%d", n)
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			t.Fatal(err)
		}
		d, err := db.Open(context.Background(), strings.Replace(dsn, "/postgres?", "/"+name+"?", 1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return newAPIOn(t, d)
	}
	scenarios := map[string]func(*testing.T, *api){
		"claim race":                           claimRace,
		"multi-provider claim race":            multiClaimRace,
		"AllocationsAcrossMicroversions":       testAllocationsAcrossMicroversions,
		"PostAllocations":                      testPostAllocations,
		"Usages":                               testUsages,
		"AllocationCandidatesSharedStorage":    testAllocationCandidatesSharedStorage,
		"AllocationCandidatesNested":           testAllocationCandidatesNested,
		"ReshaperMovesInventoryAndAllocations": testReshaperMovesInventoryAndAllocations,
		"ResourceProviders":                    testResourceProviders,
		"ProviderListFilters":                  testProviderListFilters,
		"Inventories":                          testInventories,
		"InventoryInUse":                       testInventoryInUse,
		"Aggregates":                           testAggregates,
		"Traits":                               testTraits,
		"ResourceClasses":                      testResourceClasses,
		"MicroversionNegotiation":              testMicroversionNegotiation,
		"RootDocument":                         testRootDocument,
		"ErrorsArePlacements":                  testErrorsArePlacements,
		"LastModifiedFrom1_15":                 testLastModifiedFrom1_15,
	}
	for _, name := range sortedKeys(scenarios) {
		t.Run(name, func(t *testing.T) { scenarios[name](t, fresh(t)) })
	}
}

func TestConcurrentMultiProviderClaimsSQLite(t *testing.T) {
	t.Parallel()
	multiClaimRace(t, newAPI(t))
}

// multiClaimRace has consumers claim from two providers at once with
// POST /allocations, naming them in both orders, and others race on one
// consumer's generation: claims must neither deadlock nor over-commit,
// and only one writer of a consumer may win.
func multiClaimRace(t *testing.T, a *api) {
	x := a.provider("x", "", map[string]int64{"VCPU": 10})
	y := a.provider("y", "", map[string]int64{"VCPU": 10})
	var wg sync.WaitGroup
	codes := make([]int, 30)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consumer := fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
			first, second := x, y
			if i%2 == 1 {
				first, second = y, x
			}
			r := a.call("POST", "/allocations", map[string]any{consumer: map[string]any{
				"allocations": map[string]any{
					first:  map[string]any{"resources": map[string]any{"VCPU": 1}},
					second: map[string]any{"resources": map[string]any{"VCPU": 1}}},
				"project_id": "p", "user_id": "u", "consumer_generation": nil}}, "1.28")
			codes[i] = r.code
		}()
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == 204 {
			ok++
		} else if c != 409 {
			t.Errorf("status %d", c)
		}
	}
	for _, rp := range []string{x, y} {
		used := a.call("GET", "/resource_providers/"+rp+"/usages", nil).must(t, 200).num("usages.VCPU")
		if used != int64(ok) || used > 10 {
			t.Errorf("provider used %d after %d claims", used, ok)
		}
	}
	if ok != 10 {
		t.Errorf("%d claims succeeded, want 10", ok)
	}
	// Many writers of one new consumer: exactly one creates it.
	z := a.provider("z", "", map[string]int64{"VCPU": 10})
	wins := make([]int, 10)
	for i := range wins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.call("PUT", "/allocations/"+cons3, allocBody(z, map[string]any{"VCPU": 1},
				"project_id", "p", "user_id", "u", "consumer_generation", nil), "1.28")
			wins[i] = r.code
		}()
	}
	wg.Wait()
	n := 0
	for _, c := range wins {
		if c == 204 {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d writers created the consumer", n)
	}
}
