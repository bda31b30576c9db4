package placement

import (
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

var groupKey = regexp.MustCompile(`^(resources|required|member_of|in_tree)(.*)$`)

// queryOrder lists the distinct keys of a raw query in order of first
// appearance, so that groups come out in the caller's order.
func queryOrder(raw string) []string {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, _, _ := strings.Cut(part, "=")
		if key, err := url.QueryUnescape(k); err == nil && !seen[key] {
			seen[key] = true
			out = append(out, key)
		}
	}
	return out
}

// parseCandidateRequest reads GET /allocation_candidates as microversion
// v allows it.
func parseCandidateRequest(r *http.Request, v version) (*CandidateRequest, error) {
	q := r.URL.Query()
	granular := v.atLeast(25)
	suffixOK := func(s string) bool {
		switch {
		case s == "":
			return true
		case !granular:
			return false
		case v.atLeast(33):
			return groupPattern1_33.MatchString(s)
		default:
			return groupPattern.MatchString(s)
		}
	}
	known := func(k string) bool {
		switch k {
		case "limit":
			return v.atLeast(16)
		case "group_policy":
			return granular
		case "root_required":
			return v.atLeast(35)
		case "same_subtree":
			return v.atLeast(36)
		}
		m := groupKey.FindStringSubmatch(k)
		if m == nil || !suffixOK(m[2]) {
			return false
		}
		switch m[1] {
		case "required":
			return v.atLeast(17)
		case "member_of":
			return v.atLeast(21)
		case "in_tree":
			return v.atLeast(31)
		}
		return true
	}
	if granular {
		// With patternProperties, jsonschema names the regexes instead.
		for _, k := range sortedKeys(q) {
			if !known(k) {
				return nil, badQuery("'%s' does not match any of the regexes", k)
			}
		}
	}
	if err := checkQueryKeys(q, known); err != nil {
		return nil, err
	}
	if !granular && !q.Has("resources") {
		return nil, badQuery("'resources' is a required property")
	}
	req := &CandidateRequest{NestedAware: v.atLeast(29)}
	if q.Has("limit") {
		l := q["limit"][0]
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || l[0] == '0' {
			return nil, badQuery("'%s' does not match '^[1-9][0-9]*$'", l)
		}
		req.Limit = n
	}
	if q.Has("group_policy") {
		req.GroupPolicy = q["group_policy"][0]
		if req.GroupPolicy != "none" && req.GroupPolicy != "isolate" {
			return nil, badQuery("'%s' is not one of ['none', 'isolate']", req.GroupPolicy)
		}
	}
	if rr := q["root_required"]; len(rr) > 0 {
		if len(rr) > 1 {
			return nil, coded(fault.BadRequest, codeDuplicateKey, "Query parameter 'root_required' may be specified only once.")
		}
		tq, err := parseRequired(rr, version{1, 38})
		if err != nil {
			return nil, err
		}
		for _, any := range tq.required {
			req.RootRequired = append(req.RootRequired, any[0])
		}
		req.RootForbidden = tq.forbidden
		var conflicts []string
		for _, t := range req.RootForbidden {
			if contains(req.RootRequired, t) {
				conflicts = append(conflicts, t)
			}
		}
		if len(conflicts) > 0 {
			return nil, coded(fault.BadRequest, codeBadValue, "Conflicting required and forbidden traits found in root_required: %s", strings.Join(conflicts, ", "))
		}
	}
	for _, val := range q["same_subtree"] {
		var suffixes []string
		for _, s := range strings.Split(val, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				return nil, coded(fault.BadRequest, codeBadValue, "Empty string (unsuffixed group) can not be specified in `same_subtree` ")
			}
			if !contains(suffixes, s) {
				suffixes = append(suffixes, s)
			}
		}
		req.SameSubtrees = append(req.SameSubtrees, suffixes)
	}
	groups := map[string]*RequestGroup{}
	for _, k := range queryOrder(r.URL.RawQuery) {
		m := groupKey.FindStringSubmatch(k)
		if m == nil || !q.Has(k) {
			continue
		}
		suffix := m[2]
		g := groups[suffix]
		if g == nil {
			g = &RequestGroup{Suffix: suffix}
			groups[suffix] = g
			req.Groups = append(req.Groups, g)
		}
		var err error
		switch m[1] {
		case "resources":
			g.Resources, err = parseResources(q.Get(k))
		case "required":
			var tq traitQuery
			tq, err = parseRequired(q[k], v)
			g.Required, g.Forbidden = tq.required, tq.forbidden
		case "member_of":
			var mq memberOfQuery
			mq, err = parseMemberOf(q[k], suffix, v)
			g.MemberOf, g.ForbiddenAggs = mq.required, mq.forbidden
		case "in_tree":
			g.InTree, err = parseInTree(q.Get(k))
		}
		if err != nil {
			return nil, err
		}
	}
	if err := checkGroups(req, v); err != nil {
		return nil, err
	}
	if req.GroupPolicy == "" {
		n := 0
		for _, g := range req.Groups {
			if g.sameProvider() {
				n++
			}
		}
		if n > 1 {
			return nil, fault.BadRequestf(`The "group_policy" parameter is required when specifying more than one "resources{N}" parameter.`)
		}
	}
	return req, nil
}

// checkGroups is placement's consistency rules between the groups.
func checkGroups(req *CandidateRequest, v version) error {
	quoteList := func(s []string) string {
		q := make([]string, len(s))
		for i, x := range s {
			q[i] = "'" + x + "'"
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	if v.atLeast(36) {
		var resourceless, all []string
		for _, g := range req.Groups {
			all = append(all, g.Suffix)
			if len(g.Resources) == 0 {
				resourceless = append(resourceless, g.Suffix)
			}
		}
		if len(resourceless) == len(req.Groups) {
			return coded(fault.BadRequest, codeMissingValue, "There must be at least one resources or resources[$S] parameter.")
		}
		inSubtree := map[string]bool{}
		for _, st := range req.SameSubtrees {
			for _, s := range st {
				inSubtree[s] = true
			}
		}
		var bad []string
		for _, s := range resourceless {
			if !inSubtree[s] {
				bad = append(bad, s)
			}
		}
		if len(bad) > 0 {
			return coded(fault.BadRequest, codeBadValue, "Resourceless suffixed group request should be specified in `same_subtree` query param: bad group(s) - %s.", quoteList(bad))
		}
		bad = nil
		for _, s := range sortedKeys(inSubtree) {
			if !contains(all, s) {
				bad = append(bad, s)
			}
		}
		if len(bad) > 0 {
			return coded(fault.BadRequest, codeBadValue, "Real suffixes should be specified in `same_subtree`: %s not found in %s.", quoteList(bad), quoteList(all))
		}
	} else {
		var orphans []string
		for _, g := range req.Groups {
			if len(g.Required) > 0 && len(g.Resources) == 0 {
				orphans = append(orphans, "required"+g.Suffix)
			}
		}
		if len(orphans) > 0 {
			return fault.BadRequestf("All traits parameters must be associated with resources.  Found the following orphaned traits keys: %s", strings.Join(orphans, ", "))
		}
		for _, g := range req.Groups {
			if len(g.Resources) == 0 && (len(g.MemberOf) > 0 || len(g.ForbiddenAggs) > 0) {
				orphans = append(orphans, "member_of"+g.Suffix)
			}
		}
		if len(orphans) > 0 {
			return fault.BadRequestf("All member_of parameters must be associated with resources. Found the following orphaned member_of keys: %s", strings.Join(orphans, ", "))
		}
		for _, g := range req.Groups {
			if len(g.Resources) == 0 {
				return fault.BadRequestf("All request groups must specify resources.")
			}
		}
		if len(req.Groups) == 0 {
			return fault.BadRequestf("At least one request group (`resources` or `resources{$S}`) is required.")
		}
	}
	if v.atLeast(22) {
		var conflicts []string
		for _, g := range req.Groups {
			for _, any := range g.Required {
				all := true
				for _, t := range any {
					all = all && contains(g.Forbidden, t)
				}
				if all {
					sorted := append([]string(nil), any...)
					sort.Strings(sorted)
					conflicts = append(conflicts, "required"+g.Suffix+": ("+strings.Join(sorted, ", ")+")")
				}
			}
		}
		if len(conflicts) > 0 {
			sort.Strings(conflicts)
			return fault.BadRequestf("Conflicting required and forbidden traits found in the following traits keys: %s", strings.Join(conflicts, ", "))
		}
	}
	return nil
}

func (h *handlers) allocationCandidates(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	if err := h.svc.authorize(principal(r), candidatesList, nil); err != nil {
		return err
	}
	req, err := parseCandidateRequest(r, v)
	if err != nil {
		return err
	}
	c, err := h.svc.AllocationCandidates(r.Context(), principal(r), req)
	if err != nil {
		return err
	}
	areqs := make([]any, 0, len(c.Requests))
	for _, a := range c.Requests {
		if v.atLeast(12) {
			allocs := map[string]any{}
			for _, res := range a.Resources {
				e, ok := allocs[res.Provider].(map[string]any)
				if !ok {
					e = map[string]any{"resources": map[string]any{}}
					allocs[res.Provider] = e
				}
				e["resources"].(map[string]any)[res.Class] = res.Amount
			}
			item := map[string]any{"allocations": allocs}
			if v.atLeast(34) {
				item["mappings"] = a.Mappings
			}
			areqs = append(areqs, item)
			continue
		}
		byRP := map[string]map[string]any{}
		var order []string
		for _, res := range a.Resources {
			if byRP[res.Provider] == nil {
				byRP[res.Provider] = map[string]any{}
				order = append(order, res.Provider)
			}
			byRP[res.Provider][res.Class] = res.Amount
		}
		list := make([]any, 0, len(order))
		for _, rp := range order {
			list = append(list, map[string]any{"resource_provider": map[string]any{"uuid": rp}, "resources": byRP[rp]})
		}
		areqs = append(areqs, map[string]any{"allocations": list})
	}
	requested := map[string]bool{}
	for _, g := range req.Groups {
		for rc := range g.Resources {
			requested[rc] = true
		}
	}
	sums := map[string]any{}
	for _, ps := range c.Summaries {
		res := map[string]any{}
		for rc, cu := range ps.Capacity {
			if v.atLeast(27) || requested[rc] {
				res[rc] = map[string]any{"capacity": cu[0], "used": cu[1]}
			}
		}
		m := map[string]any{"resources": res}
		if v.atLeast(17) {
			m["traits"] = ps.Traits
		}
		if v.atLeast(29) {
			m["parent_provider_uuid"] = nullable(ps.Provider.ParentUUID)
			m["root_provider_uuid"] = ps.Provider.RootUUID
		}
		sums[ps.Provider.UUID] = m
	}
	lastModified(w, r, h.svc.now())
	return writeJSON(w, http.StatusOK, map[string]any{"allocation_requests": areqs, "provider_summaries": sums})
}
