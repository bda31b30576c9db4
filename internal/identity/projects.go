package identity

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const projectColumns = `id, name, domain_id, COALESCE(parent_id, ''), description, enabled, extra`

func scanProject(row interface{ Scan(...any) error }) (*Project, error) {
	var p Project
	var extra string
	if err := row.Scan(&p.ID, &p.Name, &p.DomainID, &p.ParentID, &p.Description, &p.Enabled, &extra); err != nil {
		return nil, err
	}
	p.Extra = decodeExtra(extra)
	return &p, nil
}

func getProject(ctx context.Context, q queryer, id string) (*Project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find project: %s.", id)
	}
	if err != nil {
		return nil, err
	}
	p.Tags, err = projectTags(ctx, q, id)
	return p, err
}

func getProjectByName(ctx context.Context, q queryer, domainID, name string) (*Project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, `SELECT `+projectColumns+` FROM projects WHERE domain_id = $1 AND name = $2`, domainID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find project: %s.", name)
	}
	if err != nil {
		return nil, err
	}
	p.Tags, err = projectTags(ctx, q, p.ID)
	return p, err
}

func projectTags(ctx context.Context, q queryer, id string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag FROM project_tags WHERE project_id = $1 ORDER BY tag`, id)
	if err != nil {
		return nil, err
	}
	tags, err := collectStrings(rows)
	if tags == nil {
		tags = []string{}
	}
	return tags, err
}

func projectTarget(p *Project) map[string]any {
	return map[string]any{"project": map[string]any{"id": p.ID, "domain_id": p.DomainID, "name": p.Name}}
}

// ProjectFilter narrows ListProjects.
type ProjectFilter struct {
	Name, DomainID, ParentID string
	Enabled                  *bool
	IsDomain                 *bool
	Tags, TagsAny            []string
	NotTags, NotTagsAny      []string
}

// ListProjects lists projects the caller may see.
func (s *Service) ListProjects(ctx context.Context, p *authn.Principal, f ProjectFilter) ([]Project, error) {
	if err := s.authorize(p, "identity:list_projects", map[string]any{"domain_id": f.DomainID}); err != nil {
		return nil, err
	}
	if f.IsDomain != nil && *f.IsDomain {
		return s.listDomainsAsProjects(ctx, p, f)
	}
	q := newWhere()
	q.eq("name", f.Name)
	q.eq("domain_id", f.DomainID)
	if f.ParentID != "" {
		if f.ParentID == f.DomainID {
			q.add("parent_id IS NULL")
		} else if _, err := getDomain(ctx, s.db, f.ParentID); err == nil {
			q.add("parent_id IS NULL AND domain_id = ?", f.ParentID)
		} else {
			q.eq("parent_id", f.ParentID)
		}
	}
	q.eqBool("enabled", f.Enabled)
	return s.queryProjects(ctx, q, f)
}

func (s *Service) queryProjects(ctx context.Context, q *where, f ProjectFilter) ([]Project, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+projectColumns+` FROM projects`+q.sql()+` ORDER BY name`, q.args...)
	if err != nil {
		return nil, err
	}
	var out []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, *p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for i := range out {
		tags, err := projectTags(ctx, s.db, out[i].ID)
		if err != nil {
			return nil, err
		}
		out[i].Tags = tags
		if tagsMatch(tags, f) {
			kept = append(kept, out[i])
		}
	}
	return kept, nil
}

func tagsMatch(tags []string, f ProjectFilter) bool {
	has := func(t string) bool {
		for _, x := range tags {
			if x == t {
				return true
			}
		}
		return false
	}
	all := func(want []string) bool {
		for _, t := range want {
			if !has(t) {
				return false
			}
		}
		return true
	}
	anyOf := func(want []string) bool {
		for _, t := range want {
			if has(t) {
				return true
			}
		}
		return false
	}
	if len(f.Tags) > 0 && !all(f.Tags) {
		return false
	}
	if len(f.TagsAny) > 0 && !anyOf(f.TagsAny) {
		return false
	}
	if len(f.NotTags) > 0 && all(f.NotTags) {
		return false
	}
	if len(f.NotTagsAny) > 0 && anyOf(f.NotTagsAny) {
		return false
	}
	return true
}

// GetProject returns one project, or a domain in project form.
func (s *Service) GetProject(ctx context.Context, p *authn.Principal, id string) (*Project, error) {
	proj, err := getProject(ctx, s.db, id)
	if err != nil {
		if d := s.domainActingAsProject(ctx, err, id); d != nil {
			return s.getDomainAsProject(ctx, p, d)
		}
		if fault.Is(err, fault.NotFound) {
			if aerr := s.authorize(p, "identity:get_project", map[string]any{"project": map[string]any{"id": id}}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.authorize(p, "identity:get_project", projectTarget(proj)); err != nil {
		return nil, err
	}
	return proj, nil
}

// CreateProject makes a project, under ParentID if set, or a domain when
// IsDomain is set.
func (s *Service) CreateProject(ctx context.Context, p *authn.Principal, proj Project) (*Project, error) {
	if proj.IsDomain {
		return s.createDomainAsProject(ctx, p, proj)
	}
	if err := validName("project", proj.Name); err != nil {
		return nil, err
	}
	if err := validTags(proj.Tags); err != nil {
		return nil, err
	}
	if proj.ID == "" {
		proj.ID = newID()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if proj.ParentID != "" {
			parent, err := getProject(ctx, tx, proj.ParentID)
			if fault.Is(err, fault.NotFound) {
				// A domain id as parent means a top-level project.
				if d, derr := getDomain(ctx, tx, proj.ParentID); derr == nil {
					if proj.DomainID != "" && proj.DomainID != d.ID {
						return fault.BadRequestf("Cannot create project, the parent (%s) is acting as a domain, but this project's domain id (%s) does not match the parent's id.", d.ID, proj.DomainID)
					}
					proj.DomainID, proj.ParentID = d.ID, ""
					parent = nil
				} else {
					return fault.NotFoundf("Could not find project: %s.", proj.ParentID)
				}
			} else if err != nil {
				return err
			}
			if parent != nil {
				if proj.DomainID != "" && proj.DomainID != parent.DomainID {
					return fault.BadRequestf("Cannot create project, since it specifies its domain_id %s, but specifies a parent in a different domain (%s).", proj.DomainID, parent.DomainID)
				}
				proj.DomainID = parent.DomainID
				if !parent.Enabled && proj.Enabled {
					return fault.Forbiddenf("cannot create project %s with enabled=True within a disabled parent %s", proj.Name, parent.ID)
				}
			}
		}
		if proj.DomainID == "" {
			proj.DomainID = s.defaultDomainFor(p)
		}
		// Policy first, as Keystone enforces it before looking anything
		// up, so only those allowed to create here learn whether the
		// domain exists. Keystone turns DomainNotFound into a 400 here.
		if err := s.authorize(p, "identity:create_project", projectTarget(&proj)); err != nil {
			return err
		}
		if _, err := getDomain(ctx, tx, proj.DomainID); err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.BadRequestf("Could not find domain: %s.", proj.DomainID)
			}
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO projects (id, name, domain_id, parent_id, description, enabled, extra)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			proj.ID, proj.Name, proj.DomainID, nullString(proj.ParentID), proj.Description, proj.Enabled, encodeExtra(proj.Extra))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : %s.", proj.Name)
		}
		if err != nil {
			return err
		}
		return setProjectTags(ctx, tx, proj.ID, proj.Tags)
	})
	if err != nil {
		return nil, err
	}
	if proj.Tags == nil {
		proj.Tags = []string{}
	}
	return &proj, nil
}

// defaultDomainFor is the domain a new entity lands in when the request
// names none: the caller's domain scope, else its project's domain.
func (s *Service) defaultDomainFor(p *authn.Principal) string {
	switch {
	case p == nil:
		return DefaultDomainID
	case p.DomainID != "":
		return p.DomainID
	case p.ProjectDomainID != "":
		return p.ProjectDomainID
	}
	return DefaultDomainID
}

func setProjectTags(ctx context.Context, tx *sql.Tx, id string, tags []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM project_tags WHERE project_id = $1`, id); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO project_tags (project_id, tag) VALUES ($1, $2)`, id, t); err != nil {
			return err
		}
	}
	return nil
}

func validTags(tags []string) error {
	if len(tags) > 80 {
		return fault.BadRequestf("Invalid input for field 'tags': a project may have at most 80 tags.")
	}
	for _, t := range tags {
		if err := validTag(t); err != nil {
			return err
		}
	}
	return nil
}

func validTag(t string) error {
	if t == "" || len(t) > 255 || strings.ContainsAny(t, "/,") {
		return fault.BadRequestf("Invalid input for field 'tags': tags must be 1 to 255 characters without '/' or ','.")
	}
	return nil
}

// ProjectPatch holds the fields an update changes.
type ProjectPatch struct {
	Name, Description, DomainID, ParentID *string
	Enabled                               *bool
	IsDomain                              *bool // may only repeat what the project is
	Tags                                  *[]string
	Extra                                 map[string]any
}

// UpdateProject changes a project, or a domain addressed as one. Its
// domain and parent cannot move.
func (s *Service) UpdateProject(ctx context.Context, p *authn.Principal, id string, patch ProjectPatch) (*Project, error) {
	if _, err := getProject(ctx, s.db, id); err != nil {
		if d := s.domainActingAsProject(ctx, err, id); d != nil {
			return s.updateDomainAsProject(ctx, p, d.ID, patch)
		}
	}
	var out *Project
	err := s.tx(ctx, func(tx *sql.Tx) error {
		proj, err := getProject(ctx, tx, id)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				if aerr := s.authorize(p, "identity:update_project", map[string]any{"project": map[string]any{"id": id}}); aerr != nil {
					return aerr
				}
			}
			return err
		}
		if err := s.authorize(p, "identity:update_project", projectTarget(proj)); err != nil {
			return err
		}
		if patch.DomainID != nil && *patch.DomainID != proj.DomainID {
			return fault.BadRequestf("Update of `domain_id` is not allowed.")
		}
		if patch.IsDomain != nil && *patch.IsDomain {
			return fault.BadRequestf("Update of `is_domain` is not allowed.")
		}
		if patch.ParentID != nil && *patch.ParentID != proj.ParentID && *patch.ParentID != proj.DomainID {
			return fault.Forbiddenf("Update of `parent_id` is not allowed.")
		}
		if patch.Name != nil {
			if err := validName("project", *patch.Name); err != nil {
				return err
			}
			proj.Name = *patch.Name
		}
		if patch.Description != nil {
			proj.Description = *patch.Description
		}
		wasEnabled := proj.Enabled
		if patch.Enabled != nil {
			proj.Enabled = *patch.Enabled
		}
		if wasEnabled && !proj.Enabled {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE parent_id = $1 AND enabled = $2`, id, true).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fault.Forbiddenf("Cannot disable project %s since its subtree contains enabled projects.", id)
			}
		}
		if !wasEnabled && proj.Enabled && proj.ParentID != "" {
			parent, err := getProject(ctx, tx, proj.ParentID)
			if err != nil {
				return err
			}
			if !parent.Enabled {
				return fault.Forbiddenf("Cannot enable project %s since it has disabled parents.", id)
			}
		}
		if patch.Tags != nil {
			if err := validTags(*patch.Tags); err != nil {
				return err
			}
			if err := setProjectTags(ctx, tx, id, *patch.Tags); err != nil {
				return err
			}
			proj.Tags = append([]string{}, *patch.Tags...)
			sort.Strings(proj.Tags)
		}
		mergeExtra(&proj.Extra, patch.Extra)
		_, err = tx.ExecContext(ctx, `UPDATE projects SET name = $2, description = $3, enabled = $4, extra = $5 WHERE id = $1`,
			id, proj.Name, proj.Description, proj.Enabled, encodeExtra(proj.Extra))
		if db.IsUniqueViolation(err) {
			return fault.Conflictf("Conflict occurred attempting to update project - it is not permitted to have two projects with the same name in the same domain : %s.", proj.Name)
		}
		if err != nil {
			return err
		}
		if wasEnabled && !proj.Enabled {
			if err := s.revoke(ctx, tx, RevocationEvent{ProjectID: id}); err != nil {
				return err
			}
		}
		out = proj
		return nil
	})
	return out, err
}

// DeleteProject removes a project that has no children, or a disabled
// domain addressed as a project.
func (s *Service) DeleteProject(ctx context.Context, p *authn.Principal, id string) error {
	if _, err := getProject(ctx, s.db, id); err != nil {
		if d := s.domainActingAsProject(ctx, err, id); d != nil {
			return s.DeleteDomain(ctx, p, d.ID)
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		proj, err := getProject(ctx, tx, id)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				if aerr := s.authorize(p, "identity:delete_project", map[string]any{"project": map[string]any{"id": id}}); aerr != nil {
					return aerr
				}
			}
			return err
		}
		if err := s.authorize(p, "identity:delete_project", projectTarget(proj)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM projects WHERE parent_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fault.Forbiddenf("Cannot delete the project %s since it is not a leaf in the hierarchy. Use the cascade option if you want to delete a whole subtree.", id)
		}
		if err := deleteProjectRows(ctx, tx, id); err != nil {
			return err
		}
		return s.revoke(ctx, tx, RevocationEvent{ProjectID: id})
	})
}

func deleteProjectRows(ctx context.Context, tx *sql.Tx, id string) error {
	for _, stmt := range []string{
		`DELETE FROM assignments WHERE target_id = $1`,
		`DELETE FROM application_credentials WHERE project_id = $1`,
		`DELETE FROM project_tags WHERE project_id = $1`,
		`DELETE FROM projects WHERE id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, stmt, id); err != nil {
			return err
		}
	}
	return nil
}

// projectAncestors returns the ids of id's parents, nearest first.
func projectAncestors(ctx context.Context, q queryer, id string) ([]string, error) {
	var out []string
	seen := map[string]bool{id: true}
	cur := id
	for {
		var parent sql.NullString
		err := q.QueryRowContext(ctx, `SELECT parent_id FROM projects WHERE id = $1`, cur).Scan(&parent)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !parent.Valid) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if seen[parent.String] {
			return out, nil
		}
		seen[parent.String] = true
		out = append(out, parent.String)
		cur = parent.String
	}
}

// projectSubtree returns the ids of every project under id.
func projectSubtree(ctx context.Context, q queryer, id string) ([]string, error) {
	var out []string
	frontier := []string{id}
	for len(frontier) > 0 {
		var next []string
		for _, pid := range frontier {
			rows, err := q.QueryContext(ctx, `SELECT id FROM projects WHERE parent_id = $1`, pid)
			if err != nil {
				return nil, err
			}
			kids, err := collectStrings(rows)
			if err != nil {
				return nil, err
			}
			next = append(next, kids...)
		}
		out = append(out, next...)
		frontier = next
	}
	return out, nil
}

// Project tags, /v3/projects/{id}/tags.

// ProjectTags lists a project's tags.
func (s *Service) ProjectTags(ctx context.Context, p *authn.Principal, id string) ([]string, error) {
	proj, err := s.GetProject(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return proj.Tags, nil
}

// AddProjectTag adds one tag.
func (s *Service) AddProjectTag(ctx context.Context, p *authn.Principal, id, tag string) error {
	if err := validTag(tag); err != nil {
		return err
	}
	return s.changeTags(ctx, p, id, func(tags []string) ([]string, error) {
		for _, t := range tags {
			if t == tag {
				return tags, nil
			}
		}
		if len(tags) >= 80 {
			return nil, fault.BadRequestf("Invalid input for field 'tags': a project may have at most 80 tags.")
		}
		return append(tags, tag), nil
	})
}

// HasProjectTag reports 204/404 for HEAD and GET of one tag.
func (s *Service) HasProjectTag(ctx context.Context, p *authn.Principal, id, tag string) error {
	tags, err := s.ProjectTags(ctx, p, id)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if t == tag {
			return nil
		}
	}
	return fault.NotFoundf("Tag %s not found for project %s.", tag, id)
}

// DeleteProjectTag removes one tag.
func (s *Service) DeleteProjectTag(ctx context.Context, p *authn.Principal, id, tag string) error {
	return s.changeTags(ctx, p, id, func(tags []string) ([]string, error) {
		for i, t := range tags {
			if t == tag {
				return append(tags[:i], tags[i+1:]...), nil
			}
		}
		return nil, fault.NotFoundf("Tag %s not found for project %s.", tag, id)
	})
}

// SetProjectTags replaces all tags.
func (s *Service) SetProjectTags(ctx context.Context, p *authn.Principal, id string, tags []string) ([]string, error) {
	if err := validTags(tags); err != nil {
		return nil, err
	}
	var out []string
	err := s.changeTags(ctx, p, id, func([]string) ([]string, error) { out = tags; return tags, nil })
	return out, err
}

func (s *Service) changeTags(ctx context.Context, p *authn.Principal, id string, change func([]string) ([]string, error)) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		proj, err := getProject(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := s.authorize(p, "identity:update_project", projectTarget(proj)); err != nil {
			return err
		}
		tags, err := change(proj.Tags)
		if err != nil {
			return err
		}
		return setProjectTags(ctx, tx, id, tags)
	})
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
