package identity

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Trust is an OS-TRUST delegation: the trustor lends the trustee some of
// the roles it holds on a project. Tokens scoped to the trust carry those
// roles for as long as the trustor still holds them.
type Trust struct {
	ID                           string
	TrustorUserID, TrusteeUserID string
	ProjectID                    string
	Impersonation                bool // tokens show the trustor as their user
	ExpiresAt                    *time.Time
	RemainingUses                *int // tokens that may still be issued; nil = unlimited
	RedelegatedTrustID           string
	RedelegationCount            int // how many more times it may be redelegated
	RoleIDs                      []string
}

// TrustRequest is what POST /v3/OS-TRUST/trusts asks for.
type TrustRequest struct {
	TrustorUserID, TrusteeUserID, ProjectID string
	Impersonation                           bool
	ExpiresAt                               *time.Time
	RemainingUses                           *int
	Roles                                   []RoleRef
	AllowRedelegation                       bool
	RedelegationCount                       *int
}

// maxRedelegationCount is Keystone's [trust] max_redelegation_count.
const maxRedelegationCount = 3

func trustNotFound(id string) error { return fault.NotFoundf("Could not find trust: %s.", id) }

func forbiddenAction(action string) error {
	return fault.Forbiddenf("You are not authorized to perform the requested action: %s.", action)
}

const trustColumns = `id, trustor_user_id, trustee_user_id, project_id, impersonation, expires_at, remaining_uses,
	redelegated_trust_id, redelegation_count`

func scanTrust(row interface{ Scan(...any) error }) (*Trust, error) {
	var tr Trust
	var expires, uses sql.NullInt64
	if err := row.Scan(&tr.ID, &tr.TrustorUserID, &tr.TrusteeUserID, &tr.ProjectID, &tr.Impersonation, &expires, &uses,
		&tr.RedelegatedTrustID, &tr.RedelegationCount); err != nil {
		return nil, err
	}
	tr.ExpiresAt = fromNullMicros(expires)
	if uses.Valid {
		n := int(uses.Int64)
		tr.RemainingUses = &n
	}
	return &tr, nil
}

// loadTrust reads a trust and its roles, whatever its state.
func loadTrust(ctx context.Context, q queryer, id string) (*Trust, error) {
	tr, err := scanTrust(q.QueryRowContext(ctx, `SELECT `+trustColumns+` FROM trusts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trustNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT role_id FROM trust_roles WHERE trust_id = $1 ORDER BY role_id`, id)
	if err != nil {
		return nil, err
	}
	if tr.RoleIDs, err = collectStrings(rows); err != nil {
		return nil, err
	}
	return tr, nil
}

// activeTrust is a trust that has not expired. With needUses it must also
// have uses left: Keystone's get_trust hides used-up trusts, but a token
// already issued from the last use stays valid.
func (s *Service) activeTrust(ctx context.Context, q queryer, id string, needUses bool) (*Trust, error) {
	tr, err := loadTrust(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if tr.ExpiresAt != nil && !tr.ExpiresAt.After(s.now()) {
		return nil, trustNotFound(id)
	}
	if needUses && tr.RemainingUses != nil && *tr.RemainingUses <= 0 {
		return nil, trustNotFound(id)
	}
	return tr, nil
}

func trustTarget(tr *Trust) map[string]any {
	return map[string]any{"trust": map[string]any{"id": tr.ID, "trustor_user_id": tr.TrustorUserID,
		"trustee_user_id": tr.TrusteeUserID, "project_id": tr.ProjectID}}
}

// checkTrustCaller refuses application credential tokens, which Keystone
// keeps out of every trust operation: a leaked credential must not widen
// its reach through delegation.
func checkTrustCaller(p *authn.Principal) error {
	if p != nil && (p.AppCredID != "" || slices.Contains(p.Methods, "application_credential")) {
		return forbiddenAction("Using method 'application_credential' is not allowed for managing trusts")
	}
	return nil
}

// callerTrust is the trust the caller's token is scoped to, or nil.
func (s *Service) callerTrust(ctx context.Context, p *authn.Principal) (*Trust, error) {
	if p == nil || p.Token == "" {
		return nil, nil
	}
	t, err := s.ValidateToken(ctx, p.Token, false)
	if err != nil {
		if fault.KindOf(err) == fault.Internal {
			return nil, err
		}
		return nil, errAuth
	}
	return t.Trust, nil
}

// CreateTrust delegates roles of the caller (the trustor) on a project to
// the trustee. A caller holding a redelegatable trust-scoped token makes a
// trust further down that trust's chain.
func (s *Service) CreateTrust(ctx context.Context, p *authn.Principal, req TrustRequest) (*Trust, error) {
	target := map[string]any{"trust": map[string]any{"trustor_user_id": req.TrustorUserID,
		"trustee_user_id": req.TrusteeUserID, "project_id": req.ProjectID}}
	if err := s.authorize(p, "identity:create_trust", target); err != nil {
		return nil, err
	}
	if err := checkTrustCaller(p); err != nil {
		return nil, err
	}
	if req.ProjectID == "" {
		return nil, fault.BadRequestf("Invalid input for field 'project_id': trusts need a project.")
	}
	if len(req.Roles) == 0 {
		return nil, forbiddenAction("At least one role should be specified")
	}
	if p.UserID != req.TrustorUserID {
		return nil, forbiddenAction("The authenticated user should match the trustor")
	}
	if _, err := s.getUser(ctx, s.db, req.TrusteeUserID); err != nil {
		return nil, err
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(s.now()) {
		return nil, fault.BadRequestf("The 'expires_at' must be later than now. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	tr := &Trust{ID: newID(), TrustorUserID: req.TrustorUserID, TrusteeUserID: req.TrusteeUserID, ProjectID: req.ProjectID,
		Impersonation: req.Impersonation, ExpiresAt: req.ExpiresAt, RemainingUses: req.RemainingUses}
	if tr.ExpiresAt != nil {
		e := tr.ExpiresAt.UTC().Truncate(time.Microsecond)
		tr.ExpiresAt = &e
	}

	redelegatable := req.AllowRedelegation && (req.RedelegationCount == nil || *req.RedelegationCount != 0)
	if redelegatable {
		if req.RemainingUses != nil {
			return nil, fault.BadRequestf("Invalid input for field 'remaining_uses': remaining_uses must not be set if redelegation is allowed.")
		}
		tr.RedelegationCount = maxRedelegationCount
		if req.RedelegationCount != nil {
			if *req.RedelegationCount > maxRedelegationCount {
				return nil, fault.Forbiddenf("Requested redelegation depth of %d is greater than allowed %d.", *req.RedelegationCount, maxRedelegationCount)
			}
			tr.RedelegationCount = *req.RedelegationCount
		}
	} else if req.RemainingUses != nil && *req.RemainingUses <= 0 {
		return nil, fault.BadRequestf("Invalid input for field 'remaining_uses': remaining_uses must be a positive integer or null.")
	}

	parent, err := s.callerTrust(ctx, p)
	if err != nil {
		return nil, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		roleIDs, err := trustRoleIDs(ctx, tx, req.Roles)
		if err != nil {
			return err
		}
		tr.RoleIDs = roleIDs
		if parent != nil {
			if err := redelegate(parent, tr, req, redelegatable); err != nil {
				return err
			}
		}
		if err := s.requireTrustorRoles(ctx, tx, tr); err != nil {
			return err
		}
		var uses sql.NullInt64
		if tr.RemainingUses != nil {
			uses = sql.NullInt64{Int64: int64(*tr.RemainingUses), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO trusts (`+trustColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			tr.ID, tr.TrustorUserID, tr.TrusteeUserID, tr.ProjectID, tr.Impersonation, nullMicros(tr.ExpiresAt), uses,
			tr.RedelegatedTrustID, tr.RedelegationCount); err != nil {
			return err
		}
		for _, rid := range tr.RoleIDs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO trust_roles (trust_id, role_id) VALUES ($1, $2)`, tr.ID, rid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tr, nil
}

// redelegate checks a trust made from parent's trust-scoped token against
// parent and links it into the chain, as Keystone's _validate_redelegation.
func redelegate(parent, tr *Trust, req TrustRequest, redelegatable bool) error {
	if parent.RedelegationCount <= 0 {
		return fault.Forbiddenf("Remaining redelegation depth of %d out of allowed range of [0..%d].", parent.RedelegationCount, maxRedelegationCount)
	}
	if tr.RemainingUses != nil {
		return fault.Forbiddenf("Field \"remaining_uses\" is set to %d while it must not be set in order to redelegate a trust.", *tr.RemainingUses)
	}
	if tr.ProjectID != parent.ProjectID {
		return forbiddenAction("A redelegated trust must be on the project of the trust it comes from")
	}
	switch {
	case tr.ExpiresAt == nil:
		tr.ExpiresAt = parent.ExpiresAt
	case parent.ExpiresAt != nil && tr.ExpiresAt.After(*parent.ExpiresAt):
		return fault.Forbiddenf("Requested expiration time is more than redelegated trust can provide.")
	}
	for _, rid := range tr.RoleIDs {
		if !slices.Contains(parent.RoleIDs, rid) {
			return fault.Forbiddenf("Some of requested roles are not in redelegated trust.")
		}
	}
	if tr.Impersonation && !parent.Impersonation {
		return fault.Forbiddenf("Impersonation is not allowed because redelegated trust does not specify impersonation. Redelegated trust id: %s", parent.ID)
	}
	remaining := parent.RedelegationCount - 1
	if redelegatable && req.RedelegationCount != nil && *req.RedelegationCount != remaining {
		return fault.Forbiddenf("Modifying \"redelegation_count\" upon redelegation is forbidden. Omitting this parameter is advised.")
	}
	tr.RedelegatedTrustID = parent.ID
	tr.RedelegationCount = 0
	if redelegatable {
		tr.RedelegationCount = remaining
	}
	return nil
}

// trustRoleIDs resolves the requested roles: by id any role, by name a
// global one.
func trustRoleIDs(ctx context.Context, q queryer, refs []RoleRef) ([]string, error) {
	var out []string
	for _, ref := range refs {
		var rid string
		var err error
		if ref.ID != "" {
			err = q.QueryRowContext(ctx, `SELECT id FROM roles WHERE id = $1`, ref.ID).Scan(&rid)
			if errors.Is(err, sql.ErrNoRows) {
				err = roleNotFound(ref.ID)
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
		if !slices.Contains(out, rid) {
			out = append(out, rid)
		}
	}
	slices.Sort(out)
	return out, nil
}

// originalTrustor is the user at the root of tr's redelegation chain, whose
// roles every trust of the chain lends.
func (s *Service) originalTrustor(ctx context.Context, q queryer, tr *Trust) (string, error) {
	seen := map[string]bool{tr.ID: true}
	for tr.RedelegatedTrustID != "" {
		parent, err := loadTrust(ctx, q, tr.RedelegatedTrustID)
		if err != nil {
			return "", err
		}
		if seen[parent.ID] {
			return "", trustNotFound(tr.ID)
		}
		seen[parent.ID] = true
		tr = parent
	}
	return tr.TrustorUserID, nil
}

// trustorRoleIDs is every role, implied ones included, the original
// trustor holds on the trust's project now.
func (s *Service) trustorRoleIDs(ctx context.Context, q queryer, tr *Trust) (roleSet, error) {
	trustorID, err := s.originalTrustor(ctx, q, tr)
	if err != nil {
		return nil, err
	}
	trustor, err := s.getUser(ctx, q, trustorID)
	if err != nil {
		return nil, err
	}
	proj, err := getProject(ctx, q, tr.ProjectID)
	if err != nil {
		return nil, err
	}
	rs, err := s.projectRoleIDs(ctx, q, trustor, proj)
	if err != nil {
		return nil, err
	}
	return rs, expandImplied(ctx, q, rs)
}

func (s *Service) requireTrustorRoles(ctx context.Context, q queryer, tr *Trust) error {
	held, err := s.trustorRoleIDs(ctx, q, tr)
	if err != nil {
		return err
	}
	for _, rid := range tr.RoleIDs {
		if !held[rid] {
			return roleNotFound(rid)
		}
	}
	return nil
}

// trustTokenRoles is what a token of the trust carries: the trust's roles
// and those they imply, each of which the trustor must still hold.
func (s *Service) trustTokenRoles(ctx context.Context, q queryer, tr *Trust) ([]Role, error) {
	held, err := s.trustorRoleIDs(ctx, q, tr)
	if err != nil {
		return nil, err
	}
	want := roleSet{}
	for _, rid := range tr.RoleIDs {
		want[rid] = true
	}
	if err := expandImplied(ctx, q, want); err != nil {
		return nil, err
	}
	for rid := range want {
		if !held[rid] {
			return nil, fault.Forbiddenf("Trustee has no delegated roles.")
		}
	}
	roles, err := s.tokenRoles(ctx, q, want)
	if err != nil {
		return nil, err
	}
	if len(roles) == 0 {
		return nil, fault.Forbiddenf("Trustee has no delegated roles.")
	}
	return roles, nil
}

// scopeToTrust fills a token being issued to t.User (who must be the
// trustee) from the trust: its project, its roles and, with impersonation,
// the trustor as user. It takes one of the trust's uses.
func (s *Service) scopeToTrust(ctx context.Context, t *Token, trustID string) error {
	tr, err := s.activeTrust(ctx, s.db, trustID, true)
	if err != nil {
		return err
	}
	if t.User.ID != tr.TrusteeUserID {
		return fault.Forbiddenf("User is not a trustee.")
	}
	if err := s.fillTrustToken(ctx, t, tr); err != nil {
		return err
	}
	if tr.ExpiresAt != nil && tr.ExpiresAt.Before(t.ExpiresAt) {
		t.ExpiresAt = *tr.ExpiresAt
	}
	if tr.RemainingUses == nil {
		return nil
	}
	// Not s.tx: a use taken changes no token's validity, so caches stay.
	res, err := s.db.ExecContext(ctx, `UPDATE trusts SET remaining_uses = remaining_uses - 1 WHERE id = $1 AND remaining_uses > 0`, tr.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return trustNotFound(tr.ID)
	}
	return nil
}

// fillTrustToken sets the trust, project, roles and shown user of a token
// whose User is the trustee.
func (s *Service) fillTrustToken(ctx context.Context, t *Token, tr *Trust) error {
	trustor, err := s.getUser(ctx, s.db, tr.TrustorUserID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return fault.Forbiddenf("Trustor is disabled.")
		}
		return err
	}
	if err := s.checkUsable(ctx, trustor); err != nil {
		if fault.Is(err, fault.Unauthorized) {
			return fault.Forbiddenf("Trustor is disabled.")
		}
		return err
	}
	p, err := getProject(ctx, s.db, tr.ProjectID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return fault.Unauthorizedf("%s", err.(*fault.Error).Msg)
		}
		return err
	}
	pd, err := getDomain(ctx, s.db, p.DomainID)
	if err != nil {
		return err
	}
	if !p.Enabled || !pd.Enabled {
		return fault.Unauthorizedf("Project %s is disabled.", p.ID)
	}
	if disabled, err := s.anyAncestorDisabled(ctx, p); err != nil {
		return err
	} else if disabled {
		return fault.Unauthorizedf("Project %s is disabled.", p.ID)
	}
	roles, err := s.trustTokenRoles(ctx, s.db, tr)
	if err != nil {
		return err
	}
	t.Trust, t.Project, t.ProjectDomain, t.Roles = tr, p, pd, roles
	if tr.Impersonation {
		d, err := getDomain(ctx, s.db, trustor.DomainID)
		if err != nil {
			return err
		}
		t.User, t.UserDomain = trustor, d
	}
	return nil
}

// GetTrust returns a trust to its trustor, its trustee or an admin.
func (s *Service) GetTrust(ctx context.Context, p *authn.Principal, id string) (*Trust, error) {
	// A missing trust is 404 before any policy check, as in Keystone.
	tr, err := s.activeTrust(ctx, s.db, id, true)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "identity:get_trust", trustTarget(tr)); err != nil {
		return nil, err
	}
	if err := checkTrustCaller(p); err != nil {
		return nil, err
	}
	return tr, nil
}

// ListTrusts lists trusts, all of them or one trustor's or one trustee's;
// the filter decides which policy rule applies.
func (s *Service) ListTrusts(ctx context.Context, p *authn.Principal, trustorID, trusteeID string) ([]Trust, error) {
	q := newWhere()
	switch {
	case trustorID != "":
		if err := s.authorize(p, "identity:list_trusts_for_trustor", map[string]any{"trust": map[string]any{"trustor_user_id": trustorID}}); err != nil {
			return nil, err
		}
		q.eq("trustor_user_id", trustorID)
	case trusteeID != "":
		if err := s.authorize(p, "identity:list_trusts_for_trustee", map[string]any{"trust": map[string]any{"trustee_user_id": trusteeID}}); err != nil {
			return nil, err
		}
		q.eq("trustee_user_id", trusteeID)
	default:
		if err := s.authorize(p, "identity:list_trusts", nil); err != nil {
			return nil, err
		}
	}
	if err := checkTrustCaller(p); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+trustColumns+` FROM trusts`+q.sql()+` ORDER BY id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Trust
	for rows.Next() {
		tr, err := scanTrust(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *tr)
	}
	return out, rows.Err()
}

// DeleteTrust removes a trust and the trusts redelegated from it. Their
// tokens stop validating at once, since validation reloads the trust.
func (s *Service) DeleteTrust(ctx context.Context, p *authn.Principal, id string) error {
	tr, err := loadTrust(ctx, s.db, id)
	if err != nil {
		return err
	}
	if err := s.authorize(p, "identity:delete_trust", trustTarget(tr)); err != nil {
		return err
	}
	if err := checkTrustCaller(p); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		queue := []string{id}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			rows, err := tx.QueryContext(ctx, `SELECT id FROM trusts WHERE redelegated_trust_id = $1`, cur)
			if err != nil {
				return err
			}
			children, err := collectStrings(rows)
			if err != nil {
				return err
			}
			queue = append(queue, children...)
			if _, err := tx.ExecContext(ctx, `DELETE FROM trust_roles WHERE trust_id = $1`, cur); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM trusts WHERE id = $1`, cur); err != nil {
				return err
			}
		}
		return nil
	})
}

// TrustRoles returns the roles a trust delegates.
func (s *Service) TrustRoles(ctx context.Context, p *authn.Principal, id string) (*Trust, []Role, error) {
	tr, err := s.activeTrust(ctx, s.db, id, true)
	if err != nil {
		return nil, nil, err
	}
	if err := s.authorize(p, "identity:list_roles_for_trust", trustTarget(tr)); err != nil {
		return nil, nil, err
	}
	if err := checkTrustCaller(p); err != nil {
		return nil, nil, err
	}
	roles, err := s.rolesByID(ctx, tr.RoleIDs)
	return tr, roles, err
}

// TrustRole returns one role a trust delegates; others are not found.
func (s *Service) TrustRole(ctx context.Context, p *authn.Principal, id, roleID string) (*Role, error) {
	tr, err := s.activeTrust(ctx, s.db, id, true)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "identity:get_role_for_trust", trustTarget(tr)); err != nil {
		return nil, err
	}
	if err := checkTrustCaller(p); err != nil {
		return nil, err
	}
	if !slices.Contains(tr.RoleIDs, roleID) {
		return nil, roleNotFound(roleID)
	}
	return getRole(ctx, s.db, roleID)
}

// rolesByID loads roles, skipping those deleted since, as Keystone does.
func (s *Service) rolesByID(ctx context.Context, ids []string) ([]Role, error) {
	out := make([]Role, 0, len(ids))
	for _, rid := range ids {
		r, err := getRole(ctx, s.db, rid)
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}
