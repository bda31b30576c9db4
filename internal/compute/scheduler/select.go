package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
)

// Request is what scheduling one instance needs: the instance's identity
// and its request spec, the flavor to place (the new one for a resize),
// and hosts not to pick.
type Request struct {
	V           int                   `json:"v"`
	UUID        string                `json:"uuid"`
	ProjectID   string                `json:"project_id"`
	UserID      string                `json:"user_id"`
	Flavor      instances.Flavor      `json:"flavor"`
	Spec        instances.RequestSpec `json:"spec"`
	IgnoreHosts []string              `json:"ignore_hosts,omitempty"`
}

// RequestOf is the Request to schedule inst with flavor.
func RequestOf(inst *instances.Instance, flavor instances.Flavor, ignoreHosts []string) Request {
	return Request{V: 1, UUID: inst.UUID, ProjectID: inst.ProjectID, UserID: inst.UserID,
		Flavor: flavor, Spec: inst.Spec, IgnoreHosts: ignoreHosts}
}

// Select picks a host for inst with flavor, not one of ignoreHosts, and
// claims the flavor's resources there in placement for inst.UUID.
func (s *Scheduler) Select(ctx context.Context, inst *instances.Instance, flavor instances.Flavor, ignoreHosts []string) (Selection, error) {
	return s.SelectRequest(ctx, RequestOf(inst, flavor, ignoreHosts))
}

// SelectRequest is Select of a Request (as the bus carries it).
func (s *Scheduler) SelectRequest(ctx context.Context, r Request) (Selection, error) {
	if r.Spec.Group != "" {
		defer s.lockGroup(r.Spec.Group)()
	}
	q := candidatesQuery(r.Flavor, r.Spec.Image)
	q.Limit = s.o.MaxCandidates
	snap, err := s.candidates(ctx, q)
	if err != nil {
		return Selection{}, fmt.Errorf("allocation candidates for %s: %w", r.UUID, err)
	}
	snap.mu.RLock()
	cands := snap.cands
	if len(cands.AllocationRequests) == 0 {
		snap.mu.RUnlock()
		s.log.Info("placement has no allocation candidates", "instance", r.UUID, "resources", q.Encode())
		return Selection{}, &NoValidHost{Reason: notEnough}
	}
	hc, err := s.hosts(ctx, false)
	if err == nil && unknownProvider(hc, cands) {
		hc, err = s.hosts(ctx, true)
	}
	var hosts []*hostState
	if err == nil {
		hosts = s.hostStates(hc, cands)
	}
	snap.mu.RUnlock()
	if err != nil {
		return Selection{}, err
	}
	if snap.shared {
		// A snapshot may be behind: leave out what no longer fits.
		hosts = slices.DeleteFunc(hosts, func(h *hostState) bool {
			for rc, n := range q.Resources {
				if n > 0 && h.free[rc] < n {
					return true
				}
			}
			return false
		})
	}
	req, err := s.prepare(ctx, r)
	if err != nil {
		return Selection{}, err
	}
	hosts = s.filter(req, hosts)
	if len(hosts) == 0 {
		return Selection{}, &NoValidHost{Reason: notEnough}
	}
	weigh(req, hosts)
	for _, h := range hosts {
		err := s.o.Placement.Claim(ctx, r.UUID, r.ProjectID, r.UserID, h.alloc)
		if placementclient.IsConflict(err) {
			s.log.Debug("claim lost, trying the next host", "instance", r.UUID, "host", h.node.Host, "err", err)
			snap.markStale()
			continue
		}
		if err != nil {
			return Selection{}, fmt.Errorf("claim %s on %s: %w", r.UUID, h.node.Host, err)
		}
		snap.claimed(h.alloc)
		if req.group != nil {
			s.pending.add(req.group.UUID, r.UUID, h.node.Host, s.o.now())
		}
		sel := Selection{Host: h.node.Host, Node: h.node.HypervisorHostname, NodeUUID: h.node.UUID,
			Zone: h.zone, Claimed: map[string]map[string]int64{}}
		for rp, res := range h.alloc.Allocations {
			sel.Claimed[rp] = res.Resources
		}
		return sel, nil
	}
	return Selection{}, &NoValidHost{Reason: notEnough}
}

// snapshot is an allocation candidates answer. Unless shared it serves
// one request; shared ones (Options.CandidateCacheTTL) serve every
// request with the same query for a while, and count this scheduler's
// claims as used.
type snapshot struct {
	mu     sync.RWMutex
	cands  placementclient.Candidates
	at     time.Time
	shared bool
	stale  bool
}

func (p *snapshot) markStale() {
	if p.shared {
		p.mu.Lock()
		p.stale = true
		p.mu.Unlock()
	}
}

func (p *snapshot) claimed(ar placementclient.AllocationRequest) {
	if !p.shared {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for rp, res := range ar.Allocations {
		sum, ok := p.cands.ProviderSummaries[rp]
		if !ok {
			continue
		}
		for rc, n := range res.Resources {
			c := sum.Resources[rc]
			c.Used += n
			sum.Resources[rc] = c
		}
	}
}

// candidates asks placement for q, or answers a shared snapshot of it
// while fresh.
func (s *Scheduler) candidates(ctx context.Context, q placementclient.CandidatesQuery) (*snapshot, error) {
	if s.o.CandidateCacheTTL <= 0 {
		c, err := s.o.Placement.AllocationCandidates(ctx, q)
		return &snapshot{cands: c}, err
	}
	key := q.Encode()
	s.snapMu.Lock()
	p := s.snaps[key]
	s.snapMu.Unlock()
	if p != nil {
		p.mu.RLock()
		fresh := !p.stale && s.o.now().Sub(p.at) < s.o.CandidateCacheTTL
		p.mu.RUnlock()
		if fresh {
			return p, nil
		}
	}
	// One refresh per query at a time; the others wait for it.
	s.snapMu.Lock()
	if s.snapLoad == nil {
		s.snapLoad = map[string]*sync.Mutex{}
		s.snaps = map[string]*snapshot{}
	}
	l := s.snapLoad[key]
	if l == nil {
		l = &sync.Mutex{}
		s.snapLoad[key] = l
	}
	s.snapMu.Unlock()
	l.Lock()
	defer l.Unlock()
	s.snapMu.Lock()
	if cur := s.snaps[key]; cur != nil && cur != p {
		s.snapMu.Unlock()
		return cur, nil // refreshed while we waited
	}
	s.snapMu.Unlock()
	c, err := s.o.Placement.AllocationCandidates(ctx, q)
	if err != nil {
		return nil, err
	}
	np := &snapshot{cands: c, at: s.o.now(), shared: true}
	s.snapMu.Lock()
	s.snaps[key] = np
	s.snapMu.Unlock()
	return np, nil
}

// candidatesQuery is the placement query for flavor and image, as Nova's
// ResourceRequest: the flavor's VCPU, MEMORY_MB and DISK_GB (root +
// ephemeral + swap in GiB, rounded up), overridden by its
// resources:CLASS extra specs (0 drops a class), with the required and
// forbidden traits of its trait:NAME extra specs and of the image's
// trait:NAME properties.
func candidatesQuery(f instances.Flavor, img instances.Image) placementclient.CandidatesQuery {
	res := map[string]int64{
		"VCPU":      f.VCPUs,
		"MEMORY_MB": f.MemoryMB,
		"DISK_GB":   f.RootGB + f.EphemeralGB + (f.SwapMB+1023)/1024,
	}
	q := placementclient.CandidatesQuery{Resources: res}
	traits := func(props map[string]string) {
		for _, k := range slices.Sorted(mapKeys(props)) {
			name, ok := strings.CutPrefix(k, "trait:")
			if !ok || name == "" {
				continue
			}
			switch props[k] {
			case "required":
				q.Required = append(q.Required, name)
			case "forbidden":
				q.Forbidden = append(q.Forbidden, name)
			}
		}
	}
	for k, v := range f.ExtraSpecs {
		rc, ok := strings.CutPrefix(k, "resources:")
		if !ok || rc == "" {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			res[rc] = n
		}
	}
	traits(f.ExtraSpecs)
	traits(img.Properties)
	return q
}

// FlavorResources is what an instance of flavor f holds in placement,
// by resource class (the classes it asks none of left out).
func FlavorResources(f instances.Flavor) map[string]int64 {
	res := candidatesQuery(f, instances.Image{}).Resources
	for rc, n := range res {
		if n <= 0 {
			delete(res, rc)
		}
	}
	return res
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// unknownProvider reports whether a candidate names no node the cache
// knows: a host whose first heartbeat came after the cache was read.
func unknownProvider(hc *hostCache, cands placementclient.Candidates) bool {
	for _, ar := range cands.AllocationRequests {
		if nodeOf(hc, cands, ar) == nil {
			return true
		}
	}
	return false
}

// nodeOf is the compute node an allocation request is on: the provider
// (or the root of its tree) that is a compute node.
func nodeOf(hc *hostCache, cands placementclient.Candidates, ar placementclient.AllocationRequest) *instances.ComputeNode {
	for rp := range ar.Allocations {
		if n := hc.nodes[rp]; n != nil {
			return n
		}
		if root := cands.ProviderSummaries[rp].RootUUID; root != "" {
			if n := hc.nodes[root]; n != nil {
				return n
			}
		}
	}
	return nil
}

// request is a Request with what the filters and weighers need read.
type request struct {
	Request
	ignore map[string]bool
	group  *instances.ServerGroup
	// groupHosts counts the group's other members on each host.
	groupHosts map[string]int
	// sameHosts/differentHosts are the hosts of the instances named by
	// the same_host/different_host hints (nil without the hint).
	sameHosts, differentHosts map[string]bool
}

func (s *Scheduler) prepare(ctx context.Context, r Request) (*request, error) {
	req := &request{Request: r, ignore: map[string]bool{}}
	for _, h := range r.IgnoreHosts {
		req.ignore[h] = true
	}
	if r.Spec.Group != "" {
		g, err := s.o.Hosts.GetServerGroup(ctx, r.Spec.Group)
		if err != nil && !errors.Is(err, instances.ErrNotFound) {
			return nil, fmt.Errorf("server group %s: %w", r.Spec.Group, err)
		}
		if g != nil {
			req.group = g
			req.groupHosts = map[string]int{}
			placed := map[string]string{}
			for _, m := range g.Members {
				if m == r.UUID {
					continue
				}
				inst, err := s.o.Hosts.Get(ctx, m, false)
				if err == nil && inst.Host != "" {
					placed[m] = inst.Host
				}
			}
			// Members this scheduler placed that the database does not
			// show yet (the conductor is writing them) count too.
			for m, h := range s.pending.hosts(g.UUID, s.o.now()) {
				if _, ok := placed[m]; !ok && m != r.UUID {
					placed[m] = h
				}
			}
			for _, h := range placed {
				req.groupHosts[h]++
			}
		}
	}
	hostsOf := func(uuids []string) (map[string]bool, error) {
		out := map[string]bool{}
		for _, u := range uuids {
			for u := range strings.SplitSeq(u, ",") {
				inst, err := s.o.Hosts.Get(ctx, strings.TrimSpace(u), false)
				if errors.Is(err, instances.ErrNotFound) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("scheduler hint instance %s: %w", u, err)
				}
				if inst.Host != "" {
					out[inst.Host] = true
				}
			}
		}
		return out, nil
	}
	var err error
	if v, ok := r.Spec.SchedulerHints["same_host"]; ok {
		if req.sameHosts, err = hostsOf(v); err != nil {
			return nil, err
		}
	}
	if v, ok := r.Spec.SchedulerHints["different_host"]; ok {
		if req.differentHosts, err = hostsOf(v); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// pendingGroups remembers the hosts this scheduler gave group members
// lately, so that members scheduled at once (a multi-create into an
// anti-affinity group) see one another before the conductor records
// them. Entries expire after pendingTTL.
type pendingGroups struct {
	mu sync.Mutex
	m  map[string]map[string]pendingHost // group -> instance -> host
}

type pendingHost struct {
	host string
	at   time.Time
}

const pendingTTL = 2 * time.Minute

func (p *pendingGroups) add(group, uuid, host string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]map[string]pendingHost{}
	}
	if p.m[group] == nil {
		p.m[group] = map[string]pendingHost{}
	}
	p.m[group][uuid] = pendingHost{host, now}
}

func (p *pendingGroups) hosts(group string, now time.Time) map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for uuid, ph := range p.m[group] {
		if now.Sub(ph.at) > pendingTTL {
			delete(p.m[group], uuid)
			continue
		}
		out[uuid] = ph.host
	}
	if len(p.m[group]) == 0 {
		delete(p.m, group)
	}
	return out
}
