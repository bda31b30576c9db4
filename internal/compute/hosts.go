package compute

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-hosts (deprecated, gone from 2.43): the hosts of the enabled
// services, a compute host's resources, switching a host's compute
// service on and off, and the host power actions no driver here does.

// HostEntry is one line of the host list: a service on a host.
type HostEntry struct {
	HostName string
	Service  string // the service's topic: "compute", "scheduler", "conductor"
	Zone     string
}

// HostResource is one line of a host's resources: the totals
// ("(total)"), what the node uses ("(used_now)"), what its servers'
// flavors add up to ("(used_max)"), and that per project.
type HostResource struct {
	Host     string
	Project  string
	CPU      int64
	MemoryMB int64
	DiskGB   int64
}

// Hosts lists the hosts of the enabled services (not the API's), in
// zone when zone is not "".
func (s *Service) Hosts(ctx context.Context, p *authn.Principal, zone string) ([]HostEntry, error) {
	if err := s.authorize(p, policyHostsList, map[string]any{}); err != nil {
		return nil, err
	}
	list, err := s.instances.ListServices(ctx, "", "")
	if err != nil {
		return nil, err
	}
	zones, err := s.hostZones(ctx)
	if err != nil {
		return nil, err
	}
	out := []HostEntry{}
	for i := range list {
		sv := &list[i]
		if sv.Disabled || slices.Contains(apiBinaries, sv.Binary) {
			continue
		}
		z := s.serviceZone(sv, zones)
		if zone != "" && z != zone {
			continue
		}
		out = append(out, HostEntry{HostName: sv.Host, Service: sv.Topic, Zone: z})
	}
	return out, nil
}

// HostResources is what os-hosts shows of a compute host: its first
// node's totals and use, then its servers' flavors, in all and per
// project.
func (s *Service) HostResources(ctx context.Context, p *authn.Principal, host string) ([]HostResource, error) {
	if err := s.authorize(p, policyHostsShow, map[string]any{}); err != nil {
		return nil, err
	}
	nodes, err := s.instances.ListComputeNodes(ctx, host)
	if err != nil {
		return nil, err
	}
	ix, err := s.indexHosts(ctx, host)
	if err != nil {
		return nil, err
	}
	var hv *Hypervisor
	if len(nodes) > 0 {
		hv = s.hypervisor(ix, nodes[0], false)
	}
	if hv == nil {
		return nil, fault.NotFoundf("Compute host %s could not be found.", host)
	}
	out := []HostResource{
		{Host: host, Project: "(total)", CPU: int64(hv.VCPUs), MemoryMB: int64(hv.MemoryMB), DiskGB: int64(hv.LocalGB)},
		{Host: host, Project: "(used_now)", CPU: hv.VCPUsUsed, MemoryMB: hv.MemoryMBUsed, DiskGB: hv.LocalGBUsed},
	}
	all := HostResource{Host: host, Project: "(used_max)"}
	var projects []string
	per := map[string]*HostResource{}
	// Projects in the order of their first server, as Nova's list of the
	// host's instances (by id) gives them.
	list := slices.Clone(ix.instances[host])
	slices.SortFunc(list, func(x, y *instances.Instance) int { return cmp.Compare(x.ID, y.ID) })
	for _, inst := range list {
		f := inst.Flavor
		all.CPU += f.VCPUs
		all.MemoryMB += f.MemoryMB
		all.DiskGB += f.RootGB + f.EphemeralGB
		pr := per[inst.ProjectID]
		if pr == nil {
			pr = &HostResource{Host: host, Project: inst.ProjectID}
			per[inst.ProjectID] = pr
			projects = append(projects, inst.ProjectID)
		}
		pr.CPU += f.VCPUs
		pr.MemoryMB += f.MemoryMB
		pr.DiskGB += f.RootGB + f.EphemeralGB
	}
	out = append(out, all)
	for _, id := range projects {
		out = append(out, *per[id])
	}
	return out, nil
}

// hostService is Nova's HostAPI._assert_host_exists: the compute
// service of host, else HostNotFound.
func (s *Service) hostService(ctx context.Context, host string) (*instances.Service, error) {
	sv, err := s.computeService(ctx, host)
	if err != nil {
		return nil, err
	}
	if sv == nil {
		return nil, fault.NotFoundf("Host %s could not be found.", host)
	}
	return sv, nil
}

// UpdateHost switches host's compute service on or off (status); a
// maintenance mode is something the drivers here do not have, so asking
// for one is Nova's 501 for a driver without it, refused before anything
// changes.
func (s *Service) UpdateHost(ctx context.Context, p *authn.Principal, host string, enable, maintenance *bool) (string, error) {
	if err := s.authorize(p, policyHostsUpdate, map[string]any{}); err != nil {
		return "", err
	}
	sv, err := s.hostService(ctx, host)
	if err != nil {
		return "", err
	}
	if maintenance != nil {
		return "", notSupported()
	}
	if enable == nil {
		return "", nil
	}
	disabled := !*enable
	var reason *string
	if _, err := s.instances.UpdateService(ctx, sv.ID, &disabled, &reason, nil); err != nil {
		if errors.Is(err, instances.ErrNotFound) {
			return "", fault.NotFoundf("Host %s could not be found.", host)
		}
		return "", err
	}
	if disabled {
		return "disabled", nil
	}
	return "enabled", nil
}

// HostPowerAction is startup, shutdown or reboot of a host: after Nova's
// checks (the rule, the host exists), the 501 Nova's libvirt driver
// answers, since no driver here powers hosts.
func (s *Service) HostPowerAction(ctx context.Context, p *authn.Principal, host, action string) error {
	rule := map[string]string{"startup": policyHostsStart, "shutdown": policyHostsShutdown, "reboot": policyHostsReboot}[action]
	if err := s.authorize(p, rule, map[string]any{}); err != nil {
		return err
	}
	if _, err := s.hostService(ctx, host); err != nil {
		return err
	}
	return notSupported()
}

// notSupported is Nova's common.raise_feature_not_supported.
func notSupported() error {
	return fault.New(fault.NotImplemented, "The requested functionality is not supported.")
}

func (h *handlers) listHosts(w http.ResponseWriter, r *http.Request) error {
	zone, _ := lastParam(r, "zone")
	list, err := h.svc.Hosts(r.Context(), principal(r), zone)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		out = append(out, map[string]any{"host_name": e.HostName, "service": e.Service, "zone": e.Zone})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"hosts": out})
}

func (h *handlers) showHost(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.HostResources(r.Context(), principal(r), r.PathValue("host"))
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, res := range list {
		out = append(out, map[string]any{"resource": map[string]any{"host": res.Host, "project": res.Project,
			"cpu": res.CPU, "memory_mb": res.MemoryMB, "disk_gb": res.DiskGB}})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"host": out})
}

var hostSwitch = []string{"enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE"}

// hostSwitchField reads status or maintenance_mode: true for enable.
func hostSwitchField(field string, raw json.RawMessage) (*bool, error) {
	v, err := jsonString(field, raw)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(hostSwitch, v) {
		return nil, invalidField(field, raw, pyRepr(raw)+" is not one of ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']")
	}
	on := strings.EqualFold(v, "enable")
	return &on, nil
}

func (h *handlers) updateHost(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	o, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	var status, maint *bool
	if v, ok := o["status"]; ok {
		if status, err = hostSwitchField("status", v); err != nil {
			return err
		}
	}
	if v, ok := o["maintenance_mode"]; ok {
		if maint, err = hostSwitchField("maintenance_mode", v); err != nil {
			return err
		}
	}
	if err := o.check("", raw, []string{"status", "maintenance_mode"}); err != nil {
		return err
	}
	if status == nil && maint == nil {
		return fault.BadRequestf("%s is not valid under any of the given schemas", pyRepr(raw))
	}
	host := r.PathValue("host")
	result, err := h.svc.UpdateHost(r.Context(), principal(r), host, status, maint)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"host": host, "status": result})
}

func (h *handlers) hostPowerAction(action string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		host := r.PathValue("host")
		if err := h.svc.HostPowerAction(r.Context(), principal(r), host, action); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"host": host, "power_action": action})
	}
}
