package conductor

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/compute/agent"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient/placementtest"
	"github.com/nimbus-cloud/nimbus/internal/compute/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/db"
)

// cloud is the compute back end in one process: the embedded bus, real
// placement, the instance store on SQLite, the scheduler and a conductor,
// and agents on fake hosts.
type cloud struct {
	t      *testing.T
	bus    *bus.Bus
	pl     *placementclient.Client
	store  *instances.Store
	sched  *scheduler.Scheduler
	cond   *Conductor
	images *images
	hosts  map[string]*host
	seq    atomic.Int64
}

type host struct {
	name   string
	driver *fake.Driver
	stop   func()
}

func newCloud(t *testing.T) *cloud {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{Log: testLog(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	c := &cloud{t: t, bus: b, pl: placementtest.Client(t), images: &images{data: map[string][]byte{"cirros": make([]byte, 64<<10)}},
		hosts: map[string]*host{}}
	c.store = instances.New(db.OpenTest(t, compute.Migrations()))
	c.sched, err = scheduler.New(scheduler.Options{Hosts: c.store, Placement: c.pl, HostCacheTTL: 50 * time.Millisecond, Log: testLog(t, slog.LevelInfo)})
	if err != nil {
		t.Fatal(err)
	}
	c.cond, err = New(Options{Store: c.store, Bus: b, Scheduler: c.sched, Placement: c.pl, Log: testLog(t, slog.LevelInfo),
		Host: "ctl1", BuildTimeout: 20 * time.Second, OpTimeout: 10 * time.Second, ShutdownTimeout: 1, Images: c.images})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.cond.Run(runCtx) }()
	// Stop in order: agents (added later, cleaned up first), conductor, bus.
	t.Cleanup(func() { b.Close() })
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("conductor Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("conductor Run did not return")
		}
	})
	return c
}

func testLog(t *testing.T, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// images is an image service in memory.
type images struct {
	mu       sync.Mutex
	data     map[string][]byte
	uploaded map[string]int
}

func (m *images) Fetch(ctx context.Context, id string, w io.Writer) (string, error) {
	m.mu.Lock()
	data, ok := m.data[id]
	m.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("image %s: %w", id, agent.ErrImageNotFound)
	}
	_, err := w.Write(data)
	return "raw", err
}

// DeleteImage is the conductor's image deleter (the images' store is
// shared with the agents).
func (m *images) DeleteImage(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[id]; !ok {
		return fmt.Errorf("image %s: %w", id, agent.ErrImageNotFound)
	}
	delete(m.data, id)
	return nil
}

func (m *images) Upload(ctx context.Context, id string, r io.Reader, size int64) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[id] = data
	if m.uploaded == nil {
		m.uploaded = map[string]int{}
	}
	m.uploaded[id]++
	return nil
}

// addHost starts an agent on a fake host of the given size and waits
// until the conductor has made it a compute node in placement.
func (c *cloud) addHost(name string, vcpus, memMB, diskGB int) *host {
	c.t.Helper()
	d := fake.New(fake.Config{Host: hypervisor.Host{Hostname: name, VCPUs: vcpus, MemoryMB: memMB, DiskGB: diskGB}})
	h := &host{name: name, driver: d}
	c.startAgent(h)
	c.hosts[name] = h
	c.eventually("compute node of "+name+" in placement", func() bool {
		nodes, err := c.store.ListComputeNodes(c.t.Context(), name)
		if err != nil || len(nodes) == 0 {
			return false
		}
		inv, _, err := c.pl.Inventories(c.t.Context(), nodes[0].UUID)
		return err == nil && inv["VCPU"].Total == int64(vcpus)
	})
	return h
}

func (c *cloud) startAgent(h *host) {
	c.t.Helper()
	a, err := agent.New(agent.Options{Host: h.name, Bus: c.bus, Driver: h.driver, ImageCacheDir: c.t.TempDir(),
		Images: c.images, Log: testLog(c.t, slog.LevelWarn), HeartbeatInterval: 200 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				c.t.Errorf("agent %s did not stop", h.name)
			}
		})
	}
	c.t.Cleanup(h.stop)
}

var tiny = instances.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1}

// create records a new server as the compute API does (building,
// scheduling, with a create action) and queues its build.
func (c *cloud) create(mods ...func(*instances.Instance)) *instances.Instance {
	c.t.Helper()
	n := c.seq.Add(1)
	inst := &instances.Instance{
		UUID: fmt.Sprintf("a0000000-0000-4000-8000-%012d", n), Name: fmt.Sprintf("vm%d", n), Hostname: fmt.Sprintf("vm%d", n),
		ProjectID: "p1", UserID: "u1", VMState: instances.Building, TaskState: instances.TaskScheduling,
		Flavor: tiny, ImageRef: "cirros", Spec: instances.RequestSpec{Image: instances.Image{ID: "cirros", DiskFormat: "raw"}},
		CreatedAt: time.Now(),
	}
	for _, m := range mods {
		m(inst)
	}
	reqID := fmt.Sprintf("req-%036d", n)
	err := c.store.DB().Tx(c.t.Context(), func(tx *sql.Tx) error {
		return c.store.CreateTx(c.t.Context(), tx, inst, instances.Action{Action: "create", RequestID: reqID, UserID: "u1", ProjectID: "p1"})
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.enqueue(tasks.Task{Kind: tasks.Build, UUID: inst.UUID, RequestID: reqID})
	return inst
}

func (c *cloud) enqueue(t tasks.Task) {
	c.t.Helper()
	if err := tasks.Enqueue(c.t.Context(), c.bus, t); err != nil {
		c.t.Fatal(err)
	}
}

// action starts an action as the API does: the task state set (guarded
// by the task state None), an action recorded, the task queued.
func (c *cloud) action(uuid string, kind tasks.Kind, task string, args tasks.Task, change ...func(*instances.Instance)) {
	c.t.Helper()
	_, err := c.store.Update(c.t.Context(), uuid, instances.Guard{ExpectTask: []string{""}}, func(i *instances.Instance) error {
		i.TaskState = task
		for _, ch := range change {
			ch(i)
		}
		return nil
	})
	if err != nil {
		c.t.Fatalf("start %s of %s: %v", kind, uuid, err)
	}
	reqID := fmt.Sprintf("req-%s-%d", kind, c.seq.Add(1))
	if err := c.store.StartAction(c.t.Context(), &instances.Action{Action: string(kind), UUID: uuid, RequestID: reqID}); err != nil {
		c.t.Fatal(err)
	}
	args.Kind, args.UUID, args.RequestID = kind, uuid, reqID
	c.enqueue(args)
}

func (c *cloud) get(uuid string) *instances.Instance {
	c.t.Helper()
	inst, err := c.store.Get(c.t.Context(), uuid, true)
	if err != nil {
		c.t.Fatalf("get %s: %v", uuid, err)
	}
	return inst
}

// wait waits until the instance has vm state vm and no task, and
// returns it.
func (c *cloud) wait(uuid, vm string) *instances.Instance {
	c.t.Helper()
	var inst *instances.Instance
	c.eventually(fmt.Sprintf("%s %s with no task", uuid, vm), func() bool {
		inst = c.get(uuid)
		return inst.VMState == vm && inst.TaskState == ""
	})
	return inst
}

func (c *cloud) eventually(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// allocations is what placement holds for a consumer, by provider.
func (c *cloud) allocations(uuid string) map[string]placementclient.ProviderAllocation {
	c.t.Helper()
	a, err := c.pl.Allocations(c.t.Context(), uuid)
	if err != nil {
		c.t.Fatal(err)
	}
	return a.Allocations
}
