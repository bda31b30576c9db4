package instances

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Query selects instances for a list (Nova's servers list filters).
type Query struct {
	ProjectID        string // "" = every project (admins with all_tenants)
	UserID           string
	Name             string // regular expression, matched as Nova does (re.search)
	Hostname         string // Nova: regex
	Host             string
	Node             string
	Statuses         []string // VM states (the API maps status names to vm_state(s))
	TaskStates       []string
	Flavor           string    // flavorid
	Image            string    // image ref
	IP               string    // unused without network
	ChangesSince     time.Time // updated_at >= (includes deleted)
	ChangesBefore    time.Time // updated_at <= (2.66)
	Deleted          *bool     // nil = not deleted only; true = only deleted; false = not deleted
	Tags             []string  // all of
	TagsAny          []string
	NotTags          []string // not all of
	NotTagsAny       []string
	Locked           *bool
	AvailabilityZone string
	ReservationID    string
	LaunchedAt       time.Time // launched_at >= (admin)
	TerminatedAt     time.Time // terminated_at >= (admin)
	UUIDs            []string  // restrict to these
	// SortKeys/SortDirs as Nova's (created_at desc by default, then
	// id); keys are instance column names from the API's allowed list:
	// "display_name", "created_at", "updated_at", "uuid", "vm_state",
	// "task_state", "power_state", "host", "node", "launched_at",
	// "terminated_at", "hostname", "availability_zone", "flavorid"...
	SortKeys []string
	SortDirs []string
	Limit    int    // 0 = no limit
	Marker   string // UUID of the last instance of the previous page; ErrNotFound when unknown
}

// sortColumns maps Nova's instance sort keys to expressions on "i".
// Keys Nova has but Nimbus does not keep (kernel_id, ramdisk_id) sort
// as if equal.
var sortColumns = map[string]string{
	"access_ip_v4": "i.access_ip_v4", "access_ip_v6": "i.access_ip_v6",
	"auto_disk_config": "i.auto_disk_config", "availability_zone": "i.availability_zone",
	"config_drive": "i.config_drive", "created_at": "i.created_at",
	"display_description": "COALESCE(i.description, '')", "display_name": "i.display_name",
	"host": "i.host", "hostname": "i.hostname", "id": "i.id", "image_ref": "i.image_ref",
	"instance_type_id": "i.flavorid", "flavorid": "i.flavorid", "kernel_id": "''", "ramdisk_id": "''",
	"key_name": "i.key_name", "launch_index": "i.launch_index", "launched_at": "i.launched_at",
	"locked": "i.locked", "locked_by": "i.locked_by", "node": "i.node", "power_state": "i.power_state",
	"progress": "i.progress", "project_id": "i.project_id", "reservation_id": "i.reservation_id",
	"root_device_name": "i.root_device_name", "task_state": "i.task_state",
	"terminated_at": "i.terminated_at", "updated_at": "i.updated_at", "user_id": "i.user_id",
	"uuid": "i.uuid", "vm_state": "i.vm_state", "deleted_at": "i.deleted_at",
}

// sortOrder is Nova's process_sort_params with default direction desc:
// keys without directions take desc (or the first direction given), and
// created_at and id follow unless present.
func sortOrder(keys, dirs []string) ([]string, []string, error) {
	if len(dirs) > len(keys) {
		return nil, nil, fmt.Errorf("%w: more sort directions than keys", ErrInvalid)
	}
	def := "desc"
	if len(dirs) > 0 {
		def = dirs[0]
	}
	var outK, outD []string
	for n, k := range keys {
		col, ok := sortColumns[k]
		if !ok {
			return nil, nil, fmt.Errorf("%w: sort key %q", ErrInvalid, k)
		}
		d := def
		if n < len(dirs) {
			d = dirs[n]
		}
		if d != "asc" && d != "desc" {
			return nil, nil, fmt.Errorf("%w: sort direction %q", ErrInvalid, d)
		}
		outK, outD = append(outK, col), append(outD, d)
	}
	for _, k := range []string{"created_at", "id"} {
		col := sortColumns[k]
		present := false
		for _, c := range outK {
			present = present || c == col
		}
		if !present {
			outK, outD = append(outK, col), append(outD, def)
		}
	}
	return outK, outD, nil
}

// List returns the instances q selects, with metadata, tags and fault.
func (s *Store) List(ctx context.Context, q Query) ([]*Instance, error) {
	name, hostname := pattern(q.Name), pattern(q.Hostname)
	keys, dirs, err := sortOrder(q.SortKeys, q.SortDirs)
	if err != nil {
		return nil, err
	}
	if q.UUIDs != nil && len(q.UUIDs) == 0 {
		return []*Instance{}, nil
	}

	var a args
	conds := []string{"TRUE"}
	eq := func(col, v string) {
		if v != "" {
			conds = append(conds, col+" = "+a.add(v))
		}
	}
	eq("i.project_id", q.ProjectID)
	eq("i.user_id", q.UserID)
	eq("i.host", q.Host)
	eq("i.node", q.Node)
	eq("i.flavorid", q.Flavor)
	eq("i.image_ref", q.Image)
	eq("i.availability_zone", q.AvailabilityZone)
	eq("i.reservation_id", q.ReservationID)
	if len(q.Statuses) > 0 {
		conds = append(conds, "i.vm_state IN "+a.in(q.Statuses))
	}
	if len(q.TaskStates) > 0 {
		conds = append(conds, "i.task_state IN "+a.in(q.TaskStates))
	}
	if !q.ChangesSince.IsZero() {
		conds = append(conds, "i.changed_at >= "+a.add(micros(q.ChangesSince)))
	}
	if !q.ChangesBefore.IsZero() {
		conds = append(conds, "i.changed_at <= "+a.add(micros(q.ChangesBefore)))
	}
	switch {
	case q.Deleted != nil && *q.Deleted:
		conds = append(conds, "(i.deleted = TRUE OR i.vm_state = "+a.add(SoftDeleted)+")")
	case q.Deleted == nil && (!q.ChangesSince.IsZero() || !q.ChangesBefore.IsZero()):
		// changes-since/-before show deleted servers too.
	default:
		conds = append(conds, "i.deleted = FALSE")
		softAsked := false
		for _, st := range q.Statuses {
			softAsked = softAsked || st == SoftDeleted
		}
		if !softAsked {
			conds = append(conds, "i.vm_state <> "+a.add(SoftDeleted))
		}
	}
	hasTag := func(t string) string {
		return "EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_id = i.id AND t.tag = " + a.add(t) + ")"
	}
	for _, t := range q.Tags {
		conds = append(conds, hasTag(t))
	}
	if len(q.TagsAny) > 0 {
		conds = append(conds, "EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_id = i.id AND t.tag IN "+a.in(q.TagsAny)+")")
	}
	if len(q.NotTags) > 0 {
		all := make([]string, len(q.NotTags))
		for n, t := range q.NotTags {
			all[n] = hasTag(t)
		}
		conds = append(conds, "NOT ("+strings.Join(all, " AND ")+")")
	}
	if len(q.NotTagsAny) > 0 {
		conds = append(conds, "NOT EXISTS (SELECT 1 FROM instance_tags t WHERE t.instance_id = i.id AND t.tag IN "+a.in(q.NotTagsAny)+")")
	}
	if q.Locked != nil {
		conds = append(conds, "i.locked = "+a.add(*q.Locked))
	}
	if !q.LaunchedAt.IsZero() {
		conds = append(conds, "i.launched_at >= "+a.add(micros(q.LaunchedAt)))
	}
	if !q.TerminatedAt.IsZero() {
		conds = append(conds, "i.terminated_at >= "+a.add(micros(q.TerminatedAt)))
	}
	if len(q.UUIDs) > 0 {
		conds = append(conds, "i.uuid IN "+a.in(q.UUIDs))
	}
	if q.Marker != "" {
		var ma args
		mq := "SELECT id FROM instances WHERE uuid = " + ma.add(q.Marker)
		if q.ProjectID != "" {
			mq += " AND project_id = " + ma.add(q.ProjectID)
		}
		var markerID int64
		err := s.db.QueryRowContext(ctx, mq, ma...).Scan(&markerID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("marker %s: %w", q.Marker, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("find marker %s: %w", q.Marker, err)
		}
		// After the marker in the sort order: some key past the
		// marker's, every key before it equal.
		mark := a.add(markerID)
		var ors []string
		for n, col := range keys {
			var ands []string
			for _, prev := range keys[:n] {
				ands = append(ands, prev+" = "+markerValue(prev, mark))
			}
			cmp := ">"
			if dirs[n] == "desc" {
				cmp = "<"
			}
			ands = append(ands, col+" "+cmp+" "+markerValue(col, mark))
			ors = append(ors, "("+strings.Join(ands, " AND ")+")")
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	order := make([]string, len(keys))
	for n, k := range keys {
		order[n] = k + " " + strings.ToUpper(dirs[n])
	}
	query := `SELECT ` + instanceColumns + ` FROM instances i WHERE ` + strings.Join(conds, " AND ") +
		` ORDER BY ` + strings.Join(order, ", ")
	regex := name != nil || hostname != nil
	if q.Limit > 0 && !regex {
		query += ` LIMIT ` + a.add(q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	out := []*Instance{}
	for rows.Next() {
		inst, err := scanInstance(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list instances: %w", err)
		}
		// Regular expressions are matched here, the same on both
		// engines (SQLite has no REGEXP of its own).
		if name != nil && !name.MatchString(inst.Name) || hostname != nil && !hostname.MatchString(inst.Hostname) {
			continue
		}
		out = append(out, inst)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	if err := fill(ctx, s.db, s.db.Engine, out); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// pattern compiles a name filter: a regular expression searched for, as
// Nova's re.search; one Go cannot compile (bad syntax, or Python's
// lookarounds) is searched for as plain text rather than failing the
// list. Nil for "".
func pattern(expr string) *regexp.Regexp {
	if expr == "" {
		return nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		re = regexp.MustCompile(regexp.QuoteMeta(expr))
	}
	return re
}

// markerValue is the marker row's value of a sort expression.
func markerValue(col, markerPH string) string {
	if !strings.Contains(col, "i.") {
		return col // a constant
	}
	return "(SELECT " + strings.ReplaceAll(col, "i.", "m.") + " FROM instances m WHERE m.id = " + markerPH + ")"
}
