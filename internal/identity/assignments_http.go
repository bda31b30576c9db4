package identity

import (
	"net/http"
	"strings"
)

// grantRef reads a grant's parts from the path; the route's prefix tells
// the target kind and whether it is inherited.
func grantRef(r *http.Request) GrantRef {
	path := r.URL.Path
	return GrantRef{
		UserID: r.PathValue("user"), GroupID: r.PathValue("group"),
		ProjectID: r.PathValue("project"), DomainID: r.PathValue("domain"),
		System:    strings.HasPrefix(path, "/v3/system/"),
		RoleID:    r.PathValue("role"),
		Inherited: strings.HasPrefix(path, "/v3/OS-INHERIT/"),
	}
}

func (h *handlers) createGrant(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.CreateGrant(r.Context(), principal(r), grantRef(r)); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) checkGrant(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.CheckGrant(r.Context(), principal(r), grantRef(r)); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) revokeGrant(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RevokeGrant(r.Context(), principal(r), grantRef(r)); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listGrants(w http.ResponseWriter, r *http.Request) error {
	rs, err := h.svc.ListGrants(r.Context(), principal(r), grantRef(r))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"roles": rolesWire(r, rs), "links": listLinks(r)})
}

func (h *handlers) listRoleAssignments(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := AssignmentFilter{UserID: q.Get("user.id"), GroupID: q.Get("group.id"), RoleID: q.Get("role.id"),
		ProjectID: q.Get("scope.project.id"), DomainID: q.Get("scope.domain.id"), System: q.Get("scope.system"),
		Effective: flagQuery(r, "effective"), IncludeNames: flagQuery(r, "include_names"),
		IncludeSubtree: flagQuery(r, "include_subtree")}
	if v, ok := q["scope.OS-INHERIT:inherited_to"]; ok {
		b := len(v) > 0 && v[0] == "projects"
		f.Inherited = &b
	}
	list, err := h.svc.ListRoleAssignments(r.Context(), principal(r), f)
	if err != nil {
		return err
	}
	sortAssignments(list)
	n, trunc := h.truncate(len(list))
	out := make([]any, 0, n)
	for i := range list[:n] {
		out = append(out, assignmentWire(r, &list[i]))
	}
	body := map[string]any{"role_assignments": out, "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

// named is {"id": id} plus, with include_names, the name and domain.
func named(ra *RoleAssignment, kind, id string) map[string]any {
	m := map[string]any{"id": id}
	n, ok := ra.Names[kind]
	if !ok {
		return m
	}
	m["name"] = n.Name
	if n.DomainID != "" {
		m["domain"] = map[string]any{"id": n.DomainID, "name": n.DomainName}
	}
	return m
}

// assignmentWire is one entry of GET /v3/role_assignments, its links
// pointing at the stored grant it comes from.
func assignmentWire(r *http.Request, ra *RoleAssignment) map[string]any {
	out := map[string]any{"role": named(ra, "role", ra.RoleID)}
	scope := map[string]any{}
	switch {
	case ra.ProjectID != "":
		scope["project"] = named(ra, "project", ra.ProjectID)
	case ra.DomainID != "":
		scope["domain"] = named(ra, "domain", ra.DomainID)
	default:
		scope["system"] = map[string]any{"all": true}
	}
	if ra.Inherited {
		scope["OS-INHERIT:inherited_to"] = "projects"
	}
	out["scope"] = scope
	if ra.UserID != "" {
		out["user"] = named(ra, "user", ra.UserID)
	} else {
		out["group"] = named(ra, "group", ra.GroupID)
	}

	src := ra.Source
	var link string
	switch src.Type {
	case UserProject, GroupProject:
		link = "/projects/" + src.TargetID
	case UserDomain, GroupDomain:
		link = "/domains/" + src.TargetID
	default:
		link = "/system"
	}
	if isUserType(src.Type) {
		link += "/users/" + src.ActorID
	} else {
		link += "/groups/" + src.ActorID
	}
	link += "/roles/" + src.RoleID
	if src.Inherited {
		link = "/OS-INHERIT" + link + "/inherited_to_projects"
	}
	base := baseURL(r) + "/v3"
	links := map[string]any{"assignment": base + link}
	if ra.ViaGroup != "" {
		links["membership"] = base + "/groups/" + ra.ViaGroup + "/users/" + ra.UserID
	}
	if src.RoleID != ra.RoleID {
		links["prior_role"] = base + "/roles/" + src.RoleID + "/implies/" + ra.RoleID
	}
	out["links"] = links
	return out
}
