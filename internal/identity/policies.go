package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Policies are Keystone's deprecated policy blob store: identity keeps
// them for clients that still use it and never enforces them.

const policyColumns = `id, type, blob, extra`

func scanPolicy(row interface{ Scan(...any) error }) (*Policy, error) {
	var pol Policy
	var extra string
	if err := row.Scan(&pol.ID, &pol.Type, &pol.Blob, &extra); err != nil {
		return nil, err
	}
	pol.Extra = decodeExtra(extra)
	return &pol, nil
}

func getPolicy(ctx context.Context, q queryer, id string) (*Policy, error) {
	pol, err := scanPolicy(q.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM policies WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find policy: %s.", id)
	}
	return pol, err
}

// ListPolicies lists stored policies, optionally of one type.
func (s *Service) ListPolicies(ctx context.Context, p *authn.Principal, typ string) ([]Policy, error) {
	if err := s.authorize(p, "identity:list_policies", nil); err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("type", typ)
	rows, err := s.db.QueryContext(ctx, `SELECT `+policyColumns+` FROM policies`+q.sql()+` ORDER BY id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Policy
	for rows.Next() {
		pol, err := scanPolicy(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *pol)
	}
	return out, rows.Err()
}

// GetPolicy returns one stored policy.
func (s *Service) GetPolicy(ctx context.Context, p *authn.Principal, id string) (*Policy, error) {
	if err := s.authorize(p, "identity:get_policy", map[string]any{"policy": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	return getPolicy(ctx, s.db, id)
}

// CreatePolicy stores a policy blob.
func (s *Service) CreatePolicy(ctx context.Context, p *authn.Principal, pol Policy) (*Policy, error) {
	if err := s.authorize(p, "identity:create_policy", nil); err != nil {
		return nil, err
	}
	if pol.Type == "" || len(pol.Type) > 255 {
		return nil, fault.BadRequestf("Invalid input for field 'type': 'type' must be a string of 1 to 255 characters.")
	}
	pol.ID = newID()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO policies (`+policyColumns+`) VALUES ($1, $2, $3, $4)`,
			pol.ID, pol.Type, pol.Blob, encodeExtra(pol.Extra))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pol, nil
}

// PolicyPatch holds the fields an update changes; nil leaves a field alone.
type PolicyPatch struct {
	Type, Blob *string
	Extra      map[string]any
}

// UpdatePolicy changes a stored policy.
func (s *Service) UpdatePolicy(ctx context.Context, p *authn.Principal, id string, patch PolicyPatch) (*Policy, error) {
	if err := s.authorize(p, "identity:update_policy", map[string]any{"policy": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	var out *Policy
	err := s.tx(ctx, func(tx *sql.Tx) error {
		pol, err := getPolicy(ctx, tx, id)
		if err != nil {
			return err
		}
		if patch.Type != nil {
			if *patch.Type == "" {
				return fault.BadRequestf("Invalid input for field 'type': 'type' must not be empty.")
			}
			pol.Type = *patch.Type
		}
		if patch.Blob != nil {
			pol.Blob = *patch.Blob
		}
		mergeExtra(&pol.Extra, patch.Extra)
		if _, err := tx.ExecContext(ctx, `UPDATE policies SET type = $2, blob = $3, extra = $4 WHERE id = $1`,
			pol.ID, pol.Type, pol.Blob, encodeExtra(pol.Extra)); err != nil {
			return err
		}
		out = pol
		return nil
	})
	return out, err
}

// DeletePolicy removes a stored policy.
func (s *Service) DeletePolicy(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, "identity:delete_policy", map[string]any{"policy": map[string]any{"id": id}}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getPolicy(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE id = $1`, id)
		return err
	})
}
