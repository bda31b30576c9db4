package identity

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const userColumns = `id, name, domain_id, enabled, default_project_id, extra, options, password_created_at,
	password_expires_at, failed_auth_count, last_failed_auth_at, created_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var extra, options string
	var pwCreated, pwExpires, lastFailed sql.NullInt64
	var created int64
	if err := row.Scan(&u.ID, &u.Name, &u.DomainID, &u.Enabled, &u.DefaultProjectID, &extra, &options,
		&pwCreated, &pwExpires, &u.FailedAuthCount, &lastFailed, &created); err != nil {
		return nil, err
	}
	u.Extra = decodeExtra(extra)
	u.Options = decodeExtra(options)
	u.PasswordCreatedAt = fromNullMicros(pwCreated)
	u.PasswordExpiresAt = fromNullMicros(pwExpires)
	u.LastFailedAuthAt = fromNullMicros(lastFailed)
	u.CreatedAt = time.UnixMicro(created).UTC()
	return &u, nil
}

func userNotFound(id string) error { return fault.NotFoundf("Could not find user: %s.", id) }

// getUser finds a user by public id in SQL or, through the id mapping, in
// the read-only driver of its domain.
func (s *Service) getUser(ctx context.Context, q queryer, id string) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(s.ldap) > 0 {
		if u, err := s.getMappedUser(ctx, q, id); err == nil || !fault.Is(err, fault.NotFound) {
			return u, err
		}
	}
	return nil, userNotFound(id)
}

func (s *Service) getUserByName(ctx context.Context, q queryer, domainID, name string) (*User, error) {
	if drv := s.ldapFor(domainID); drv != nil {
		bu, err := drv.GetUserByName(ctx, name)
		if err != nil {
			return nil, err
		}
		return s.mapUser(ctx, domainID, bu)
	}
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE domain_id = $1 AND name = $2`, domainID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, userNotFound(name)
	}
	return u, err
}

func userTarget(u *User) map[string]any {
	return map[string]any{"user": map[string]any{"id": u.ID, "domain_id": u.DomainID, "name": u.Name}}
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	Name, DomainID  string
	Enabled         *bool
	PasswordExpires string // "lt:2026-...", as Keystone's password_expires_at filter
	Extra           map[string]string
}

// ListUsers lists users.
func (s *Service) ListUsers(ctx context.Context, p *authn.Principal, f UserFilter) ([]User, error) {
	if err := s.authorize(p, "identity:list_users", map[string]any{"domain_id": f.DomainID}); err != nil {
		return nil, err
	}
	if drv := s.ldapFor(f.DomainID); drv != nil {
		return s.listMappedUsers(ctx, f)
	}
	q := newWhere()
	q.eq("name", f.Name)
	q.eq("domain_id", f.DomainID)
	q.eqBool("enabled", f.Enabled)
	if f.PasswordExpires != "" {
		cond, t, err := parseTimeFilter(f.PasswordExpires)
		if err != nil {
			return nil, err
		}
		q.add("password_expires_at "+cond+" ?", t.UnixMicro())
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users`+q.sql()+` ORDER BY name`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		if extraMatches(u.Extra, f.Extra) {
			out = append(out, *u)
		}
	}
	return out, rows.Err()
}

func extraMatches(extra map[string]any, want map[string]string) bool {
	for k, v := range want {
		got, ok := extra[k].(string)
		if !ok || got != v {
			return false
		}
	}
	return true
}

// parseTimeFilter reads Keystone's "op:timestamp" list filters.
func parseTimeFilter(v string) (string, time.Time, error) {
	ops := map[string]string{"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "=", "neq": "<>"}
	op, ts := "eq", v
	if i := len(v); i > 3 {
		for k := range ops {
			if len(v) > len(k)+1 && v[:len(k)+1] == k+":" {
				op, ts = k, v[len(k)+1:]
			}
		}
	}
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05", ts)
	}
	if err != nil {
		return "", time.Time{}, fault.BadRequestf("Invalid input for field 'password_expires_at': %s is not a valid timestamp.", ts)
	}
	return ops[op], t, nil
}

// GetUser returns one user.
func (s *Service) GetUser(ctx context.Context, p *authn.Principal, id string) (*User, error) {
	u, err := s.getUser(ctx, s.db, id)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			if aerr := s.authorize(p, "identity:get_user", map[string]any{"user": map[string]any{"id": id}}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.authorize(p, "identity:get_user", userTarget(u)); err != nil {
		return nil, err
	}
	return u, nil
}

// CreateUser makes a user, with a password if one is given.
func (s *Service) CreateUser(ctx context.Context, p *authn.Principal, u User, password *string) (*User, error) {
	if err := validName("user", u.Name); err != nil {
		return nil, err
	}
	if u.DomainID == "" {
		u.DomainID = s.defaultDomainFor(p)
	}
	if err := s.authorize(p, "identity:create_user", userTarget(&u)); err != nil {
		return nil, err
	}
	if s.ldapFor(u.DomainID) != nil {
		return nil, fault.Forbiddenf("Cannot create a user in domain %s: its identity backend is read-only.", u.DomainID)
	}
	if err := validateOptions(u.Options); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u.ID, u.CreatedAt = newID(), now
	var hash string
	if password != nil {
		if err := s.checkPasswordStrength(*password); err != nil {
			return nil, err
		}
		h, err := s.hashPassword(*password)
		if err != nil {
			return nil, err
		}
		hash = h
		u.PasswordCreatedAt = &now
		u.PasswordExpiresAt = s.passwordExpiry(&u, now)
		if s.cfg.ChangePasswordUponFirst && !ignoreChangeOnFirstUse(&u) {
			u.PasswordExpiresAt = &now // must change it before first use
		}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Keystone answers DomainNotFound (404) here, as tempest's
		// test_create_user_for_non_existent_domain expects.
		if _, err := getDomain(ctx, tx, u.DomainID); err != nil {
			return err
		}
		if u.DefaultProjectID != "" {
			if _, err := getProject(ctx, tx, u.DefaultProjectID); err != nil {
				if fault.Is(err, fault.NotFound) {
					return fault.BadRequestf("Could not find project: %s.", u.DefaultProjectID)
				}
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, name, domain_id, enabled, default_project_id, extra, options,
			password_hash, password_created_at, password_expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			u.ID, u.Name, u.DomainID, u.Enabled, u.DefaultProjectID, encodeExtra(u.Extra), encodeExtra(u.Options),
			hash, nullMicros(u.PasswordCreatedAt), nullMicros(u.PasswordExpiresAt), micros(now))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to store user - Duplicate entry found with name %s at domain ID %s.", u.Name, u.DomainID)
		}
		if err != nil {
			return err
		}
		if hash != "" {
			_, err = tx.ExecContext(ctx, `INSERT INTO password_history (user_id, hash, created_at) VALUES ($1, $2, $3)`, u.ID, hash, micros(now))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// UserPatch holds the fields an update changes.
type UserPatch struct {
	Name, DefaultProjectID, DomainID *string
	Enabled                          *bool
	Password                         *string
	Options                          map[string]any
	Extra                            map[string]any
}

// UpdateUser changes a user. Disabling it, or an admin setting its
// password, revokes its tokens.
func (s *Service) UpdateUser(ctx context.Context, p *authn.Principal, id string, patch UserPatch) (*User, error) {
	var out *User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		u, err := s.getUser(ctx, tx, id)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				if aerr := s.authorize(p, "identity:update_user", map[string]any{"user": map[string]any{"id": id}}); aerr != nil {
					return aerr
				}
			}
			return err
		}
		if err := s.authorize(p, "identity:update_user", userTarget(u)); err != nil {
			return err
		}
		if u.readOnly {
			return fault.Forbiddenf("Cannot change user %s: its identity backend is read-only.", id)
		}
		if patch.DomainID != nil && *patch.DomainID != u.DomainID {
			return fault.BadRequestf("Update of `domain_id` is not allowed.")
		}
		if patch.Name != nil {
			if err := validName("user", *patch.Name); err != nil {
				return err
			}
			u.Name = *patch.Name
		}
		if patch.DefaultProjectID != nil {
			u.DefaultProjectID = *patch.DefaultProjectID
		}
		wasEnabled := u.Enabled
		unlock := false
		if patch.Enabled != nil {
			u.Enabled = *patch.Enabled
			unlock = u.Enabled // setting enabled=true unlocks a locked-out user
		}
		if err := validateOptions(patch.Options); err != nil {
			return err
		}
		mergeExtra(&u.Options, patch.Options)
		mergeExtra(&u.Extra, patch.Extra)
		_, err = tx.ExecContext(ctx, `UPDATE users SET name = $2, default_project_id = $3, enabled = $4, options = $5, extra = $6
			WHERE id = $1`, id, u.Name, u.DefaultProjectID, u.Enabled, encodeExtra(u.Options), encodeExtra(u.Extra))
		if err == nil && unlock {
			u.FailedAuthCount, u.LastFailedAuthAt = 0, nil
			_, err = tx.ExecContext(ctx, `UPDATE users SET failed_auth_count = 0, last_failed_auth_at = NULL WHERE id = $1`, id)
		}
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to update user - Duplicate entry found with name %s at domain ID %s.", u.Name, u.DomainID)
		}
		if err != nil {
			return err
		}
		if patch.Password != nil {
			// An administrator's reset: no minimum age or history check,
			// and with change_password_upon_first_use the user must
			// change it again.
			if err := s.setPassword(ctx, tx, u, *patch.Password, true); err != nil {
				return err
			}
		}
		if wasEnabled && !u.Enabled {
			if err := s.revoke(ctx, tx, RevocationEvent{UserID: id}); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	return out, err
}

// DeleteUser removes a user, its memberships, assignments and secrets.
func (s *Service) DeleteUser(ctx context.Context, p *authn.Principal, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		u, err := s.getUser(ctx, tx, id)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				if aerr := s.authorize(p, "identity:delete_user", map[string]any{"user": map[string]any{"id": id}}); aerr != nil {
					return aerr
				}
			}
			return err
		}
		if err := s.authorize(p, "identity:delete_user", userTarget(u)); err != nil {
			return err
		}
		if u.readOnly {
			return fault.Forbiddenf("Cannot delete user %s: its identity backend is read-only.", id)
		}
		for _, stmt := range []string{
			`DELETE FROM assignments WHERE actor_id = $1`,
			`DELETE FROM credentials WHERE user_id = $1`,
			`DELETE FROM application_credentials WHERE user_id = $1`,
			`DELETE FROM access_rules WHERE user_id = $1`,
			`DELETE FROM users WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		return s.revoke(ctx, tx, RevocationEvent{UserID: id})
	})
}

// ChangePassword is a user changing their own password: the original must
// match, and the security-compliance rules apply.
func (s *Service) ChangePassword(ctx context.Context, id, original, password string) error {
	// Like Keystone, this needs no token, so that a user whose password
	// has expired can still change it: the original password is the check.
	// Check the original outside the transaction, so that a wrong guess
	// counts towards lockout instead of being rolled back with it.
	u, err := s.getUser(ctx, s.db, id)
	if fault.Is(err, fault.NotFound) {
		return errAuth // never say whether the user exists
	}
	if err != nil {
		return err
	}
	if u.readOnly {
		return fault.Forbiddenf("Cannot change the password of user %s: its identity backend is read-only.", id)
	}
	if err := s.checkPassword(ctx, s.db, u, original); err != nil {
		if fault.KindOf(err) == fault.Internal {
			return err
		}
		return errAuth
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		u, err := s.getUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if s.cfg.MinimumPasswordAge > 0 && u.PasswordCreatedAt != nil &&
			s.now().Sub(*u.PasswordCreatedAt) < s.cfg.MinimumPasswordAge && !ignorePasswordExpiry(u) {
			return fault.BadRequestf("You cannot change your password at this time due to the minimum password age. Once you change your password, it must be used for %d day(s) before it can be changed. Please try again in %d day(s) or contact your administrator to reset your password.",
				int(s.cfg.MinimumPasswordAge.Hours()/24), int((s.cfg.MinimumPasswordAge-s.now().Sub(*u.PasswordCreatedAt)).Hours()/24)+1)
		}
		return s.setPassword(ctx, tx, u, password, false)
	})
}

// setPassword stores a new hash, checks history, and revokes older tokens.
func (s *Service) setPassword(ctx context.Context, tx *sql.Tx, u *User, password string, adminReset bool) error {
	if err := s.checkPasswordStrength(password); err != nil {
		return err
	}
	if n := s.cfg.UniqueLastPasswordCount; n > 1 && !adminReset {
		rows, err := tx.QueryContext(ctx, `SELECT hash FROM password_history WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2`, u.ID, n)
		if err != nil {
			return err
		}
		hashes, err := collectStrings(rows)
		if err != nil {
			return err
		}
		for _, h := range hashes {
			if bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil {
				return fault.BadRequestf("The new password cannot be identical to a previous password. The total number which includes the new password must be unique is %d.", n)
			}
		}
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	expires := s.passwordExpiry(u, now)
	if adminReset && s.cfg.ChangePasswordUponFirst && !ignoreChangeOnFirstUse(u) {
		expires = &now
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2, password_created_at = $3, password_expires_at = $4,
		failed_auth_count = 0 WHERE id = $1`, u.ID, hash, micros(now), nullMicros(expires)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO password_history (user_id, hash, created_at) VALUES ($1, $2, $3)`, u.ID, hash, micros(now)); err != nil {
		return err
	}
	u.PasswordCreatedAt, u.PasswordExpiresAt = &now, expires
	return s.revoke(ctx, tx, RevocationEvent{UserID: u.ID})
}

func (s *Service) hashPassword(password string) (string, error) {
	if len(password) > 72 {
		// bcrypt reads 72 bytes; Keystone truncates the same way, so
		// hashes stay interchangeable.
		password = password[:72]
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	return string(h), err
}

func (s *Service) checkPasswordStrength(password string) error {
	if len(password) > 4096 {
		return fault.BadRequestf("Invalid input for field 'password': the password is too long.")
	}
	if s.cfg.PasswordRegex != "" {
		re, err := regexp.Compile(s.cfg.PasswordRegex)
		if err != nil {
			return err
		}
		if !re.MatchString(password) {
			desc := s.cfg.PasswordRegexDesc
			if desc == "" {
				desc = "the password does not match the required pattern"
			}
			return fault.BadRequestf("Password validation error: %s.", desc)
		}
	}
	return nil
}

func (s *Service) passwordExpiry(u *User, now time.Time) *time.Time {
	if s.cfg.PasswordExpiresDays <= 0 || ignorePasswordExpiry(u) {
		return nil
	}
	t := now.Add(time.Duration(s.cfg.PasswordExpiresDays) * 24 * time.Hour)
	return &t
}

// User options Keystone knows (PCI-DSS and MFA).
var knownOptions = map[string]bool{
	"ignore_change_password_upon_first_use": true,
	"ignore_password_expiry":                true,
	"ignore_lockout_failure_attempts":       true,
	"lock_password":                         true,
	"multi_factor_auth_enabled":             true,
	"multi_factor_auth_rules":               true,
	"ignore_user_inactivity":                true,
}

func validateOptions(opts map[string]any) error {
	for k, v := range opts {
		if !knownOptions[k] {
			return fault.BadRequestf("Invalid input for field 'options': unknown option %s.", k)
		}
		if k == "multi_factor_auth_rules" {
			if _, ok := v.([]any); !ok && v != nil {
				return fault.BadRequestf("Invalid input for field 'options': %s must be a list of lists.", k)
			}
			continue
		}
		if _, ok := v.(bool); !ok && v != nil {
			return fault.BadRequestf("Invalid input for field 'options': %s must be a boolean.", k)
		}
	}
	return nil
}

func optionSet(u *User, name string) bool {
	b, _ := u.Options[name].(bool)
	return b
}

func ignorePasswordExpiry(u *User) bool { return optionSet(u, "ignore_password_expiry") }
func ignoreChangeOnFirstUse(u *User) bool {
	return optionSet(u, "ignore_change_password_upon_first_use")
}
func ignoreLockout(u *User) bool { return optionSet(u, "ignore_lockout_failure_attempts") }
