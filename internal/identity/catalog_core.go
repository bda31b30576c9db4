package identity

import (
	"context"
	"sync"
)

// CatalogEntry is one service with its enabled endpoints, as a token's
// catalog shows it.
type CatalogEntry struct {
	Service   CatalogService
	Endpoints []Endpoint
}

// catalogCache holds the catalog until identity changes.
type catalogCache struct {
	mu      sync.Mutex
	gen     uint64
	loaded  bool
	entries []CatalogEntry
}

// Catalog lists enabled services with their enabled endpoints.
func (s *Service) Catalog(ctx context.Context) ([]CatalogEntry, error) {
	gen := s.gen.Load()
	c := &s.catalog
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded && c.gen == gen {
		return c.entries, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, s.type, s.name, s.description, s.extra,
		e.id, e.interface, e.url, COALESCE(e.region_id, '')
		FROM services s JOIN endpoints e ON e.service_id = s.id
		WHERE s.enabled = $1 AND e.enabled = $1 ORDER BY s.type, s.id, e.interface, e.id`, true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CatalogEntry
	for rows.Next() {
		var svc CatalogService
		var extra string
		var ep Endpoint
		if err := rows.Scan(&svc.ID, &svc.Type, &svc.Name, &svc.Description, &extra, &ep.ID, &ep.Interface, &ep.URL, &ep.RegionID); err != nil {
			return nil, err
		}
		svc.Enabled, ep.Enabled, ep.ServiceID = true, true, svc.ID
		if n := len(out); n == 0 || out[n-1].Service.ID != svc.ID {
			svc.Extra = decodeExtra(extra)
			out = append(out, CatalogEntry{Service: svc})
		}
		out[len(out)-1].Endpoints = append(out[len(out)-1].Endpoints, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	c.entries, c.gen, c.loaded = out, gen, true
	return out, nil
}
