package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-hypervisors: the compute nodes the agents report, with the
// resources their servers use, counted from the instances on each host.

// Hypervisor is a compute node with its service and what its servers use.
type Hypervisor struct {
	instances.ComputeNode
	Service         instances.Service
	Up              bool
	VCPUsUsed       int64
	MemoryMBUsed    int64
	LocalGBUsed     int64
	RunningVMs      int64
	CurrentWorkload int64
	// Servers are the node's instances (for with_servers and the old
	// /servers route); nil unless asked for.
	Servers []HypervisorServer
	// Uptime is what `uptime` printed on the host, for the detail views
	// from 2.88; nil when not asked or the host did not tell.
	Uptime *string
}

// HypervisorServer is a server as os-hypervisors lists it.
type HypervisorServer struct {
	Name string // Nova's instance name (instance-%08x), not the display name
	UUID string
}

// HypervisorQuery selects hypervisors.
type HypervisorQuery struct {
	Pattern     string // substring of the hypervisor hostname ("" = all)
	WithServers bool
	Limit       int    // 0 = all
	Marker      string // id (before 2.53) or uuid of the last one seen
	ByUUID      bool   // the marker is a uuid (2.53)
}

func hypervisorNotFound(id string) error {
	return fault.NotFoundf("Hypervisor with ID '%s' could not be found.", id)
}

// computeService is the nova-compute service of host, nil when there is
// none (a node whose service was deleted).
func (s *Service) computeService(ctx context.Context, host string) (*instances.Service, error) {
	list, err := s.instances.ListServices(ctx, host, computeBinary)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	return &list[0], nil
}

// hostIndex is what the hypervisor views need of the hosts: their
// compute services and the instances on them.
type hostIndex struct {
	services  map[string]*instances.Service
	instances map[string][]*instances.Instance
}

// indexHosts reads the compute services and instances of host, or of
// every host when host is "" (two queries, whatever the number of nodes).
func (s *Service) indexHosts(ctx context.Context, host string) (*hostIndex, error) {
	svcs, err := s.instances.ListServices(ctx, host, computeBinary)
	if err != nil {
		return nil, err
	}
	ix := &hostIndex{services: map[string]*instances.Service{}, instances: map[string][]*instances.Instance{}}
	for i := range svcs {
		ix.services[svcs[i].Host] = &svcs[i]
	}
	list, err := s.instances.List(ctx, instances.Query{Host: host})
	if err != nil {
		return nil, err
	}
	for _, inst := range list {
		if inst.Host != "" {
			ix.instances[inst.Host] = append(ix.instances[inst.Host], inst)
		}
	}
	return ix, nil
}

// hypervisor fills in a node's service and usage; nil when the node has
// no service.
func (s *Service) hypervisor(ix *hostIndex, n instances.ComputeNode, withServers bool) *Hypervisor {
	sv := ix.services[n.Host]
	if sv == nil {
		return nil
	}
	hv := &Hypervisor{ComputeNode: n, Service: *sv, Up: s.serviceAlive(sv)}
	if withServers {
		hv.Servers = []HypervisorServer{}
	}
	for _, inst := range ix.instances[n.Host] {
		if inst.Node != "" && inst.Node != n.HypervisorHostname {
			continue
		}
		hv.VCPUsUsed += inst.Flavor.VCPUs
		hv.MemoryMBUsed += inst.Flavor.MemoryMB
		hv.LocalGBUsed += inst.Flavor.RootGB + inst.Flavor.EphemeralGB
		hv.RunningVMs++
		if inst.TaskState != "" {
			hv.CurrentWorkload++
		}
		if withServers {
			hv.Servers = append(hv.Servers, HypervisorServer{Name: fmt.Sprintf("instance-%08x", inst.ID), UUID: inst.UUID})
		}
	}
	return hv
}

// Hypervisors lists the nodes (those whose service exists), by id.
func (s *Service) Hypervisors(ctx context.Context, p *authn.Principal, rule string, q HypervisorQuery) ([]*Hypervisor, error) {
	if err := s.authorize(p, rule, map[string]any{}); err != nil {
		return nil, err
	}
	nodes, err := s.instances.ListComputeNodes(ctx, "")
	if err != nil {
		return nil, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	if q.Pattern != "" {
		var match []instances.ComputeNode
		for _, n := range nodes {
			if likeContains(n.HypervisorHostname, q.Pattern) {
				match = append(match, n)
			}
		}
		if len(match) == 0 {
			return nil, fault.NotFoundf("No hypervisor matching '%s' could be found.", q.Pattern)
		}
		nodes = match
	}
	if q.Marker != "" {
		at := -1
		for i, n := range nodes {
			if (q.ByUUID && n.UUID == q.Marker) || (!q.ByUUID && strconv.FormatInt(n.ID, 10) == q.Marker) {
				at = i
				break
			}
		}
		if at < 0 {
			return nil, fault.BadRequestf("marker [%s] not found", q.Marker)
		}
		nodes = nodes[at+1:]
	}
	if q.Limit > 0 && len(nodes) > q.Limit {
		nodes = nodes[:q.Limit]
	}
	out := make([]*Hypervisor, 0, len(nodes))
	if len(nodes) == 0 {
		return out, nil
	}
	host := ""
	if len(nodes) == 1 {
		host = nodes[0].Host
	}
	ix, err := s.indexHosts(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if hv := s.hypervisor(ix, n, q.WithServers); hv != nil {
			out = append(out, hv)
		}
	}
	return out, nil
}

// likeContains is SQL's hypervisor_hostname LIKE '%pattern%' as MySQL
// compares: without case.
func likeContains(s, pattern string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(pattern))
}

// GetHypervisor returns one node by uuid (2.53) or numeric id.
func (s *Service) GetHypervisor(ctx context.Context, p *authn.Principal, rule, id string, withServers bool) (*Hypervisor, error) {
	if err := s.authorize(p, rule, map[string]any{}); err != nil {
		return nil, err
	}
	n, err := s.instances.GetComputeNode(ctx, id)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, hypervisorNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	ix, err := s.indexHosts(ctx, n.Host)
	if err != nil {
		return nil, err
	}
	hv := s.hypervisor(ix, *n, withServers)
	if hv == nil {
		return nil, hypervisorNotFound(id)
	}
	return hv, nil
}

// HypervisorStatistics sums every node's resources.
func (s *Service) HypervisorStatistics(ctx context.Context, p *authn.Principal) (map[string]int64, error) {
	list, err := s.Hypervisors(ctx, p, policyHypervisorsStatistics, HypervisorQuery{})
	if err != nil {
		return nil, err
	}
	st := map[string]int64{"count": 0, "vcpus": 0, "memory_mb": 0, "local_gb": 0, "vcpus_used": 0, "memory_mb_used": 0,
		"local_gb_used": 0, "free_ram_mb": 0, "free_disk_gb": 0, "current_workload": 0, "running_vms": 0,
		"disk_available_least": 0}
	for _, hv := range list {
		for k, v := range hv.resources() {
			st[k] += v
		}
		st["count"]++
	}
	return st, nil
}

// resources are the fields os-hypervisors shows before 2.88.
func (hv *Hypervisor) resources() map[string]int64 {
	free := int64(hv.LocalGB) - hv.LocalGBUsed
	return map[string]int64{
		"vcpus": int64(hv.VCPUs), "memory_mb": int64(hv.MemoryMB), "local_gb": int64(hv.LocalGB),
		"vcpus_used": hv.VCPUsUsed, "memory_mb_used": hv.MemoryMBUsed, "local_gb_used": hv.LocalGBUsed,
		"free_ram_mb": int64(hv.MemoryMB) - hv.MemoryMBUsed, "free_disk_gb": free,
		"current_workload": hv.CurrentWorkload, "running_vms": hv.RunningVMs, "disk_available_least": free,
	}
}

// ---- HTTP

func toHypervisor(r *http.Request, hv *Hypervisor, detail, withServers bool) map[string]any {
	v := mv(r)
	out := map[string]any{"id": hv.ID, "hypervisor_hostname": hv.HypervisorHostname, "state": "down", "status": "enabled"}
	svcID := any(hv.Service.ID)
	if v.AtLeast(53) {
		out["id"], svcID = hv.UUID, hv.Service.UUID
	}
	if hv.Up {
		out["state"] = "up"
	}
	if hv.Service.Disabled {
		out["status"] = "disabled"
	}
	if detail {
		out["hypervisor_type"] = hv.HypervisorType
		out["hypervisor_version"] = hv.HypervisorVersion
		out["host_ip"] = hv.HostIP
		out["service"] = map[string]any{"id": svcID, "host": hv.Host, "disabled_reason": hv.Service.DisabledReason}
		if v.AtLeast(88) {
			out["uptime"] = hv.Uptime
		} else {
			for k, n := range hv.resources() {
				out[k] = n
			}
			if v.AtLeast(28) {
				info := map[string]any{}
				if hv.CPUInfo != "" {
					var parsed any
					if json.Unmarshal([]byte(hv.CPUInfo), &parsed) == nil {
						out["cpu_info"] = parsed
					} else {
						out["cpu_info"] = info
					}
				} else {
					out["cpu_info"] = info
				}
			} else {
				out["cpu_info"] = hv.CPUInfo
			}
		}
	}
	if len(hv.Servers) > 0 || (withServers && v.AtLeast(75)) {
		list := make([]map[string]any, 0, len(hv.Servers))
		for _, sv := range hv.Servers {
			list = append(list, map[string]any{"name": sv.Name, "uuid": sv.UUID})
		}
		out["servers"] = list
	}
	return out
}

// strictBool is oslo's bool_from_string(strict=True) after Nova's
// 'boolean' query schema.
func strictBool(param, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, nil
	case "0", "f", "false", "off", "n", "no":
		return false, nil
	}
	return false, fault.BadRequestf("Invalid input for query parameters %s. Value: %s. '%s' is not one of [True, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', "+
		"'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']", param, v, v)
}

func (h *handlers) listHypervisors(w http.ResponseWriter, r *http.Request) error {
	return h.hypervisorList(w, r, false)
}

func (h *handlers) listHypervisorsDetail(w http.ResponseWriter, r *http.Request) error {
	return h.hypervisorList(w, r, true)
}

func (h *handlers) hypervisorList(w http.ResponseWriter, r *http.Request, detail bool) error {
	v := mv(r)
	rule := policyHypervisorsList
	if detail {
		rule = policyHypervisorsDetail
	}
	q := HypervisorQuery{ByUUID: v.AtLeast(53)}
	links := false
	if v.AtLeast(53) {
		// 2.53's query schema refuses what it does not know.
		for k := range r.URL.Query() {
			if !contains([]string{"limit", "marker", "hypervisor_hostname_pattern", "with_servers"}, k) {
				return fault.BadRequestf("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed ('%s' was unexpected)",
					k, r.URL.Query().Get(k), k)
			}
		}
		if vs := r.URL.Query()["hypervisor_hostname_pattern"]; len(vs) > 0 {
			q.Pattern = vs[len(vs)-1]
			if !hostNamePattern.MatchString(q.Pattern) || q.Pattern == "" || len(q.Pattern) > 255 {
				return fault.BadRequestf("Invalid input for query parameters hypervisor_hostname_pattern. Value: %s. '%s' does not match '^[a-zA-Z0-9-._]*$'",
					q.Pattern, q.Pattern)
			}
		}
		if ws, ok := lastParam(r, "with_servers"); ok {
			b, err := strictBool("with_servers", ws)
			if err != nil {
				return err
			}
			q.WithServers = b
		}
	}
	if v.AtLeast(33) {
		limit, marker, err := pageParams(r)
		if err != nil {
			return err
		}
		q.Marker = marker
		if q.Pattern != "" {
			if _, ok := r.URL.Query()["limit"]; ok || marker != "" {
				return fault.BadRequestf("Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.")
			}
		} else {
			links = true
			q.Limit = h.svc.pageLimit(limit)
		}
	}
	list, err := h.svc.Hypervisors(r.Context(), principal(r), rule, q)
	if err != nil {
		return err
	}
	if detail && v.AtLeast(88) {
		h.svc.fillUptimes(r.Context(), list)
	}
	out := make([]map[string]any, 0, len(list))
	for _, hv := range list {
		out = append(out, toHypervisor(r, hv, detail, q.WithServers))
	}
	body := map[string]any{"hypervisors": out}
	if links && len(out) > 0 {
		coll := "os-hypervisors"
		if detail {
			coll += "/detail"
		}
		if l := h.nextLinks(r, coll, len(out), fmt.Sprint(out[len(out)-1]["id"])); l != nil {
			body["hypervisors_links"] = l
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

// hypervisorID checks a path id: a uuid from 2.53 (else 400), a number
// before (else 404).
func hypervisorID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if mv(r).AtLeast(53) {
		if !isUUIDLike(id) {
			return "", fault.BadRequestf("Invalid uuid %s", id)
		}
		return id, nil
	}
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return "", hypervisorNotFound(id)
	}
	return id, nil
}

func (h *handlers) showHypervisor(w http.ResponseWriter, r *http.Request) error {
	withServers := false
	if mv(r).AtLeast(53) {
		if err := queryCheckFrom(r, "with_servers"); err != nil {
			return err
		}
		if ws, ok := lastParam(r, "with_servers"); ok {
			b, err := strictBool("with_servers", ws)
			if err != nil {
				return err
			}
			withServers = b
		}
	}
	if err := h.svc.authorize(principal(r), policyHypervisorsShow, map[string]any{}); err != nil {
		return err
	}
	id, err := hypervisorID(r)
	if err != nil {
		return err
	}
	hv, err := h.svc.GetHypervisor(r.Context(), principal(r), policyHypervisorsShow, id, withServers)
	if err != nil {
		return err
	}
	if mv(r).AtLeast(88) {
		h.svc.fillUptimes(r.Context(), []*Hypervisor{hv})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"hypervisor": toHypervisor(r, hv, true, withServers)})
}

// queryCheckFrom refuses query parameters not listed, as a schema with
// additionalProperties false does (whatever the microversion).
func queryCheckFrom(r *http.Request, allowed ...string) error {
	keys := make([]string, 0)
	for k := range r.URL.Query() {
		if !contains(allowed, k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return fault.BadRequestf("Invalid input for query parameters %s. Value: %s. Additional properties are not allowed ('%s' was unexpected)",
		keys[0], r.URL.Query().Get(keys[0]), keys[0])
}

func (h *handlers) hypervisorStatistics(w http.ResponseWriter, r *http.Request) error {
	st, err := h.svc.HypervisorStatistics(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"hypervisor_statistics": st})
}

// searchHypervisors and hypervisorServers are the routes 2.53 replaced
// with hypervisor_hostname_pattern and with_servers.
func (h *handlers) searchHypervisors(w http.ResponseWriter, r *http.Request) error {
	return h.hypervisorSearch(w, r, policyHypervisorsSearch, false)
}

func (h *handlers) hypervisorServers(w http.ResponseWriter, r *http.Request) error {
	return h.hypervisorSearch(w, r, policyHypervisorsServers, true)
}

func (h *handlers) hypervisorSearch(w http.ResponseWriter, r *http.Request, rule string, withServers bool) error {
	list, err := h.svc.Hypervisors(r.Context(), principal(r), rule, HypervisorQuery{Pattern: r.PathValue("id"), WithServers: withServers})
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, hv := range list {
		out = append(out, toHypervisor(r, hv, false, false))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"hypervisors": out})
}

// adminUntil hides a route from 2.(minor+1) on, with the plain 404 Nova gives.
func adminUntil(minor int, h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if mv(r).AtLeast(minor + 1) {
			return fault.NotFoundf("The resource could not be found.")
		}
		return h(w, r)
	}
}
