package identity

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// catalogRoutes serves regions, services and endpoints.
func (h *handlers) catalogRoutes(rt routeTable) {
	rt.Handle("GET /v3/regions", h.listRegions)
	rt.Handle("POST /v3/regions", h.createRegion)
	rt.Handle("GET /v3/regions/{id}", h.getRegion)
	rt.Handle("PUT /v3/regions/{id}", h.createRegion)
	rt.Handle("PATCH /v3/regions/{id}", h.updateRegion)
	rt.Handle("DELETE /v3/regions/{id}", h.deleteRegion)

	rt.Handle("GET /v3/services", h.listServices)
	rt.Handle("POST /v3/services", h.createService)
	rt.Handle("GET /v3/services/{id}", h.getService)
	rt.Handle("PATCH /v3/services/{id}", h.updateService)
	rt.Handle("DELETE /v3/services/{id}", h.deleteService)

	rt.Handle("GET /v3/endpoints", h.listEndpoints)
	rt.Handle("POST /v3/endpoints", h.createEndpoint)
	rt.Handle("GET /v3/endpoints/{id}", h.getEndpoint)
	rt.Handle("PATCH /v3/endpoints/{id}", h.updateEndpoint)
	rt.Handle("DELETE /v3/endpoints/{id}", h.deleteEndpoint)
}

// listBody is a collection with its links, cut to list_limit.
func (h *handlers) listBody(r *http.Request, key string, items []any) map[string]any {
	n, trunc := h.truncate(len(items))
	body := map[string]any{key: items[:n], "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return body
}

// optString reads optional string fields into dst, leaving absent ones.
func optStrings(m map[string]any, fields map[string]*string) error {
	for key, dst := range fields {
		v, err := reqString(m, key)
		if err != nil {
			return err
		}
		if v != nil {
			*dst = *v
		}
	}
	return nil
}

// Regions.

func regionWire(r *http.Request, rg *Region) map[string]any {
	var parent any
	if rg.ParentRegionID != "" {
		parent = rg.ParentRegionID
	}
	return withExtra(map[string]any{"id": rg.ID, "description": rg.Description, "parent_region_id": parent,
		"links": selfLink(r, "regions/"+rg.ID)}, rg.Extra)
}

var regionFields = []string{"id", "description", "parent_region_id", "links"}

func (h *handlers) listRegions(w http.ResponseWriter, r *http.Request) error {
	rs, err := h.svc.ListRegions(r.Context(), principal(r), r.URL.Query().Get("parent_region_id"))
	if err != nil {
		return err
	}
	items := make([]any, 0, len(rs))
	for i := range rs {
		items = append(items, regionWire(r, &rs[i]))
	}
	return writeOK(w, h.listBody(r, "regions", items))
}

func (h *handlers) getRegion(w http.ResponseWriter, r *http.Request) error {
	rg, err := h.svc.GetRegion(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"region": regionWire(r, rg)})
}

// createRegion serves POST /v3/regions and PUT /v3/regions/{id}.
func (h *handlers) createRegion(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "region")
	if err != nil {
		return err
	}
	rg := Region{Extra: extraFields(m, regionFields...)}
	if err := optStrings(m, map[string]*string{"id": &rg.ID, "description": &rg.Description, "parent_region_id": &rg.ParentRegionID}); err != nil {
		return err
	}
	if pathID := r.PathValue("id"); pathID != "" {
		if rg.ID != "" && rg.ID != pathID {
			return fault.BadRequestf("The region id in the body (%s) does not match the one in the URL (%s).", rg.ID, pathID)
		}
		rg.ID = pathID
	}
	out, err := h.svc.CreateRegion(r.Context(), principal(r), rg)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"region": regionWire(r, out)})
}

func (h *handlers) updateRegion(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "region")
	if err != nil {
		return err
	}
	if v, ok := m["id"]; ok && v != r.PathValue("id") {
		return fault.BadRequestf("Cannot change region ID.")
	}
	var patch RegionPatch
	if patch.Description, err = reqString(m, "description"); err != nil {
		return err
	}
	if patch.ParentRegionID, err = reqString(m, "parent_region_id"); err != nil {
		return err
	}
	patch.Extra = extraFields(m, regionFields...)
	rg, err := h.svc.UpdateRegion(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"region": regionWire(r, rg)})
}

func (h *handlers) deleteRegion(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteRegion(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// Services.

func serviceWire(r *http.Request, cs *CatalogService) map[string]any {
	return withExtra(map[string]any{"id": cs.ID, "type": cs.Type, "name": cs.Name, "description": cs.Description,
		"enabled": cs.Enabled, "links": selfLink(r, "services/"+cs.ID)}, cs.Extra)
}

var serviceFields = []string{"id", "type", "name", "description", "enabled", "links"}

func (h *handlers) listServices(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ss, err := h.svc.ListServices(r.Context(), principal(r), ServiceFilter{Type: q.Get("type"), Name: q.Get("name")})
	if err != nil {
		return err
	}
	items := make([]any, 0, len(ss))
	for i := range ss {
		items = append(items, serviceWire(r, &ss[i]))
	}
	return writeOK(w, h.listBody(r, "services", items))
}

func (h *handlers) getService(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.svc.GetService(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"service": serviceWire(r, cs)})
}

func (h *handlers) createService(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "service")
	if err != nil {
		return err
	}
	typ, err := reqString(m, "type")
	if err != nil {
		return err
	}
	if typ == nil {
		return fault.BadRequestf("Invalid input for field 'type': 'type' is a required property.")
	}
	cs := CatalogService{Type: *typ, Enabled: true, Extra: extraFields(m, serviceFields...)}
	if err := optStrings(m, map[string]*string{"name": &cs.Name, "description": &cs.Description}); err != nil {
		return err
	}
	if v, err := reqBool(m, "enabled"); err != nil {
		return err
	} else if v != nil {
		cs.Enabled = *v
	}
	out, err := h.svc.CreateService(r.Context(), principal(r), cs)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"service": serviceWire(r, out)})
}

func (h *handlers) updateService(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "service")
	if err != nil {
		return err
	}
	if v, ok := m["id"]; ok && v != r.PathValue("id") {
		return fault.BadRequestf("Cannot change service ID.")
	}
	var patch ServicePatch
	for key, dst := range map[string]**string{"type": &patch.Type, "name": &patch.Name, "description": &patch.Description} {
		if *dst, err = reqString(m, key); err != nil {
			return err
		}
	}
	if patch.Enabled, err = reqBool(m, "enabled"); err != nil {
		return err
	}
	patch.Extra = extraFields(m, serviceFields...)
	cs, err := h.svc.UpdateService(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"service": serviceWire(r, cs)})
}

func (h *handlers) deleteService(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteService(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// Endpoints.

func endpointWire(r *http.Request, ep *Endpoint) map[string]any {
	var region any
	if ep.RegionID != "" {
		region = ep.RegionID
	}
	return withExtra(map[string]any{"id": ep.ID, "interface": ep.Interface, "region_id": region, "region": region,
		"service_id": ep.ServiceID, "url": ep.URL, "enabled": ep.Enabled,
		"links": selfLink(r, "endpoints/"+ep.ID)}, ep.Extra)
}

var endpointFields = []string{"id", "interface", "region_id", "region", "service_id", "url", "enabled", "links"}

func (h *handlers) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	eps, err := h.svc.ListEndpoints(r.Context(), principal(r), EndpointFilter{Interface: q.Get("interface"),
		ServiceID: q.Get("service_id"), RegionID: q.Get("region_id")})
	if err != nil {
		return err
	}
	items := make([]any, 0, len(eps))
	for i := range eps {
		items = append(items, endpointWire(r, &eps[i]))
	}
	return writeOK(w, h.listBody(r, "endpoints", items))
}

func (h *handlers) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	ep, err := h.svc.GetEndpoint(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"endpoint": endpointWire(r, ep)})
}

// endpointRegion reads region_id, or the legacy region; legacy reports the
// latter. Both given must agree.
func endpointRegion(m map[string]any) (region *string, legacy bool, err error) {
	rid, err := reqString(m, "region_id")
	if err != nil {
		return nil, false, err
	}
	old, err := reqString(m, "region")
	if err != nil {
		return nil, false, err
	}
	switch {
	case rid != nil && old != nil && *rid != *old && *old != "":
		return nil, false, fault.BadRequestf("Conflicting region attributes: region_id %s and region %s.", *rid, *old)
	case rid != nil:
		return rid, false, nil
	case old != nil:
		return old, true, nil
	}
	return nil, false, nil
}

func (h *handlers) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "endpoint")
	if err != nil {
		return err
	}
	ep := Endpoint{Enabled: true, Extra: extraFields(m, endpointFields...)}
	for _, key := range []string{"service_id", "interface", "url"} {
		v, err := reqString(m, key)
		if err != nil {
			return err
		}
		if v == nil {
			return fault.BadRequestf("Invalid input for field '%s': '%s' is a required property.", key, key)
		}
		switch key {
		case "service_id":
			ep.ServiceID = *v
		case "interface":
			ep.Interface = *v
		case "url":
			ep.URL = *v
		}
	}
	region, legacy, err := endpointRegion(m)
	if err != nil {
		return err
	}
	if region != nil {
		ep.RegionID = *region
	}
	if v, err := reqBool(m, "enabled"); err != nil {
		return err
	} else if v != nil {
		ep.Enabled = *v
	}
	out, err := h.svc.CreateEndpoint(r.Context(), principal(r), ep, legacy)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"endpoint": endpointWire(r, out)})
}

func (h *handlers) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "endpoint")
	if err != nil {
		return err
	}
	if v, ok := m["id"]; ok && v != r.PathValue("id") {
		return fault.BadRequestf("Cannot change endpoint ID.")
	}
	var patch EndpointPatch
	for key, dst := range map[string]**string{"service_id": &patch.ServiceID, "interface": &patch.Interface, "url": &patch.URL} {
		if *dst, err = reqString(m, key); err != nil {
			return err
		}
	}
	if patch.RegionID, patch.LegacyRegion, err = endpointRegion(m); err != nil {
		return err
	}
	if patch.Enabled, err = reqBool(m, "enabled"); err != nil {
		return err
	}
	patch.Extra = extraFields(m, endpointFields...)
	ep, err := h.svc.UpdateEndpoint(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"endpoint": endpointWire(r, ep)})
}

func (h *handlers) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteEndpoint(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}
