package conductor

import (
	"context"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// simpleAction is a power action: one agent operation, then Nova's vm
// state (power state as the agent reports it).
type simpleAction struct {
	expect []string // task states the API sets
	// started is the task state Nova's compute sets when it begins
	// ("" keeps the API's).
	started func(t tasks.Task) string
	event   string
	op      rpc.Op
	vm      string // vm state after success
}

var simpleActions = map[tasks.Kind]simpleAction{
	tasks.Stop:    {expect: []string{instances.TaskPoweringOff}, event: "compute_stop_instance", op: rpc.PowerOff, vm: instances.Stopped},
	tasks.Start:   {expect: []string{instances.TaskPoweringOn}, event: "compute_start_instance", op: rpc.PowerOn, vm: instances.Active},
	tasks.Pause:   {expect: []string{instances.TaskPausing}, event: "compute_pause_instance", op: rpc.Pause, vm: instances.Paused},
	tasks.Unpause: {expect: []string{instances.TaskUnpausing}, event: "compute_unpause_instance", op: rpc.Unpause, vm: instances.Active},
	tasks.Suspend: {expect: []string{instances.TaskSuspending}, event: "compute_suspend_instance", op: rpc.Suspend, vm: instances.Suspended},
	tasks.Resume:  {expect: []string{instances.TaskResuming}, event: "compute_resume_instance", op: rpc.Resume, vm: instances.Active},
	tasks.Reboot: {
		expect: []string{instances.TaskRebootPending, instances.TaskRebootPendingHard, instances.TaskRebooting,
			instances.TaskRebootingHard, instances.TaskRebootStarted, instances.TaskRebootStartedHard},
		started: func(t tasks.Task) string {
			if t.Hard {
				return instances.TaskRebootStartedHard
			}
			return instances.TaskRebootStarted
		},
		event: "compute_reboot_instance", op: rpc.Reboot, vm: instances.Active,
	},
	tasks.Unrescue: {expect: []string{instances.TaskUnrescuing}, event: "compute_unrescue_instance", op: rpc.Unrescue, vm: instances.Active},
	tasks.Rescue:   {expect: []string{instances.TaskRescuing}, event: "compute_rescue_instance", op: rpc.Rescue, vm: instances.Rescued},
}

// simple runs a power action: on success the vm state is Nova's, on
// failure it is unchanged; the task state ends None either way, with a
// fault and an Error event on failure.
func (c *Conductor) simple(ctx context.Context, t tasks.Task, a simpleAction) error {
	inst, err := c.load(ctx, t, a.expect...)
	if inst == nil || err != nil {
		return err
	}
	task := inst.TaskState
	if a.started != nil {
		next := a.started(t)
		if _, gone, err := c.update(ctx, inst.UUID, []string{task}, func(i *instances.Instance) { i.TaskState = next }); err != nil || gone {
			return err
		}
		task = next
	}
	req := rpc.Request{Op: a.op, RequestID: t.RequestID, Instance: rpcInstance(inst, &inst.Flavor)}
	switch a.op {
	case rpc.PowerOff:
		req.Timeout = c.o.ShutdownTimeout
	case rpc.Reboot:
		req.Hard = t.Hard
	case rpc.Rescue:
		id := t.ImageID
		if id == "" {
			id = inst.RescueImageRef
		}
		req.Image = &rpc.Image{ID: id}
		if id == inst.Spec.Image.ID || id == inst.ImageRef {
			img := inst.Spec.Image
			req.Image = &rpc.Image{ID: img.ID, DiskFormat: img.DiskFormat, Size: img.Size, Checksum: img.Checksum,
				HashAlgo: img.HashAlgo, HashValue: img.HashValue}
		}
	}
	done := c.event(ctx, t, a.event, inst.Host)
	var rep rpc.Reply
	if inst.Host == "" {
		err = &userError{msg: "Instance " + inst.UUID + " is not on a compute host."}
	} else {
		rep, err = c.call(ctx, inst.Host, req, c.o.OpTimeout)
	}
	done(err)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	_, _, uerr := c.update(ctx, inst.UUID, []string{task}, func(i *instances.Instance) {
		i.TaskState = ""
		i.PowerState = powerOf(rep, err, i.PowerState)
		if err == nil {
			i.VMState = a.vm
			if a.op == rpc.Unrescue {
				i.RescueImageRef = ""
			}
		} else {
			i.Fault = faultOf(err)
		}
	})
	return uerr
}

// delete destroys the guest on its host, frees its allocations, and
// marks the instance deleted. A host whose agent is down does not stop
// the delete (Nova's local delete): the agent destroys the orphan when
// it reports it after a restart.
func (c *Conductor) delete(ctx context.Context, t tasks.Task) error {
	inst, err := c.store.Get(ctx, t.UUID, false)
	if errors.Is(err, instances.ErrNotFound) {
		// Deleted already; make sure placement agrees.
		return c.freeAllocations(ctx, t.UUID)
	}
	if err != nil {
		return err
	}
	if inst.TaskState != instances.TaskDeleting {
		return nil
	}
	done := c.event(ctx, t, "compute_terminate_instance", inst.Host)
	if inst.Host != "" {
		_, err := c.call(ctx, inst.Host, rpc.Request{Op: rpc.Destroy, RequestID: t.RequestID, Instance: rpcInstance(inst, nil)}, c.o.OpTimeout)
		if err != nil && ctx.Err() != nil {
			done(err)
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, rpc.ErrUnreachable) {
			// The host could not destroy it: Nova puts the instance in
			// ERROR, and a delete may be asked again.
			done(err)
			_, _, uerr := c.update(ctx, inst.UUID, []string{instances.TaskDeleting}, func(i *instances.Instance) {
				i.VMState = instances.Error
				i.TaskState = ""
				i.Fault = faultOf(err)
			})
			return uerr
		}
		if err != nil {
			c.log.Warn("delete on a host that does not answer", "instance", inst.UUID, "host", inst.Host, "err", err)
		}
	}
	if err := c.freeAllocations(ctx, inst.UUID); err != nil {
		done(err)
		return err
	}
	done(nil)
	if _, err := c.store.Destroy(ctx, inst.UUID); err != nil && !errors.Is(err, instances.ErrNotFound) {
		return err
	}
	// A claim made by a build that raced the delete is freed too.
	return c.freeAllocations(ctx, inst.UUID)
}

// snapshot uploads the guest's disk to the image the API created
// (image_snapshot -> image_pending_upload -> image_uploading -> None).
func (c *Conductor) snapshot(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskImageSnapshot, instances.TaskImagePendingUpload, instances.TaskImageUploading)
	if inst == nil || err != nil {
		return err
	}
	done := c.event(ctx, t, "compute_snapshot_instance", inst.Host)
	err = c.upload(ctx, t, inst, inst.TaskState, instances.TaskImagePendingUpload, instances.TaskImageUploading)
	done(err)
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	_, _, uerr := c.update(ctx, inst.UUID, []string{instances.TaskImageUploading, instances.TaskImagePendingUpload, inst.TaskState},
		func(i *instances.Instance) {
			i.TaskState = ""
			if err != nil {
				i.Fault = faultOf(err)
			}
		})
	return uerr
}

// upload moves the task through pending and uploading and asks the
// host for the snapshot into t.ImageID; errStop when the instance went.
func (c *Conductor) upload(ctx context.Context, t tasks.Task, inst *instances.Instance, from, pending, uploading string) error {
	if _, gone, err := c.update(ctx, inst.UUID, []string{from, pending}, func(i *instances.Instance) { i.TaskState = pending }); err != nil || gone {
		return errStop{err}
	}
	if _, gone, err := c.update(ctx, inst.UUID, []string{pending}, func(i *instances.Instance) { i.TaskState = uploading }); err != nil || gone {
		return errStop{err}
	}
	if inst.Host == "" {
		return &userError{msg: "Instance " + inst.UUID + " is not on a compute host."}
	}
	format := "qcow2"
	if inst.Spec.Image.DiskFormat == "raw" {
		format = "raw"
	}
	_, err := c.call(ctx, inst.Host, rpc.Request{Op: rpc.Snapshot, RequestID: t.RequestID, Instance: rpcInstance(inst, nil),
		Snapshot: &rpc.SnapshotTarget{ImageID: t.ImageID, DiskFormat: format}}, c.o.OpTimeout)
	if err != nil && ctx.Err() != nil {
		return errStop{ctx.Err()}
	}
	return err
}

// shelve powers the guest off, snapshots it into t.ImageID (shelving ->
// shelving_image_pending_upload -> shelving_image_uploading), and
// offloads it at once (Nova's shelved_offload_time 0).
func (c *Conductor) shelve(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskShelving, instances.TaskShelvingImagePendingUpload, instances.TaskShelvingImageUploading)
	if inst == nil || err != nil {
		return err
	}
	done := c.event(ctx, t, "compute_shelve_instance", inst.Host)
	var rep rpc.Reply
	if inst.Host != "" {
		rep, err = c.call(ctx, inst.Host, rpc.Request{Op: rpc.PowerOff, RequestID: t.RequestID, Instance: rpcInstance(inst, nil),
			Timeout: c.o.ShutdownTimeout}, c.o.OpTimeout)
	}
	if err == nil {
		err = c.upload(ctx, t, inst, inst.TaskState, instances.TaskShelvingImagePendingUpload, instances.TaskShelvingImageUploading)
	}
	done(err)
	var stop errStop
	if errors.As(err, &stop) {
		return stop.err
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		_, _, uerr := c.update(ctx, inst.UUID, []string{instances.TaskShelving, instances.TaskShelvingImagePendingUpload, instances.TaskShelvingImageUploading},
			func(i *instances.Instance) {
				i.TaskState = ""
				i.PowerState = powerOf(rep, err, i.PowerState)
				i.Fault = faultOf(err)
			})
		return uerr
	}
	_, gone, err := c.update(ctx, inst.UUID, []string{instances.TaskShelvingImageUploading}, func(i *instances.Instance) {
		i.VMState = instances.Shelved
		i.TaskState = instances.TaskShelvingOffloading
		i.PowerState = instances.PowerShutdown
		i.ShelvedImageID = t.ImageID
	})
	if err != nil || gone {
		return err
	}
	return c.offload(ctx, t)
}

func (c *Conductor) shelveOffload(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskShelving, instances.TaskShelvingOffloading)
	if inst == nil || err != nil {
		return err
	}
	if inst.TaskState == instances.TaskShelving {
		// A volume-backed server: nothing to snapshot.
		if _, gone, err := c.update(ctx, inst.UUID, []string{instances.TaskShelving}, func(i *instances.Instance) {
			i.TaskState = instances.TaskShelvingOffloading
		}); err != nil || gone {
			return err
		}
	}
	return c.offload(ctx, t)
}

// offload destroys a shelved guest on its host and frees its
// allocations (shelving_offloading -> shelved_offloaded, no host).
func (c *Conductor) offload(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskShelvingOffloading)
	if inst == nil || err != nil {
		return err
	}
	done := c.event(ctx, t, "compute_shelve_offload_instance", inst.Host)
	if inst.Host != "" {
		_, err = c.call(ctx, inst.Host, rpc.Request{Op: rpc.Destroy, RequestID: t.RequestID, Instance: rpcInstance(inst, nil)}, c.o.OpTimeout)
		if err != nil && ctx.Err() != nil {
			done(err)
			return ctx.Err()
		}
	}
	if err != nil && !errors.Is(err, rpc.ErrUnreachable) {
		done(err)
		_, _, uerr := c.update(ctx, inst.UUID, []string{instances.TaskShelvingOffloading}, func(i *instances.Instance) {
			i.TaskState = ""
			i.Fault = faultOf(err)
		})
		return uerr
	}
	if err := c.freeAllocations(ctx, inst.UUID); err != nil {
		done(err)
		return err
	}
	done(nil)
	_, _, err = c.update(ctx, inst.UUID, []string{instances.TaskShelvingOffloading}, func(i *instances.Instance) {
		i.VMState = instances.ShelvedOffloaded
		i.TaskState = ""
		i.PowerState = instances.PowerNoState
		i.Host, i.Node = "", ""
	})
	return err
}

// unshelve runs a shelved server again: powered on where it is when it
// was not offloaded, else scheduled and built from its shelve snapshot.
// A failure leaves it shelved (offloaded) with a fault.
func (c *Conductor) unshelve(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskUnshelving, instances.TaskSpawning)
	if inst == nil || err != nil {
		return err
	}
	done := c.event(ctx, t, "compute_unshelve_instance", inst.Host)
	if inst.VMState == instances.Shelved && inst.Host != "" {
		rep, err := c.call(ctx, inst.Host, rpc.Request{Op: rpc.PowerOn, RequestID: t.RequestID, Instance: rpcInstance(inst, &inst.Flavor)}, c.o.OpTimeout)
		done(err)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		_, _, uerr := c.update(ctx, inst.UUID, []string{instances.TaskUnshelving}, func(i *instances.Instance) {
			i.TaskState = ""
			i.PowerState = powerOf(rep, err, i.PowerState)
			if err == nil {
				i.VMState = instances.Active
				i.ShelvedImageID = ""
			} else {
				i.Fault = faultOf(err)
			}
		})
		if err == nil && uerr == nil {
			c.deleteShelvedImage(ctx, inst)
		}
		return uerr
	}
	// Offloaded: schedule (no reschedules, as Nova's unshelve) and build
	// from the snapshot.
	if t.AvailabilityZone != "" {
		inst.Spec.AvailabilityZone = t.AvailabilityZone
	}
	sel, err := c.o.Scheduler.Select(ctx, inst, inst.Flavor, nil)
	if err != nil {
		done(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.failUnshelve(ctx, inst.UUID, []string{instances.TaskUnshelving}, err)
	}
	placed, gone, err := c.update(ctx, inst.UUID, []string{instances.TaskUnshelving}, func(i *instances.Instance) {
		i.Host, i.Node, i.AvailabilityZone = sel.Host, sel.Node, sel.Zone
		i.TaskState = instances.TaskSpawning
	})
	if err != nil || gone {
		done(err)
		if ferr := c.freeAllocations(ctx, inst.UUID); ferr != nil {
			return ferr
		}
		return err
	}
	img := placed.Spec.Image
	if placed.ShelvedImageID != "" {
		img = instances.Image{ID: placed.ShelvedImageID}
	}
	rep, err := c.call(ctx, sel.Host, buildRequest(placed, t.RequestID, &img), c.o.BuildTimeout)
	done(err)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.destroyQuietly(placed, sel.Host)
		return c.failUnshelve(ctx, inst.UUID, []string{instances.TaskSpawning}, err)
	}
	_, gone, err = c.update(ctx, inst.UUID, []string{instances.TaskSpawning}, func(i *instances.Instance) {
		i.VMState = instances.Active
		i.TaskState = ""
		i.PowerState = int(rep.PowerState)
		i.ShelvedImageID = ""
		i.LaunchedAt = time.Now()
	})
	if gone && err == nil {
		c.destroyQuietly(placed, sel.Host)
		return c.freeAllocations(ctx, inst.UUID)
	}
	if err == nil {
		c.deleteShelvedImage(ctx, placed)
	}
	return err
}

// deleteShelvedImage deletes the snapshot inst was shelved to, now that
// it runs again. A failure leaves the image behind, logged.
func (c *Conductor) deleteShelvedImage(ctx context.Context, inst *instances.Instance) {
	if c.o.Images == nil || inst.ShelvedImageID == "" {
		return
	}
	if err := c.o.Images.DeleteImage(ctx, inst.ShelvedImageID); err != nil {
		c.log.Warn("delete the shelve snapshot", "instance", inst.UUID, "image", inst.ShelvedImageID, "err", err)
	}
}

func (c *Conductor) failUnshelve(ctx context.Context, uuid string, expect []string, err error) error {
	_, _, uerr := c.update(ctx, uuid, expect, func(i *instances.Instance) {
		i.VMState = instances.ShelvedOffloaded
		i.TaskState = ""
		i.PowerState = instances.PowerNoState
		i.Host, i.Node = "", ""
		i.Fault = faultOf(err)
	})
	if uerr != nil {
		return uerr
	}
	return c.freeAllocations(ctx, uuid)
}
