package placement

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func inventoryWire(i *Inventory) map[string]any {
	return map[string]any{"total": i.Total, "reserved": i.Reserved, "min_unit": i.MinUnit, "max_unit": i.MaxUnit,
		"step_size": i.Step, "allocation_ratio": i.AllocationRatio}
}

func (h *handlers) sendInventories(w http.ResponseWriter, r *http.Request, p *Provider, invs []Inventory) error {
	out := map[string]any{}
	var lm time.Time
	for k := range invs {
		out[invs[k].ResourceClass] = inventoryWire(&invs[k])
		lm = latest(lm, invs[k].CreatedAt, invs[k].UpdatedAt)
	}
	lastModified(w, r, lm)
	return writeJSON(w, http.StatusOK, map[string]any{"resource_provider_generation": p.Generation, "inventories": out})
}

func (h *handlers) sendInventory(w http.ResponseWriter, r *http.Request, status int, p *Provider, i *Inventory) error {
	m := inventoryWire(i)
	m["resource_provider_generation"] = p.Generation
	lastModified(w, r, latest(i.CreatedAt, i.UpdatedAt))
	return writeJSON(w, status, m)
}

func (h *handlers) getInventories(w http.ResponseWriter, r *http.Request) error {
	p, invs, err := h.svc.GetInventories(r.Context(), principal(r), r.PathValue("uuid"), invList)
	if err != nil {
		return err
	}
	return h.sendInventories(w, r, p, invs)
}

func (h *handlers) getInventory(w http.ResponseWriter, r *http.Request) error {
	id, rc := r.PathValue("uuid"), r.PathValue("rc")
	p, invs, err := h.svc.GetInventories(r.Context(), principal(r), id, invShow)
	if err != nil {
		return err
	}
	for k := range invs {
		if invs[k].ResourceClass == rc {
			return h.sendInventory(w, r, http.StatusOK, p, &invs[k])
		}
	}
	return fault.NotFoundf("No inventory of class %s for %s", rc, id)
}

func (h *handlers) setInventories(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("uuid")
	if err := wantJSON(r); err != nil {
		return err
	}
	if _, err := h.svc.GetProvider(r.Context(), principal(r), id); err != nil && fault.Is(err, fault.NotFound) {
		return err
	}
	o, err := readObject(r, []string{"resource_provider_generation", "inventories"}, "resource_provider_generation", "inventories")
	if err != nil {
		return err
	}
	gen, err := o.int("resource_provider_generation")
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(o["inventories"], &raw); err != nil || o["inventories"][0] != '{' {
		return invalid("%s is not of type 'object'", pyRepr(o["inventories"]))
	}
	rcs := make([]string, 0, len(raw))
	for rc := range raw {
		rcs = append(rcs, rc)
	}
	sort.Strings(rcs)
	var invs []Inventory
	for _, rc := range rcs {
		if !rcPattern.MatchString(rc) {
			continue // patternProperties: other keys are not checked
		}
		where := "schema['properties']['inventories']['patternProperties']['^[A-Z0-9_]+$']['properties']"
		io, err := parseObject(raw[rc], "", inventoryFields, "total")
		if err != nil {
			return err
		}
		i, err := parseInventory(io, rc, where)
		if err != nil {
			return err
		}
		invs = append(invs, i)
	}
	p, out, err := h.svc.SetInventories(r.Context(), principal(r), id, gen, invs, mv(r))
	if err != nil {
		return err
	}
	return h.sendInventories(w, r, p, out)
}

func (h *handlers) createInventory(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("uuid")
	if err := wantJSON(r); err != nil {
		return err
	}
	if _, err := h.svc.GetProvider(r.Context(), principal(r), id); err != nil && fault.Is(err, fault.NotFound) {
		return err
	}
	o, err := readObject(r, append([]string{"resource_class"}, inventoryFields...), "total", "resource_class")
	if err != nil {
		return err
	}
	rc, err := o.str("resource_class", 0, 0)
	if err != nil {
		return err
	}
	if !rcPattern.MatchString(rc) {
		return invalid("'%s' does not match '^[A-Z0-9_]+$'", rc)
	}
	i, err := parseInventory(o, rc, "schema['properties']")
	if err != nil {
		return err
	}
	p, out, err := h.svc.CreateInventory(r.Context(), principal(r), id, i, mv(r))
	if err != nil {
		return err
	}
	w.Header().Set("Location", providerURL(id)+"/inventories/"+rc)
	return h.sendInventory(w, r, http.StatusCreated, p, out)
}

func (h *handlers) updateInventory(w http.ResponseWriter, r *http.Request) error {
	id, rc := r.PathValue("uuid"), r.PathValue("rc")
	if err := wantJSON(r); err != nil {
		return err
	}
	if _, err := h.svc.GetProvider(r.Context(), principal(r), id); err != nil && fault.Is(err, fault.NotFound) {
		return err
	}
	o, err := readObject(r, inventoryFields, "total", "resource_provider_generation")
	if err != nil {
		return err
	}
	gen, err := o.int("resource_provider_generation")
	if err != nil {
		return err
	}
	i, err := parseInventory(o, rc, "schema['properties']")
	if err != nil {
		return err
	}
	p, out, err := h.svc.UpdateInventory(r.Context(), principal(r), id, gen, i, mv(r))
	if err != nil {
		return err
	}
	return h.sendInventory(w, r, http.StatusOK, p, out)
}

func (h *handlers) deleteInventory(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteInventory(r.Context(), principal(r), r.PathValue("uuid"), r.PathValue("rc")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *handlers) deleteInventories(w http.ResponseWriter, r *http.Request) error {
	if !mv(r).atLeast(5) {
		w.Header().Set("Allow", "GET, POST, PUT")
		return fault.New(fault.MethodNotAllowed, "The method specified is not allowed for this resource.")
	}
	if err := h.svc.DeleteInventories(r.Context(), principal(r), r.PathValue("uuid")); err != nil {
		return err
	}
	return noContent(w)
}
