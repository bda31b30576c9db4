package identity

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// revoke records an event; every token it matches fails validation from
// now on. Events are kept until no token they could match is still valid.
func (s *Service) revoke(ctx context.Context, tx *sql.Tx, e RevocationEvent) error {
	now := s.now().UTC()
	_, err := tx.ExecContext(ctx, `INSERT INTO revocation_events (user_id, project_id, domain_id, role_id, audit_id,
		audit_chain_id, issued_before, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		e.UserID, e.ProjectID, e.DomainID, e.RoleID, e.AuditID, e.AuditChainID, micros(now), micros(now))
	if err != nil {
		return err
	}
	// Prune events older than any token that could still be valid.
	horizon := now.Add(-s.cfg.TokenExpiration - s.cfg.AllowExpiredWindow)
	_, err = tx.ExecContext(ctx, `DELETE FROM revocation_events WHERE revoked_at < $1`, micros(horizon))
	return err
}

// revocationCache holds all live events, reloaded when identity changes.
type revocationCache struct {
	mu     sync.Mutex
	gen    uint64
	loaded bool
	events []RevocationEvent
}

func (s *Service) revocationEvents(ctx context.Context, gen uint64) ([]RevocationEvent, error) {
	c := s.revocations
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded && c.gen == gen {
		return c.events, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, project_id, domain_id, role_id, audit_id, audit_chain_id,
		issued_before, revoked_at FROM revocation_events`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []RevocationEvent
	for rows.Next() {
		var e RevocationEvent
		var before, at int64
		if err := rows.Scan(&e.UserID, &e.ProjectID, &e.DomainID, &e.RoleID, &e.AuditID, &e.AuditChainID, &before, &at); err != nil {
			return nil, err
		}
		e.IssuedBefore, e.RevokedAt = time.UnixMicro(before).UTC(), time.UnixMicro(at).UTC()
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	c.events, c.gen, c.loaded = events, gen, true
	return events, nil
}

// isRevoked checks t against the events. A token's issue time has whole
// seconds (the Fernet timestamp), so an event revokes tokens issued in
// the same second too, as Keystone's do.
func (s *Service) isRevoked(ctx context.Context, t *Token, gen uint64) (bool, error) {
	events, err := s.revocationEvents(ctx, gen)
	if err != nil {
		return false, err
	}
	for _, e := range events {
		if t.IssuedAt.After(e.IssuedBefore.Truncate(time.Second)) {
			continue
		}
		if e.matches(t) {
			return true, nil
		}
	}
	return false, nil
}

func (e *RevocationEvent) matches(t *Token) bool {
	if e.UserID != "" && e.UserID != t.User.ID {
		return false
	}
	if e.ProjectID != "" && (t.Project == nil || e.ProjectID != t.Project.ID) {
		return false
	}
	if e.DomainID != "" {
		inDomain := t.User.DomainID == e.DomainID ||
			(t.Project != nil && t.Project.DomainID == e.DomainID) ||
			(t.Domain != nil && t.Domain.ID == e.DomainID)
		if !inDomain {
			return false
		}
	}
	if e.AuditID != "" && !containsString(t.AuditIDs, e.AuditID) {
		return false
	}
	if e.AuditChainID != "" && (len(t.AuditIDs) < 2 || t.AuditIDs[1] != e.AuditChainID) {
		return false
	}
	if e.RoleID != "" {
		found := false
		for _, r := range t.Roles {
			if r.ID == e.RoleID {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tokenCache remembers validated tokens until identity changes (the
// generation moves) or the entry is evicted; expiry is re-checked on use.
type tokenCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]cachedToken
}

type cachedToken struct {
	gen uint64
	t   *Token
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: map[string]cachedToken{}}
}

func (c *tokenCache) get(token string, gen uint64) (*Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[token]
	if !ok || e.gen != gen {
		return nil, false
	}
	return e.t, true
}

func (c *tokenCache) put(token string, gen uint64, t *Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop everything: cheap, and the cache refills from hot tokens.
		c.entries = map[string]cachedToken{}
	}
	c.entries[token] = cachedToken{gen: gen, t: t}
}
