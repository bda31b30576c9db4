package conductor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

func asPlacementError(err error, target **placementclient.Error) bool { return errors.As(err, target) }

// load returns the instance of t if its task state is one of want;
// nil (and no error) when it is deleted or has moved on: the task was
// done already, or superseded (a delete).
func (c *Conductor) load(ctx context.Context, t tasks.Task, want ...string) (*instances.Instance, error) {
	inst, err := c.store.Get(ctx, t.UUID, false)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read instance %s: %w", t.UUID, err)
	}
	if !slices.Contains(want, inst.TaskState) {
		c.log.Info("task no longer applies", "task", t.Kind, "instance", t.UUID, "task_state", inst.TaskState, "vm_state", inst.VMState)
		return nil, nil
	}
	return inst, nil
}

// update writes change to the instance if its task state is still
// expect. gone is true when the write did not happen because the
// instance is deleted or another task took it over.
func (c *Conductor) update(ctx context.Context, uuid string, expect []string, change func(*instances.Instance)) (inst *instances.Instance, gone bool, err error) {
	inst, err = c.store.Update(ctx, uuid, instances.Guard{ExpectTask: expect}, func(i *instances.Instance) error {
		change(i)
		return nil
	})
	if errors.Is(err, instances.ErrNotFound) || errors.Is(err, instances.ErrConflict) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("update instance %s: %w", uuid, err)
	}
	return inst, false, nil
}

// event records the start of one step of the task's action; the
// returned func records its end ("Success" when err is nil).
func (c *Conductor) event(ctx context.Context, t tasks.Task, name, host string) func(err error) {
	if t.RequestID == "" {
		return func(error) {}
	}
	if err := c.store.StartEvent(ctx, t.UUID, t.RequestID, name, host); err != nil {
		c.log.Warn("record action event", "instance", t.UUID, "event", name, "err", err)
	}
	return func(err error) {
		result, details := "Success", ""
		if err != nil {
			result, details = "Error", faultMessage(err)
		}
		if ferr := c.store.FinishEvent(context.WithoutCancel(ctx), t.UUID, t.RequestID, name, result, "", details); ferr != nil {
			c.log.Warn("record action event", "instance", t.UUID, "event", name, "err", ferr)
		}
	}
}

// faultOf is err as an instance fault (code 500, as Nova's for a failed
// operation).
func faultOf(err error) *instances.Fault {
	return &instances.Fault{Code: 500, Message: faultMessage(err), Details: err.Error(), Created: time.Now()}
}

// addFault records err as the instance's fault, apart from any state
// change (a failed attempt of a build that goes on elsewhere).
func (c *Conductor) addFault(ctx context.Context, uuid string, err error) {
	if ferr := c.store.AddFault(context.WithoutCancel(ctx), uuid, *faultOf(err)); ferr != nil {
		c.log.Warn("record instance fault", "instance", uuid, "err", ferr)
	}
}

// userError is an error whose message is meant for the instance fault.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}
func (e *userError) Unwrap() error { return e.err }

// faultMessage is what a user sees of err: an agent's message, Nova's
// NoValidHost, or a plain account of a host that did not answer.
func faultMessage(err error) string {
	var ue *userError
	var re *rpc.Error
	switch {
	case errors.As(err, &ue):
		return ue.msg
	case errors.As(err, &re):
		return re.Message
	case errors.Is(err, rpc.ErrUnreachable):
		return "The compute host did not answer: its agent is not running."
	case errors.Is(err, context.DeadlineExceeded):
		return "The compute host did not answer in time."
	}
	return err.Error()
}

// rpcInstance is the agent's view of inst: its name is Nova's
// instance_name_template of its id.
func rpcInstance(inst *instances.Instance, f *instances.Flavor) rpc.Instance {
	ri := rpc.Instance{UUID: inst.UUID, Name: fmt.Sprintf("instance-%08x", inst.ID)}
	if f != nil {
		ri.Flavor = &rpc.Flavor{VCPUs: int(f.VCPUs), RAM: int(f.MemoryMB), Disk: int(f.RootGB)}
	}
	return ri
}

// call sends req to host and waits for the reply until timeout, or until
// the host's agent is seen to be gone (its heartbeats stop or say it
// stopped or restarted), which ends the wait with an error wrapping
// rpc.ErrUnreachable.
func (c *Conductor) call(ctx context.Context, host string, req rpc.Request, timeout time.Duration) (rpc.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	boot := c.hosts.boot(host)
	type result struct {
		rep rpc.Reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := c.rpc.Call(ctx, host, req)
		done <- result{rep, err}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r.rep, r.err
		case <-tick.C:
			if why := c.hosts.gone(host, boot, time.Now()); why != "" {
				cancel()
				<-done
				return rpc.Reply{}, fmt.Errorf("%s %s on %s: %s: %w", req.Op, req.Instance.UUID, host, why, rpc.ErrUnreachable)
			}
		}
	}
}

// powerOf is the power state a failed reply tells, or keep when it tells
// nothing (the agent did not get to the guest).
func powerOf(rep rpc.Reply, err error, keep int) int {
	var re *rpc.Error
	if errors.As(err, &re) {
		switch re.Code {
		case rpc.CodeBadRequest, rpc.CodeUnsupportedVersion, rpc.CodeBusy:
			return keep
		}
		return int(rep.PowerState)
	}
	if err != nil {
		return keep
	}
	return int(rep.PowerState)
}

// destroyQuietly asks host to destroy the guest of inst, in the
// background and without waiting on the caller: cleanup after a failed
// or abandoned build, where the agent may still be busy with the guest.
func (c *Conductor) destroyQuietly(inst *instances.Instance, host string) {
	if host == "" {
		return
	}
	req := rpc.Request{Op: rpc.Destroy, Instance: rpcInstance(inst, nil)}
	go func() {
		if _, err := c.call(context.Background(), host, req, c.o.BuildTimeout); err != nil && !errors.Is(err, rpc.ErrUnreachable) {
			c.log.Warn("destroy after failure", "instance", inst.UUID, "host", host, "err", err)
		}
	}()
}

// freeAllocations deletes what inst holds in placement.
func (c *Conductor) freeAllocations(ctx context.Context, uuid string) error {
	if err := c.o.Placement.DeleteAllocations(ctx, uuid); err != nil {
		return fmt.Errorf("free allocations of %s: %w", uuid, err)
	}
	return nil
}
