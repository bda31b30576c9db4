package compute

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-instance-actions: what was asked of a server, by whom, and (for
// those allowed to see them) the steps each request went through.

// actionInstance is the server of an os-instance-actions request: from
// 2.21 a deleted server's actions are shown too.
func (s *Service) actionInstance(ctx context.Context, p *authn.Principal, uuid string, withDeleted bool) (*instances.Instance, error) {
	if !withDeleted {
		return s.instance(ctx, p, uuid)
	}
	if p == nil {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	inst, err := s.instances.Get(ctx, uuid, true)
	if errors.Is(err, instances.ErrNotFound) || (err == nil && inst.ProjectID != p.ProjectID && !s.isAdmin(p)) {
		return nil, fault.NotFoundf("Instance %s could not be found.", uuid)
	}
	if err != nil {
		return nil, err
	}
	return inst, nil
}

// ActionQuery pages and filters a server's actions (2.58, 2.66).
type ActionQuery struct {
	WithDeleted   bool
	Limit         int // 0 = all
	Marker        string
	Since, Before time.Time
}

// ListActions returns a server's actions, newest first.
func (s *Service) ListActions(ctx context.Context, p *authn.Principal, uuid string, q ActionQuery) ([]instances.Action, error) {
	inst, err := s.actionInstance(ctx, p, uuid, q.WithDeleted)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyActionsList, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	acts, err := s.instances.ListActions(ctx, inst.UUID, q.Limit, q.Marker, q.Since, q.Before)
	if errors.Is(err, instances.ErrNotFound) && q.Marker != "" {
		return nil, fault.BadRequestf("Marker %s could not be found.", q.Marker)
	}
	return acts, err
}

// ActionView is one action as a caller may see it.
type ActionView struct {
	instances.Action
	Instance *instances.Instance
	// Events: whether to show them at all, their traceback and host
	// (the events rule), and their details (events:details, 2.84).
	Events, Traceback, Details bool
}

// GetAction returns one action of a server, by request id.
func (s *Service) GetAction(ctx context.Context, p *authn.Principal, uuid, requestID string, withDeleted, eventsForAll bool) (*ActionView, error) {
	inst, err := s.actionInstance(ctx, p, uuid, withDeleted)
	if err != nil {
		return nil, err
	}
	target := map[string]any{"project_id": inst.ProjectID}
	if err := s.authorize(p, policyActionsShow, target); err != nil {
		return nil, err
	}
	a, err := s.instances.GetAction(ctx, inst.UUID, requestID)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, fault.NotFoundf("Action %s not found", requestID)
	}
	if err != nil {
		return nil, err
	}
	v := &ActionView{Action: *a, Instance: inst}
	if s.allowed(p, policyActionsEvents, target) {
		v.Events, v.Traceback = true, true
	} else if eventsForAll {
		v.Events = true
	}
	v.Details = v.Events && s.allowed(p, policyActionsEventsDetails, target)
	return v, nil
}

// ---- HTTP

func (h *handlers) listInstanceActions(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	q := ActionQuery{WithDeleted: v.AtLeast(21)}
	if v.AtLeast(58) {
		allowed := []string{"limit", "marker", "changes-since"}
		if v.AtLeast(66) {
			allowed = append(allowed, "changes-before")
		}
		if err := strictQuery(r, allowed...); err != nil {
			return err
		}
		limit, marker, err := pageParams(r)
		if err != nil {
			return err
		}
		q.Limit, q.Marker = h.actionLimit(limit), marker
		if q.Since, err = actionTimeParam(r, "changes-since"); err != nil {
			return err
		}
		if q.Before, err = actionTimeParam(r, "changes-before"); err != nil {
			return err
		}
		if !q.Since.IsZero() && !q.Before.IsZero() && q.Before.Before(q.Since) {
			return fault.BadRequestf("The value of changes-since must be less than or equal to changes-before.")
		}
	}
	id := r.PathValue("id")
	acts, err := h.svc.ListActions(r.Context(), principal(r), id, q)
	if err != nil {
		return err
	}
	items := make([]map[string]any, len(acts))
	for i := range acts {
		items[i] = actionBody(&acts[i], v.AtLeast(58))
	}
	body := map[string]any{"instanceActions": items}
	if v.AtLeast(58) && len(acts) > 0 {
		if links := h.nextLinks(r, "servers/"+id+"/os-instance-actions", len(acts), acts[len(acts)-1].RequestID); links != nil {
			body["links"] = links
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

// actionLimit is Nova's get_limit_and_marker: the limit asked, at most
// [api] max_limit.
func (h *handlers) actionLimit(limit int) int {
	if limit <= 0 || limit > h.svc.cfg.MaxLimit {
		return h.svc.cfg.MaxLimit
	}
	return limit
}

func (h *handlers) showInstanceAction(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	if v.AtLeast(102) {
		if err := strictQuery(r); err != nil {
			return err
		}
	}
	av, err := h.svc.GetAction(r.Context(), principal(r), r.PathValue("id"), r.PathValue("request_id"), v.AtLeast(21), v.AtLeast(51))
	if err != nil {
		return err
	}
	body := actionBody(&av.Action, v.AtLeast(58))
	if av.Events {
		project := av.ProjectID
		if project == "" {
			project = av.Instance.ProjectID
		}
		events := make([]map[string]any, len(av.Action.Events))
		for i, e := range av.Action.Events {
			ev := map[string]any{"event": e.Event, "start_time": actionTimeOrNull(e.StartTime),
				"finish_time": actionTimeOrNull(e.FinishTime), "result": strOrNull(e.Result)}
			if av.Traceback {
				ev["traceback"] = strOrNull(e.Traceback)
				if v.AtLeast(62) {
					ev["host"] = e.Host
				}
			}
			if v.AtLeast(62) {
				ev["hostId"] = hostID(e.Host, project)
			}
			if av.Details && v.AtLeast(84) {
				ev["details"] = strOrNull(e.Details)
			}
			events[i] = ev
		}
		body["events"] = events
	}
	return writeJSON(w, http.StatusOK, map[string]any{"instanceAction": body})
}

// actionBody is an action's keys (ACTION_KEYS, and updated_at from 2.58).
func actionBody(a *instances.Action, updated bool) map[string]any {
	m := map[string]any{
		"action": a.Action, "instance_uuid": a.UUID, "request_id": a.RequestID, "user_id": strOrNull(a.UserID),
		"project_id": strOrNull(a.ProjectID), "start_time": actionTimeOrNull(a.StartTime), "message": strOrNull(a.Message),
	}
	if updated {
		m["updated_at"] = actionTimeOrNull(a.UpdatedAt)
	}
	return m
}

// actionTimeOrNull is a time as Nova's instance actions show it:
// "2018-04-25T01:26:36.790544", or null.
func actionTimeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return novaTime(t)
}

// actionTimeParam reads a changes-since/changes-before parameter (ISO
// 8601, as oslo's parse_isotime).
func actionTimeParam(r *http.Request, name string) (time.Time, error) {
	s, ok := lastParam(r, name)
	if !ok {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fault.BadRequestf("Invalid input for query parameters %s. Value: %s. '%s' is not a 'date-time'", name, s, s)
}

// strictQuery refuses query parameters outside allowed, as Nova's query
// schemas with additionalProperties false.
func strictQuery(r *http.Request, allowed ...string) error {
	for k := range r.URL.Query() {
		if !contains(allowed, k) {
			return fault.BadRequestf("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed ('%s' was unexpected)",
				k, r.URL.Query().Get(k), k)
		}
	}
	return nil
}
