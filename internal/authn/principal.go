package authn

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Principal is the authenticated caller, as a validated Keystone token describes it.
type Principal struct {
	UserID, UserName, UserDomainID, UserDomainName             string
	ProjectID, ProjectName, ProjectDomainID, ProjectDomainName string   // project scope
	DomainID, DomainName                                       string   // domain scope
	System                                                     string   // "all" for system scope
	Roles                                                      []string // role names, lower case as Keystone returns them
	RoleIDs                                                    []string
	Methods                                                    []string
	AuditIDs                                                   []string
	IssuedAt, ExpiresAt                                        time.Time
	IsAdminProject                                             bool
	AppCredID                                                  string
	Token                                                      string     // the raw token, to forward; never log it
	Service                                                    *Principal // the caller's X-Service-Token, if one was sent and valid

	creds map[string]any // set by Seal
}

// Seal computes Creds once and keeps them, for a principal shared by many
// requests (a validator's cache). A sealed principal must not change.
func (p *Principal) Seal() { p.creds = p.buildCreds() }

// HasRole reports whether the caller holds the role name. Like oslo.policy's
// role check it ignores case.
func (p *Principal) HasRole(name string) bool {
	if p == nil {
		return false
	}
	for _, r := range p.Roles {
		if strings.EqualFold(r, name) {
			return true
		}
	}
	return false
}

// Scope names what the token is scoped to: "project", "domain", "system" or
// "" for an unscoped token.
func (p *Principal) Scope() string {
	switch {
	case p.ProjectID != "":
		return "project"
	case p.DomainID != "":
		return "domain"
	case p.System != "":
		return "system"
	}
	return ""
}

// Creds returns the credentials that policy rules are checked against, with
// the keys of oslo.context's to_policy_values(), plus "token" as keystone adds
// it (so rules such as token.is_admin_project work).
//
// Unlike Python, which sends None, keys of empty string values are left out:
// a generic check like project_id:%(project_id)s must not match when both the
// caller and the target lack a project.
func (p *Principal) Creds() map[string]any {
	if p.creds != nil {
		return p.creds
	}
	return p.buildCreds()
}

func (p *Principal) buildCreds() map[string]any {
	c := map[string]any{
		"roles":            nonNil(p.Roles),
		"is_admin_project": p.IsAdminProject,
		"service_roles":    []string{},
	}
	put := func(k, v string) {
		if v != "" {
			c[k] = v
		}
	}
	put("user_id", p.UserID)
	put("user_domain_id", p.UserDomainID)
	put("project_id", p.ProjectID)
	put("project_domain_id", p.ProjectDomainID)
	put("domain_id", p.DomainID)
	put("system_scope", p.System)
	if s := p.Service; s != nil {
		c["service_roles"] = nonNil(s.Roles)
		put("service_user_id", s.UserID)
		put("service_user_domain_id", s.UserDomainID)
		put("service_project_id", s.ProjectID)
		put("service_project_domain_id", s.ProjectDomainID)
	}
	c["token"] = p.tokenValues()
	return c
}

// tokenValues renders the token the way Keystone's token API shows it,
// for the policy values under "token".
func (p *Principal) tokenValues() map[string]any {
	ref := func(id, name string) map[string]any {
		return map[string]any{"id": id, "name": name}
	}
	user := ref(p.UserID, p.UserName)
	user["domain"] = ref(p.UserDomainID, p.UserDomainName)
	roles := make([]any, len(p.Roles))
	for i, name := range p.Roles {
		id := ""
		if i < len(p.RoleIDs) {
			id = p.RoleIDs[i]
		}
		roles[i] = ref(id, name)
	}
	t := map[string]any{
		"methods":          nonNil(p.Methods),
		"user":             user,
		"roles":            roles,
		"audit_ids":        nonNil(p.AuditIDs),
		"is_admin_project": p.IsAdminProject,
	}
	if !p.ExpiresAt.IsZero() {
		t["expires_at"] = p.ExpiresAt.UTC().Format(timeLayout)
	}
	if !p.IssuedAt.IsZero() {
		t["issued_at"] = p.IssuedAt.UTC().Format(timeLayout)
	}
	if p.ProjectID != "" {
		pr := ref(p.ProjectID, p.ProjectName)
		pr["domain"] = ref(p.ProjectDomainID, p.ProjectDomainName)
		t["project"] = pr
	}
	if p.DomainID != "" {
		t["domain"] = ref(p.DomainID, p.DomainName)
	}
	if p.System == "all" {
		t["system"] = map[string]any{"all": true}
	}
	if p.AppCredID != "" {
		t["application_credential"] = map[string]any{"id": p.AppCredID}
	}
	return t
}

// LogValue describes the caller for logs, without the token.
func (p *Principal) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("<nil>")
	}
	attrs := []slog.Attr{slog.String("user_id", p.UserID)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("user_name", p.UserName)
	add("user_domain_id", p.UserDomainID)
	add("project_id", p.ProjectID)
	add("domain_id", p.DomainID)
	add("system", p.System)
	add("app_cred_id", p.AppCredID)
	attrs = append(attrs, slog.Any("roles", nonNil(p.Roles)))
	if len(p.AuditIDs) > 0 {
		attrs = append(attrs, slog.Any("audit_ids", p.AuditIDs))
	}
	if !p.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.Time("expires_at", p.ExpiresAt))
	}
	if p.Service != nil {
		attrs = append(attrs, slog.Any("service", p.Service))
	}
	return slog.GroupValue(attrs...)
}

// String keeps the token out of fmt's %v and %+v.
func (p *Principal) String() string {
	if p == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("user %s (%s)", p.UserID, p.UserName)
	switch p.Scope() {
	case "project":
		s += " project " + p.ProjectID
	case "domain":
		s += " domain " + p.DomainID
	case "system":
		s += " system " + p.System
	}
	s += " roles " + strings.Join(p.Roles, ",")
	if p.Service != nil {
		s += " service[" + p.Service.String() + "]"
	}
	return s
}

// GoString keeps the token out of fmt's %#v.
func (p *Principal) GoString() string { return "authn.Principal{" + p.String() + "}" }

// clone returns a deep copy, so that callers may change what they are given
// without touching a cached value.
func (p *Principal) clone() *Principal {
	if p == nil {
		return nil
	}
	c := *p
	c.creds = nil
	c.Roles = slices.Clone(p.Roles)
	c.RoleIDs = slices.Clone(p.RoleIDs)
	c.Methods = slices.Clone(p.Methods)
	c.AuditIDs = slices.Clone(p.AuditIDs)
	c.Service = p.Service.clone()
	return &c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

type ctxKey struct{}

// With returns a context that carries p.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// From returns the Principal in ctx, nil if none.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
