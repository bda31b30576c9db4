package placementclient_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	pc "github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient/placementtest"
)

const (
	rp1 = "11111111-1111-4111-8111-111111111111"
	rp2 = "22222222-2222-4222-8222-222222222222"
	agg = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
	vm1 = "c0000000-0000-4000-8000-000000000001"
	vm2 = "c0000000-0000-4000-8000-000000000002"
)

func TestComputeInventories(t *testing.T) {
	got := pc.ComputeInventories(8, 16384, 100, pc.DefaultRatios())
	want := map[string]pc.Inventory{
		"VCPU":      {Total: 8, MinUnit: 1, MaxUnit: 8, StepSize: 1, AllocationRatio: 4},
		"MEMORY_MB": {Total: 16384, Reserved: 512, MinUnit: 1, MaxUnit: 16384, StepSize: 1, AllocationRatio: 1},
		"DISK_GB":   {Total: 100, MinUnit: 1, MaxUnit: 100, StepSize: 1, AllocationRatio: 1},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ComputeInventories (-want +got):\n%s", d)
	}
	// A small host keeps most of its memory; a host without disk offers none.
	small := pc.ComputeInventories(1, 1024, 0, pc.DefaultRatios())
	if small["MEMORY_MB"].Reserved != 256 {
		t.Errorf("1 GiB host reserves %d MB, want 256", small["MEMORY_MB"].Reserved)
	}
	if _, ok := small["DISK_GB"]; ok {
		t.Errorf("host without disk has a DISK_GB inventory")
	}
}

func syncNode(t *testing.T, c *pc.Client, uuid, name string, vcpus, mem, disk int64, aggs []string) {
	t.Helper()
	err := c.SyncProvider(t.Context(), pc.ProviderSpec{
		UUID: uuid, Name: name,
		Inventories: pc.ComputeInventories(vcpus, mem, disk, pc.DefaultRatios()),
		Traits:      pc.ComputeTraits("QEMU", false),
		Aggregates:  aggs,
	})
	if err != nil {
		t.Fatalf("SyncProvider %s: %v", name, err)
	}
}

func TestSyncProvider(t *testing.T) {
	c := placementtest.Client(t)
	ctx := t.Context()
	syncNode(t, c, rp1, "host1", 4, 4096, 40, []string{agg})
	p, err := c.Provider(ctx, rp1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "host1" {
		t.Errorf("provider name %q, want host1", p.Name)
	}
	gen := p.Generation
	// The same spec again changes nothing.
	syncNode(t, c, rp1, "host1", 4, 4096, 40, []string{agg})
	if p, _ = c.Provider(ctx, rp1); p.Generation != gen {
		t.Errorf("idempotent sync moved the generation %d -> %d", gen, p.Generation)
	}
	inv, _, err := c.Inventories(ctx, rp1)
	if err != nil {
		t.Fatal(err)
	}
	if inv["VCPU"].AllocationRatio != 4 || inv["MEMORY_MB"].Reserved != 512 || inv["DISK_GB"].Total != 40 {
		t.Errorf("inventories %+v", inv)
	}
	traits, _, _ := c.Traits(ctx, rp1)
	if d := cmp.Diff([]string{"COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_NODE", "HW_ARCH_X86_64"}, traits); d != "" {
		t.Errorf("traits (-want +got):\n%s", d)
	}
	aggs, _, _ := c.Aggregates(ctx, rp1)
	if d := cmp.Diff([]string{agg}, aggs); d != "" {
		t.Errorf("aggregates (-want +got):\n%s", d)
	}
	// A stale generation is a conflict the caller can recognise.
	_, err = c.SetInventories(ctx, rp1, gen-1, inv)
	if !pc.IsConflict(err) {
		t.Errorf("SetInventories with a stale generation: %v, want a conflict", err)
	}
	// The node grows.
	syncNode(t, c, rp1, "host1", 8, 4096, 40, []string{agg})
	if inv, _, _ = c.Inventories(ctx, rp1); inv["VCPU"].Total != 8 {
		t.Errorf("VCPU total %d after growing to 8", inv["VCPU"].Total)
	}
	// Another uuid with the name taken is not a conflict to retry.
	err = c.SyncProvider(ctx, pc.ProviderSpec{UUID: rp2, Name: "host1"})
	if err == nil || pc.IsConflict(err) {
		t.Errorf("provider with a taken name: %v, want a duplicate name error", err)
	}
}

func TestCandidatesAndClaims(t *testing.T) {
	c := placementtest.Client(t)
	ctx := t.Context()
	syncNode(t, c, rp1, "host1", 2, 2560, 20, nil) // 8 VCPU at 4.0, 2048 MB usable
	syncNode(t, c, rp2, "host2", 2, 1536, 20, nil) // 1152 MB usable

	q := pc.CandidatesQuery{Resources: map[string]int64{"VCPU": 1, "MEMORY_MB": 1024, "DISK_GB": 10}, Required: []string{"COMPUTE_NODE"}, Forbidden: []string{"COMPUTE_STATUS_DISABLED"}, Limit: 10}
	cands, err := c.AllocationCandidates(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands.AllocationRequests) != 2 {
		t.Fatalf("%d candidates, want 2: %+v", len(cands.AllocationRequests), cands)
	}
	if s := cands.ProviderSummaries[rp1].Resources["MEMORY_MB"]; s.Capacity != 2048 || s.Used != 0 {
		t.Errorf("host1 memory summary %+v, want capacity 2048", s)
	}
	var onHost2 pc.AllocationRequest
	for _, ar := range cands.AllocationRequests {
		if _, ok := ar.Allocations[rp2]; ok {
			onHost2 = ar
		}
	}
	if err := c.Claim(ctx, vm1, "p1", "u1", onHost2); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	// The same claim again (a new consumer expected) is a conflict, and so
	// is one that no longer fits.
	if err := c.Claim(ctx, vm1, "p1", "u1", onHost2); !pc.IsConflict(err) {
		t.Errorf("second claim of vm1: %v, want a conflict", err)
	}
	if err := c.Claim(ctx, vm2, "p1", "u1", onHost2); !pc.IsConflict(err) {
		t.Errorf("claim over host2's memory: %v, want a conflict", err)
	}
	// host2 is full now.
	cands, err = c.AllocationCandidates(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands.AllocationRequests) != 1 || cands.AllocationRequests[0].Allocations[rp1].Resources == nil {
		t.Errorf("candidates after host2 filled: %+v, want host1 only", cands.AllocationRequests)
	}
	a, err := c.Allocations(ctx, vm1)
	if err != nil {
		t.Fatal(err)
	}
	if a.ProjectID != "p1" || a.UserID != "u1" || a.ConsumerGeneration == nil || a.Allocations[rp2].Resources["MEMORY_MB"] != 1024 {
		t.Errorf("allocations of vm1: %+v", a)
	}
	u, err := c.Usages(ctx, "p1", "")
	if err != nil {
		t.Fatal(err)
	}
	if u["VCPU"] != 1 || u["MEMORY_MB"] != 1024 || u["DISK_GB"] != 10 {
		t.Errorf("usages of p1: %v", u)
	}
	if err := c.DeleteAllocations(ctx, vm1); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAllocations(ctx, vm1); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if pu, _ := c.ProviderUsages(ctx, rp2); pu["MEMORY_MB"] != 0 {
		t.Errorf("host2 usage after delete: %v", pu)
	}
	// Resources nobody has, and a member_of no provider is in, give none.
	for name, q := range map[string]pc.CandidatesQuery{
		"too big":   {Resources: map[string]int64{"VCPU": 100}},
		"member_of": {Resources: map[string]int64{"VCPU": 1}, MemberOf: [][]string{{agg}}},
	} {
		cands, err := c.AllocationCandidates(ctx, q)
		if err != nil || len(cands.AllocationRequests) != 0 {
			t.Errorf("%s: %d candidates, %v; want none", name, len(cands.AllocationRequests), err)
		}
	}
}

// Concurrent claims for the last room on a host: exactly one wins.
func TestConcurrentClaims(t *testing.T) {
	c := placementtest.Client(t)
	syncNode(t, c, rp1, "host1", 1, 2048+512, 10, nil)
	cands, err := c.AllocationCandidates(t.Context(), pc.CandidatesQuery{Resources: map[string]int64{"MEMORY_MB": 2048}})
	if err != nil || len(cands.AllocationRequests) != 1 {
		t.Fatalf("candidates %v %v", cands, err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			err := c.Claim(t.Context(), "c0000000-0000-4000-8000-00000000010"+string(rune('0'+i)), "p", "u", cands.AllocationRequests[0])
			switch {
			case err == nil:
				wins.Add(1)
			case pc.IsConflict(err):
				conflicts.Add(1)
			default:
				t.Errorf("claim: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 7 {
		t.Errorf("%d claims won, %d conflicts; want 1 and 7", wins.Load(), conflicts.Load())
	}
}

// A 401 drops the token and the call is tried once more with a new one.
func TestRetryOn401(t *testing.T) {
	url := placementtest.Start(t)
	tokens := &placementtest.Tokens{Next: "expired"}
	c := pc.New(url, tokens, nil)
	if _, err := c.EnsureProvider(t.Context(), rp1, "host1"); err != nil {
		t.Fatalf("EnsureProvider with an expired token: %v", err)
	}
	if d := cmp.Diff([]string{"expired"}, tokens.Invalidated); d != "" {
		t.Errorf("invalidated (-want +got):\n%s", d)
	}
	// A token that stays bad is an error after one retry.
	bad := &badTokens{}
	c = pc.New(url, bad, nil)
	_, err := c.Provider(t.Context(), rp1)
	var pe *pc.Error
	if !asError(err, &pe) || pe.Status != 401 || bad.calls.Load() != 2 {
		t.Errorf("always-bad token: %v after %d tokens, want a 401 after 2", err, bad.calls.Load())
	}
}

type badTokens struct{ calls atomic.Int32 }

func (b *badTokens) Token(context.Context) (string, error) {
	b.calls.Add(1)
	return "bad", nil
}
func (b *badTokens) Invalidate(string) {}

func asError(err error, target **pc.Error) bool { return errors.As(err, target) }
