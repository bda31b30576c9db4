// Package conductor is the compute conductor: the only writer of instance
// state on behalf of agents, which never open the database. It takes the
// compute API's tasks (internal/compute/tasks), schedules builds
// (internal/compute/scheduler), asks the host's agent over the bus
// (internal/compute/rpc) and writes the outcome as Nova's vm, task and
// power states, instance faults and action events; it applies the
// agents' durable updates (a guest that stopped on its own becomes
// SHUTOFF, as Nova's power state sync) and turns their heartbeats into
// compute services, compute nodes and placement resource providers.
//
// Delivery of tasks and updates is at least once: each handler checks
// the instance's task state (guarded writes) so that doing it twice does
// nothing the second time.
package conductor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// Binary is the conductor's service binary in os-services.
const Binary = "nova-conductor"

// Options configure a Conductor.
type Options struct {
	Store     *instances.Store
	Bus       *bus.Bus
	Scheduler scheduler.Selector // a *scheduler.Scheduler or a scheduler.Client
	Placement *placementclient.Client
	Log       *slog.Logger // nil discards
	// Host is this process's host name, shown in os-services for
	// nova-conductor; "" is the machine's host name.
	Host string
	// Workers is how many tasks run at once; 0 is 64. UpdateWorkers is
	// the same for agents' updates; 0 is 8.
	Workers, UpdateWorkers int
	// BuildTimeout bounds an agent's build (image download included);
	// 0 is 10 minutes. OpTimeout bounds the other operations; 0 is 5
	// minutes. A host that stops heartbeating ends either wait sooner.
	BuildTimeout, OpTimeout time.Duration
	// ShutdownTimeout is the seconds a guest gets to shut down cleanly
	// before it is forced off (Nova's shutdown_timeout); 0 is 60.
	ShutdownTimeout int
	// MaxAttempts is how many hosts a build tries (Nova's [scheduler]
	// max_attempts); 0 is 3.
	MaxAttempts int
	// Ratios are the allocation ratios and reserved amounts of the
	// compute nodes' inventories; zero is placementclient.DefaultRatios.
	Ratios placementclient.Ratios
	// Images deletes the snapshot a shelve made once the server is
	// unshelved, as Nova does; nil leaves it in the image service.
	Images ImageDeleter
}

// ImageDeleter deletes an image as the service user.
type ImageDeleter interface {
	DeleteImage(ctx context.Context, id string) error
}

// Conductor runs the compute tasks. Make it with New, run it with Run.
type Conductor struct {
	o     Options
	log   *slog.Logger
	rpc   rpc.Client
	store *instances.Store

	hosts hostTable // agents' heartbeats as this process saw them

	mu        sync.Mutex
	applied   map[string]applied // last update applied, by instance
	nodeCache map[string]nodeState
	hbLanes   *heartbeatLanesT
}

// New checks o and makes a Conductor.
func New(o Options) (*Conductor, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("conductor: no instance store")
	case o.Bus == nil:
		return nil, errors.New("conductor: no bus")
	case o.Scheduler == nil:
		return nil, errors.New("conductor: no scheduler")
	case o.Placement == nil:
		return nil, errors.New("conductor: no placement client")
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
		if o.Host == "" {
			o.Host = "localhost"
		}
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.UpdateWorkers <= 0 {
		o.UpdateWorkers = 8
	}
	if o.BuildTimeout <= 0 {
		o.BuildTimeout = 10 * time.Minute
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 5 * time.Minute
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 60
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Ratios == (placementclient.Ratios{}) {
		o.Ratios = placementclient.DefaultRatios()
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Conductor{o: o, log: log, rpc: rpc.Client{Bus: o.Bus}, store: o.Store,
		hosts: hostTable{m: map[string]*hostSeen{}}, applied: map[string]applied{}, nodeCache: map[string]nodeState{}}, nil
}

// Run takes tasks, updates and heartbeats until ctx ends, and
// heartbeats as the nova-conductor service meanwhile. It returns nil
// once ctx has ended and the handlers under way have finished.
func (c *Conductor) Run(ctx context.Context) error {
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	stop, err := c.o.Bus.Subscribe(rpc.HeartbeatSubject, c.onHeartbeatNotification)
	if err != nil {
		return fmt.Errorf("conductor: %w", err)
	}
	stops = append(stops, stop)
	hbDone := c.startHeartbeatWorkers(ctx)
	for range c.o.UpdateWorkers {
		stop, err := c.o.Bus.Work(ctx, rpc.UpdatesQueue, c.onUpdate)
		if err != nil {
			return fmt.Errorf("conductor: %w", err)
		}
		stops = append(stops, stop)
	}
	for range c.o.Workers {
		stop, err := c.o.Bus.Work(ctx, tasks.Queue, c.onTask)
		if err != nil {
			return fmt.Errorf("conductor: %w", err)
		}
		stops = append(stops, stop)
	}
	scheduler.Heartbeats(ctx, c.log, c.store, c.o.Host, Binary)
	for _, stop := range stops {
		stop()
	}
	stops = nil
	<-hbDone
	return nil
}

// onTask runs one task. Errors it returns make the bus deliver the task
// again later: only for failures of the conductor's own dependencies
// (database, placement), never for what the task's outcome was.
func (c *Conductor) onTask(ctx context.Context, body []byte) error {
	t, err := tasks.Decode(body)
	if err != nil {
		return err
	}
	log := c.log.With("task", t.Kind, "instance", t.UUID, "request_id", t.RequestID)
	start := time.Now()
	ctx, events := withEventBuffer(ctx, t.UUID)
	err = c.run(ctx, t)
	c.flushEvents(ctx, events)
	if err != nil {
		log.Warn("task failed, will retry", "err", err)
		return err
	}
	log.Debug("task done", "took", time.Since(start))
	return nil
}

func (c *Conductor) run(ctx context.Context, t tasks.Task) error {
	switch t.Kind {
	case tasks.Build:
		return c.build(ctx, t)
	case tasks.Delete:
		return c.delete(ctx, t)
	case tasks.Rebuild:
		return c.rebuild(ctx, t)
	case tasks.Resize:
		return c.resize(ctx, t)
	case tasks.Confirm:
		return c.confirmResize(ctx, t)
	case tasks.Revert:
		return c.revertResize(ctx, t)
	case tasks.Snapshot:
		return c.snapshot(ctx, t)
	case tasks.Shelve:
		return c.shelve(ctx, t)
	case tasks.ShelveOffload:
		return c.shelveOffload(ctx, t)
	case tasks.Unshelve:
		return c.unshelve(ctx, t)
	}
	if a, ok := simpleActions[t.Kind]; ok {
		return c.simple(ctx, t, a)
	}
	return bus.Permanent(fmt.Errorf("unknown compute task %q", t.Kind))
}
