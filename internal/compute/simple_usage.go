package compute

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-simple-tenant-usage: what each project's servers held over a
// period (vCPU, RAM and disk hours), from their launch and termination
// times; deleted servers count for the time they ran.

// ServerUsage is one server's part of a period.
type ServerUsage struct {
	InstanceID string
	Name       string
	TenantID   string
	Flavor     string
	Hours      float64
	MemoryMB   int64
	LocalGB    int64
	VCPUs      int64
	StartedAt  time.Time // zero if never launched
	EndedAt    time.Time // zero if running
	State      string    // vm state, or "terminated"
	Uptime     int64     // seconds
}

// TenantUsage sums a project's servers over a period.
type TenantUsage struct {
	TenantID           string
	ServerUsages       []ServerUsage
	TotalLocalGBUsage  float64
	TotalVCPUsUsage    float64
	TotalMemoryMBUsage float64
	TotalHours         float64
	Start, Stop        time.Time
}

// UsageQuery selects the period and the page of servers.
type UsageQuery struct {
	Start, Stop time.Time
	TenantID    string // "" = every project
	Limit       int
	Marker      string // instance uuid
}

// hoursIn is Nova's _hours_for: the hours of [start, stop] the instance
// ran, from launch to termination.
func hoursIn(inst *instances.Instance, start, stop time.Time) float64 {
	if inst.LaunchedAt.IsZero() {
		return 0
	}
	if !inst.TerminatedAt.IsZero() && inst.TerminatedAt.Before(start) {
		return 0
	}
	if inst.LaunchedAt.After(stop) {
		return 0
	}
	from := inst.LaunchedAt
	if from.Before(start) {
		from = start
	}
	to := stop
	if !inst.TerminatedAt.IsZero() && inst.TerminatedAt.Before(stop) {
		to = inst.TerminatedAt
	}
	return to.Sub(from).Hours()
}

// usageInstances are the instances active in the window (Nova's
// get_active_by_window_joined): launched before stop (so never a server
// that has not launched: Nova's SQL drops a NULL launched_at), not
// terminated before start, oldest first, paged by limit and marker.
func (s *Service) usageInstances(ctx context.Context, q UsageQuery) ([]*instances.Instance, error) {
	deleted := true
	var all []*instances.Instance
	for _, d := range []*bool{nil, &deleted} {
		list, err := s.instances.List(ctx, instances.Query{ProjectID: q.TenantID, Deleted: d})
		if err != nil {
			return nil, err
		}
		all = append(all, list...)
	}
	var out []*instances.Instance
	for _, inst := range all {
		if !inst.TerminatedAt.IsZero() && !inst.TerminatedAt.After(q.Start) {
			continue
		}
		if inst.LaunchedAt.IsZero() || !inst.LaunchedAt.Before(q.Stop) {
			continue
		}
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	if q.Marker != "" {
		at := -1
		for i, inst := range out {
			if inst.UUID == q.Marker {
				at = i
				break
			}
		}
		if at < 0 {
			return nil, fault.BadRequestf("Marker %s could not be found.", q.Marker)
		}
		out = out[at+1:]
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// tenantUsages is Nova's _tenant_usages_for_period: the projects in the
// order their first server appears, and every server's usage.
func (s *Service) tenantUsages(ctx context.Context, q UsageQuery, detailed bool) ([]*TenantUsage, []ServerUsage, error) {
	list, err := s.usageInstances(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	var order []*TenantUsage
	byTenant := map[string]*TenantUsage{}
	var all []ServerUsage
	for _, inst := range list {
		u := ServerUsage{InstanceID: inst.UUID, Name: inst.Name, TenantID: inst.ProjectID, Flavor: inst.Flavor.Name,
			Hours: hoursIn(inst, q.Start, q.Stop), MemoryMB: inst.Flavor.MemoryMB,
			LocalGB: inst.Flavor.RootGB + inst.Flavor.EphemeralGB, VCPUs: inst.Flavor.VCPUs,
			StartedAt: inst.LaunchedAt, EndedAt: inst.TerminatedAt, State: inst.VMState}
		if !u.EndedAt.IsZero() {
			u.State = "terminated"
		}
		if !u.StartedAt.IsZero() {
			end := now
			if !u.EndedAt.IsZero() {
				end = u.EndedAt
			}
			u.Uptime = int64(end.Sub(u.StartedAt) / time.Second)
		}
		t := byTenant[u.TenantID]
		if t == nil {
			t = &TenantUsage{TenantID: u.TenantID, Start: q.Start, Stop: q.Stop}
			if detailed {
				t.ServerUsages = []ServerUsage{}
			}
			byTenant[u.TenantID] = t
			order = append(order, t)
		}
		t.TotalLocalGBUsage += float64(u.LocalGB) * u.Hours
		t.TotalVCPUsUsage += float64(u.VCPUs) * u.Hours
		t.TotalMemoryMBUsage += float64(u.MemoryMB) * u.Hours
		t.TotalHours += u.Hours
		all = append(all, u)
		if detailed {
			t.ServerUsages = append(t.ServerUsages, u)
		}
	}
	return order, all, nil
}

// TenantUsages is every project's usage (admins).
func (s *Service) TenantUsages(ctx context.Context, p *authn.Principal, q UsageQuery, detailed bool) ([]*TenantUsage, []ServerUsage, error) {
	if err := s.authorize(p, policySimpleTenantUsageList, nil); err != nil {
		return nil, nil, err
	}
	q.TenantID = ""
	return s.tenantUsages(ctx, q, detailed)
}

// TenantUsage is one project's usage, nil when it had no servers.
func (s *Service) TenantUsage(ctx context.Context, p *authn.Principal, q UsageQuery) (*TenantUsage, []ServerUsage, error) {
	if err := s.authorize(p, policySimpleTenantUsageShow, map[string]any{"project_id": q.TenantID}); err != nil {
		return nil, nil, err
	}
	list, all, err := s.tenantUsages(ctx, q, true)
	if err != nil || len(list) == 0 {
		return nil, all, err
	}
	return list[0], all, nil
}

// ---- HTTP

func nullableTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return novaTime(t)
}

func toTenantUsage(t *TenantUsage) map[string]any {
	out := map[string]any{
		"tenant_id": t.TenantID, "total_local_gb_usage": t.TotalLocalGBUsage, "total_vcpus_usage": t.TotalVCPUsUsage,
		"total_memory_mb_usage": t.TotalMemoryMBUsage, "total_hours": t.TotalHours,
		"start": novaTime(t.Start), "stop": novaTime(t.Stop),
	}
	if t.ServerUsages != nil {
		list := make([]map[string]any, 0, len(t.ServerUsages))
		for _, u := range t.ServerUsages {
			list = append(list, map[string]any{
				"instance_id": u.InstanceID, "name": u.Name, "hours": u.Hours, "memory_mb": u.MemoryMB,
				"local_gb": u.LocalGB, "vcpus": u.VCPUs, "tenant_id": u.TenantID, "flavor": u.Flavor,
				"started_at": nullableTime(u.StartedAt), "ended_at": nullableTime(u.EndedAt), "state": u.State,
				"uptime": u.Uptime,
			})
		}
		out["server_usages"] = list
	}
	return out
}

// usageTime is Nova's _parse_datetime: now when empty, else one of three
// formats, read as UTC.
func usageTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now, nil
	}
	layouts := []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999"}
	if strings.Contains(s, " ") && strings.Contains(s, ".") {
		layouts = append(layouts, "2006-01-02 15:04:05.999999")
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fault.BadRequestf("Invalid datetime string: Datetime is in invalid format")
}

// usagePeriod reads start, end and detailed as Nova does: from the
// first value of each, and the period ending no later than now.
func (h *handlers) usagePeriod(r *http.Request) (UsageQuery, bool, error) {
	var q UsageQuery
	qs, _ := url.ParseQuery(r.URL.RawQuery)
	now := h.svc.now().UTC()
	var err error
	if q.Start, err = usageTime(qs.Get("start"), now); err != nil {
		return q, false, err
	}
	if q.Stop, err = usageTime(qs.Get("end"), now); err != nil {
		return q, false, err
	}
	if !q.Start.Before(q.Stop) {
		return q, false, fault.BadRequestf("Invalid start time. The start time cannot occur after the end time.")
	}
	if q.Stop.After(now) {
		q.Stop = now
	}
	q.Limit = h.svc.cfg.MaxLimit
	if mv(r).AtLeast(40) {
		limit, marker, err := pageParams(r)
		if err != nil {
			return q, false, err
		}
		q.Limit, q.Marker = h.svc.pageLimit(limit), marker
	}
	return q, qs.Get("detailed") == "1", nil
}

func (h *handlers) listTenantUsages(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "start", "end", "detailed", "limit", "marker"); err != nil {
		return err
	}
	if err := h.svc.authorize(principal(r), policySimpleTenantUsageList, nil); err != nil {
		return err
	}
	q, detailed, err := h.usagePeriod(r)
	if err != nil {
		return err
	}
	list, all, err := h.svc.TenantUsages(r.Context(), principal(r), q, detailed)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, t := range list {
		out = append(out, toTenantUsage(t))
	}
	body := map[string]any{"tenant_usages": out}
	if mv(r).AtLeast(40) && len(all) > 0 {
		if l := h.nextLinks(r, "os-simple-tenant-usage", len(all), all[len(all)-1].InstanceID); l != nil {
			body["tenant_usages_links"] = l
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

func (h *handlers) showTenantUsage(w http.ResponseWriter, r *http.Request) error {
	if err := queryCheck(r, "start", "end", "limit", "marker"); err != nil {
		return err
	}
	tenant := r.PathValue("id")
	if err := h.svc.authorize(principal(r), policySimpleTenantUsageShow, map[string]any{"project_id": tenant}); err != nil {
		return err
	}
	q, _, err := h.usagePeriod(r)
	if err != nil {
		return err
	}
	q.TenantID = tenant
	t, all, err := h.svc.TenantUsage(r.Context(), principal(r), q)
	if err != nil {
		return err
	}
	usage := map[string]any{}
	if t != nil {
		usage = toTenantUsage(t)
	}
	body := map[string]any{"tenant_usage": usage}
	if mv(r).AtLeast(40) && len(all) > 0 {
		if l := h.nextLinks(r, "os-simple-tenant-usage/"+url.PathEscape(tenant), len(all), all[len(all)-1].InstanceID); l != nil {
			body["tenant_usage_links"] = l
		}
	}
	return writeJSON(w, http.StatusOK, body)
}
