package compute

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
)

func (h *handlers) limits(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "tenant_id"); err != nil {
		return err
	}
	tenant, _ := lastParam(r, "tenant_id")
	q, err := h.svc.Limits(r.Context(), principal(r), tenant)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, limitsBody(mv(r), q))
}

func (h *handlers) showQuotaSet(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "user_id"); err != nil {
		return err
	}
	user, _ := lastParam(r, "user_id")
	id := r.PathValue("id")
	q, err := h.svc.QuotaSet(r.Context(), principal(r), id, user)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetBody(id, q, hiddenQuotas(mv(r)))})
}

func (h *handlers) quotaSetDetail(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "user_id"); err != nil {
		return err
	}
	user, _ := lastParam(r, "user_id")
	id := r.PathValue("id")
	q, err := h.svc.QuotaDetail(r.Context(), principal(r), id, user)
	if err != nil {
		return err
	}
	hide := hiddenQuotas(mv(r))
	out := map[string]any{"id": id}
	for _, res := range quotaResources {
		if ql, ok := q[res]; ok && !hide[res] {
			out[res] = quotaDetailItem{InUse: ql.InUse, Limit: ql.Limit}
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"quota_set": out})
}

func (h *handlers) quotaSetDefaults(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q, err := h.svc.QuotaDefaults(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetBody(id, q, hiddenQuotas(mv(r)))})
}

var quotaPattern = regexp.MustCompile(`^-?[0-9]+$`)

// quotaValue reads a limit: an integer (or string of one) from -1 to
// MAX_INT.
func quotaValue(field string, raw json.RawMessage) (int64, error) {
	var n int64
	if len(raw) > 0 && raw[0] == '"' {
		s, _ := jsonString(field, raw)
		if !quotaPattern.MatchString(s) {
			return 0, invalidField(field, raw, pyRepr(raw)+" does not match '^-?[0-9]+$'")
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, invalidField(field, raw, pyRepr(raw)+" is greater than the maximum of 2147483647")
		}
		n = v
	} else {
		f, isInt, ok := jsonNumber(raw)
		if !ok || !isInt {
			return 0, invalidField(field, raw, pyRepr(raw)+" is not of type 'integer', 'string'")
		}
		if f > maxInt {
			return 0, invalidField(field, raw, pyRepr(raw)+" is greater than the maximum of 2147483647")
		}
		n = int64(f)
	}
	if n < -1 {
		return 0, invalidField(field, raw, pyRepr(raw)+" is less than the minimum of -1")
	}
	if n > maxInt {
		return 0, invalidField(field, raw, pyRepr(raw)+" is greater than the maximum of 2147483647")
	}
	return n, nil
}

// parseQuotaBody reads {"<key>": {resource: limit, ...}}; hide names the
// resources the microversion no longer accepts; force is read when
// allowForce.
func parseQuotaBody(r *http.Request, key string, hide map[string]bool, allowForce bool) (map[string]int64, bool, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return nil, false, err
	}
	legacy := mv(r).Legacy()
	var top []string
	if !legacy {
		top = []string{key}
	}
	if err := body.check("", raw, top, key); err != nil {
		return nil, false, err
	}
	qo, err := objectAt(body[key], key)
	if err != nil {
		return nil, false, err
	}
	var allowed []string
	if !legacy {
		for _, res := range quotaResources {
			if !hide[res] {
				allowed = append(allowed, res)
			}
		}
		if allowForce {
			allowed = append(allowed, "force")
		}
	}
	if err := qo.check(key, body[key], allowed); err != nil {
		return nil, false, err
	}
	values := map[string]int64{}
	force := false
	for k, v := range qo {
		if k == "force" && allowForce {
			b, err := novaBoolean("force", v)
			if err != nil {
				return nil, false, err
			}
			force = b
			continue
		}
		if !isQuotaResource(k) {
			continue // legacy v2.0 drops what it does not know
		}
		n, err := quotaValue(k, v)
		if err != nil {
			return nil, false, err
		}
		values[k] = n
	}
	return values, force, nil
}

func (h *handlers) updateQuotaSet(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "user_id"); err != nil {
		return err
	}
	hide := hiddenQuotas(mv(r))
	values, force, err := parseQuotaBody(r, "quota_set", hide, true)
	if err != nil {
		return err
	}
	user, _ := lastParam(r, "user_id")
	q, err := h.svc.UpdateQuotaSet(r.Context(), principal(r), r.PathValue("id"), user, values, force)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"quota_set": quotaSetBody("", q, hide)})
}

func (h *handlers) deleteQuotaSet(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "user_id"); err != nil {
		return err
	}
	user, _ := lastParam(r, "user_id")
	if err := h.svc.DeleteQuotaSet(r.Context(), principal(r), r.PathValue("id"), user); err != nil {
		return err
	}
	return noBody(w, http.StatusAccepted)
}

func (h *handlers) showQuotaClass(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	q, err := h.svc.QuotaClass(r.Context(), principal(r), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"quota_class_set": quotaSetBody(id, q, hiddenQuotaClasses(mv(r)))})
}

func (h *handlers) updateQuotaClass(w http.ResponseWriter, r *http.Request) error {
	hide := hiddenQuotaClasses(mv(r))
	accept := hiddenQuotaClasses(mv(r))
	delete(accept, "server_groups") // accepted before 2.50, only not shown
	delete(accept, "server_group_members")
	values, _, err := parseQuotaBody(r, "quota_class_set", accept, false)
	if err != nil {
		return err
	}
	q, err := h.svc.UpdateQuotaClass(r.Context(), principal(r), r.PathValue("id"), values)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"quota_class_set": quotaSetBody("", q, hide)})
}

func (h *handlers) listZones(w http.ResponseWriter, r *http.Request) error {
	zones, err := h.svc.AvailabilityZones(r.Context(), principal(r), false)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toZones(zones))
}

func (h *handlers) listZonesDetail(w http.ResponseWriter, r *http.Request) error {
	zones, err := h.svc.AvailabilityZones(r.Context(), principal(r), true)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toZones(zones))
}
