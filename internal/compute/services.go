package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-services: the compute services (agents, scheduler, conductor) as
// they heartbeat, their zones, and the operator's switches on them:
// disabled (no new servers scheduled there) and forced down.

// apiBinaries are services that do not heartbeat over RPC; Nova hides
// them from os-services, since they would always look down.
var apiBinaries = []string{"nova-osapi_compute", "nova-metadata"}

// ServiceState is a service as os-services shows it.
type ServiceState struct {
	instances.Service
	Zone string
	Up   bool
}

// serviceAlive is Nova's servicegroup DB driver: up while the last
// heartbeat is no older than service_down_time (rpc.DownTime), and
// never when forced down.
func (s *Service) serviceAlive(sv *instances.Service) bool {
	if sv.ForcedDown || sv.LastSeenUp.IsZero() {
		return false
	}
	d := s.now().Sub(sv.LastSeenUp)
	if d < 0 {
		d = -d
	}
	return d <= rpc.DownTime
}

// hostZones maps each host in a zone-bearing aggregate to its zone (the
// zones joined with "," when several, as Nova shows them).
func (s *Service) hostZones(ctx context.Context) (map[string]string, error) {
	aggs, err := s.instances.ListAggregates(ctx)
	if err != nil {
		return nil, err
	}
	zones := map[string][]string{}
	for _, a := range aggs {
		if a.AvailabilityZone == "" {
			continue
		}
		for _, h := range a.Hosts {
			if !slices.Contains(zones[h], a.AvailabilityZone) {
				zones[h] = append(zones[h], a.AvailabilityZone)
			}
		}
	}
	out := make(map[string]string, len(zones))
	for h, zs := range zones {
		sort.Strings(zs)
		out[h] = strings.Join(zs, ",")
	}
	return out, nil
}

// serviceZone is a service's zone: its host's aggregates' for computes,
// else the default zone; the internal zone for the other services.
func (s *Service) serviceZone(sv *instances.Service, hostZones map[string]string) string {
	if sv.Binary != computeBinary {
		return s.cfg.InternalAvailabilityZone
	}
	if z := hostZones[sv.Host]; z != "" {
		return z
	}
	return s.cfg.DefaultAvailabilityZone
}

func (s *Service) serviceState(sv instances.Service, hostZones map[string]string) ServiceState {
	return ServiceState{Service: sv, Zone: s.serviceZone(&sv, hostZones), Up: s.serviceAlive(&sv)}
}

// Services lists the services, filtered by host and binary when set.
func (s *Service) Services(ctx context.Context, p *authn.Principal, host, binary string) ([]ServiceState, error) {
	if err := s.authorize(p, policyServicesList, map[string]any{}); err != nil {
		return nil, err
	}
	list, err := s.instances.ListServices(ctx, host, binary)
	if err != nil {
		return nil, err
	}
	zones, err := s.hostZones(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ServiceState, 0, len(list))
	for _, sv := range list {
		if slices.Contains(apiBinaries, sv.Binary) {
			continue
		}
		out = append(out, s.serviceState(sv, zones))
	}
	return out, nil
}

// ServiceUpdate is a change of a service's switches; nil leaves one.
type ServiceUpdate struct {
	Disabled       *bool
	DisabledReason **string
	ForcedDown     *bool
}

func (s *Service) updateService(ctx context.Context, sv *instances.Service, u ServiceUpdate) (*ServiceState, error) {
	if sv.Binary != computeBinary {
		return nil, fault.BadRequestf("Updating a %s service is not supported. Only nova-compute services can be updated.", sv.Binary)
	}
	out, err := s.instances.UpdateService(ctx, sv.ID, u.Disabled, u.DisabledReason, u.ForcedDown)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, fault.NotFoundf("Service %s could not be found.", sv.UUID)
	}
	if err != nil {
		return nil, err
	}
	zones, err := s.hostZones(ctx)
	if err != nil {
		return nil, err
	}
	st := s.serviceState(*out, zones)
	return &st, nil
}

// UpdateService changes the service with UUID id (2.53).
func (s *Service) UpdateService(ctx context.Context, p *authn.Principal, id string, u ServiceUpdate) (*ServiceState, error) {
	if err := s.authorize(p, policyServicesUpdate, map[string]any{}); err != nil {
		return nil, err
	}
	sv, err := s.instances.GetService(ctx, id)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, fault.NotFoundf("Service %s could not be found.", id)
	}
	if err != nil {
		return nil, err
	}
	return s.updateService(ctx, sv, u)
}

// UpdateServiceByHost changes the service binary on host, as the API
// before 2.53 names it.
func (s *Service) UpdateServiceByHost(ctx context.Context, p *authn.Principal, host, binary string, u ServiceUpdate) (*ServiceState, error) {
	if err := s.authorize(p, policyServicesUpdate, map[string]any{}); err != nil {
		return nil, err
	}
	if binary != computeBinary {
		return nil, fault.BadRequestf("Updating a %s service is not supported. Only nova-compute services can be updated.", binary)
	}
	list, err := s.instances.ListServices(ctx, host, binary)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fault.NotFoundf("Could not find binary %s on host %s.", binary, host)
	}
	return s.updateService(ctx, &list[0], u)
}

// DeleteService removes a service and, for a compute service, its
// compute nodes and its place in aggregates; a host still holding
// servers cannot go.
func (s *Service) DeleteService(ctx context.Context, p *authn.Principal, id string) error {
	if err := s.authorize(p, policyServicesDelete, map[string]any{}); err != nil {
		return err
	}
	sv, err := s.instances.GetService(ctx, id)
	if errors.Is(err, instances.ErrNotFound) {
		return fault.NotFoundf("Service %s not found.", id)
	}
	if err != nil {
		return err
	}
	if sv.Binary == computeBinary {
		held, err := s.instances.HostInstances(ctx, sv.Host)
		if err != nil {
			return err
		}
		if len(held) > 0 {
			return fault.Conflictf("Unable to delete compute service that is hosting instances. Migrate or delete the instances first.")
		}
		aggs, err := s.instances.HostAggregates(ctx, sv.Host)
		if err != nil {
			return err
		}
		for _, a := range aggs {
			if _, err := s.instances.RemoveAggregateHost(ctx, a.ID, sv.Host); err != nil && !errors.Is(err, instances.ErrNotFound) {
				return err
			}
		}
	}
	err = s.instances.DeleteService(ctx, sv.ID)
	if errors.Is(err, instances.ErrNotFound) {
		return fault.NotFoundf("Service %s not found.", id)
	}
	return err
}

// ---- HTTP

// serviceBody is a service in Nova's shape; ID is the numeric id before
// 2.53, the UUID from it.
type serviceBody struct {
	ID             any     `json:"id"`
	Binary         string  `json:"binary"`
	DisabledReason *string `json:"disabled_reason"`
	Host           string  `json:"host"`
	State          string  `json:"state"`
	Status         string  `json:"status"`
	UpdatedAt      *string `json:"updated_at"`
	Zone           string  `json:"zone"`
	ForcedDown     *bool   `json:"forced_down,omitempty"`
}

func toService(r *http.Request, st *ServiceState) serviceBody {
	v := mv(r)
	b := serviceBody{ID: st.ID, Binary: st.Binary, DisabledReason: st.DisabledReason, Host: st.Host,
		State: "down", Status: "enabled", Zone: st.Zone}
	if v.AtLeast(53) {
		b.ID = st.UUID
	}
	if st.Up {
		b.State = "up"
	}
	if st.Disabled {
		b.Status = "disabled"
	}
	if t := serviceUpdated(&st.Service); !t.IsZero() {
		s := novaTime(t)
		b.UpdatedAt = &s
	}
	if v.AtLeast(11) {
		fd := st.ForcedDown
		b.ForcedDown = &fd
	}
	return b
}

// serviceUpdated is Nova's get_updated_time: the last heartbeat, else
// the record's last change.
func serviceUpdated(sv *instances.Service) time.Time {
	if !sv.LastSeenUp.IsZero() {
		return sv.LastSeenUp
	}
	return sv.UpdatedAt
}

func (h *handlers) listServices(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "host", "binary"); err != nil {
		return err
	}
	host, _ := lastParam(r, "host")
	binary, _ := lastParam(r, "binary")
	list, err := h.svc.Services(r.Context(), principal(r), host, binary)
	if err != nil {
		return err
	}
	out := make([]serviceBody, 0, len(list))
	for i := range list {
		out = append(out, toService(r, &list[i]))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"services": out})
}

// isUUIDLike is oslo's uuidutils.is_uuid_like: any spelling uuid.Parse
// takes (hyphens optional, braces, urn:uuid:).
func isUUIDLike(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

func (h *handlers) updateService(w http.ResponseWriter, r *http.Request) error {
	if mv(r).AtLeast(53) {
		return h.updateServiceV253(w, r)
	}
	return h.updateServiceLegacy(w, r)
}

func (h *handlers) updateServiceV253(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	if err := body.check("", raw, []string{"status", "disabled_reason", "forced_down"}); err != nil {
		return err
	}
	var u ServiceUpdate
	var status string
	if v, ok := body["status"]; ok {
		if status, err = jsonString("status", v); err != nil {
			return err
		}
		if status != "enabled" && status != "disabled" {
			return invalidField("status", v, pyRepr(v)+" is not one of ['enabled', 'disabled']")
		}
	}
	var reason *string
	if v, ok := body["disabled_reason"]; ok {
		s, err := jsonString("disabled_reason", v)
		if err != nil {
			return err
		}
		if err := stringLen("disabled_reason", v, s, 1, 255); err != nil {
			return err
		}
		reason = &s
	}
	if v, ok := body["forced_down"]; ok {
		b, err := novaBoolean("forced_down", v)
		if err != nil {
			return err
		}
		u.ForcedDown = &b
	}
	id := r.PathValue("id")
	if !isUUIDLike(id) {
		return fault.BadRequestf("Invalid uuid %s", id)
	}
	switch status {
	case "enabled":
		if reason != nil {
			return fault.BadRequestf("Specifying 'disabled_reason' with status 'enabled' is invalid.")
		}
		f := false
		var none *string
		u.Disabled, u.DisabledReason = &f, &none
	case "disabled":
		t := true
		u.Disabled, u.DisabledReason = &t, &reason
	}
	if u.Disabled == nil && u.ForcedDown == nil {
		// Checked after the service is found, as Nova does.
		if err := h.svc.authorize(principal(r), policyServicesUpdate, map[string]any{}); err != nil {
			return err
		}
		if _, err := h.svc.instances.GetService(r.Context(), id); errors.Is(err, instances.ErrNotFound) {
			return fault.NotFoundf("Service %s could not be found.", id)
		} else if err != nil {
			return err
		}
		return fault.BadRequestf("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
	}
	st, err := h.svc.UpdateService(r.Context(), principal(r), id, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"service": toService(r, st)})
}

// updateServiceLegacy is PUT /os-services/{enable,disable,
// disable-log-reason,force-down} with the host and binary in the body.
func (h *handlers) updateServiceLegacy(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	allowed := []string{"host", "binary", "disabled_reason"}
	if v.AtLeast(11) {
		allowed = append(allowed, "forced_down")
	}
	if err := body.check("", raw, allowed, "host", "binary"); err != nil {
		return err
	}
	host, err := fqdnField("host", body["host"])
	if err != nil {
		return err
	}
	binary, err := jsonString("binary", body["binary"])
	if err != nil {
		return err
	}
	if err := stringLen("binary", body["binary"], binary, 1, 255); err != nil {
		return err
	}
	var reason *string
	if raw, ok := body["disabled_reason"]; ok {
		s, err := jsonString("disabled_reason", raw)
		if err != nil {
			return err
		}
		if err := stringLen("disabled_reason", raw, s, 1, 255); err != nil {
			return err
		}
		reason = &s
	}
	var forced *bool
	if raw, ok := body["forced_down"]; ok {
		b, err := novaBoolean("forced_down", raw)
		if err != nil {
			return err
		}
		forced = &b
	}
	if err := h.svc.authorize(principal(r), policyServicesUpdate, map[string]any{}); err != nil {
		return err
	}
	var u ServiceUpdate
	out := map[string]any{"host": host, "binary": binary}
	t, f := true, false
	var none *string
	switch action := r.PathValue("id"); {
	case action == "enable":
		u.Disabled, u.DisabledReason = &f, &none
		out["status"] = "enabled"
	case action == "disable":
		u.Disabled, u.DisabledReason = &t, &none
		out["status"] = "disabled"
	case action == "disable-log-reason":
		if reason == nil {
			return fault.BadRequestf("Missing disabled reason field")
		}
		u.Disabled, u.DisabledReason = &t, &reason
		out["status"] = "disabled"
		out["disabled_reason"] = *reason
	case action == "force-down" && v.AtLeast(11):
		if forced == nil {
			return fault.BadRequestf("Missing forced_down field")
		}
		u.ForcedDown = forced
		out["forced_down"] = *forced
	default:
		return fault.NotFoundf("Unknown action")
	}
	if _, err := h.svc.UpdateServiceByHost(r.Context(), principal(r), host, binary, u); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"service": out})
}

func (h *handlers) deleteService(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := h.svc.authorize(principal(r), policyServicesDelete, map[string]any{}); err != nil {
		return err
	}
	if mv(r).AtLeast(53) {
		if !isUUIDLike(id) {
			return fault.BadRequestf("Invalid uuid %s", id)
		}
	} else if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return fault.BadRequestf("Invalid input received: id must be an integer")
	}
	if err := h.svc.DeleteService(r.Context(), principal(r), id); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}

var hostNamePattern = regexp.MustCompile(`^[a-zA-Z0-9-._]*$`)

// fqdnField reads Nova's fqdn parameter type (a host name).
func fqdnField(field string, raw json.RawMessage) (string, error) {
	s, err := jsonString(field, raw)
	if err != nil {
		return "", err
	}
	if err := stringLen(field, raw, s, 1, 255); err != nil {
		return "", err
	}
	if !hostNamePattern.MatchString(s) {
		return "", invalidField(field, raw, pyRepr(raw)+" does not match '^[a-zA-Z0-9-._]*$'")
	}
	return s, nil
}
