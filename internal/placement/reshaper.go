package placement

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Reshape is POST /reshaper (1.30): new inventories for some providers
// and new allocations for some consumers, applied together.
type Reshape struct {
	Inventories map[string]ReshapeInventory // provider -> inventories
	Claims      []Claim
}

// ReshapeInventory is a provider's whole new inventory, at the
// generation the caller saw.
type ReshapeInventory struct {
	Generation  int64
	Inventories []Inventory
}

// Reshape moves inventory and the allocations against it between
// providers in one transaction: first every provider gets the union of
// its old and new inventories, then the allocations are replaced, then
// the inventories are cut to the new ones.
func (s *Service) Reshape(ctx context.Context, pr *authn.Principal, rs Reshape, v version) error {
	if err := s.authorize(pr, reshape, nil); err != nil {
		return err
	}
	for i := range rs.Claims {
		if rs.Claims[i].ProjectID == "" {
			rs.Claims[i].ProjectID, rs.Claims[i].UserID = s.cfg.IncompleteConsumerProjectID, s.cfg.IncompleteConsumerUserID
		}
	}
	var err error
	for try := 0; try < s.cfg.AllocationConflictRetries; try++ {
		err = s.db.Tx(ctx, func(tx *sql.Tx) error { return s.reshape(ctx, tx, rs, v) })
		if !errors.Is(err, errGenerationMoved) {
			return err
		}
	}
	return errConflict("update conflict: Another thread concurrently updated the resource provider data. Please retry your update")
}

func (s *Service) reshape(ctx context.Context, tx *sql.Tx, rs Reshape, v version) error {
	var names []string
	providers := map[string]*Provider{}
	for _, id := range sortedKeys(rs.Inventories) {
		p, err := s.lockProvider(ctx, tx, id)
		if err != nil {
			return err
		}
		if p == nil {
			return coded(fault.BadRequest, codeProviderNotFound, "Resource provider %s in inventories not found: No resource provider with uuid %s found", id, id)
		}
		if g := rs.Inventories[id].Generation; g != p.Generation {
			return errConflict("resource provider generation conflict for provider %s: actual: %d, given: %d", id, p.Generation, g)
		}
		providers[id] = p
		for _, i := range rs.Inventories[id].Inventories {
			names = append(names, i.ResourceClass)
		}
	}
	if err := checkNames(ctx, tx, "resource_classes", "No such resource class %s.", names); err != nil {
		return fault.BadRequestf("malformed reshaper data: %s", err.(*fault.Error).Msg)
	}
	for _, id := range sortedKeys(providers) {
		p, next := providers[id], rs.Inventories[id].Inventories
		if len(next) == 0 {
			continue
		}
		cur, err := inventoriesOf(ctx, tx, id)
		if err != nil {
			return err
		}
		union := append([]Inventory(nil), next...)
		for _, c := range cur {
			found := false
			for _, n := range next {
				found = found || n.ResourceClass == c.ResourceClass
			}
			if !found {
				union = append(union, c)
			}
		}
		if err := s.replaceInventories(ctx, tx, p, union); err != nil {
			return err
		}
	}
	if len(rs.Claims) > 0 {
		if err := s.claim(ctx, tx, rs.Claims, v, true); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(providers) {
		p, err := getProvider(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.replaceInventories(ctx, tx, p, rs.Inventories[id].Inventories); err != nil {
			return err
		}
	}
	return nil
}

func (h *handlers) reshape(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if err := h.svc.authorize(principal(r), reshape, nil); err != nil {
		return err
	}
	o, err := parseObject(data, "", []string{"inventories", "allocations"}, "inventories", "allocations")
	if err != nil {
		return err
	}
	rs := Reshape{Inventories: map[string]ReshapeInventory{}}
	invs, err := parseObject(o["inventories"], "", nil)
	if err != nil {
		return err
	}
	for _, key := range sortedKeys(invs) {
		id, ok := canonicalUUID(key)
		if !ok || !uuidPattern.MatchString(key) {
			return invalid("Additional properties are not allowed ('%s' was unexpected)", key)
		}
		io, err := parseObject(invs[key], "", []string{"resource_provider_generation", "inventories"}, "resource_provider_generation", "inventories")
		if err != nil {
			return err
		}
		gen, err := io.int("resource_provider_generation")
		if err != nil {
			return err
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(io["inventories"], &raw); err != nil || io["inventories"][0] != '{' {
			return invalid("%s is not of type 'object'", pyRepr(io["inventories"]))
		}
		ri := ReshapeInventory{Generation: gen}
		for _, rc := range sortedKeys(raw) {
			if !rcPattern.MatchString(rc) {
				continue
			}
			one, err := parseObject(raw[rc], "", inventoryFields, "total")
			if err != nil {
				return err
			}
			i, err := parseInventory(one, rc, "schema['properties']")
			if err != nil {
				return err
			}
			ri.Inventories = append(ri.Inventories, i)
		}
		rs.Inventories[id] = ri
	}
	allocs, err := parseObject(o["allocations"], "", nil)
	if err != nil {
		return err
	}
	// The reshaper's allocations are POST /allocations' at 1.28 or later.
	cv := v
	if !cv.atLeast(28) {
		cv = version{1, 28}
	}
	for _, key := range sortedKeys(allocs) {
		consumer, ok := canonicalUUID(key)
		if !ok || !uuidPattern.MatchString(key) {
			return invalid("Additional properties are not allowed ('%s' was unexpected)", key)
		}
		c, err := parseClaim(allocs[key], consumer, cv, true)
		if err != nil {
			return err
		}
		rs.Claims = append(rs.Claims, c)
	}
	if err := h.svc.Reshape(r.Context(), principal(r), rs, cv); err != nil {
		return err
	}
	return noContent(w)
}
