package conductor

import (
	"bytes"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// Snapshots of a paused, stopped or suspended server on the fake driver
// (tempest's test_create_image_from_{paused,stopped,suspended}_server):
// the image gets the disk and the server stays as it was.
func TestSnapshotOfIdleServers(t *testing.T) {
	for _, tc := range []struct {
		kind     tasks.Kind
		task, vm string
		power    int
	}{
		{tasks.Pause, instances.TaskPausing, instances.Paused, instances.PowerPaused},
		{tasks.Stop, instances.TaskPoweringOff, instances.Stopped, instances.PowerShutdown},
		{tasks.Suspend, instances.TaskSuspending, instances.Suspended, instances.PowerSuspended},
	} {
		t.Run(tc.vm, func(t *testing.T) {
			c := newCloud(t)
			c.addHost("host1", 4, 4096, 40)
			inst := c.create()
			c.wait(inst.UUID, instances.Active)
			c.action(inst.UUID, tc.kind, tc.task, tasks.Task{})
			c.wait(inst.UUID, tc.vm)

			c.action(inst.UUID, tasks.Snapshot, instances.TaskImageSnapshot, tasks.Task{ImageID: "snap-" + tc.vm})
			got := c.wait(inst.UUID, tc.vm)
			c.images.mu.Lock()
			n, data := c.images.uploaded["snap-"+tc.vm], c.images.data["snap-"+tc.vm]
			c.images.mu.Unlock()
			// The server's image is raw, so is its snapshot.
			if n != 1 || len(data) != fake.SnapshotSize || bytes.HasPrefix(data, []byte("QFI\xfb")) {
				t.Errorf("snapshot uploaded %d times, %d bytes; want one raw disk of %d", n, len(data), fake.SnapshotSize)
			}
			if got.PowerState != tc.power || got.Fault != nil {
				t.Errorf("after the snapshot: power %d fault %+v, want power %d and no fault", got.PowerState, got.Fault, tc.power)
			}
		})
	}
}
