package identity

import (
	"context"
	"strings"
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

// catalogSubs are the values an endpoint URL may name.
func catalogSubs(userID string, project *Project) map[string]string {
	subs := map[string]string{"user_id": userID}
	if project != nil {
		subs["project_id"], subs["tenant_id"] = project.ID, project.ID
	}
	return subs
}

// formatEndpointURL fills "%(name)s" and "$(name)s" in url. It reports
// false when a name has no value: the endpoint is not for this token.
func formatEndpointURL(url string, subs map[string]string) (string, bool) {
	if !strings.Contains(url, "(") {
		return url, true
	}
	var b strings.Builder
	for {
		i := strings.IndexAny(url, "%$")
		if i < 0 || i+1 >= len(url) || url[i+1] != '(' {
			if i < 0 {
				b.WriteString(url)
				return b.String(), true
			}
			b.WriteString(url[:i+1])
			url = url[i+1:]
			continue
		}
		end := strings.Index(url[i:], ")s")
		if end < 0 {
			b.WriteString(url)
			return b.String(), true
		}
		v, ok := subs[url[i+2:i+end]]
		if !ok || v == "" {
			return "", false
		}
		b.WriteString(url[:i])
		b.WriteString(v)
		url = url[i+end+2:]
	}
}
