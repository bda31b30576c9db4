package compute

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// Server actions (POST /servers/{id}/action): the rules of
// nova/compute/api.py. Each action checks its policy rule, the server's
// lock, its host and its vm/task state as Nova's decorators do
// (check_instance_lock, check_instance_host, check_instance_state), then
// sets the task state Nova sets, guarded by the one it expects, records
// the instance action and queues a task for the conductor. The
// conductor writes the outcome.

// stateCheck is Nova's check_instance_state: the vm states and task
// states an action accepts (nil: any) and whether the server must have
// launched once.
type stateCheck struct {
	vm       []string
	task     []string
	launched bool
}

// noTask is Nova's default task_state=(None,).
var noTask = []string{""}

// pyNone shows a state as Nova's messages do: None for none.
func pyNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// invalidState is Nova's answer to InstanceInvalidState
// (raise_http_conflict_for_instance_invalid_state).
func invalidState(action, uuid, attr, state string) error {
	return fault.Conflictf("Cannot '%s' instance %s while it is in %s %s", action, uuid, attr, state)
}

// check applies c to inst; action is the name the API shows.
func (c stateCheck) check(inst *instances.Instance, action string) error {
	if c.vm != nil && !contains(c.vm, inst.VMState) {
		return invalidState(action, inst.UUID, "vm_state", pyNone(inst.VMState))
	}
	if c.task != nil && !contains(c.task, inst.TaskState) {
		return invalidState(action, inst.UUID, "task_state", pyNone(inst.TaskState))
	}
	if c.launched && inst.LaunchedAt.IsZero() {
		return invalidState(action, inst.UUID, "launched_at", "None")
	}
	return nil
}

// checkLock is Nova's check_instance_lock: only admins act on a locked
// server.
func (s *Service) checkLock(p *authn.Principal, inst *instances.Instance) error {
	if inst.Locked && !s.isAdmin(p) {
		return fault.Conflictf("Instance %s is locked", inst.UUID)
	}
	return nil
}

// checkHost is Nova's check_instance_host: the server must be on a host.
func checkHost(inst *instances.Instance) error {
	if inst.Host == "" {
		return fault.Conflictf("Instance %s is not ready", inst.UUID)
	}
	return nil
}

// updateConflict is Nova's UnexpectedTaskStateError: the server changed
// between the checks and the write.
func updateConflict(uuid string, expected []string, actual *instances.Instance) error {
	exp := make([]string, len(expected))
	for i, t := range expected {
		if t == "" {
			exp[i] = "None"
		} else {
			exp[i] = "'" + t + "'"
		}
	}
	act := "None"
	if actual != nil && actual.TaskState != "" {
		act = "'" + actual.TaskState + "'"
	}
	return fault.Conflictf("Conflict updating instance %s. Expected: {'task_state': [%s]}. Actual: {'task_state': %s}",
		uuid, strings.Join(exp, ", "), act)
}

// transition is the write that ends an accepted action.
type transition struct {
	expect []string // task states the write expects (Update's guard)
	task   string   // task state to set
	change func(inst *instances.Instance) error
	action string     // instance action to record; "" = none
	kind   tasks.Kind // task for the conductor; "" = none
	args   tasks.Task // the task's arguments (Hard, ImageID, AvailabilityZone)
}

// apply writes t for inst, records the action and queues the task. If the
// task cannot be queued the task state is put back, so that the server is
// not left waiting for work no one will do.
func (s *Service) apply(ctx context.Context, p *authn.Principal, inst *instances.Instance, t transition) (*instances.Instance, error) {
	if s.bus == nil && t.kind != "" {
		return nil, fault.New(fault.Unavailable, "Service is unavailable at this time.")
	}
	out, err := s.instances.Update(ctx, inst.UUID, instances.Guard{ExpectTask: t.expect}, func(i *instances.Instance) error {
		i.TaskState = t.task
		if t.change != nil {
			return t.change(i)
		}
		return nil
	})
	switch {
	case errors.Is(err, instances.ErrNotFound):
		return nil, fault.NotFoundf("Instance %s could not be found.", inst.UUID)
	case errors.Is(err, instances.ErrConflict):
		now, _ := s.instances.Get(ctx, inst.UUID, false)
		return nil, updateConflict(inst.UUID, t.expect, now)
	case err != nil:
		return nil, err
	}
	reqID := httpx.RequestID(ctx)
	if t.action != "" {
		if err := s.instances.StartAction(ctx, &instances.Action{Action: t.action, UUID: inst.UUID, RequestID: reqID,
			UserID: p.UserID, ProjectID: p.ProjectID, StartTime: s.now()}); err != nil {
			s.log.ErrorContext(ctx, "record instance action", "uuid", inst.UUID, "action", t.action, "err", err)
		}
	}
	if t.kind == "" {
		return out, nil
	}
	task := t.args
	task.Kind, task.UUID, task.RequestID, task.ProjectID, task.UserID = t.kind, inst.UUID, reqID, p.ProjectID, p.UserID
	if err := tasks.Enqueue(ctx, s.bus, task); err != nil {
		if _, uerr := s.instances.Update(context.WithoutCancel(ctx), inst.UUID, instances.Guard{ExpectTask: []string{t.task}},
			func(i *instances.Instance) error { i.TaskState = inst.TaskState; return nil }); uerr != nil {
			s.log.ErrorContext(ctx, "put back task state", "uuid", inst.UUID, "err", uerr)
		}
		return nil, fmt.Errorf("queue %s of %s: %w", t.kind, inst.UUID, err)
	}
	return out, nil
}

// simpleAction is an action with no arguments: a rule, Nova's checks, a
// task state and a task.
type simpleAction struct {
	rule   string
	lock   bool // check_instance_lock
	host   bool // check_instance_host
	state  stateCheck
	task   string
	action string
	kind   tasks.Kind
}

// simpleActions are the actions that take no arguments, by the name the
// API (and its messages) give them.
var simpleActions = map[string]simpleAction{
	"start": {rule: policyServerStart, lock: true, host: true,
		state: stateCheck{vm: []string{instances.Stopped}, task: noTask, launched: true},
		task:  instances.TaskPoweringOn, action: "start", kind: tasks.Start},
	"stop": {rule: policyServerStop, lock: true, host: true,
		state: stateCheck{vm: []string{instances.Active, instances.Error}, task: noTask, launched: true},
		task:  instances.TaskPoweringOff, action: "stop", kind: tasks.Stop},
	"pause": {rule: policyPause, lock: true,
		state: stateCheck{vm: []string{instances.Active}, task: noTask, launched: true},
		task:  instances.TaskPausing, action: "pause", kind: tasks.Pause},
	"unpause": {rule: policyUnpause, lock: true,
		state: stateCheck{vm: []string{instances.Paused}, task: noTask, launched: true},
		task:  instances.TaskUnpausing, action: "unpause", kind: tasks.Unpause},
	"suspend": {rule: policySuspend, lock: true,
		state: stateCheck{vm: []string{instances.Active}, task: noTask, launched: true},
		task:  instances.TaskSuspending, action: "suspend", kind: tasks.Suspend},
	"resume": {rule: policyResume, lock: true,
		state: stateCheck{vm: []string{instances.Suspended}, task: noTask, launched: true},
		task:  instances.TaskResuming, action: "resume", kind: tasks.Resume},
	"unrescue": {rule: policyUnrescue, lock: true,
		state: stateCheck{vm: []string{instances.Rescued}, task: noTask, launched: true},
		task:  instances.TaskUnrescuing, action: "unrescue", kind: tasks.Unrescue},
	"shelveOffload": {rule: policyShelveOffload, lock: true,
		state: stateCheck{vm: []string{instances.Shelved}, task: noTask, launched: true},
		task:  instances.TaskShelvingOffloading, action: "shelveOffload", kind: tasks.ShelveOffload},
	// Nova's API leaves the task state to the compute host for a
	// confirm; here the conductor is told by the task state, as for
	// every other action.
	"confirmResize": {rule: policyServerConfirmResize, lock: true,
		state: stateCheck{vm: []string{instances.Resized}, task: noTask, launched: true},
		task:  instances.TaskResizeConfirming, action: "confirmResize", kind: tasks.Confirm},
}

// SimpleAction runs one of the actions without arguments (simpleActions)
// on a server.
func (s *Service) SimpleAction(ctx context.Context, p *authn.Principal, uuid, name string) (*instances.Instance, error) {
	a, ok := simpleActions[name]
	if !ok {
		return nil, fault.BadRequestf("There is no such action: %s", name)
	}
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, a.rule, instanceTarget(inst)); err != nil {
		return nil, err
	}
	if a.lock {
		if err := s.checkLock(p, inst); err != nil {
			return nil, err
		}
	}
	if a.host {
		if err := checkHost(inst); err != nil {
			return nil, err
		}
	}
	if err := a.state.check(inst, name); err != nil {
		return nil, err
	}
	return s.apply(ctx, p, inst, transition{expect: noTask, task: a.task, action: a.action, kind: a.kind,
		change: func(i *instances.Instance) error {
			if name == "stop" {
				i.Progress = 0
			}
			return nil
		}})
}

// Reboot is Nova's reboot: a soft reboot of an active server that is
// doing nothing else, or a hard one, which may also cut short a pause,
// suspend, resume or another reboot.
func (s *Service) Reboot(ctx context.Context, p *authn.Principal, uuid string, hard bool) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, policyServerReboot, instanceTarget(inst)); err != nil {
		return nil, err
	}
	if err := s.checkLock(p, inst); err != nil {
		return nil, err
	}
	check := stateCheck{vm: []string{instances.Active}, task: noTask, launched: true}
	task := instances.TaskRebooting
	if hard {
		check = stateCheck{vm: []string{instances.Active, instances.Stopped, instances.Paused, instances.Suspended, instances.Error},
			task: []string{"", instances.TaskRebooting, instances.TaskRebootPending, instances.TaskRebootStarted,
				instances.TaskResuming, instances.TaskRebootingHard, instances.TaskUnpausing, instances.TaskPausing,
				instances.TaskSuspending},
			launched: true}
		task = instances.TaskRebootingHard
	}
	if err := check.check(inst, "reboot"); err != nil {
		return nil, err
	}
	return s.apply(ctx, p, inst, transition{expect: check.task, task: task, action: "reboot", kind: tasks.Reboot,
		args: tasks.Task{Hard: hard}})
}

// Lock is Nova's lock: the owner's project locks its server ("owner"),
// anyone else (an admin) locks it for admins ("admin"). A server its
// owner has locked stays as it is.
func (s *Service) Lock(ctx context.Context, p *authn.Principal, uuid string, reason *string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyLock, instanceTarget(inst)); err != nil {
		return err
	}
	owner := inst.ProjectID == p.ProjectID
	if inst.Locked && owner {
		return nil
	}
	return s.lockChange(ctx, p, inst, "lock", func(i *instances.Instance) error {
		i.Locked = true
		i.LockedBy = "admin"
		if owner {
			i.LockedBy = "owner"
		}
		if reason != nil {
			r := *reason
			i.LockedReason = &r
		}
		return nil
	})
}

// Unlock is Nova's unlock: a lock set by the other side (the owner's by
// an admin, an admin's by the owner) needs the override rule.
func (s *Service) Unlock(ctx context.Context, p *authn.Principal, uuid string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	target := map[string]any{"project_id": inst.ProjectID}
	if err := s.authorize(p, policyUnlock, target); err != nil {
		return err
	}
	expect := "admin"
	if inst.ProjectID == p.ProjectID {
		expect = "owner"
	}
	if inst.LockedBy != "" && inst.LockedBy != expect {
		if err := s.authorize(p, policyUnlockOverride, target); err != nil {
			return err
		}
	}
	return s.lockChange(ctx, p, inst, "unlock", func(i *instances.Instance) error {
		i.Locked, i.LockedBy, i.LockedReason = false, "", nil
		return nil
	})
}

// lockChange records a lock or unlock with its one event, "api_lock" or
// "api_unlock", done in the API as Nova's wrap_instance_event does.
func (s *Service) lockChange(ctx context.Context, p *authn.Principal, inst *instances.Instance, action string, change func(*instances.Instance) error) error {
	reqID := httpx.RequestID(ctx)
	if err := s.instances.StartAction(ctx, &instances.Action{Action: action, UUID: inst.UUID, RequestID: reqID,
		UserID: p.UserID, ProjectID: p.ProjectID, StartTime: s.now()}); err != nil {
		return err
	}
	event := "api_" + action
	if err := s.instances.StartEvent(ctx, inst.UUID, reqID, event, ""); err != nil {
		return err
	}
	_, err := s.instances.Update(ctx, inst.UUID, instances.Guard{}, change)
	result, details := "Success", ""
	if err != nil {
		result, details = "Error", "the instance could not be updated"
	}
	if ferr := s.instances.FinishEvent(ctx, inst.UUID, reqID, event, result, "", details); ferr != nil {
		s.log.ErrorContext(ctx, "finish instance event", "uuid", inst.UUID, "event", event, "err", ferr)
	}
	if errors.Is(err, instances.ErrNotFound) {
		return fault.NotFoundf("Instance %s could not be found.", inst.UUID)
	}
	return err
}

// ResetState is os-resetState: an admin puts a server in ACTIVE or ERROR
// and clears its task, whatever it was doing.
func (s *Service) ResetState(ctx context.Context, p *authn.Principal, uuid, state string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyResetState, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return err
	}
	_, err = s.apply(ctx, p, inst, transition{task: "", action: "resetState", change: func(i *instances.Instance) error {
		i.VMState = state
		return nil
	}})
	return err
}

// upsizeDeltas is Nova's upsize_quota_delta: the cores and ram a flavor
// change adds (nothing for what it frees).
func upsizeDeltas(to, from instances.Flavor) map[string]int64 {
	d := map[string]int64{}
	if n := to.VCPUs - from.VCPUs; n > 0 {
		d["cores"] = n
	}
	if n := to.MemoryMB - from.MemoryMB; n > 0 {
		d["ram"] = n
	}
	return d
}

// checkUpsize checks the quota a flavor change needs, with Nova's
// TooManyInstances message (403).
func (s *Service) checkUpsize(ctx context.Context, inst *instances.Instance, to, from instances.Flavor) error {
	deltas := upsizeDeltas(to, from)
	if len(deltas) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		err := s.CheckQuota(ctx, tx, inst.ProjectID, inst.UserID, deltas)
		var oq *OverQuotaError
		if errors.As(err, &oq) {
			return overQuotaMessage(oq)
		}
		return err
	})
}

// overQuotaMessage is Nova's TooManyInstances for a check of deltas.
func overQuotaMessage(oq *OverQuotaError) error {
	var req, used, allowed []string
	for _, r := range oq.Overs {
		req = append(req, fmt.Sprint(oq.Requested[r]))
		used = append(used, fmt.Sprint(oq.Used[r]))
		allowed = append(allowed, fmt.Sprint(oq.Allowed[r]))
	}
	overs := strings.Join(oq.Overs, ", ")
	return fault.Forbiddenf("Quota exceeded for %s: Requested %s, but already used %s of %s %s",
		overs, strings.Join(req, ", "), strings.Join(used, ", "), strings.Join(allowed, ", "), overs)
}

// instanceFlavorOf is the copy of a flavor a server keeps.
func instanceFlavorOf(f *Flavor) instances.Flavor {
	out := instances.Flavor{FlavorID: f.FlavorID, Name: f.Name, MemoryMB: f.MemoryMB, VCPUs: f.VCPUs, RootGB: f.RootGB,
		EphemeralGB: f.EphemeralGB, SwapMB: f.SwapMB, RXTXFactor: f.RXTXFactor, Description: f.Description}
	if len(f.ExtraSpecs) > 0 {
		out.ExtraSpecs = make(map[string]string, len(f.ExtraSpecs))
		for k, v := range f.ExtraSpecs {
			out.ExtraSpecs[k] = v
		}
	}
	return out
}

// imageFits is Nova's _validate_flavor_image_nostatus for what this
// cloud knows of images: RAM and disk against the image's minimums and
// size (a flavor with no root disk takes any image).
func imageFits(img instances.Image, f instances.Flavor) error {
	if img.MinRAMMB > 0 && f.MemoryMB < img.MinRAMMB {
		return fault.BadRequestf("Flavor's memory is too small for requested image.")
	}
	if f.RootGB == 0 {
		return nil
	}
	disk := f.RootGB << 30
	if img.Size > disk {
		return fault.BadRequestf("Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
			disk, img.Size)
	}
	if img.MinDiskGB > f.RootGB {
		return fault.BadRequestf("Flavor's disk is smaller than the minimum size specified in image metadata. "+
			"Flavor disk is %d bytes, minimum size is %d bytes.", disk, img.MinDiskGB<<30)
	}
	return nil
}
