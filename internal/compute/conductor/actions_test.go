package conductor

import (
	"errors"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

func TestSnapshot(t *testing.T) {
	c := newCloud(t)
	c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	c.action(inst.UUID, tasks.Snapshot, instances.TaskImageSnapshot, tasks.Task{ImageID: "snap1"})
	got := c.wait(inst.UUID, instances.Active)
	c.images.mu.Lock()
	n := c.images.uploaded["snap1"]
	c.images.mu.Unlock()
	if n != 1 || got.PowerState != instances.PowerRunning {
		t.Errorf("snapshot uploaded %d times, power %d", n, got.PowerState)
	}
}

func TestShelveAndUnshelve(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	c.action(inst.UUID, tasks.Shelve, instances.TaskShelving, tasks.Task{ImageID: "shelved1"})
	got := c.wait(inst.UUID, instances.ShelvedOffloaded)
	if got.Host != "" || got.ShelvedImageID != "shelved1" || got.PowerState != instances.PowerNoState {
		t.Errorf("offloaded: host %q image %q power %d", got.Host, got.ShelvedImageID, got.PowerState)
	}
	if h.driver.Len() != 0 || len(c.allocations(inst.UUID)) != 0 {
		t.Errorf("offloaded server keeps %d guests, allocations %v", h.driver.Len(), c.allocations(inst.UUID))
	}
	c.action(inst.UUID, tasks.Unshelve, instances.TaskUnshelving, tasks.Task{})
	got = c.wait(inst.UUID, instances.Active)
	if got.Host != "host1" || got.ShelvedImageID != "" || got.PowerState != instances.PowerRunning || len(c.allocations(inst.UUID)) != 1 {
		t.Errorf("unshelved: host %q image %q power %d allocations %v", got.Host, got.ShelvedImageID, got.PowerState, c.allocations(inst.UUID))
	}
	c.images.mu.Lock()
	_, kept := c.images.data["shelved1"]
	c.images.mu.Unlock()
	if kept {
		t.Error("the shelve snapshot is still in the image service after unshelve")
	}
}

func TestRebuild(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	c.images.data["debian"] = make([]byte, 32<<10)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	c.action(inst.UUID, tasks.Rebuild, instances.TaskRebuilding, tasks.Task{ImageID: "debian"}, func(i *instances.Instance) {
		i.ImageRef = "debian"
		i.Spec.Image = instances.Image{ID: "debian", DiskFormat: "raw"}
	})
	got := c.wait(inst.UUID, instances.Active)
	if got.Host != "host1" || got.PowerState != instances.PowerRunning || h.driver.Len() != 1 {
		t.Errorf("rebuilt on %q power %d guests %d", got.Host, got.PowerState, h.driver.Len())
	}
	// From an image no one has: ERROR with a fault.
	c.action(inst.UUID, tasks.Rebuild, instances.TaskRebuilding, tasks.Task{ImageID: "gone"}, func(i *instances.Instance) {
		i.ImageRef = "gone"
		i.Spec.Image = instances.Image{ID: "gone"}
	})
	if got := c.wait(inst.UUID, instances.Error); got.Fault == nil {
		t.Errorf("failed rebuild without a fault")
	}
}

func TestResizeConfirmRevert(t *testing.T) {
	c := newCloud(t)
	c.addHost("host1", 4, 8192, 40)
	nodes := func() string {
		n, _ := c.store.ListComputeNodes(t.Context(), "host1")
		return n[0].UUID
	}
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	big := instances.Flavor{FlavorID: "2", Name: "m1.small", VCPUs: 2, MemoryMB: 2048, RootGB: 2}
	c.action(inst.UUID, tasks.Resize, instances.TaskResizePrep, tasks.Task{}, func(i *instances.Instance) { i.NewFlavor = &big })
	got := c.wait(inst.UUID, instances.Resized)
	if got.Flavor.FlavorID != "2" || got.OldFlavor == nil || got.OldFlavor.FlavorID != "1" || got.PowerState != instances.PowerRunning {
		t.Errorf("resized: flavor %s old %+v power %d", got.Flavor.FlavorID, got.OldFlavor, got.PowerState)
	}
	if r := c.allocations(inst.UUID)[nodes()].Resources; r["VCPU"] != 2 || r["MEMORY_MB"] != 2048 {
		t.Errorf("allocation while resized %v", r)
	}
	c.action(inst.UUID, tasks.Revert, instances.TaskResizeReverting, tasks.Task{})
	got = c.wait(inst.UUID, instances.Active)
	if got.Flavor.FlavorID != "1" || got.OldFlavor != nil {
		t.Errorf("reverted: flavor %s old %+v", got.Flavor.FlavorID, got.OldFlavor)
	}
	if r := c.allocations(inst.UUID)[nodes()].Resources; r["VCPU"] != 1 || r["MEMORY_MB"] != 512 {
		t.Errorf("allocation after revert %v", r)
	}
	c.action(inst.UUID, tasks.Resize, instances.TaskResizePrep, tasks.Task{}, func(i *instances.Instance) { i.NewFlavor = &big })
	c.wait(inst.UUID, instances.Resized)
	c.action(inst.UUID, tasks.Confirm, instances.TaskResizeConfirming, tasks.Task{})
	got = c.wait(inst.UUID, instances.Active)
	if got.Flavor.FlavorID != "2" || got.OldFlavor != nil || got.NewFlavor != nil {
		t.Errorf("confirmed: flavor %s old %+v new %+v", got.Flavor.FlavorID, got.OldFlavor, got.NewFlavor)
	}
	// Too big for the host: the server stays as it was, with a fault.
	huge := instances.Flavor{FlavorID: "9", Name: "huge", VCPUs: 1, MemoryMB: 100000, RootGB: 2}
	c.action(inst.UUID, tasks.Resize, instances.TaskResizePrep, tasks.Task{}, func(i *instances.Instance) { i.NewFlavor = &huge })
	got = c.wait(inst.UUID, instances.Active)
	if got.Flavor.FlavorID != "2" {
		t.Errorf("flavor %s after a resize that did not fit", got.Flavor.FlavorID)
	}
	if r := c.allocations(inst.UUID)[nodes()].Resources; r["MEMORY_MB"] != 2048 {
		t.Errorf("allocation after a failed resize %v", r)
	}
}

func TestRescue(t *testing.T) {
	c := newCloud(t)
	c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	c.action(inst.UUID, tasks.Rescue, instances.TaskRescuing, tasks.Task{ImageID: "cirros"}, func(i *instances.Instance) {
		i.RescueImageRef, i.PreviousVMState = "cirros", i.VMState
	})
	if got := c.wait(inst.UUID, instances.Rescued); got.PowerState != instances.PowerRunning {
		t.Errorf("rescued power %d", got.PowerState)
	}
	c.action(inst.UUID, tasks.Unrescue, instances.TaskUnrescuing, tasks.Task{})
	if got := c.wait(inst.UUID, instances.Active); got.RescueImageRef != "" {
		t.Errorf("unrescued keeps rescue image %q", got.RescueImageRef)
	}
}

// A guest a host should not have (its server deleted while the agent was
// away) is destroyed when the agent reports it.
func TestOrphanDestroyed(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	h.stop()
	// Deleted while the agent is down: the delete does not wait for it.
	c.action(inst.UUID, tasks.Delete, instances.TaskDeleting, tasks.Task{})
	c.eventually("deleted", func() bool { return c.get(inst.UUID).Deleted })
	if len(c.allocations(inst.UUID)) != 0 {
		t.Errorf("allocations of a deleted server %v", c.allocations(inst.UUID))
	}
	if h.driver.Len() != 1 {
		t.Fatalf("the stopped host has %d guests, want the orphan", h.driver.Len())
	}
	// The agent comes back, re-adopts the guest and reports it.
	c.startAgent(h)
	c.eventually("orphan destroyed", func() bool { return h.driver.Len() == 0 })
}

// A failed stop leaves the server as it was.
func TestStopFails(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)
	h.driver.SetFaults(fake.Faults{Fail: func(op fake.Op, _ hypervisor.Instance) error {
		if op == fake.OpPowerOff {
			return errors.New("stuck")
		}
		return nil
	}})
	c.action(inst.UUID, tasks.Stop, instances.TaskPoweringOff, tasks.Task{})
	if got := c.wait(inst.UUID, instances.Active); got.PowerState != instances.PowerRunning {
		t.Errorf("power %d after a failed stop", got.PowerState)
	}
}
