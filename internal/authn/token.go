package authn

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// timeLayout is how Keystone writes times: microseconds, always UTC.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// tokenBody is the Keystone v3 token document of POST and GET /v3/auth/tokens,
// the fields keystonemiddleware reads (the catalog is not asked for).
type tokenBody struct {
	Token struct {
		Methods               []string             `json:"methods"`
		User                  *userRef             `json:"user"`
		AuditIDs              []string             `json:"audit_ids"`
		ExpiresAt             string               `json:"expires_at"`
		IssuedAt              string               `json:"issued_at"`
		Project               *userRef             `json:"project"`
		Domain                *nameRef             `json:"domain"`
		System                map[string]any       `json:"system"`
		Roles                 []nameRef            `json:"roles"`
		IsAdminProject        *bool                `json:"is_admin_project"`
		ApplicationCredential *struct{ ID string } `json:"application_credential"`
	} `json:"token"`
}

type nameRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// userRef is a user or project: a name in a domain.
type userRef struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Domain nameRef `json:"domain"`
}

// ParseToken reads a Keystone v3 token document into a Principal, without
// the raw token, which the document does not hold.
func ParseToken(data []byte) (*Principal, error) {
	var b tokenBody
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("decode token: %w", err)
	}
	t := b.Token
	if t.User == nil || t.User.ID == "" {
		return nil, errors.New("decode token: no user")
	}
	exp, err := parseTime(t.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("decode token expires_at: %w", err)
	}
	p := &Principal{
		UserID:         t.User.ID,
		UserName:       t.User.Name,
		UserDomainID:   t.User.Domain.ID,
		UserDomainName: t.User.Domain.Name,
		Methods:        t.Methods,
		AuditIDs:       t.AuditIDs,
		ExpiresAt:      exp,
		// keystoneauth's default: keystone only says false when an admin
		// project is configured and this is not it.
		IsAdminProject: t.IsAdminProject == nil || *t.IsAdminProject,
	}
	if t.IssuedAt != "" {
		if p.IssuedAt, err = parseTime(t.IssuedAt); err != nil {
			return nil, fmt.Errorf("decode token issued_at: %w", err)
		}
	}
	if pr := t.Project; pr != nil {
		p.ProjectID, p.ProjectName = pr.ID, pr.Name
		p.ProjectDomainID, p.ProjectDomainName = pr.Domain.ID, pr.Domain.Name
	}
	if d := t.Domain; d != nil {
		p.DomainID, p.DomainName = d.ID, d.Name
	}
	if all, _ := t.System["all"].(bool); all {
		p.System = "all"
	}
	for _, r := range t.Roles {
		p.Roles = append(p.Roles, r.Name)
		p.RoleIDs = append(p.RoleIDs, r.ID)
	}
	if ac := t.ApplicationCredential; ac != nil {
		p.AppCredID = ac.ID
	}
	return p, nil
}

// parseTime reads Keystone's ISO 8601 times; some (password_expires_at in old
// releases) lack the zone, which then is UTC.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}
