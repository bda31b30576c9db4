package conductor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// rebuild destroys the guest and builds it again from the instance's
// (new) image on the same host (rebuilding -> rebuild_spawning -> None);
// a stopped server is stopped again after it. A failure is ERROR.
func (c *Conductor) rebuild(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskRebuilding, instances.TaskRebuildSpawning)
	if inst == nil || err != nil {
		return err
	}
	done := c.event(ctx, t, "compute_rebuild_instance", inst.Host)
	fail := func(err error) error {
		done(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_, _, uerr := c.update(ctx, inst.UUID, []string{instances.TaskRebuilding, instances.TaskRebuildSpawning}, func(i *instances.Instance) {
			i.VMState = instances.Error
			i.TaskState = ""
			i.PowerState = instances.PowerNoState
			i.Fault = faultOf(err)
		})
		return uerr
	}
	if inst.Host == "" {
		return fail(&userError{msg: "Instance " + inst.UUID + " is not on a compute host."})
	}
	if _, err := c.call(ctx, inst.Host, rpc.Request{Op: rpc.Destroy, RequestID: t.RequestID, Instance: rpcInstance(inst, nil)}, c.o.OpTimeout); err != nil {
		return fail(err)
	}
	if _, gone, err := c.update(ctx, inst.UUID, []string{instances.TaskRebuilding, instances.TaskRebuildSpawning}, func(i *instances.Instance) {
		i.TaskState = instances.TaskRebuildSpawning
		i.PowerState = instances.PowerNoState
	}); err != nil || gone {
		return err
	}
	rep, err := c.call(ctx, inst.Host, buildRequest(inst, t.RequestID, &inst.Spec.Image), c.o.BuildTimeout)
	if err != nil {
		return fail(err)
	}
	vm := instances.Active
	if inst.VMState == instances.Stopped {
		if rep, err = c.call(ctx, inst.Host, rpc.Request{Op: rpc.PowerOff, RequestID: t.RequestID, Instance: rpcInstance(inst, nil)}, c.o.OpTimeout); err != nil {
			return fail(err)
		}
		vm = instances.Stopped
	}
	done(nil)
	_, _, err = c.update(ctx, inst.UUID, []string{instances.TaskRebuildSpawning}, func(i *instances.Instance) {
		i.VMState = vm
		i.TaskState = ""
		i.PowerState = int(rep.PowerState)
		i.LaunchedAt = time.Now()
	})
	return err
}

// setAllocation makes what the instance holds on its node the flavor's
// resources (a resize in place, or its revert), retrying lost races on
// the consumer generation. A flavor that does not fit is NoValidHost.
func (c *Conductor) setAllocation(ctx context.Context, inst *instances.Instance, f instances.Flavor) error {
	want := scheduler.FlavorResources(f)
	for range 5 {
		cur, err := c.o.Placement.Allocations(ctx, inst.UUID)
		if err != nil {
			return err
		}
		rp := ""
		for uuid := range cur.Allocations {
			rp = uuid
		}
		if rp == "" {
			nodes, err := c.store.ListComputeNodes(ctx, inst.Host)
			if err != nil || len(nodes) == 0 {
				return fmt.Errorf("compute node of %s: %v", inst.Host, err)
			}
			rp = nodes[0].UUID
		}
		err = c.o.Placement.PutAllocations(ctx, inst.UUID, placementclient.Allocations{
			Allocations:        map[string]placementclient.ProviderAllocation{rp: {Resources: want}},
			ConsumerGeneration: cur.ConsumerGeneration, ProjectID: inst.ProjectID, UserID: inst.UserID,
		})
		if err == nil {
			return nil
		}
		if !placementclient.IsConflict(err) {
			return err
		}
		// A generation race, or the flavor does not fit: read again; if
		// it still fails, it does not fit.
	}
	return &scheduler.NoValidHost{Reason: "There are not enough hosts available."}
}

// resize gives the instance its NewFlavor on the host it is on (Nova's
// resize to the same host): resize_prep -> resize_migrating ->
// resize_migrated -> resize_finish -> None, vm resized, until confirmed
// or reverted. The instance's allocation becomes the new flavor's. A
// host refusing (a smaller disk) leaves the server as it was, with a
// fault; another failure is ERROR, as Nova's.
func (c *Conductor) resize(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskResizePrep, instances.TaskResizeMigrating, instances.TaskResizeMigrated, instances.TaskResizeFinish)
	if inst == nil || err != nil {
		return err
	}
	if inst.NewFlavor == nil {
		return c.revertTask(ctx, inst.UUID, inst.TaskState, &userError{msg: "Instance has no flavor to resize to."}, "")
	}
	nf := *inst.NewFlavor
	old := inst.Flavor
	prep := c.event(ctx, t, "compute_prep_resize", inst.Host)
	if inst.Host == "" {
		err = &userError{msg: "Instance " + inst.UUID + " is not on a compute host."}
	} else {
		err = c.setAllocation(ctx, inst, nf)
	}
	prep(err)
	if err != nil {
		return c.revertTask(ctx, inst.UUID, inst.TaskState, err, "")
	}
	step := func(from, to string) bool {
		_, gone, err := c.update(ctx, inst.UUID, []string{from}, func(i *instances.Instance) { i.TaskState = to })
		return err == nil && !gone
	}
	if !step(inst.TaskState, instances.TaskResizeMigrating) {
		return c.setAllocation(ctx, inst, old)
	}
	done := c.event(ctx, t, "compute_resize_instance", inst.Host)
	powerOn := inst.VMState != instances.Stopped
	rep, err := c.call(ctx, inst.Host, rpc.Request{Op: rpc.Resize, RequestID: t.RequestID, Instance: rpcInstance(inst, &nf),
		Timeout: c.o.ShutdownTimeout, PowerOn: &powerOn}, c.o.OpTimeout)
	done(err)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if aerr := c.setAllocation(context.WithoutCancel(ctx), inst, old); aerr != nil {
			c.log.Warn("put back allocation after failed resize", "instance", inst.UUID, "err", aerr)
		}
		var re *rpc.Error
		vm := instances.Error
		if errors.As(err, &re) && (re.Code == rpc.CodeRefused || re.Code == rpc.CodeBusy) {
			vm = ""
		}
		return c.revertTask(ctx, inst.UUID, instances.TaskResizeMigrating, err, vm)
	}
	if !step(instances.TaskResizeMigrating, instances.TaskResizeMigrated) || !step(instances.TaskResizeMigrated, instances.TaskResizeFinish) {
		return nil
	}
	_, _, err = c.update(ctx, inst.UUID, []string{instances.TaskResizeFinish}, func(i *instances.Instance) {
		o := old
		i.OldFlavor = &o
		i.Flavor = nf
		i.PreviousVMState = inst.VMState
		i.VMState = instances.Resized
		i.TaskState = ""
		i.PowerState = int(rep.PowerState)
	})
	return err
}

// revertTask ends a task that failed before changing the guest: task
// None, vm unchanged (or vm when set), a fault.
func (c *Conductor) revertTask(ctx context.Context, uuid, from string, err error, vm string) error {
	_, _, uerr := c.update(ctx, uuid, []string{from}, func(i *instances.Instance) {
		i.TaskState = ""
		if vm != "" {
			i.VMState = vm
		}
		i.Fault = faultOf(err)
	})
	return uerr
}

// confirmResize drops the host's backup of the old disk; the server is
// back to the state it was resized from (active or stopped).
func (c *Conductor) confirmResize(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskResizeConfirming)
	if inst == nil || err != nil {
		return err
	}
	done := c.event(ctx, t, "compute_confirm_resize", inst.Host)
	var rep rpc.Reply
	if inst.Host != "" {
		rep, err = c.call(ctx, inst.Host, rpc.Request{Op: rpc.ConfirmResize, RequestID: t.RequestID, Instance: rpcInstance(inst, nil)}, c.o.OpTimeout)
	}
	done(err)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.revertTask(ctx, inst.UUID, instances.TaskResizeConfirming, err, "")
	}
	_, _, err = c.update(ctx, inst.UUID, []string{instances.TaskResizeConfirming}, func(i *instances.Instance) {
		i.VMState = previousVM(i)
		i.TaskState = ""
		i.OldFlavor, i.NewFlavor = nil, nil
		i.PowerState = powerOf(rep, nil, i.PowerState)
	})
	return err
}

// revertResize puts the old flavor and disk back (resize_reverting ->
// None), and the allocation with them.
func (c *Conductor) revertResize(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskResizeReverting)
	if inst == nil || err != nil {
		return err
	}
	if inst.OldFlavor == nil {
		return c.revertTask(ctx, inst.UUID, instances.TaskResizeReverting, &userError{msg: "Instance has not been resized."}, "")
	}
	old := *inst.OldFlavor
	done := c.event(ctx, t, "compute_revert_resize", inst.Host)
	if err := c.setAllocation(ctx, inst, old); err != nil {
		done(err)
		return c.revertTask(ctx, inst.UUID, instances.TaskResizeReverting, err, "")
	}
	powerOn := previousVM(inst) != instances.Stopped
	rep, err := c.call(ctx, inst.Host, rpc.Request{Op: rpc.RevertResize, RequestID: t.RequestID, Instance: rpcInstance(inst, &old),
		Timeout: c.o.ShutdownTimeout, PowerOn: &powerOn}, c.o.OpTimeout)
	done(err)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if aerr := c.setAllocation(context.WithoutCancel(ctx), inst, inst.Flavor); aerr != nil {
			c.log.Warn("put back allocation after failed revert", "instance", inst.UUID, "err", aerr)
		}
		return c.revertTask(ctx, inst.UUID, instances.TaskResizeReverting, err, "")
	}
	_, _, err = c.update(ctx, inst.UUID, []string{instances.TaskResizeReverting}, func(i *instances.Instance) {
		i.VMState = previousVM(i)
		i.Flavor = old
		i.OldFlavor, i.NewFlavor = nil, nil
		i.TaskState = ""
		i.PowerState = int(rep.PowerState)
	})
	return err
}

func previousVM(i *instances.Instance) string {
	if i.PreviousVMState == instances.Stopped {
		return instances.Stopped
	}
	return instances.Active
}
