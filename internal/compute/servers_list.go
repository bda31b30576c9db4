package compute

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Listing servers: GET /servers and /servers/detail with Nova's filters
// (servers.py _get_servers and remove_invalid_options).

// serverQueryParams are the parameters of Nova's index query schema;
// from 2.75 any other is a 400.
var serverQueryParams = []string{
	"user_id", "project_id", "tenant_id", "launch_index", "image_ref", "image", "kernel_id", "ramdisk_id",
	"hostname", "key_name", "power_state", "vm_state", "task_state", "host", "node", "flavor", "reservation_id",
	"launched_at", "terminated_at", "availability_zone", "name", "display_name", "description",
	"display_description", "locked_by", "uuid", "root_device_name", "config_drive", "access_ip_v4",
	"access_ip_v6", "auto_disk_config", "progress", "sort_key", "sort_dir", "all_tenants", "soft_deleted",
	"deleted", "status", "changes-since", "ip", "ip6", "created_at", "limit", "marker",
	"block_device_mapping", "services", "metadata", "system_metadata", "info_cache", "security_groups",
	"pci_devices", "tags", "tags-any", "not-tags", "not-tags-any", "changes-before", "locked",
}

// joinedTableParams are refused with a 400 whoever asks.
var joinedTableParams = []string{"block_device_mapping", "services", "metadata", "system_metadata",
	"info_cache", "security_groups", "pci_devices"}

// userFilters are the filters a caller without allow_all_filters may use
// at a microversion (Nova's _get_server_search_options).
func userFilters(v Version) []string {
	f := []string{"reservation_id", "name", "status", "image", "flavor", "ip", "changes-since", "all_tenants"}
	if v.AtLeast(5) {
		f = append(f, "ip6")
	}
	if v.AtLeast(26) {
		f = append(f, "tags", "tags-any", "not-tags", "not-tags-any")
	}
	if v.AtLeast(66) {
		f = append(f, "changes-before")
	}
	if v.AtLeast(73) {
		f = append(f, "locked")
	}
	if v.AtLeast(83) {
		f = append(f, "availability_zone", "config_drive", "key_name", "created_at", "launched_at",
			"terminated_at", "power_state", "task_state", "vm_state", "progress", "user_id")
	}
	if v.AtLeast(90) {
		f = append(f, "hostname")
	}
	return f
}

// ignoredSortKeys are sort keys Nova accepts and drops.
var ignoredSortKeys = []string{"architecture", "cell_name", "cleaned", "default_ephemeral_device",
	"default_swap_device", "deleted", "deleted_at", "disable_terminate", "ephemeral_gb", "ephemeral_key_uuid",
	"id", "key_data", "launched_on", "locked", "memory_mb", "os_type", "reservation_id", "root_gb",
	"shutdown_terminate", "user_data", "vcpus", "vm_mode"}

// validSortKeys are Nova's VALID_SORT_KEYS besides the ignored ones.
var validSortKeys = []string{"access_ip_v4", "access_ip_v6", "auto_disk_config", "availability_zone",
	"config_drive", "created_at", "display_description", "display_name", "host", "hostname", "image_ref",
	"instance_type_id", "kernel_id", "key_name", "launch_index", "launched_at", "locked_by", "node",
	"power_state", "progress", "project_id", "ramdisk_id", "root_device_name", "task_state", "terminated_at",
	"updated_at", "user_id", "uuid", "vm_state"}

// statusStates is Nova's task_and_vm_state_from_status: the vm states
// and task states ("" for 'default') a list of statuses names.
func statusStates(statuses []string) (vmStates, taskStates []string) {
	want := map[string]bool{}
	for _, s := range statuses {
		want[strings.ToLower(strings.TrimSpace(s))] = true
	}
	vs, ts := map[string]bool{}, map[string]bool{}
	for vm, m := range statusMap {
		for task, status := range m {
			if want[strings.ToLower(status)] {
				vs[vm], ts[task] = true, true
			}
		}
	}
	return sortedKeys(vs), sortedKeys(ts)
}

// boolFromString is oslo's strutils.bool_from_string; strict refuses
// other values.
func boolFromString(s string, strict bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, nil
	case "0", "f", "false", "off", "n", "no":
		return false, nil
	}
	if strict {
		return false, fault.BadRequestf("Invalid input received: Unrecognized value '%s', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'", s)
	}
	return false, nil
}

// parseChangeTime reads changes-since/before as ISO 8601.
func parseChangeTime(name, s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fault.BadRequestf("Invalid input for query parameters %s. Value: %s. '%s' is not a 'date-time'", name, s, s)
}

// ServerList is a page of servers.
type ServerList struct {
	Servers []*instances.Instance
	Empty   bool // a status that names no state: Nova answers an empty list
}

// serverQuery turns a list request's parameters into a store query, as
// Nova's _get_servers does; detail chooses the all_tenants rule.
func (s *Service) serverQuery(r *http.Request, p *authn.Principal, detail bool) (instances.Query, bool, error) {
	var q instances.Query
	v := mv(r)
	params := r.URL.Query()
	last := func(k string) string { vs := params[k]; return vs[len(vs)-1] }
	if err := queryCheck(r, serverQueryParams...); err != nil {
		return q, false, err
	}
	if !v.AtLeast(26) {
		for _, k := range []string{"tags", "tags-any", "not-tags", "not-tags-any"} {
			delete(params, k)
		}
	}
	if !v.AtLeast(66) {
		delete(params, "changes-before")
	}
	if !v.AtLeast(73) {
		delete(params, "locked")
	}
	// remove_invalid_options: without allow_all_filters only the user
	// filters stay; with it, every one but paging and sorting.
	allowAll := s.allowed(p, policyServerAllFilters, nil)
	if !allowAll {
		allowed := userFilters(v)
		for k := range params {
			if !contains(allowed, k) && !contains([]string{"limit", "marker", "sort_key", "sort_dir"}, k) {
				delete(params, k)
			}
		}
	}
	for k := range params {
		if contains(joinedTableParams, k) || strings.HasPrefix(k, "_") {
			return q, false, fault.BadRequestf("Invalid filter field: %s.", k)
		}
	}
	if _, ok := params["status"]; ok {
		vms, tss := statusStates(params["status"])
		if len(vms) == 0 && len(tss) == 0 {
			if v.AtLeast(38) {
				return q, false, fault.BadRequestf("Invalid status value")
			}
			return q, true, nil
		}
		q.Statuses = vms
		if !contains(tss, "") {
			q.TaskStates = tss
		}
	}
	if _, ok := params["vm_state"]; ok {
		q.Statuses = append(q.Statuses, params["vm_state"]...)
	}
	if _, ok := params["task_state"]; ok {
		q.TaskStates = append(q.TaskStates, params["task_state"]...)
	}
	var err error
	if _, ok := params["changes-since"]; ok {
		if q.ChangesSince, err = parseChangeTime("changes-since", last("changes-since")); err != nil {
			return q, false, err
		}
	}
	if _, ok := params["changes-before"]; ok {
		if q.ChangesBefore, err = parseChangeTime("changes-before", last("changes-before")); err != nil {
			return q, false, err
		}
		if !q.ChangesSince.IsZero() && q.ChangesBefore.Before(q.ChangesSince) {
			return q, false, fault.BadRequestf("The value of changes-since must be less than or equal to changes-before.")
		}
	}
	// The store lists deleted servers with changes-since/before unless
	// deleted says otherwise, as Nova.
	if _, ok := params["deleted"]; ok {
		d, _ := boolFromString(last("deleted"), false)
		q.Deleted = &d
	}
	if len(q.Statuses) == 1 && q.Statuses[0] == instances.Deleted {
		if !s.isAdmin(p) {
			return q, false, fault.Forbiddenf("Only administrators may list deleted instances")
		}
		t := true
		q.Deleted = &t
	}
	splitTags := func(k string) []string {
		if _, ok := params[k]; !ok {
			return nil
		}
		return strings.Split(last(k), ",")
	}
	q.Tags, q.TagsAny, q.NotTags, q.NotTagsAny = splitTags("tags"), splitTags("tags-any"), splitTags("not-tags"),
		splitTags("not-tags-any")
	if _, ok := params["locked"]; ok {
		l, err := boolFromString(last("locked"), true)
		if err != nil {
			return q, false, fault.BadRequestf("Invalid input for query parameters locked. Value: %s. '%s' is not one of ['true', 'false', 'True', 'False', '1', '0', 'yes', 'no']",
				last("locked"), last("locked"))
		}
		q.Locked = &l
	}
	// Nova's is_all_tenants: present with no value ("?all_tenants=", as
	// novaclient and tempest send it) turns it on.
	_, allTenants := params["all_tenants"]
	if allTenants && last("all_tenants") != "" {
		if allTenants, err = boolFromString(last("all_tenants"), true); err != nil {
			return q, false, err
		}
	}
	if allTenants {
		rule := policyServerIndexAllTenants
		if detail {
			rule = policyServerDetailAllTenant
		}
		if err := s.authorize(p, rule, nil); err != nil {
			return q, false, err
		}
		if _, ok := params["project_id"]; ok {
			q.ProjectID = last("project_id")
		} else if _, ok := params["tenant_id"]; ok {
			q.ProjectID = last("tenant_id")
		}
	} else {
		q.ProjectID = p.ProjectID
		if q.ProjectID == "" {
			q.UserID = p.UserID
		}
	}
	str := func(k string) string {
		if _, ok := params[k]; ok {
			return last(k)
		}
		return ""
	}
	if u := str("user_id"); u != "" {
		q.UserID = u
	}
	q.Name = firstNonEmpty(str("name"), str("display_name"))
	q.Hostname = str("hostname")
	q.Host = str("host")
	q.Node = str("node")
	q.Flavor = str("flavor")
	if img := firstNonEmpty(str("image"), str("image_ref")); img != "" {
		q.Image = idFromHref(img)
	}
	q.IP = firstNonEmpty(str("ip"), str("ip6"))
	q.AvailabilityZone = str("availability_zone")
	q.ReservationID = str("reservation_id")
	if u := str("uuid"); u != "" {
		q.UUIDs = []string{u}
	}
	if t := str("launched_at"); t != "" {
		if q.LaunchedAt, err = parseChangeTime("launched_at", t); err != nil {
			return q, false, err
		}
	}
	if t := str("terminated_at"); t != "" {
		if q.TerminatedAt, err = parseChangeTime("terminated_at", t); err != nil {
			return q, false, err
		}
	}
	if q.SortKeys, q.SortDirs, err = s.serverSort(r, p); err != nil {
		return q, false, err
	}
	limit, marker, err := pageParams(r)
	if err != nil {
		return q, false, err
	}
	if limit == 0 {
		return q, true, nil
	}
	q.Limit = s.pageLimit(limit)
	q.Marker = marker
	return q, false, nil
}

// serverSort is Nova's get_sort_params and remove_invalid_sort_keys.
func (s *Service) serverSort(r *http.Request, p *authn.Principal) (keys, dirs []string, err error) {
	v := mv(r)
	params := r.URL.Query()
	for _, k := range params["sort_key"] {
		k = strings.TrimSpace(k)
		valid := contains(validSortKeys, k) || contains(ignoredSortKeys, k)
		if v.AtLeast(73) && k == "locked" {
			valid = true
		}
		if !valid {
			return nil, nil, fault.BadRequestf("Invalid input for query parameters sort_key. Value: %s. '%s' is not one of the valid sort keys", k, k)
		}
		keys = append(keys, k)
	}
	for _, d := range params["sort_dir"] {
		d = strings.TrimSpace(d)
		if d != "asc" && d != "desc" {
			return nil, nil, fault.BadRequestf("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'")
		}
		dirs = append(dirs, d)
	}
	ignored := ignoredSortKeys
	if v.AtLeast(73) {
		ignored = slices.DeleteFunc(slices.Clone(ignored), func(k string) bool { return k == "locked" })
	}
	var outKeys, outDirs []string
	for i, k := range keys {
		if contains(ignored, k) {
			continue
		}
		if (k == "host" || k == "node") && !s.isAdmin(p) {
			return nil, nil, fault.Forbiddenf("Only administrators can sort servers by %s", k)
		}
		outKeys = append(outKeys, storeSortKey(k))
		if i < len(dirs) {
			outDirs = append(outDirs, dirs[i])
		}
	}
	if len(keys) == 0 {
		outKeys = []string{"created_at"}
	}
	if len(dirs) == 0 {
		outDirs = []string{"desc"}
	} else if len(outDirs) == 0 && len(keys) == 0 {
		outDirs = dirs[:1]
	}
	return outKeys, outDirs, nil
}

// storeSortKey names Nova's sort keys as the store's columns.
func storeSortKey(k string) string {
	switch k {
	case "instance_type_id":
		return "flavorid"
	case "locked":
		return "locked_by"
	}
	return k
}

// ListServers returns a page of the servers q selects.
func (s *Service) ListServers(r *http.Request, p *authn.Principal, detail bool) ([]*instances.Instance, error) {
	rule := policyServerIndex
	if detail {
		rule = policyServerDetail
	}
	if err := s.authorize(p, rule, nil); err != nil {
		return nil, err
	}
	q, empty, err := s.serverQuery(r, p, detail)
	if err != nil || empty {
		return nil, err
	}
	list, err := s.instances.List(r.Context(), q)
	switch {
	case errors.Is(err, instances.ErrNotFound):
		return nil, fault.BadRequestf("marker [%s] not found", q.Marker)
	case errors.Is(err, instances.ErrInvalid):
		return nil, fault.Wrap(fault.BadRequest, err, "Invalid input received: %s", strings.TrimPrefix(err.Error(), "invalid query: "))
	}
	return list, err
}

func (h *handlers) listServers(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.ListServers(r, principal(r), false)
	if err != nil {
		return err
	}
	items := make([]map[string]any, 0, len(list))
	for _, inst := range list {
		items = append(items, map[string]any{"id": inst.UUID, "name": inst.Name,
			"links": resourceLinks(r, "servers", inst.UUID)})
	}
	return h.writeServerList(w, r, "servers", items, list)
}

func (h *handlers) listServersDetail(w http.ResponseWriter, r *http.Request) error {
	list, err := h.svc.ListServers(r, principal(r), true)
	if err != nil {
		return err
	}
	v := h.viewer(r)
	items := make([]map[string]any, 0, len(list))
	for _, inst := range list {
		body, err := v.show(r.Context(), inst, viewOpts{detail: true})
		if err != nil {
			return err
		}
		items = append(items, body)
	}
	return h.writeServerList(w, r, "servers/detail", items, list)
}

func (h *handlers) writeServerList(w http.ResponseWriter, r *http.Request, collection string, items []map[string]any,
	list []*instances.Instance) error {
	out := map[string]any{"servers": items}
	if n := len(list); n > 0 {
		if links := h.nextLinks(r, collection, n, list[n-1].UUID); links != nil {
			out["servers_links"] = links
		}
	}
	return writeJSON(w, http.StatusOK, out)
}
