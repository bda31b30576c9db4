package identity

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
)

// Users and groups of LDAP domains live in the directory. Keystone gives
// them public ids that are a hash of (domain, local id, type) and records
// the mapping; we do the same, so ids are stable and never collide across
// domains.

func (s *Service) setupLDAP(ctx context.Context, newDriver func(backend.LDAPConfig) (backend.Reader, error)) error {
	for name, cfg := range s.cfg.LDAP {
		if newDriver == nil {
			return fmt.Errorf("identity: domain %s wants LDAP but no LDAP driver is built in", name)
		}
		d, err := getDomainByName(ctx, s.db, name)
		if fault.Is(err, fault.NotFound) {
			d = &Domain{ID: newID(), Name: name, Enabled: true, Description: "Users and groups from LDAP"}
			if err := s.tx(ctx, func(tx *sql.Tx) error { return insertDomain(ctx, tx, d) }); err != nil {
				return fmt.Errorf("identity: create LDAP domain %s: %w", name, err)
			}
		} else if err != nil {
			return err
		}
		drv, err := newDriver(cfg)
		if err != nil {
			return fmt.Errorf("identity: LDAP for domain %s: %w", name, err)
		}
		s.ldap[d.ID] = drv
	}
	return nil
}

func (s *Service) ldapFor(domainID string) backend.Reader {
	if domainID == "" {
		return nil
	}
	return s.ldap[domainID]
}

func publicID(domainID, localID, entity string) string {
	sum := sha256.Sum256([]byte(domainID + "\x00" + localID + "\x00" + entity))
	return hex.EncodeToString(sum[:])
}

func (s *Service) recordMapping(ctx context.Context, domainID, localID, entity string) (string, error) {
	id := publicID(domainID, localID, entity)
	// Look first: the mapping usually exists, and a write here from inside
	// another transaction would wait on that transaction's lock.
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM id_mappings WHERE public_id = $1`, id).Scan(&n); err != nil {
		return "", err
	}
	if n > 0 {
		return id, nil
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO id_mappings (public_id, domain_id, local_id, entity_type)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, id, domainID, localID, entity)
	return id, err
}

func (s *Service) lookupMapping(ctx context.Context, q queryer, publicID, entity string) (domainID, localID string, err error) {
	err = q.QueryRowContext(ctx, `SELECT domain_id, local_id FROM id_mappings WHERE public_id = $1 AND entity_type = $2`,
		publicID, entity).Scan(&domainID, &localID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fault.NotFoundf("Could not find %s: %s.", entity, publicID)
	}
	return domainID, localID, err
}

func (s *Service) mapUser(ctx context.Context, domainID string, bu *backend.User) (*User, error) {
	id, err := s.recordMapping(ctx, domainID, bu.ID, "user")
	if err != nil {
		return nil, err
	}
	u := &User{ID: id, Name: bu.Name, DomainID: domainID, Enabled: bu.Enabled, DefaultProjectID: bu.DefaultProjectID,
		PasswordExpiresAt: bu.PasswordExpiresAt, readOnly: true, Extra: map[string]any{}}
	if bu.Email != "" {
		u.Extra["email"] = bu.Email
	}
	if bu.Description != "" {
		u.Extra["description"] = bu.Description
	}
	return u, nil
}

func (s *Service) mapGroup(ctx context.Context, domainID string, bg *backend.Group) (*Group, error) {
	id, err := s.recordMapping(ctx, domainID, bg.ID, "group")
	if err != nil {
		return nil, err
	}
	return &Group{ID: id, Name: bg.Name, DomainID: domainID, Description: bg.Description}, nil
}

func (s *Service) getMappedUser(ctx context.Context, q queryer, id string) (*User, error) {
	domainID, local, err := s.lookupMapping(ctx, q, id, "user")
	if err != nil {
		return nil, err
	}
	drv := s.ldapFor(domainID)
	if drv == nil {
		return nil, userNotFound(id)
	}
	bu, err := drv.GetUser(ctx, local)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, userNotFound(id)
		}
		return nil, err
	}
	return s.mapUser(ctx, domainID, bu)
}

func (s *Service) getMappedGroup(ctx context.Context, q queryer, id string) (*Group, error) {
	domainID, local, err := s.lookupMapping(ctx, q, id, "group")
	if err != nil {
		return nil, err
	}
	drv := s.ldapFor(domainID)
	if drv == nil {
		return nil, groupNotFound(id)
	}
	bg, err := drv.GetGroup(ctx, local)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, groupNotFound(id)
		}
		return nil, err
	}
	return s.mapGroup(ctx, domainID, bg)
}

func (s *Service) listMappedUsers(ctx context.Context, f UserFilter) ([]User, error) {
	bus, err := s.ldapFor(f.DomainID).ListUsers(ctx, backend.Filter{Name: f.Name, Enabled: f.Enabled})
	if err != nil {
		return nil, err
	}
	return s.mapUsers(ctx, f.DomainID, bus)
}

func (s *Service) mapUsers(ctx context.Context, domainID string, bus []backend.User) ([]User, error) {
	out := make([]User, 0, len(bus))
	for i := range bus {
		u, err := s.mapUser(ctx, domainID, &bus[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, nil
}

func (s *Service) mapGroups(ctx context.Context, domainID string, bgs []backend.Group) ([]Group, error) {
	out := make([]Group, 0, len(bgs))
	for i := range bgs {
		g, err := s.mapGroup(ctx, domainID, &bgs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, nil
}

func (s *Service) listMappedGroups(ctx context.Context, f GroupFilter) ([]Group, error) {
	bgs, err := s.ldapFor(f.DomainID).ListGroups(ctx, backend.Filter{Name: f.Name})
	if err != nil {
		return nil, err
	}
	return s.mapGroups(ctx, f.DomainID, bgs)
}

func (s *Service) mappedGroupsOfUser(ctx context.Context, u *User) ([]Group, error) {
	_, local, err := s.lookupMapping(ctx, s.db, u.ID, "user")
	if err != nil {
		return nil, err
	}
	bgs, err := s.ldapFor(u.DomainID).ListGroupsForUser(ctx, local)
	if err != nil {
		return nil, err
	}
	return s.mapGroups(ctx, u.DomainID, bgs)
}

func (s *Service) mappedUsersInGroup(ctx context.Context, g *Group) ([]User, error) {
	_, local, err := s.lookupMapping(ctx, s.db, g.ID, "group")
	if err != nil {
		return nil, err
	}
	bus, err := s.ldapFor(g.DomainID).ListUsersInGroup(ctx, local)
	if err != nil {
		return nil, err
	}
	return s.mapUsers(ctx, g.DomainID, bus)
}

// authenticateMapped checks a directory user's password by binding.
func (s *Service) authenticateMapped(ctx context.Context, u *User, password string) error {
	_, local, err := s.lookupMapping(ctx, s.db, u.ID, "user")
	if err != nil {
		return err
	}
	return s.ldapFor(u.DomainID).Authenticate(ctx, local, password)
}
