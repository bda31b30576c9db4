package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const serviceColumns = `id, type, name, description, enabled, extra`

func scanCatalogService(row interface{ Scan(...any) error }) (*CatalogService, error) {
	var cs CatalogService
	var extra string
	if err := row.Scan(&cs.ID, &cs.Type, &cs.Name, &cs.Description, &cs.Enabled, &extra); err != nil {
		return nil, err
	}
	cs.Extra = decodeExtra(extra)
	return &cs, nil
}

func getCatalogService(ctx context.Context, q queryer, id string) (*CatalogService, error) {
	cs, err := scanCatalogService(q.QueryRowContext(ctx, `SELECT `+serviceColumns+` FROM services WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find service: %s.", id)
	}
	return cs, err
}

// ServiceFilter narrows ListServices.
type ServiceFilter struct{ Type, Name string }

// ListServices lists catalog services.
func (s *Service) ListServices(ctx context.Context, p *authn.Principal, f ServiceFilter) ([]CatalogService, error) {
	if err := s.authorize(p, "identity:list_services", nil); err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("type", f.Type)
	q.eq("name", f.Name)
	rows, err := s.db.QueryContext(ctx, `SELECT `+serviceColumns+` FROM services`+q.sql()+` ORDER BY type, id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CatalogService
	for rows.Next() {
		cs, err := scanCatalogService(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *cs)
	}
	return out, rows.Err()
}

// GetService returns one catalog service.
func (s *Service) GetService(ctx context.Context, p *authn.Principal, id string) (*CatalogService, error) {
	if err := s.authorize(p, "identity:get_service", map[string]any{"service": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	return getCatalogService(ctx, s.db, id)
}

func validServiceType(t string) error {
	if t == "" || len(t) > 255 {
		return fault.BadRequestf("Invalid input for field 'type': 'type' must be a string of 1 to 255 characters.")
	}
	return nil
}

// CreateService adds a service to the catalog.
func (s *Service) CreateService(ctx context.Context, p *authn.Principal, cs CatalogService) (*CatalogService, error) {
	if err := s.authorize(p, "identity:create_service", map[string]any{"service": map[string]any{"type": cs.Type, "name": cs.Name}}); err != nil {
		return nil, err
	}
	if err := validServiceType(cs.Type); err != nil {
		return nil, err
	}
	cs.ID = newID()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO services (`+serviceColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			cs.ID, cs.Type, cs.Name, cs.Description, cs.Enabled, encodeExtra(cs.Extra))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &cs, nil
}

// ServicePatch holds the fields an update changes; nil leaves a field alone.
type ServicePatch struct {
	Type, Name, Description *string
	Enabled                 *bool
	Extra                   map[string]any
}

// UpdateService changes a catalog service.
func (s *Service) UpdateService(ctx context.Context, p *authn.Principal, id string, patch ServicePatch) (*CatalogService, error) {
	if err := s.authorize(p, "identity:update_service", map[string]any{"service": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	var out *CatalogService
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cs, err := getCatalogService(ctx, tx, id)
		if err != nil {
			return err
		}
		if patch.Type != nil {
			if err := validServiceType(*patch.Type); err != nil {
				return err
			}
			cs.Type = *patch.Type
		}
		if patch.Name != nil {
			cs.Name = *patch.Name
		}
		if patch.Description != nil {
			cs.Description = *patch.Description
		}
		if patch.Enabled != nil {
			cs.Enabled = *patch.Enabled
		}
		mergeExtra(&cs.Extra, patch.Extra)
		if _, err := tx.ExecContext(ctx, `UPDATE services SET type = $2, name = $3, description = $4, enabled = $5, extra = $6 WHERE id = $1`,
			cs.ID, cs.Type, cs.Name, cs.Description, cs.Enabled, encodeExtra(cs.Extra)); err != nil {
			return err
		}
		out = cs
		return nil
	})
	return out, err
}

// DeleteService removes a service and its endpoints.
func (s *Service) DeleteService(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, "identity:delete_service", map[string]any{"service": map[string]any{"id": id}}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getCatalogService(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM endpoints WHERE service_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM services WHERE id = $1`, id)
		return err
	})
}
