package conductor

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

func TestBuildActive(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	got := c.wait(inst.UUID, instances.Active)
	if got.Host != "host1" || got.Node != "host1" || got.LaunchedOn != "host1" || got.AvailabilityZone != "nova" {
		t.Errorf("placed on host %q node %q launched_on %q zone %q", got.Host, got.Node, got.LaunchedOn, got.AvailabilityZone)
	}
	if got.PowerState != instances.PowerRunning || got.LaunchedAt.IsZero() || got.Fault != nil {
		t.Errorf("power %d launched_at %v fault %+v", got.PowerState, got.LaunchedAt, got.Fault)
	}
	if h.driver.Len() != 1 {
		t.Errorf("host1 runs %d guests, want 1", h.driver.Len())
	}
	nodes, _ := c.store.ListComputeNodes(t.Context(), "host1")
	if a := c.allocations(inst.UUID); a[nodes[0].UUID].Resources["MEMORY_MB"] != 512 {
		t.Errorf("allocations %+v", a)
	}
	// The action's events, as Nova's.
	acts, err := c.store.ListActions(t.Context(), inst.UUID, 0, "", time.Time{}, time.Time{})
	if err != nil || len(acts) != 1 {
		t.Fatalf("actions %+v %v", acts, err)
	}
	act, err := c.store.GetAction(t.Context(), inst.UUID, acts[0].RequestID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range act.Events {
		names = append(names, e.Event+"="+e.Result)
		if e.StartTime.IsZero() || e.FinishTime.Before(e.StartTime) {
			t.Errorf("event %s from %v to %v", e.Event, e.StartTime, e.FinishTime)
		}
		if e.Event == "compute__do_build_and_run_instance" && e.Host != "host1" {
			t.Errorf("build event on host %q", e.Host)
		}
	}
	slices.Sort(names)
	want := "compute__do_build_and_run_instance=Success,conductor_schedule_and_build_instances=Success,schedule_instances=Success"
	if strings.Join(names, ",") != want {
		t.Errorf("events %v, want %s", names, want)
	}
	// Services: the agent's host and the conductor itself.
	svcs, _ := c.store.ListServices(t.Context(), "", "")
	bins := map[string]bool{}
	for _, s := range svcs {
		bins[s.Host+"/"+s.Binary] = true
	}
	if !bins["host1/nova-compute"] || !bins["ctl1/nova-conductor"] {
		t.Errorf("services %v", bins)
	}
}

func TestNoValidHost(t *testing.T) {
	c := newCloud(t)
	c.addHost("host1", 1, 1024, 10)
	inst := c.create(func(i *instances.Instance) { i.Flavor.MemoryMB = 8192 })
	got := c.wait(inst.UUID, instances.Error)
	if got.Fault == nil || got.Fault.Message != "No valid host was found. There are not enough hosts available." || got.Fault.Code != 500 {
		t.Errorf("fault %+v", got.Fault)
	}
	if got.Host != "" || len(c.allocations(inst.UUID)) != 0 {
		t.Errorf("failed build on host %q with allocations %v", got.Host, c.allocations(inst.UUID))
	}
}

func TestRescheduleToAnotherHost(t *testing.T) {
	c := newCloud(t)
	bad := c.addHost("host1", 8, 16384, 100) // bigger: picked first
	c.addHost("host2", 2, 4096, 20)
	bad.driver.SetFaults(fake.Faults{FailSpawn: func(hypervisor.Instance) error { return errors.New("no room in the inn") }})
	inst := c.create()
	got := c.wait(inst.UUID, instances.Active)
	if got.Host != "host2" || got.LaunchedOn != "host1" {
		t.Errorf("host %q launched_on %q, want host2 after host1 failed", got.Host, got.LaunchedOn)
	}
	if got.Spec.Attempts != 2 || len(got.Spec.IgnoreHosts) != 1 || got.Spec.IgnoreHosts[0] != "host1" {
		t.Errorf("spec attempts %d ignore %v", got.Spec.Attempts, got.Spec.IgnoreHosts)
	}
	a := c.allocations(inst.UUID)
	nodes, _ := c.store.ListComputeNodes(t.Context(), "host2")
	if len(a) != 1 || a[nodes[0].UUID].Resources == nil {
		t.Errorf("allocations after reschedule %+v, want host2's only", a)
	}
	if bad.driver.Len() != 0 {
		t.Errorf("host1 keeps %d guests", bad.driver.Len())
	}
}

func TestBuildFailsEverywhere(t *testing.T) {
	c := newCloud(t)
	for _, name := range []string{"host1", "host2"} {
		h := c.addHost(name, 4, 4096, 40)
		h.driver.SetFaults(fake.Faults{FailSpawn: func(hypervisor.Instance) error { return errors.New("disk on fire") }})
	}
	inst := c.create()
	got := c.wait(inst.UUID, instances.Error)
	if got.Fault == nil || !strings.HasPrefix(got.Fault.Message, "No valid host was found.") || !strings.Contains(got.Fault.Message, "disk on fire") {
		t.Errorf("fault %+v", got.Fault)
	}
	if len(c.allocations(inst.UUID)) != 0 {
		t.Errorf("allocations left: %v", c.allocations(inst.UUID))
	}
}

func TestImageNotFoundIsNotRescheduled(t *testing.T) {
	c := newCloud(t)
	c.addHost("host1", 4, 4096, 40)
	c.addHost("host2", 4, 4096, 40)
	inst := c.create(func(i *instances.Instance) { i.Spec.Image.ID = "missing"; i.ImageRef = "missing" })
	got := c.wait(inst.UUID, instances.Error)
	if got.Fault == nil || got.Spec.Attempts != 1 {
		t.Errorf("fault %+v after %d attempts, want 1", got.Fault, got.Spec.Attempts)
	}
}

// An agent that goes away during a build: the server does not stay in
// BUILD.
func TestAgentKilledMidBuild(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	h.driver.SetFaults(fake.Faults{Delay: map[fake.Op]time.Duration{fake.OpSpawn: time.Hour}})
	inst := c.create()
	c.eventually("spawning on host1", func() bool { return c.get(inst.UUID).TaskState == instances.TaskSpawning })
	h.stop()
	got := c.wait(inst.UUID, instances.Error)
	if got.Fault == nil {
		t.Errorf("no fault")
	}
	t.Logf("fault: %+v", got.Fault)
	if len(c.allocations(inst.UUID)) != 0 {
		t.Errorf("allocations left: %v", c.allocations(inst.UUID))
	}
	// The host shows down.
	c.eventually("host1 down", func() bool {
		svcs, _ := c.store.ListServices(t.Context(), "host1", rpc.Binary)
		return len(svcs) == 1 && time.Since(svcs[0].LastSeenUp) > rpc.DownTime
	})
}

func TestPowerActions(t *testing.T) {
	c := newCloud(t)
	c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	for _, s := range []struct {
		kind  tasks.Kind
		task  string
		args  tasks.Task
		vm    string
		power int
	}{
		{tasks.Stop, instances.TaskPoweringOff, tasks.Task{}, instances.Stopped, instances.PowerShutdown},
		{tasks.Start, instances.TaskPoweringOn, tasks.Task{}, instances.Active, instances.PowerRunning},
		{tasks.Reboot, instances.TaskRebootPending, tasks.Task{}, instances.Active, instances.PowerRunning},
		{tasks.Reboot, instances.TaskRebootPendingHard, tasks.Task{Hard: true}, instances.Active, instances.PowerRunning},
		{tasks.Pause, instances.TaskPausing, tasks.Task{}, instances.Paused, instances.PowerPaused},
		{tasks.Unpause, instances.TaskUnpausing, tasks.Task{}, instances.Active, instances.PowerRunning},
		{tasks.Suspend, instances.TaskSuspending, tasks.Task{}, instances.Suspended, instances.PowerSuspended},
		{tasks.Resume, instances.TaskResuming, tasks.Task{}, instances.Active, instances.PowerRunning},
	} {
		c.action(inst.UUID, s.kind, s.task, s.args)
		got := c.wait(inst.UUID, s.vm)
		if got.PowerState != s.power {
			t.Errorf("%s: power %d, want %d", s.kind, got.PowerState, s.power)
		}
	}
}

// A power action the host refuses: the task ends, the vm state stays,
// a fault is recorded.
func TestPowerActionFails(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	h.driver.SetFaults(fake.Faults{Fail: func(op fake.Op, _ hypervisor.Instance) error {
		if op == fake.OpPause {
			return errors.New("pause button stuck")
		}
		return nil
	}})
	c.action(inst.UUID, tasks.Pause, instances.TaskPausing, tasks.Task{})
	got := c.wait(inst.UUID, instances.Active)
	if got.PowerState != instances.PowerRunning {
		t.Errorf("power %d after a failed pause", got.PowerState)
	}
	acts, _ := c.store.ListActions(t.Context(), inst.UUID, 0, "", time.Time{}, time.Time{})
	act, _ := c.store.GetAction(t.Context(), inst.UUID, acts[0].RequestID)
	if act.Action != "pause" || act.Message != "Error" || len(act.Events) != 1 || act.Events[0].Result != "Error" {
		t.Errorf("pause action %+v", act)
	}
}

// A guest that dies on its own: SHUTOFF (stopped, power 4), and it
// starts again.
func TestGuestDies(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	if err := h.driver.Crash(inst.UUID); err != nil {
		t.Fatal(err)
	}
	got := c.wait(inst.UUID, instances.Stopped)
	if got.PowerState != instances.PowerShutdown {
		t.Errorf("power %d after the guest died", got.PowerState)
	}
	c.action(inst.UUID, tasks.Start, instances.TaskPoweringOn, tasks.Task{})
	if got := c.wait(inst.UUID, instances.Active); got.PowerState != instances.PowerRunning {
		t.Errorf("power %d after start", got.PowerState)
	}
}

func TestDeleteFreesPlacement(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	c.action(inst.UUID, tasks.Delete, instances.TaskDeleting, tasks.Task{})
	c.eventually("deleted", func() bool { return c.get(inst.UUID).Deleted })
	if len(c.allocations(inst.UUID)) != 0 {
		t.Errorf("allocations of a deleted server: %v", c.allocations(inst.UUID))
	}
	if h.driver.Len() != 0 {
		t.Errorf("host keeps %d guests", h.driver.Len())
	}
	nodes, _ := c.store.ListComputeNodes(t.Context(), "host1")
	if u, _ := c.pl.ProviderUsages(t.Context(), nodes[0].UUID); u["VCPU"] != 0 || u["MEMORY_MB"] != 0 {
		t.Errorf("host1 usage after delete: %v", u)
	}
}

// Deleted while it builds: nothing is left on the host or in placement.
func TestDeleteDuringBuild(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	h.driver.SetFaults(fake.Faults{Delay: map[fake.Op]time.Duration{fake.OpSpawn: 500 * time.Millisecond}})
	inst := c.create()
	c.eventually("spawning", func() bool { return c.get(inst.UUID).TaskState == instances.TaskSpawning })
	if _, err := c.store.Update(t.Context(), inst.UUID, instances.Guard{}, func(i *instances.Instance) error {
		i.TaskState = instances.TaskDeleting
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.enqueue(tasks.Task{Kind: tasks.Delete, UUID: inst.UUID})
	c.eventually("deleted", func() bool { return c.get(inst.UUID).Deleted })
	c.eventually("guest gone and allocations freed", func() bool {
		return h.driver.Len() == 0 && len(c.allocations(inst.UUID)) == 0
	})
}

func TestAntiAffinityThreeHosts(t *testing.T) {
	c := newCloud(t)
	for _, n := range []string{"host1", "host2", "host3"} {
		c.addHost(n, 8, 8192, 80)
	}
	g := &instances.ServerGroup{UUID: "9a000000-0000-4000-8000-000000000001", Name: "g", ProjectID: "p1", UserID: "u1", Policy: "anti-affinity"}
	if err := c.store.CreateServerGroup(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	var uuids []string
	for range 4 {
		inst := c.create(func(i *instances.Instance) { i.Spec.Group = g.UUID })
		if err := c.store.AddGroupMember(t.Context(), nil, g.UUID, inst.UUID); err != nil {
			t.Fatal(err)
		}
		uuids = append(uuids, inst.UUID)
	}
	hosts := map[string]int{}
	errorsN := 0
	for _, u := range uuids {
		c.eventually(u+" settled", func() bool {
			i := c.get(u)
			return i.TaskState == "" && (i.VMState == instances.Active || i.VMState == instances.Error)
		})
		i := c.get(u)
		if i.VMState == instances.Error {
			errorsN++
			continue
		}
		hosts[i.Host]++
	}
	if len(hosts) != 3 || errorsN != 1 {
		t.Errorf("anti-affinity members on %v with %d in ERROR; want 3 hosts and one ERROR", hosts, errorsN)
	}
}
