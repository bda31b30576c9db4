package identity

import (
	"context"
	"sort"
	"strings"
)

// The role computations tokens and role-assignment listings share.

// roleSet collects role ids without duplicates.
type roleSet map[string]bool

func (rs roleSet) ids() []string {
	out := make([]string, 0, len(rs))
	for id := range rs {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// actorIDs is the user plus the groups it belongs to.
func (s *Service) actorIDs(ctx context.Context, q queryer, u *User) ([]string, error) {
	groups, err := s.groupsOfUser(ctx, q, u)
	if err != nil {
		return nil, err
	}
	ids := []string{u.ID}
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	return ids, nil
}

func placeholders(start, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$")
		b.WriteString(itoa(start + i))
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}

// directRoleIDs returns the role ids assigned to any of actors on target,
// inherited or not as asked.
func directRoleIDs(ctx context.Context, q queryer, actors []string, target string, inherited bool) ([]string, error) {
	if len(actors) == 0 {
		return nil, nil
	}
	args := []any{target, inherited}
	for _, a := range actors {
		args = append(args, a)
	}
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT role_id FROM assignments WHERE target_id = $1 AND inherited = $2
		AND actor_id IN (`+placeholders(3, len(actors))+`)`, args...)
	if err != nil {
		return nil, err
	}
	return collectStrings(rows)
}

// projectRoleIDs is every role id a user holds on a project: assigned to
// it or its groups on the project, or inherited from the project's
// ancestors and its domain. Implied roles are not expanded here.
func (s *Service) projectRoleIDs(ctx context.Context, q queryer, u *User, p *Project) (roleSet, error) {
	actors, err := s.actorIDs(ctx, q, u)
	if err != nil {
		return nil, err
	}
	rs := roleSet{}
	ids, err := directRoleIDs(ctx, q, actors, p.ID, false)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		rs[id] = true
	}
	ancestors, err := projectAncestors(ctx, q, p.ID)
	if err != nil {
		return nil, err
	}
	for _, target := range append(ancestors, p.DomainID) {
		ids, err := directRoleIDs(ctx, q, actors, target, true)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			rs[id] = true
		}
	}
	return rs, nil
}

// domainRoleIDs is every role id a user holds on a domain directly.
func (s *Service) domainRoleIDs(ctx context.Context, q queryer, u *User, domainID string) (roleSet, error) {
	actors, err := s.actorIDs(ctx, q, u)
	if err != nil {
		return nil, err
	}
	ids, err := directRoleIDs(ctx, q, actors, domainID, false)
	if err != nil {
		return nil, err
	}
	rs := roleSet{}
	for _, id := range ids {
		rs[id] = true
	}
	return rs, nil
}

// systemRoleIDs is every role id a user holds on the system.
func (s *Service) systemRoleIDs(ctx context.Context, q queryer, u *User) (roleSet, error) {
	actors, err := s.actorIDs(ctx, q, u)
	if err != nil {
		return nil, err
	}
	ids, err := directRoleIDs(ctx, q, actors, SystemTarget, false)
	if err != nil {
		return nil, err
	}
	rs := roleSet{}
	for _, id := range ids {
		rs[id] = true
	}
	return rs, nil
}

// expandImplied adds every role implied, transitively, by those in rs.
func expandImplied(ctx context.Context, q queryer, rs roleSet) error {
	frontier := rs.ids()
	for len(frontier) > 0 {
		args := make([]any, len(frontier))
		for i, id := range frontier {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, `SELECT implied_role_id FROM implied_roles WHERE prior_role_id IN (`+placeholders(1, len(frontier))+`)`, args...)
		if err != nil {
			return err
		}
		implied, err := collectStrings(rows)
		if err != nil {
			return err
		}
		frontier = frontier[:0]
		for _, id := range implied {
			if !rs[id] {
				rs[id] = true
				frontier = append(frontier, id)
			}
		}
	}
	return nil
}

// tokenRoles turns role ids into the global roles a token shows: implied
// roles added, domain-specific roles left out (they only lend what they
// imply), sorted by name.
func (s *Service) tokenRoles(ctx context.Context, q queryer, rs roleSet) ([]Role, error) {
	if err := expandImplied(ctx, q, rs); err != nil {
		return nil, err
	}
	ids := rs.ids()
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT id, name FROM roles WHERE domain_id = '' AND id IN (`+placeholders(1, len(ids))+`) ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		var r Role
		if err := rows.Scan(&r.ID, &r.Name); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
