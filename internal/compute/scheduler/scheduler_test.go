package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	pc "github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient/placementtest"
)

// memHosts is the compute database's host tables in memory, for the
// scheduler's tests while they need no SQL.
type memHosts struct {
	mu     sync.Mutex
	nodes  []instances.ComputeNode
	svcs   map[string]*instances.Service
	aggs   []instances.Aggregate
	groups map[string]*instances.ServerGroup
	insts  map[string]*instances.Instance
}

func (m *memHosts) ListComputeNodes(_ context.Context, host string) ([]instances.ComputeNode, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []instances.ComputeNode
	for _, n := range m.nodes {
		if host == "" || n.Host == host {
			out = append(out, n)
		}
	}
	return out, nil
}

func (m *memHosts) ListServices(_ context.Context, host, binary string) ([]instances.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []instances.Service
	for _, s := range m.svcs {
		if (host == "" || s.Host == host) && (binary == "" || s.Binary == binary) {
			out = append(out, *s)
		}
	}
	return out, nil
}

func (m *memHosts) ListAggregates(context.Context) ([]instances.Aggregate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.aggs), nil
}

func (m *memHosts) GetServerGroup(_ context.Context, uuid string) (*instances.ServerGroup, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g, ok := m.groups[uuid]
	if !ok {
		return nil, instances.ErrNotFound
	}
	c := *g
	c.Members = slices.Clone(g.Members)
	return &c, nil
}

func (m *memHosts) Get(_ context.Context, uuid string, _ bool) (*instances.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.insts[uuid]
	if !ok {
		return nil, instances.ErrNotFound
	}
	c := *i
	return &c, nil
}

// env is placement with n hosts ("host1".."hostN", node uuid
// nodeUUID(i)), each of vcpus/memMB/diskGB, their services up.
type env struct {
	t     *testing.T
	pl    *pc.Client
	hosts *memHosts
	s     *Scheduler
	seq   int
}

func nodeUUID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func newEnv(t *testing.T, n int, vcpus, memMB, diskGB int64) *env {
	t.Helper()
	e := &env{t: t, pl: placementtest.Client(t), hosts: &memHosts{svcs: map[string]*instances.Service{},
		groups: map[string]*instances.ServerGroup{}, insts: map[string]*instances.Instance{}}}
	for i := 1; i <= n; i++ {
		e.addHost(i, vcpus, memMB, diskGB, "QEMU")
	}
	s, err := New(Options{Hosts: e.hosts, Placement: e.pl, HostCacheTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	return e
}

func (e *env) addHost(i int, vcpus, memMB, diskGB int64, hvType string) {
	e.t.Helper()
	host := fmt.Sprintf("host%d", i)
	node := instances.ComputeNode{UUID: nodeUUID(i), Host: host, HypervisorHostname: host, HypervisorType: hvType,
		VCPUs: int(vcpus), MemoryMB: int(memMB), LocalGB: int(diskGB), CPUInfo: `{"arch": "x86_64", "vendor": "nimbus"}`}
	err := e.pl.SyncProvider(e.t.Context(), pc.ProviderSpec{UUID: node.UUID, Name: host,
		Inventories: pc.ComputeInventories(vcpus, memMB, diskGB, pc.DefaultRatios()), Traits: pc.ComputeTraits(hvType, false)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.hosts.mu.Lock()
	defer e.hosts.mu.Unlock()
	e.hosts.nodes = append(e.hosts.nodes, node)
	e.hosts.svcs[host] = &instances.Service{Host: host, Binary: "nova-compute", LastSeenUp: time.Now()}
}

var small = instances.Flavor{FlavorID: "1", Name: "m1.small", VCPUs: 1, MemoryMB: 512, RootGB: 1}

// inst makes a new instance record (not placed) with spec changed by mods.
func (e *env) inst(mods ...func(*instances.Instance)) *instances.Instance {
	e.seq++
	i := &instances.Instance{UUID: fmt.Sprintf("c0000000-0000-4000-8000-%012d", e.seq), ProjectID: "p1", UserID: "u1", Flavor: small}
	for _, m := range mods {
		m(i)
	}
	e.hosts.mu.Lock()
	e.hosts.insts[i.UUID] = i
	e.hosts.mu.Unlock()
	return i
}

// place selects a host for inst and records it there, as the conductor.
func (e *env) place(inst *instances.Instance, ignore ...string) (Selection, error) {
	e.t.Helper()
	sel, err := e.s.Select(e.t.Context(), inst, inst.Flavor, ignore)
	if err == nil {
		e.hosts.mu.Lock()
		e.hosts.insts[inst.UUID].Host = sel.Host
		e.hosts.mu.Unlock()
	}
	return sel, err
}

func (e *env) mustPlace(inst *instances.Instance, ignore ...string) Selection {
	e.t.Helper()
	sel, err := e.place(inst, ignore...)
	if err != nil {
		e.t.Fatalf("Select %s: %v", inst.UUID, err)
	}
	return sel
}

func (e *env) wantNoValidHost(inst *instances.Instance, ignore ...string) {
	e.t.Helper()
	sel, err := e.place(inst, ignore...)
	var nvh *NoValidHost
	if !errors.As(err, &nvh) || !errors.Is(err, ErrNoValidHost) {
		e.t.Fatalf("Select = %+v, %v; want NoValidHost", sel, err)
	}
	if want := "No valid host was found. There are not enough hosts available."; err.Error() != want {
		e.t.Errorf("error %q, want %q", err, want)
	}
	// Nothing was claimed.
	a, aerr := e.pl.Allocations(e.t.Context(), inst.UUID)
	if aerr != nil || len(a.Allocations) != 0 {
		e.t.Errorf("allocations of an unplaced instance: %+v %v", a, aerr)
	}
}

func TestSelectSpreadsAndClaims(t *testing.T) {
	e := newEnv(t, 3, 4, 4096+512, 40)
	seen := map[string]int{}
	for range 6 {
		inst := e.inst()
		sel := e.mustPlace(inst)
		seen[sel.Host]++
		if sel.Node != sel.Host || sel.NodeUUID == "" || sel.Zone != "nova" {
			t.Errorf("selection %+v", sel)
		}
		a, err := e.pl.Allocations(t.Context(), inst.UUID)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Allocations[sel.NodeUUID].Resources; got["VCPU"] != 1 || got["MEMORY_MB"] != 512 || got["DISK_GB"] != 1 {
			t.Errorf("claim of %s on %s: %+v", inst.UUID, sel.Host, a)
		}
		if a.ProjectID != "p1" || a.UserID != "u1" {
			t.Errorf("claim owner %s/%s", a.ProjectID, a.UserID)
		}
	}
	// Free RAM spreads them: two on each host.
	for h, n := range seen {
		if n != 2 {
			t.Errorf("spread: %v (host %s has %d)", seen, h, n)
		}
	}
}

func TestCandidatesQuery(t *testing.T) {
	f := instances.Flavor{VCPUs: 2, MemoryMB: 2048, RootGB: 10, EphemeralGB: 5, SwapMB: 1025,
		ExtraSpecs: map[string]string{"resources:VCPU": "0", "resources:CUSTOM_GPU": "1", "trait:HW_CPU_X86_AVX2": "required",
			"trait:CUSTOM_SLOW": "forbidden", "hw:cpu_policy": "dedicated"}}
	img := instances.Image{Properties: map[string]string{"trait:CUSTOM_IMG": "required"}}
	got := candidatesQuery(f, img).Encode()
	want := "required=HW_CPU_X86_AVX2%2CCUSTOM_IMG%2C%21CUSTOM_SLOW&resources=CUSTOM_GPU%3A1%2CDISK_GB%3A17%2CMEMORY_MB%3A2048"
	if got != want {
		t.Errorf("query\n got %s\nwant %s", got, want)
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t, 3, 4, 4096, 40)
	ctx := t.Context()

	// host1 disabled, host2 forced down, host3 silent for too long: none.
	e.hosts.svcs["host1"].Disabled = true
	e.hosts.svcs["host2"].ForcedDown = true
	e.hosts.svcs["host3"].LastSeenUp = time.Now().Add(-2 * time.Minute)
	e.wantNoValidHost(e.inst())
	e.hosts.svcs["host3"].LastSeenUp = time.Now()
	if sel := e.mustPlace(e.inst()); sel.Host != "host3" {
		t.Errorf("only host3 is up, got %s", sel.Host)
	}
	e.hosts.svcs["host1"].Disabled = false
	e.hosts.svcs["host2"].ForcedDown = false

	// Zones come from aggregates; others are in "nova".
	e.hosts.aggs = []instances.Aggregate{{UUID: "agg-az1", Name: "az1", AvailabilityZone: "az1", Hosts: []string{"host2"},
		Metadata: map[string]string{"availability_zone": "az1", "ssd": "true,fast"}}}
	if sel := e.mustPlace(e.inst(func(i *instances.Instance) { i.Spec.AvailabilityZone = "az1" })); sel.Host != "host2" || sel.Zone != "az1" {
		t.Errorf("az1: %+v, want host2 in az1", sel)
	}
	if sel := e.mustPlace(e.inst(func(i *instances.Instance) { i.Spec.AvailabilityZone = "nova" })); sel.Host == "host2" {
		t.Errorf("zone nova got host2 (in az1)")
	}
	e.wantNoValidHost(e.inst(func(i *instances.Instance) { i.Spec.AvailabilityZone = "nowhere" }))

	// Aggregate extra specs.
	ssd := e.inst(func(i *instances.Instance) {
		i.Flavor.ExtraSpecs = map[string]string{"aggregate_instance_extra_specs:ssd": "fast"}
	})
	if sel := e.mustPlace(ssd); sel.Host != "host2" {
		t.Errorf("ssd flavor on %s, want host2", sel.Host)
	}

	// Ignored and forced hosts.
	if sel := e.mustPlace(e.inst(), "host1", "host3"); sel.Host != "host2" {
		t.Errorf("ignoring host1 and host3 gave %s", sel.Host)
	}
	e.wantNoValidHost(e.inst(), "host1", "host2", "host3")
	e.hosts.svcs["host1"].Disabled = true
	forced := e.inst(func(i *instances.Instance) { i.Spec.ForceHost = "host1" })
	if sel := e.mustPlace(forced); sel.Host != "host1" {
		t.Errorf("forced host1 (disabled, forcing skips filters) gave %s", sel.Host)
	}
	e.hosts.svcs["host1"].Disabled = false

	// Image properties: an ARM image has no x86_64 QEMU host.
	arm := e.inst(func(i *instances.Instance) { i.Spec.Image.Properties = map[string]string{"hw_architecture": "aarch64"} })
	e.wantNoValidHost(arm)
	kvm := e.inst(func(i *instances.Instance) {
		i.Spec.Image.Properties = map[string]string{"hw_architecture": "x86_64", "img_hv_type": "kvm"}
	})
	e.mustPlace(kvm)
	xen := e.inst(func(i *instances.Instance) { i.Spec.Image.Properties = map[string]string{"img_hv_type": "xen"} })
	e.wantNoValidHost(xen)

	// Capabilities.
	e.wantNoValidHost(e.inst(func(i *instances.Instance) {
		i.Flavor.ExtraSpecs = map[string]string{"capabilities:cpu_info:vendor": "s== intel"}
	}))
	e.mustPlace(e.inst(func(i *instances.Instance) {
		i.Flavor.ExtraSpecs = map[string]string{"capabilities:hypervisor_type": "s== QEMU", "capabilities:vcpus": ">= 4"}
	}))

	// Tenancy: host3 only for project p2.
	e.hosts.aggs = append(e.hosts.aggs, instances.Aggregate{UUID: "agg-p2", Name: "p2", Hosts: []string{"host3"},
		Metadata: map[string]string{"filter_tenant_id": "p2"}})
	for range 3 {
		if sel := e.mustPlace(e.inst()); sel.Host == "host3" {
			t.Errorf("project p1 placed on host3, reserved for p2")
		}
	}
	if sel := e.mustPlace(e.inst(func(i *instances.Instance) { i.ProjectID = "p2" }), "host1", "host2"); sel.Host != "host3" {
		t.Errorf("p2 on %s", sel.Host)
	}

	// Hints.
	first := e.inst()
	near := e.mustPlace(first)
	same := e.inst(func(i *instances.Instance) { i.Spec.SchedulerHints = map[string][]string{"same_host": {first.UUID}} })
	if sel := e.mustPlace(same); sel.Host != near.Host {
		t.Errorf("same_host %s, want %s", sel.Host, near.Host)
	}
	diff := e.inst(func(i *instances.Instance) {
		i.Spec.SchedulerHints = map[string][]string{"different_host": {first.UUID}}
	})
	if sel := e.mustPlace(diff); sel.Host == near.Host {
		t.Errorf("different_host placed on %s with %s", sel.Host, first.UUID)
	}

	// A custom trait required by the flavor: only host1 has it.
	if err := e.pl.EnsureTrait(ctx, "CUSTOM_FAST"); err != nil {
		t.Fatal(err)
	}
	_, gen, _ := e.pl.Traits(ctx, nodeUUID(1))
	if _, err := e.pl.SetTraits(ctx, nodeUUID(1), gen, append(pc.ComputeTraits("QEMU", false), "CUSTOM_FAST")); err != nil {
		t.Fatal(err)
	}
	if sel := e.mustPlace(e.inst(func(i *instances.Instance) {
		i.Flavor.ExtraSpecs = map[string]string{"trait:CUSTOM_FAST": "required"}
	})); sel.Host != "host1" {
		t.Errorf("trait:CUSTOM_FAST on %s", sel.Host)
	}

	// Too big for any host.
	e.wantNoValidHost(e.inst(func(i *instances.Instance) { i.Flavor.MemoryMB = 100000 }))
}

func TestServerGroups(t *testing.T) {
	for _, policy := range []string{"anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"} {
		t.Run(policy, func(t *testing.T) {
			e := newEnv(t, 3, 16, 16384, 100)
			e.hosts.groups["g1"] = &instances.ServerGroup{UUID: "g1", Policy: policy}
			hosts := map[string]int{}
			for i := range 4 {
				inst := e.inst(func(i *instances.Instance) { i.Spec.Group = "g1" })
				e.hosts.groups["g1"].Members = append(e.hosts.groups["g1"].Members, inst.UUID)
				if policy == "anti-affinity" && i == 3 {
					e.wantNoValidHost(inst)
					continue
				}
				hosts[e.mustPlace(inst).Host]++
			}
			switch policy {
			case "anti-affinity":
				if len(hosts) != 3 {
					t.Errorf("anti-affinity members on %v, want 3 hosts", hosts)
				}
			case "soft-anti-affinity":
				if len(hosts) != 3 {
					t.Errorf("soft-anti-affinity members on %v, want 3 hosts (then one doubles up)", hosts)
				}
			case "affinity", "soft-affinity":
				if len(hosts) != 1 {
					t.Errorf("%s members on %v, want one host", policy, hosts)
				}
			}
		})
	}
}

// Members scheduled one after the other, before the conductor records
// any host (a multi-create), still keep apart.
func TestAntiAffinityConcurrent(t *testing.T) {
	e := newEnv(t, 3, 16, 16384, 100)
	e.hosts.groups["g1"] = &instances.ServerGroup{UUID: "g1", Policy: "anti-affinity"}
	var insts []*instances.Instance
	for range 3 {
		inst := e.inst(func(i *instances.Instance) { i.Spec.Group = "g1" })
		e.hosts.groups["g1"].Members = append(e.hosts.groups["g1"].Members, inst.UUID)
		insts = append(insts, inst)
	}
	got := map[string]bool{}
	// Sequential selects without recording hosts: only the scheduler's
	// memory of its own choices keeps them apart.
	for _, inst := range insts {
		sel, err := e.s.Select(t.Context(), inst, inst.Flavor, nil)
		if err != nil {
			t.Fatal(err)
		}
		got[sel.Host] = true
	}
	if len(got) != 3 {
		t.Errorf("members on %v, want 3 hosts", got)
	}
}

// racer is placement where, before the first claim, someone else takes
// what is left of the host the scheduler is about to claim.
type racer struct {
	*pc.Client
	once sync.Once
}

func (r *racer) Claim(ctx context.Context, consumer, project, user string, req pc.AllocationRequest) error {
	r.once.Do(func() {
		for rp := range req.Allocations {
			err := r.Client.Claim(ctx, "d0000000-0000-4000-8000-000000000001", "other", "other",
				pc.AllocationRequest{Allocations: map[string]pc.Resources{rp: {Resources: map[string]int64{"MEMORY_MB": 2048}}}})
			if err != nil {
				panic(err)
			}
		}
	})
	return r.Client.Claim(ctx, consumer, project, user, req)
}

func TestClaimConflictTriesNextHost(t *testing.T) {
	e := newEnv(t, 2, 4, 2048+512, 40)
	e.hosts.svcs["host2"].LastSeenUp = time.Now()
	s, err := New(Options{Hosts: e.hosts, Placement: &racer{Client: e.pl}})
	if err != nil {
		t.Fatal(err)
	}
	inst := e.inst()
	sel, err := s.Select(t.Context(), inst, inst.Flavor, nil)
	if err != nil {
		t.Fatalf("Select after a lost claim: %v", err)
	}
	a, _ := e.pl.Allocations(t.Context(), inst.UUID)
	if len(a.Allocations) != 1 || a.Allocations[sel.NodeUUID].Resources["MEMORY_MB"] != 512 {
		t.Errorf("allocations %+v on %s", a, sel.Host)
	}
}

func TestOverBus(t *testing.T) {
	e := newEnv(t, 1, 4, 4096, 40)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	beats := &beats{}
	e.s.o.Host = "ctl1"
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.Serve(sctx, b, beats) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := Client{Bus: b}
	var sel Selection
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if sel, err = c.Select(ctx, e.inst(), small, nil); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || sel.Host != "host1" || sel.NodeUUID != nodeUUID(1) {
		t.Fatalf("Select over the bus: %+v, %v", sel, err)
	}
	_, err = c.Select(ctx, e.inst(), small, []string{"host1"})
	var nvh *NoValidHost
	if !errors.As(err, &nvh) || err.Error() != "No valid host was found. There are not enough hosts available." {
		t.Errorf("NoValidHost over the bus: %v", err)
	}
	if got := beats.get(); len(got) == 0 || got[0] != "ctl1/nova-scheduler" {
		t.Errorf("heartbeats %v, want ctl1/nova-scheduler", got)
	}
}

type beats struct {
	mu  sync.Mutex
	got []string
}

func (b *beats) Heartbeat(_ context.Context, host, binary string, _ time.Time, _ time.Duration) (*instances.Service, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, host+"/"+binary)
	return &instances.Service{}, len(b.got) == 1, nil
}

func (b *beats) get() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

func TestMatchSpec(t *testing.T) {
	for _, c := range []struct {
		have, want string
		ok         bool
	}{
		{"8", "= 4", true}, {"2", "= 4", false}, {"4", "== 4", true}, {"5", "!= 4", true},
		{"4", ">= 4", true}, {"4", "<= 3", false}, {"QEMU", "s== QEMU", true}, {"QEMU", "s!= QEMU", false},
		{"abc", "s< abd", true}, {"fast,ssd", "<in> ssd", true}, {"a b c", "<all-in> a c", true},
		{"b", "<or> a <or> b", true}, {"c", "<or> a <or> b", false}, {"true", "true", true}, {"x", "y", false},
	} {
		if got := matchSpec(c.have, c.want); got != c.ok {
			t.Errorf("matchSpec(%q, %q) = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

// With shared candidates the scheduler counts its own claims: hosts fill
// up in its view as in placement's, and a lost claim tries the next host.
func TestSharedCandidates(t *testing.T) {
	e := newEnv(t, 2, 4, 1024+512, 40) // room for two 512 MB servers each
	var err error
	e.s, err = New(Options{Hosts: e.hosts, Placement: e.pl, CandidateCacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for range 4 {
		seen[e.mustPlace(e.inst()).Host]++
	}
	if seen["host1"] != 2 || seen["host2"] != 2 {
		t.Errorf("placed %v, want two on each host", seen)
	}
	e.wantNoValidHost(e.inst())

	// Someone else (another scheduler) takes room the snapshot thinks is
	// free: the claim loses, and the next host is tried.
	e2 := newEnv(t, 2, 4, 1024+512, 40)
	s, err := New(Options{Hosts: e2.hosts, Placement: e2.pl, CandidateCacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Select(t.Context(), e2.inst(), small, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Fill the other host behind the scheduler's back.
	other := nodeUUID(1)
	if first.NodeUUID == other {
		other = nodeUUID(2)
	}
	if err := e2.pl.Claim(t.Context(), "d0000000-0000-4000-8000-000000000009", "x", "x",
		pc.AllocationRequest{Allocations: map[string]pc.Resources{other: {Resources: map[string]int64{"MEMORY_MB": 1024}}}}); err != nil {
		t.Fatal(err)
	}
	sel, err := s.Select(t.Context(), e2.inst(), small, nil)
	if err != nil || sel.NodeUUID != first.NodeUUID {
		t.Errorf("after a lost claim: %+v %v, want the first host again", sel, err)
	}
}
