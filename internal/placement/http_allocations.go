package placement

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// parseResourcesBody reads {"RC": amount >= 1, ...} with at least one.
func parseResourcesBody(raw json.RawMessage) (map[string]int64, error) {
	o, err := parseObject(raw, "", nil)
	if err != nil {
		return nil, err
	}
	if len(o) == 0 {
		return nil, invalid("{} does not have enough properties")
	}
	out := map[string]int64{}
	for _, rc := range sortedKeys(o) {
		if !rcPattern.MatchString(rc) {
			return nil, invalid("Additional properties are not allowed ('%s' was unexpected)", rc)
		}
		n, err := integer(o[rc])
		if err != nil {
			return nil, err
		}
		if n < 1 {
			return nil, invalid("%d is less than the minimum of 1", n)
		}
		out[rc] = n
	}
	return out, nil
}

// parseClaim reads one consumer's allocation body as microversion v
// shapes it; post is the POST /allocations form (1.13+).
func parseClaim(raw json.RawMessage, consumer string, v version, post bool) (Claim, error) {
	c := Claim{Consumer: consumer}
	allowed := []string{"allocations"}
	required := []string{"allocations"}
	if v.atLeast(8) {
		allowed = append(allowed, "project_id", "user_id")
		required = append(required, "project_id", "user_id")
	}
	if v.atLeast(28) {
		allowed = append(allowed, "consumer_generation")
		required = append(required, "consumer_generation")
	}
	if v.atLeast(34) {
		allowed = append(allowed, "mappings")
	}
	if v.atLeast(38) {
		allowed = append(allowed, "consumer_type")
		required = append(required, "consumer_type")
	}
	o, err := parseObject(raw, "", allowed, required...)
	if err != nil {
		return c, err
	}
	if v.atLeast(8) {
		if c.ProjectID, err = o.str("project_id", 1, 255); err != nil {
			return c, err
		}
		if c.UserID, err = o.str("user_id", 1, 255); err != nil {
			return c, err
		}
	}
	if v.atLeast(28) && !o.isNull("consumer_generation") {
		g, err := o.int("consumer_generation")
		if err != nil {
			return c, invalid("%s is not of type 'integer', 'null'", pyRepr(o["consumer_generation"]))
		}
		c.Generation = &g
	}
	if v.atLeast(38) {
		if c.ConsumerType, err = o.str("consumer_type", 1, 255); err != nil {
			return c, err
		}
		if !rcPattern.MatchString(c.ConsumerType) {
			return c, invalid("'%s' does not match '^[A-Z0-9_]+$'", c.ConsumerType)
		}
	}
	if o.has("mappings") {
		if err := checkMappings(o["mappings"]); err != nil {
			return c, err
		}
	}
	c.Allocations = map[string]map[string]int64{}
	if !v.atLeast(12) {
		var items []json.RawMessage
		if err := json.Unmarshal(o["allocations"], &items); err != nil || o["allocations"][0] != '[' {
			return c, invalid("%s is not of type 'array'", pyRepr(o["allocations"]))
		}
		if len(items) == 0 {
			return c, invalid("[] is too short")
		}
		for _, it := range items {
			io, err := parseObject(it, "", []string{"resource_provider", "resources"}, "resource_provider", "resources")
			if err != nil {
				return c, err
			}
			rpo, err := parseObject(io["resource_provider"], "", []string{"uuid"}, "uuid")
			if err != nil {
				return c, err
			}
			rp, err := rpo.uuidField("uuid")
			if err != nil {
				return c, err
			}
			res, err := parseResourcesBody(io["resources"])
			if err != nil {
				return c, err
			}
			c.Allocations[rp] = res
		}
		return c, nil
	}
	ao, err := parseObject(o["allocations"], "", nil)
	if err != nil {
		return c, err
	}
	if len(ao) == 0 && !post && !v.atLeast(28) {
		return c, invalid("{} does not have enough properties")
	}
	for _, key := range sortedKeys(ao) {
		if !uuidPattern.MatchString(key) {
			return c, invalid("Additional properties are not allowed ('%s' was unexpected)", key)
		}
		rp, ok := canonicalUUID(key)
		if !ok {
			return c, fault.BadRequestf("Allocation for resource provider '%s' that does not exist.", key)
		}
		io, err := parseObject(ao[key], "", []string{"generation", "resources"}, "resources")
		if err != nil {
			return c, err
		}
		if io.has("generation") {
			if _, err := io.int("generation"); err != nil {
				return c, err
			}
		}
		res, err := parseResourcesBody(io["resources"])
		if err != nil {
			return c, err
		}
		c.Allocations[rp] = res
	}
	return c, nil
}

// checkMappings validates the mappings (1.34), which placement ignores.
func checkMappings(raw json.RawMessage) error {
	o, err := parseObject(raw, "", nil)
	if err != nil {
		return err
	}
	if len(o) == 0 {
		return invalid("{} does not have enough properties")
	}
	for k, v := range o {
		if !groupPattern1_33.MatchString(k) {
			continue
		}
		list, err := stringList(v, 0, 0)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return invalid("[] is too short")
		}
		for _, s := range list {
			if _, ok := canonicalUUID(s); !ok {
				return invalid("'%s' is not a 'uuid'", s)
			}
		}
	}
	return nil
}

func (h *handlers) putAllocations(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	consumer, ok := canonicalUUID(r.PathValue("consumer"))
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if err := h.svc.authorize(principal(r), allocUpdate, nil); err != nil {
		return err
	}
	if !ok {
		return fault.BadRequestf("Malformed consumer_uuid: %s", r.PathValue("consumer"))
	}
	c, err := parseClaim(data, consumer, v, false)
	if err != nil {
		return err
	}
	if err := h.svc.Claim(r.Context(), principal(r), allocUpdate, []Claim{c}, v, false); err != nil {
		return err
	}
	return noContent(w)
}

func (h *handlers) postAllocations(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if err := h.svc.authorize(principal(r), allocManage, nil); err != nil {
		return err
	}
	o, err := parseObject(data, "", nil)
	if err != nil {
		return err
	}
	if len(o) == 0 {
		return invalid("{} does not have enough properties")
	}
	var claims []Claim
	for _, key := range sortedKeys(o) {
		if !uuidPattern.MatchString(key) {
			return invalid("Additional properties are not allowed ('%s' was unexpected)", key)
		}
		consumer, ok := canonicalUUID(key)
		if !ok {
			return fault.BadRequestf("Malformed consumer_uuid: %s", key)
		}
		c, err := parseClaim(o[key], consumer, v, true)
		if err != nil {
			return err
		}
		claims = append(claims, c)
	}
	if err := h.svc.Claim(r.Context(), principal(r), allocManage, claims, v, true); err != nil {
		return err
	}
	return noContent(w)
}

func (h *handlers) getAllocations(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	ca, err := h.svc.GetAllocations(r.Context(), principal(r), r.PathValue("consumer"))
	if err != nil {
		return err
	}
	allocs := map[string]any{}
	var lm time.Time
	for _, a := range ca.Allocations {
		e, ok := allocs[a.ProviderUUID].(map[string]any)
		if !ok {
			e = map[string]any{"resources": map[string]any{}, "generation": ca.Generations[a.ProviderUUID]}
			allocs[a.ProviderUUID] = e
		}
		e["resources"].(map[string]any)[a.ResourceClass] = a.Used
		lm = latest(lm, a.CreatedAt, a.UpdatedAt)
	}
	body := map[string]any{"allocations": allocs}
	if c := ca.Consumer; c != nil && v.atLeast(12) {
		body["project_id"] = c.ProjectID
		body["user_id"] = c.UserID
		if v.atLeast(28) {
			body["consumer_generation"] = c.Generation
		}
		if v.atLeast(38) {
			body["consumer_type"] = consumerType(c.Type)
		}
	}
	lastModified(w, r, lm)
	return writeJSON(w, http.StatusOK, body)
}

// consumerType shows allocations written before 1.38 as "unknown".
func consumerType(t string) string {
	if t == "" {
		return "unknown"
	}
	return t
}

func (h *handlers) deleteAllocations(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteAllocations(r.Context(), principal(r), r.PathValue("consumer")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *handlers) providerAllocations(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	pa, err := h.svc.GetProviderAllocations(r.Context(), principal(r), r.PathValue("uuid"))
	if err != nil {
		return err
	}
	allocs := map[string]any{}
	var lm time.Time
	for _, a := range pa.Allocations {
		e, ok := allocs[a.ConsumerUUID].(map[string]any)
		if !ok {
			e = map[string]any{"resources": map[string]any{}}
			if v.atLeast(28) {
				var gen any
				if c := pa.Consumers[a.ConsumerUUID]; c != nil {
					gen = c.Generation
				}
				e["consumer_generation"] = gen
			}
			allocs[a.ConsumerUUID] = e
		}
		e["resources"].(map[string]any)[a.ResourceClass] = a.Used
		lm = latest(lm, a.CreatedAt, a.UpdatedAt)
	}
	lastModified(w, r, lm)
	return writeJSON(w, http.StatusOK, map[string]any{"allocations": allocs,
		"resource_provider_generation": pa.Provider.Generation})
}

var _ = sort.Strings
