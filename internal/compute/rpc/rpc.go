// Package rpc is the protocol between the compute conductor and the
// compute agents, one agent per host, over the bus. The conductor is the
// only writer of instance state: an agent never opens the database, it is
// told everything a guest needs in each request and reports back what
// happened.
//
// Three flows, all JSON with a version field "v":
//
//   - Requests, conductor to agent: bus RPC (bus.Call) on Subject(host),
//     "compute.<host>". One Request names an Op and an Instance; the agent
//     answers with a Reply. A failed operation is a Reply with ok false and
//     an Error, never a bus error: a bus error means the request did not
//     get an answer (no agent listens: ErrUnreachable; the deadline passed).
//   - Updates, agent to conductor: the durable work queue UpdatesQueue
//     (bus.Enqueue / bus.Work). Every change of a guest's power state is
//     one Update: the result of each operation (a copy of the reply, for
//     when the reply is lost), a guest that changed on its own (QEMU died,
//     the guest powered itself off), and what the agent finds when it
//     starts (re-adopted guests).
//   - Heartbeats, agent to conductor: bus notifications (bus.Notify) on
//     HeartbeatSubject, every few seconds, with the host's resources.
package rpc

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// Version of the protocol this package speaks. A receiver refuses a
// message with a higher version (code "unsupported_version"); fields are
// only ever added, so a lower version is read as it is.
const Version = 1

// Subject is where the agent of host serves requests.
func Subject(host string) string { return "compute." + host }

// Op is what a request asks of the agent.
type Op string

// The operations, named after Nova's compute RPC API.
const (
	// BuildAndRun fetches the image into the host's cache, builds the
	// config drive, and spawns the guest. Asked again for an instance the
	// host already has, it answers ok with the guest's state, so that a
	// retried request is harmless.
	BuildAndRun Op = "build_and_run"
	// PowerOff shuts the guest down: ACPI, forced off after Timeout
	// seconds (0: at once).
	PowerOff Op = "power_off"
	PowerOn  Op = "power_on"
	// Reboot restarts the guest: soft (ACPI, falling back to hard), or
	// hard when Hard is set.
	Reboot  Op = "reboot"
	Pause   Op = "pause"
	Unpause Op = "unpause"
	Suspend Op = "suspend"
	Resume  Op = "resume"
	// Destroy stops the guest and removes everything of it from the host.
	// A guest the host does not have is already destroyed: ok.
	Destroy Op = "destroy"
	// ConsoleOutput answers the tail of the guest's serial console in
	// Reply.Output (Length lines, as Nova's os-getConsoleOutput).
	ConsoleOutput Op = "get_console_output"
	// Snapshot writes a standalone image of the guest's disk and uploads
	// it to the image service (Request.Snapshot).
	Snapshot Op = "snapshot"
	// GetInfo answers the guest's state in Reply.Info.
	GetInfo Op = "get_info"

	// Resize gives the guest a new flavor on the host it is on (Nova's
	// allow_resize_to_same_host; the agent does Nova's resize_instance
	// and finish_resize in one step): it shuts the guest down (ACPI,
	// forced off after Timeout seconds, 0 at once), keeps a backup of
	// its disk for RevertResize, grows the root disk to
	// Instance.Flavor.Disk (never shrinks it: CodeRefused, nothing
	// changed), records the new flavor and starts the guest again as
	// PowerOn says.
	Resize Op = "resize"
	// ConfirmResize drops the backup a Resize kept. Without one it is ok.
	ConfirmResize Op = "confirm_resize"
	// RevertResize shuts the guest down (as Resize), puts back the disk
	// the backup kept and the flavor before the resize (Instance.Flavor
	// when given, else the one the agent recorded), and starts the guest
	// as PowerOn says. Without a backup: CodeRefused, nothing changed.
	RevertResize Op = "revert_resize"
	// Rescue boots the guest from a rescue image (Request.Image, cached
	// as for a build, first disk) with its own disk attached as the
	// second disk, so that a user can repair it. The guest runs after
	// it, whether it ran before or not. Rescuing a rescued guest is ok
	// (nothing changes).
	Rescue Op = "rescue"
	// Unrescue stops the rescue guest, drops its disk, and boots the
	// guest from its own disk again. A guest not rescued: CodeRefused.
	Unrescue Op = "unrescue"
	// GetConsole answers in Reply.Console where, on this host, a console
	// proxy can reach the guest's console (Request.Console says which)
	// with plain TCP: for "novnc" QEMU's VNC server (RFB), for "serial"
	// the raw bytes of the guest's serial port. A serial endpoint takes
	// ONE connection, within ConsoleAcceptTimeout of the reply, and
	// relays it until either side closes: ask again for each client.
	GetConsole Op = "get_console"

	// HostUptime answers in Reply.Output the host's uptime as the
	// `uptime` command prints it (Nova's get_host_uptime), e.g.
	// " 08:32:11 up 93 days, 18:25,  1 user,  load average: 0.20, 0.12, 0.14".
	// It is about the host, not a guest: Instance may be empty, and the
	// agent answers without waiting for any guest's operation. Added to
	// version 1: an older agent answers CodeBadRequest (unknown operation).
	HostUptime Op = "get_host_uptime"
)

// ConsoleAcceptTimeout is how long a serial console endpoint (GetConsole)
// waits for its one connection.
const ConsoleAcceptTimeout = 30 * time.Second

// Ops lists every operation an agent of this Version serves.
var Ops = []Op{BuildAndRun, PowerOff, PowerOn, Reboot, Pause, Unpause, Suspend, Resume, Destroy, ConsoleOutput, Snapshot, GetInfo,
	Resize, ConfirmResize, RevertResize, Rescue, Unrescue, GetConsole, HostUptime}

// HostOp reports whether op is about the host rather than one guest.
func HostOp(op Op) bool { return op == HostUptime }

// Request is one conductor-to-agent call. Instance is always set; the
// arguments of the Op only when it takes them.
type Request struct {
	V         int    `json:"v"`
	Op        Op     `json:"op"`
	RequestID string `json:"request_id,omitempty"` // the API request's id, for the agent's logs
	// Instance names the guest. For a build it is the whole spec; for
	// the other operations the agent uses what it recorded at build time
	// and falls back to this spec when it has no record.
	Instance Instance `json:"instance"`

	Image       *Image       `json:"image,omitempty"`        // build_and_run, rescue: required
	ConfigDrive *ConfigDrive `json:"config_drive,omitempty"` // build_and_run: nil for no config drive
	Timeout     int          `json:"timeout,omitempty"`      // power_off, resize, revert_resize: seconds for a clean shutdown; 0 forces at once
	Hard        bool         `json:"hard,omitempty"`         // reboot
	// Length is how many lines of console output to answer (Nova's
	// tail: the last Length pieces of the log split at "\n", so a log
	// ending in a newline gives Length-1 lines and an empty one); nil
	// or negative answers the whole tail the host keeps (100 KiB), 0
	// nothing.
	Length   *int            `json:"length,omitempty"`   // get_console_output
	Snapshot *SnapshotTarget `json:"snapshot,omitempty"` // snapshot: required
	// PowerOn says whether the guest runs after a resize or
	// revert_resize (Nova starts it unless the instance was stopped);
	// nil starts it if it ran before the operation.
	PowerOn *bool           `json:"power_on,omitempty"`
	Console *ConsoleRequest `json:"console,omitempty"` // get_console: required
}

// ConsoleRequest says which console GetConsole opens.
type ConsoleRequest struct {
	// Type is Nova's console type: "novnc" or "serial".
	Type string `json:"type"`
}

// Console types a GetConsole request may ask for, and the kinds of
// endpoint that serve them.
const (
	ConsoleNoVNC  = "novnc"
	ConsoleSerial = "serial"

	EndpointVNC    = "vnc"    // RFB, as QEMU's VNC server speaks it
	EndpointSerial = "serial" // the raw bytes of the guest's serial port
)

// ConsoleEndpoint is where a console proxy reaches a guest's console:
// plain TCP to Host:Port (no TLS, no password; it listens only on the
// agent's console address, which the operator keeps private).
type ConsoleEndpoint struct {
	Kind string `json:"kind"` // EndpointVNC or EndpointSerial
	Host string `json:"host"` // an IP address or name, without brackets
	Port int    `json:"port"`
}

// Instance is the guest's spec, from the instance record and its flavor.
type Instance struct {
	UUID string `json:"uuid"`
	// Name is the hypervisor's name of the guest, Nova's
	// instance_name_template: "instance-0000002a".
	Name   string  `json:"name,omitempty"`
	Flavor *Flavor `json:"flavor,omitempty"` // required for build_and_run
}

// Flavor is the part of a flavor a host needs, in Nova's field names.
type Flavor struct {
	VCPUs int `json:"vcpus"`
	RAM   int `json:"ram"`  // MiB
	Disk  int `json:"disk"` // GiB of root disk; 0 keeps the image's size
}

// Image is the image a guest boots from. The agent caches it by ID and
// downloads it only when its cache has no copy: from URL with Token when
// URL is set, else through the image fetcher the agent was started with.
// Size, Checksum and the hash, when set, are checked against the bytes
// downloaded.
type Image struct {
	ID string `json:"id"`
	// URL is the image API's endpoint from the catalog, e.g.
	// "http://controller:9292"; the agent downloads
	// URL/v2/images/<id>/file.
	URL   string `json:"url,omitempty"`
	Token string `json:"token,omitempty"` // X-Auth-Token for URL; never logged
	// DiskFormat is Glance's disk_format: "qcow2" or "raw" ("" lets the
	// agent tell from the data). The data must match it.
	DiskFormat string `json:"disk_format,omitempty"`
	Size       int64  `json:"size,omitempty"`
	Checksum   string `json:"checksum,omitempty"`      // MD5, hex, as Glance's checksum
	HashAlgo   string `json:"os_hash_algo,omitempty"`  // "sha256" or "sha512"
	HashValue  string `json:"os_hash_value,omitempty"` // hex
}

// SnapshotTarget is the image a snapshot is uploaded to: created by the
// API (status queued) before the request, with the same disk format.
type SnapshotTarget struct {
	ImageID    string `json:"image_id"`
	URL        string `json:"url,omitempty"`         // the image API's endpoint; "" uses the agent's own client
	Token      string `json:"token,omitempty"`       // X-Auth-Token for URL; never logged
	DiskFormat string `json:"disk_format,omitempty"` // "qcow2" (the default) or "raw"
}

// Reply is the agent's answer to every Request.
type Reply struct {
	V     int    `json:"v"`
	OK    bool   `json:"ok"`
	Error *Error `json:"error,omitempty"` // when !OK
	// PowerState is the guest's state after the operation (failed or
	// not), Nova's power_state: 0 no state (no such guest, or destroyed),
	// 1 running, 3 paused, 4 shutdown, 6 crashed, 7 suspended. With
	// codes bad_request, unsupported_version and busy the agent did not
	// get to the guest, and it is 0 and means nothing.
	PowerState hypervisor.PowerState `json:"power_state"`
	Info       *Info                 `json:"info,omitempty"`    // get_info
	Output     *string               `json:"output,omitempty"`  // get_console_output (invalid UTF-8 shows as U+FFFD), get_host_uptime
	Console    *ConsoleEndpoint      `json:"console,omitempty"` // get_console
}

// Info is a guest's state as the hypervisor sees it.
type Info struct {
	PowerState hypervisor.PowerState `json:"power_state"`
	VCPUs      int                   `json:"vcpus"`
	MemoryMB   int                   `json:"memory_mb"`
	CPUTimeNS  int64                 `json:"cpu_time_ns"`
}

// Error codes. The conductor decides with Code and Retryable; Message is
// what the user sees as the instance fault.
const (
	CodeBadRequest         = "bad_request"         // malformed request, unknown op, missing argument
	CodeUnsupportedVersion = "unsupported_version" // Request.V is newer than the agent
	CodeNotFound           = "not_found"           // the host has no such guest
	CodeImageNotFound      = "image_not_found"     // build: the image service has no such image (or hides it)
	CodeImageInvalid       = "image_invalid"       // build: unusable image: format, checksum, size, no data
	CodeImageFailed        = "image_failed"        // build: the download failed (retryable)
	CodeBuildFailed        = "build_failed"        // build: the host could not make or start the guest (retryable)
	CodeFailed             = "failed"              // any other operation failed on the host
	CodeUnavailable        = "unavailable"         // cut short: the agent is stopping, or the caller's deadline passed (retryable)
	CodeBusy               = "busy"                // another operation on the guest outlasted the caller's deadline; nothing was done (retryable)
	CodeRefused            = "refused"             // the operation cannot apply to the guest as it is (a disk to shrink, no resize to revert, not rescued); nothing changed
	CodeUnsupported        = "unsupported"         // the host's driver cannot do this (a console type it has not)
)

// Error is a failed operation. It is an error, so a Client returns it as
// one.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Retryable says another host may well succeed (Nova's
	// RescheduledException): the conductor reschedules a build instead of
	// putting the instance in ERROR.
	Retryable bool `json:"retryable,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf makes an Error.
func Errorf(code string, retryable bool, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Retryable: retryable}
}

// idPattern is what a UUID or image ID must look like: it names files on
// the host.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidID reports whether id can name an instance or image: letters,
// digits, '.', '_', '-', not starting with a punctuation mark, at most 128
// bytes.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Check reports what is wrong with a request before an agent acts on it.
func (r *Request) Check() *Error {
	if r.V <= 0 {
		return Errorf(CodeBadRequest, false, "request has no protocol version")
	}
	if r.V > Version {
		return Errorf(CodeUnsupportedVersion, false, "protocol version %d is newer than this agent's (%d)", r.V, Version)
	}
	known := false
	for _, op := range Ops {
		known = known || op == r.Op
	}
	if !known {
		return Errorf(CodeBadRequest, false, "unknown operation %q", r.Op)
	}
	if HostOp(r.Op) {
		return nil
	}
	if !ValidID(r.Instance.UUID) {
		return Errorf(CodeBadRequest, false, "invalid instance uuid %q", r.Instance.UUID)
	}
	switch r.Op {
	case BuildAndRun:
		f := r.Instance.Flavor
		if f == nil || f.VCPUs <= 0 || f.RAM <= 0 || f.Disk < 0 {
			return Errorf(CodeBadRequest, false, "build of %s needs a flavor with vCPUs and RAM", r.Instance.UUID)
		}
		if r.Image == nil || !ValidID(r.Image.ID) {
			return Errorf(CodeBadRequest, false, "build of %s needs a valid image id", r.Instance.UUID)
		}
		if r.ConfigDrive != nil && len(r.ConfigDrive.NetworkData) > 0 && !json.Valid(r.ConfigDrive.NetworkData) {
			return Errorf(CodeBadRequest, false, "network_data of %s is not JSON", r.Instance.UUID)
		}
	case PowerOff:
		if r.Timeout < 0 {
			return Errorf(CodeBadRequest, false, "negative power off timeout %d", r.Timeout)
		}
	case Resize, RevertResize:
		f := r.Instance.Flavor
		if r.Op == Resize && f == nil {
			return Errorf(CodeBadRequest, false, "resize of %s needs the new flavor", r.Instance.UUID)
		}
		if f != nil && (f.VCPUs <= 0 || f.RAM <= 0 || f.Disk < 0) {
			return Errorf(CodeBadRequest, false, "%s of %s needs a flavor with vCPUs and RAM", r.Op, r.Instance.UUID)
		}
		if r.Timeout < 0 {
			return Errorf(CodeBadRequest, false, "negative power off timeout %d", r.Timeout)
		}
	case Rescue:
		if r.Image == nil || !ValidID(r.Image.ID) {
			return Errorf(CodeBadRequest, false, "rescue of %s needs a valid image id", r.Instance.UUID)
		}
	case GetConsole:
		if r.Console == nil || (r.Console.Type != ConsoleNoVNC && r.Console.Type != ConsoleSerial) {
			return Errorf(CodeBadRequest, false, "get_console of %s needs a console type novnc or serial", r.Instance.UUID)
		}
	case Snapshot:
		s := r.Snapshot
		if s == nil || !ValidID(s.ImageID) {
			return Errorf(CodeBadRequest, false, "snapshot of %s needs a valid image id", r.Instance.UUID)
		}
		if s.DiskFormat != "" && s.DiskFormat != "qcow2" && s.DiskFormat != "raw" {
			return Errorf(CodeBadRequest, false, "snapshot disk format %q is not qcow2 or raw", s.DiskFormat)
		}
	}
	return nil
}
