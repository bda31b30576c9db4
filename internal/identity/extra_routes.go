package identity

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// extraRoutes serves the policy blob store and domain configuration.
func (h *handlers) extraRoutes(rt routeTable) {
	rt.Handle("GET /v3/policies", h.listPolicies)
	rt.Handle("POST /v3/policies", h.createPolicy)
	rt.Handle("GET /v3/policies/{id}", h.getPolicy)
	rt.Handle("PATCH /v3/policies/{id}", h.updatePolicy)
	rt.Handle("DELETE /v3/policies/{id}", h.deletePolicy)

	// Keystone serves the defaults at /v3/domains/config/{group}/default
	// and /v3/domains/config/{group}/{option}/default. ServeMux cannot
	// hold those beside /v3/domains/{id}/config/{group}[/{option}] (each
	// is more specific in a different segment), so they are caught by
	// wildcard patterns the per-domain routes outrank, and checked here.
	rt.Handle("GET /v3/domains/config/default", h.defaultDomainConfig)
	rt.Handle("GET /v3/domains/{config}/{group}/{default}", h.defaultDomainGroupConfig)
	rt.Handle("GET /v3/domains/{config}/{group}/{option}/{default}", h.defaultDomainGroupConfig)
	for _, suffix := range []string{"", "/{group}", "/{group}/{option}"} {
		p := "/v3/domains/{id}/config" + suffix
		rt.Handle("GET "+p, h.getDomainConfig)
		rt.Handle("PATCH "+p, h.updateDomainConfig)
		rt.Handle("DELETE "+p, h.deleteDomainConfig)
	}
	rt.Handle("PUT /v3/domains/{id}/config", h.createDomainConfig)
}

// Policies.

func policyWire(r *http.Request, pol *Policy) map[string]any {
	return withExtra(map[string]any{"id": pol.ID, "type": pol.Type, "blob": pol.Blob,
		"links": selfLink(r, "policies/"+pol.ID)}, pol.Extra)
}

var policyFields = []string{"id", "type", "blob", "links"}

func (h *handlers) listPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.ListPolicies(r.Context(), principal(r), r.URL.Query().Get("type"))
	if err != nil {
		return err
	}
	items := make([]any, 0, len(ps))
	for i := range ps {
		items = append(items, policyWire(r, &ps[i]))
	}
	return writeOK(w, h.listBody(r, "policies", items))
}

func (h *handlers) getPolicy(w http.ResponseWriter, r *http.Request) error {
	pol, err := h.svc.GetPolicy(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"policy": policyWire(r, pol)})
}

func (h *handlers) createPolicy(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "policy")
	if err != nil {
		return err
	}
	pol := Policy{Extra: extraFields(m, policyFields...)}
	for _, key := range []string{"type", "blob"} {
		if _, ok := m[key]; !ok {
			return fault.BadRequestf("Invalid input for field '%s': '%s' is a required property.", key, key)
		}
	}
	if err := optStrings(m, map[string]*string{"type": &pol.Type, "blob": &pol.Blob}); err != nil {
		return err
	}
	out, err := h.svc.CreatePolicy(r.Context(), principal(r), pol)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"policy": policyWire(r, out)})
}

func (h *handlers) updatePolicy(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "policy")
	if err != nil {
		return err
	}
	if v, ok := m["id"]; ok && v != r.PathValue("id") {
		return fault.BadRequestf("Cannot change policy ID.")
	}
	var patch PolicyPatch
	if patch.Type, err = reqString(m, "type"); err != nil {
		return err
	}
	if patch.Blob, err = reqString(m, "blob"); err != nil {
		return err
	}
	patch.Extra = extraFields(m, policyFields...)
	pol, err := h.svc.UpdatePolicy(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"policy": policyWire(r, pol)})
}

func (h *handlers) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeletePolicy(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// Domain configuration.

// decodeConfig reads {"config": {...}}.
func decodeConfig(r *http.Request) (map[string]any, error) {
	var body map[string]any
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return nil, err
	}
	cfg, ok := body["config"].(map[string]any)
	if !ok {
		return nil, fault.BadRequestf("Expecting to find config in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	return cfg, nil
}

func (h *handlers) getDomainConfig(w http.ResponseWriter, r *http.Request) error {
	cfg, err := h.svc.GetDomainConfig(r.Context(), principal(r), r.PathValue("id"), r.PathValue("group"), r.PathValue("option"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"config": cfg})
}

func (h *handlers) createDomainConfig(w http.ResponseWriter, r *http.Request) error {
	raw, err := decodeConfig(r)
	if err != nil {
		return err
	}
	cfg := DomainConfig{}
	for g, v := range raw {
		opts, ok := v.(map[string]any)
		if !ok {
			return fault.BadRequestf("Invalid input for field 'config': group %s must be an object.", g)
		}
		cfg[g] = opts
	}
	out, created, err := h.svc.CreateDomainConfig(r.Context(), principal(r), r.PathValue("id"), cfg)
	if err != nil {
		return err
	}
	if created {
		return writeCreated(w, map[string]any{"config": out})
	}
	return writeOK(w, map[string]any{"config": out})
}

func (h *handlers) updateDomainConfig(w http.ResponseWriter, r *http.Request) error {
	raw, err := decodeConfig(r)
	if err != nil {
		return err
	}
	out, err := h.svc.UpdateDomainConfig(r.Context(), principal(r), r.PathValue("id"), r.PathValue("group"), r.PathValue("option"), raw)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"config": out})
}

func (h *handlers) deleteDomainConfig(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteDomainConfig(r.Context(), principal(r), r.PathValue("id"), r.PathValue("group"), r.PathValue("option")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// defaultDomainGroupConfig serves the wildcard routes registered for
// /v3/domains/config/{group}[/{option}]/default; any other path they catch
// is not found.
func (h *handlers) defaultDomainGroupConfig(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("config") != "config" || r.PathValue("default") != "default" {
		return fault.NotFoundf("The resource could not be found.")
	}
	return h.defaultDomainConfig(w, r)
}

func (h *handlers) defaultDomainConfig(w http.ResponseWriter, r *http.Request) error {
	cfg, err := h.svc.DefaultDomainConfig(r.Context(), principal(r), r.PathValue("group"), r.PathValue("option"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"config": cfg})
}
