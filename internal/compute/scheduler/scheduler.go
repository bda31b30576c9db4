// Package scheduler picks the compute host for an instance, as Nova's
// filter scheduler does: it asks placement for allocation candidates for
// the flavor, maps their providers to compute nodes, drops the hosts the
// filters refuse (service down or disabled, availability zone, aggregate
// extra specs and tenancy, server group (anti-)affinity, image properties,
// capabilities, same/different host hints, hosts to ignore, forced host),
// weighs the rest (free RAM, CPU and disk spread, soft (anti-)affinity),
// and claims the best in placement, trying the next when a claim loses a
// race. No host left is NoValidHost.
//
// The conductor calls it in process (Scheduler) or over the bus (Client;
// Serve answers on Subject), so `nimbus serve compute-scheduler` runs it
// alone.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
)

// Hosts is what the scheduler reads of the compute database
// (*instances.Store).
type Hosts interface {
	ListComputeNodes(ctx context.Context, host string) ([]instances.ComputeNode, error)
	ListServices(ctx context.Context, host, binary string) ([]instances.Service, error)
	ListAggregates(ctx context.Context) ([]instances.Aggregate, error)
	GetServerGroup(ctx context.Context, uuid string) (*instances.ServerGroup, error)
	Get(ctx context.Context, uuid string, withDeleted bool) (*instances.Instance, error)
}

var _ Hosts = (*instances.Store)(nil)

// Placement is what the scheduler asks of placement
// (*placementclient.Client).
type Placement interface {
	AllocationCandidates(ctx context.Context, q placementclient.CandidatesQuery) (placementclient.Candidates, error)
	Claim(ctx context.Context, consumer, projectID, userID string, req placementclient.AllocationRequest) error
}

var _ Placement = (*placementclient.Client)(nil)

// Options configure a Scheduler.
type Options struct {
	Hosts     Hosts
	Placement Placement
	Log       *slog.Logger // nil discards
	// HostCacheTTL is how long the compute nodes, services and
	// aggregates read from the database are used before being read
	// again; 0 is 2 seconds. A provider placement offers that the cache
	// does not know makes it read again at once.
	HostCacheTTL time.Duration
	// MaxCandidates is the limit of each allocation candidates query
	// (Nova's [scheduler] max_placement_results); 0 is 1000.
	MaxCandidates int
	// CandidateCacheTTL, when positive, shares one allocation candidates
	// answer among the requests with the same query for that long (or
	// until a claim from it loses), counting this scheduler's claims
	// against it: placement still refuses any claim that does not fit,
	// and the scheduler then tries the next host. 0 asks placement for
	// every server, as Nova does; a short TTL (1s) is what takes
	// hundreds of servers a second over a thousand hosts.
	CandidateCacheTTL time.Duration
	// DefaultZone is the zone of hosts in no zone aggregate (Nova's
	// default_availability_zone); "" is "nova".
	DefaultZone string
	// Host is this process's host name, for its own heartbeat.
	Host string
	now  func() time.Time
}

// Selection is the host chosen, its node (placement's provider name) and
// the node's UUID, with the resources claimed for the instance.
type Selection struct {
	Host     string                      `json:"host"`
	Node     string                      `json:"node"`
	NodeUUID string                      `json:"node_uuid"`
	Zone     string                      `json:"availability_zone"`
	Claimed  map[string]map[string]int64 `json:"claimed,omitempty"` // provider uuid -> class -> amount
}

// NoValidHost is Nova's NoValidHost: no host can take the instance.
type NoValidHost struct{ Reason string }

func (e *NoValidHost) Error() string { return "No valid host was found. " + e.Reason }

// ErrNoValidHost matches every *NoValidHost with errors.Is.
var ErrNoValidHost = errors.New("no valid host")

func (e *NoValidHost) Is(target error) bool { return target == ErrNoValidHost }

// notEnough is Nova's reason when filters leave nothing.
const notEnough = "There are not enough hosts available."

// Selector picks and claims a host for an instance: a Scheduler, or a
// Client of one over the bus.
type Selector interface {
	Select(ctx context.Context, inst *instances.Instance, flavor instances.Flavor, ignoreHosts []string) (Selection, error)
}

// Scheduler is the filter scheduler. Safe for concurrent use.
type Scheduler struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	cache   *hostCache
	loading chan struct{} // closed when a load in flight ends

	pending pendingGroups

	groupMu    sync.Mutex
	groupLocks map[string]*groupLock

	snapMu   sync.Mutex
	snaps    map[string]*snapshot   // by query
	snapLoad map[string]*sync.Mutex // one refresh per query at a time
}

type groupLock struct {
	sync.Mutex
	users int
}

// lockGroup serializes the selections of one server group's members in
// this scheduler, so that members scheduled at once see one another; it
// returns the unlock.
func (s *Scheduler) lockGroup(group string) func() {
	s.groupMu.Lock()
	if s.groupLocks == nil {
		s.groupLocks = map[string]*groupLock{}
	}
	l := s.groupLocks[group]
	if l == nil {
		l = &groupLock{}
		s.groupLocks[group] = l
	}
	l.users++
	s.groupMu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.groupMu.Lock()
		if l.users--; l.users == 0 {
			delete(s.groupLocks, group)
		}
		s.groupMu.Unlock()
	}
}

var _ Selector = (*Scheduler)(nil)

// New makes a Scheduler.
func New(o Options) (*Scheduler, error) {
	if o.Hosts == nil || o.Placement == nil {
		return nil, errors.New("scheduler: Hosts and Placement are required")
	}
	if o.HostCacheTTL <= 0 {
		o.HostCacheTTL = 2 * time.Second
	}
	if o.MaxCandidates <= 0 {
		o.MaxCandidates = 1000
	}
	if o.DefaultZone == "" {
		o.DefaultZone = "nova"
	}
	if o.now == nil {
		o.now = time.Now
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{o: o, log: log}, nil
}

// hostCache is the database's view of the hosts, read at once.
type hostCache struct {
	at       time.Time
	nodes    map[string]*instances.ComputeNode // by node UUID
	services map[string]*instances.Service     // nova-compute, by host
	aggs     map[string][]*instances.Aggregate // by host
}

// hosts returns the cached host view, reading it again when older than
// the TTL or when fresh is set (a provider it does not know). One read
// runs at a time; others wait for it.
func (s *Scheduler) hosts(ctx context.Context, fresh bool) (*hostCache, error) {
	for {
		s.mu.Lock()
		c := s.cache
		if c != nil && !fresh && s.o.now().Sub(c.at) < s.o.HostCacheTTL {
			s.mu.Unlock()
			return c, nil
		}
		if wait := s.loading; wait != nil {
			s.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			fresh = false // someone just read it
			continue
		}
		done := make(chan struct{})
		s.loading = done
		s.mu.Unlock()

		c, err := s.load(ctx)
		s.mu.Lock()
		if err == nil {
			s.cache = c
		}
		s.loading = nil
		close(done)
		s.mu.Unlock()
		return c, err
	}
}

func (s *Scheduler) load(ctx context.Context) (*hostCache, error) {
	c := &hostCache{
		at:       s.o.now(),
		nodes:    map[string]*instances.ComputeNode{},
		services: map[string]*instances.Service{},
		aggs:     map[string][]*instances.Aggregate{},
	}
	nodes, err := s.o.Hosts.ListComputeNodes(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list compute nodes: %w", err)
	}
	for i := range nodes {
		c.nodes[nodes[i].UUID] = &nodes[i]
	}
	svcs, err := s.o.Hosts.ListServices(ctx, "", "nova-compute")
	if err != nil {
		return nil, fmt.Errorf("list compute services: %w", err)
	}
	for i := range svcs {
		c.services[svcs[i].Host] = &svcs[i]
	}
	aggs, err := s.o.Hosts.ListAggregates(ctx)
	if err != nil {
		return nil, fmt.Errorf("list aggregates: %w", err)
	}
	for i := range aggs {
		if aggs[i].Deleted {
			continue
		}
		for _, h := range aggs[i].Hosts {
			c.aggs[h] = append(c.aggs[h], &aggs[i])
		}
	}
	return c, nil
}

// Invalidate drops the cached host view: the next Select reads it again
// (after a service is disabled or an aggregate changes).
func (s *Scheduler) Invalidate() {
	s.mu.Lock()
	s.cache = nil
	s.mu.Unlock()
}
