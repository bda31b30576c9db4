package identity

import (
	"math"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// trustRoutes registers OS-TRUST.
func (h *handlers) trustRoutes(rt routeTable) {
	rt.Handle("GET /v3/OS-TRUST/trusts", h.listTrusts)
	rt.Handle("GET /v3/OS-TRUST/trusts/{$}", h.listTrusts) // tempest asks with a trailing slash
	rt.Handle("POST /v3/OS-TRUST/trusts", h.createTrust)
	rt.Handle("GET /v3/OS-TRUST/trusts/{trust_id}", h.getTrust)
	rt.Handle("DELETE /v3/OS-TRUST/trusts/{trust_id}", h.deleteTrust)
	rt.Handle("GET /v3/OS-TRUST/trusts/{trust_id}/roles", h.listTrustRoles)
	rt.Handle("GET /v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}", h.getTrustRole)
	rt.Handle("HEAD /v3/OS-TRUST/trusts/{trust_id}/roles/{role_id}", h.getTrustRole)
}

// trustWire is a trust as the api-ref shows it; roles are left out of
// lists, as Keystone does.
func trustWire(r *http.Request, tr *Trust, roles []Role, withRoles bool) map[string]any {
	var expires, uses any
	if tr.ExpiresAt != nil {
		expires = formatTime(*tr.ExpiresAt)
	}
	if tr.RemainingUses != nil {
		uses = *tr.RemainingUses
	}
	m := map[string]any{
		"id": tr.ID, "trustor_user_id": tr.TrustorUserID, "trustee_user_id": tr.TrusteeUserID,
		"project_id": tr.ProjectID, "impersonation": tr.Impersonation, "expires_at": expires,
		"remaining_uses": uses, "redelegation_count": tr.RedelegationCount,
		"allow_redelegation": tr.RedelegationCount > 0,
		"links":              selfLink(r, "OS-TRUST/trusts/"+tr.ID),
	}
	if tr.RedelegatedTrustID != "" {
		m["redelegated_trust_id"] = tr.RedelegatedTrustID
	}
	if withRoles {
		m["roles"] = rolesWire(r, roles)
		m["roles_links"] = trustRolesLinks(r, tr)
	}
	return m
}

func trustRolesLinks(r *http.Request, tr *Trust) map[string]any {
	return map[string]any{"self": baseURL(r) + "/v3/OS-TRUST/trusts/" + tr.ID + "/roles", "previous": nil, "next": nil}
}

// trustRequestFrom reads a create request with Keystone's schema: the two
// users and impersonation are required.
func trustRequestFrom(m map[string]any) (TrustRequest, error) {
	var req TrustRequest
	for key, dst := range map[string]*string{"trustor_user_id": &req.TrustorUserID, "trustee_user_id": &req.TrusteeUserID} {
		v, err := reqString(m, key)
		if err != nil {
			return req, err
		}
		if v == nil || *v == "" {
			return req, fault.BadRequestf("Invalid input for field 'trust': '%s' is a required property.", key)
		}
		*dst = *v
	}
	if v, err := reqString(m, "project_id"); err != nil {
		return req, err
	} else if v != nil {
		req.ProjectID = *v
	}
	imp, err := reqBool(m, "impersonation")
	if err != nil {
		return req, err
	}
	if imp == nil {
		return req, fault.BadRequestf("Invalid input for field 'trust': 'impersonation' is a required property.")
	}
	req.Impersonation = *imp
	if v, ok := m["allow_redelegation"]; ok && v != nil {
		b, ok := v.(bool)
		if !ok {
			return req, fault.BadRequestf("Invalid input for field 'allow_redelegation': %v is not of type 'boolean'.", v)
		}
		req.AllowRedelegation = b
	}
	if v, err := reqString(m, "expires_at"); err != nil {
		return req, err
	} else if v != nil && *v != "" {
		t, err := parseExpiresAt(*v)
		if err != nil {
			return req, err
		}
		req.ExpiresAt = &t
	}
	if req.RemainingUses, err = optInt(m, "remaining_uses", 1); err != nil {
		return req, err
	}
	if req.RedelegationCount, err = optInt(m, "redelegation_count", 0); err != nil {
		return req, err
	}
	if req.Roles, err = roleRefsFrom(m["roles"]); err != nil {
		return req, err
	}
	return req, nil
}

// optInt reads an optional integer of at least min; null is unset.
func optInt(m map[string]any, key string, min int) (*int, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return nil, fault.BadRequestf("Invalid input for field '%s': %v is not of type 'integer', 'null'.", key, v)
	}
	n := int(f)
	if n < min {
		return nil, fault.BadRequestf("Invalid input for field '%s': %d is less than the minimum of %d.", key, n, min)
	}
	return &n, nil
}

func (h *handlers) createTrust(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "trust")
	if err != nil {
		return err
	}
	req, err := trustRequestFrom(m)
	if err != nil {
		return err
	}
	tr, err := h.svc.CreateTrust(r.Context(), principal(r), req)
	if err != nil {
		return err
	}
	roles, err := h.svc.rolesByID(r.Context(), tr.RoleIDs)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"trust": trustWire(r, tr, roles, true)})
}

func (h *handlers) listTrusts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	trusts, err := h.svc.ListTrusts(r.Context(), principal(r), q.Get("trustor_user_id"), q.Get("trustee_user_id"))
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(trusts))
	list := make([]any, 0, n)
	for i := range trusts[:n] {
		list = append(list, trustWire(r, &trusts[i], nil, false))
	}
	body := map[string]any{"trusts": list, "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getTrust(w http.ResponseWriter, r *http.Request) error {
	tr, err := h.svc.GetTrust(r.Context(), principal(r), r.PathValue("trust_id"))
	if err != nil {
		return err
	}
	roles, err := h.svc.rolesByID(r.Context(), tr.RoleIDs)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"trust": trustWire(r, tr, roles, true)})
}

func (h *handlers) deleteTrust(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteTrust(r.Context(), principal(r), r.PathValue("trust_id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listTrustRoles(w http.ResponseWriter, r *http.Request) error {
	tr, roles, err := h.svc.TrustRoles(r.Context(), principal(r), r.PathValue("trust_id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"roles": rolesWire(r, roles), "links": trustRolesLinks(r, tr)})
}

func (h *handlers) getTrustRole(w http.ResponseWriter, r *http.Request) error {
	role, err := h.svc.TrustRole(r.Context(), principal(r), r.PathValue("trust_id"), r.PathValue("role_id"))
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return writeOK(w, map[string]any{"role": roleWire(r, role)})
}
