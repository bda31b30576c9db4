package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-server-groups: groups of servers the scheduler places together
// (affinity) or apart (anti-affinity), strictly or, for the soft
// variants, as far as it can. Servers join a group when they are
// created (os:scheduler_hints group) and leave it when deleted.

func serverGroupNotFound(id string) error {
	return fault.NotFoundf("Instance group %s could not be found.", id)
}

// ServerGroupSpec is a group to create.
type ServerGroupSpec struct {
	Name   string
	Policy string
	// MaxServerPerHost is the anti-affinity rule of 2.64 (0 = none).
	MaxServerPerHost int64
}

// serverGroupUsage counts a project's (and user's) server groups, for
// the server_groups quota. Register it with AddUsageCounter.
func (s *Service) serverGroupUsage(ctx context.Context, q Querier, projectID, userID string) (map[string]int64, error) {
	n, err := s.instances.CountServerGroups(ctx, q, projectID, userID)
	if err != nil {
		return nil, err
	}
	return map[string]int64{"server_groups": n}, nil
}

// RegisterServerGroupQuota makes quota usage (os-quota-sets detail,
// limits) count server groups. New's caller, or New, calls it once.
func (s *Service) RegisterServerGroupQuota() { s.AddUsageCounter(s.serverGroupUsage) }

// checkServerGroupQuota is Nova's check_deltas for server_groups: the
// project's and the user's limits, counted directly so that it holds
// whether or not the counter is registered.
func (s *Service) checkServerGroupQuota(ctx context.Context, projectID, userID string, delta int64) error {
	for _, uid := range []string{"", userID} {
		limits, err := s.effectiveLimits(ctx, s.db, projectID, uid)
		if err != nil {
			return err
		}
		l := limits["server_groups"]
		if unlimited(l) {
			continue
		}
		n, err := s.instances.CountServerGroups(ctx, nil, projectID, uid)
		if err != nil {
			return err
		}
		if n+delta > l {
			return fault.Forbiddenf("Quota exceeded, too many server groups.")
		}
	}
	return nil
}

// CheckServerGroupMembers refuses adding servers of userID to a group
// past the server_group_members quota, as Nova's check_deltas counting
// the group's members the user owns. The servers API calls it when a
// create names a group (os:scheduler_hints group).
func (s *Service) CheckServerGroupMembers(ctx context.Context, g *instances.ServerGroup, projectID, userID string, adding int64) error {
	limits, err := s.effectiveLimits(ctx, s.db, projectID, userID)
	if err != nil {
		return err
	}
	l := limits["server_group_members"]
	if unlimited(l) || adding <= 0 {
		return nil
	}
	var held int64
	if len(g.Members) > 0 {
		mine, err := s.instances.List(ctx, instances.Query{UUIDs: g.Members, UserID: userID})
		if err != nil {
			return err
		}
		held = int64(len(mine))
	}
	if held+adding > l {
		return fault.Forbiddenf("Quota exceeded, too many servers in group")
	}
	return nil
}

// CreateServerGroup makes a group in the caller's project.
func (s *Service) CreateServerGroup(ctx context.Context, p *authn.Principal, spec ServerGroupSpec) (*instances.ServerGroup, error) {
	if err := s.authorize(p, policyServerGroupsCreate, map[string]any{"project_id": projectOf(p)}); err != nil {
		return nil, err
	}
	if err := s.checkServerGroupQuota(ctx, projectOf(p), p.UserID, 1); err != nil {
		return nil, err
	}
	if spec.MaxServerPerHost > 0 && spec.Policy != "anti-affinity" {
		return nil, fault.BadRequestf("Only anti-affinity policy supports rules.")
	}
	g := &instances.ServerGroup{UUID: uuid.NewString(), Name: spec.Name, ProjectID: projectOf(p), UserID: p.UserID,
		Policy: spec.Policy, Rules: map[string]string{}, Members: []string{}, CreatedAt: s.now().UTC()}
	if spec.MaxServerPerHost > 0 {
		g.Rules["max_server_per_host"] = strconv.FormatInt(spec.MaxServerPerHost, 10)
	}
	if err := s.instances.CreateServerGroup(ctx, g); err != nil {
		return nil, err
	}
	// Nova's recheck: two concurrent creates may both have passed.
	if err := s.checkServerGroupQuota(ctx, projectOf(p), p.UserID, 0); err != nil {
		if derr := s.instances.DeleteServerGroup(ctx, g.UUID); derr != nil && !errors.Is(derr, instances.ErrNotFound) {
			s.log.ErrorContext(ctx, "cannot remove server group over quota", "group", g.UUID, "err", derr)
		}
		return nil, err
	}
	return g, nil
}

func (s *Service) getServerGroup(ctx context.Context, id string) (*instances.ServerGroup, error) {
	g, err := s.instances.GetServerGroup(ctx, id)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, serverGroupNotFound(id)
	}
	return g, err
}

// ServerGroup returns a group; policy decides whether another project's
// may be seen (admins only, by default).
func (s *Service) ServerGroup(ctx context.Context, p *authn.Principal, id string) (*instances.ServerGroup, error) {
	if p == nil {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	g, err := s.getServerGroup(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyServerGroupsShow, map[string]any{"project_id": g.ProjectID}); err != nil {
		return nil, err
	}
	return g, nil
}

// DeleteServerGroup removes a group (its members stay, outside any group).
func (s *Service) DeleteServerGroup(ctx context.Context, p *authn.Principal, id string) error {
	if p == nil {
		return fault.Unauthorizedf("The request you have made requires authentication.")
	}
	g, err := s.getServerGroup(ctx, id)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyServerGroupsDelete, map[string]any{"project_id": g.ProjectID}); err != nil {
		return err
	}
	err = s.instances.DeleteServerGroup(ctx, g.UUID)
	if errors.Is(err, instances.ErrNotFound) {
		return serverGroupNotFound(id)
	}
	return err
}

// ServerGroups lists the caller's project's groups, or every project's
// for an admin asking for all_projects; offset and limit page them.
func (s *Service) ServerGroups(ctx context.Context, p *authn.Principal, allProjects bool, limit, offset int) ([]instances.ServerGroup, error) {
	if err := s.authorize(p, policyServerGroupsIndex, map[string]any{"project_id": projectOf(p)}); err != nil {
		return nil, err
	}
	project := projectOf(p)
	if allProjects && s.isAdmin(p) {
		if err := s.authorize(p, policyServerGroupsIndexAll, map[string]any{"project_id": projectOf(p)}); err != nil {
			return nil, err
		}
		project = ""
	}
	return s.instances.ListServerGroups(ctx, project, limit, offset)
}

// ---- HTTP

var (
	groupPolicies     = []string{"anti-affinity", "affinity"}
	softGroupPolicies = []string{"anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"}
)

func toServerGroup(r *http.Request, g *instances.ServerGroup) map[string]any {
	v := mv(r)
	members := g.Members
	if members == nil {
		members = []string{}
	}
	out := map[string]any{"id": g.UUID, "name": g.Name, "members": members}
	if v.AtLeast(64) {
		rules := map[string]any{}
		for k, val := range g.Rules {
			if n, err := strconv.ParseInt(val, 10, 64); err == nil {
				rules[k] = n
			} else {
				rules[k] = val
			}
		}
		out["policy"] = g.Policy
		out["rules"] = rules
	} else {
		out["policies"] = []string{g.Policy}
		out["metadata"] = map[string]any{}
	}
	if v.AtLeast(13) {
		out["project_id"] = g.ProjectID
		out["user_id"] = g.UserID
	}
	return out
}

// parseServerGroup reads a create body by the schema of the request's
// microversion.
func parseServerGroup(r *http.Request) (ServerGroupSpec, error) {
	var spec ServerGroupSpec
	v := mv(r)
	raw, err := readBody(r)
	if err != nil {
		return spec, err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return spec, err
	}
	if err := body.check("", raw, []string{"server_group"}, "server_group"); err != nil {
		return spec, err
	}
	sgRaw := body["server_group"]
	sg, err := objectAt(sgRaw, "server_group")
	if err != nil {
		return spec, err
	}
	if v.AtLeast(64) {
		if err := sg.check("server_group", sgRaw, []string{"name", "policy", "rules"}, "name", "policy"); err != nil {
			return spec, err
		}
	} else if err := sg.check("server_group", sgRaw, []string{"name", "policies"}, "name", "policies"); err != nil {
		return spec, err
	}
	if spec.Name, err = nameField("name", sg["name"], v.Legacy()); err != nil {
		return spec, err
	}
	if v.AtLeast(64) {
		pr := sg["policy"]
		if spec.Policy, err = jsonString("policy", pr); err != nil {
			return spec, err
		}
		if !contains(softGroupPolicies, spec.Policy) {
			return spec, invalidField("policy", pr, pyRepr(pr)+" is not one of ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity']")
		}
		if rr, ok := sg["rules"]; ok {
			rules, err := objectAt(rr, "rules")
			if err != nil {
				return spec, err
			}
			if err := rules.check("rules", rr, []string{"max_server_per_host"}); err != nil {
				return spec, err
			}
			if m, ok := rules["max_server_per_host"]; ok {
				if spec.MaxServerPerHost, err = intLike("max_server_per_host", m, 1, -1); err != nil {
					return spec, err
				}
			}
		}
		return spec, nil
	}
	pr := sg["policies"]
	var list []any
	if len(pr) == 0 || pr[0] != '[' || json.Unmarshal(pr, &list) != nil {
		return spec, invalidField("policies", pr, pyRepr(pr)+" is not of type 'array'")
	}
	allowed := groupPolicies
	if v.AtLeast(15) {
		allowed = softGroupPolicies
	}
	switch {
	case len(list) == 0:
		return spec, invalidField("policies", pr, pyRepr(pr)+" should be non-empty")
	case len(list) > 1:
		return spec, invalidField("policies", pr, pyRepr(pr)+" is too long")
	}
	p, ok := list[0].(string)
	if !ok || !contains(allowed, p) {
		q := make([]string, len(allowed))
		for i, a := range allowed {
			q[i] = "'" + a + "'"
		}
		return spec, invalidField("policies", pr, pyValue(list[0], nil)+" is not one of ["+strings.Join(q, ", ")+"]")
	}
	spec.Policy = p
	return spec, nil
}

func (h *handlers) createServerGroup(w http.ResponseWriter, r *http.Request) error {
	spec, err := parseServerGroup(r)
	if err != nil {
		return err
	}
	g, err := h.svc.CreateServerGroup(r.Context(), principal(r), spec)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"server_group": toServerGroup(r, g)})
}

func (h *handlers) showServerGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := h.svc.ServerGroup(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"server_group": toServerGroup(r, g)})
}

func (h *handlers) deleteServerGroup(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteServerGroup(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}

// offsetParam reads offset as Nova's get_pagination_params: a
// non-negative integer.
func offsetParam(r *http.Request) (int, error) {
	vs := r.URL.Query()["offset"]
	if len(vs) == 0 {
		return 0, nil
	}
	for _, v := range vs {
		if !digits.MatchString(v) {
			return 0, fault.BadRequestf("Invalid input for query parameters offset. Value: %s. '%s' does not match '^[0-9]*$'", v, v)
		}
	}
	n, err := strconv.Atoi(vs[len(vs)-1])
	if err != nil {
		return 0, fault.BadRequestf("Invalid input for query parameters offset. Value: %s.", vs[len(vs)-1])
	}
	return n, nil
}

func (h *handlers) listServerGroups(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "all_projects", "limit", "offset"); err != nil {
		return err
	}
	limit, _, err := pageParams(r)
	if err != nil {
		return err
	}
	offset, err := offsetParam(r)
	if err != nil {
		return err
	}
	_, all := r.URL.Query()["all_projects"]
	list, err := h.svc.ServerGroups(r.Context(), principal(r), all, h.svc.pageLimit(limit), offset)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for i := range list {
		out = append(out, toServerGroup(r, &list[i]))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"server_groups": out})
}
