package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const endpointColumns = `id, service_id, interface, url, COALESCE(region_id, ''), enabled, extra`

func scanEndpoint(row interface{ Scan(...any) error }) (*Endpoint, error) {
	var ep Endpoint
	var extra string
	if err := row.Scan(&ep.ID, &ep.ServiceID, &ep.Interface, &ep.URL, &ep.RegionID, &ep.Enabled, &extra); err != nil {
		return nil, err
	}
	ep.Extra = decodeExtra(extra)
	return &ep, nil
}

func getEndpoint(ctx context.Context, q queryer, id string) (*Endpoint, error) {
	ep, err := scanEndpoint(q.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM endpoints WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find endpoint: %s.", id)
	}
	return ep, err
}

// EndpointFilter narrows ListEndpoints.
type EndpointFilter struct{ Interface, ServiceID, RegionID string }

// ListEndpoints lists endpoints.
func (s *Service) ListEndpoints(ctx context.Context, p *authn.Principal, f EndpointFilter) ([]Endpoint, error) {
	if err := s.authorize(p, "identity:list_endpoints", nil); err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("interface", f.Interface)
	q.eq("service_id", f.ServiceID)
	q.eq("region_id", f.RegionID)
	rows, err := s.db.QueryContext(ctx, `SELECT `+endpointColumns+` FROM endpoints`+q.sql()+` ORDER BY service_id, interface, id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Endpoint
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *ep)
	}
	return out, rows.Err()
}

// GetEndpoint returns one endpoint.
func (s *Service) GetEndpoint(ctx context.Context, p *authn.Principal, id string) (*Endpoint, error) {
	if err := s.authorize(p, "identity:get_endpoint", map[string]any{"endpoint": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	return getEndpoint(ctx, s.db, id)
}

func validInterface(i string) error {
	switch i {
	case "public", "internal", "admin":
		return nil
	}
	return fault.BadRequestf("Invalid input for field 'interface': %q is not one of ['public', 'internal', 'admin'].", i)
}

// checkEndpointRefs validates an endpoint's service and region. A region
// named only by the legacy "region" attribute is created on the fly, as
// Keystone does for v2-style clients; one named by region_id must exist.
func checkEndpointRefs(ctx context.Context, tx *sql.Tx, ep *Endpoint, legacyRegion bool) error {
	if _, err := getCatalogService(ctx, tx, ep.ServiceID); err != nil {
		if fault.Is(err, fault.NotFound) {
			return fault.BadRequestf("Expecting to find endpoint service_id in service table. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
		}
		return err
	}
	if ep.RegionID == "" {
		return nil
	}
	ok, err := regionExists(ctx, tx, ep.RegionID)
	if err != nil || ok {
		return err
	}
	if legacyRegion {
		return insertRegion(ctx, tx, &Region{ID: ep.RegionID})
	}
	return fault.BadRequestf("Expecting to find endpoint region_id in region table. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
}

// CreateEndpoint adds an endpoint; legacyRegion says RegionID came from
// the "region" attribute.
func (s *Service) CreateEndpoint(ctx context.Context, p *authn.Principal, ep Endpoint, legacyRegion bool) (*Endpoint, error) {
	if err := s.authorize(p, "identity:create_endpoint", map[string]any{"endpoint": map[string]any{"service_id": ep.ServiceID}}); err != nil {
		return nil, err
	}
	if err := validInterface(ep.Interface); err != nil {
		return nil, err
	}
	if ep.URL == "" {
		return nil, fault.BadRequestf("Invalid input for field 'url': 'url' is a required property.")
	}
	ep.ID = newID()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkEndpointRefs(ctx, tx, &ep, legacyRegion); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO endpoints (id, service_id, interface, url, region_id, enabled, extra) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			ep.ID, ep.ServiceID, ep.Interface, ep.URL, nullString(ep.RegionID), ep.Enabled, encodeExtra(ep.Extra))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ep, nil
}

// EndpointPatch holds the fields an update changes; nil leaves a field alone.
type EndpointPatch struct {
	ServiceID, Interface, URL, RegionID *string
	LegacyRegion                        bool // RegionID came from "region"
	Enabled                             *bool
	Extra                               map[string]any
}

// UpdateEndpoint changes an endpoint.
func (s *Service) UpdateEndpoint(ctx context.Context, p *authn.Principal, id string, patch EndpointPatch) (*Endpoint, error) {
	if err := s.authorize(p, "identity:update_endpoint", map[string]any{"endpoint": map[string]any{"id": id}}); err != nil {
		return nil, err
	}
	var out *Endpoint
	err := s.tx(ctx, func(tx *sql.Tx) error {
		ep, err := getEndpoint(ctx, tx, id)
		if err != nil {
			return err
		}
		if patch.Interface != nil {
			if err := validInterface(*patch.Interface); err != nil {
				return err
			}
			ep.Interface = *patch.Interface
		}
		if patch.URL != nil {
			if *patch.URL == "" {
				return fault.BadRequestf("Invalid input for field 'url': the url must not be empty.")
			}
			ep.URL = *patch.URL
		}
		if patch.ServiceID != nil {
			ep.ServiceID = *patch.ServiceID
		}
		if patch.RegionID != nil {
			ep.RegionID = *patch.RegionID
		}
		if patch.Enabled != nil {
			ep.Enabled = *patch.Enabled
		}
		mergeExtra(&ep.Extra, patch.Extra)
		if err := checkEndpointRefs(ctx, tx, ep, patch.LegacyRegion); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET service_id = $2, interface = $3, url = $4, region_id = $5, enabled = $6, extra = $7 WHERE id = $1`,
			ep.ID, ep.ServiceID, ep.Interface, ep.URL, nullString(ep.RegionID), ep.Enabled, encodeExtra(ep.Extra)); err != nil {
			return err
		}
		out = ep
		return nil
	})
	return out, err
}

// DeleteEndpoint removes an endpoint.
func (s *Service) DeleteEndpoint(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, "identity:delete_endpoint", map[string]any{"endpoint": map[string]any{"id": id}}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getEndpoint(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM endpoints WHERE id = $1`, id)
		return err
	})
}
