package scheduler

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// hostState is one candidate: a compute node with its service,
// aggregates and zone, placement's view of its resources, and the
// allocation to claim there.
type hostState struct {
	node   *instances.ComputeNode
	svc    *instances.Service
	aggs   []*instances.Aggregate
	zone   string
	free   map[string]int64 // capacity - used by class, as placement said (and this scheduler claimed since)
	alloc  placementclient.AllocationRequest
	weight float64
}

// hostStates turns candidates into host states, one per node (the first
// allocation request of each), in placement's order.
func (s *Scheduler) hostStates(hc *hostCache, cands placementclient.Candidates) []*hostState {
	seen := map[string]bool{}
	out := make([]*hostState, 0, len(cands.AllocationRequests))
	for _, ar := range cands.AllocationRequests {
		n := nodeOf(hc, cands, ar)
		if n == nil || seen[n.UUID] {
			continue
		}
		seen[n.UUID] = true
		h := &hostState{node: n, svc: hc.services[n.Host], aggs: hc.aggs[n.Host],
			free: map[string]int64{}, alloc: ar, zone: s.o.DefaultZone}
		for rc, c := range cands.ProviderSummaries[n.UUID].Resources {
			h.free[rc] = c.Capacity - c.Used
		}
		for _, a := range h.aggs {
			if a.AvailabilityZone != "" {
				h.zone = a.AvailabilityZone
				break
			}
		}
		out = append(out, h)
	}
	return out
}

// A filter says whether a host may take the request.
type filter struct {
	name string
	pass func(s *Scheduler, r *request, h *hostState) bool
}

// filters are Nova's, in its default order and the few others asked of
// Nimbus.
var filters = []filter{
	{"ComputeFilter", computeFilter},
	{"AvailabilityZoneFilter", zoneFilter},
	{"AggregateMultiTenancyIsolation", tenancyFilter},
	{"AggregateInstanceExtraSpecsFilter", aggregateSpecsFilter},
	{"ComputeCapabilitiesFilter", capabilitiesFilter},
	{"ImagePropertiesFilter", imagePropertiesFilter},
	{"ServerGroupAntiAffinityFilter", antiAffinityFilter},
	{"ServerGroupAffinityFilter", affinityFilter},
	{"SameHostFilter", sameHostFilter},
	{"DifferentHostFilter", differentHostFilter},
}

// filter drops ignored hosts, keeps only forced ones (which skip the
// other filters, as Nova's force_hosts), then runs the filters in turn,
// logging the one that left no host.
func (s *Scheduler) filter(r *request, hosts []*hostState) []*hostState {
	hosts = slices.DeleteFunc(hosts, func(h *hostState) bool { return r.ignore[h.node.Host] })
	if f := r.Spec.ForceHost; f != "" || r.Spec.ForceNode != "" {
		return slices.DeleteFunc(hosts, func(h *hostState) bool {
			return (f != "" && h.node.Host != f) || (r.Spec.ForceNode != "" && h.node.HypervisorHostname != r.Spec.ForceNode) ||
				!serviceUp(s, h)
		})
	}
	for _, f := range filters {
		before := len(hosts)
		hosts = slices.DeleteFunc(hosts, func(h *hostState) bool { return !f.pass(s, r, h) })
		if len(hosts) == 0 {
			s.log.Info("filter returned 0 hosts", "filter", f.name, "instance", r.UUID, "hosts", before)
			return nil
		}
	}
	return hosts
}

func serviceUp(s *Scheduler, h *hostState) bool {
	return h.svc != nil && !h.svc.ForcedDown && s.o.now().Sub(h.svc.LastSeenUp) <= rpc.DownTime
}

// computeFilter: the host's service is up, enabled and not forced down.
func computeFilter(s *Scheduler, _ *request, h *hostState) bool {
	return serviceUp(s, h) && !h.svc.Disabled
}

// zoneFilter: the host is in the zone asked for (none asked: any).
func zoneFilter(_ *Scheduler, r *request, h *hostState) bool {
	return r.Spec.AvailabilityZone == "" || r.Spec.AvailabilityZone == h.zone
}

// tenancyFilter: a host in aggregates with filter_tenant_id metadata
// (or filter_tenant_id_*) takes only those projects' instances.
func tenancyFilter(_ *Scheduler, r *request, h *hostState) bool {
	restricted := false
	for _, a := range h.aggs {
		for k, v := range a.Metadata {
			if k != "filter_tenant_id" && !strings.HasPrefix(k, "filter_tenant_id_") {
				continue
			}
			restricted = true
			for p := range strings.SplitSeq(v, ",") {
				if strings.TrimSpace(p) == r.ProjectID {
					return true
				}
			}
		}
	}
	return !restricted
}

// aggregateSpecsFilter: each aggregate_instance_extra_specs:KEY extra
// spec of the flavor matches the KEY metadata of one of the host's
// aggregates (values there are comma lists), with capabilities'
// operators.
func aggregateSpecsFilter(_ *Scheduler, r *request, h *hostState) bool {
	for k, want := range r.Flavor.ExtraSpecs {
		key, ok := strings.CutPrefix(k, "aggregate_instance_extra_specs:")
		if !ok {
			continue
		}
		found := false
		for _, a := range h.aggs {
			v, ok := a.Metadata[key]
			if !ok {
				continue
			}
			for item := range strings.SplitSeq(v, ",") {
				if matchSpec(strings.TrimSpace(item), want) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// capabilitiesFilter: each capabilities:KEY extra spec matches the
// host's KEY: hypervisor_type, hypervisor_version, hypervisor_hostname,
// vcpus, memory_mb, local_gb, host, or cpu_info:FIELD (arch, vendor,
// model).
func capabilitiesFilter(_ *Scheduler, r *request, h *hostState) bool {
	var cpu map[string]any
	for k, want := range r.Flavor.ExtraSpecs {
		key, ok := strings.CutPrefix(k, "capabilities:")
		if !ok {
			continue
		}
		var have string
		switch key {
		case "hypervisor_type":
			have = h.node.HypervisorType
		case "hypervisor_version":
			have = strconv.Itoa(h.node.HypervisorVersion)
		case "hypervisor_hostname":
			have = h.node.HypervisorHostname
		case "host":
			have = h.node.Host
		case "vcpus":
			have = strconv.Itoa(h.node.VCPUs)
		case "memory_mb":
			have = strconv.Itoa(h.node.MemoryMB)
		case "local_gb":
			have = strconv.Itoa(h.node.LocalGB)
		default:
			field, ok := strings.CutPrefix(key, "cpu_info:")
			if !ok {
				return false
			}
			if cpu == nil {
				cpu = map[string]any{}
				_ = json.Unmarshal([]byte(h.node.CPUInfo), &cpu)
			}
			v, ok := cpu[field].(string)
			if !ok {
				return false
			}
			have = v
		}
		if !matchSpec(have, want) {
			return false
		}
	}
	return true
}

// hostArch is the architecture in a node's cpu_info ("x86_64" when it
// says none).
func hostArch(n *instances.ComputeNode) string {
	var cpu struct {
		Arch string `json:"arch"`
	}
	_ = json.Unmarshal([]byte(n.CPUInfo), &cpu)
	if cpu.Arch == "" {
		return "x86_64"
	}
	return cpu.Arch
}

// imagePropertiesFilter: the image's hw_architecture (architecture) and
// img_hv_type (hypervisor_type) are the host's. A fake host, like Nova's
// fake driver that lists no supported instances, takes every image.
func imagePropertiesFilter(_ *Scheduler, r *request, h *hostState) bool {
	if strings.EqualFold(h.node.HypervisorType, "fake") {
		return true
	}
	p := r.Spec.Image.Properties
	arch := p["hw_architecture"]
	if arch == "" {
		arch = p["architecture"]
	}
	if arch != "" && canonArch(arch) != canonArch(hostArch(h.node)) {
		return false
	}
	hv := p["img_hv_type"]
	if hv == "" {
		hv = p["hypervisor_type"]
	}
	if hv != "" {
		hv = strings.ToLower(hv)
		ht := strings.ToLower(h.node.HypervisorType)
		// A QEMU host runs KVM guests too (libvirt reports both).
		if hv != ht && !(ht == "qemu" && hv == "kvm") {
			return false
		}
	}
	return true
}

func canonArch(a string) string {
	switch a = strings.ToLower(a); a {
	case "amd64", "x64", "x86-64":
		return "x86_64"
	case "i386", "i486", "i586", "i686", "ia32":
		return "i686"
	case "arm64":
		return "aarch64"
	}
	return a
}

// antiAffinityFilter: an anti-affinity group's members are on other
// hosts (up to max_server_per_host of them on one, 2.64).
func antiAffinityFilter(_ *Scheduler, r *request, h *hostState) bool {
	if r.group == nil || r.group.Policy != "anti-affinity" {
		return true
	}
	limit := 1
	if v, err := strconv.Atoi(r.group.Rules["max_server_per_host"]); err == nil && v > 0 {
		limit = v
	}
	return r.groupHosts[h.node.Host] < limit
}

// affinityFilter: an affinity group's members are on this host, or none
// is placed yet.
func affinityFilter(_ *Scheduler, r *request, h *hostState) bool {
	if r.group == nil || r.group.Policy != "affinity" || len(r.groupHosts) == 0 {
		return true
	}
	return r.groupHosts[h.node.Host] > 0
}

// sameHostFilter: the host runs one of the instances of the same_host
// hint (with the hint naming none that is placed, no host).
func sameHostFilter(_ *Scheduler, r *request, h *hostState) bool {
	return r.sameHosts == nil || r.sameHosts[h.node.Host]
}

// differentHostFilter: the host runs none of the different_host hint's.
func differentHostFilter(_ *Scheduler, r *request, h *hostState) bool {
	return !r.differentHosts[h.node.Host]
}

// matchSpec is Nova's extra_specs_ops.match: want is a value, or an
// operator and operands: "=" (at least, numerically), "==", "!=", ">=",
// "<=" (numbers), "s==", "s!=", "s<", "s<=", "s>", "s>=" (strings),
// "<in>" (substring), "<all-in>" (all of a list), "<or>" (one of).
func matchSpec(have, want string) bool {
	words := strings.Fields(want)
	if len(words) == 0 {
		return have == ""
	}
	op := words[0]
	args := words[1:]
	num := func(s string) (float64, bool) {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	numOp := func(cmp func(a, b float64) bool) bool {
		if len(args) != 1 {
			return false
		}
		a, ok1 := num(have)
		b, ok2 := num(args[0])
		return ok1 && ok2 && cmp(a, b)
	}
	arg := strings.Join(args, " ")
	switch op {
	case "=":
		return numOp(func(a, b float64) bool { return a >= b })
	case "==":
		return numOp(func(a, b float64) bool { return a == b })
	case "!=":
		return numOp(func(a, b float64) bool { return a != b })
	case ">=":
		return numOp(func(a, b float64) bool { return a >= b })
	case "<=":
		return numOp(func(a, b float64) bool { return a <= b })
	case "s==":
		return have == arg
	case "s!=":
		return have != arg
	case "s<":
		return have < arg
	case "s<=":
		return have <= arg
	case "s>":
		return have > arg
	case "s>=":
		return have >= arg
	case "<in>":
		return strings.Contains(have, arg)
	case "<all-in>":
		for _, a := range args {
			if !strings.Contains(have, a) {
				return false
			}
		}
		return len(args) > 0
	case "<or>":
		for _, a := range strings.Split(arg, "<or>") {
			if strings.TrimSpace(a) == have {
				return true
			}
		}
		return false
	}
	// A plain value; "<or>" may also appear after the first operand.
	if strings.Contains(want, "<or>") {
		for _, a := range strings.Split(want, "<or>") {
			if strings.TrimSpace(a) == have {
				return true
			}
		}
		return false
	}
	return have == want
}

// softGroupMultiplier weighs the soft server group policies. Nova's 1.0
// lets the three spread weighers (up to 3 between them) overrule a
// soft-affinity group as soon as its first member takes room; 10 makes
// the policy win unless the filters rule a host out, which is what its
// users ask for.
const softGroupMultiplier = 10.0

// weigh sets each host's weight and sorts the hosts best first, as
// Nova's weighers: each weigher's raw values normalised to 0..1 over the
// hosts, times its multiplier, summed. RAM, CPU and disk weighers spread
// (multiplier 1: more free is better); the soft server group weighers
// count members on the host (soft-affinity +, soft-anti-affinity -).
func weigh(r *request, hosts []*hostState) {
	free := func(rc string) func(h *hostState) float64 {
		return func(h *hostState) float64 {
			return float64(h.free[rc])
		}
	}
	weighers := []struct {
		mult float64
		raw  func(h *hostState) float64
	}{
		{1.0, free("MEMORY_MB")},
		{1.0, free("VCPU")},
		{1.0, free("DISK_GB")},
	}
	if r.group != nil {
		members := func(h *hostState) float64 { return float64(r.groupHosts[h.node.Host]) }
		switch r.group.Policy {
		case "soft-affinity":
			weighers = append(weighers, struct {
				mult float64
				raw  func(h *hostState) float64
			}{softGroupMultiplier, members})
		case "soft-anti-affinity":
			weighers = append(weighers, struct {
				mult float64
				raw  func(h *hostState) float64
			}{-softGroupMultiplier, members})
		}
	}
	raw := make([]float64, len(hosts))
	for _, w := range weighers {
		lo, hi := 0.0, 0.0
		for i, h := range hosts {
			raw[i] = w.raw(h)
			if i == 0 || raw[i] < lo {
				lo = raw[i]
			}
			if i == 0 || raw[i] > hi {
				hi = raw[i]
			}
		}
		for i, h := range hosts {
			if hi > lo {
				h.weight += w.mult * (raw[i] - lo) / (hi - lo)
			}
		}
	}
	// Stable: among equals placement's order (which varies) decides.
	slices.SortStableFunc(hosts, func(a, b *hostState) int {
		switch {
		case a.weight > b.weight:
			return -1
		case a.weight < b.weight:
			return 1
		}
		return 0
	})
}
