package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// BootstrapOptions are keystone-manage bootstrap's arguments.
type BootstrapOptions struct {
	AdminUser, AdminPassword, AdminProject string
	Region                                 string
	// Endpoints to register: service type -> name and interface -> URL.
	Services []BootstrapService
	// Roles are more global roles the running services need (the object
	// store's ResellerAdmin, as devstack makes for Swift).
	Roles []string
	// ServiceUser, when set, is the user the cloud's own services call
	// one another's APIs as (compute calling placement and image), as
	// devstack's "nova" user: made in the "service" project with the
	// admin and service roles, its password set to ServicePassword on
	// every bootstrap (the all-in-one process makes a new one each start
	// and keeps it in memory only).
	ServiceUser, ServicePassword string
}

// BootstrapService is one catalog entry bootstrap makes sure exists.
type BootstrapService struct {
	Type, Name string
	URLs       map[string]string // "public", "internal", "admin"
}

// BootstrapResult says what bootstrap found or made.
type BootstrapResult struct {
	AdminUserID, AdminProjectID string
	Created                     bool // false when the admin already existed
}

// Bootstrap makes what a new cloud needs, like keystone-manage bootstrap:
// the Default domain, the admin/member/reader/service roles (admin implies
// member implies reader), the admin project and user with the admin role
// on the project and the system, the region and catalog entries. It is
// idempotent: what exists is kept (passwords included).
func (s *Service) Bootstrap(ctx context.Context, o BootstrapOptions) (*BootstrapResult, error) {
	res := &BootstrapResult{}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, DefaultDomainID); err != nil {
			if !isNotFound(err) {
				return err
			}
			if err := insertDomain(ctx, tx, &Domain{ID: DefaultDomainID, Name: "Default", Enabled: true,
				Description: "The default domain"}); err != nil {
				return err
			}
		}
		roles := map[string]string{}
		for _, name := range append([]string{"admin", "manager", "member", "reader", "service"}, o.Roles...) {
			id, err := ensureRole(ctx, tx, name)
			if err != nil {
				return err
			}
			roles[name] = id
		}
		for _, pair := range [][2]string{{"admin", "manager"}, {"manager", "member"}, {"member", "reader"}} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO implied_roles (prior_role_id, implied_role_id) VALUES ($1, $2)
				ON CONFLICT DO NOTHING`, roles[pair[0]], roles[pair[1]]); err != nil {
				return err
			}
		}
		proj, err := getProjectByName(ctx, tx, DefaultDomainID, o.AdminProject)
		if isNotFound(err) {
			proj = &Project{ID: newID(), Name: o.AdminProject, DomainID: DefaultDomainID, Enabled: true,
				Description: "Bootstrap project for initializing the cloud."}
			_, err = tx.ExecContext(ctx, `INSERT INTO projects (id, name, domain_id, description, enabled) VALUES ($1, $2, $3, $4, $5)`,
				proj.ID, proj.Name, proj.DomainID, proj.Description, true)
		}
		if err != nil {
			return err
		}
		res.AdminProjectID = proj.ID
		u, err := s.getUserByName(ctx, tx, DefaultDomainID, o.AdminUser)
		if isNotFound(err) {
			if o.AdminPassword == "" {
				return errors.New("bootstrap: the admin user does not exist and no password was given")
			}
			hash, herr := s.hashPassword(o.AdminPassword)
			if herr != nil {
				return herr
			}
			now := s.now().UTC()
			u = &User{ID: newID(), Name: o.AdminUser, DomainID: DefaultDomainID, Enabled: true}
			_, err = tx.ExecContext(ctx, `INSERT INTO users (id, name, domain_id, enabled, password_hash, password_created_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, u.Name, u.DomainID, true, hash, micros(now), micros(now))
			res.Created = true
		}
		if err != nil {
			return err
		}
		res.AdminUserID = u.ID
		for _, a := range []Assignment{
			{Type: UserProject, ActorID: u.ID, TargetID: proj.ID, RoleID: roles["admin"]},
			{Type: UserSystem, ActorID: u.ID, TargetID: SystemTarget, RoleID: roles["admin"]},
		} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO assignments (type, actor_id, target_id, role_id, inherited)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, a.Type, a.ActorID, a.TargetID, a.RoleID, false); err != nil {
				return err
			}
		}
		if o.ServiceUser != "" {
			if err := s.ensureServiceUser(ctx, tx, o.ServiceUser, o.ServicePassword, roles); err != nil {
				return fmt.Errorf("bootstrap service user: %w", err)
			}
		}
		if o.Region != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO regions (id, description) VALUES ($1, '') ON CONFLICT DO NOTHING`, o.Region); err != nil {
				return err
			}
		}
		for _, svc := range o.Services {
			if err := ensureCatalogEntry(ctx, tx, svc, o.Region); err != nil {
				return fmt.Errorf("bootstrap %s endpoints: %w", svc.Type, err)
			}
		}
		return nil
	})
	return res, err
}

func isNotFound(err error) bool {
	return err != nil && faultKindNotFound(err)
}

func ensureRole(ctx context.Context, tx *sql.Tx, name string) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM roles WHERE name = $1 AND domain_id = ''`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		id = newID()
		_, err = tx.ExecContext(ctx, `INSERT INTO roles (id, name, domain_id) VALUES ($1, $2, '')`, id, name)
	}
	return id, err
}

// ensureCatalogEntry makes a service of the type if none exists and sets
// its endpoints in region to the given URLs.
func ensureCatalogEntry(ctx context.Context, tx *sql.Tx, svc BootstrapService, region string) error {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM services WHERE type = $1 ORDER BY id LIMIT 1`, svc.Type).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		id = newID()
		_, err = tx.ExecContext(ctx, `INSERT INTO services (id, type, name, enabled) VALUES ($1, $2, $3, $4)`, id, svc.Type, svc.Name, true)
	}
	if err != nil {
		return err
	}
	for iface, url := range svc.URLs {
		var epID, oldURL string
		err := tx.QueryRowContext(ctx, `SELECT id, url FROM endpoints WHERE service_id = $1 AND interface = $2 AND COALESCE(region_id, '') = $3`,
			id, iface, region).Scan(&epID, &oldURL)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO endpoints (id, service_id, interface, url, region_id, enabled) VALUES ($1, $2, $3, $4, $5, $6)`,
				newID(), id, iface, url, nullString(region), true)
		case err == nil && oldURL != url:
			_, err = tx.ExecContext(ctx, `UPDATE endpoints SET url = $2 WHERE id = $1`, epID, url)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ensureServiceUser makes the services' own user in the "service" project
// (creating both as needed) with the admin and service roles, and sets its
// password.
func (s *Service) ensureServiceUser(ctx context.Context, tx *sql.Tx, name, password string, roles map[string]string) error {
	if password == "" {
		return errors.New("no password")
	}
	proj, err := getProjectByName(ctx, tx, DefaultDomainID, "service")
	if isNotFound(err) {
		proj = &Project{ID: newID(), Name: "service", DomainID: DefaultDomainID, Enabled: true}
		_, err = tx.ExecContext(ctx, `INSERT INTO projects (id, name, domain_id, description, enabled) VALUES ($1, $2, $3, $4, $5)`,
			proj.ID, proj.Name, proj.DomainID, "Project of the cloud's own services.", true)
	}
	if err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := micros(s.now().UTC())
	u, err := s.getUserByName(ctx, tx, DefaultDomainID, name)
	switch {
	case isNotFound(err):
		u = &User{ID: newID(), Name: name, DomainID: DefaultDomainID, Enabled: true}
		_, err = tx.ExecContext(ctx, `INSERT INTO users (id, name, domain_id, enabled, password_hash, password_created_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, u.ID, u.Name, u.DomainID, true, hash, now, now)
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE users SET password_hash = $2, password_created_at = $3 WHERE id = $1`, u.ID, hash, now)
	}
	if err != nil {
		return err
	}
	for _, role := range []string{"admin", "service"} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO assignments (type, actor_id, target_id, role_id, inherited)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, UserProject, u.ID, proj.ID, roles[role], false); err != nil {
			return err
		}
	}
	return nil
}
