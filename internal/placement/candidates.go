package placement

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const sharesTrait = "MISC_SHARES_VIA_AGGREGATE"

// RequestGroup is one group of GET /allocation_candidates: the unnumbered
// one (Suffix "", resources may come from several providers of a tree and
// sharing providers) or a granular one (all from one provider).
type RequestGroup struct {
	Suffix        string
	Resources     map[string]int64
	Required      [][]string // AND of ORs
	Forbidden     []string
	MemberOf      [][]string // AND of ORs
	ForbiddenAggs []string
	InTree        string
}

func (g *RequestGroup) sameProvider() bool { return g.Suffix != "" }

// CandidateRequest is a whole allocation candidates query.
type CandidateRequest struct {
	Groups        []*RequestGroup // in the order of the query string
	Limit         int             // 0 = all
	GroupPolicy   string          // "", "none" or "isolate"
	RootRequired  []string
	RootForbidden []string
	SameSubtrees  [][]string
	NestedAware   bool // 1.29: a group may spread over a tree
}

// Candidates is the answer: allocation requests and summaries of the
// providers involved.
type Candidates struct {
	Requests  []*AllocationRequest
	Summaries []*ProviderSummary
}

// AllocationRequest is one way to satisfy the whole request.
type AllocationRequest struct {
	anchor       string
	sameProvider bool
	Resources    []RequestResource
	Mappings     map[string][]string // group suffix -> providers
}

// RequestResource is an amount of a class from a provider.
type RequestResource struct {
	Provider, Class string
	Amount          int64
}

// ProviderSummary describes a provider of the trees in the answer.
type ProviderSummary struct {
	Provider *Provider
	Capacity map[string][2]int64 // class -> {capacity, used}
	Traits   []string
}

// snapshot is the state candidates are computed from, read in one
// transaction.
type snapshot struct {
	providers map[string]*Provider
	order     []string // creation order, for stable answers
	rank      map[string]int
	inv       map[string]map[string]Inventory
	used      map[string]map[string]int64
	traits    map[string]map[string]bool
	aggs      map[string]map[string]bool
	byAgg     map[string][]string
	hasTrees  bool
	sharing   map[string]bool
}

func loadSnapshot(ctx context.Context, q querier) (*snapshot, error) {
	s := &snapshot{providers: map[string]*Provider{}, rank: map[string]int{}, inv: map[string]map[string]Inventory{},
		used: map[string]map[string]int64{}, traits: map[string]map[string]bool{}, aggs: map[string]map[string]bool{},
		byAgg: map[string][]string{}, sharing: map[string]bool{}}
	ps, err := listProviders(ctx, q, "")
	if err != nil {
		return nil, err
	}
	for i, p := range ps {
		s.providers[p.UUID], s.rank[p.UUID] = p, i
		s.order = append(s.order, p.UUID)
		if p.ParentUUID != "" {
			s.hasTrees = true
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT provider_uuid, resource_class, total, reserved, min_unit, max_unit, step_size,
		allocation_ratio FROM inventories`)
	if err != nil {
		return nil, fmt.Errorf("load inventories: %w", err)
	}
	for rows.Next() {
		var rp string
		var i Inventory
		if err := rows.Scan(&rp, &i.ResourceClass, &i.Total, &i.Reserved, &i.MinUnit, &i.MaxUnit, &i.Step, &i.AllocationRatio); err != nil {
			rows.Close()
			return nil, err
		}
		if s.inv[rp] == nil {
			s.inv[rp] = map[string]Inventory{}
		}
		s.inv[rp][i.ResourceClass] = i
	}
	rows.Close()
	pairs := func(query string, into func(a, b string)) error {
		rows, err := q.QueryContext(ctx, query)
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				return err
			}
			into(a, b)
		}
		return rows.Err()
	}
	if err := pairs(`SELECT provider_uuid, trait FROM provider_traits`, func(rp, t string) {
		if s.traits[rp] == nil {
			s.traits[rp] = map[string]bool{}
		}
		s.traits[rp][t] = true
		if t == sharesTrait {
			s.sharing[rp] = true
		}
	}); err != nil {
		return nil, err
	}
	if err := pairs(`SELECT provider_uuid, aggregate_uuid FROM provider_aggregates ORDER BY aggregate_uuid`, func(rp, a string) {
		if s.aggs[rp] == nil {
			s.aggs[rp] = map[string]bool{}
		}
		s.aggs[rp][a] = true
		s.byAgg[a] = append(s.byAgg[a], rp)
	}); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, `SELECT provider_uuid, resource_class, SUM(used) FROM allocations GROUP BY provider_uuid, resource_class`)
	if err != nil {
		return nil, fmt.Errorf("load usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rp, rc string
		var n int64
		if err := rows.Scan(&rp, &rc, &n); err != nil {
			return nil, err
		}
		if s.used[rp] == nil {
			s.used[rp] = map[string]int64{}
		}
		s.used[rp][rc] = n
	}
	return s, rows.Err()
}

type set map[string]bool

func (s set) sorted(rank map[string]int) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return rank[out[i]] < rank[out[j]] })
	return out
}

// inAggs is the set of providers in every one of the OR-groups.
func (s *snapshot) inAggs(memberOf [][]string) set {
	out := set{}
	for _, rp := range s.order {
		ok := true
		for _, any := range memberOf {
			hit := false
			for _, a := range any {
				if s.aggs[rp][a] {
					hit = true
					break
				}
			}
			if !hit {
				ok = false
				break
			}
		}
		if ok {
			out[rp] = true
		}
	}
	return out
}

func (s *snapshot) hasTraits(rp string, required [][]string) bool {
	for _, any := range required {
		hit := false
		for _, t := range any {
			if s.traits[rp][t] {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

func (s *snapshot) hasAny(rp string, traits []string) bool {
	for _, t := range traits {
		if s.traits[rp][t] {
			return true
		}
	}
	return false
}

func (s *snapshot) inAnyAgg(rp string, aggs []string) bool {
	for _, a := range aggs {
		if s.aggs[rp][a] {
			return true
		}
	}
	return false
}

// anchors are the roots of the trees a sharing provider shares with: of
// every provider in one of its aggregates, itself included.
func (s *snapshot) anchors(rp string) []string {
	roots := set{}
	for a := range s.aggs[rp] {
		for _, other := range s.byAgg[a] {
			roots[s.providers[other].RootUUID] = true
		}
	}
	return roots.sorted(s.rank)
}

// withRoom is the set of providers (in tree root, if set) that can serve
// amount of rc.
func (s *snapshot) withRoom(rc string, amount int64, root string) set {
	out := set{}
	for _, rp := range s.order {
		if root != "" && s.providers[rp].RootUUID != root {
			continue
		}
		if inv, ok := s.inv[rp][rc]; ok && inv.fits(s.used[rp][rc], amount) {
			out[rp] = true
		}
	}
	return out
}

// AllocationCandidates answers GET /allocation_candidates.
func (s *Service) AllocationCandidates(ctx context.Context, pr *authn.Principal, req *CandidateRequest) (*Candidates, error) {
	if err := s.authorize(pr, candidatesList, nil); err != nil {
		return nil, err
	}
	var out *Candidates
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var classes, traits []string
		for _, g := range req.Groups {
			for rc := range g.Resources {
				classes = append(classes, rc)
			}
			traits = append(traits, flatten(g.Required, g.Forbidden)...)
		}
		sort.Strings(classes)
		if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", classes); err != nil {
			return fault.BadRequestf("Invalid resource class in resources parameter: %s", err.(*fault.Error).Msg)
		}
		traits = append(traits, req.RootRequired...)
		traits = append(traits, req.RootForbidden...)
		if err := checkNames(ctx, tx, "traits", "No such trait(s): %s.", traits); err != nil {
			return err
		}
		snap, err := loadSnapshot(ctx, tx)
		if err != nil {
			return err
		}
		out = s.candidates(snap, req)
		return nil
	})
	return out, err
}

func (s *Service) candidates(snap *snapshot, req *CandidateRequest) *Candidates {
	empty := &Candidates{}
	var anchorOK func(string) bool = func(string) bool { return true }
	if len(req.RootRequired) > 0 || len(req.RootForbidden) > 0 {
		roots := set{}
		for _, rp := range snap.order {
			p := snap.providers[rp]
			if p.ParentUUID != "" {
				continue
			}
			ok := !snap.hasAny(rp, req.RootForbidden)
			for _, t := range req.RootRequired {
				ok = ok && snap.traits[rp][t]
			}
			if ok {
				roots[rp] = true
			}
		}
		if len(roots) == 0 {
			return empty
		}
		anchorOK = func(r string) bool { return roots[r] }
	}
	perGroup := map[string][]*AllocationRequest{}
	for _, g := range req.Groups {
		var areqs []*AllocationRequest
		if !g.sameProvider() && (len(snap.sharing) > 0 || snap.hasTrees) {
			areqs = spreadCandidates(snap, g, anchorOK)
		} else {
			areqs = singleCandidates(snap, g, anchorOK)
		}
		if len(areqs) == 0 {
			return empty
		}
		perGroup[g.Suffix] = areqs
	}
	areqs := s.merge(snap, req, perGroup)
	if len(areqs) == 0 {
		return empty
	}
	if !req.NestedAware && snap.hasTrees {
		kept := areqs[:0]
		for _, a := range areqs {
			roots := set{}
			rps := set{}
			for _, r := range a.Resources {
				rps[r.Provider] = true
				roots[snap.providers[r.Provider].RootUUID] = true
			}
			if len(rps) == len(roots) {
				kept = append(kept, a)
			}
		}
		areqs = kept
	}
	if req.Limit > 0 && len(areqs) > req.Limit {
		areqs = areqs[:req.Limit]
	}
	show := set{}
	for _, a := range areqs {
		for _, r := range a.Resources {
			if req.NestedAware || !snap.hasTrees {
				show[snap.providers[r.Provider].RootUUID] = true
			} else {
				show[r.Provider] = true
			}
		}
	}
	var sums []*ProviderSummary
	for _, rp := range snap.order {
		p := snap.providers[rp]
		key := rp
		if req.NestedAware || !snap.hasTrees {
			key = p.RootUUID
		}
		if !show[key] {
			continue
		}
		ps := &ProviderSummary{Provider: p, Capacity: map[string][2]int64{}, Traits: []string{}}
		for rc, inv := range snap.inv[rp] {
			ps.Capacity[rc] = [2]int64{inv.Capacity(), snap.used[rp][rc]}
		}
		for t := range snap.traits[rp] {
			ps.Traits = append(ps.Traits, t)
		}
		sort.Strings(ps.Traits)
		sums = append(sums, ps)
	}
	return &Candidates{Requests: areqs, Summaries: sums}
}

// singleCandidates serves a group from one provider each: granular
// groups, and the unnumbered one where there are neither trees nor
// sharing providers.
func singleCandidates(snap *snapshot, g *RequestGroup, anchorOK func(string) bool) []*AllocationRequest {
	root := ""
	if g.InTree != "" {
		p := snap.providers[g.InTree]
		if p == nil {
			return nil
		}
		root = p.RootUUID
	}
	match := func(rp string) bool {
		if root != "" && snap.providers[rp].RootUUID != root {
			return false
		}
		if !snap.hasTraits(rp, g.Required) || snap.hasAny(rp, g.Forbidden) || snap.inAnyAgg(rp, g.ForbiddenAggs) {
			return false
		}
		if len(g.MemberOf) > 0 && !snap.inAggs(g.MemberOf)[rp] {
			return false
		}
		for rc, amount := range g.Resources {
			inv, ok := snap.inv[rp][rc]
			if !ok || !inv.fits(snap.used[rp][rc], amount) {
				return false
			}
		}
		return true
	}
	var out []*AllocationRequest
	for _, rp := range snap.order {
		if !match(rp) {
			continue
		}
		a := &AllocationRequest{anchor: snap.providers[rp].RootUUID, sameProvider: g.sameProvider(),
			Mappings: map[string][]string{g.Suffix: {rp}}}
		for _, rc := range sortedKeys(g.Resources) {
			a.Resources = append(a.Resources, RequestResource{Provider: rp, Class: rc, Amount: g.Resources[rc]})
		}
		if anchorOK(a.anchor) {
			out = append(out, a)
		}
		if snap.sharing[rp] {
			for _, anchor := range snap.anchors(rp) {
				if anchor == a.anchor || !anchorOK(anchor) {
					continue
				}
				c := *a
				c.anchor = anchor
				out = append(out, &c)
			}
		}
	}
	return out
}

// spreadCandidates serves the unnumbered group from any providers of one
// tree plus the sharing providers that tree shares an aggregate with.
func spreadCandidates(snap *snapshot, g *RequestGroup, anchorOK func(string) bool) []*AllocationRequest {
	root := ""
	if g.InTree != "" {
		p := snap.providers[g.InTree]
		if p == nil {
			return nil
		}
		root = p.RootUUID
	}
	var inAggs set
	if len(g.MemberOf) > 0 {
		inAggs = snap.inAggs(g.MemberOf)
		if len(inAggs) == 0 {
			return nil
		}
	}
	var badAggs set
	if len(g.ForbiddenAggs) > 0 {
		badAggs = snap.inAggs([][]string{g.ForbiddenAggs})
	}
	if len(g.Required) > 0 {
		any := false
		for _, rp := range snap.order {
			if snap.hasAny(rp, flatten(g.Required)) {
				any = true
				break
			}
		}
		if !any {
			return nil
		}
	}
	type cand struct{ rp, anchor string }
	// byAnchor[anchor][rc] = providers of the tree (or sharing it) with room.
	byAnchor := map[string]map[string][]string{}
	classes := sortedKeys(g.Resources)
	for i, rc := range classes {
		withRoom := snap.withRoom(rc, g.Resources[rc], root)
		if len(withRoom) == 0 {
			return nil
		}
		var cands []cand
		for _, rp := range withRoom.sorted(snap.rank) {
			cands = append(cands, cand{rp, snap.providers[rp].RootUUID})
		}
		if root == "" {
			for _, rp := range withRoom.sorted(snap.rank) {
				if !snap.sharing[rp] || (inAggs != nil && !inAggs[rp]) {
					continue
				}
				for _, anchor := range snap.anchors(rp) {
					if anchor != snap.providers[rp].RootUUID {
						cands = append(cands, cand{rp, anchor})
					}
				}
			}
		}
		got := map[string][]string{}
		for _, c := range cands {
			if !anchorOK(c.anchor) {
				continue
			}
			if inAggs != nil && !inAggs[c.rp] && !inAggs[c.anchor] {
				continue
			}
			if badAggs != nil && (badAggs[c.rp] || badAggs[c.anchor]) {
				continue
			}
			got[c.anchor] = append(got[c.anchor], c.rp)
		}
		if len(got) == 0 {
			return nil
		}
		if i == 0 {
			for anchor, rps := range got {
				byAnchor[anchor] = map[string][]string{rc: rps}
			}
			continue
		}
		for anchor := range byAnchor {
			if rps, ok := got[anchor]; ok {
				byAnchor[anchor][rc] = rps
			} else {
				delete(byAnchor, anchor)
			}
		}
		if len(byAnchor) == 0 {
			return nil
		}
	}
	anchors := set{}
	for a := range byAnchor {
		anchors[a] = true
	}
	var out []*AllocationRequest
	for _, anchor := range anchors.sorted(snap.rank) {
		choices := make([][]string, len(classes))
		for i, rc := range classes {
			choices[i] = byAnchor[anchor][rc]
		}
		product(choices, func(pick []string) {
			all := set{}
			for _, rp := range pick {
				if snap.hasAny(rp, g.Forbidden) {
					return
				}
				for t := range snap.traits[rp] {
					all[t] = true
				}
			}
			for _, any := range g.Required {
				hit := false
				for _, t := range any {
					hit = hit || all[t]
				}
				if !hit {
					return
				}
			}
			a := &AllocationRequest{anchor: anchor, Mappings: map[string][]string{}}
			used := set{}
			for i, rp := range pick {
				a.Resources = append(a.Resources, RequestResource{Provider: rp, Class: classes[i], Amount: g.Resources[classes[i]]})
				used[rp] = true
			}
			a.Mappings[g.Suffix] = used.sorted(snap.rank)
			out = append(out, a)
		})
	}
	return out
}

// product calls fn with every combination of one item from each list.
func product(lists [][]string, fn func([]string)) {
	pick := make([]string, len(lists))
	var walk func(i int)
	walk = func(i int) {
		if i == len(lists) {
			fn(append([]string(nil), pick...))
			return
		}
		for _, x := range lists[i] {
			pick[i] = x
			walk(i + 1)
		}
	}
	walk(0)
}

// merge combines one allocation request per group, anchored in the same
// tree, into requests for the whole query, dropping those that break the
// group policy, same_subtree or capacity.
func (s *Service) merge(snap *snapshot, req *CandidateRequest, perGroup map[string][]*AllocationRequest) []*AllocationRequest {
	byAnchor := map[string]map[string][]*AllocationRequest{}
	for suffix, areqs := range perGroup {
		for _, a := range areqs {
			if byAnchor[a.anchor] == nil {
				byAnchor[a.anchor] = map[string][]*AllocationRequest{}
			}
			byAnchor[a.anchor][suffix] = append(byAnchor[a.anchor][suffix], a)
		}
	}
	granular := 0
	for _, g := range req.Groups {
		if g.sameProvider() {
			granular++
		}
	}
	anchors := set{}
	for a := range byAnchor {
		anchors[a] = true
	}
	var out []*AllocationRequest
	seen := map[string]bool{}
	max := s.cfg.MaxAllocationCandidates
	for _, anchor := range anchors.sorted(snap.rank) {
		groups := byAnchor[anchor]
		if len(groups) != len(req.Groups) {
			continue
		}
		lists := make([][]*AllocationRequest, len(req.Groups))
		for i, g := range req.Groups {
			lists[i] = groups[g.Suffix]
		}
		stop := false
		productReqs(lists, func(pick []*AllocationRequest) bool {
			if req.GroupPolicy == "isolate" {
				distinct := set{}
				for _, a := range pick {
					if a.sameProvider {
						for _, rps := range a.Mappings {
							for _, rp := range rps {
								distinct[rp] = true
							}
						}
					}
				}
				if len(distinct) != granular {
					return true
				}
			}
			if !sameSubtrees(snap, req.SameSubtrees, pick) {
				return true
			}
			merged := consolidate(snap, anchor, pick)
			if exceeds(snap, merged) {
				return true
			}
			key := merged.key()
			if seen[key] {
				return true
			}
			seen[key] = true
			out = append(out, merged)
			if max >= 0 && len(out) >= max {
				stop = true
				return false
			}
			return true
		})
		if stop {
			break
		}
	}
	return out
}

func productReqs(lists [][]*AllocationRequest, fn func([]*AllocationRequest) bool) {
	pick := make([]*AllocationRequest, len(lists))
	var walk func(i int) bool
	walk = func(i int) bool {
		if i == len(lists) {
			return fn(pick)
		}
		for _, x := range lists[i] {
			pick[i] = x
			if !walk(i + 1) {
				return false
			}
		}
		return true
	}
	walk(0)
}

func consolidate(snap *snapshot, anchor string, pick []*AllocationRequest) *AllocationRequest {
	out := &AllocationRequest{anchor: anchor, Mappings: map[string][]string{}}
	idx := map[[2]string]int{}
	for _, a := range pick {
		for _, r := range a.Resources {
			k := [2]string{r.Provider, r.Class}
			if i, ok := idx[k]; ok {
				out.Resources[i].Amount += r.Amount
				continue
			}
			idx[k] = len(out.Resources)
			out.Resources = append(out.Resources, r)
		}
		for suffix, rps := range a.Mappings {
			for _, rp := range rps {
				if !contains(out.Mappings[suffix], rp) {
					out.Mappings[suffix] = append(out.Mappings[suffix], rp)
				}
			}
		}
	}
	for suffix := range out.Mappings {
		sort.Slice(out.Mappings[suffix], func(i, j int) bool {
			return snap.rank[out.Mappings[suffix][i]] < snap.rank[out.Mappings[suffix][j]]
		})
	}
	return out
}

func exceeds(snap *snapshot, a *AllocationRequest) bool {
	for _, r := range a.Resources {
		inv := snap.inv[r.Provider][r.Class]
		if snap.used[r.Provider][r.Class]+r.Amount > inv.Capacity() || r.Amount > inv.MaxUnit {
			return true
		}
	}
	return false
}

func (a *AllocationRequest) key() string {
	parts := make([]string, 0, len(a.Resources)+len(a.Mappings))
	for _, r := range a.Resources {
		parts = append(parts, fmt.Sprintf("%s/%s/%d", r.Provider, r.Class, r.Amount))
	}
	sort.Strings(parts)
	for _, s := range sortedKeys(a.Mappings) {
		rps := append([]string(nil), a.Mappings[s]...)
		sort.Strings(rps)
		parts = append(parts, s+"="+strings.Join(rps, ","))
	}
	return strings.Join(parts, ";")
}

// sameSubtrees checks same_subtree (1.36): the providers of the named
// groups must all descend from one of them.
func sameSubtrees(snap *snapshot, subtrees [][]string, pick []*AllocationRequest) bool {
	for _, st := range subtrees {
		rps := set{}
		for _, a := range pick {
			for _, suffix := range st {
				for _, rp := range a.Mappings[suffix] {
					rps[rp] = true
				}
			}
		}
		if len(rps) <= 1 {
			continue
		}
		var common set
		for rp := range rps {
			anc := set{}
			for cur := rp; cur != ""; cur = snap.providers[cur].ParentUUID {
				anc[cur] = true
			}
			if common == nil {
				common = anc
				continue
			}
			for x := range common {
				if !anc[x] {
					delete(common, x)
				}
			}
		}
		ok := false
		for x := range common {
			if rps[x] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
