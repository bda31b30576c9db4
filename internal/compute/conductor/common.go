package conductor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
// expect, with the events waiting in ctx's buffer. gone is true when the
// write did not happen because the instance is deleted or another task
// took it over.
func (c *Conductor) update(ctx context.Context, uuid string, expect []string, change func(*instances.Instance)) (inst *instances.Instance, gone bool, err error) {
	buf := bufferOf(ctx, uuid)
	evs := buf.pending()
	inst, err = c.store.UpdateRecording(ctx, uuid, instances.Guard{ExpectTask: expect}, evs, func(i *instances.Instance) error {
		change(i)
		return nil
	})
	if err == nil {
		buf.written(len(evs))
	}
	if errors.Is(err, instances.ErrNotFound) || errors.Is(err, instances.ErrConflict) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("update instance %s: %w", uuid, err)
	}
	return inst, false, nil
}

// event records the start of one step of the task's action; the
// returned func records its end ("Success" when err is nil). Within a
// task (onTask) both wait in its eventBuffer for the next instance update.
func (c *Conductor) event(ctx context.Context, t tasks.Task, name, host string) func(err error) {
	if t.RequestID == "" {
		return func(error) {}
	}
	buf := bufferOf(ctx, t.UUID)
	start := instances.EventWrite{RequestID: t.RequestID, Event: name, Host: host, Start: time.Now()}
	if buf != nil {
		buf.add(start)
	} else if err := c.store.RecordEvents(ctx, t.UUID, []instances.EventWrite{start}); err != nil {
		c.log.Warn("record action event", "instance", t.UUID, "event", name, "err", err)
	}
	return func(err error) {
		finish := instances.EventWrite{RequestID: t.RequestID, Event: name, Finish: time.Now(), Result: "Success"}
		if err != nil {
			finish.Result, finish.Details = "Error", faultMessage(err)
		}
		if buf != nil {
			buf.add(finish)
		} else if ferr := c.store.RecordEvents(context.WithoutCancel(ctx), t.UUID, []instances.EventWrite{finish}); ferr != nil {
			c.log.Warn("record action event", "instance", t.UUID, "event", name, "err", ferr)
		}
	}
}

// eventBuffer holds the action events of a task's instance until the
// next instance update writes them in its own transaction, or the task
// ends: a build then takes two write transactions, not eight. An event
// under way (a build on its host) shows once the step is over.
type eventBuffer struct {
	uuid string
	mu   sync.Mutex
	evs  []instances.EventWrite
}

type eventBufferKey struct{}

func withEventBuffer(ctx context.Context, uuid string) (context.Context, *eventBuffer) {
	b := &eventBuffer{uuid: uuid}
	return context.WithValue(ctx, eventBufferKey{}, b), b
}

// bufferOf is ctx's event buffer if it is uuid's.
func bufferOf(ctx context.Context, uuid string) *eventBuffer {
	b, _ := ctx.Value(eventBufferKey{}).(*eventBuffer)
	if b == nil || b.uuid != uuid {
		return nil
	}
	return b
}

func (b *eventBuffer) add(e instances.EventWrite) {
	b.mu.Lock()
	b.evs = append(b.evs, e)
	b.mu.Unlock()
}

// pending are the events not yet written.
func (b *eventBuffer) pending() []instances.EventWrite {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.evs)
}

// written drops the first n events, now written.
func (b *eventBuffer) written(n int) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	b.evs = slices.Delete(b.evs, 0, n)
	b.mu.Unlock()
}

// flush writes what is left, in a transaction of its own.
func (c *Conductor) flushEvents(ctx context.Context, b *eventBuffer) {
	evs := b.pending()
	if len(evs) == 0 {
		return
	}
	if err := c.store.RecordEvents(context.WithoutCancel(ctx), b.uuid, evs); err != nil {
		c.log.Warn("record action events", "instance", b.uuid, "err", err)
	}
	b.written(len(evs))
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
