package compute

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-instance-usage-audit-log: how far the compute hosts got with
// auditing their servers' usage over the last completed audit period
// (a month, Nova's default instance_usage_audit_period). No audit task
// runs here, so every compute host shows as not run, in Nova's shape.

// AuditLog is Nova's summary of one audit period.
type AuditLog struct {
	Begin, End   time.Time
	Hosts        []string // the compute hosts, disabled ones too
	NotRun       []string
	Done         int
	Running      int
	Instances    int
	Errors       int
	Log          map[string]AuditHostLog
	OverallState string
}

// AuditHostLog is one host's audit task.
type AuditHostLog struct {
	State     string
	Instances int
	Errors    int
	Message   string
}

// lastAuditPeriod is Nova's utils.last_completed_audit_period by month:
// the month that ended last before before.
func lastAuditPeriod(before time.Time) (begin, end time.Time) {
	end = time.Date(before.Year(), before.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !end.Before(before) {
		end = end.AddDate(0, -1, 0)
	}
	return end.AddDate(0, -1, 0), end
}

// UsageAuditLog summarizes the audit period that ended last before
// before (zero: now).
func (s *Service) UsageAuditLog(ctx context.Context, p *authn.Principal, rule string, before time.Time) (*AuditLog, error) {
	if err := s.authorize(p, rule, map[string]any{}); err != nil {
		return nil, err
	}
	if before.IsZero() {
		before = s.now().UTC()
	}
	services, err := s.instances.ListServices(ctx, "", computeBinary)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	l := &AuditLog{Hosts: []string{}, NotRun: []string{}, Log: map[string]AuditHostLog{}}
	l.Begin, l.End = lastAuditPeriod(before)
	for _, sv := range services {
		if !seen[sv.Host] {
			seen[sv.Host] = true
			l.Hosts = append(l.Hosts, sv.Host)
		}
	}
	// No host has run the audit: all of them are missing.
	l.NotRun = append(l.NotRun, l.Hosts...)
	sort.Strings(l.NotRun)
	done := "ALL"
	if l.Done != len(l.Hosts) {
		done = fmt.Sprintf("%d of %d", l.Done, len(l.Hosts))
	}
	l.OverallState = fmt.Sprintf("%s hosts done. %d errors.", done, l.Errors)
	return l, nil
}

func auditLogBody(l *AuditLog) map[string]any {
	logs := map[string]any{}
	for h, e := range l.Log {
		logs[h] = map[string]any{"state": e.State, "instances": e.Instances, "errors": e.Errors, "message": e.Message}
	}
	const pyTime = "2006-01-02 15:04:05"
	return map[string]any{
		"period_beginning": l.Begin.Format(pyTime), "period_ending": l.End.Format(pyTime),
		"num_hosts": len(l.Hosts), "num_hosts_done": l.Done, "num_hosts_running": l.Running,
		"num_hosts_not_run": len(l.NotRun), "hosts_not_run": l.NotRun, "total_instances": l.Instances,
		"total_errors": l.Errors, "overall_status": l.OverallState, "log": logs,
	}
}

func (h *handlers) listUsageAuditLogs(w http.ResponseWriter, r *http.Request) error {
	l, err := h.svc.UsageAuditLog(r.Context(), principal(r), policyAuditLogList, time.Time{})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"instance_usage_audit_logs": auditLogBody(l)})
}

func (h *handlers) showUsageAuditLog(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if err := h.svc.authorize(p, policyAuditLogShow, map[string]any{}); err != nil {
		return err
	}
	id := r.PathValue("before")
	// Python's strptime with "%Y-%m-%d %H:%M:%S" (".%f" after when the
	// id has a dot): one- or two-digit fields, a fraction after seconds.
	before, err := time.Parse("2006-1-2 15:4:5", id)
	if err != nil {
		return fault.BadRequestf("Invalid timestamp for date %s", id)
	}
	l, err := h.svc.UsageAuditLog(r.Context(), p, policyAuditLogShow, before)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"instance_usage_audit_log": auditLogBody(l)})
}
