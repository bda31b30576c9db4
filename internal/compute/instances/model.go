// Package instances is the compute database's record of servers and of
// the hosts they run on: instances (with their metadata, tags, faults,
// actions and events), compute services and nodes, server groups and
// aggregates. The compute API, the scheduler and the conductor share it;
// agents never see it. Store (store.go) is its only SQL.
//
// Instance state moves as Nova's does (nova/compute/vm_states.py,
// task_states.py, power_state.py): the API sets a task state when it
// accepts an action, guarded by the task state it expects
// (Update's ExpectTask), and the conductor sets the outcome.
package instances

import (
	"encoding/json"
	"time"
)

// VM states, Nova's vm_state.
const (
	Active           = "active"
	Building         = "building"
	Paused           = "paused"
	Suspended        = "suspended"
	Stopped          = "stopped"
	Rescued          = "rescued"
	Resized          = "resized"
	SoftDeleted      = "soft-delete"
	Deleted          = "deleted"
	Error            = "error"
	Shelved          = "shelved"
	ShelvedOffloaded = "shelved_offloaded"
)

// Task states, Nova's task_state ("" is None).
const (
	TaskScheduling                 = "scheduling"
	TaskBlockDeviceMapping         = "block_device_mapping"
	TaskNetworking                 = "networking"
	TaskSpawning                   = "spawning"
	TaskImageSnapshot              = "image_snapshot"
	TaskImagePendingUpload         = "image_pending_upload"
	TaskImageUploading             = "image_uploading"
	TaskUpdatingPassword           = "updating_password"
	TaskResizePrep                 = "resize_prep"
	TaskResizeMigrating            = "resize_migrating"
	TaskResizeMigrated             = "resize_migrated"
	TaskResizeFinish               = "resize_finish"
	TaskResizeReverting            = "resize_reverting"
	TaskResizeConfirming           = "resize_confirming"
	TaskRebooting                  = "rebooting"
	TaskRebootPending              = "reboot_pending"
	TaskRebootStarted              = "reboot_started"
	TaskRebootingHard              = "rebooting_hard"
	TaskRebootPendingHard          = "reboot_pending_hard"
	TaskRebootStartedHard          = "reboot_started_hard"
	TaskPausing                    = "pausing"
	TaskUnpausing                  = "unpausing"
	TaskSuspending                 = "suspending"
	TaskResuming                   = "resuming"
	TaskPoweringOff                = "powering-off"
	TaskPoweringOn                 = "powering-on"
	TaskRescuing                   = "rescuing"
	TaskUnrescuing                 = "unrescuing"
	TaskRebuilding                 = "rebuilding"
	TaskRebuildSpawning            = "rebuild_spawning"
	TaskDeleting                   = "deleting"
	TaskShelving                   = "shelving"
	TaskShelvingImagePendingUpload = "shelving_image_pending_upload"
	TaskShelvingImageUploading     = "shelving_image_uploading"
	TaskShelvingOffloading         = "shelving_offloading"
	TaskUnshelving                 = "unshelving"
)

// Power states, Nova's power_state (hypervisor.PowerState's numbers).
const (
	PowerNoState   = 0
	PowerRunning   = 1
	PowerPaused    = 3
	PowerShutdown  = 4
	PowerCrashed   = 6
	PowerSuspended = 7
)

// Flavor is the copy of a flavor an instance keeps (Nova's
// instance.flavor): later changes to the flavor do not change servers.
type Flavor struct {
	FlavorID    string            `json:"flavorid"`
	Name        string            `json:"name"`
	MemoryMB    int64             `json:"memory_mb"`
	VCPUs       int64             `json:"vcpus"`
	RootGB      int64             `json:"root_gb"`
	EphemeralGB int64             `json:"ephemeral_gb"`
	SwapMB      int64             `json:"swap"`
	RXTXFactor  float64           `json:"rxtx_factor"`
	Description *string           `json:"description,omitempty"`
	ExtraSpecs  map[string]string `json:"extra_specs,omitempty"`
}

// Image is what the API learned of the image an instance boots from
// (Nova's image_meta), kept for builds, rebuilds and reschedules.
type Image struct {
	ID         string            `json:"id"`
	Name       string            `json:"name,omitempty"`
	DiskFormat string            `json:"disk_format,omitempty"`
	Size       int64             `json:"size,omitempty"`
	MinDiskGB  int64             `json:"min_disk,omitempty"`
	MinRAMMB   int64             `json:"min_ram,omitempty"`
	Checksum   string            `json:"checksum,omitempty"`
	HashAlgo   string            `json:"os_hash_algo,omitempty"`
	HashValue  string            `json:"os_hash_value,omitempty"`
	Properties map[string]string `json:"properties,omitempty"` // hw_*, os_*, img_* ... as strings
}

// RequestSpec is what scheduling an instance needs, kept with it (Nova's
// RequestSpec) for reschedules, resizes, unshelves and rebuilds.
type RequestSpec struct {
	Image Image `json:"image"`
	// AvailabilityZone is the zone the user asked for ("" = any), and
	// ForceHost/ForceNode the "zone:host:node" form admins may use.
	AvailabilityZone string `json:"availability_zone,omitempty"`
	ForceHost        string `json:"force_host,omitempty"`
	ForceNode        string `json:"force_node,omitempty"`
	// SchedulerHints as given (os:scheduler_hints), values as lists.
	SchedulerHints map[string][]string `json:"scheduler_hints,omitempty"`
	// Group is the server group's UUID the instance is a member of.
	Group string `json:"group,omitempty"`
	// NumInstances and Index: the instance's place in a multi-create.
	NumInstances int `json:"num_instances,omitempty"`
	// IgnoreHosts are hosts not to pick again (failed builds).
	IgnoreHosts []string `json:"ignore_hosts,omitempty"`
	// Attempts counts builds tried (first build is 1).
	Attempts int `json:"attempts,omitempty"`
	// UserData, KeyData, and the config drive's content that is not
	// elsewhere in the record.
	NetworkData json.RawMessage `json:"network_data,omitempty"`
}

// Instance is a server.
type Instance struct {
	ID          int64 // internal; ties in sorts, pagination markers use UUID
	UUID        string
	Name        string // display_name
	Description *string
	ProjectID   string
	UserID      string
	Hostname    string
	// Host is the compute host's name ("" before scheduling and when
	// shelved offloaded); Node is its hypervisor node, the placement
	// resource provider's name; LaunchedOn is the first host.
	Host, Node, LaunchedOn string
	// AvailabilityZone is where the instance landed (the request's zone
	// until scheduled; Nova's instance.availability_zone).
	AvailabilityZone string
	VMState          string
	TaskState        string // "" = None
	PowerState       int
	Flavor           Flavor
	OldFlavor        *Flavor // set while resized, until confirm or revert
	NewFlavor        *Flavor // set during a resize
	ImageRef         string  // "" when booted from a volume
	KeyName          string
	KeyData          string
	KeyType          string
	UserData         []byte // decoded; Nova keeps it base64, we keep bytes
	ConfigDrive      bool
	Metadata         map[string]string
	Tags             []string // sorted
	Locked           bool
	LockedBy         string  // "owner" or "admin"
	LockedReason     *string // 2.73
	AccessIPv4       string
	AccessIPv6       string
	AutoDiskConfig   bool
	Progress         int
	ReservationID    string
	LaunchIndex      int
	RootDeviceName   string
	Spec             RequestSpec
	// ShelvedImageID is the snapshot made by shelve, booted by unshelve.
	ShelvedImageID string
	// RescueImageRef is the image booted by rescue.
	RescueImageRef string
	// PreviousVMState is what to return to after resize revert/confirm,
	// rescue and such ("active" or "stopped").
	PreviousVMState string
	// Trusted image certificates (2.63) are kept but unused.
	TrustedCerts []string

	CreatedAt    time.Time
	UpdatedAt    time.Time // zero if never
	LaunchedAt   time.Time // zero if never
	TerminatedAt time.Time // zero if never
	DeletedAt    time.Time // zero unless deleted
	Deleted      bool

	// Fault is the newest fault, when the instance is in ERROR (and in
	// any state Nova shows it in); nil otherwise. Read with the record.
	Fault *Fault
}

// Fault is an error recorded against an instance (Nova's
// instance_faults): what `server show` gives in "fault".
type Fault struct {
	Code    int    // 500 for a failure, 404 ...
	Message string // the exception's message
	Details string // shown to admins only
	Created time.Time
}

// Action is one request on an instance (Nova's instance_actions):
// os-instance-actions. RequestID is the API request's id.
type Action struct {
	ID        int64
	Action    string // "create", "stop", "reboot", ...
	UUID      string // the instance
	RequestID string
	UserID    string
	ProjectID string
	StartTime time.Time
	UpdatedAt time.Time // zero if never
	Message   string    // "Error" when an event failed
	Events    []Event   // newest first, as Nova lists them (GetAction only)
}

// Event is one step of an action ("compute_start_instance"), with its
// result "Success" or "Error".
type Event struct {
	Event      string
	Host       string
	StartTime  time.Time
	FinishTime time.Time // zero while running
	Result     string    // "" while running
	Traceback  string    // admins only
	Details    string    // 2.84
}

// Service is a compute service (os-services): an agent's host as it
// heartbeats, and the scheduler and conductor.
type Service struct {
	ID             int64
	UUID           string // 2.53 shows it as the id
	Host           string
	Binary         string // "nova-compute", "nova-scheduler", "nova-conductor"
	Topic          string
	Disabled       bool
	DisabledReason *string
	ForcedDown     bool
	LastSeenUp     time.Time // the last heartbeat
	ReportInterval time.Duration
	CreatedAt      time.Time
	UpdatedAt      time.Time // zero if never
	Version        int
}

// ComputeNode is a hypervisor (os-hypervisors): what a host's agent
// reports of its resources. Its UUID is its placement resource
// provider's.
type ComputeNode struct {
	ID                 int64
	UUID               string
	Host               string // the service's host
	HypervisorHostname string // the node name
	HypervisorType     string
	HypervisorVersion  int
	VCPUs              int
	MemoryMB           int
	LocalGB            int
	CPUInfo            string
	HostIP             string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// ServerGroup is a server group with its members.
type ServerGroup struct {
	ID        int64
	UUID      string
	Name      string
	ProjectID string
	UserID    string
	Policy    string            // "affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity"
	Rules     map[string]string // "max_server_per_host" (2.64)
	Members   []string          // instance UUIDs
	CreatedAt time.Time
}

// Aggregate is a host aggregate; its "availability_zone" metadata makes
// it a zone.
type Aggregate struct {
	ID               int64
	UUID             string
	Name             string
	AvailabilityZone string // "" = none
	Metadata         map[string]string
	Hosts            []string
	CreatedAt        time.Time
	UpdatedAt        time.Time // zero if never
	Deleted          bool
	DeletedAt        time.Time
}
