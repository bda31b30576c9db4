package conductor

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// An update that arrives after the result of a later operation (a
// rebuild's destroy reported after its spawn) must not stop a running
// server: the host is asked how the guest is now.
func TestLateUpdateDoesNotStopRunningServer(t *testing.T) {
	c := newCloud(t)
	h := c.addHost("host1", 4, 4096, 40)
	inst := c.create()
	c.wait(inst.UUID, instances.Active)

	late := rpc.Update{V: rpc.Version, Host: "host1", Boot: "late", Seq: 1, At: time.Now(), UUID: inst.UUID,
		PowerState: hypervisor.NoState, Event: rpc.EventTask, Task: rpc.Destroy, OK: true}
	body, err := json.Marshal(late)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.bus.Enqueue(t.Context(), rpc.UpdatesQueue, body); err != nil {
		t.Fatal(err)
	}
	c.eventually("the late update taken", func() bool {
		c.cond.mu.Lock()
		defer c.cond.mu.Unlock()
		return c.cond.applied[inst.UUID].boot == "late"
	})
	time.Sleep(500 * time.Millisecond) // and applied
	if got := c.get(inst.UUID); got.VMState != instances.Active || got.PowerState != instances.PowerRunning {
		t.Fatalf("after a late update: vm %s power %d, want active and running", got.VMState, got.PowerState)
	}
	if err := h.driver.Crash(inst.UUID); err != nil {
		t.Fatal(err)
	}
	got := c.wait(inst.UUID, instances.Stopped)
	if got.PowerState != instances.PowerShutdown {
		t.Errorf("crashed guest: power %d, want shutdown", got.PowerState)
	}
}
