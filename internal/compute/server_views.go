package compute

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// Views of a server as Nova's views/servers.py builds them, per
// microversion and per the caller's policy.

// Policy rules the server views check.
const (
	policyServerExtendedAttrs  = "os_compute_api:os-extended-server-attributes"
	policyServerExtraSpecs     = "os_compute_api:servers:show:flavor-extra-specs"
	policyServerHostStatus     = "os_compute_api:servers:show:host_status"
	policyServerHostStatusUnkn = "os_compute_api:servers:show:host_status:unknown-only"
)

// serviceDownTime is how long after its last heartbeat a compute service
// counts as down (nova.conf [DEFAULT] service_down_time).
const serviceDownTime = 60 * time.Second

// Host statuses (Nova's fields.HostStatus); "" is NONE.
const (
	hostUp          = "UP"
	hostDown        = "DOWN"
	hostMaintenance = "MAINTENANCE"
	hostUnknown     = "UNKNOWN"
)

// statusMap is Nova's _STATE_MAP: a server's status from its vm state,
// and task states that show another one.
var statusMap = map[string]map[string]string{
	instances.Active: {
		"":                      "ACTIVE",
		instances.TaskRebooting: "REBOOT", instances.TaskRebootPending: "REBOOT", instances.TaskRebootStarted: "REBOOT",
		instances.TaskRebootingHard: "HARD_REBOOT", instances.TaskRebootPendingHard: "HARD_REBOOT",
		instances.TaskRebootStartedHard: "HARD_REBOOT",
		instances.TaskUpdatingPassword:  "PASSWORD",
		instances.TaskRebuilding:        "REBUILD", "rebuild_block_device_mapping": "REBUILD",
		instances.TaskRebuildSpawning: "REBUILD",
		"migrating":                   "MIGRATING",
		instances.TaskResizePrep:      "RESIZE", instances.TaskResizeMigrating: "RESIZE",
		instances.TaskResizeMigrated: "RESIZE", instances.TaskResizeFinish: "RESIZE",
	},
	instances.Building: {"": "BUILD"},
	instances.Stopped: {
		"":                       "SHUTOFF",
		instances.TaskResizePrep: "RESIZE", instances.TaskResizeMigrating: "RESIZE",
		instances.TaskResizeMigrated: "RESIZE", instances.TaskResizeFinish: "RESIZE",
		instances.TaskRebuilding: "REBUILD", "rebuild_block_device_mapping": "REBUILD",
		instances.TaskRebuildSpawning: "REBUILD",
	},
	instances.Resized:   {"": "VERIFY_RESIZE", instances.TaskResizeReverting: "REVERT_RESIZE"},
	instances.Paused:    {"": "PAUSED", "migrating": "MIGRATING"},
	instances.Suspended: {"": "SUSPENDED"},
	instances.Rescued:   {"": "RESCUE"},
	instances.Error: {
		"": "ERROR", instances.TaskRebuilding: "REBUILD", "rebuild_block_device_mapping": "REBUILD",
		instances.TaskRebuildSpawning: "REBUILD",
	},
	instances.Deleted:          {"": "DELETED"},
	instances.SoftDeleted:      {"": "SOFT_DELETED"},
	instances.Shelved:          {"": "SHELVED"},
	instances.ShelvedOffloaded: {"": "SHELVED_OFFLOADED"},
}

// serverStatus is Nova's status_from_state; a deleted server is DELETED
// whatever its states.
func serverStatus(inst *instances.Instance) string {
	if inst.Deleted {
		return "DELETED"
	}
	m, ok := statusMap[inst.VMState]
	if !ok {
		return "UNKNOWN"
	}
	if s, ok := m[inst.TaskState]; ok {
		return s
	}
	return m[""]
}

// progressStatuses show "progress"; faultStatuses show "fault".
var (
	progressStatuses = map[string]bool{"ACTIVE": true, "BUILD": true, "REBUILD": true, "RESIZE": true,
		"VERIFY_RESIZE": true, "MIGRATING": true}
	faultStatuses = map[string]bool{"ERROR": true, "DELETED": true}
)

// hostID is Nova's generate_hostid: an opaque id of the host per project.
func hostID(host, projectID string) string {
	if host == "" {
		return ""
	}
	sum := sha256.Sum224([]byte(projectID + host))
	return hex.EncodeToString(sum[:])
}

// isoTime is Nova's utils.isotime.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// timeOrNull is a datetime as Nova's JSON shows one, or null.
func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return novaTime(t)
}

func strOrNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func strPtrOrNull(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// viewOpts say which parts of Nova's show view an answer has.
type viewOpts struct {
	// partial is the answer of update and rebuild before 2.75: no zone,
	// config drive, key name, usage times, extended status, volumes,
	// extended attributes or host status.
	partial bool
	// keyName shows key_name in a partial view (rebuild from 2.54).
	keyName bool
	// detail is a server of GET /servers/detail: no server_groups.
	detail bool
	// noUserData leaves out OS-EXT-SRV-ATTR:user_data (rebuild adds its
	// own user_data from 2.57).
	noUserData bool
}

// viewer builds server views for one request, remembering what it asked
// of policy and of the service registry.
type viewer struct {
	h          *handlers
	r          *http.Request
	p          *authn.Principal
	admin      bool
	hostStatus map[string]string // host -> status, for this request
}

func (h *handlers) viewer(r *http.Request) *viewer {
	p := principal(r)
	return &viewer{h: h, r: r, p: p, admin: h.svc.isAdmin(p), hostStatus: map[string]string{}}
}

// writeServer answers {"server": <the detailed view>} for r's microversion:
// the show view for GET, and for other methods (update, rebuild) Nova's
// answer to those, which has every attribute only from 2.75.
func (h *handlers) writeServer(w http.ResponseWriter, r *http.Request, status int, inst *instances.Instance) error {
	o := viewOpts{}
	if r.Method != http.MethodGet && !mv(r).AtLeast(75) {
		o.partial = true
	}
	body, err := h.serverBody(r, inst, o)
	if err != nil {
		return err
	}
	return writeJSON(w, status, map[string]any{"server": body})
}

// serverBody is the detailed view of inst for r, for answers that add
// fields of their own (rebuild's adminPass and user_data).
func (h *handlers) serverBody(r *http.Request, inst *instances.Instance, o viewOpts) (map[string]any, error) {
	return h.viewer(r).show(r.Context(), inst, o)
}

// show is Nova's ViewBuilder.show.
func (v *viewer) show(ctx context.Context, inst *instances.Instance, o viewOpts) (map[string]any, error) {
	r, s := v.r, v.h.svc
	ver := mv(r)
	target := map[string]any{"project_id": inst.ProjectID}
	updated := inst.UpdatedAt
	if updated.IsZero() {
		updated = inst.CreatedAt
	}
	md := inst.Metadata
	if md == nil {
		md = map[string]string{}
	}
	diskConfig := "MANUAL"
	if inst.AutoDiskConfig {
		diskConfig = "AUTO"
	}
	status := serverStatus(inst)
	out := map[string]any{
		"accessIPv4":        inst.AccessIPv4,
		"accessIPv6":        inst.AccessIPv6,
		"addresses":         map[string]any{},
		"created":           isoTime(inst.CreatedAt),
		"flavor":            v.flavor(inst, ver.AtLeast(47) && s.allowed(v.p, policyServerExtraSpecs, target)),
		"hostId":            hostID(inst.Host, inst.ProjectID),
		"id":                inst.UUID,
		"image":             v.image(inst),
		"links":             resourceLinks(r, "servers", inst.UUID),
		"metadata":          md,
		"name":              inst.Name,
		"status":            status,
		"tenant_id":         inst.ProjectID,
		"user_id":           inst.UserID,
		"updated":           isoTime(updated),
		"OS-DCF:diskConfig": diskConfig,
	}
	if faultStatuses[status] && inst.Fault != nil {
		f := map[string]any{"code": inst.Fault.Code, "created": isoTime(inst.Fault.Created), "message": inst.Fault.Message}
		if inst.Fault.Details != "" && (v.admin || inst.Fault.Code != 500) {
			f["details"] = inst.Fault.Details
		}
		out["fault"] = f
	}
	if progressStatuses[status] {
		out["progress"] = inst.Progress
	}
	full := !o.partial
	if full {
		out["OS-EXT-AZ:availability_zone"] = inst.AvailabilityZone
		out["config_drive"] = configDriveView(inst.ConfigDrive)
	}
	if full || o.keyName {
		out["key_name"] = strOrNull(inst.KeyName)
	}
	if full {
		out["OS-SRV-USG:launched_at"] = timeOrNull(inst.LaunchedAt)
		out["OS-SRV-USG:terminated_at"] = timeOrNull(inst.TerminatedAt)
		out["OS-EXT-STS:task_state"] = strOrNull(inst.TaskState)
		out["OS-EXT-STS:vm_state"] = inst.VMState
		out["OS-EXT-STS:power_state"] = inst.PowerState
		vols := []any{}
		out["os-extended-volumes:volumes_attached"] = vols
	}
	extAttr := full && s.allowed(v.p, policyServerExtendedAttrs, target)
	if extAttr {
		out["OS-EXT-SRV-ATTR:host"] = strOrNull(inst.Host)
		out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = strOrNull(inst.Node)
		out["OS-EXT-SRV-ATTR:instance_name"] = fmt.Sprintf("instance-%08x", inst.ID)
		if ver.AtLeast(3) {
			out["OS-EXT-SRV-ATTR:hostname"] = inst.Hostname
			out["OS-EXT-SRV-ATTR:kernel_id"] = ""
			out["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
			out["OS-EXT-SRV-ATTR:launch_index"] = inst.LaunchIndex
			out["OS-EXT-SRV-ATTR:reservation_id"] = inst.ReservationID
			out["OS-EXT-SRV-ATTR:root_device_name"] = strOrNull(inst.RootDeviceName)
			if !o.noUserData {
				out["OS-EXT-SRV-ATTR:user_data"] = userDataView(inst.UserData)
			}
		}
	}
	if ver.AtLeast(9) {
		out["locked"] = inst.Locked
	}
	if ver.AtLeast(16) && full {
		if hs, ok := v.hostStatusOf(ctx, inst, target); ok {
			out["host_status"] = hs
		}
	}
	if ver.AtLeast(19) {
		out["description"] = strPtrOrNull(inst.Description)
	}
	if ver.AtLeast(26) {
		tags := inst.Tags
		if tags == nil {
			tags = []string{}
		}
		out["tags"] = tags
	}
	if ver.AtLeast(63) {
		var certs any
		if len(inst.TrustedCerts) > 0 {
			certs = inst.TrustedCerts
		}
		out["trusted_image_certificates"] = certs
	}
	if ver.AtLeast(71) && !o.detail {
		groups, err := v.serverGroups(ctx, inst)
		if err != nil {
			return nil, err
		}
		out["server_groups"] = groups
	}
	if ver.AtLeast(73) {
		out["locked_reason"] = strPtrOrNull(inst.LockedReason)
	}
	if ver.AtLeast(90) && !extAttr {
		out["OS-EXT-SRV-ATTR:hostname"] = inst.Hostname
	}
	if ver.AtLeast(96) && full {
		out["pinned_availability_zone"] = strOrNull(inst.Spec.AvailabilityZone)
	}
	return out, nil
}

// configDriveView is Nova's config_drive column: "True" or "".
func configDriveView(b bool) string {
	if b {
		return "True"
	}
	return ""
}

func userDataView(b []byte) any {
	if b == nil {
		return nil
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (v *viewer) flavor(inst *instances.Instance, extraSpecs bool) map[string]any {
	f := inst.Flavor
	if mv(v.r).AtLeast(47) {
		out := map[string]any{"vcpus": f.VCPUs, "ram": f.MemoryMB, "disk": f.RootGB, "ephemeral": f.EphemeralGB,
			"swap": f.SwapMB, "original_name": f.Name}
		if extraSpecs {
			specs := f.ExtraSpecs
			if specs == nil {
				specs = map[string]string{}
			}
			out["extra_specs"] = specs
		}
		return out
	}
	return map[string]any{"id": f.FlavorID,
		"links": []link{{Rel: "bookmark", Href: bookmarkURL(v.r, "/flavors/"+url.PathEscape(f.FlavorID))}}}
}

// image is {id, links} of the image, or "" for a server booted from a
// volume.
func (v *viewer) image(inst *instances.Instance) any {
	if inst.ImageRef == "" {
		return ""
	}
	return map[string]any{"id": inst.ImageRef,
		"links": []link{{Rel: "bookmark", Href: bookmarkURL(v.r, "/images/"+url.PathEscape(inst.ImageRef))}}}
}

// hostStatusOf is the host_status field (2.16) if policy lets the caller
// see it: Nova's get_instance_host_status from the host's compute
// service.
func (v *viewer) hostStatusOf(ctx context.Context, inst *instances.Instance, target map[string]any) (string, bool) {
	s := v.h.svc
	unknownOnly := false
	switch {
	case s.allowed(v.p, policyServerHostStatus, target):
	case s.allowed(v.p, policyServerHostStatusUnkn, target):
		unknownOnly = true
	default:
		return "", false
	}
	hs := ""
	if inst.Host != "" {
		var ok bool
		if hs, ok = v.hostStatus[inst.Host]; !ok {
			hs = s.hostStatus(ctx, inst.Host)
			v.hostStatus[inst.Host] = hs
		}
	}
	if unknownOnly && hs != hostUnknown {
		return "", false
	}
	return hs, true
}

// hostStatus is the status of a host's compute service.
func (s *Service) hostStatus(ctx context.Context, host string) string {
	svcs, err := s.instances.ListServices(ctx, host, "nova-compute")
	if err != nil {
		s.log.WarnContext(ctx, "list compute services", "host", host, "err", err)
		return hostUnknown
	}
	if len(svcs) == 0 {
		return ""
	}
	svc := svcs[0]
	switch {
	case svc.ForcedDown:
		return hostDown
	case svc.Disabled:
		return hostMaintenance
	case s.computeUp(&svc):
		return hostUp
	}
	return hostUnknown
}

// computeUp is Nova's servicegroup DB driver: heard from within
// service_down_time.
func (s *Service) computeUp(svc *instances.Service) bool {
	if svc.ForcedDown || svc.LastSeenUp.IsZero() {
		return false
	}
	d := s.now().Sub(svc.LastSeenUp)
	if d < 0 {
		d = -d
	}
	return d <= serviceDownTime
}

func (v *viewer) serverGroups(ctx context.Context, inst *instances.Instance) ([]string, error) {
	g, err := v.h.svc.instances.GroupOf(ctx, inst.UUID)
	if err != nil {
		if errors.Is(err, instances.ErrNotFound) {
			return []string{}, nil
		}
		return nil, err
	}
	return []string{g.UUID}, nil
}
