package instances

// CONTRACT (helper "instances" replaces every panic with the real SQL and
// removes this comment; the signatures are fixed: other helpers code
// against them at the same time).

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// Errors a Store returns; callers turn them into the API's faults.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row is not in the state the caller expected
	// (Update's ExpectTask/ExpectVM), or a unique name is taken.
	ErrConflict = errors.New("conflict")
)

// Store reads and writes the compute database's instance tables. The
// schema is part of the compute migrations (compute/migrations), run by
// compute.New or `nimbus db migrate`; New does not migrate.
type Store struct {
	db  *db.DB
	now func() time.Time
}

// New makes a Store on d.
func New(d *db.DB) *Store { return &Store{db: d, now: time.Now} }

// DB is the database, for callers that need a transaction spanning their
// own tables (quota checks) and the Store's (CreateTx).
func (s *Store) DB() *db.DB { return s.db }

// ---- instances

// CreateTx inserts inst (UUID, CreatedAt set by the caller; ID is filled
// in), its metadata and tags, and its "create" action, in tx, so the
// caller can check quota in the same transaction.
func (s *Store) CreateTx(ctx context.Context, tx *sql.Tx, inst *Instance, action Action) error {
	panic("TODO")
}

// Get returns an instance, not deleted unless withDeleted, with its
// metadata, tags and newest fault.
func (s *Store) Get(ctx context.Context, uuid string, withDeleted bool) (*Instance, error) {
	panic("TODO")
}

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

// List returns the instances q selects, with metadata, tags and fault.
func (s *Store) List(ctx context.Context, q Query) ([]*Instance, error) {
	panic("TODO")
}

// Update changes an instance: it reads it, calls change on the copy, and
// writes back every field change touched (UpdatedAt set by the store),
// in one transaction. When ExpectTask is non-nil the instance's task
// state must be one of them ("" for None) and when ExpectVM is non-nil
// its vm state must be one of them, else ErrConflict (nothing written),
// as Nova's instance.save(expected_task_state=...). A deleted instance
// is ErrNotFound. Returns the instance as written.
func (s *Store) Update(ctx context.Context, uuid string, g Guard, change func(*Instance) error) (*Instance, error) {
	panic("TODO")
}

// Guard is what Update checks before changing an instance.
type Guard struct {
	ExpectTask []string // nil = any
	ExpectVM   []string // nil = any
}

// Destroy marks an instance deleted (vm_state deleted, deleted_at,
// terminated_at, task state None, power state NoState): Nova's soft
// "deleted" row, still listed with deleted=true and changes-since. Its
// server group membership goes.
func (s *Store) Destroy(ctx context.Context, uuid string) (*Instance, error) {
	panic("TODO")
}

// SetMetadata replaces (replace=true) or merges the instance's metadata;
// DeleteMetadataKey removes one key (ErrNotFound when absent).
func (s *Store) SetMetadata(ctx context.Context, uuid string, md map[string]string, replace bool) (map[string]string, error) {
	panic("TODO")
}
func (s *Store) DeleteMetadataKey(ctx context.Context, uuid, key string) error { panic("TODO") }

// SetTags replaces the tags; AddTag adds one (no error if present);
// DeleteTag removes one (ErrNotFound when absent).
func (s *Store) SetTags(ctx context.Context, uuid string, tags []string) ([]string, error) {
	panic("TODO")
}
func (s *Store) AddTag(ctx context.Context, uuid, tag string) error    { panic("TODO") }
func (s *Store) DeleteTag(ctx context.Context, uuid, tag string) error { panic("TODO") }

// AddFault records a fault against an instance.
func (s *Store) AddFault(ctx context.Context, uuid string, f Fault) error { panic("TODO") }

// CountUsage is what a project (and a user in it, when userID != "")
// holds: instances, cores and ram of instances not deleted (Nova counts
// every non-deleted instance, shelved offloaded ones included).
func (s *Store) CountUsage(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, projectID, userID string) (instances, cores, ram int64, err error) {
	panic("TODO")
}

// ---- actions

// StartAction records a new action (its ID is filled in).
func (s *Store) StartAction(ctx context.Context, a *Action) error { panic("TODO") }

// StartEvent and FinishEvent record one step of the newest action of the
// instance with requestID; result is "Success" or "Error" (then the
// action's message becomes "Error").
func (s *Store) StartEvent(ctx context.Context, uuid, requestID, event, host string) error {
	panic("TODO")
}
func (s *Store) FinishEvent(ctx context.Context, uuid, requestID, event, result, traceback, details string) error {
	panic("TODO")
}

// ListActions returns an instance's actions, newest first, without
// events (even of a deleted instance); limit/marker (request id) and
// changes-since/before (2.58, 2.66).
func (s *Store) ListActions(ctx context.Context, uuid string, limit int, marker string, since, before time.Time) ([]Action, error) {
	panic("TODO")
}

// GetAction returns one action with its events.
func (s *Store) GetAction(ctx context.Context, uuid, requestID string) (*Action, error) {
	panic("TODO")
}

// ---- services and compute nodes

// Heartbeat records a service's heartbeat: it creates the service (host,
// binary) on its first one, else sets LastSeenUp (and ReportInterval).
// created tells whether it is new.
func (s *Store) Heartbeat(ctx context.Context, host, binary string, at time.Time, interval time.Duration) (svc *Service, created bool, err error) {
	panic("TODO")
}

// ListServices returns services, filtered by host and binary when set.
func (s *Store) ListServices(ctx context.Context, host, binary string) ([]Service, error) {
	panic("TODO")
}

// GetService returns a service by UUID or, when id is a number, by ID.
func (s *Store) GetService(ctx context.Context, id string) (*Service, error) { panic("TODO") }

// UpdateService changes a service's disabled state and reason and its
// forced-down flag (nil leaves a field).
func (s *Store) UpdateService(ctx context.Context, id int64, disabled *bool, reason **string, forcedDown *bool) (*Service, error) {
	panic("TODO")
}

// DeleteService removes a service and its compute nodes.
func (s *Store) DeleteService(ctx context.Context, id int64) error { panic("TODO") }

// PutComputeNode creates or updates the node (host, hypervisor
// hostname); a new node gets n.UUID if set, else a new UUID. Returns it
// as stored.
func (s *Store) PutComputeNode(ctx context.Context, n ComputeNode) (*ComputeNode, error) {
	panic("TODO")
}

// ListComputeNodes returns every node, or those of host.
func (s *Store) ListComputeNodes(ctx context.Context, host string) ([]ComputeNode, error) {
	panic("TODO")
}

// GetComputeNode returns a node by UUID or numeric ID.
func (s *Store) GetComputeNode(ctx context.Context, id string) (*ComputeNode, error) {
	panic("TODO")
}

// HostInstances returns the UUIDs of the instances (not deleted) on host.
func (s *Store) HostInstances(ctx context.Context, host string) ([]string, error) {
	panic("TODO")
}

// ---- server groups

func (s *Store) CreateServerGroup(ctx context.Context, g *ServerGroup) error { panic("TODO") }
func (s *Store) GetServerGroup(ctx context.Context, uuid string) (*ServerGroup, error) {
	panic("TODO")
}

// ListServerGroups returns a project's groups ("" = all).
func (s *Store) ListServerGroups(ctx context.Context, projectID string, limit, offset int) ([]ServerGroup, error) {
	panic("TODO")
}
func (s *Store) DeleteServerGroup(ctx context.Context, uuid string) error { panic("TODO") }

// AddGroupMember adds an instance to a group (in tx when not nil);
// GroupOf returns the group of an instance (ErrNotFound if none).
func (s *Store) AddGroupMember(ctx context.Context, tx *sql.Tx, group, uuid string) error {
	panic("TODO")
}
func (s *Store) GroupOf(ctx context.Context, uuid string) (*ServerGroup, error) { panic("TODO") }

// CountServerGroups is a project's (and user's) groups, for quotas.
func (s *Store) CountServerGroups(ctx context.Context, projectID, userID string) (int64, error) {
	panic("TODO")
}

// ---- aggregates

func (s *Store) CreateAggregate(ctx context.Context, a *Aggregate) error { panic("TODO") }
func (s *Store) GetAggregate(ctx context.Context, id string) (*Aggregate, error) {
	panic("TODO")
}
func (s *Store) ListAggregates(ctx context.Context) ([]Aggregate, error) { panic("TODO") }

// UpdateAggregate changes name and zone (nil leaves them).
func (s *Store) UpdateAggregate(ctx context.Context, id int64, name, zone *string) (*Aggregate, error) {
	panic("TODO")
}
func (s *Store) DeleteAggregate(ctx context.Context, id int64) error { panic("TODO") }

// SetAggregateMetadata merges md; a nil value deletes the key.
func (s *Store) SetAggregateMetadata(ctx context.Context, id int64, md map[string]*string) (*Aggregate, error) {
	panic("TODO")
}
func (s *Store) AddAggregateHost(ctx context.Context, id int64, host string) (*Aggregate, error) {
	panic("TODO")
}
func (s *Store) RemoveAggregateHost(ctx context.Context, id int64, host string) (*Aggregate, error) {
	panic("TODO")
}

// HostAggregates returns the aggregates host is in.
func (s *Store) HostAggregates(ctx context.Context, host string) ([]Aggregate, error) {
	panic("TODO")
}
