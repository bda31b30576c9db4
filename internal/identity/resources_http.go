package identity

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Domains.

func domainWire(r *http.Request, d *Domain) map[string]any {
	return withExtra(map[string]any{"id": d.ID, "name": d.Name, "description": d.Description, "enabled": d.Enabled,
		"tags": []string{}, "options": map[string]any{}, "links": selfLink(r, "domains/"+d.ID)}, d.Extra)
}

func domainsWire(r *http.Request, ds []Domain) []any {
	out := make([]any, 0, len(ds))
	for i := range ds {
		out = append(out, domainWire(r, &ds[i]))
	}
	return out
}

func (h *handlers) domainRoutes(rt routeTable) {
	rt.Handle("GET /v3/domains", h.listDomains)
	rt.Handle("POST /v3/domains", h.createDomain)
	rt.Handle("GET /v3/domains/{id}", h.getDomain)
	rt.Handle("PATCH /v3/domains/{id}", h.updateDomain)
	rt.Handle("DELETE /v3/domains/{id}", h.deleteDomain)
}

func (h *handlers) listDomains(w http.ResponseWriter, r *http.Request) error {
	ds, err := h.svc.ListDomains(r.Context(), principal(r), DomainFilter{Name: r.URL.Query().Get("name"), Enabled: boolQuery(r, "enabled")})
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(ds))
	body := map[string]any{"domains": domainsWire(r, ds[:n]), "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getDomain(w http.ResponseWriter, r *http.Request) error {
	d, err := h.svc.GetDomain(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"domain": domainWire(r, d)})
}

func (h *handlers) createDomain(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "domain")
	if err != nil {
		return err
	}
	d := Domain{Name: f.name(), Enabled: true, Extra: extraFields(f.m, "id", "name", "description", "enabled", "tags", "options", "links", "explicit_domain_id")}
	f.setStr(&d.Description, "description")
	f.setBool(&d.Enabled, "enabled")
	f.setStr(&d.ID, "explicit_domain_id")
	if f.err != nil {
		return f.err
	}
	out, err := h.svc.CreateDomain(r.Context(), principal(r), d)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"domain": domainWire(r, out)})
}

func (h *handlers) updateDomain(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "domain")
	if err != nil {
		return err
	}
	patch := DomainPatch{Name: f.str("name"), Description: f.str("description"), Enabled: f.boolean("enabled"),
		Extra: extraFields(f.m, "id", "name", "description", "enabled", "tags", "options", "links")}
	if err := f.done(r, "Domain"); err != nil {
		return err
	}
	d, err := h.svc.UpdateDomain(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"domain": domainWire(r, d)})
}

func (h *handlers) deleteDomain(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteDomain(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// Projects.

func projectWire(r *http.Request, p *Project) map[string]any {
	parent := any(p.ParentID)
	if p.ParentID == "" {
		parent = p.DomainID // Keystone shows the domain as a top project's parent
	}
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	domainID := any(p.DomainID)
	if p.IsDomain {
		// Keystone shows a project acting as a domain with no domain
		// and no parent.
		domainID, parent = nil, nil
	}
	return withExtra(map[string]any{"id": p.ID, "name": p.Name, "domain_id": domainID, "parent_id": parent,
		"description": p.Description, "enabled": p.Enabled, "is_domain": p.IsDomain, "tags": tags,
		"options": map[string]any{}, "links": selfLink(r, "projects/"+p.ID)}, p.Extra)
}

func projectsWire(r *http.Request, ps []Project) []any {
	out := make([]any, 0, len(ps))
	for i := range ps {
		out = append(out, projectWire(r, &ps[i]))
	}
	return out
}

func (h *handlers) projectRoutes(rt routeTable) {
	rt.Handle("GET /v3/projects", h.listProjects)
	rt.Handle("POST /v3/projects", h.createProject)
	rt.Handle("GET /v3/projects/{id}", h.getProject)
	rt.Handle("PATCH /v3/projects/{id}", h.updateProject)
	rt.Handle("DELETE /v3/projects/{id}", h.deleteProject)
	rt.Handle("GET /v3/projects/{id}/tags", h.listProjectTags)
	rt.Handle("PUT /v3/projects/{id}/tags", h.setProjectTags)
	rt.Handle("DELETE /v3/projects/{id}/tags", h.clearProjectTags)
	rt.Handle("GET /v3/projects/{id}/tags/{tag}", h.checkProjectTag)
	rt.Handle("HEAD /v3/projects/{id}/tags/{tag}", h.checkProjectTag)
	rt.Handle("PUT /v3/projects/{id}/tags/{tag}", h.addProjectTag)
	rt.Handle("DELETE /v3/projects/{id}/tags/{tag}", h.deleteProjectTag)
	rt.Handle("GET /v3/users/{id}/projects", h.listUserProjects)
}

func (h *handlers) listProjects(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := ProjectFilter{Name: q.Get("name"), DomainID: q.Get("domain_id"), ParentID: q.Get("parent_id"),
		Enabled: boolQuery(r, "enabled"), IsDomain: boolQuery(r, "is_domain"),
		Tags: csvQuery(r, "tags"), TagsAny: csvQuery(r, "tags-any"), NotTags: csvQuery(r, "not-tags"), NotTagsAny: csvQuery(r, "not-tags-any")}
	ps, err := h.svc.ListProjects(r.Context(), principal(r), f)
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(ps))
	body := map[string]any{"projects": projectsWire(r, ps[:n]), "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := h.svc.GetProject(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	body := projectWire(r, p)
	if flagQuery(r, "parents_as_ids") {
		ids, err := h.svc.ProjectParentsAsIDs(r.Context(), p)
		if err != nil {
			return err
		}
		body["parents"] = ids
	}
	if flagQuery(r, "subtree_as_ids") {
		ids, err := h.svc.ProjectSubtreeAsIDs(r.Context(), p)
		if err != nil {
			return err
		}
		body["subtree"] = ids
	}
	return writeOK(w, map[string]any{"project": body})
}

func (h *handlers) createProject(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "project")
	if err != nil {
		return err
	}
	p := Project{Name: f.name(), Enabled: true,
		Extra: extraFields(f.m, "id", "name", "description", "enabled", "domain_id", "parent_id", "is_domain", "tags", "options", "links")}
	f.setBool(&p.IsDomain, "is_domain")
	// domain_id and parent_id may be null (tempest sends "domain_id":
	// null with is_domain); a null string reads as "".
	f.setStr(&p.Description, "description")
	f.setStr(&p.DomainID, "domain_id")
	f.setStr(&p.ParentID, "parent_id")
	f.setBool(&p.Enabled, "enabled")
	if tags := f.strList("tags"); tags != nil {
		p.Tags = *tags
	}
	if f.err != nil {
		return f.err
	}
	out, err := h.svc.CreateProject(r.Context(), principal(r), p)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"project": projectWire(r, out)})
}

func (h *handlers) updateProject(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "project")
	if err != nil {
		return err
	}
	patch := ProjectPatch{Name: f.str("name"), Description: f.str("description"), DomainID: f.str("domain_id"),
		ParentID: f.str("parent_id"), Enabled: f.boolean("enabled"), Tags: f.strList("tags"), IsDomain: f.boolean("is_domain"),
		Extra: extraFields(f.m, "id", "name", "description", "enabled", "domain_id", "parent_id", "is_domain", "tags", "options", "links")}
	if err := f.done(r, "project"); err != nil {
		return err
	}
	p, err := h.svc.UpdateProject(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"project": projectWire(r, p)})
}

func (h *handlers) deleteProject(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteProject(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listProjectTags(w http.ResponseWriter, r *http.Request) error {
	tags, err := h.svc.ProjectTags(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"tags": tags})
}

func (h *handlers) setProjectTags(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Tags []string `json:"tags"`
	}
	if err := decodeStrict(r, &body); err != nil {
		return err
	}
	tags, err := h.svc.SetProjectTags(r.Context(), principal(r), r.PathValue("id"), body.Tags)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"tags": tags})
}

func (h *handlers) clearProjectTags(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.svc.SetProjectTags(r.Context(), principal(r), r.PathValue("id"), nil); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) checkProjectTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.HasProjectTag(r.Context(), principal(r), r.PathValue("id"), r.PathValue("tag")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) addProjectTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.AddProjectTag(r.Context(), principal(r), r.PathValue("id"), r.PathValue("tag")); err != nil {
		return err
	}
	w.Header().Set("Location", baseURL(r)+r.URL.Path)
	return httpxCreatedEmpty(w)
}

func (h *handlers) deleteProjectTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteProjectTag(r.Context(), principal(r), r.PathValue("id"), r.PathValue("tag")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listUserProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.svc.ListUserProjects(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"projects": projectsWire(r, ps), "links": listLinks(r)})
}

// Users.

func userWire(r *http.Request, u *User) map[string]any {
	m := withExtra(map[string]any{"id": u.ID, "name": u.Name, "domain_id": u.DomainID, "enabled": u.Enabled,
		"password_expires_at": nil, "options": optionsWire(u.Options), "links": selfLink(r, "users/"+u.ID)}, u.Extra)
	if u.PasswordExpiresAt != nil {
		m["password_expires_at"] = formatTime(*u.PasswordExpiresAt)
	}
	if u.DefaultProjectID != "" {
		m["default_project_id"] = u.DefaultProjectID
	}
	return m
}

func optionsWire(o map[string]any) map[string]any {
	if o == nil {
		return map[string]any{}
	}
	return o
}

func usersWire(r *http.Request, us []User) []any {
	out := make([]any, 0, len(us))
	for i := range us {
		out = append(out, userWire(r, &us[i]))
	}
	return out
}

func (h *handlers) userRoutes(rt routeTable) {
	rt.Handle("GET /v3/users", h.listUsers)
	rt.Handle("POST /v3/users", h.createUser)
	rt.Handle("GET /v3/users/{id}", h.getUser)
	rt.Handle("PATCH /v3/users/{id}", h.updateUser)
	rt.Handle("DELETE /v3/users/{id}", h.deleteUser)
	rt.Public("POST /v3/users/{id}/password", h.changePassword)
	rt.Handle("GET /v3/users/{id}/groups", h.listUserGroups)
}

var userKnown = []string{"id", "name", "domain_id", "enabled", "password", "default_project_id", "options", "links", "password_expires_at"}

func (h *handlers) listUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := UserFilter{Name: q.Get("name"), DomainID: q.Get("domain_id"), Enabled: boolQuery(r, "enabled"),
		PasswordExpires: q.Get("password_expires_at")}
	for _, k := range []string{"email", "description"} {
		if v := q.Get(k); v != "" {
			if f.Extra == nil {
				f.Extra = map[string]string{}
			}
			f.Extra[k] = v
		}
	}
	us, err := h.svc.ListUsers(r.Context(), principal(r), f)
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(us))
	body := map[string]any{"users": usersWire(r, us[:n]), "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := h.svc.GetUser(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"user": userWire(r, u)})
}

func (h *handlers) createUser(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "user")
	if err != nil {
		return err
	}
	u := User{Name: f.name(), Enabled: true, Extra: extraFields(f.m, userKnown...)}
	f.setStr(&u.DomainID, "domain_id")
	f.setStr(&u.DefaultProjectID, "default_project_id")
	f.setBool(&u.Enabled, "enabled")
	u.Options = f.options()
	password := f.password()
	if f.err != nil {
		return f.err
	}
	out, err := h.svc.CreateUser(r.Context(), principal(r), u, password)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"user": userWire(r, out)})
}

func (h *handlers) updateUser(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "user")
	if err != nil {
		return err
	}
	patch := UserPatch{Name: f.str("name"), DomainID: f.str("domain_id"), DefaultProjectID: f.str("default_project_id"),
		Enabled: f.boolean("enabled"), Password: f.password()}
	if err := f.done(r, "user"); err != nil {
		return err
	}
	patch.Options = f.options()
	if f.err != nil {
		return f.err
	}
	patch.Extra = extraFields(f.m, userKnown...)
	u, err := h.svc.UpdateUser(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"user": userWire(r, u)})
}

func (h *handlers) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteUser(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) changePassword(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		User *struct {
			Password         *string `json:"password"`
			OriginalPassword *string `json:"original_password"`
		} `json:"user"`
	}
	if err := decodeStrict(r, &body); err != nil {
		return err
	}
	if body.User == nil || body.User.Password == nil || body.User.OriginalPassword == nil {
		return fault.BadRequestf("Invalid input for field 'user': 'password' and 'original_password' are required properties.")
	}
	if err := h.svc.ChangePassword(r.Context(), r.PathValue("id"), *body.User.OriginalPassword, *body.User.Password); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listUserGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := h.svc.ListUserGroups(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"groups": groupsWire(r, gs), "links": listLinks(r)})
}

// Groups.

func groupWire(r *http.Request, g *Group) map[string]any {
	return withExtra(map[string]any{"id": g.ID, "name": g.Name, "domain_id": g.DomainID, "description": g.Description,
		"links": selfLink(r, "groups/"+g.ID)}, g.Extra)
}

func groupsWire(r *http.Request, gs []Group) []any {
	out := make([]any, 0, len(gs))
	for i := range gs {
		out = append(out, groupWire(r, &gs[i]))
	}
	return out
}

func (h *handlers) groupRoutes(rt routeTable) {
	rt.Handle("GET /v3/groups", h.listGroups)
	rt.Handle("POST /v3/groups", h.createGroup)
	rt.Handle("GET /v3/groups/{id}", h.getGroup)
	rt.Handle("PATCH /v3/groups/{id}", h.updateGroup)
	rt.Handle("DELETE /v3/groups/{id}", h.deleteGroup)
	rt.Handle("GET /v3/groups/{id}/users", h.listGroupUsers)
	rt.Handle("PUT /v3/groups/{id}/users/{user}", h.addGroupUser)
	rt.Handle("HEAD /v3/groups/{id}/users/{user}", h.checkGroupUser)
	rt.Handle("GET /v3/groups/{id}/users/{user}", h.checkGroupUser)
	rt.Handle("DELETE /v3/groups/{id}/users/{user}", h.removeGroupUser)
}

func (h *handlers) listGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := h.svc.ListGroups(r.Context(), principal(r), GroupFilter{Name: r.URL.Query().Get("name"), DomainID: r.URL.Query().Get("domain_id")})
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(gs))
	body := map[string]any{"groups": groupsWire(r, gs[:n]), "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := h.svc.GetGroup(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"group": groupWire(r, g)})
}

func (h *handlers) createGroup(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "group")
	if err != nil {
		return err
	}
	g := Group{Name: f.name(), Extra: extraFields(f.m, "id", "name", "domain_id", "description", "links")}
	f.setStr(&g.DomainID, "domain_id")
	f.setStr(&g.Description, "description")
	if f.err != nil {
		return f.err
	}
	out, err := h.svc.CreateGroup(r.Context(), principal(r), g)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"group": groupWire(r, out)})
}

func (h *handlers) updateGroup(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "group")
	if err != nil {
		return err
	}
	var patch GroupPatch
	if patch.Name, err = reqString(m, "name"); err != nil {
		return err
	}
	if patch.Description, err = reqString(m, "description"); err != nil {
		return err
	}
	if patch.DomainID, err = reqString(m, "domain_id"); err != nil {
		return err
	}
	patch.Extra = extraFields(m, "id", "name", "domain_id", "description", "links")
	g, err := h.svc.UpdateGroup(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"group": groupWire(r, g)})
}

func (h *handlers) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteGroup(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listGroupUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := h.svc.ListGroupUsers(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"users": usersWire(r, us), "links": listLinks(r)})
}

func (h *handlers) addGroupUser(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.AddUserToGroup(r.Context(), principal(r), r.PathValue("id"), r.PathValue("user")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) checkGroupUser(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.CheckUserInGroup(r.Context(), principal(r), r.PathValue("id"), r.PathValue("user")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) removeGroupUser(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.RemoveUserFromGroup(r.Context(), principal(r), r.PathValue("id"), r.PathValue("user")); err != nil {
		return err
	}
	return writeNoContent(w)
}
