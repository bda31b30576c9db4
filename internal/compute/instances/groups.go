package instances

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// ---- server groups

const groupColumns = `g.id, g.uuid, g.name, g.project_id, g.user_id, g.policy, g.rules, g.created_at`

func scanGroup(sc interface{ Scan(...any) error }) (*ServerGroup, error) {
	var g ServerGroup
	var rules string
	var created int64
	if err := sc.Scan(&g.ID, &g.UUID, &g.Name, &g.ProjectID, &g.UserID, &g.Policy, &rules, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(rules), &g.Rules); err != nil {
		return nil, fmt.Errorf("server group %s rules: %w", g.UUID, err)
	}
	if g.Rules == nil {
		g.Rules = map[string]string{}
	}
	g.CreatedAt = fromMicros(created)
	g.Members = []string{}
	return &g, nil
}

// CreateServerGroup stores g (a new UUID when it has none, CreatedAt now
// when zero; ID filled in) with the members it lists.
func (s *Store) CreateServerGroup(ctx context.Context, g *ServerGroup) error {
	if g.UUID == "" {
		g.UUID = uuid.NewString()
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	}
	if g.Rules == nil {
		g.Rules = map[string]string{}
	}
	if g.Members == nil {
		g.Members = []string{}
	}
	rules, err := json.Marshal(g.Rules)
	if err != nil {
		return fmt.Errorf("create server group: %w", err)
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO server_groups (uuid, name, project_id, user_id, policy, rules, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			g.UUID, g.Name, g.ProjectID, g.UserID, g.Policy, string(rules), micros(g.CreatedAt)).Scan(&g.ID)
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("server group %s: %w", g.UUID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create server group: %w", err)
		}
		for _, m := range g.Members {
			if err := addMember(ctx, tx, g.ID, g.UUID, m); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetServerGroup returns a group with its members.
func (s *Store) GetServerGroup(ctx context.Context, uuid string) (*ServerGroup, error) {
	g, err := scanGroup(s.db.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM server_groups g WHERE g.uuid = $1`, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("server group %s: %w", uuid, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get server group %s: %w", uuid, err)
	}
	if err := fillMembers(ctx, s.db, []*ServerGroup{g}); err != nil {
		return nil, err
	}
	return g, nil
}

// fillMembers reads the members of groups, sorted.
func fillMembers(ctx context.Context, q querier, groups []*ServerGroup) error {
	byID := make(map[int64]*ServerGroup, len(groups))
	for _, g := range groups {
		byID[g.ID] = g
	}
	for _, part := range chunks(groups) {
		var a args
		ph := make([]string, len(part))
		for n, g := range part {
			ph[n] = a.add(g.ID)
		}
		rows, err := q.QueryContext(ctx, `SELECT group_id, instance_uuid FROM server_group_members
			WHERE group_id IN (`+strings.Join(ph, ", ")+`) ORDER BY group_id, instance_uuid`, a...)
		if err != nil {
			return fmt.Errorf("read server group members: %w", err)
		}
		for rows.Next() {
			var id int64
			var m string
			if err := rows.Scan(&id, &m); err != nil {
				rows.Close()
				return fmt.Errorf("read server group members: %w", err)
			}
			byID[id].Members = append(byID[id].Members, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read server group members: %w", err)
		}
	}
	return nil
}

// ListServerGroups returns a project's groups ("" = all), oldest first;
// limit 0 is no limit.
func (s *Store) ListServerGroups(ctx context.Context, projectID string, limit, offset int) ([]ServerGroup, error) {
	var a args
	q := `SELECT ` + groupColumns + ` FROM server_groups g`
	if projectID != "" {
		q += ` WHERE g.project_id = ` + a.add(projectID)
	}
	q += ` ORDER BY g.id`
	if limit > 0 || offset > 0 {
		if limit <= 0 {
			limit = math.MaxInt64 // an OFFSET needs a LIMIT in SQLite
		}
		q += ` LIMIT ` + a.add(limit) + ` OFFSET ` + a.add(max(offset, 0))
	}
	rows, err := s.db.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("list server groups: %w", err)
	}
	var list []*ServerGroup
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list server groups: %w", err)
		}
		list = append(list, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list server groups: %w", err)
	}
	if err := fillMembers(ctx, s.db, list); err != nil {
		return nil, err
	}
	out := make([]ServerGroup, len(list))
	for n, g := range list {
		out[n] = *g
	}
	return out, nil
}

// DeleteServerGroup removes a group (its members leave it).
func (s *Store) DeleteServerGroup(ctx context.Context, uuid string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM server_groups WHERE uuid = $1`, uuid)
	if err != nil {
		return fmt.Errorf("delete server group %s: %w", uuid, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("server group %s: %w", uuid, ErrNotFound)
	}
	return nil
}

// AddGroupMember adds an instance to a group (in tx when not nil);
// GroupOf returns the group of an instance (ErrNotFound if none). An
// unknown group is ErrNotFound; an instance already in another group is
// ErrConflict (already in this one is no error).
func (s *Store) AddGroupMember(ctx context.Context, tx *sql.Tx, group, uuid string) error {
	var q querier = s.db
	if tx != nil {
		q = tx
	}
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM server_groups WHERE uuid = $1`, group).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("server group %s: %w", group, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("find server group %s: %w", group, err)
	}
	return addMember(ctx, q, id, group, uuid)
}

// addMember checks before it inserts: on PostgreSQL a failed INSERT
// would spoil the caller's transaction.
func addMember(ctx context.Context, q querier, groupID int64, group, uuid string) error {
	var in int64
	err := q.QueryRowContext(ctx, `SELECT group_id FROM server_group_members WHERE instance_uuid = $1`, uuid).Scan(&in)
	switch {
	case err == nil && in == groupID:
		return nil
	case err == nil:
		return fmt.Errorf("instance %s is in another server group: %w", uuid, ErrConflict)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("add %s to server group %s: %w", uuid, group, err)
	}
	_, err = q.ExecContext(ctx, `INSERT INTO server_group_members (group_id, instance_uuid) VALUES ($1, $2)`, groupID, uuid)
	if db.IsUniqueViolation(err) {
		return fmt.Errorf("instance %s is in another server group: %w", uuid, ErrConflict)
	}
	return wrap("add "+uuid+" to server group "+group, err)
}

func (s *Store) GroupOf(ctx context.Context, uuid string) (*ServerGroup, error) {
	g, err := scanGroup(s.db.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM server_groups g
		JOIN server_group_members m ON m.group_id = g.id WHERE m.instance_uuid = $1`, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("server group of %s: %w", uuid, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("server group of %s: %w", uuid, err)
	}
	if err := fillMembers(ctx, s.db, []*ServerGroup{g}); err != nil {
		return nil, err
	}
	return g, nil
}

// MemberHosts counts a group's members (not deleted) on each host they
// are on, for the scheduler's affinity filters and max_server_per_host.
// Members not yet on a host are not counted.
func (s *Store) MemberHosts(ctx context.Context, group string) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT i.host, COUNT(*) FROM server_group_members m
		JOIN server_groups g ON g.id = m.group_id
		JOIN instances i ON i.uuid = m.instance_uuid
		WHERE g.uuid = $1 AND i.deleted = FALSE AND i.host <> '' GROUP BY i.host`, group)
	if err != nil {
		return nil, fmt.Errorf("hosts of server group %s: %w", group, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var h string
		var n int
		if err := rows.Scan(&h, &n); err != nil {
			return nil, fmt.Errorf("hosts of server group %s: %w", group, err)
		}
		out[h] = n
	}
	return out, wrap("hosts of server group "+group, rows.Err())
}

// CountServerGroups is a project's (and user's) groups, for quotas,
// read on q (a transaction the caller holds) or, when q is nil, the
// database.
func (s *Store) CountServerGroups(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, projectID, userID string) (int64, error) {
	query, a := `SELECT COUNT(*) FROM server_groups WHERE project_id = $1`, []any{projectID}
	if userID != "" {
		query, a = query+` AND user_id = $2`, append(a, userID)
	}
	if q == nil {
		q = s.db
	}
	var n int64
	if err := q.QueryRowContext(ctx, query, a...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count server groups of %s: %w", projectID, err)
	}
	return n, nil
}
