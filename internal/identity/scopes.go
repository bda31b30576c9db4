package identity

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// UserProjects lists the enabled projects a user holds any role on,
// directly, through groups or by inheritance.
func (s *Service) UserProjects(ctx context.Context, u *User) ([]Project, error) {
	actors, err := s.actorIDs(ctx, s.db, u)
	if err != nil {
		return nil, err
	}
	args := make([]any, len(actors))
	for i, a := range actors {
		args[i] = a
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT target_id, type, inherited FROM assignments
		WHERE actor_id IN (`+placeholders(1, len(actors))+`) AND type IN ('UserProject', 'GroupProject', 'UserDomain', 'GroupDomain')`, args...)
	if err != nil {
		return nil, err
	}
	type grant struct {
		target, typ string
		inherited   bool
	}
	var grants []grant
	for rows.Next() {
		var g grant
		if err := rows.Scan(&g.target, &g.typ, &g.inherited); err != nil {
			rows.Close()
			return nil, err
		}
		grants = append(grants, g)
	}
	rows.Close()
	ids := map[string]bool{}
	for _, g := range grants {
		isProject := g.typ == UserProject || g.typ == GroupProject
		if isProject && !g.inherited {
			ids[g.target] = true
		}
		if g.inherited {
			var sub []string
			if isProject {
				sub, err = projectSubtree(ctx, s.db, g.target)
			} else {
				sub, err = collectProjectsOfDomain(ctx, s.db, g.target)
			}
			if err != nil {
				return nil, err
			}
			for _, id := range sub {
				ids[id] = true
			}
		}
	}
	var out []Project
	for id := range ids {
		p, err := getProject(ctx, s.db, id)
		if err != nil {
			continue // deleted meanwhile
		}
		if p.Enabled {
			out = append(out, *p)
		}
	}
	sortProjects(out)
	return out, nil
}

func collectProjectsOfDomain(ctx context.Context, q queryer, domainID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id FROM projects WHERE domain_id = $1`, domainID)
	if err != nil {
		return nil, err
	}
	return collectStrings(rows)
}

func sortProjects(ps []Project) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Name < ps[j-1].Name; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

// AuthProjects is GET /v3/auth/projects: where the caller may scope.
func (s *Service) AuthProjects(ctx context.Context, p *authn.Principal) ([]Project, error) {
	u, err := s.getUser(ctx, s.db, p.UserID)
	if err != nil {
		return nil, err
	}
	return s.UserProjects(ctx, u)
}

// AuthDomains is GET /v3/auth/domains.
func (s *Service) AuthDomains(ctx context.Context, p *authn.Principal) ([]Domain, error) {
	u, err := s.getUser(ctx, s.db, p.UserID)
	if err != nil {
		return nil, err
	}
	actors, err := s.actorIDs(ctx, s.db, u)
	if err != nil {
		return nil, err
	}
	args := make([]any, len(actors))
	for i, a := range actors {
		args[i] = a
	}
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT target_id FROM assignments
		WHERE actor_id IN (`+placeholders(1, len(actors))+`) AND type IN ('UserDomain', 'GroupDomain') AND inherited = false`, args...)
	if err != nil {
		return nil, err
	}
	ids, err := collectStrings(rows)
	if err != nil {
		return nil, err
	}
	var out []Domain
	for _, id := range ids {
		d, err := getDomain(ctx, s.db, id)
		if err == nil && d.Enabled {
			out = append(out, *d)
		}
	}
	return out, nil
}

// AuthSystem reports whether the caller holds any role on the system.
func (s *Service) AuthSystem(ctx context.Context, p *authn.Principal) (bool, error) {
	u, err := s.getUser(ctx, s.db, p.UserID)
	if err != nil {
		return false, err
	}
	rs, err := s.systemRoleIDs(ctx, s.db, u)
	return len(rs) > 0, err
}

// ListUserProjects is GET /v3/users/{id}/projects.
func (s *Service) ListUserProjects(ctx context.Context, p *authn.Principal, userID string) ([]Project, error) {
	u, err := s.getUser(ctx, s.db, userID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			if aerr := s.authorize(p, "identity:list_user_projects", map[string]any{"user": map[string]any{"id": userID}, "user_id": userID}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	t := userTarget(u)
	t["user_id"] = u.ID
	if err := s.authorize(p, "identity:list_user_projects", t); err != nil {
		return nil, err
	}
	return s.UserProjects(ctx, u)
}

// ProjectParentsAsIDs is the nested {"parent": {"grandparent": null}}
// form of ?parents_as_ids.
func (s *Service) ProjectParentsAsIDs(ctx context.Context, p *Project) (any, error) {
	ancestors, err := projectAncestors(ctx, s.db, p.ID)
	if err != nil {
		return nil, err
	}
	var tree any
	for i := len(ancestors) - 1; i >= 0; i-- {
		tree = map[string]any{ancestors[i]: tree}
	}
	if tree == nil {
		return nil, nil
	}
	return tree, nil
}

// ProjectSubtreeAsIDs is the nested form of ?subtree_as_ids.
func (s *Service) ProjectSubtreeAsIDs(ctx context.Context, p *Project) (any, error) {
	var build func(id string, depth int) (any, error)
	build = func(id string, depth int) (any, error) {
		if depth > 64 {
			return nil, nil
		}
		q := `SELECT id FROM projects WHERE parent_id = $1`
		if depth == 0 && p.IsDomain {
			// A domain's children are its top-level projects.
			q = `SELECT id FROM projects WHERE domain_id = $1 AND parent_id IS NULL`
		}
		rows, err := s.db.QueryContext(ctx, q, id)
		if err != nil {
			return nil, err
		}
		kids, err := collectStrings(rows)
		if err != nil || len(kids) == 0 {
			return nil, err
		}
		m := map[string]any{}
		for _, k := range kids {
			sub, err := build(k, depth+1)
			if err != nil {
				return nil, err
			}
			m[k] = sub
		}
		return m, nil
	}
	return build(p.ID, 0)
}
