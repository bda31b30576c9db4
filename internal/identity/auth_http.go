package identity

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// timeFormat is how Keystone writes times: microseconds, UTC, "Z".
const timeFormat = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func (h *handlers) versionDoc(r *http.Request) map[string]any {
	return map[string]any{
		"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links":       []any{map[string]any{"rel": "self", "href": baseURL(r) + "/v3/"}},
		"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
	}
}

func (h *handlers) versions(w http.ResponseWriter, r *http.Request) error {
	return httpx.WriteJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{h.versionDoc(r)}},
	})
}

func (h *handlers) version(w http.ResponseWriter, r *http.Request) error {
	return writeOK(w, map[string]any{"version": h.versionDoc(r)})
}

// authBody is the wire shape of POST /v3/auth/tokens.
type authBody struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *userRefWire `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
			AppCred *struct {
				ID     string       `json:"id"`
				Name   string       `json:"name"`
				Secret string       `json:"secret"`
				User   *userRefWire `json:"user"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope any `json:"scope"`
	} `json:"auth"`
}

type refWire struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type userRefWire struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Domain   *refWire `json:"domain"`
}

func (u *userRefWire) ref() UserRef {
	if u == nil {
		return UserRef{}
	}
	ref := UserRef{ID: u.ID, Name: u.Name}
	if u.Domain != nil {
		ref.DomainID, ref.DomainName = u.Domain.ID, u.Domain.Name
	}
	return ref
}

func parseScope(v any) (Scope, error) {
	var sc Scope
	switch s := v.(type) {
	case nil:
		return sc, nil
	case string:
		if s == "unscoped" {
			sc.Unscoped = true
			return sc, nil
		}
		return sc, fault.BadRequestf("Invalid input for field 'scope': %q is not a valid scope.", s)
	case map[string]any:
		bad := fault.BadRequestf("Invalid input for field 'scope': malformed scope.")
		n := 0
		if p, ok := s["project"]; ok {
			n++
			pm, ok := p.(map[string]any)
			if !ok {
				return sc, bad
			}
			sc.ProjectID, _ = pm["id"].(string)
			sc.ProjectName, _ = pm["name"].(string)
			if d, ok := pm["domain"].(map[string]any); ok {
				sc.ProjectDomainID, _ = d["id"].(string)
				sc.ProjectDomainName, _ = d["name"].(string)
			}
			if sc.ProjectID == "" && sc.ProjectName == "" {
				return sc, bad
			}
		}
		if d, ok := s["domain"]; ok {
			n++
			dm, ok := d.(map[string]any)
			if !ok {
				return sc, bad
			}
			sc.DomainID, _ = dm["id"].(string)
			sc.DomainName, _ = dm["name"].(string)
			if sc.DomainID == "" && sc.DomainName == "" {
				return sc, bad
			}
		}
		if sys, ok := s["system"]; ok {
			n++
			sm, ok := sys.(map[string]any)
			if !ok || sm["all"] != true {
				return sc, bad
			}
			sc.System = true
		}
		if tr, ok := s["OS-TRUST:trust"]; ok {
			n++
			tm, ok := tr.(map[string]any)
			if !ok {
				return sc, bad
			}
			sc.TrustID, _ = tm["id"].(string)
			if sc.TrustID == "" {
				return sc, fault.BadRequestf("Expecting to find trust_id in trust. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
			}
		}
		if n > 1 {
			return sc, fault.BadRequestf("Invalid input for field 'scope': only one of project, domain, system and OS-TRUST:trust may be given.")
		}
		return sc, nil
	}
	return sc, fault.BadRequestf("Invalid input for field 'scope': malformed scope.")
}

func (h *handlers) issueToken(w http.ResponseWriter, r *http.Request) error {
	var body authBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Auth == nil || body.Auth.Identity == nil {
		return fault.BadRequestf("Expecting to find identity in auth. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	id := body.Auth.Identity
	req := AuthRequest{Methods: id.Methods}
	if id.Password != nil {
		if id.Password.User == nil {
			return fault.BadRequestf("Expecting to find user in password. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
		}
		req.Password = &struct {
			User     UserRef
			Password string
		}{id.Password.User.ref(), id.Password.User.Password}
	}
	if id.Token != nil {
		req.Token = id.Token.ID
	}
	if id.AppCred != nil {
		req.AppCred = &struct {
			ID, Name string
			User     UserRef
			Secret   string
		}{id.AppCred.ID, id.AppCred.Name, id.AppCred.User.ref(), id.AppCred.Secret}
	}
	sc, err := parseScope(body.Auth.Scope)
	if err != nil {
		return err
	}
	req.Scope = sc
	t, err := h.svc.Authenticate(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", t.ID)
	return h.writeToken(w, r, http.StatusCreated, t)
}

func (h *handlers) checkToken(w http.ResponseWriter, r *http.Request) error {
	subject := r.Header.Get("X-Subject-Token")
	if subject == "" {
		return fault.BadRequestf("X-Subject-Token is required.")
	}
	t, err := h.svc.CheckToken(r.Context(), principal(r), subject, flagQuery(r, "allow_expired"))
	if err != nil {
		return err
	}
	w.Header().Set("X-Subject-Token", t.ID)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	return h.writeToken(w, r, http.StatusOK, t)
}

func (h *handlers) revokeToken(w http.ResponseWriter, r *http.Request) error {
	subject := r.Header.Get("X-Subject-Token")
	if subject == "" {
		return fault.BadRequestf("X-Subject-Token is required.")
	}
	if err := h.svc.RevokeToken(r.Context(), principal(r), subject); err != nil {
		return err
	}
	return writeNoContent(w)
}

// writeToken writes {"token": ...}, encoded once per token and variant:
// validation of a hot token costs a cache lookup, not a JSON encoding.
func (h *handlers) writeToken(w http.ResponseWriter, r *http.Request, status int, t *Token) error {
	withCatalog := !flagQuery(r, "nocatalog")
	slot := &t.bodies[0]
	if withCatalog {
		slot = &t.bodies[1]
	}
	body := slot.Load()
	if body == nil {
		data, err := json.Marshal(map[string]any{"token": h.tokenBody(r, t, withCatalog)})
		if err != nil {
			return err
		}
		body = &data
		slot.Store(body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(*body)
	return nil
}

// tokenBody renders a token as the api-ref shows it.
func (h *handlers) tokenBody(r *http.Request, t *Token, withCatalog bool) map[string]any {
	user := map[string]any{"id": t.User.ID, "name": t.User.Name, "password_expires_at": nil,
		"domain": map[string]any{"id": t.User.DomainID, "name": domainName(t.UserDomain)}}
	if t.User.PasswordExpiresAt != nil {
		user["password_expires_at"] = formatTime(*t.User.PasswordExpiresAt)
	}
	body := map[string]any{
		"methods": t.Methods, "user": user, "audit_ids": t.AuditIDs,
		"expires_at": formatTime(t.ExpiresAt), "issued_at": formatTime(t.IssuedAt),
	}
	if t.Project != nil || t.Domain != nil || t.System {
		roles := make([]any, 0, len(t.Roles))
		for _, ro := range t.Roles {
			roles = append(roles, map[string]any{"id": ro.ID, "name": ro.Name})
		}
		body["roles"] = roles
		body["is_admin_project"] = t.IsAdminProject
		if withCatalog {
			cat, err := h.svc.Catalog(r.Context())
			if err == nil {
				body["catalog"] = catalogWire(cat, catalogSubs(t.User.ID, t.Project))
			} else {
				body["catalog"] = []any{}
			}
		}
	}
	switch {
	case t.Project != nil:
		body["project"] = map[string]any{"id": t.Project.ID, "name": t.Project.Name,
			"domain": map[string]any{"id": t.Project.DomainID, "name": domainName(t.ProjectDomain)}}
		body["is_domain"] = false
	case t.Domain != nil:
		body["domain"] = map[string]any{"id": t.Domain.ID, "name": t.Domain.Name}
	case t.System:
		body["system"] = map[string]any{"all": true}
	}
	if t.Trust != nil {
		body["OS-TRUST:trust"] = map[string]any{"id": t.Trust.ID, "impersonation": t.Trust.Impersonation,
			"trustee_user": map[string]any{"id": t.Trust.TrusteeUserID},
			"trustor_user": map[string]any{"id": t.Trust.TrustorUserID}}
	}
	if t.AppCred != nil {
		ac := map[string]any{"id": t.AppCred.ID, "name": t.AppCred.Name, "restricted": !t.AppCred.Unrestricted}
		if len(t.AppCred.AccessRules) > 0 {
			ac["access_rules"] = accessRulesWire(t.AppCred.AccessRules)
		}
		body["application_credential"] = ac
	}
	return body
}

func domainName(d *Domain) string {
	if d == nil {
		return ""
	}
	return d.Name
}

// catalogWire renders a token's catalog. Endpoint URLs may name the
// token's project and user as Keystone allows ("%(project_id)s",
// "$(tenant_id)s", "%(user_id)s": Swift's /v1/AUTH_%(project_id)s); an
// endpoint whose URL needs a project the token lacks is left out, as
// Keystone does.
func catalogWire(cat []CatalogEntry, subs map[string]string) []any {
	out := make([]any, 0, len(cat))
	for _, e := range cat {
		eps := make([]any, 0, len(e.Endpoints))
		for _, ep := range e.Endpoints {
			url, ok := formatEndpointURL(ep.URL, subs)
			if !ok {
				continue
			}
			eps = append(eps, map[string]any{"id": ep.ID, "interface": ep.Interface, "url": url,
				"region": ep.RegionID, "region_id": ep.RegionID})
		}
		out = append(out, map[string]any{"id": e.Service.ID, "type": e.Service.Type, "name": e.Service.Name, "endpoints": eps})
	}
	return out
}

func accessRulesWire(rules []AccessRule) []any {
	out := make([]any, 0, len(rules))
	for _, ar := range rules {
		out = append(out, map[string]any{"id": ar.ID, "service": ar.Service, "path": ar.Path, "method": ar.Method})
	}
	return out
}

func (h *handlers) authCatalog(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if p.ProjectID == "" && p.DomainID == "" && p.System == "" {
		return fault.Forbiddenf("The service catalog is only available with a scoped token.")
	}
	cat, err := h.svc.Catalog(r.Context())
	if err != nil {
		return err
	}
	var proj *Project
	if p.ProjectID != "" {
		proj = &Project{ID: p.ProjectID}
	}
	return writeOK(w, map[string]any{"catalog": catalogWire(cat, catalogSubs(p.UserID, proj)), "links": listLinks(r)})
}

func (h *handlers) authProjects(w http.ResponseWriter, r *http.Request) error {
	projects, err := h.svc.AuthProjects(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"projects": projectsWire(r, projects), "links": listLinks(r)})
}

func (h *handlers) authDomains(w http.ResponseWriter, r *http.Request) error {
	domains, err := h.svc.AuthDomains(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"domains": domainsWire(r, domains), "links": listLinks(r)})
}

func (h *handlers) authSystem(w http.ResponseWriter, r *http.Request) error {
	has, err := h.svc.AuthSystem(r.Context(), principal(r))
	if err != nil {
		return err
	}
	system := []any{}
	if has {
		system = append(system, map[string]any{"all": true})
	}
	return writeOK(w, map[string]any{"system": system, "links": listLinks(r)})
}
