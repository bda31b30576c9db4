package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// OS-EP-FILTER: projects associated with endpoints, directly or through
// endpoint groups. Keystone uses these associations to cut a project-scoped
// token's catalog only when its endpoint_filter catalog driver is
// configured; Nimbus serves the associations but leaves the catalog whole,
// as Keystone's default sql driver does.

// EndpointGroup is a named filter over endpoints' interface, service_id and
// region_id. A nil Description is shown as null.
type EndpointGroup struct {
	ID, Name    string
	Description *string
	Filters     map[string]string
}

// endpointGroupFilterKeys are the endpoint attributes a group may filter on.
var endpointGroupFilterKeys = []string{"service_id", "region_id", "interface"}

// matches says whether ep has every attribute the group filters on.
func (g *EndpointGroup) matches(ep *Endpoint) bool {
	for k, v := range g.Filters {
		var have string
		switch k {
		case "service_id":
			have = ep.ServiceID
		case "region_id":
			have = ep.RegionID
		case "interface":
			have = ep.Interface
		default:
			return false
		}
		if have != v {
			return false
		}
	}
	return true
}

// validEndpointGroupFilters checks filters as Keystone does: at least one,
// only known keys, string values, interface one of the three.
func validEndpointGroupFilters(f map[string]string) error {
	if len(f) == 0 {
		return fault.BadRequestf("filters field is required and cannot be empty")
	}
	for k, v := range f {
		known := false
		for _, kn := range endpointGroupFilterKeys {
			known = known || k == kn
		}
		if !known {
			return fault.BadRequestf("Expecting to find service_id or region_id or interface in endpoint_group. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
		}
		if k == "interface" {
			if err := validInterface(v); err != nil {
				return err
			}
		}
	}
	return nil
}

const endpointGroupColumns = `id, name, description, filters`

func scanEndpointGroup(row interface{ Scan(...any) error }) (*EndpointGroup, error) {
	var g EndpointGroup
	var desc sql.NullString
	var filters string
	if err := row.Scan(&g.ID, &g.Name, &desc, &filters); err != nil {
		return nil, err
	}
	if desc.Valid {
		g.Description = &desc.String
	}
	if err := json.Unmarshal([]byte(filters), &g.Filters); err != nil {
		return nil, fmt.Errorf("endpoint group %s filters: %w", g.ID, err)
	}
	return &g, nil
}

func getEndpointGroup(ctx context.Context, q queryer, id string) (*EndpointGroup, error) {
	g, err := scanEndpointGroup(q.QueryRowContext(ctx, `SELECT `+endpointGroupColumns+` FROM endpoint_groups WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find endpoint group: %s.", id)
	}
	return g, err
}

func queryEndpointGroups(ctx context.Context, q queryer, query string, args ...any) ([]EndpointGroup, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EndpointGroup
	for rows.Next() {
		g, err := scanEndpointGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

func encodeFilters(f map[string]string) string {
	b, _ := json.Marshal(f) // a map of strings always encodes
	return string(b)
}

func nullableString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// ListEndpointGroups lists endpoint groups, optionally those named name.
func (s *Service) ListEndpointGroups(ctx context.Context, p *authn.Principal, name string) ([]EndpointGroup, error) {
	if err := s.authorize(p, "identity:list_endpoint_groups", nil); err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("name", name)
	return queryEndpointGroups(ctx, s.db, `SELECT `+endpointGroupColumns+` FROM endpoint_groups`+q.sql()+` ORDER BY name, id`, q.args...)
}

// GetEndpointGroup returns one endpoint group.
func (s *Service) GetEndpointGroup(ctx context.Context, p *authn.Principal, id string) (*EndpointGroup, error) {
	if err := s.authorize(p, "identity:get_endpoint_group", nil); err != nil {
		return nil, err
	}
	return getEndpointGroup(ctx, s.db, id)
}

func validEndpointGroupName(name string) error {
	if name == "" || len(name) > 255 {
		return fault.BadRequestf("Invalid input for field 'name': 'name' must be a string of 1 to 255 characters.")
	}
	return nil
}

// CreateEndpointGroup adds an endpoint group.
func (s *Service) CreateEndpointGroup(ctx context.Context, p *authn.Principal, g EndpointGroup) (*EndpointGroup, error) {
	if err := s.authorize(p, "identity:create_endpoint_group", nil); err != nil {
		return nil, err
	}
	if err := validEndpointGroupName(g.Name); err != nil {
		return nil, err
	}
	if err := validEndpointGroupFilters(g.Filters); err != nil {
		return nil, err
	}
	g.ID = newID()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO endpoint_groups (`+endpointGroupColumns+`) VALUES ($1, $2, $3, $4)`,
			g.ID, g.Name, nullableString(g.Description), encodeFilters(g.Filters))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &g, nil
}

// EndpointGroupPatch holds the fields an update changes; nil leaves a field
// alone. ClearDescription sets the description to null.
type EndpointGroupPatch struct {
	Name             *string
	Description      *string
	ClearDescription bool
	Filters          map[string]string // nil = unchanged
}

// UpdateEndpointGroup changes an endpoint group.
func (s *Service) UpdateEndpointGroup(ctx context.Context, p *authn.Principal, id string, patch EndpointGroupPatch) (*EndpointGroup, error) {
	if err := s.authorize(p, "identity:update_endpoint_group", nil); err != nil {
		return nil, err
	}
	if patch.Name != nil {
		if err := validEndpointGroupName(*patch.Name); err != nil {
			return nil, err
		}
	}
	if patch.Filters != nil {
		if err := validEndpointGroupFilters(patch.Filters); err != nil {
			return nil, err
		}
	}
	var out *EndpointGroup
	err := s.tx(ctx, func(tx *sql.Tx) error {
		g, err := getEndpointGroup(ctx, tx, id)
		if err != nil {
			return err
		}
		if patch.Name != nil {
			g.Name = *patch.Name
		}
		if patch.Description != nil {
			g.Description = patch.Description
		}
		if patch.ClearDescription {
			g.Description = nil
		}
		if patch.Filters != nil {
			g.Filters = patch.Filters
		}
		if _, err := tx.ExecContext(ctx, `UPDATE endpoint_groups SET name = $2, description = $3, filters = $4 WHERE id = $1`,
			g.ID, g.Name, nullableString(g.Description), encodeFilters(g.Filters)); err != nil {
			return err
		}
		out = g
		return nil
	})
	return out, err
}

// DeleteEndpointGroup removes an endpoint group and its project associations.
func (s *Service) DeleteEndpointGroup(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, "identity:delete_endpoint_group", nil); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getEndpointGroup(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM project_endpoint_groups WHERE endpoint_group_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM endpoint_groups WHERE id = $1`, id)
		return err
	})
}

// allEndpoints lists every endpoint, ordered as ListEndpoints orders them.
func allEndpoints(ctx context.Context, q queryer) ([]Endpoint, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+endpointColumns+` FROM endpoints ORDER BY service_id, interface, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Endpoint
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *ep)
	}
	return out, rows.Err()
}

// ListEndpointsInGroup lists the endpoints an endpoint group's filters match.
func (s *Service) ListEndpointsInGroup(ctx context.Context, p *authn.Principal, groupID string) ([]Endpoint, error) {
	if err := s.authorize(p, "identity:list_endpoints_associated_with_endpoint_group", nil); err != nil {
		return nil, err
	}
	g, err := getEndpointGroup(ctx, s.db, groupID)
	if err != nil {
		return nil, err
	}
	eps, err := allEndpoints(ctx, s.db)
	if err != nil {
		return nil, err
	}
	var out []Endpoint
	for i := range eps {
		if g.matches(&eps[i]) {
			out = append(out, eps[i])
		}
	}
	return out, nil
}

// Project <-> endpoint associations.

// AddEndpointToProject associates an endpoint with a project directly.
func (s *Service) AddEndpointToProject(ctx context.Context, p *authn.Principal, projectID, endpointID string) error {
	if err := s.authorize(p, "identity:add_endpoint_to_project", nil); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getEndpoint(ctx, tx, endpointID); err != nil {
			return err
		}
		if _, err := getProject(ctx, tx, projectID); err != nil {
			return err
		}
		ok, err := projectEndpointExists(ctx, tx, projectID, endpointID)
		if err != nil {
			return err
		}
		if ok {
			return fault.Conflictf("Conflict occurred attempting to store project_endpoint - Duplicate entry.")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO project_endpoints (endpoint_id, project_id) VALUES ($1, $2)`, endpointID, projectID)
		return err
	})
}

func projectEndpointExists(ctx context.Context, q queryer, projectID, endpointID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_endpoints WHERE endpoint_id = $1 AND project_id = $2`, endpointID, projectID).Scan(&n)
	return n > 0, err
}

func errProjectEndpointNotFound(projectID, endpointID string) error {
	return fault.NotFoundf("Endpoint %s not found in project %s", endpointID, projectID)
}

// CheckEndpointInProject fails with NotFound unless the endpoint is
// associated with the project directly.
func (s *Service) CheckEndpointInProject(ctx context.Context, p *authn.Principal, projectID, endpointID string) error {
	if err := s.authorize(p, "identity:check_endpoint_in_project", nil); err != nil {
		return err
	}
	if _, err := getEndpoint(ctx, s.db, endpointID); err != nil {
		return err
	}
	if _, err := getProject(ctx, s.db, projectID); err != nil {
		return err
	}
	ok, err := projectEndpointExists(ctx, s.db, projectID, endpointID)
	if err != nil {
		return err
	}
	if !ok {
		return errProjectEndpointNotFound(projectID, endpointID)
	}
	return nil
}

// RemoveEndpointFromProject removes a direct association.
func (s *Service) RemoveEndpointFromProject(ctx context.Context, p *authn.Principal, projectID, endpointID string) error {
	if err := s.authorize(p, "identity:remove_endpoint_from_project", nil); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM project_endpoints WHERE endpoint_id = $1 AND project_id = $2`, endpointID, projectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errProjectEndpointNotFound(projectID, endpointID)
		}
		return nil
	})
}

// ListEndpointsForProject lists the endpoints associated with a project,
// directly or through its endpoint groups, each once.
func (s *Service) ListEndpointsForProject(ctx context.Context, p *authn.Principal, projectID string) ([]Endpoint, error) {
	if err := s.authorize(p, "identity:list_endpoints_for_project", nil); err != nil {
		return nil, err
	}
	if _, err := getProject(ctx, s.db, projectID); err != nil {
		return nil, err
	}
	direct := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, `SELECT endpoint_id FROM project_endpoints WHERE project_id = $1`, projectID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		direct[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	groups, err := projectEndpointGroups(ctx, s.db, projectID)
	if err != nil {
		return nil, err
	}
	eps, err := allEndpoints(ctx, s.db)
	if err != nil {
		return nil, err
	}
	var out []Endpoint
	for i := range eps {
		keep := direct[eps[i].ID]
		for j := 0; !keep && j < len(groups); j++ {
			keep = groups[j].matches(&eps[i])
		}
		if keep {
			out = append(out, eps[i])
		}
	}
	return out, nil
}

// ListProjectsForEndpoint lists the projects an endpoint is associated with
// directly.
func (s *Service) ListProjectsForEndpoint(ctx context.Context, p *authn.Principal, endpointID string) ([]Project, error) {
	if err := s.authorize(p, "identity:list_projects_for_endpoint", nil); err != nil {
		return nil, err
	}
	if _, err := getEndpoint(ctx, s.db, endpointID); err != nil {
		return nil, err
	}
	return projectsByIDQuery(ctx, s.db, `SELECT project_id FROM project_endpoints WHERE endpoint_id = $1`, endpointID)
}

// projectsByIDQuery loads the projects whose ids query returns, sorted by id.
func projectsByIDQuery(ctx context.Context, q queryer, query string, args ...any) ([]Project, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.Strings(ids)
	out := make([]Project, 0, len(ids))
	for _, id := range ids {
		pr, err := getProject(ctx, q, id)
		if fault.Is(err, fault.NotFound) {
			continue // deleted since; the cascade will catch up
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *pr)
	}
	return out, nil
}

// Endpoint group <-> project associations.

func projectEndpointGroups(ctx context.Context, q queryer, projectID string) ([]EndpointGroup, error) {
	return queryEndpointGroups(ctx, q, `SELECT g.id, g.name, g.description, g.filters FROM endpoint_groups g
		JOIN project_endpoint_groups pg ON pg.endpoint_group_id = g.id WHERE pg.project_id = $1 ORDER BY g.name, g.id`, projectID)
}

func endpointGroupInProject(ctx context.Context, q queryer, groupID, projectID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_endpoint_groups WHERE endpoint_group_id = $1 AND project_id = $2`, groupID, projectID).Scan(&n)
	return n > 0, err
}

var errEndpointGroupProjectNotFound = fault.NotFoundf("Endpoint Group Project Association not found")

// checkGroupAndProject makes sure both exist, project first as Keystone
// checks them.
func checkGroupAndProject(ctx context.Context, q queryer, groupID, projectID string) error {
	if _, err := getProject(ctx, q, projectID); err != nil {
		return err
	}
	_, err := getEndpointGroup(ctx, q, groupID)
	return err
}

// AddEndpointGroupToProject associates an endpoint group with a project.
func (s *Service) AddEndpointGroupToProject(ctx context.Context, p *authn.Principal, groupID, projectID string) error {
	if err := s.authorize(p, "identity:add_endpoint_group_to_project", nil); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkGroupAndProject(ctx, tx, groupID, projectID); err != nil {
			return err
		}
		ok, err := endpointGroupInProject(ctx, tx, groupID, projectID)
		if err != nil {
			return err
		}
		if ok {
			return fault.Conflictf("Conflict occurred attempting to store project_endpoint_group - Duplicate entry.")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO project_endpoint_groups (endpoint_group_id, project_id) VALUES ($1, $2)`, groupID, projectID)
		return err
	})
}

// CheckEndpointGroupInProject fails with NotFound unless the group is
// associated with the project.
func (s *Service) CheckEndpointGroupInProject(ctx context.Context, p *authn.Principal, groupID, projectID string) error {
	if err := s.authorize(p, "identity:get_endpoint_group_in_project", nil); err != nil {
		return err
	}
	if err := checkGroupAndProject(ctx, s.db, groupID, projectID); err != nil {
		return err
	}
	ok, err := endpointGroupInProject(ctx, s.db, groupID, projectID)
	if err != nil {
		return err
	}
	if !ok {
		return errEndpointGroupProjectNotFound
	}
	return nil
}

// RemoveEndpointGroupFromProject removes an endpoint group association.
func (s *Service) RemoveEndpointGroupFromProject(ctx context.Context, p *authn.Principal, groupID, projectID string) error {
	if err := s.authorize(p, "identity:remove_endpoint_group_from_project", nil); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkGroupAndProject(ctx, tx, groupID, projectID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM project_endpoint_groups WHERE endpoint_group_id = $1 AND project_id = $2`, groupID, projectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errEndpointGroupProjectNotFound
		}
		return nil
	})
}

// ListProjectsForEndpointGroup lists the projects associated with an
// endpoint group. Like Keystone, an unknown group has none rather than
// being an error.
func (s *Service) ListProjectsForEndpointGroup(ctx context.Context, p *authn.Principal, groupID string) ([]Project, error) {
	if err := s.authorize(p, "identity:list_projects_associated_with_endpoint_group", nil); err != nil {
		return nil, err
	}
	return projectsByIDQuery(ctx, s.db, `SELECT project_id FROM project_endpoint_groups WHERE endpoint_group_id = $1`, groupID)
}

// ListEndpointGroupsForProject lists the endpoint groups associated with a
// project.
func (s *Service) ListEndpointGroupsForProject(ctx context.Context, p *authn.Principal, projectID string) ([]EndpointGroup, error) {
	if err := s.authorize(p, "identity:list_endpoint_groups_for_project", nil); err != nil {
		return nil, err
	}
	if _, err := getProject(ctx, s.db, projectID); err != nil {
		return nil, err
	}
	return projectEndpointGroups(ctx, s.db, projectID)
}
