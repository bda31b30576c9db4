package placement

import (
	"context"
	"fmt"
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

func TestConcurrentClaimsNeverOverCommitPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	claimRace(t, newAPIOn(t, d))
}
