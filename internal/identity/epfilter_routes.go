package identity

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// epFilterRoutes serves the OS-EP-FILTER extension and, registered with
// it, OS-OAUTH1 consumers (consumerRoutes). The rest of OS-OAUTH1 (request
// and access tokens) is not built, so its paths stay 404.
func (h *handlers) epFilterRoutes(rt routeTable) {
	const pre = "/v3/OS-EP-FILTER"
	rt.Handle("GET "+pre+"/endpoint_groups", h.listEndpointGroups)
	rt.Handle("POST "+pre+"/endpoint_groups", h.createEndpointGroup)
	rt.Handle("GET "+pre+"/endpoint_groups/{id}", h.getEndpointGroup) // HEAD too
	rt.Handle("PATCH "+pre+"/endpoint_groups/{id}", h.updateEndpointGroup)
	rt.Handle("DELETE "+pre+"/endpoint_groups/{id}", h.deleteEndpointGroup)
	rt.Handle("GET "+pre+"/endpoint_groups/{id}/endpoints", h.listEndpointsInGroup)
	rt.Handle("GET "+pre+"/endpoint_groups/{id}/projects", h.listProjectsForEndpointGroup)
	rt.Handle("GET "+pre+"/endpoint_groups/{id}/projects/{project}", h.getEndpointGroupInProject) // HEAD too
	rt.Handle("PUT "+pre+"/endpoint_groups/{id}/projects/{project}", h.addEndpointGroupToProject)
	rt.Handle("DELETE "+pre+"/endpoint_groups/{id}/projects/{project}", h.removeEndpointGroupFromProject)

	rt.Handle("GET "+pre+"/projects/{project}/endpoints", h.listEndpointsForProject)
	rt.Handle("GET "+pre+"/projects/{project}/endpoints/{endpoint}", h.checkEndpointInProject) // HEAD too
	rt.Handle("PUT "+pre+"/projects/{project}/endpoints/{endpoint}", h.addEndpointToProject)
	rt.Handle("DELETE "+pre+"/projects/{project}/endpoints/{endpoint}", h.removeEndpointFromProject)
	rt.Handle("GET "+pre+"/projects/{project}/endpoint_groups", h.listEndpointGroupsForProject)
	rt.Handle("GET "+pre+"/endpoints/{endpoint}/projects", h.listProjectsForEndpoint)

	h.consumerRoutes(rt)
}

func endpointGroupWire(r *http.Request, g *EndpointGroup) map[string]any {
	var desc any
	if g.Description != nil {
		desc = *g.Description
	}
	filters := make(map[string]any, len(g.Filters))
	for k, v := range g.Filters {
		filters[k] = v
	}
	return map[string]any{"id": g.ID, "name": g.Name, "description": desc, "filters": filters,
		"links": selfLink(r, "OS-EP-FILTER/endpoint_groups/"+g.ID)}
}

func endpointGroupsBody(r *http.Request, gs []EndpointGroup) map[string]any {
	items := make([]any, 0, len(gs))
	for i := range gs {
		items = append(items, endpointGroupWire(r, &gs[i]))
	}
	return map[string]any{"endpoint_groups": items, "links": listLinks(r)}
}

func endpointsBody(r *http.Request, eps []Endpoint) map[string]any {
	items := make([]any, 0, len(eps))
	for i := range eps {
		items = append(items, endpointWire(r, &eps[i]))
	}
	return map[string]any{"endpoints": items, "links": listLinks(r)}
}

func projectsBody(r *http.Request, ps []Project) map[string]any {
	items := make([]any, 0, len(ps))
	for i := range ps {
		items = append(items, projectWire(r, &ps[i]))
	}
	return map[string]any{"projects": items, "links": listLinks(r)}
}

// decodeEndpointGroup reads an endpoint_group body; Keystone's schema
// allows only name, description and filters.
func decodeEndpointGroup(r *http.Request) (m map[string]any, name, desc *string, filters map[string]string, err error) {
	if m, err = decodeEntity(r, "endpoint_group"); err != nil {
		return
	}
	for k := range m {
		if k != "name" && k != "description" && k != "filters" {
			err = fault.BadRequestf("Invalid input for field 'endpoint_group': Additional properties are not allowed ('%s' was unexpected).", k)
			return
		}
	}
	if name, err = reqString(m, "name"); err != nil {
		return
	}
	if v, ok := m["description"]; ok && v != nil {
		if desc, err = reqString(m, "description"); err != nil {
			return
		}
	}
	v, ok := m["filters"]
	if !ok {
		return
	}
	fm, isMap := v.(map[string]any)
	if !isMap {
		err = fault.BadRequestf("Invalid input for field 'filters': %v is not of type 'object'.", v)
		return
	}
	filters = make(map[string]string, len(fm))
	for k, fv := range fm {
		s, isStr := fv.(string)
		if !isStr {
			err = fault.BadRequestf("Invalid input for field 'filters/%s': %v is not of type 'string'.", k, fv)
			return
		}
		filters[k] = s
	}
	return
}

func (h *handlers) listEndpointGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := h.svc.ListEndpointGroups(r.Context(), principal(r), r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	items := make([]any, 0, len(gs))
	for i := range gs {
		items = append(items, endpointGroupWire(r, &gs[i]))
	}
	return writeOK(w, h.listBody(r, "endpoint_groups", items))
}

func (h *handlers) createEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	_, name, desc, filters, err := decodeEndpointGroup(r)
	if err != nil {
		return err
	}
	if name == nil {
		return fault.BadRequestf("Invalid input for field 'endpoint_group': 'name' is a required property.")
	}
	g, err := h.svc.CreateEndpointGroup(r.Context(), principal(r), EndpointGroup{Name: *name, Description: desc, Filters: filters})
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"endpoint_group": endpointGroupWire(r, g)})
}

func (h *handlers) getEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := h.svc.GetEndpointGroup(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"endpoint_group": endpointGroupWire(r, g)})
}

func (h *handlers) updateEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	m, name, desc, filters, err := decodeEndpointGroup(r)
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return fault.BadRequestf("Invalid input for field 'endpoint_group': {} does not have enough properties.")
	}
	patch := EndpointGroupPatch{Name: name, Description: desc, Filters: filters}
	if v, ok := m["description"]; ok && v == nil {
		patch.ClearDescription = true
	}
	if _, ok := m["filters"]; ok && filters == nil {
		patch.Filters = map[string]string{} // rejected as empty
	}
	g, err := h.svc.UpdateEndpointGroup(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"endpoint_group": endpointGroupWire(r, g)})
}

func (h *handlers) deleteEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteEndpointGroup(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listEndpointsInGroup(w http.ResponseWriter, r *http.Request) error {
	eps, err := h.svc.ListEndpointsInGroup(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, endpointsBody(r, eps))
}

func (h *handlers) listProjectsForEndpointGroup(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.ListProjectsForEndpointGroup(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, projectsBody(r, ps))
}

// getEndpointGroupInProject answers GET and HEAD with the association, as
// Keystone shows it.
func (h *handlers) getEndpointGroupInProject(w http.ResponseWriter, r *http.Request) error {
	gid, pid := r.PathValue("id"), r.PathValue("project")
	if err := h.svc.CheckEndpointGroupInProject(r.Context(), principal(r), gid, pid); err != nil {
		return err
	}
	return writeOK(w, map[string]any{"project_endpoint_group": map[string]any{
		"endpoint_group_id": gid, "project_id": pid,
		"links": selfLink(r, "OS-EP-FILTER/endpoint_groups/"+gid+"/projects/"+pid)}})
}

func (h *handlers) addEndpointGroupToProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.AddEndpointGroupToProject(r.Context(), principal(r), r.PathValue("id"), r.PathValue("project")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) removeEndpointGroupFromProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RemoveEndpointGroupFromProject(r.Context(), principal(r), r.PathValue("id"), r.PathValue("project")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listEndpointsForProject(w http.ResponseWriter, r *http.Request) error {
	eps, err := h.svc.ListEndpointsForProject(r.Context(), principal(r), r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeOK(w, endpointsBody(r, eps))
}

func (h *handlers) checkEndpointInProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.CheckEndpointInProject(r.Context(), principal(r), r.PathValue("project"), r.PathValue("endpoint")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) addEndpointToProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.AddEndpointToProject(r.Context(), principal(r), r.PathValue("project"), r.PathValue("endpoint")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) removeEndpointFromProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RemoveEndpointFromProject(r.Context(), principal(r), r.PathValue("project"), r.PathValue("endpoint")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listEndpointGroupsForProject(w http.ResponseWriter, r *http.Request) error {
	gs, err := h.svc.ListEndpointGroupsForProject(r.Context(), principal(r), r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeOK(w, endpointGroupsBody(r, gs))
}

func (h *handlers) listProjectsForEndpoint(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.ListProjectsForEndpoint(r.Context(), principal(r), r.PathValue("endpoint"))
	if err != nil {
		return err
	}
	return writeOK(w, projectsBody(r, ps))
}
