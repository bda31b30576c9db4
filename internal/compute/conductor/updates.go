package conductor

import (
	"context"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// applied is the last update applied to an instance, to ignore older
// ones (rpc.Update: At, then Seq within one Boot).
type applied struct {
	at   time.Time
	boot string
	seq  uint64
}

// stale reports whether u is older than the last update applied to its
// instance, and records it otherwise.
func (c *Conductor) stale(u rpc.Update) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	last, ok := c.applied[u.UUID]
	if ok {
		if u.Boot == last.boot && u.Seq <= last.seq {
			return true
		}
		if u.Boot != last.boot && u.At.Before(last.at) {
			return true
		}
	}
	c.applied[u.UUID] = applied{at: u.At, boot: u.Boot, seq: u.Seq}
	if len(c.applied) > 100000 {
		// Bound the memory: forget the oldest half roughly.
		cut := time.Now().Add(-time.Hour)
		for k, v := range c.applied {
			if v.at.Before(cut) {
				delete(c.applied, k)
			}
		}
	}
	return false
}

// onUpdate applies an agent's update: a guest the database does not put
// on that host (deleted, moved, given up) is destroyed there; a guest
// that changed on its own moves the instance as Nova's power state sync.
// Instances with a task under way are left to the task (Nova's sync
// skips them too); the task's own result comes from its reply.
func (c *Conductor) onUpdate(ctx context.Context, body []byte) error {
	u, err := rpc.DecodeUpdate(body)
	if err != nil {
		return err
	}
	if u.UUID == "" || c.stale(u) {
		return nil
	}
	inst, err := c.store.Get(ctx, u.UUID, false)
	if err != nil && !errors.Is(err, instances.ErrNotFound) {
		return err
	}
	if inst == nil || inst.Host != u.Host {
		if u.PowerState != 0 && (inst == nil || inst.TaskState == "") {
			c.log.Info("destroying a guest its host should not have", "instance", u.UUID, "host", u.Host)
			ri := rpc.Instance{UUID: u.UUID}
			if inst != nil {
				ri = rpcInstance(inst, nil)
			}
			go func() {
				if _, err := c.call(context.Background(), u.Host, rpc.Request{Op: rpc.Destroy, Instance: ri}, c.o.OpTimeout); err != nil {
					c.log.Warn("destroy orphan guest", "instance", u.UUID, "host", u.Host, "err", err)
				}
			}()
		}
		return nil
	}
	if inst.TaskState != "" {
		return nil
	}
	power := int(u.PowerState)
	vm := syncedVM(inst.VMState, power)
	if vm != inst.VMState {
		// Updates may arrive after the result of a later operation (a
		// rebuild's destroy, then its spawn): before a guest is taken
		// for stopped, its host is asked how it is now, as Nova's sync
		// asks the driver.
		if now, ok := c.currentPower(ctx, u.Host, inst); ok {
			power = now
			vm = syncedVM(inst.VMState, power)
		}
	}
	if power == inst.PowerState && vm == inst.VMState {
		return nil
	}
	_, err = c.store.Update(ctx, inst.UUID, instances.Guard{ExpectTask: []string{""}, ExpectVM: []string{inst.VMState}},
		func(i *instances.Instance) error {
			i.PowerState = power
			i.VMState = vm
			return nil
		})
	if errors.Is(err, instances.ErrConflict) || errors.Is(err, instances.ErrNotFound) {
		return nil // a task took it meanwhile
	}
	if err == nil && vm != inst.VMState {
		c.log.Info("power state sync", "instance", inst.UUID, "host", u.Host, "vm_state", vm, "power_state", power)
	}
	return err
}

// syncedVM is the vm state Nova's power state sync gives an instance in
// state vm whose guest is in power state power (without a task).
func syncedVM(vm string, power int) string {
	switch vm {
	case instances.Active:
		switch power {
		case instances.PowerShutdown, instances.PowerCrashed, instances.PowerNoState:
			// The guest stopped on its own (or its QEMU died): Nova
			// calls the stop API; it is SHUTOFF and os-start works.
			return instances.Stopped
		case instances.PowerSuspended:
			return instances.Stopped
		}
	case instances.Paused:
		if power == instances.PowerShutdown || power == instances.PowerCrashed || power == instances.PowerNoState {
			return instances.Stopped
		}
	}
	// Building, Error, Stopped, Suspended, Rescued, Resized, Shelved,
	// ShelvedOffloaded, SoftDeleted: Nova only records the power state.
	return vm
}

// currentPower asks host for the power state of inst's guest now (no
// guest is no state); false when the host does not answer.
func (c *Conductor) currentPower(ctx context.Context, host string, inst *instances.Instance) (int, bool) {
	rep, err := c.call(ctx, host, rpc.Request{Op: rpc.GetInfo, Instance: rpcInstance(inst, nil)}, min(c.o.OpTimeout, 10*time.Second))
	var re *rpc.Error
	if err != nil && !(errors.As(err, &re) && re.Code == rpc.CodeNotFound) {
		c.log.Warn("power state sync: the host does not tell the guest's state", "instance", inst.UUID, "host", host, "err", err)
		return 0, false
	}
	return int(rep.PowerState), true
}
