package identity

import (
	"context"
	"database/sql"
	"errors"

	"golang.org/x/crypto/bcrypt"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func appCredNotFound(id string) error {
	return fault.NotFoundf("Could not find Application Credential: %s.", id)
}

func scanAppCred(row interface{ Scan(...any) error }) (*AppCred, error) {
	var ac AppCred
	var expires sql.NullInt64
	if err := row.Scan(&ac.ID, &ac.Name, &ac.UserID, &ac.ProjectID, &ac.SecretHash, &ac.Description, &expires, &ac.Unrestricted); err != nil {
		return nil, err
	}
	ac.ExpiresAt = fromNullMicros(expires)
	return &ac, nil
}

const appCredColumns = `id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted`

// getAppCred loads an application credential with its roles and rules.
func (s *Service) getAppCred(ctx context.Context, q queryer, id string) (*AppCred, error) {
	ac, err := scanAppCred(q.QueryRowContext(ctx, `SELECT `+appCredColumns+` FROM application_credentials WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, appCredNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return ac, s.loadAppCredDetails(ctx, q, ac)
}

func (s *Service) loadAppCredDetails(ctx context.Context, q queryer, ac *AppCred) error {
	rows, err := q.QueryContext(ctx, `SELECT role_id FROM application_credential_roles WHERE application_credential_id = $1 ORDER BY role_id`, ac.ID)
	if err != nil {
		return err
	}
	if ac.RoleIDs, err = collectStrings(rows); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT r.id, r.service, r.path, r.method, r.user_id FROM access_rules r
		JOIN application_credential_access_rules a ON a.access_rule_id = r.id
		WHERE a.application_credential_id = $1 ORDER BY r.id`, ac.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	ac.AccessRules = nil
	for rows.Next() {
		var r AccessRule
		if err := rows.Scan(&r.ID, &r.Service, &r.Path, &r.Method, &r.UserID); err != nil {
			return err
		}
		ac.AccessRules = append(ac.AccessRules, r)
	}
	return rows.Err()
}

// appCredUser checks an application credential's secret and returns it
// with its user. By name, the credential is looked up among the user's.
func (s *Service) appCredUser(ctx context.Context, id, name string, ref UserRef, secret string) (*AppCred, *User, error) {
	var ac *AppCred
	var err error
	switch {
	case id != "":
		ac, err = s.getAppCred(ctx, s.db, id)
	case name != "":
		var u *User
		u, err = s.findUser(ctx, ref)
		if err != nil {
			break
		}
		var acID string
		err = s.db.QueryRowContext(ctx, `SELECT id FROM application_credentials WHERE user_id = $1 AND name = $2`, u.ID, name).Scan(&acID)
		if errors.Is(err, sql.ErrNoRows) {
			err = appCredNotFound(name)
			break
		}
		if err == nil {
			ac, err = s.getAppCred(ctx, s.db, acID)
		}
	default:
		return nil, nil, fault.BadRequestf("Invalid input for field 'application_credential': an id or a name is required.")
	}
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, nil, errAuth
		}
		return nil, nil, err
	}
	if secret == "" || bcrypt.CompareHashAndPassword([]byte(ac.SecretHash), []byte(secret)) != nil {
		return nil, nil, errAuth
	}
	if ac.ExpiresAt != nil && !ac.ExpiresAt.After(s.now()) {
		return nil, nil, errAuth
	}
	u, err := s.getUser(ctx, s.db, ac.UserID)
	if err != nil {
		return nil, nil, errAuth
	}
	if err := s.checkUsable(ctx, u); err != nil {
		return nil, nil, err
	}
	return ac, u, nil
}
