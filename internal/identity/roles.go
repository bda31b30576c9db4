package identity

import (
	"context"
	"database/sql"
	"errors"
	"sort"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const roleColumns = `id, name, domain_id, description, options, extra`

// prohibitedImpliedRoles is Keystone's [assignment] prohibited_implied_role.
var prohibitedImpliedRoles = map[string]bool{"admin": true}

func scanRole(row interface{ Scan(...any) error }) (*Role, error) {
	var r Role
	var opts, extra string
	if err := row.Scan(&r.ID, &r.Name, &r.DomainID, &r.Description, &opts, &extra); err != nil {
		return nil, err
	}
	r.Options = decodeExtra(opts)
	r.Extra = decodeExtra(extra)
	return &r, nil
}

func roleNotFound(id string) error { return fault.NotFoundf("Could not find role: %s.", id) }

func getRole(ctx context.Context, q queryer, id string) (*Role, error) {
	r, err := scanRole(q.QueryRowContext(ctx, `SELECT `+roleColumns+` FROM roles WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, roleNotFound(id)
	}
	return r, err
}

func queryRoles(ctx context.Context, q queryer, query string, args ...any) ([]Role, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		r, err := scanRole(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// nilIfEmpty turns "" into nil, so policy sees None as Keystone does.
func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func roleTarget(r *Role) map[string]any {
	return map[string]any{"role": map[string]any{"id": r.ID, "name": r.Name, "domain_id": nilIfEmpty(r.DomainID)}}
}

// roleRule picks the domain-role variant of a rule for domain-specific roles.
func roleRule(action, domainID string) string {
	if domainID != "" {
		return "identity:" + action + "_domain_role"
	}
	return "identity:" + action + "_role"
}

func immutable(opts map[string]any) bool {
	b, _ := opts["immutable"].(bool)
	return b
}

func validateRoleOptions(opts map[string]any) error {
	for k, v := range opts {
		if k != "immutable" {
			return fault.BadRequestf("Invalid input for field 'options': additional property '%s' is not allowed.", k)
		}
		if _, ok := v.(bool); !ok && v != nil {
			return fault.BadRequestf("Invalid input for field 'options/immutable': %v is not of type 'boolean'.", v)
		}
	}
	return nil
}

// RoleFilter narrows ListRoles; DomainID "" lists global roles only.
type RoleFilter struct{ Name, DomainID string }

// ListRoles lists global roles, or a domain's roles.
func (s *Service) ListRoles(ctx context.Context, p *authn.Principal, f RoleFilter) ([]Role, error) {
	rule := "identity:list_roles"
	if f.DomainID != "" {
		rule = "identity:list_domain_roles"
	}
	if err := s.authorize(p, rule, map[string]any{"domain_id": nilIfEmpty(f.DomainID)}); err != nil {
		return nil, err
	}
	q := newWhere()
	q.add("domain_id = ?", f.DomainID)
	q.eq("name", f.Name)
	return queryRoles(ctx, s.db, `SELECT `+roleColumns+` FROM roles`+q.sql()+` ORDER BY name`, q.args...)
}

// GetRole returns one role.
func (s *Service) GetRole(ctx context.Context, p *authn.Principal, id string) (*Role, error) {
	r, err := getRole(ctx, s.db, id)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			if aerr := s.authorize(p, "identity:get_role", map[string]any{"role": map[string]any{"id": id}}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.authorize(p, roleRule("get", r.DomainID), roleTarget(r)); err != nil {
		return nil, err
	}
	return r, nil
}

// CreateRole makes a global or domain-specific role.
func (s *Service) CreateRole(ctx context.Context, p *authn.Principal, r Role) (*Role, error) {
	if err := validName("role", r.Name); err != nil {
		return nil, err
	}
	if err := validateRoleOptions(r.Options); err != nil {
		return nil, err
	}
	if err := s.authorize(p, roleRule("create", r.DomainID), roleTarget(&r)); err != nil {
		return nil, err
	}
	if r.ID == "" {
		r.ID = newID()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if r.DomainID != "" {
			if _, err := getDomain(ctx, tx, r.DomainID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO roles (`+roleColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, r.Name, r.DomainID, r.Description, encodeExtra(r.Options), encodeExtra(r.Extra))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to store role - Duplicate entry found with name %s.", r.Name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RolePatch holds the fields an update changes.
type RolePatch struct {
	Name, Description, DomainID *string
	Options                     map[string]any
	Extra                       map[string]any
}

// UpdateRole changes a role. An immutable role only accepts an update that
// clears its immutable option.
func (s *Service) UpdateRole(ctx context.Context, p *authn.Principal, id string, patch RolePatch) (*Role, error) {
	if err := validateRoleOptions(patch.Options); err != nil {
		return nil, err
	}
	var out *Role
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := getRole(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, roleRule("update", r.DomainID), roleTarget(r)); err != nil {
			return err
		}
		if patch.DomainID != nil && *patch.DomainID != r.DomainID {
			return fault.BadRequestf("Update of `domain_id` is not allowed.")
		}
		if immutable(r.Options) {
			v, set := patch.Options["immutable"]
			if !set || v == true {
				return fault.Forbiddenf("Unable to update immutable role resource: `%s`. Set resource option \"immutable\" to false first.", id)
			}
		}
		if patch.Name != nil {
			if err := validName("role", *patch.Name); err != nil {
				return err
			}
			r.Name = *patch.Name
		}
		if patch.Description != nil {
			r.Description = *patch.Description
		}
		mergeExtra(&r.Options, patch.Options)
		mergeExtra(&r.Extra, patch.Extra)
		_, err = tx.ExecContext(ctx, `UPDATE roles SET name = $2, description = $3, options = $4, extra = $5 WHERE id = $1`,
			id, r.Name, r.Description, encodeExtra(r.Options), encodeExtra(r.Extra))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to update role - Duplicate entry found with name %s.", r.Name)
		}
		out = r
		return err
	})
	return out, err
}

// DeleteRole removes a role, its assignments and its inference rules, and
// revokes every token that carried it.
func (s *Service) DeleteRole(ctx context.Context, p *authn.Principal, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := getRole(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, roleRule("delete", r.DomainID), roleTarget(r)); err != nil {
			return err
		}
		if immutable(r.Options) {
			return fault.Forbiddenf("Unable to delete immutable role resource: `%s`. Set resource option \"immutable\" to false first.", id)
		}
		for _, stmt := range []string{
			`DELETE FROM assignments WHERE role_id = $1`,
			`DELETE FROM implied_roles WHERE prior_role_id = $1 OR implied_role_id = $1`,
			`DELETE FROM application_credential_roles WHERE role_id = $1`,
			`DELETE FROM roles WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		return s.revoke(ctx, tx, RevocationEvent{RoleID: id})
	})
}

// Implied roles.

// RoleInference is one prior role and the roles it implies.
type RoleInference struct {
	Prior   Role
	Implies []Role
}

func (s *Service) priorAndImplied(ctx context.Context, q queryer, priorID, impliedID string) (*Role, *Role, error) {
	prior, err := getRole(ctx, q, priorID)
	if err != nil {
		return nil, nil, err
	}
	implied, err := getRole(ctx, q, impliedID)
	if err != nil {
		return nil, nil, err
	}
	return prior, implied, nil
}

// impliesTransitively reports whether from implies to, directly or not.
func impliesTransitively(ctx context.Context, q queryer, from, to string) (bool, error) {
	rs := roleSet{from: true}
	if err := expandImplied(ctx, q, rs); err != nil {
		return false, err
	}
	return rs[to], nil
}

// CreateImpliedRole makes prior imply implied. Keystone's rules hold: a
// prohibited role (admin) is never implied and a global role cannot imply
// a domain-specific one; Nimbus also refuses rules that would close a cycle.
func (s *Service) CreateImpliedRole(ctx context.Context, p *authn.Principal, priorID, impliedID string) (*Role, *Role, error) {
	if err := s.authorize(p, "identity:create_implied_role", map[string]any{}); err != nil {
		return nil, nil, err
	}
	var prior, implied *Role
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		prior, implied, err = s.priorAndImplied(ctx, tx, priorID, impliedID)
		if err != nil {
			return err
		}
		if prohibitedImpliedRoles[implied.Name] && implied.DomainID == "" {
			return fault.Forbiddenf("%s cannot be an implied roles.", impliedID)
		}
		if prior.DomainID == "" && implied.DomainID != "" {
			return fault.Forbiddenf("Global role cannot imply a domain-specific role")
		}
		cycle := priorID == impliedID
		if !cycle {
			if cycle, err = impliesTransitively(ctx, tx, impliedID, priorID); err != nil {
				return err
			}
		}
		if cycle {
			return fault.Forbiddenf("%s cannot be an implied roles: %s already implies %s.", impliedID, impliedID, priorID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO implied_roles (prior_role_id, implied_role_id) VALUES ($1, $2)`, priorID, impliedID)
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to store implied_role - Duplicate entry.")
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return prior, implied, nil
}

// GetImpliedRole checks that prior implies implied directly.
func (s *Service) GetImpliedRole(ctx context.Context, p *authn.Principal, rule, priorID, impliedID string) (*Role, *Role, error) {
	if err := s.authorize(p, rule, map[string]any{}); err != nil {
		return nil, nil, err
	}
	prior, implied, err := s.priorAndImplied(ctx, s.db, priorID, impliedID)
	if err != nil {
		return nil, nil, err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM implied_roles WHERE prior_role_id = $1 AND implied_role_id = $2`,
		priorID, impliedID).Scan(&n); err != nil {
		return nil, nil, err
	}
	if n == 0 {
		return nil, nil, fault.NotFoundf("%s does not imply %s.", priorID, impliedID)
	}
	return prior, implied, nil
}

// DeleteImpliedRole removes an inference rule.
func (s *Service) DeleteImpliedRole(ctx context.Context, p *authn.Principal, priorID, impliedID string) error {
	if err := s.authorize(p, "identity:delete_implied_role", map[string]any{}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, _, err := s.priorAndImplied(ctx, tx, priorID, impliedID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM implied_roles WHERE prior_role_id = $1 AND implied_role_id = $2`, priorID, impliedID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("%s does not imply %s.", priorID, impliedID)
		}
		return nil
	})
}

// ListImpliedRoles is GET /v3/roles/{prior}/implies: the direct rules.
func (s *Service) ListImpliedRoles(ctx context.Context, p *authn.Principal, priorID string) (*RoleInference, error) {
	if err := s.authorize(p, "identity:list_implied_roles", map[string]any{}); err != nil {
		return nil, err
	}
	prior, err := getRole(ctx, s.db, priorID)
	if err != nil {
		return nil, err
	}
	implies, err := queryRoles(ctx, s.db, `SELECT r.id, r.name, r.domain_id, r.description, r.options, r.extra FROM roles r
		JOIN implied_roles i ON i.implied_role_id = r.id WHERE i.prior_role_id = $1 ORDER BY r.name`, priorID)
	if err != nil {
		return nil, err
	}
	return &RoleInference{Prior: *prior, Implies: implies}, nil
}

// ListRoleInferences is GET /v3/role_inferences: every rule, by prior role.
func (s *Service) ListRoleInferences(ctx context.Context, p *authn.Principal) ([]RoleInference, error) {
	if err := s.authorize(p, "identity:list_role_inference_rules", map[string]any{}); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT prior_role_id, implied_role_id FROM implied_roles`)
	if err != nil {
		return nil, err
	}
	byPrior := map[string][]string{}
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			rows.Close()
			return nil, err
		}
		byPrior[a] = append(byPrior[a], b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	all, err := queryRoles(ctx, s.db, `SELECT `+roleColumns+` FROM roles`)
	if err != nil {
		return nil, err
	}
	byID := map[string]Role{}
	for _, r := range all {
		byID[r.ID] = r
	}
	var out []RoleInference
	for prior, implied := range byPrior {
		inf := RoleInference{Prior: byID[prior]}
		for _, id := range implied {
			inf.Implies = append(inf.Implies, byID[id])
		}
		sort.Slice(inf.Implies, func(i, j int) bool { return inf.Implies[i].Name < inf.Implies[j].Name })
		out = append(out, inf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prior.Name < out[j].Prior.Name })
	return out, nil
}
