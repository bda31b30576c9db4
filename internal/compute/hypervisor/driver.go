// Package hypervisor is what a compute agent asks of the machine it runs
// on: start, stop and watch guests. Drivers implement Driver: qemu (real
// virtual machines, the default) and fake (no processes, for scale tests).
// The agent never opens the database; it hands the driver everything a
// guest needs in an Instance.
package hypervisor

import (
	"context"
	"errors"
	"net"
	"time"
)

// PowerState is Nova's power_state of a guest.
type PowerState int

// Nova's values (nova/compute/power_state.py), as the API shows them.
const (
	NoState   PowerState = 0
	Running   PowerState = 1
	Paused    PowerState = 3
	Shutdown  PowerState = 4
	Crashed   PowerState = 6
	Suspended PowerState = 7
)

// Instance is everything a driver needs to run one guest.
type Instance struct {
	UUID     string
	Name     string // libvirt-style name, e.g. "instance-0000002a"
	VCPUs    int
	MemoryMB int
	// RootGB is the root disk size; 0 keeps the image's virtual size.
	RootGB int
	// BaseImage is the cached image file (read-only, shared by guests);
	// BaseFormat is "qcow2" or "raw".
	BaseImage  string
	BaseFormat string
	// ConfigDrive is an ISO 9660 file to attach as a CD-ROM; "" for none.
	ConfigDrive string
	// Dir is the guest's own directory: its disk overlay, console log,
	// control socket and pid file live there.
	Dir string
	// MACs of the guest's network interfaces, in order; Taps are the host
	// tap devices to attach them to ("" = no network for that one).
	MACs []string
	Taps []string
}

// Info is what a driver knows about a running or stopped guest.
type Info struct {
	State    PowerState
	VCPUs    int
	MemoryMB int
	CPUTime  time.Duration
}

// Host is what a compute host offers, for placement inventories and
// os-hypervisors.
type Host struct {
	Hostname string
	VCPUs    int
	MemoryMB int
	DiskGB   int
	Type     string // "QEMU" (as Nova's hypervisor_type), "fake"
	Version  int    // e.g. 7002000 for 7.2.0, as Nova reports it
	CPUInfo  string // JSON, as Nova's cpu_info
	Accel    string // "kvm" or "tcg" for qemu
}

// Event says a guest's power state changed without being asked (it shut
// itself down, QEMU died).
type Event struct {
	UUID  string
	State PowerState
	At    time.Time
}

// Driver runs guests on this host. Methods are safe for concurrent use on
// different guests; calls for one guest are serialised by the caller.
type Driver interface {
	// Host describes this machine.
	Host(ctx context.Context) (Host, error)
	// Spawn creates the guest's disk (an overlay on BaseImage grown to
	// RootGB) and starts it.
	Spawn(ctx context.Context, inst Instance) error
	// Destroy stops the guest if it runs and removes its files.
	Destroy(ctx context.Context, inst Instance) error
	// PowerOff asks the guest to shut down (ACPI) and forces it off after
	// timeout (0 = at once).
	PowerOff(ctx context.Context, inst Instance, timeout time.Duration) error
	// PowerOn starts a stopped guest on its existing disk.
	PowerOn(ctx context.Context, inst Instance) error
	// Reboot restarts the guest: soft through ACPI (falling back to hard),
	// hard by a reset.
	Reboot(ctx context.Context, inst Instance, hard bool) error
	Pause(ctx context.Context, inst Instance) error
	Unpause(ctx context.Context, inst Instance) error
	// Suspend saves the guest's memory to its directory and stops it;
	// Resume restores it.
	Suspend(ctx context.Context, inst Instance) error
	Resume(ctx context.Context, inst Instance) error
	// Info reports a guest's state; ErrNotFound if the driver has none.
	Info(ctx context.Context, inst Instance) (Info, error)
	// Running lists the UUIDs of guests running on this host, so that a
	// restarted agent re-adopts them without stopping them.
	Running(ctx context.Context) ([]string, error)
	// ConsoleOutput is the tail of the guest's serial console log (all
	// of it when maxBytes <= 0).
	ConsoleOutput(ctx context.Context, inst Instance, maxBytes int) ([]byte, error)
	// Snapshot writes a standalone image of the guest's disk to path in
	// format ("qcow2" or "raw"), pausing the guest as needed.
	Snapshot(ctx context.Context, inst Instance, path, format string) error
	// Events reports unrequested power state changes until ctx is done.
	Events(ctx context.Context) <-chan Event
}

// ErrNotFound means the driver knows no such guest.
var ErrNotFound = errors.New("hypervisor: no such guest")

// ErrRefused is wrapped by the errors of operations the guest's state
// rules out and that changed nothing: shrinking its disk, reverting a
// resize without a backup, unrescuing a guest that is not rescued.
var ErrRefused = errors.New("hypervisor: refused")

// Optional abilities. A driver has one when it implements its interface;
// the agent asks by type assertion and answers "unsupported" otherwise.

// Resizer gives a stopped guest a new flavor on the same host.
type Resizer interface {
	// Resize prepares a stopped guest (Shutdown, not Suspended) to start
	// with inst's flavor: it keeps a backup of the guest's disk for
	// RevertResize (a backup kept already is kept, so a revert goes back
	// to before the first unconfirmed resize), and grows the disk to
	// inst.RootGB (0 leaves it as it is). A disk larger than RootGB is
	// ErrRefused, and nothing changes. The next PowerOn starts the guest
	// with inst's vCPUs and memory.
	Resize(ctx context.Context, inst Instance) error
	// ConfirmResize drops the backup; with none it does nothing.
	ConfirmResize(ctx context.Context, inst Instance) error
	// RevertResize puts back the disk the backup kept, on a stopped
	// guest; the next PowerOn starts with inst's (the old) flavor.
	// Without a backup it is ErrRefused.
	RevertResize(ctx context.Context, inst Instance) error
}

// Rescuer boots a guest from a rescue image with its own disk attached.
type Rescuer interface {
	// Rescue stops the guest if it runs and starts it from a new disk
	// on image (a cached base image of format "qcow2" or "raw") as its
	// first disk, with its own disk second. It stays rescued through
	// power actions until Unrescue. A rescued guest is started if it is
	// not running, and otherwise left alone. A suspended guest is
	// ErrRefused.
	Rescue(ctx context.Context, inst Instance, image, format string) error
	// Unrescue stops the rescued guest, drops the rescue disk and starts
	// the guest from its own disk. A guest not rescued is ErrRefused.
	Unrescue(ctx context.Context, inst Instance) error
}

// VNCConsole serves running guests' displays over VNC.
type VNCConsole interface {
	// VNCAddr is the host:port of the running guest's VNC server.
	VNCAddr(ctx context.Context, inst Instance) (string, error)
}

// SerialConsole connects to running guests' serial ports.
type SerialConsole interface {
	// DialSerial connects to the guest's serial port: what the guest
	// writes comes out, what is written goes to the guest. A guest's
	// port may serve one connection at a time.
	DialSerial(ctx context.Context, inst Instance) (net.Conn, error)
}
