package compute

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-migrations: the resizes of servers (in place here, so source and
// destination are the same host), read off the servers' actions. There
// are no cold or live migrations between hosts.

// MigrationQuery filters the migration list.
type MigrationQuery struct {
	Status, Host, SourceCompute, Type, InstanceUUID string
	Hidden                                          string
	UserID, ProjectID                               string
	Since, Before                                   time.Time
	Paged                                           bool // 2.59: newest first, limit and marker
	Limit                                           int  // -1: none
	Marker                                          string
}

// MigrationList is a page of migrations and whether hosts may be shown.
type MigrationList struct {
	Migrations []instances.Migration
	ShowHosts  bool
}

// Migrations lists migrations as Nova's os-migrations.
func (s *Service) Migrations(ctx context.Context, p *authn.Principal, q MigrationQuery) (*MigrationList, error) {
	if err := s.authorize(p, policyMigrationsIndex, nil); err != nil {
		return nil, err
	}
	if q.ProjectID == "" || q.ProjectID != p.ProjectID {
		if err := s.authorize(p, policyMigrationsAllProjects, nil); err != nil {
			return nil, err
		}
	}
	all, err := s.instances.Migrations(ctx)
	if err != nil {
		return nil, err
	}
	out := []instances.Migration{}
	for _, m := range all {
		switch {
		case q.Status != "" && m.Status != q.Status,
			q.Host != "" && m.Host != q.Host,
			q.SourceCompute != "" && m.Host != q.SourceCompute,
			q.Type != "" && m.Type != q.Type,
			q.InstanceUUID != "" && m.InstanceUUID != q.InstanceUUID,
			q.Hidden != "" && !slices.Contains(falseStrings, strings.ToLower(q.Hidden)),
			q.UserID != "" && m.UserID != q.UserID,
			q.ProjectID != "" && m.ProjectID != q.ProjectID:
			continue
		}
		changed := m.UpdatedAt
		if changed.IsZero() {
			changed = m.CreatedAt
		}
		if (!q.Since.IsZero() && changed.Before(q.Since)) || (!q.Before.IsZero() && changed.After(q.Before)) {
			continue
		}
		out = append(out, m)
	}
	if q.Paged {
		slices.SortStableFunc(out, func(a, b instances.Migration) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return int(b.ID - a.ID)
		})
		if q.Marker != "" {
			i := slices.IndexFunc(out, func(m instances.Migration) bool { return m.UUID == q.Marker })
			if i < 0 {
				return nil, fault.BadRequestf("Marker %s could not be found.", q.Marker)
			}
			out = out[i+1:]
		}
		if q.Limit >= 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
	}
	return &MigrationList{Migrations: out, ShowHosts: s.allowed(p, policyMigrationsHost, nil)}, nil
}

// falseStrings are what oslo's bool_from_string reads as false ("hidden"
// migrations are none here).
var falseStrings = []string{"0", "f", "false", "off", "n", "no"}

func (h *handlers) listMigrations(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	qs := r.URL.Query()
	allowed := []string{"hidden", "host", "instance_uuid", "source_compute", "status", "migration_type"}
	if v.AtLeast(59) {
		allowed = append(allowed, "limit", "marker", "changes-since")
		if v.AtLeast(66) {
			allowed = append(allowed, "changes-before")
		}
		if v.AtLeast(80) {
			allowed = append(allowed, "user_id", "project_id")
		}
		if err := strictQuery(r, allowed...); err != nil {
			return err
		}
	}
	get := func(k string) string {
		if !contains(allowed, k) {
			return ""
		}
		vs := qs[k]
		if len(vs) == 0 {
			return ""
		}
		return vs[len(vs)-1]
	}
	q := MigrationQuery{Status: get("status"), Host: get("host"), SourceCompute: get("source_compute"), Type: get("migration_type"),
		InstanceUUID: get("instance_uuid"), Hidden: get("hidden"), Limit: -1}
	if v.AtLeast(80) {
		q.UserID, q.ProjectID = get("user_id"), get("project_id")
	}
	if v.AtLeast(59) {
		q.Paged = true
		var err error
		if q.Limit, q.Marker, err = pageParams(r); err != nil {
			return err
		}
		if q.Limit < 0 || q.Limit > h.svc.cfg.MaxLimit {
			q.Limit = h.svc.cfg.MaxLimit
		}
		for _, f := range []struct {
			name string
			dst  *time.Time
		}{{"changes-since", &q.Since}, {"changes-before", &q.Before}} {
			s := get(f.name)
			if s == "" {
				continue
			}
			t, err := parseISOTime(s)
			if err != nil {
				return fault.BadRequestf("Invalid input for query parameters %s. Value: %s. '%s' is not a 'date-time'", f.name, s, s)
			}
			*f.dst = t
		}
		if !q.Since.IsZero() && !q.Before.IsZero() && q.Before.Before(q.Since) {
			return fault.BadRequestf("The value of changes-since must be less than or equal to changes-before.")
		}
	}
	list, err := h.svc.Migrations(r.Context(), principal(r), q)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list.Migrations))
	for _, m := range list.Migrations {
		var updated any
		if !m.UpdatedAt.IsZero() {
			updated = novaTime(m.UpdatedAt)
		}
		var host, node any = m.Host, m.Node
		if !list.ShowHosts {
			host, node = nil, nil
		}
		item := map[string]any{"id": m.ID, "instance_uuid": m.InstanceUUID, "status": m.Status,
			"created_at": novaTime(m.CreatedAt), "updated_at": updated,
			"source_compute": host, "source_node": node, "dest_compute": host, "dest_node": node, "dest_host": nil,
			"old_instance_type_id": nil, "new_instance_type_id": nil}
		if v.AtLeast(23) {
			item["migration_type"] = m.Type
		}
		if v.AtLeast(59) {
			item["uuid"] = m.UUID
		}
		if v.AtLeast(80) {
			item["user_id"], item["project_id"] = m.UserID, m.ProjectID
		}
		out = append(out, item)
	}
	body := map[string]any{"migrations": out}
	if v.AtLeast(59) && len(list.Migrations) > 0 {
		if links := h.nextLinks(r, "os-migrations", len(list.Migrations), list.Migrations[len(list.Migrations)-1].UUID); links != nil {
			body["migrations_links"] = links
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

// parseISOTime reads oslo's parse_isotime forms: RFC 3339, with or
// without a zone (then UTC) and fractional seconds.
func parseISOTime(s string) (time.Time, error) {
	if u, err := url.QueryUnescape(s); err == nil {
		s = u
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fault.BadRequestf("Invalid time %s", s)
}
