package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// RoleRef names a role by id or by name, as application credential
// requests do.
type RoleRef struct{ ID, Name string }

// AppCredRequest is what a user asks for when creating an application
// credential. AccessRules name an existing rule of the user by ID, or
// describe one by Service, Path and Method.
type AppCredRequest struct {
	Name, Description, Secret string
	ExpiresAt                 *time.Time
	Roles                     []RoleRef
	Unrestricted              bool
	AccessRules               []AccessRule
}

// appCredTarget is the policy target of the application credential rules,
// whose "owner" check reads user_id.
func appCredTarget(userID string) map[string]any {
	return map[string]any{"user_id": userID}
}

// checkAppCredManager refuses tokens made from a restricted application
// credential: they may not create or delete other credentials, so a leaked
// credential cannot be used to mint more.
func (s *Service) checkAppCredManager(ctx context.Context, p *authn.Principal) error {
	if p == nil || p.AppCredID == "" {
		return nil
	}
	ac, err := s.getAppCred(ctx, s.db, p.AppCredID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return errAuth
		}
		return err
	}
	if !ac.Unrestricted {
		return fault.Forbiddenf("You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials.")
	}
	return nil
}

// newAppCredSecret makes a secret the way Keystone does: 64 random bytes,
// URL-safe base64 without padding.
func newAppCredSecret() string {
	var b [64]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateAppCred makes an application credential for the caller on the
// project its token is scoped to, and returns it with its secret, which is
// shown this once and stored only as a hash.
func (s *Service) CreateAppCred(ctx context.Context, p *authn.Principal, userID string, req AppCredRequest) (*AppCred, string, error) {
	if err := s.authorize(p, "identity:create_application_credential", appCredTarget(userID)); err != nil {
		return nil, "", err
	}
	if p.UserID != userID {
		return nil, "", fault.Forbiddenf("You are not authorized to perform the requested action: Cannot create an application credential for another user.")
	}
	if err := s.checkAppCredManager(ctx, p); err != nil {
		return nil, "", err
	}
	if p.ProjectID == "" {
		return nil, "", fault.BadRequestf("Invalid application credential: an application credential can only be created with a project-scoped token.")
	}
	if err := validName("application credential", req.Name); err != nil {
		return nil, "", err
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(s.now()) {
		return nil, "", fault.BadRequestf("The 'expires_at' must be later than now. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	rules, err := normalizeAccessRules(req.AccessRules)
	if err != nil {
		return nil, "", err
	}
	secret := req.Secret
	if secret == "" {
		secret = newAppCredSecret()
	}
	hash, err := s.hashPassword(secret)
	if err != nil {
		return nil, "", err
	}
	ac := &AppCred{ID: newID(), Name: req.Name, UserID: userID, ProjectID: p.ProjectID, Description: req.Description,
		SecretHash: hash, ExpiresAt: req.ExpiresAt, Unrestricted: req.Unrestricted}
	if ac.ExpiresAt != nil {
		t := ac.ExpiresAt.UTC().Truncate(time.Microsecond)
		ac.ExpiresAt = &t
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		roleIDs, err := s.appCredRoleIDs(ctx, tx, p, req.Roles)
		if err != nil {
			return err
		}
		ac.RoleIDs = roleIDs
		_, err = tx.ExecContext(ctx, `INSERT INTO application_credentials (`+appCredColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			ac.ID, ac.Name, ac.UserID, ac.ProjectID, ac.SecretHash, ac.Description, nullMicros(ac.ExpiresAt), ac.Unrestricted)
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to store application_credential - Duplicate entry found with name %s.", ac.Name)
		}
		if err != nil {
			return err
		}
		for _, rid := range roleIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO application_credential_roles (application_credential_id, role_id) VALUES ($1, $2)`,
				ac.ID, rid); err != nil {
				return err
			}
		}
		for _, r := range rules {
			ruleID, err := s.resolveAccessRule(ctx, tx, userID, r)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO application_credential_access_rules (application_credential_id, access_rule_id)
				VALUES ($1, $2) ON CONFLICT DO NOTHING`, ac.ID, ruleID); err != nil {
				return err
			}
		}
		return s.loadAppCredDetails(ctx, tx, ac)
	})
	if err != nil {
		return nil, "", err
	}
	return ac, secret, nil
}

// appCredRoleIDs picks the roles of a new credential: the token's roles
// when none are asked for, else the named ones and the roles they imply,
// each of which the token must carry.
func (s *Service) appCredRoleIDs(ctx context.Context, q queryer, p *authn.Principal, refs []RoleRef) ([]string, error) {
	if len(refs) == 0 {
		if len(p.RoleIDs) == 0 {
			return nil, fault.BadRequestf("Invalid application credential: Cannot create an application credential with unassigned role")
		}
		ids := slices.Clone(p.RoleIDs)
		slices.Sort(ids)
		return slices.Compact(ids), nil
	}
	rs := roleSet{}
	for _, ref := range refs {
		var rid string
		var err error
		if ref.ID != "" {
			err = q.QueryRowContext(ctx, `SELECT id FROM roles WHERE id = $1`, ref.ID).Scan(&rid)
			if errors.Is(err, sql.ErrNoRows) {
				err = fault.BadRequestf("Invalid application credential: Cannot create an application credential with unassigned role")
			}
		} else {
			err = q.QueryRowContext(ctx, `SELECT id FROM roles WHERE name = $1 AND domain_id = ''`, ref.Name).Scan(&rid)
			if errors.Is(err, sql.ErrNoRows) {
				err = fault.NotFoundf("Could not find role: %s.", ref.Name)
			}
		}
		if err != nil {
			return nil, err
		}
		rs[rid] = true
	}
	if err := expandImplied(ctx, q, rs); err != nil {
		return nil, err
	}
	for rid := range rs {
		if !slices.Contains(p.RoleIDs, rid) {
			return nil, fault.BadRequestf("Invalid application credential: Cannot create an application credential with unassigned role")
		}
	}
	return rs.ids(), nil
}

// userAppCred loads one of userID's credentials; another user's looks
// missing.
func (s *Service) userAppCred(ctx context.Context, q queryer, userID, id string) (*AppCred, error) {
	ac, err := s.getAppCred(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if ac.UserID != userID {
		return nil, appCredNotFound(id)
	}
	return ac, nil
}

// GetAppCred returns one of a user's application credentials.
func (s *Service) GetAppCred(ctx context.Context, p *authn.Principal, userID, id string) (*AppCred, error) {
	if err := s.authorize(p, "identity:get_application_credential", appCredTarget(userID)); err != nil {
		return nil, err
	}
	return s.userAppCred(ctx, s.db, userID, id)
}

// ListAppCreds lists a user's application credentials, optionally those
// with one name.
func (s *Service) ListAppCreds(ctx context.Context, p *authn.Principal, userID, name string) ([]AppCred, error) {
	if err := s.authorize(p, "identity:list_application_credentials", appCredTarget(userID)); err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("user_id", userID)
	q.eq("name", name)
	rows, err := s.db.QueryContext(ctx, `SELECT `+appCredColumns+` FROM application_credentials`+q.sql()+` ORDER BY name, id`, q.args...)
	if err != nil {
		return nil, err
	}
	var out []AppCred
	for rows.Next() {
		ac, err := scanAppCred(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, *ac)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.loadAppCredDetails(ctx, s.db, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DeleteAppCred removes an application credential; tokens made from it
// stop validating at once, since validation reloads the credential.
func (s *Service) DeleteAppCred(ctx context.Context, p *authn.Principal, userID, id string) error {
	if err := s.authorize(p, "identity:delete_application_credential", appCredTarget(userID)); err != nil {
		return err
	}
	if err := s.checkAppCredManager(ctx, p); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.userAppCred(ctx, tx, userID, id); err != nil {
			return err
		}
		for _, stmt := range []string{
			`DELETE FROM application_credential_access_rules WHERE application_credential_id = $1`,
			`DELETE FROM application_credential_roles WHERE application_credential_id = $1`,
			`DELETE FROM application_credentials WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// appCredRoles loads the roles a credential carries, for display.
func (s *Service) appCredRoles(ctx context.Context, ids []string) ([]Role, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, domain_id FROM roles WHERE id IN (`+placeholders(1, len(ids))+`) ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		var r Role
		if err := rows.Scan(&r.ID, &r.Name, &r.DomainID); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
