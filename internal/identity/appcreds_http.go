package identity

import (
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// appCredTimeFormat is how Keystone shows an application credential's
// expires_at: microseconds, no zone (gophercloud parses exactly this).
const appCredTimeFormat = "2006-01-02T15:04:05.000000"

func (h *handlers) appCredWire(r *http.Request, ac *AppCred) (map[string]any, error) {
	roles, err := h.svc.appCredRoles(r.Context(), ac.RoleIDs)
	if err != nil {
		return nil, err
	}
	rw := make([]any, 0, len(roles))
	for _, ro := range roles {
		var dom any
		if ro.DomainID != "" {
			dom = ro.DomainID
		}
		rw = append(rw, map[string]any{"id": ro.ID, "name": ro.Name, "domain_id": dom})
	}
	var expires any
	if ac.ExpiresAt != nil {
		expires = ac.ExpiresAt.UTC().Format(appCredTimeFormat)
	}
	return map[string]any{
		"id": ac.ID, "name": ac.Name, "description": ac.Description, "expires_at": expires,
		"project_id": ac.ProjectID, "user_id": ac.UserID, "roles": rw, "unrestricted": ac.Unrestricted,
		"access_rules": accessRulesWire(ac.AccessRules),
		"links":        selfLink(r, "users/"+ac.UserID+"/application_credentials/"+ac.ID),
	}, nil
}

func (h *handlers) listAppCreds(w http.ResponseWriter, r *http.Request) error {
	acs, err := h.svc.ListAppCreds(r.Context(), principal(r), r.PathValue("user_id"), r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(acs))
	list := make([]any, 0, n)
	for i := range acs[:n] {
		m, err := h.appCredWire(r, &acs[i])
		if err != nil {
			return err
		}
		list = append(list, m)
	}
	body := map[string]any{"application_credentials": list, "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getAppCred(w http.ResponseWriter, r *http.Request) error {
	ac, err := h.svc.GetAppCred(r.Context(), principal(r), r.PathValue("user_id"), r.PathValue("id"))
	if err != nil {
		return err
	}
	m, err := h.appCredWire(r, ac)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"application_credential": m})
}

func (h *handlers) deleteAppCred(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteAppCred(r.Context(), principal(r), r.PathValue("user_id"), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) createAppCred(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeEntity(r, "application_credential")
	if err != nil {
		return err
	}
	req, err := appCredRequestFrom(m)
	if err != nil {
		return err
	}
	ac, secret, err := h.svc.CreateAppCred(r.Context(), principal(r), r.PathValue("user_id"), req)
	if err != nil {
		return err
	}
	out, err := h.appCredWire(r, ac)
	if err != nil {
		return err
	}
	out["secret"] = secret
	return writeCreated(w, map[string]any{"application_credential": out})
}

// appCredRequestFrom reads a create request, rejecting what Keystone's
// schema rejects (unknown fields, wrong types).
func appCredRequestFrom(m map[string]any) (AppCredRequest, error) {
	var req AppCredRequest
	for k := range m {
		switch k {
		case "id", "name", "secret", "description", "expires_at", "roles", "unrestricted", "access_rules":
		default:
			return req, fault.BadRequestf("Invalid input for field 'application_credential': Additional properties are not allowed ('%s' was unexpected).", k)
		}
	}
	name, err := reqString(m, "name")
	if err != nil {
		return req, err
	}
	if name == nil {
		return req, fault.BadRequestf("Invalid input for field 'application_credential': 'name' is a required property.")
	}
	req.Name = *name
	for key, dst := range map[string]*string{"secret": &req.Secret, "description": &req.Description} {
		v, err := reqString(m, key)
		if err != nil {
			return req, err
		}
		if v != nil {
			*dst = *v
		}
	}
	if v, err := reqBool(m, "unrestricted"); err != nil {
		return req, err
	} else if v != nil {
		req.Unrestricted = *v
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
	if req.Roles, err = roleRefsFrom(m["roles"]); err != nil {
		return req, err
	}
	if req.AccessRules, err = accessRulesFrom(m["access_rules"]); err != nil {
		return req, err
	}
	return req, nil
}

// parseExpiresAt reads an ISO 8601 time; without a zone it is UTC, as
// Keystone's parse_expiration_date assumes.
func parseExpiresAt(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fault.BadRequestf("Timestamp not in expected format. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
}

func roleRefsFrom(v any) ([]RoleRef, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fault.BadRequestf("Invalid input for field 'roles': %v is not of type 'array'.", v)
	}
	out := make([]RoleRef, 0, len(list))
	for _, x := range list {
		rm, ok := x.(map[string]any)
		if !ok || len(rm) != 1 {
			return nil, fault.BadRequestf("Invalid input for field 'roles': each role must be an object with only an id or a name.")
		}
		var ref RoleRef
		for k, val := range rm {
			s, ok := val.(string)
			if !ok || s == "" {
				return nil, fault.BadRequestf("Invalid input for field 'roles/%s': %v is not a non-empty string.", k, val)
			}
			switch k {
			case "id":
				ref.ID = s
			case "name":
				ref.Name = s
			default:
				return nil, fault.BadRequestf("Invalid input for field 'roles': Additional properties are not allowed ('%s' was unexpected).", k)
			}
		}
		out = append(out, ref)
	}
	return out, nil
}

func accessRulesFrom(v any) ([]AccessRule, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fault.BadRequestf("Invalid input for field 'access_rules': %v is not of type 'array'.", v)
	}
	out := make([]AccessRule, 0, len(list))
	for _, x := range list {
		am, ok := x.(map[string]any)
		if !ok {
			return nil, fault.BadRequestf("Invalid input for field 'access_rules': each access rule must be an object.")
		}
		var ar AccessRule
		for k, val := range am {
			s, ok := val.(string)
			if !ok {
				return nil, fault.BadRequestf("Invalid input for field 'access_rules/%s': %v is not of type 'string'.", k, val)
			}
			switch k {
			case "id":
				ar.ID = s
			case "service":
				ar.Service = s
			case "path":
				ar.Path = s
			case "method":
				ar.Method = s
			default:
				return nil, fault.BadRequestf("Invalid input for field 'access_rules': Additional properties are not allowed ('%s' was unexpected).", k)
			}
		}
		if ar.ID != "" && (ar.Service != "" || ar.Path != "" || ar.Method != "") {
			// Keystone looks an id up and ignores the rest; say so rather
			// than guess which the caller meant.
			return nil, fault.BadRequestf("Invalid input for field 'access_rules': give either an id or service, path and method.")
		}
		out = append(out, ar)
	}
	return out, nil
}

// Access rules.

func accessRuleWire(r *http.Request, ar *AccessRule) map[string]any {
	return map[string]any{"id": ar.ID, "service": ar.Service, "path": ar.Path, "method": ar.Method,
		"links": selfLink(r, "access_rules/"+ar.ID)}
}

func (h *handlers) listAccessRules(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rules, err := h.svc.ListAccessRules(r.Context(), principal(r), r.PathValue("user_id"),
		AccessRuleFilter{Service: q.Get("service"), Path: q.Get("path"), Method: q.Get("method")})
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(rules))
	list := make([]any, 0, n)
	for i := range rules[:n] {
		list = append(list, accessRuleWire(r, &rules[i]))
	}
	body := map[string]any{"access_rules": list, "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getAccessRule(w http.ResponseWriter, r *http.Request) error {
	ar, err := h.svc.GetAccessRule(r.Context(), principal(r), r.PathValue("user_id"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"access_rule": accessRuleWire(r, ar)})
}

func (h *handlers) deleteAccessRule(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteAccessRule(r.Context(), principal(r), r.PathValue("user_id"), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}
