package agent

import (
	"context"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// resize gives the guest the request's flavor on this host: Nova's
// resize_instance and finish_resize on one host. The guest's lock is held.
func (a *Agent) resize(ctx context.Context, req *rpc.Request) rpc.Reply {
	r, rz, rep, ok := a.resizable(ctx, req)
	if !ok {
		return rep
	}
	old := a.instance(r)
	before := a.state(ctx, old)
	if before == hypervisor.Suspended {
		return fail(before, rpc.Errorf(rpc.CodeRefused, false, "Instance %s is suspended and cannot be resized.", r.UUID))
	}
	// Refused before the guest is stopped for nothing; the driver checks
	// the disk itself too (a flavor of disk 0 kept the image's size).
	if to, from := req.Instance.Flavor.Disk, r.Flavor.Disk; to > 0 && to < from {
		return fail(before, rpc.Errorf(rpc.CodeRefused, false,
			"Resize error: Unable to resize disk down: instance %s has %d GB, the new flavor %d GB.", r.UUID, from, to))
	}
	if err := a.o.Driver.PowerOff(ctx, old, time.Duration(req.Timeout)*time.Second); err != nil {
		return fail(a.state(ctx, old), a.opError(ctx, req, err))
	}
	next := *r
	next.Flavor = *req.Instance.Flavor
	if r.OldFlavor == nil {
		// Revert goes back to before the first unconfirmed resize, as
		// the driver's backup does.
		f := r.Flavor
		next.OldFlavor = &f
	}
	inst := a.instance(&next)
	if err := rz.Resize(ctx, inst); err != nil {
		// Nothing changed: the guest goes on as it was (Nova's
		// InstanceFaultRollback).
		e := a.opError(ctx, req, err)
		if errors.Is(err, hypervisor.ErrRefused) {
			e = rpc.Errorf(rpc.CodeRefused, false, "Resize error: %v", err)
		}
		a.powerBack(ctx, old, before)
		return fail(a.state(ctx, old), e)
	}
	if err := a.remember(&next); err != nil {
		// The disk is resized but the record is not: undo the disk.
		if uerr := rz.RevertResize(context.WithoutCancel(ctx), old); uerr != nil {
			a.log.Warn("undo resize", "uuid", r.UUID, "err", uerr)
		}
		a.powerBack(ctx, old, before)
		return fail(a.state(ctx, old), rpc.Errorf(rpc.CodeFailed, false, "%v", err))
	}
	return a.startIf(ctx, req, inst, before)
}

// confirmResize drops the backup of the disk before a resize.
func (a *Agent) confirmResize(ctx context.Context, req *rpc.Request) rpc.Reply {
	r, rz, rep, ok := a.resizable(ctx, req)
	if !ok {
		return rep
	}
	inst := a.instance(r)
	if err := rz.ConfirmResize(ctx, inst); err != nil {
		return fail(a.state(ctx, inst), a.opError(ctx, req, err))
	}
	if r.OldFlavor != nil {
		next := *r
		next.OldFlavor = nil
		if err := a.remember(&next); err != nil {
			return fail(a.state(ctx, inst), rpc.Errorf(rpc.CodeFailed, false, "%v", err))
		}
	}
	return rpc.Reply{OK: true, PowerState: a.state(ctx, inst)}
}

// revertResize puts back the disk and flavor before a resize.
func (a *Agent) revertResize(ctx context.Context, req *rpc.Request) rpc.Reply {
	r, rz, rep, ok := a.resizable(ctx, req)
	if !ok {
		return rep
	}
	cur := a.instance(r)
	before := a.state(ctx, cur)
	back := r.OldFlavor
	if req.Instance.Flavor != nil {
		back = req.Instance.Flavor
	}
	if back == nil {
		return fail(before, rpc.Errorf(rpc.CodeRefused, false, "Instance %s has no resize to revert.", r.UUID))
	}
	if err := a.o.Driver.PowerOff(ctx, cur, time.Duration(req.Timeout)*time.Second); err != nil {
		return fail(a.state(ctx, cur), a.opError(ctx, req, err))
	}
	next := *r
	next.Flavor, next.OldFlavor = *back, nil
	inst := a.instance(&next)
	if err := rz.RevertResize(ctx, inst); err != nil {
		e := a.opError(ctx, req, err)
		if errors.Is(err, hypervisor.ErrRefused) {
			e = rpc.Errorf(rpc.CodeRefused, false, "Instance %s has no resize to revert: %v", r.UUID, err)
		}
		a.powerBack(ctx, cur, before)
		return fail(a.state(ctx, cur), e)
	}
	if err := a.remember(&next); err != nil {
		return fail(a.state(ctx, inst), rpc.Errorf(rpc.CodeFailed, false, "%v", err))
	}
	return a.startIf(ctx, req, inst, before)
}

// resizable finds the guest's record and the driver's Resizer, or the
// reply saying why not.
func (a *Agent) resizable(ctx context.Context, req *rpc.Request) (*record, hypervisor.Resizer, rpc.Reply, bool) {
	r := a.record(req.Instance.UUID)
	if r == nil {
		inst := a.guest(req.Instance)
		if _, err := a.o.Driver.Info(ctx, inst); errors.Is(err, hypervisor.ErrNotFound) {
			return nil, nil, fail(hypervisor.NoState, a.opError(ctx, req, err)), false
		}
		return nil, nil, fail(a.state(ctx, inst), rpc.Errorf(rpc.CodeFailed, false,
			"Instance %s has no record on host %s: it cannot be resized here.", req.Instance.UUID, a.o.Host)), false
	}
	rz, ok := a.o.Driver.(hypervisor.Resizer)
	if !ok {
		return nil, nil, fail(a.state(ctx, a.instance(r)), rpc.Errorf(rpc.CodeUnsupported, false,
			"The %s hypervisor cannot resize instances.", a.hypervisorType(ctx))), false
	}
	return r, rz, rpc.Reply{}, true
}

// startIf starts the guest after a resize or its revert as the request
// says, or as it was before when it does not say.
func (a *Agent) startIf(ctx context.Context, req *rpc.Request, inst hypervisor.Instance, before hypervisor.PowerState) rpc.Reply {
	on := before == hypervisor.Running || before == hypervisor.Paused
	if req.PowerOn != nil {
		on = *req.PowerOn
	}
	if on {
		if err := a.o.Driver.PowerOn(ctx, inst); err != nil {
			return fail(a.state(ctx, inst), a.opError(ctx, req, err))
		}
	}
	return rpc.Reply{OK: true, PowerState: a.state(ctx, inst)}
}

// powerBack starts a guest an operation stopped and then gave up on.
func (a *Agent) powerBack(ctx context.Context, inst hypervisor.Instance, before hypervisor.PowerState) {
	if before != hypervisor.Running && before != hypervisor.Paused {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if err := a.o.Driver.PowerOn(ctx, inst); err != nil {
		a.log.Warn("start the guest again", "uuid", inst.UUID, "err", err)
	}
}

func (a *Agent) hypervisorType(ctx context.Context) string {
	h, err := a.o.Driver.Host(ctx)
	if err != nil || h.Type == "" {
		return "host's"
	}
	return h.Type
}
