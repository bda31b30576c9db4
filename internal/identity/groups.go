package identity

import (
	"context"
	"database/sql"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const groupColumns = `id, name, domain_id, description, extra`

func scanGroup(row interface{ Scan(...any) error }) (*Group, error) {
	var g Group
	var extra string
	if err := row.Scan(&g.ID, &g.Name, &g.DomainID, &g.Description, &extra); err != nil {
		return nil, err
	}
	g.Extra = decodeExtra(extra)
	return &g, nil
}

func groupNotFound(id string) error { return fault.NotFoundf("Could not find group: %s.", id) }

func (s *Service) getGroup(ctx context.Context, q queryer, id string) (*Group, error) {
	g, err := scanGroup(q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = $1`, id))
	if err == nil {
		return g, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if len(s.ldap) > 0 {
		if g, err := s.getMappedGroup(ctx, q, id); err == nil || !fault.Is(err, fault.NotFound) {
			return g, err
		}
	}
	return nil, groupNotFound(id)
}

func groupTarget(g *Group) map[string]any {
	return map[string]any{"group": map[string]any{"id": g.ID, "domain_id": g.DomainID, "name": g.Name}}
}

// GroupFilter narrows ListGroups.
type GroupFilter struct{ Name, DomainID string }

// ListGroups lists groups.
func (s *Service) ListGroups(ctx context.Context, p *authn.Principal, f GroupFilter) ([]Group, error) {
	if err := s.authorize(p, "identity:list_groups", map[string]any{"domain_id": f.DomainID}); err != nil {
		return nil, err
	}
	if s.ldapFor(f.DomainID) != nil {
		return s.listMappedGroups(ctx, f)
	}
	q := newWhere()
	q.eq("name", f.Name)
	q.eq("domain_id", f.DomainID)
	return queryGroups(ctx, s.db, `SELECT `+groupColumns+` FROM groups`+q.sql()+` ORDER BY name`, q.args...)
}

func queryGroups(ctx context.Context, q queryer, query string, args ...any) ([]Group, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// GetGroup returns one group.
func (s *Service) GetGroup(ctx context.Context, p *authn.Principal, id string) (*Group, error) {
	g, err := s.getGroup(ctx, s.db, id)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			if aerr := s.authorize(p, "identity:get_group", map[string]any{"group": map[string]any{"id": id}}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.authorize(p, "identity:get_group", groupTarget(g)); err != nil {
		return nil, err
	}
	return g, nil
}

// CreateGroup makes a group.
func (s *Service) CreateGroup(ctx context.Context, p *authn.Principal, g Group) (*Group, error) {
	if err := validName("group", g.Name); err != nil {
		return nil, err
	}
	if g.DomainID == "" {
		g.DomainID = s.defaultDomainFor(p)
	}
	if err := s.authorize(p, "identity:create_group", groupTarget(&g)); err != nil {
		return nil, err
	}
	if s.ldapFor(g.DomainID) != nil {
		return nil, fault.Forbiddenf("Cannot create a group in domain %s: its identity backend is read-only.", g.DomainID)
	}
	g.ID = newID()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Keystone answers DomainNotFound (404) here, as for users.
		if _, err := getDomain(ctx, tx, g.DomainID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO groups (`+groupColumns+`) VALUES ($1, $2, $3, $4, $5)`,
			g.ID, g.Name, g.DomainID, g.Description, encodeExtra(g.Extra))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to store group - Duplicate entry found with name %s.", g.Name)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// GroupPatch holds the fields an update changes.
type GroupPatch struct {
	Name, Description, DomainID *string
	Extra                       map[string]any
}

// UpdateGroup changes a group.
func (s *Service) UpdateGroup(ctx context.Context, p *authn.Principal, id string, patch GroupPatch) (*Group, error) {
	var out *Group
	err := s.tx(ctx, func(tx *sql.Tx) error {
		g, err := s.getGroup(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, "identity:update_group", groupTarget(g)); err != nil {
			return err
		}
		if s.ldapFor(g.DomainID) != nil {
			return fault.Forbiddenf("Cannot change group %s: its identity backend is read-only.", id)
		}
		if patch.DomainID != nil && *patch.DomainID != g.DomainID {
			return fault.BadRequestf("Update of `domain_id` is not allowed.")
		}
		if patch.Name != nil {
			if err := validName("group", *patch.Name); err != nil {
				return err
			}
			g.Name = *patch.Name
		}
		if patch.Description != nil {
			g.Description = *patch.Description
		}
		mergeExtra(&g.Extra, patch.Extra)
		_, err = tx.ExecContext(ctx, `UPDATE groups SET name = $2, description = $3, extra = $4 WHERE id = $1`,
			id, g.Name, g.Description, encodeExtra(g.Extra))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to update group - Duplicate entry found with name %s.", g.Name)
		}
		out = g
		return err
	})
	return out, err
}

// DeleteGroup removes a group and its assignments; its members' tokens
// lose the roles the group gave them at once, because validation
// recomputes roles.
func (s *Service) DeleteGroup(ctx context.Context, p *authn.Principal, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		g, err := s.getGroup(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, "identity:delete_group", groupTarget(g)); err != nil {
			return err
		}
		if s.ldapFor(g.DomainID) != nil {
			return fault.Forbiddenf("Cannot delete group %s: its identity backend is read-only.", id)
		}
		for _, stmt := range []string{
			`DELETE FROM assignments WHERE actor_id = $1`,
			`DELETE FROM user_groups WHERE group_id = $1`,
			`DELETE FROM groups WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddUserToGroup adds a member.
func (s *Service) AddUserToGroup(ctx context.Context, p *authn.Principal, groupID, userID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		g, u, err := s.groupAndUser(ctx, tx, p, "identity:add_user_to_group", groupID, userID)
		if err != nil {
			return err
		}
		if s.ldapFor(g.DomainID) != nil || u.readOnly {
			return fault.Forbiddenf("Cannot change the members of group %s: its identity backend is read-only.", groupID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)`, userID, groupID)
		if db.IsUniqueViolation(err) {
			return nil
		}
		return err
	})
}

// RemoveUserFromGroup removes a member.
func (s *Service) RemoveUserFromGroup(ctx context.Context, p *authn.Principal, groupID, userID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		g, _, err := s.groupAndUser(ctx, tx, p, "identity:remove_user_from_group", groupID, userID)
		if err != nil {
			return err
		}
		if s.ldapFor(g.DomainID) != nil {
			return fault.Forbiddenf("Cannot change the members of group %s: its identity backend is read-only.", groupID)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM user_groups WHERE user_id = $1 AND group_id = $2`, userID, groupID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fault.NotFoundf("User '%s' not found in group '%s'.", userID, groupID)
		}
		return nil
	})
}

// CheckUserInGroup answers HEAD/GET /v3/groups/{g}/users/{u}.
func (s *Service) CheckUserInGroup(ctx context.Context, p *authn.Principal, groupID, userID string) error {
	g, u, err := s.groupAndUser(ctx, s.db, p, "identity:check_user_in_group", groupID, userID)
	if err != nil {
		return err
	}
	in, err := s.isMember(ctx, s.db, g, u)
	if err != nil {
		return err
	}
	if !in {
		return fault.NotFoundf("User '%s' not found in group '%s'.", userID, groupID)
	}
	return nil
}

func (s *Service) groupAndUser(ctx context.Context, q queryer, p *authn.Principal, rule, groupID, userID string) (*Group, *User, error) {
	g, err := s.getGroup(ctx, q, groupID)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.getUser(ctx, q, userID)
	if err != nil {
		return nil, nil, err
	}
	t := map[string]any{
		"group": map[string]any{"id": g.ID, "domain_id": g.DomainID},
		"user":  map[string]any{"id": u.ID, "domain_id": u.DomainID},
	}
	if err := s.authorize(p, rule, t); err != nil {
		return nil, nil, err
	}
	return g, u, nil
}

func (s *Service) isMember(ctx context.Context, q queryer, g *Group, u *User) (bool, error) {
	groups, err := s.groupsOfUser(ctx, q, u)
	if err != nil {
		return false, err
	}
	for _, x := range groups {
		if x.ID == g.ID {
			return true, nil
		}
	}
	return false, nil
}

// groupsOfUser lists the groups a user is in, SQL and directory alike.
func (s *Service) groupsOfUser(ctx context.Context, q queryer, u *User) ([]Group, error) {
	if u.readOnly {
		return s.mappedGroupsOfUser(ctx, u)
	}
	return queryGroups(ctx, q, `SELECT g.id, g.name, g.domain_id, g.description, g.extra FROM groups g
		JOIN user_groups ug ON ug.group_id = g.id WHERE ug.user_id = $1 ORDER BY g.name`, u.ID)
}

// ListUserGroups is GET /v3/users/{id}/groups.
func (s *Service) ListUserGroups(ctx context.Context, p *authn.Principal, userID string) ([]Group, error) {
	u, err := s.getUser(ctx, s.db, userID)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "identity:list_groups_for_user", userTarget(u)); err != nil {
		return nil, err
	}
	return s.groupsOfUser(ctx, s.db, u)
}

// ListGroupUsers is GET /v3/groups/{id}/users.
func (s *Service) ListGroupUsers(ctx context.Context, p *authn.Principal, groupID string) ([]User, error) {
	g, err := s.getGroup(ctx, s.db, groupID)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, "identity:list_users_in_group", groupTarget(g)); err != nil {
		return nil, err
	}
	if s.ldapFor(g.DomainID) != nil {
		return s.mappedUsersInGroup(ctx, g)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT u.id, u.name, u.domain_id, u.enabled, u.default_project_id, u.extra, u.options,
		u.password_created_at, u.password_expires_at, u.failed_auth_count, u.last_failed_auth_at, u.created_at
		FROM users u JOIN user_groups ug ON ug.user_id = u.id WHERE ug.group_id = $1 ORDER BY u.name`, groupID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}
