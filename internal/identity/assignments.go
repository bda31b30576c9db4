package identity

import (
	"context"
	"database/sql"
	"sort"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// GrantRef names one grant: an actor (user or group), a target (project,
// domain or the system) and, except when listing, a role. Inherited
// grants apply to the target's projects instead of the target itself.
type GrantRef struct {
	UserID, GroupID     string
	ProjectID, DomainID string
	System              bool
	RoleID              string
	Inherited           bool
}

func (g GrantRef) actor() string {
	if g.UserID != "" {
		return g.UserID
	}
	return g.GroupID
}

func (g GrantRef) target() string {
	switch {
	case g.System:
		return SystemTarget
	case g.ProjectID != "":
		return g.ProjectID
	}
	return g.DomainID
}

func (g GrantRef) typ() string {
	actor := "User"
	if g.UserID == "" {
		actor = "Group"
	}
	switch {
	case g.System:
		return actor + "System"
	case g.ProjectID != "":
		return actor + "Project"
	}
	return actor + "Domain"
}

// rule is the policy rule of action (create, check, revoke, list) on g.
func (g GrantRef) rule(action string) string {
	if !g.System {
		if action == "list" {
			return "identity:list_grants"
		}
		return "identity:" + action + "_grant"
	}
	who := "user"
	if g.UserID == "" {
		who = "group"
	}
	if action == "list" {
		return "identity:list_system_grants_for_" + who
	}
	return "identity:" + action + "_system_grant_for_" + who
}

// resolveGrant looks up everything g names and authorizes action with
// Keystone's target. As Keystone does, policy is enforced before a missing
// entity is reported, so callers without rights learn nothing.
func (s *Service) resolveGrant(ctx context.Context, q queryer, p *authn.Principal, action string, g GrantRef) (*Role, error) {
	target := map[string]any{}
	var missing error
	note := func(err error) error {
		if err != nil && fault.Is(err, fault.NotFound) {
			if missing == nil {
				missing = err
			}
			return nil
		}
		return err
	}
	var role *Role
	if g.RoleID != "" {
		r, err := getRole(ctx, q, g.RoleID)
		if err := note(err); err != nil {
			return nil, err
		}
		if r != nil {
			role = r
			target["role"] = roleTarget(r)["role"]
		}
	}
	if g.UserID != "" {
		u, err := s.getUser(ctx, q, g.UserID)
		if err := note(err); err != nil {
			return nil, err
		}
		if u != nil {
			target["user"] = map[string]any{"id": u.ID, "domain_id": u.DomainID}
		}
	}
	if g.GroupID != "" {
		gr, err := s.getGroup(ctx, q, g.GroupID)
		if err := note(err); err != nil {
			return nil, err
		}
		if gr != nil {
			target["group"] = map[string]any{"id": gr.ID, "domain_id": gr.DomainID}
		}
	}
	var projectDomain string
	if g.ProjectID != "" {
		pr, err := getProject(ctx, q, g.ProjectID)
		if err := note(err); err != nil {
			return nil, err
		}
		if pr != nil {
			projectDomain = pr.DomainID
			target["project"] = map[string]any{"id": pr.ID, "domain_id": pr.DomainID}
		}
	}
	if g.DomainID != "" {
		d, err := getDomain(ctx, q, g.DomainID)
		if err := note(err); err != nil {
			return nil, err
		}
		if d != nil {
			target["domain"] = map[string]any{"id": d.ID}
		}
	}
	if err := s.authorize(p, g.rule(action), target); err != nil {
		return nil, err
	}
	if missing != nil {
		return nil, missing
	}
	if action == "create" && role != nil && role.DomainID != "" {
		switch {
		case g.System:
			return nil, fault.BadRequestf("Role %s is a domain-specific role and cannot be granted on the system.", role.ID)
		case g.ProjectID != "" && projectDomain != role.DomainID:
			return nil, fault.Forbiddenf("Project %s must be in the same domain as the role %s being assigned.", g.ProjectID, role.ID)
		case g.DomainID != "" && g.DomainID != role.DomainID:
			return nil, fault.Forbiddenf("Domain %s must be the domain of the role %s being assigned.", g.DomainID, role.ID)
		}
	}
	return role, nil
}

func assignmentNotFound(g GrantRef) error {
	return fault.NotFoundf("Could not find role assignment with role: %s, user or group: %s, project, domain, or system: %s.",
		g.RoleID, g.actor(), g.target())
}

// CreateGrant assigns a role; granting one already held is not an error.
func (s *Service) CreateGrant(ctx context.Context, p *authn.Principal, g GrantRef) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.resolveGrant(ctx, tx, p, "create", g); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO assignments (type, actor_id, target_id, role_id, inherited)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, g.typ(), g.actor(), g.target(), g.RoleID, g.Inherited)
		return err
	})
}

// CheckGrant answers 204 when the grant exists, directly.
func (s *Service) CheckGrant(ctx context.Context, p *authn.Principal, g GrantRef) error {
	if _, err := s.resolveGrant(ctx, s.db, p, "check", g); err != nil {
		return err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM assignments WHERE type = $1 AND actor_id = $2
		AND target_id = $3 AND role_id = $4 AND inherited = $5`, g.typ(), g.actor(), g.target(), g.RoleID, g.Inherited).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return assignmentNotFound(g)
	}
	return nil
}

// RevokeGrant removes a grant. A user's tokens on the target are revoked
// at once; other tokens lose the role when validation recomputes roles.
func (s *Service) RevokeGrant(ctx context.Context, p *authn.Principal, g GrantRef) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.resolveGrant(ctx, tx, p, "revoke", g); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM assignments WHERE type = $1 AND actor_id = $2
			AND target_id = $3 AND role_id = $4 AND inherited = $5`, g.typ(), g.actor(), g.target(), g.RoleID, g.Inherited)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return assignmentNotFound(g)
		}
		if g.UserID == "" || g.System {
			return nil
		}
		e := RevocationEvent{UserID: g.UserID, ProjectID: g.ProjectID}
		if g.ProjectID == "" {
			e.DomainID = g.DomainID
		}
		return s.revoke(ctx, tx, e)
	})
}

// ListGrants lists the roles granted directly to g's actor on g's target.
func (s *Service) ListGrants(ctx context.Context, p *authn.Principal, g GrantRef) ([]Role, error) {
	g.RoleID = ""
	if _, err := s.resolveGrant(ctx, s.db, p, "list", g); err != nil {
		return nil, err
	}
	return queryRoles(ctx, s.db, `SELECT r.id, r.name, r.domain_id, r.description, r.options, r.extra FROM roles r
		JOIN assignments a ON a.role_id = r.id WHERE a.type = $1 AND a.actor_id = $2 AND a.target_id = $3
		AND a.inherited = $4 ORDER BY r.name`, g.typ(), g.actor(), g.target(), g.Inherited)
}

// Role assignments, GET /v3/role_assignments.

// AssignmentFilter is the query of GET /v3/role_assignments.
type AssignmentFilter struct {
	UserID, GroupID, RoleID, ProjectID, DomainID string
	System                                       string // "all" to list system assignments
	Inherited                                    *bool  // scope.OS-INHERIT:inherited_to
	Effective, IncludeNames, IncludeSubtree      bool
}

// Named carries the names include_names adds.
type Named struct {
	Name, DomainID, DomainName string
}

// RoleAssignment is one entry of the listing. Source is the stored grant
// it comes from; in effective mode the entry may be reached through a
// group (ViaGroup), inheritance (Source.Inherited) or an implied role
// (Source.RoleID differs from RoleID).
type RoleAssignment struct {
	UserID, GroupID, RoleID string
	ProjectID, DomainID     string
	System                  bool
	Inherited               bool
	Source                  Assignment
	ViaGroup                string

	// With include_names: keyed by "user", "group", "project", "domain", "role".
	Names map[string]Named
}

func isUserType(t string) bool {
	return t == UserProject || t == UserDomain || t == UserSystem
}

func allAssignments(ctx context.Context, q queryer) ([]Assignment, error) {
	rows, err := q.QueryContext(ctx, `SELECT type, actor_id, target_id, role_id, inherited FROM assignments
		ORDER BY type, actor_id, target_id, role_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Assignment
	for rows.Next() {
		var a Assignment
		if err := rows.Scan(&a.Type, &a.ActorID, &a.TargetID, &a.RoleID, &a.Inherited); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func validateAssignmentFilter(f AssignmentFilter) error {
	switch {
	case f.DomainID != "" && f.ProjectID != "":
		return fault.BadRequestf("Specify a domain or project, not both")
	case f.DomainID != "" && f.System != "":
		return fault.BadRequestf("Specify system or domain, not both")
	case f.ProjectID != "" && f.System != "":
		return fault.BadRequestf("Specify system or project, not both")
	case f.UserID != "" && f.GroupID != "":
		return fault.BadRequestf("Specify a user or group, not both")
	case f.Effective && f.GroupID != "":
		return fault.BadRequestf("Combining effective and group filter will always result in an empty list.")
	case f.Effective && f.Inherited != nil && *f.Inherited && f.DomainID != "":
		return fault.BadRequestf("Combining effective, domain and inherited filters will always result in an empty list.")
	}
	return nil
}

// ListRoleAssignments lists assignments as Keystone does, optionally
// effective: group grants become their members' entries, inherited grants
// land on the projects below their target, implied roles are added and
// domain-specific roles leave only what they imply.
func (s *Service) ListRoleAssignments(ctx context.Context, p *authn.Principal, f AssignmentFilter) ([]RoleAssignment, error) {
	if f.IncludeSubtree {
		target := map[string]any{}
		var proj *Project
		if f.ProjectID != "" {
			var err error
			if proj, err = getProject(ctx, s.db, f.ProjectID); err != nil {
				return nil, err
			}
			target["project"] = map[string]any{"id": proj.ID, "domain_id": proj.DomainID}
			target["domain_id"] = proj.DomainID
		}
		if err := s.authorize(p, "identity:list_role_assignments_for_tree", target); err != nil {
			return nil, err
		}
		if proj == nil {
			return nil, fault.BadRequestf("scope.project.id must be specified if include_subtree is also specified")
		}
	} else {
		target := map[string]any{}
		if p != nil && p.DomainID != "" {
			target["domain_id"] = p.DomainID
		}
		if err := s.authorize(p, "identity:list_role_assignments", target); err != nil {
			return nil, err
		}
	}
	if err := validateAssignmentFilter(f); err != nil {
		return nil, err
	}
	list, err := s.roleAssignments(ctx, f)
	if err != nil {
		return nil, err
	}
	if p != nil && p.DomainID != "" && !f.IncludeSubtree {
		list, err = s.inDomain(ctx, list, p.DomainID)
		if err != nil {
			return nil, err
		}
	}
	if f.IncludeNames {
		if err := s.addNames(ctx, list); err != nil {
			return nil, err
		}
	}
	return list, nil
}

func (s *Service) roleAssignments(ctx context.Context, f AssignmentFilter) ([]RoleAssignment, error) {
	rows, err := allAssignments(ctx, s.db)
	if err != nil {
		return nil, err
	}
	// The projects a project scope covers.
	var projects map[string]bool
	if f.ProjectID != "" {
		projects = map[string]bool{f.ProjectID: true}
		if f.IncludeSubtree {
			sub, err := projectSubtree(ctx, s.db, f.ProjectID)
			if err != nil {
				return nil, err
			}
			for _, id := range sub {
				projects[id] = true
			}
		}
	}
	// The actors a user filter covers: the user, and its groups when effective.
	actors := map[string]bool{}
	if f.UserID != "" {
		actors[f.UserID] = true
		if f.Effective {
			if u, err := s.getUser(ctx, s.db, f.UserID); err == nil {
				groups, err := s.groupsOfUser(ctx, s.db, u)
				if err != nil {
					return nil, err
				}
				for _, g := range groups {
					actors[g.ID] = true
				}
			} else if !fault.Is(err, fault.NotFound) {
				return nil, err
			}
		}
	}
	keep := func(ra *RoleAssignment) bool {
		switch {
		case f.RoleID != "" && ra.RoleID != f.RoleID,
			projects != nil && !projects[ra.ProjectID],
			f.DomainID != "" && ra.DomainID != f.DomainID,
			f.System != "" && !ra.System,
			f.UserID != "" && ra.UserID != f.UserID,
			f.GroupID != "" && ra.GroupID != f.GroupID:
			return false
		}
		return true
	}
	var out []RoleAssignment
	if !f.Effective {
		for _, a := range rows {
			if f.Inherited != nil && a.Inherited != *f.Inherited {
				continue
			}
			ra := entryOf(a)
			if keep(&ra) {
				out = append(out, ra)
			}
		}
		return out, nil
	}

	roles, err := queryRoles(ctx, s.db, `SELECT `+roleColumns+` FROM roles`)
	if err != nil {
		return nil, err
	}
	domainRole := map[string]bool{}
	for _, r := range roles {
		domainRole[r.ID] = r.DomainID != ""
	}
	members := map[string][]string{}
	implied := map[string][]string{}
	for _, a := range rows {
		if f.Inherited != nil && a.Inherited != *f.Inherited {
			continue
		}
		if f.UserID != "" && !actors[a.ActorID] {
			continue
		}
		// Who: the user, or the group's members.
		var users []string
		via := ""
		if isUserType(a.Type) {
			users = []string{a.ActorID}
		} else {
			via = a.ActorID
			if f.UserID != "" {
				users = []string{f.UserID}
			} else {
				if _, ok := members[a.ActorID]; !ok {
					if members[a.ActorID], err = s.groupMemberIDs(ctx, a.ActorID); err != nil {
						return nil, err
					}
				}
				users = members[a.ActorID]
			}
		}
		// Where: the target, or the projects an inherited grant reaches.
		base := entryOf(a)
		base.GroupID = ""
		var scopes []RoleAssignment
		if !a.Inherited {
			scopes = []RoleAssignment{base}
		} else {
			var ids []string
			if a.Type == UserProject || a.Type == GroupProject {
				ids, err = projectSubtree(ctx, s.db, a.TargetID)
			} else {
				ids, err = collectProjectsOfDomain(ctx, s.db, a.TargetID)
			}
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				sc := base
				sc.DomainID, sc.ProjectID = "", id
				scopes = append(scopes, sc)
			}
		}
		// What: the role and all it implies.
		if _, ok := implied[a.RoleID]; !ok {
			rs := roleSet{a.RoleID: true}
			if err := expandImplied(ctx, s.db, rs); err != nil {
				return nil, err
			}
			implied[a.RoleID] = rs.ids()
		}
		for _, u := range users {
			for _, sc := range scopes {
				for _, rid := range implied[a.RoleID] {
					if domainRole[rid] {
						continue
					}
					ra := sc
					ra.UserID, ra.ViaGroup, ra.RoleID = u, via, rid
					if keep(&ra) {
						out = append(out, ra)
					}
				}
			}
		}
	}
	return out, nil
}

func entryOf(a Assignment) RoleAssignment {
	ra := RoleAssignment{RoleID: a.RoleID, Inherited: a.Inherited, Source: a}
	if isUserType(a.Type) {
		ra.UserID = a.ActorID
	} else {
		ra.GroupID = a.ActorID
	}
	switch a.Type {
	case UserProject, GroupProject:
		ra.ProjectID = a.TargetID
	case UserDomain, GroupDomain:
		ra.DomainID = a.TargetID
	default:
		ra.System = true
	}
	return ra
}

// groupMemberIDs lists a group's members, SQL and directory alike.
func (s *Service) groupMemberIDs(ctx context.Context, groupID string) ([]string, error) {
	g, err := s.getGroup(ctx, s.db, groupID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, nil
		}
		return nil, err
	}
	if s.ldapFor(g.DomainID) != nil {
		us, err := s.mappedUsersInGroup(ctx, g)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(us))
		for i, u := range us {
			ids[i] = u.ID
		}
		return ids, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT user_id FROM user_groups WHERE group_id = $1 ORDER BY user_id`, groupID)
	if err != nil {
		return nil, err
	}
	return collectStrings(rows)
}

// inDomain keeps the entries on domainID or its projects, for callers
// scoped to a domain.
func (s *Service) inDomain(ctx context.Context, list []RoleAssignment, domainID string) ([]RoleAssignment, error) {
	cache := map[string]string{}
	var out []RoleAssignment
	for _, ra := range list {
		if ra.DomainID == domainID {
			out = append(out, ra)
			continue
		}
		if ra.ProjectID == "" {
			continue
		}
		d, ok := cache[ra.ProjectID]
		if !ok {
			if pr, err := getProject(ctx, s.db, ra.ProjectID); err == nil {
				d = pr.DomainID
			} else if !fault.Is(err, fault.NotFound) {
				return nil, err
			}
			cache[ra.ProjectID] = d
		}
		if d == domainID {
			out = append(out, ra)
		}
	}
	return out, nil
}

// addNames fills Names for include_names.
func (s *Service) addNames(ctx context.Context, list []RoleAssignment) error {
	domains := map[string]string{}
	domainName := func(id string) string {
		if id == "" {
			return ""
		}
		if n, ok := domains[id]; ok {
			return n
		}
		if d, err := getDomain(ctx, s.db, id); err == nil {
			domains[id] = d.Name
		}
		return domains[id]
	}
	cache := map[string]Named{}
	lookup := func(kind, id string) (Named, error) {
		key := kind + "/" + id
		if n, ok := cache[key]; ok {
			return n, nil
		}
		var n Named
		var err error
		switch kind {
		case "user":
			var u *User
			if u, err = s.getUser(ctx, s.db, id); err == nil {
				n = Named{Name: u.Name, DomainID: u.DomainID}
			}
		case "group":
			var g *Group
			if g, err = s.getGroup(ctx, s.db, id); err == nil {
				n = Named{Name: g.Name, DomainID: g.DomainID}
			}
		case "project":
			var pr *Project
			if pr, err = getProject(ctx, s.db, id); err == nil {
				n = Named{Name: pr.Name, DomainID: pr.DomainID}
			}
		case "domain":
			n = Named{Name: domainName(id)}
		case "role":
			var r *Role
			if r, err = getRole(ctx, s.db, id); err == nil {
				n = Named{Name: r.Name, DomainID: r.DomainID}
			}
		}
		if err != nil && !fault.Is(err, fault.NotFound) {
			return n, err
		}
		n.DomainName = domainName(n.DomainID)
		cache[key] = n
		return n, nil
	}
	for i := range list {
		ra := &list[i]
		ra.Names = map[string]Named{}
		for kind, id := range map[string]string{"user": ra.UserID, "group": ra.GroupID, "project": ra.ProjectID,
			"domain": ra.DomainID, "role": ra.RoleID} {
			if id == "" {
				continue
			}
			n, err := lookup(kind, id)
			if err != nil {
				return err
			}
			ra.Names[kind] = n
		}
	}
	return nil
}

// sortAssignments orders entries stably for output.
func sortAssignments(list []RoleAssignment) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.UserID+a.GroupID != b.UserID+b.GroupID {
			return a.UserID+a.GroupID < b.UserID+b.GroupID
		}
		if a.ProjectID+a.DomainID != b.ProjectID+b.DomainID {
			return a.ProjectID+a.DomainID < b.ProjectID+b.DomainID
		}
		return a.RoleID < b.RoleID
	})
}
