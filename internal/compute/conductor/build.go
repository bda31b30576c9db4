package conductor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// Nova's action event names.
const (
	evScheduleAndBuild = "conductor_schedule_and_build_instances"
	evSchedule         = "schedule_instances"
	evBuild            = "compute__do_build_and_run_instance"
)

// build schedules and spawns a new instance (task scheduling), and
// reschedules it to another host when a host fails in a way another may
// not (rpc.Error.Retryable, an agent that is gone), up to MaxAttempts
// hosts. It always ends ACTIVE or ERROR (with a fault), never in BUILD.
func (c *Conductor) build(ctx context.Context, t tasks.Task) error {
	inst, err := c.load(ctx, t, instances.TaskScheduling, instances.TaskSpawning)
	if inst == nil || err != nil {
		return err
	}
	if inst.VMState != instances.Building {
		return nil
	}
	if inst.TaskState == instances.TaskSpawning && inst.Host != "" {
		// A conductor died while its agent built: ask again (a build is
		// idempotent on the agent).
		return c.spawn(ctx, t, inst, inst.Host, instances.TaskSpawning)
	}
	// As Nova's, the conductor's event ends when the build is handed to
	// a host (or when scheduling gave up).
	done := c.event(ctx, t, evScheduleAndBuild, "")
	var once sync.Once
	finish := func(err error) { once.Do(func() { done(err) }) }
	err = c.scheduleAndSpawn(ctx, t, inst, instances.TaskScheduling, finish)
	finish(err)
	return err
}

// scheduleAndSpawn places inst (task from) and spawns it, rescheduling as
// build does; on final failure the instance is ERROR.
func (c *Conductor) scheduleAndSpawn(ctx context.Context, t tasks.Task, inst *instances.Instance, from string, placedEvent func(error)) error {
	ignore := slices.Clone(inst.Spec.IgnoreHosts)
	attempts := inst.Spec.Attempts
	var last error
	for {
		attempts++
		if attempts > c.o.MaxAttempts {
			msg := fmt.Sprintf("Exceeded maximum number of retries. Exceeded max scheduling attempts %d for instance %s. Last exception: %s",
				c.o.MaxAttempts, inst.UUID, faultMessage(last))
			return c.failBuild(ctx, inst.UUID, []string{from}, &userError{msg: msg, err: last})
		}
		sched := c.event(ctx, t, evSchedule, "")
		sel, err := c.o.Scheduler.Select(ctx, inst, inst.Flavor, ignore)
		sched(err)
		if errors.Is(err, scheduler.ErrNoValidHost) {
			if last != nil {
				// Hosts ran out after failures: say what failed.
				err = &userError{msg: fmt.Sprintf("%s Last exception: %s", err.Error(), faultMessage(last)), err: err}
			}
			return c.failBuild(ctx, inst.UUID, []string{from}, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return c.failBuild(ctx, inst.UUID, []string{from}, err)
		}
		placed, gone, err := c.update(ctx, inst.UUID, []string{from}, func(i *instances.Instance) {
			i.Host, i.Node = sel.Host, sel.Node
			if i.LaunchedOn == "" {
				i.LaunchedOn = sel.Host
			}
			i.AvailabilityZone = sel.Zone
			i.TaskState = instances.TaskSpawning
			i.Spec.Attempts = attempts
			i.Spec.IgnoreHosts = ignore
		})
		if err != nil || gone {
			// Deleted while scheduling: give back the claim.
			if ferr := c.freeAllocations(ctx, inst.UUID); ferr != nil {
				return ferr
			}
			return err
		}
		placedEvent(nil)
		err = c.checkGroup(ctx, placed)
		if err == nil {
			err = c.spawnOnce(ctx, t, placed, sel.Host)
		}
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.err
		}
		last = err
		if !retryable(err) {
			c.destroyQuietly(placed, sel.Host)
			return c.failBuild(ctx, inst.UUID, []string{instances.TaskSpawning}, err)
		}
		c.log.Info("build failed, rescheduling", "instance", inst.UUID, "host", sel.Host, "attempt", attempts, "err", err)
		c.addFault(ctx, inst.UUID, err)
		c.destroyQuietly(placed, sel.Host)
		if err := c.freeAllocations(ctx, inst.UUID); err != nil {
			return err
		}
		ignore = append(ignore, sel.Host)
		inst, gone, err = c.update(ctx, inst.UUID, []string{instances.TaskSpawning}, func(i *instances.Instance) {
			i.Host, i.Node = "", ""
			i.TaskState = from
			i.Spec.IgnoreHosts = ignore
		})
		if err != nil || gone {
			return err
		}
	}
}

// errGroupPolicy is a placement that breaks the instance's server group
// policy, found after the host was written (Nova's late check on the
// compute host, for schedulers that raced): the build is rescheduled.
type errGroupPolicy struct{ policy string }

func (e errGroupPolicy) Error() string {
	if e.policy == "affinity" {
		return "Affinity instance group policy was violated."
	}
	return "Anti-affinity instance group policy was violated."
}

// checkGroup checks inst's hard server group policy against where the
// group's members are now.
func (c *Conductor) checkGroup(ctx context.Context, inst *instances.Instance) error {
	if inst.Spec.Group == "" {
		return nil
	}
	g, err := c.store.GetServerGroup(ctx, inst.Spec.Group)
	if errors.Is(err, instances.ErrNotFound) {
		return nil
	}
	if err != nil {
		return errStop{err}
	}
	if g.Policy != "affinity" && g.Policy != "anti-affinity" {
		return nil
	}
	hosts, err := c.store.MemberHosts(ctx, g.UUID)
	if err != nil {
		return errStop{err}
	}
	switch g.Policy {
	case "anti-affinity":
		limit := 1
		if n, err := strconv.Atoi(g.Rules["max_server_per_host"]); err == nil && n > 0 {
			limit = n
		}
		if hosts[inst.Host] > limit {
			return errGroupPolicy{g.Policy}
		}
	case "affinity":
		for h := range hosts {
			if h != inst.Host {
				return errGroupPolicy{g.Policy}
			}
		}
	}
	return nil
}

// errStop ends a build loop: the instance was deleted or taken over, or
// the conductor's own dependencies failed (err, retried by the queue).
type errStop struct{ err error }

func (e errStop) Error() string {
	if e.err == nil {
		return "instance gone"
	}
	return e.err.Error()
}

// retryable reports whether another host may well succeed where this
// one failed: the agent said so, or it did not answer at all.
func retryable(err error) bool {
	if errors.As(err, new(errGroupPolicy)) {
		return true
	}
	var re *rpc.Error
	if errors.As(err, &re) {
		return re.Retryable
	}
	return errors.Is(err, rpc.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded)
}

// spawn is spawnOnce for a build already placed (a redelivered task):
// its failure is final.
func (c *Conductor) spawn(ctx context.Context, t tasks.Task, inst *instances.Instance, host, from string) error {
	err := c.spawnOnce(ctx, t, inst, host)
	var stop errStop
	switch {
	case err == nil:
		return nil
	case errors.As(err, &stop):
		return stop.err
	}
	c.destroyQuietly(inst, host)
	return c.failBuild(ctx, inst.UUID, []string{from}, err)
}

// spawnOnce asks host to build inst (task spawning) and writes ACTIVE
// when it did. The error is the host's failure, or errStop.
func (c *Conductor) spawnOnce(ctx context.Context, t tasks.Task, inst *instances.Instance, host string) error {
	done := c.event(ctx, t, evBuild, host)
	req := buildRequest(inst, t.RequestID, &inst.Spec.Image)
	rep, err := c.call(ctx, host, req, c.o.BuildTimeout)
	done(err)
	if err != nil {
		if ctx.Err() != nil {
			return errStop{ctx.Err()}
		}
		return err
	}
	_, gone, err := c.update(ctx, inst.UUID, []string{instances.TaskSpawning}, func(i *instances.Instance) {
		i.VMState = instances.Active
		i.TaskState = ""
		i.PowerState = int(rep.PowerState)
		i.LaunchedAt = time.Now()
		i.Progress = 0
	})
	if err != nil {
		return errStop{err}
	}
	if gone {
		// Deleted while it was built: the delete may have run before the
		// guest existed.
		c.destroyQuietly(inst, host)
		if err := c.freeAllocations(ctx, inst.UUID); err != nil {
			return errStop{err}
		}
		return errStop{}
	}
	return nil
}

// failBuild puts a build that cannot go on in ERROR with err as its
// fault, off any host, its allocations freed.
func (c *Conductor) failBuild(ctx context.Context, uuid string, expect []string, err error) error {
	c.log.Info("build failed", "instance", uuid, "err", err)
	_, _, uerr := c.update(ctx, uuid, expect, func(i *instances.Instance) {
		i.VMState = instances.Error
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

// buildRequest is the agent's build request for inst from img: the
// flavor, the image (the agent fetches it with its own credentials), and
// a config drive when the instance asked for one or has a key or user
// data: until the metadata service is reachable from guests, the drive
// is the only way they get them (Nova's force_config_drive, narrowed).
func buildRequest(inst *instances.Instance, requestID string, img *instances.Image) rpc.Request {
	req := rpc.Request{Op: rpc.BuildAndRun, RequestID: requestID, Instance: rpcInstance(inst, &inst.Flavor),
		Image: &rpc.Image{ID: img.ID, DiskFormat: img.DiskFormat, Size: img.Size, Checksum: img.Checksum,
			HashAlgo: img.HashAlgo, HashValue: img.HashValue}}
	if inst.ConfigDrive || inst.KeyName != "" || len(inst.UserData) > 0 {
		cd := &rpc.ConfigDrive{
			Name: inst.Name, Hostname: inst.Hostname, AvailabilityZone: inst.AvailabilityZone, ProjectID: inst.ProjectID,
			Meta: inst.Metadata, UserData: inst.UserData, LaunchIndex: inst.LaunchIndex, InstanceType: inst.Flavor.Name,
			ReservationID: inst.ReservationID, RootDevice: inst.RootDeviceName, NetworkData: inst.Spec.NetworkData,
		}
		if inst.KeyName != "" {
			typ := inst.KeyType
			if typ == "" {
				typ = "ssh"
			}
			cd.Keys = []configdrive.Key{{Name: inst.KeyName, Type: typ, Data: inst.KeyData}}
		}
		req.ConfigDrive = cd
	}
	return req
}
