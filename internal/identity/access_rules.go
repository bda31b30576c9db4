package identity

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Access rules belong to a user and are shared by that user's application
// credentials; one outlives the credentials that used it until deleted.

func accessRuleNotFound(id string) error {
	return fault.NotFoundf("Could not find Access Rule: %s.", id)
}

var accessRuleMethods = []string{"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"}

// normalizeAccessRules checks the rules of a create request as Keystone's
// schema does: either an id alone, or service, path and method.
func normalizeAccessRules(rules []AccessRule) ([]AccessRule, error) {
	out := make([]AccessRule, 0, len(rules))
	for _, r := range rules {
		if r.ID != "" {
			out = append(out, AccessRule{ID: r.ID})
			continue
		}
		if r.Service == "" || len(r.Service) > 64 {
			return nil, fault.BadRequestf("Invalid input for field 'access_rules/service': a service type of 1 to 64 characters is required.")
		}
		if !strings.HasPrefix(r.Path, "/") || len(r.Path) > 225 {
			return nil, fault.BadRequestf("Invalid input for field 'access_rules/path': %q does not match '^/'.", r.Path)
		}
		ok := false
		for _, m := range accessRuleMethods {
			if r.Method == m {
				ok = true
			}
		}
		if !ok {
			return nil, fault.BadRequestf("Invalid input for field 'access_rules/method': %q is not one of %v.", r.Method, accessRuleMethods)
		}
		out = append(out, AccessRule{Service: r.Service, Path: r.Path, Method: r.Method})
	}
	return out, nil
}

const accessRuleColumns = `id, service, path, method, user_id`

func scanAccessRule(row interface{ Scan(...any) error }) (*AccessRule, error) {
	var r AccessRule
	if err := row.Scan(&r.ID, &r.Service, &r.Path, &r.Method, &r.UserID); err != nil {
		return nil, err
	}
	return &r, nil
}

// resolveAccessRule returns the id of the user's rule r names, making the
// rule when an identical one does not exist yet.
func (s *Service) resolveAccessRule(ctx context.Context, tx *sql.Tx, userID string, r AccessRule) (string, error) {
	if r.ID != "" {
		if _, err := userAccessRule(ctx, tx, userID, r.ID); err != nil {
			return "", err
		}
		return r.ID, nil
	}
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM access_rules WHERE user_id = $1 AND service = $2 AND path = $3 AND method = $4`,
		userID, r.Service, r.Path, r.Method).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	id = newID()
	_, err = tx.ExecContext(ctx, `INSERT INTO access_rules (`+accessRuleColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		id, r.Service, r.Path, r.Method, userID)
	return id, err
}

// userAccessRule loads one of userID's access rules; another user's looks
// missing.
func userAccessRule(ctx context.Context, q queryer, userID, id string) (*AccessRule, error) {
	r, err := scanAccessRule(q.QueryRowContext(ctx, `SELECT `+accessRuleColumns+` FROM access_rules WHERE id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, accessRuleNotFound(id)
	}
	return r, err
}

func accessRuleTarget(userID string) map[string]any {
	return map[string]any{"user": map[string]any{"id": userID}}
}

// AccessRuleFilter narrows ListAccessRules.
type AccessRuleFilter struct{ Service, Path, Method string }

// ListAccessRules lists a user's access rules.
func (s *Service) ListAccessRules(ctx context.Context, p *authn.Principal, userID string, f AccessRuleFilter) ([]AccessRule, error) {
	if err := s.authorize(p, "identity:list_access_rules", accessRuleTarget(userID)); err != nil {
		return nil, err
	}
	q := newWhere()
	q.add("user_id = ?", userID)
	q.eq("service", f.Service)
	q.eq("path", f.Path)
	q.eq("method", f.Method)
	rows, err := s.db.QueryContext(ctx, `SELECT `+accessRuleColumns+` FROM access_rules`+q.sql()+` ORDER BY service, path, method, id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccessRule
	for rows.Next() {
		r, err := scanAccessRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// GetAccessRule returns one of a user's access rules.
func (s *Service) GetAccessRule(ctx context.Context, p *authn.Principal, userID, id string) (*AccessRule, error) {
	if err := s.authorize(p, "identity:get_access_rule", accessRuleTarget(userID)); err != nil {
		return nil, err
	}
	return userAccessRule(ctx, s.db, userID, id)
}

// DeleteAccessRule removes an access rule no credential uses any more.
func (s *Service) DeleteAccessRule(ctx context.Context, p *authn.Principal, userID, id string) error {
	if err := s.authorize(p, "identity:delete_access_rule", accessRuleTarget(userID)); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := userAccessRule(ctx, tx, userID, id); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM application_credential_access_rules WHERE access_rule_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			// Keystone's ForbiddenNotSecurity: 403 with this text.
			return fault.Forbiddenf("May not delete access rule in use")
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM access_rules WHERE id = $1`, id)
		return err
	})
}
