package identity

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const domainColumns = `id, name, description, enabled, extra`

func scanDomain(row interface{ Scan(...any) error }) (*Domain, error) {
	var d Domain
	var extra string
	if err := row.Scan(&d.ID, &d.Name, &d.Description, &d.Enabled, &extra); err != nil {
		return nil, err
	}
	d.Extra = decodeExtra(extra)
	return &d, nil
}

func getDomain(ctx context.Context, q queryer, id string) (*Domain, error) {
	d, err := scanDomain(q.QueryRowContext(ctx, `SELECT `+domainColumns+` FROM domains WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find domain: %s.", id)
	}
	return d, err
}

func getDomainByName(ctx context.Context, q queryer, name string) (*Domain, error) {
	d, err := scanDomain(q.QueryRowContext(ctx, `SELECT `+domainColumns+` FROM domains WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find domain: %s.", name)
	}
	return d, err
}

// DomainFilter narrows ListDomains.
type DomainFilter struct {
	Name    string
	Enabled *bool
}

// ListDomains lists domains the caller may see.
func (s *Service) ListDomains(ctx context.Context, p *authn.Principal, f DomainFilter) ([]Domain, error) {
	if err := s.authorize(p, "identity:list_domains", nil); err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("name", f.Name)
	q.eqBool("enabled", f.Enabled)
	rows, err := s.db.QueryContext(ctx, `SELECT `+domainColumns+` FROM domains`+q.sql()+` ORDER BY name`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// GetDomain returns one domain.
func (s *Service) GetDomain(ctx context.Context, p *authn.Principal, id string) (*Domain, error) {
	d, err := getDomain(ctx, s.db, id)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			// Keystone checks policy first where it can; a reader of
			// another domain sees 403, not whether it exists.
			if aerr := s.authorize(p, "identity:get_domain", map[string]any{"domain_id": id, "domain": map[string]any{"id": id}}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.authorize(p, "identity:get_domain", map[string]any{"domain_id": id, "domain": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	return d, nil
}

// CreateDomain makes a domain.
func (s *Service) CreateDomain(ctx context.Context, p *authn.Principal, d Domain) (*Domain, error) {
	if err := s.authorize(p, "identity:create_domain", nil); err != nil {
		return nil, err
	}
	if err := validName("domain", d.Name); err != nil {
		return nil, err
	}
	if d.ID == "" {
		d.ID = newID()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error { return insertDomain(ctx, tx, &d) })
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func insertDomain(ctx context.Context, q queryer, d *Domain) error {
	_, err := q.ExecContext(ctx, `INSERT INTO domains (`+domainColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		d.ID, d.Name, d.Description, d.Enabled, encodeExtra(d.Extra))
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("Conflict occurred attempting to store domain - Duplicate entry found with name %s.", d.Name)
	}
	return err
}

// DomainPatch holds the fields an update changes; nil leaves a field alone.
type DomainPatch struct {
	Name, Description *string
	Enabled           *bool
	Extra             map[string]any
}

// UpdateDomain changes a domain. Disabling it revokes its tokens.
func (s *Service) UpdateDomain(ctx context.Context, p *authn.Principal, id string, patch DomainPatch) (*Domain, error) {
	if err := s.authorize(p, "identity:update_domain", map[string]any{"domain": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	var out *Domain
	err := s.tx(ctx, func(tx *sql.Tx) error {
		d, err := getDomain(ctx, tx, id)
		if err != nil {
			return err
		}
		if patch.Name != nil {
			if err := validName("domain", *patch.Name); err != nil {
				return err
			}
			d.Name = *patch.Name
		}
		if patch.Description != nil {
			d.Description = *patch.Description
		}
		wasEnabled := d.Enabled
		if patch.Enabled != nil {
			d.Enabled = *patch.Enabled
		}
		mergeExtra(&d.Extra, patch.Extra)
		_, err = tx.ExecContext(ctx, `UPDATE domains SET name = $2, description = $3, enabled = $4, extra = $5 WHERE id = $1`,
			d.ID, d.Name, d.Description, d.Enabled, encodeExtra(d.Extra))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to update domain - Duplicate entry found with name %s.", d.Name)
		}
		if err != nil {
			return err
		}
		if wasEnabled && !d.Enabled {
			if err := s.revoke(ctx, tx, RevocationEvent{DomainID: d.ID}); err != nil {
				return err
			}
		}
		out = d
		return nil
	})
	return out, err
}

// DeleteDomain removes a disabled domain and everything in it.
func (s *Service) DeleteDomain(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, "identity:delete_domain", map[string]any{"domain": map[string]any{"id": id}}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		d, err := getDomain(ctx, tx, id)
		if err != nil {
			return err
		}
		if d.Enabled {
			return fault.Forbiddenf("Cannot delete a domain that is enabled, please disable it first.")
		}
		if d.ID == DefaultDomainID {
			return fault.Forbiddenf("Cannot delete the default domain.")
		}
		// Children first: projects deepest first, then users, groups, roles.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM projects WHERE domain_id = $1`, id)
		if err != nil {
			return err
		}
		ids, err := collectStrings(rows)
		if err != nil {
			return err
		}
		for len(ids) > 0 {
			var remaining []string
			for _, pid := range ids {
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE parent_id = $1`, pid).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					remaining = append(remaining, pid)
					continue
				}
				if err := deleteProjectRows(ctx, tx, pid); err != nil {
					return err
				}
			}
			if len(remaining) == len(ids) {
				return errors.New("delete domain: project hierarchy does not shrink")
			}
			ids = remaining
		}
		for _, stmt := range []string{
			`DELETE FROM assignments WHERE actor_id IN (SELECT id FROM users WHERE domain_id = $1)`,
			`DELETE FROM assignments WHERE actor_id IN (SELECT id FROM groups WHERE domain_id = $1)`,
			`DELETE FROM credentials WHERE user_id IN (SELECT id FROM users WHERE domain_id = $1)`,
			`DELETE FROM application_credentials WHERE user_id IN (SELECT id FROM users WHERE domain_id = $1)`,
			`DELETE FROM users WHERE domain_id = $1`,
			`DELETE FROM groups WHERE domain_id = $1`,
			`DELETE FROM assignments WHERE target_id = $1`,
			`DELETE FROM roles WHERE domain_id = $1`,
			`DELETE FROM id_mappings WHERE domain_id = $1`,
			`DELETE FROM domains WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		return s.revoke(ctx, tx, RevocationEvent{DomainID: id})
	})
}

// validName rejects empty or oversized names, as Keystone's schemas do:
// projects and domains (keystone/resource/schema.py) allow 64 characters,
// users and groups (parameter_types.name) 255. JSON Schema counts
// characters, not bytes.
func validName(kind, name string) error {
	if strings.TrimSpace(name) == "" {
		return fault.BadRequestf("Invalid input for field 'name': %s name must not be empty.", kind)
	}
	limit := 255
	if kind == "project" || kind == "domain" {
		limit = 64
	}
	if utf8.RuneCountInString(name) > limit {
		return fault.BadRequestf("Invalid input for field 'name': %s name is longer than %d characters.", kind, limit)
	}
	return nil
}

func collectStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
