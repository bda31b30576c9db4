package rpc

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// UpdatesQueue is the durable work queue (bus.Enqueue, bus.Work) agents
// report to. A queue, not a notification, because an update must not be
// lost when no conductor runs: a guest that died while the conductor
// restarted must still end SHUTOFF, and a build that finished after its
// caller gave up must still be seen (and destroyed). Any conductor may
// take any update; see Update for ordering.
const UpdatesQueue = "compute-updates"

// Heartbeats are notifications: each one supersedes the last, so storing
// them would only cost a disk write per host every few seconds; one missed
// while no conductor listens is rightly no news.
const (
	HeartbeatService = "compute"           // bus.Notify's service
	HeartbeatEvent   = "service.heartbeat" // its event type
	// HeartbeatSubject is where heartbeats arrive, for bus.Subscribe.
	HeartbeatSubject = "notifications." + HeartbeatService + "." + HeartbeatEvent
	// Binary is the service binary agents report, as Nova's services.
	Binary = "nova-compute"
	// DefaultHeartbeatInterval is Nova's report_interval; a service is
	// down after DownTime without one (Nova's service_down_time).
	DefaultHeartbeatInterval = 10 * time.Second
	DownTime                 = 60 * time.Second
)

// Event says why an Update was sent.
type Event string

const (
	// EventTask: an operation finished (Task, OK, Fault say which and
	// how). It repeats the reply, which the conductor may have missed.
	EventTask Event = "task"
	// EventLifecycle: the guest changed on its own (it powered off, its
	// QEMU died).
	EventLifecycle Event = "lifecycle"
	// EventSync: what the agent found when it started (re-adopted
	// guests, and guests it had that are gone: power state 0), or a
	// periodic check found different from the last report.
	EventSync Event = "sync"
)

// Update is one guest's new state, agent to conductor. Updates of one
// agent are enqueued in order; as several conductors may take them at
// once, a conductor ignores an update older (At, then Seq within one
// Boot) than the last it applied to that instance. Delivery is at least
// once: applying an update twice must be harmless.
type Update struct {
	V    int       `json:"v"`
	Host string    `json:"host"`
	Boot string    `json:"boot"` // the agent's run: changes when it restarts
	Seq  uint64    `json:"seq"`  // increasing within one Boot, from 1
	At   time.Time `json:"at"`

	UUID       string                `json:"uuid"`
	PowerState hypervisor.PowerState `json:"power_state"`
	Event      Event                 `json:"event"`
	// For EventTask: the operation, its request id, whether it
	// succeeded, and why not.
	Task      Op     `json:"task,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	OK        bool   `json:"ok,omitempty"`
	Fault     *Error `json:"fault,omitempty"`
}

// DecodeUpdate reads an update taken from UpdatesQueue. A newer version
// is refused (wrapped in bus.Permanent: retrying cannot help).
func DecodeUpdate(body []byte) (Update, error) {
	var u Update
	if err := json.Unmarshal(body, &u); err != nil {
		return Update{}, bus.Permanent(fmt.Errorf("decode compute update: %w", err))
	}
	if u.V <= 0 || u.V > Version {
		return Update{}, bus.Permanent(fmt.Errorf("compute update of %s: unsupported version %d", u.Host, u.V))
	}
	return u, nil
}

// Heartbeat says an agent is alive, and what its host offers.
type Heartbeat struct {
	V      int       `json:"v"`
	Host   string    `json:"host"`
	Binary string    `json:"binary"` // "nova-compute"
	At     time.Time `json:"at"`
	Boot   string    `json:"boot"`
	// Interval is the seconds until the next heartbeat (Nova's
	// report_interval).
	Interval float64 `json:"report_interval"`
	// Stopping is set on the last heartbeat of an agent shutting down
	// cleanly: the conductor may show it down at once.
	Stopping   bool      `json:"stopping,omitempty"`
	RunningVMs int       `json:"running_vms"`
	Resources  Resources `json:"resources"`
}

// Resources is what the host offers (hypervisor.Host), in the names of
// Nova's os-hypervisors.
type Resources struct {
	HypervisorHostname string `json:"hypervisor_hostname"`
	HypervisorType     string `json:"hypervisor_type"`    // "QEMU", "fake"
	HypervisorVersion  int    `json:"hypervisor_version"` // 7002000 for 7.2.0
	VCPUs              int    `json:"vcpus"`
	MemoryMB           int    `json:"memory_mb"`
	LocalGB            int    `json:"local_gb"`
	CPUInfo            string `json:"cpu_info"` // JSON, as Nova's
	Accel              string `json:"accel,omitempty"`
	// HostIP is the address other hosts reach this one at (Nova's
	// my_ip, os-hypervisors' host_ip). The agent sets it, not the driver.
	HostIP string `json:"host_ip,omitempty"`
}

// ResourcesOf converts a driver's host description.
func ResourcesOf(h hypervisor.Host) Resources {
	return Resources{
		HypervisorHostname: h.Hostname,
		HypervisorType:     h.Type,
		HypervisorVersion:  h.Version,
		VCPUs:              h.VCPUs,
		MemoryMB:           h.MemoryMB,
		LocalGB:            h.DiskGB,
		CPUInfo:            h.CPUInfo,
		Accel:              h.Accel,
	}
}

// DecodeHeartbeat reads a heartbeat notification.
func DecodeHeartbeat(n bus.Notification) (Heartbeat, error) {
	var hb Heartbeat
	if err := n.DecodePayload(&hb); err != nil {
		return Heartbeat{}, fmt.Errorf("decode heartbeat from %s: %w", n.PublisherID, err)
	}
	if hb.V <= 0 || hb.V > Version {
		return Heartbeat{}, fmt.Errorf("heartbeat from %s: unsupported version %d", hb.Host, hb.V)
	}
	return hb, nil
}
