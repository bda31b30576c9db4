package compute

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// flavorSortKeys are the sort keys Nova accepts, in its order.
var flavorSortKeys = []string{
	"created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id", "is_public", "memory_mb", "name",
	"root_gb", "rxtx_factor", "swap", "updated_at", "vcpu_weight", "vcpus",
}

func enumError(param, value string, allowed []string) error {
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = "'" + a + "'"
	}
	return fault.BadRequestf("Invalid input for query parameters %s. Value: %s. '%s' is not one of [%s]",
		param, value, value, strings.Join(q, ", "))
}

// flavorQuery reads the list parameters, with Nova's checks.
func (h *handlers) flavorQuery(r *http.Request) (FlavorQuery, int, error) {
	var q FlavorQuery
	if err := queryCheck(r, "limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir"); err != nil {
		return q, 0, err
	}
	limit, marker, err := pageParams(r)
	if err != nil {
		return q, 0, err
	}
	q.Marker = marker
	for _, v := range r.URL.Query()["sort_key"] {
		if !contains(flavorSortKeys, v) {
			return q, 0, enumError("sort_key", v, flavorSortKeys)
		}
	}
	for _, v := range r.URL.Query()["sort_dir"] {
		if v != "asc" && v != "desc" {
			return q, 0, enumError("sort_dir", v, []string{"asc", "desc"})
		}
	}
	q.SortKey, _ = lastParam(r, "sort_key")
	q.SortDir, _ = lastParam(r, "sort_dir")
	if h.svc.isAdmin(principal(r)) {
		t := true
		q.IsPublic = &t
		if v, ok := lastParam(r, "is_public"); ok {
			switch b, valid := parseBoolString(v); {
			case strings.EqualFold(v, "none"):
				q.IsPublic = nil
			case !valid:
				return q, 0, fault.BadRequestf("Invalid is_public filter [%s]", v)
			default:
				q.IsPublic = &b
			}
		}
	}
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"minRam", &q.MinRAM}, {"minDisk", &q.MinDisk}} {
		if v, ok := lastParam(r, p.name); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return q, 0, fault.BadRequestf("Invalid %s filter [%s]", p.name, v)
			}
			*p.dst = &n
		}
	}
	return q, limit, nil
}

func (h *handlers) listFlavors(w http.ResponseWriter, r *http.Request) error {
	return h.flavorList(w, r, false)
}

func (h *handlers) listFlavorsDetail(w http.ResponseWriter, r *http.Request) error {
	return h.flavorList(w, r, true)
}

func (h *handlers) flavorList(w http.ResponseWriter, r *http.Request, detail bool) error {
	q, limit, err := h.flavorQuery(r)
	if err != nil {
		return err
	}
	q.Limit = limit
	if limit == 0 { // Nova pages with LIMIT 0: nothing, but the marker is still checked
		q.Limit = 1
	}
	p := principal(r)
	flavors, err := h.svc.ListFlavors(r.Context(), p, q)
	if err != nil {
		return err
	}
	if limit == 0 {
		flavors = nil
	}
	body := map[string]any{}
	collection := "flavors"
	if detail {
		collection = "flavors/detail"
		specs := mv(r).AtLeast(61) && h.svc.CanSeeExtraSpecs(p)
		list := make([]flavorFull, 0, len(flavors))
		for _, f := range flavors {
			list = append(list, toFlavorFull(r, f, specs))
		}
		body["flavors"] = list
	} else {
		list := make([]flavorBrief, 0, len(flavors))
		for _, f := range flavors {
			list = append(list, toFlavorBrief(r, f))
		}
		body["flavors"] = list
	}
	if len(flavors) > 0 {
		if links := h.nextLinks(r, collection, len(flavors), flavors[len(flavors)-1].FlavorID); links != nil {
			body["flavors_links"] = links
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

func (h *handlers) showFlavor(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	f, err := h.svc.GetFlavor(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.writeFlavor(w, r, f)
}

func (h *handlers) writeFlavor(w http.ResponseWriter, r *http.Request, f *Flavor) error {
	specs := mv(r).AtLeast(61) && h.svc.CanSeeExtraSpecs(principal(r))
	return writeJSON(w, http.StatusOK, map[string]any{"flavor": toFlavorFull(r, f, specs)})
}

// flavorIDPattern is the schema's id pattern without its look-arounds,
// which are checked by hand.
func validFlavorID(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ' ' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parseFlavorCreate reads POST /flavors as Nova's create schemas.
func parseFlavorCreate(r *http.Request) (FlavorSpec, error) {
	var spec FlavorSpec
	v := mv(r)
	raw, err := readBody(r)
	if err != nil {
		return spec, err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return spec, err
	}
	strict := func(names ...string) []string {
		if v.Legacy() {
			return nil // v2.0 drops unknown properties instead
		}
		return names
	}
	if err := body.check("", raw, strict("flavor"), "flavor"); err != nil {
		return spec, err
	}
	fraw := body["flavor"]
	fo, err := objectAt(fraw, "flavor")
	if err != nil {
		return spec, err
	}
	allowed := []string{"name", "id", "ram", "vcpus", "disk", "OS-FLV-EXT-DATA:ephemeral", "swap", "rxtx_factor",
		"os-flavor-access:is_public"}
	if v.AtLeast(55) {
		allowed = append(allowed, "description")
	}
	if err := fo.check("flavor", fraw, strict(allowed...), "name", "ram", "vcpus", "disk"); err != nil {
		return spec, err
	}
	if spec.Name, err = nameField("name", fo["name"], v.Legacy()); err != nil {
		return spec, err
	}
	if idRaw, ok := fo["id"]; ok && !isNull(idRaw) {
		switch {
		case idRaw[0] == '"':
			s, _ := jsonString("id", idRaw)
			if err := stringLen("id", idRaw, s, 1, 255); err != nil {
				return spec, err
			}
			if !validFlavorID(s) {
				return spec, invalidField("id", idRaw, pyRepr(idRaw)+" does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'")
			}
			spec.FlavorID = s
		default:
			f, isInt, ok := jsonNumber(idRaw)
			if !ok {
				return spec, invalidField("id", idRaw, pyRepr(idRaw)+" is not of type 'string', 'number', 'null'")
			}
			if isInt && !strings.ContainsAny(string(idRaw), ".eE") {
				spec.FlavorID = strings.TrimSpace(string(idRaw))
			} else {
				spec.FlavorID = pyFloat(f)
			}
		}
	}
	ints := []struct {
		key string
		dst *int64
		min int64
	}{{"ram", &spec.MemoryMB, 1}, {"vcpus", &spec.VCPUs, 1}, {"disk", &spec.RootGB, 0},
		{"OS-FLV-EXT-DATA:ephemeral", &spec.EphemeralGB, 0}, {"swap", &spec.SwapMB, 0}}
	for _, c := range ints {
		raw, ok := fo[c.key]
		if !ok {
			continue
		}
		n, err := intLike(c.key, raw, c.min, maxInt)
		if err != nil {
			return spec, err
		}
		*c.dst = n
	}
	if raw, ok := fo["rxtx_factor"]; ok {
		f, err := rxtxFactor(raw)
		if err != nil {
			return spec, err
		}
		spec.RXTXFactor = f
	}
	spec.IsPublic = true
	if raw, ok := fo["os-flavor-access:is_public"]; ok {
		b, err := novaBoolean("os-flavor-access:is_public", raw)
		if err != nil {
			return spec, err
		}
		spec.IsPublic = b
	}
	if raw, ok := fo["description"]; ok && v.AtLeast(55) {
		if spec.Description, err = descriptionField("description", raw, 65535); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// rxtxFactor reads a positive float given as a number or a string.
func rxtxFactor(raw json.RawMessage) (float64, error) {
	var f float64
	if raw[0] == '"' {
		s, _ := jsonString("rxtx_factor", raw)
		ok := s != ""
		dot := false
		for i, c := range s {
			switch {
			case c >= '0' && c <= '9':
			case c == '.' && !dot && i > 0 && i < len(s)-1:
				dot = true
			default:
				ok = false
			}
		}
		if !ok {
			return 0, invalidField("rxtx_factor", raw, pyRepr(raw)+` does not match '^[0-9]+(\\.[0-9]+)?$'`)
		}
		f, _ = strconv.ParseFloat(s, 64)
	} else {
		n, _, ok := jsonNumber(raw)
		if !ok {
			return 0, invalidField("rxtx_factor", raw, pyRepr(raw)+" is not of type 'number', 'string'")
		}
		f = n
	}
	if f <= 0 {
		return 0, invalidField("rxtx_factor", raw, pyRepr(raw)+" is less than or equal to the minimum of 0")
	}
	if f > maxFloat {
		return 0, invalidField("rxtx_factor", raw, pyRepr(raw)+" is greater than the maximum of 3.40282e+38")
	}
	return f, nil
}

func (h *handlers) createFlavor(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	spec, err := parseFlavorCreate(r)
	if err != nil {
		return err
	}
	f, err := h.svc.CreateFlavor(r.Context(), p, spec)
	if err != nil {
		return err
	}
	return h.writeFlavor(w, r, f)
}

func (h *handlers) updateFlavor(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	if err := body.check("", raw, []string{"flavor"}, "flavor"); err != nil {
		return err
	}
	fo, err := objectAt(body["flavor"], "flavor")
	if err != nil {
		return err
	}
	if err := fo.check("flavor", body["flavor"], []string{"description"}, "description"); err != nil {
		return err
	}
	desc, err := descriptionField("description", fo["description"], 65535)
	if err != nil {
		return err
	}
	f, err := h.svc.UpdateFlavorDescription(r.Context(), principal(r), r.PathValue("id"), desc)
	if err != nil {
		return err
	}
	return h.writeFlavor(w, r, f)
}

func (h *handlers) deleteFlavor(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteFlavor(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

// flavorAction is POST /flavors/{id}/action: addTenantAccess and
// removeTenantAccess.
func (h *handlers) flavorAction(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	var body jsonObject
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &body) != nil || len(body) != 1 {
		return fault.BadRequestf("Malformed request body")
	}
	var action string
	for k := range body {
		action = k
	}
	if action != "addTenantAccess" && action != "removeTenantAccess" {
		return fault.BadRequestf("There is no such action: %s", action)
	}
	ao, err := objectAt(body[action], action)
	if err != nil {
		return err
	}
	if err := ao.check(action, body[action], []string{"tenant"}, "tenant"); err != nil {
		return err
	}
	tenant, err := jsonString("tenant", ao["tenant"])
	if err != nil {
		return err
	}
	if err := stringLen("tenant", ao["tenant"], tenant, 1, 255); err != nil {
		return err
	}
	id := r.PathValue("id")
	var projects []string
	if action == "addTenantAccess" {
		projects, err = h.svc.AddFlavorAccess(r.Context(), principal(r), id, tenant, mv(r).AtLeast(7))
	} else {
		projects, err = h.svc.RemoveFlavorAccess(r.Context(), principal(r), id, tenant)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toFlavorAccess(id, projects))
}

func (h *handlers) listFlavorAccess(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	projects, err := h.svc.FlavorAccess(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toFlavorAccess(id, projects))
}

// ---- extra specs

// parseSpecs reads an extra specs object: names as the schema allows,
// values strings or numbers (shown back as given, stored as text).
func parseSpecs(field string, raw json.RawMessage) (map[string]string, error) {
	o, err := objectAt(raw, field)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(o))
	for k, v := range o {
		if err := checkExtraSpecKey(k); err != nil {
			return nil, err
		}
		switch {
		case len(v) > 0 && v[0] == '"':
			s, _ := jsonString(k, v)
			if len([]rune(s)) > 255 {
				return nil, invalidField(k, v, pyRepr(v)+" is too long")
			}
			out[k] = s
		default:
			f, isInt, ok := jsonNumber(v)
			if !ok {
				return nil, invalidField(k, v, pyRepr(v)+" is not of type 'string', 'number'")
			}
			if isInt && !strings.ContainsAny(string(v), ".eE") {
				out[k] = strings.TrimSpace(string(v))
			} else {
				out[k] = pyFloat(f)
			}
			if len(out[k]) > 255 {
				return nil, fault.BadRequestf("Invalid input received: extra_specs value has more than 255 characters.")
			}
		}
	}
	return out, nil
}

func (h *handlers) listExtraSpecs(w http.ResponseWriter, r *http.Request) error {
	specs, err := h.svc.ExtraSpecs(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"extra_specs": specs})
}

func (h *handlers) showExtraSpec(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	v, err := h.svc.ExtraSpec(r.Context(), principal(r), r.PathValue("id"), key)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{key: v})
}

func (h *handlers) createExtraSpecs(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	if err := body.check("", raw, []string{"extra_specs"}, "extra_specs"); err != nil {
		return err
	}
	specs, err := parseSpecs("extra_specs", body["extra_specs"])
	if err != nil {
		return err
	}
	if err := h.svc.SetExtraSpecs(r.Context(), p, r.PathValue("id"), specs, mv(r).AtLeast(86), false); err != nil {
		return err
	}
	// Nova answers with the request's body as given.
	return writeJSON(w, http.StatusOK, map[string]json.RawMessage{"extra_specs": body["extra_specs"]})
}

func (h *handlers) updateExtraSpec(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	switch {
	case len(body) < 1:
		return fault.BadRequestf("%s does not have enough properties", pyRepr(raw))
	case len(body) > 1:
		return fault.BadRequestf("%s has too many properties", pyRepr(raw))
	}
	specs, err := parseSpecs("", raw)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := specs[key]; !ok {
		return fault.BadRequestf("Request body and URI mismatch")
	}
	if err := h.svc.SetExtraSpecs(r.Context(), p, r.PathValue("id"), specs, mv(r).AtLeast(86), true); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, json.RawMessage(raw))
}

func (h *handlers) deleteExtraSpec(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteExtraSpec(r.Context(), principal(r), r.PathValue("id"), r.PathValue("key")); err != nil {
		return err
	}
	return noBody(w, http.StatusOK)
}
