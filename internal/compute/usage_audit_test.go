package compute

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestUsageAuditLog(t *testing.T) {
	a := newActionsAPI(t) // host1's compute service heartbeats
	r := a.call("GET", "/v2.1/os-instance_usage_audit_log", nil).must(t, http.StatusOK)
	const p = "instance_usage_audit_logs."
	if r.num(p+"num_hosts") != 1 || r.num(p+"num_hosts_not_run") != 1 || r.str(p+"hosts_not_run.0") != "host1" ||
		r.num(p+"num_hosts_done") != 0 || r.num(p+"num_hosts_running") != 0 || r.num(p+"total_instances") != 0 ||
		r.num(p+"total_errors") != 0 || r.str(p+"overall_status") != "0 of 1 hosts done. 0 errors." || len(r.body) != 1 {
		t.Fatalf("list %s", r.raw)
	}
	if m, ok := r.path(p + "log").(map[string]any); !ok || len(m) != 0 {
		t.Fatalf("log %s", r.raw)
	}
	now := time.Now().UTC()
	end := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if r.str(p+"period_ending") != end.Format("2006-01-02 15:04:05") ||
		r.str(p+"period_beginning") != end.AddDate(0, -1, 0).Format("2006-01-02 15:04:05") {
		t.Fatalf("period %s", r.raw)
	}

	for _, c := range []struct{ before, begin, end string }{
		{"2012-12-12 10:00:00", "2012-11-01 00:00:00", "2012-12-01 00:00:00"},
		{"2012-12-01 00:00:00", "2012-10-01 00:00:00", "2012-11-01 00:00:00"},
		{"2012-12-01 00:00:00.5", "2012-11-01 00:00:00", "2012-12-01 00:00:00"},
		{"2013-01-05 1:2:3", "2012-12-01 00:00:00", "2013-01-01 00:00:00"},
	} {
		r := a.call("GET", "/v2.1/os-instance_usage_audit_log/"+url.PathEscape(c.before), nil).must(t, http.StatusOK)
		if r.str("instance_usage_audit_log.period_beginning") != c.begin || r.str("instance_usage_audit_log.period_ending") != c.end {
			t.Fatalf("before %s: %s", c.before, r.raw)
		}
	}
	a.call("GET", "/v2.1/os-instance_usage_audit_log/invalid_time", nil).fault(t, http.StatusBadRequest, "badRequest",
		"Invalid timestamp for date invalid_time")
	a.call("GET", "/v2.1/os-instance_usage_audit_log", nil, "token=member").fault(t, http.StatusForbidden, "forbidden",
		"Policy doesn't allow os_compute_api:os-instance-usage-audit-log:list to be performed.")
	a.call("GET", "/v2.1/os-instance_usage_audit_log/"+url.PathEscape("2012-12-12 10:00:00"), nil, "token=member").must(t, http.StatusForbidden)
}
