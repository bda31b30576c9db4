package compute

import (
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// Each action sets the task state Nova's API sets, records the instance
// action, queues its task for the conductor and answers 202 with no
// body; in a state Nova refuses it is a 409 with Nova's message, and
// nothing changes.
func TestActionsSetTaskStateAndQueueTask(t *testing.T) {
	a := newActionsAPI(t)
	cases := []struct {
		body   map[string]any
		vm     string
		task   string
		kind   tasks.Kind
		action string
		status int
		hard   bool
	}{
		{map[string]any{"os-stop": nil}, instances.Active, instances.TaskPoweringOff, tasks.Stop, "stop", 202, false},
		{map[string]any{"os-stop": nil}, instances.Error, instances.TaskPoweringOff, tasks.Stop, "stop", 202, false},
		{map[string]any{"os-start": nil}, instances.Stopped, instances.TaskPoweringOn, tasks.Start, "start", 202, false},
		{map[string]any{"pause": nil}, instances.Active, instances.TaskPausing, tasks.Pause, "pause", 202, false},
		{map[string]any{"unpause": nil}, instances.Paused, instances.TaskUnpausing, tasks.Unpause, "unpause", 202, false},
		{map[string]any{"suspend": nil}, instances.Active, instances.TaskSuspending, tasks.Suspend, "suspend", 202, false},
		{map[string]any{"resume": nil}, instances.Suspended, instances.TaskResuming, tasks.Resume, "resume", 202, false},
		{map[string]any{"reboot": map[string]any{"type": "SOFT"}}, instances.Active, instances.TaskRebooting, tasks.Reboot, "reboot", 202, false},
		{map[string]any{"reboot": map[string]any{"type": "hard"}}, instances.Stopped, instances.TaskRebootingHard, tasks.Reboot, "reboot", 202, true},
		{map[string]any{"unrescue": nil}, instances.Rescued, instances.TaskUnrescuing, tasks.Unrescue, "unrescue", 202, false},
		{map[string]any{"shelveOffload": nil}, instances.Shelved, instances.TaskShelvingOffloading, tasks.ShelveOffload, "shelveOffload", 202, false},
		{map[string]any{"unshelve": nil}, instances.ShelvedOffloaded, instances.TaskUnshelving, tasks.Unshelve, "unshelve", 202, false},
		{map[string]any{"confirmResize": nil}, instances.Resized, instances.TaskResizeConfirming, tasks.Confirm, "confirmResize", 204, false},
		{map[string]any{"revertResize": nil}, instances.Resized, instances.TaskResizeReverting, tasks.Revert, "revertResize", 202, false},
		{map[string]any{"forceDelete": nil}, instances.Active, instances.TaskDeleting, tasks.Delete, "delete", 202, false},
	}
	for _, c := range cases {
		var name string
		for k := range c.body {
			name = k
		}
		t.Run(name+"/"+c.vm, func(t *testing.T) {
			inst := a.server(t, "member", c.vm, func(i *instances.Instance) {
				if c.vm == instances.Resized {
					old := i.Flavor
					i.OldFlavor = &old
				}
			})
			token := "token=member"
			if name == "shelveOffload" {
				token = "token=admin" // admin only by default
			}
			res := a.act(inst.UUID, c.body, token).must(t, c.status)
			if res.raw != "" {
				t.Fatalf("body %q, want none", res.raw)
			}
			got := a.get(t, inst.UUID)
			if got.TaskState != c.task || got.VMState != c.vm {
				t.Fatalf("states %s/%s, want %s/%s", got.VMState, got.TaskState, c.vm, c.task)
			}
			task := a.task(t)
			if task.Kind != c.kind || task.UUID != inst.UUID || task.Hard != c.hard || task.V != tasks.Version {
				t.Fatalf("task %+v, want %s of %s (hard %v)", task, c.kind, inst.UUID, c.hard)
			}
			reqID := res.header.Get("X-Openstack-Request-Id")
			if task.RequestID != reqID || reqID == "" {
				t.Fatalf("task request id %q, answer's %q", task.RequestID, reqID)
			}
			acts := a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions", nil, "token=member").must(t, 200)
			if got := acts.str("instanceActions.0.action"); got != c.action {
				t.Fatalf("newest action %q, want %q: %s", got, c.action, acts.raw)
			}
			if acts.str("instanceActions.0.request_id") != reqID {
				t.Fatalf("action's request id: %s", acts.raw)
			}
		})
	}
}

func TestActionsInWrongStateAre409(t *testing.T) {
	a := newActionsAPI(t)
	cases := []struct {
		body   map[string]any
		vm     string
		task   string
		action string // as Nova's message names it
		attr   string
	}{
		{map[string]any{"os-stop": nil}, instances.Stopped, "", "stop", "vm_state stopped"},
		{map[string]any{"os-start": nil}, instances.Active, "", "start", "vm_state active"},
		{map[string]any{"os-start": nil}, instances.Stopped, instances.TaskPoweringOn, "start", "task_state powering-on"},
		{map[string]any{"pause": nil}, instances.Paused, "", "pause", "vm_state paused"},
		{map[string]any{"unpause": nil}, instances.Active, "", "unpause", "vm_state active"},
		{map[string]any{"suspend": nil}, instances.Stopped, "", "suspend", "vm_state stopped"},
		{map[string]any{"resume": nil}, instances.Active, "", "resume", "vm_state active"},
		{map[string]any{"reboot": map[string]any{"type": "SOFT"}}, instances.Stopped, "", "reboot", "vm_state stopped"},
		{map[string]any{"reboot": map[string]any{"type": "SOFT"}}, instances.Active, instances.TaskPausing, "reboot", "task_state pausing"},
		{map[string]any{"reboot": map[string]any{"type": "HARD"}}, instances.Active, instances.TaskDeleting, "reboot", "task_state deleting"},
		{map[string]any{"unrescue": nil}, instances.Active, "", "unrescue", "vm_state active"},
		{map[string]any{"confirmResize": nil}, instances.Active, "", "confirmResize", "vm_state active"},
		{map[string]any{"revertResize": nil}, instances.Active, "", "revertResize", "vm_state active"},
		{map[string]any{"resize": map[string]any{"flavorRef": "2"}}, instances.Paused, "", "resize", "vm_state paused"},
		{map[string]any{"rebuild": map[string]any{"imageRef": "70a599e0-31e7-49b7-b260-868f441e862b"}}, instances.Paused, "", "rebuild", "vm_state paused"},
		{map[string]any{"createImage": map[string]any{"name": "snap"}}, instances.Rescued, "", "createImage", "vm_state rescued"},
		{map[string]any{"rescue": nil}, instances.Paused, "", "rescue", "vm_state paused"},
		{map[string]any{"shelve": nil}, instances.Shelved, "", "shelve", "vm_state shelved"},
		{map[string]any{"unshelve": nil}, instances.Active, "", "unshelve", "vm_state active"},
		{map[string]any{"restore": nil}, instances.Active, "", "restore", "vm_state active"},
		{map[string]any{"changePassword": map[string]any{"adminPass": "x"}}, instances.Stopped, "", "changePassword", "vm_state stopped"},
		{map[string]any{"trigger_crash_dump": nil}, instances.Stopped, "", "trigger_crash_dump", "vm_state stopped"},
	}
	for _, c := range cases {
		var name string
		for k := range c.body {
			name = k
		}
		t.Run(name+"/"+c.attr, func(t *testing.T) {
			inst := a.server(t, "member", c.vm, func(i *instances.Instance) { i.TaskState = c.task })
			res := a.act(inst.UUID, c.body, "token=member", "2.17")
			res.fault(t, 409, "conflictingRequest", "Cannot '"+c.action+"' instance "+inst.UUID+" while it is in "+c.attr)
			got := a.get(t, inst.UUID)
			if got.VMState != c.vm || got.TaskState != c.task {
				t.Fatalf("states changed to %s/%s", got.VMState, got.TaskState)
			}
		})
	}
	a.noTask(t)

	t.Run("not launched", func(t *testing.T) {
		inst := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.LaunchedAt = zeroTime })
		a.act(inst.UUID, map[string]any{"pause": nil}, "token=member").fault(t, 409, "conflictingRequest",
			"Cannot 'pause' instance "+inst.UUID+" while it is in launched_at None")
	})
	t.Run("no host", func(t *testing.T) {
		inst := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.Host = "" })
		a.act(inst.UUID, map[string]any{"os-stop": nil}, "token=member").fault(t, 409, "conflictingRequest",
			"Instance "+inst.UUID+" is not ready")
		a.act(inst.UUID, map[string]any{"os-getConsoleOutput": map[string]any{}}, "token=member").fault(t, 409, "conflictingRequest",
			"Instance "+inst.UUID+" is not ready")
	})
	a.noTask(t)
}

// A locked server refuses the actions that check the lock to anyone
// but an admin; a snapshot does not check it.
func TestLockedServer(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active)
	a.act(inst.UUID, map[string]any{"lock": nil}, "token=member").must(t, 202)
	got := a.get(t, inst.UUID)
	if !got.Locked || got.LockedBy != "owner" {
		t.Fatalf("locked %v by %q", got.Locked, got.LockedBy)
	}
	for _, body := range []map[string]any{
		{"os-stop": nil}, {"pause": nil}, {"suspend": nil}, {"reboot": map[string]any{"type": "HARD"}},
		{"resize": map[string]any{"flavorRef": "2"}}, {"rebuild": map[string]any{"imageRef": a.image}},
		{"rescue": nil}, {"shelve": nil}, {"forceDelete": nil},
	} {
		a.act(inst.UUID, body, "token=member").fault(t, 409, "conflictingRequest", "Instance "+inst.UUID+" is locked")
	}
	a.noTask(t)
	// The admin is not stopped by the lock.
	a.act(inst.UUID, map[string]any{"pause": nil}, "token=admin").must(t, 202)
	if task := a.task(t); task.Kind != tasks.Pause || task.UserID != "u-admin" {
		t.Fatalf("task %+v", task)
	}
	// createImage does not check the lock.
	inst2 := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.Locked, i.LockedBy = true, "owner" })
	a.act(inst2.UUID, map[string]any{"createImage": map[string]any{"name": "snap"}}, "token=member").must(t, 202)
	if task := a.task(t); task.Kind != tasks.Snapshot {
		t.Fatalf("task %+v", task)
	}
}

func TestLockRules(t *testing.T) {
	a := newActionsAPI(t)
	t.Run("reason from 2.73", func(t *testing.T) {
		inst := a.server(t, "member", instances.Active)
		a.act(inst.UUID, map[string]any{"lock": map[string]any{"locked_reason": "maintenance"}}, "token=member", "2.73").must(t, 202)
		got := a.get(t, inst.UUID)
		if got.LockedReason == nil || *got.LockedReason != "maintenance" {
			t.Fatalf("locked reason %v", got.LockedReason)
		}
		a.act(inst.UUID, map[string]any{"lock": map[string]any{"locked_reason": ""}}, "token=member", "2.73").fault(t, 400, "badRequest", "")
		a.act(inst.UUID, map[string]any{"lock": map[string]any{"reason": "x"}}, "token=member", "2.73").fault(t, 400, "badRequest",
			"Invalid input for field/attribute lock. Value: {'reason': 'x'}. Additional properties are not allowed ('reason' was unexpected)")
		a.act(inst.UUID, map[string]any{"unlock": nil}, "token=member").must(t, 202)
		got = a.get(t, inst.UUID)
		if got.Locked || got.LockedBy != "" || got.LockedReason != nil {
			t.Fatalf("after unlock: %v %q %v", got.Locked, got.LockedBy, got.LockedReason)
		}
		acts := a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions/"+
			a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions", nil).str("instanceActions.0.request_id"), nil, "2.84").must(t, 200)
		if acts.str("instanceAction.action") != "unlock" || acts.str("instanceAction.events.0.event") != "api_unlock" ||
			acts.str("instanceAction.events.0.result") != "Success" {
			t.Fatalf("unlock action: %s", acts.raw)
		}
	})
	t.Run("admin lock needs the override to unlock", func(t *testing.T) {
		inst := a.server(t, "member", instances.Active)
		a.act(inst.UUID, map[string]any{"lock": nil}, "token=admin").must(t, 202)
		if got := a.get(t, inst.UUID); got.LockedBy != "admin" {
			t.Fatalf("locked by %q", got.LockedBy)
		}
		a.act(inst.UUID, map[string]any{"unlock": nil}, "token=member").fault(t, 403, "forbidden",
			"Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.")
		a.act(inst.UUID, map[string]any{"unlock": nil}, "token=admin").must(t, 202)
		if got := a.get(t, inst.UUID); got.Locked {
			t.Fatal("still locked")
		}
	})
	t.Run("owner lock, admin unlocks", func(t *testing.T) {
		inst := a.server(t, "member", instances.Active)
		a.act(inst.UUID, map[string]any{"lock": nil}, "token=member").must(t, 202)
		a.act(inst.UUID, map[string]any{"unlock": nil}, "token=admin").must(t, 202)
		if got := a.get(t, inst.UUID); got.Locked {
			t.Fatal("still locked")
		}
	})
}

// Another project's server does not exist for the caller; a reader may
// look but not act; bad bodies are 400 before the server is looked up.
func TestActionsPolicyAndVisibility(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active)
	for _, body := range []map[string]any{{"os-stop": nil}, {"reboot": map[string]any{"type": "SOFT"}}, {"lock": nil},
		{"createImage": map[string]any{"name": "x"}}, {"os-getConsoleOutput": map[string]any{}}} {
		a.act(inst.UUID, body, "token=alt").fault(t, 404, "itemNotFound", "Instance "+inst.UUID+" could not be found.")
	}
	a.act(inst.UUID, map[string]any{"os-stop": nil}, "token=reader").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:servers:stop to be performed.")
	a.act(inst.UUID, map[string]any{"os-resetState": map[string]any{"state": "error"}}, "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.")
	a.act(inst.UUID, map[string]any{"shelveOffload": nil}, "token=member").fault(t, 403, "forbidden", "")
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions", nil, "token=reader").must(t, 200)
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions", nil, "token=alt").fault(t, 404, "itemNotFound", "")
	a.act("00000000-0000-0000-0000-000000000000", map[string]any{"os-stop": nil}, "token=member").fault(t, 404, "itemNotFound", "")

	a.act(inst.UUID, map[string]any{"fly": nil}).fault(t, 400, "badRequest", "There is no such action: fly")
	a.act(inst.UUID, map[string]any{"os-stop": nil, "pause": nil}).fault(t, 400, "badRequest", "Malformed request body")
	a.act(inst.UUID, "{").fault(t, 400, "badRequest", "")
	// (How validate.go's invalidField shows the value is its own
	// business; the reason is the schema's.)
	if res := a.act(inst.UUID, map[string]any{"reboot": map[string]any{"type": "GENTLE"}}); res.code != 400 ||
		!strings.HasSuffix(res.str("badRequest.message"), ". 'GENTLE' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']") {
		t.Fatalf("bad reboot type: %d %s", res.code, res.raw)
	}
	a.act(inst.UUID, map[string]any{"reboot": map[string]any{}}).fault(t, 400, "badRequest",
		"Invalid input for field/attribute reboot. Value: {}. 'type' is a required property")
	a.act(inst.UUID, map[string]any{"trigger_crash_dump": nil}, "2.16").fault(t, 404, "itemNotFound", "")
	a.act(inst.UUID, map[string]any{"trigger_crash_dump": map[string]any{}}, "2.17").fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"resetNetwork": nil}).must(t, 410)
	if res := a.act(inst.UUID, map[string]any{"os-resetState": map[string]any{"state": "paused"}}); res.code != 400 ||
		!strings.HasSuffix(res.str("badRequest.message"), ". 'paused' is not one of ['active', 'error']") {
		t.Fatalf("bad state: %d %s", res.code, res.raw)
	}
	a.noTask(t)
	if got := a.get(t, inst.UUID); got.TaskState != "" || got.VMState != instances.Active {
		t.Fatalf("server changed: %s/%s", got.VMState, got.TaskState)
	}
}

func TestResetStateAndRefusedActions(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.TaskState = instances.TaskRebooting })
	a.act(inst.UUID, map[string]any{"os-resetState": map[string]any{"state": "error"}}).must(t, 202)
	if got := a.get(t, inst.UUID); got.VMState != instances.Error || got.TaskState != "" {
		t.Fatalf("after reset: %s/%s", got.VMState, got.TaskState)
	}
	a.act(inst.UUID, map[string]any{"os-resetState": map[string]any{"state": "active"}}).must(t, 202)
	if got := a.get(t, inst.UUID); got.VMState != instances.Active {
		t.Fatalf("after reset: %s", got.VMState)
	}
	acts := a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions", nil).must(t, 200)
	if acts.str("instanceActions.0.action") != "resetState" {
		t.Fatalf("actions: %s", acts.raw)
	}
	a.noTask(t)

	a.act(inst.UUID, map[string]any{"changePassword": map[string]any{"adminPass": "s3cret"}}, "token=member").fault(t, 409,
		"conflictingRequest", "Set admin password is not supported")
	a.act(inst.UUID, map[string]any{"trigger_crash_dump": nil}, "token=member", "2.17").fault(t, 400, "badRequest",
		"Triggering crash dump is not supported")
	a.act(inst.UUID, map[string]any{"migrate": nil}).fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"migrate": nil}, "token=member").fault(t, 403, "forbidden", "")
	a.act(inst.UUID, map[string]any{"os-migrateLive": map[string]any{"host": nil, "block_migration": "auto"}}, "2.68").fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"injectNetworkInfo": nil}).must(t, 202)
	a.act(inst.UUID, map[string]any{"injectNetworkInfo": nil}, "token=member").must(t, 403)
	a.noTask(t)
	if got := a.get(t, inst.UUID); got.TaskState != "" || got.VMState != instances.Active {
		t.Fatalf("server changed: %s/%s", got.VMState, got.TaskState)
	}
}

// Hard reboot may cut short a pause; soft may not.
func TestHardRebootOverridesTasks(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.TaskState = instances.TaskPausing })
	a.act(inst.UUID, map[string]any{"reboot": map[string]any{"type": "SOFT"}}, "token=member").must(t, 409)
	a.act(inst.UUID, map[string]any{"reboot": map[string]any{"type": "HARD"}}, "token=member").must(t, 202)
	if got := a.get(t, inst.UUID); got.TaskState != instances.TaskRebootingHard {
		t.Fatalf("task %s", got.TaskState)
	}
	if task := a.task(t); !task.Hard {
		t.Fatalf("task %+v", task)
	}
}

func TestStopRecordsActionsForInstanceActions(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active)
	res := a.act(inst.UUID, map[string]any{"os-stop": nil}, "token=member").must(t, 202)
	reqID := res.header.Get("X-Openstack-Request-Id")
	a.task(t)
	if err := a.svc.instances.StartEvent(t.Context(), inst.UUID, reqID, "compute_stop_instance", "host1"); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.instances.FinishEvent(t.Context(), inst.UUID, reqID, "compute_stop_instance", "Error", "Traceback: boom", "boom"); err != nil {
		t.Fatal(err)
	}
	path := "/v2.1/servers/" + inst.UUID + "/os-instance-actions/" + reqID

	// 2.1: only admins see events, with traceback.
	m := a.call("GET", path, nil, "token=member").must(t, 200)
	if m.has("instanceAction.events") || m.str("instanceAction.message") != "Error" || m.has("instanceAction.updated_at") {
		t.Fatalf("member at 2.1: %s", m.raw)
	}
	ad := a.call("GET", path, nil, "token=admin").must(t, 200)
	if ad.str("instanceAction.events.0.traceback") != "Traceback: boom" || ad.has("instanceAction.events.0.host") {
		t.Fatalf("admin at 2.1: %s", ad.raw)
	}
	// 2.51: events for the owner, without traceback; 2.62 hostId.
	m = a.call("GET", path, nil, "token=member", "2.62").must(t, 200)
	if m.str("instanceAction.events.0.event") != "compute_stop_instance" || m.has("instanceAction.events.0.traceback") ||
		m.has("instanceAction.events.0.host") || m.str("instanceAction.events.0.hostId") != hostID("host1", demoProject) {
		t.Fatalf("member at 2.62: %s", m.raw)
	}
	ad = a.call("GET", path, nil, "token=admin", "2.84").must(t, 200)
	if ad.str("instanceAction.events.0.host") != "host1" || ad.str("instanceAction.events.0.details") != "boom" ||
		ad.str("instanceAction.events.0.result") != "Error" || !ad.has("instanceAction.updated_at") {
		t.Fatalf("admin at 2.84: %s", ad.raw)
	}
	if !strings.HasPrefix(ad.str("instanceAction.start_time"), "20") || strings.HasSuffix(ad.str("instanceAction.start_time"), "Z") {
		t.Fatalf("start_time %q", ad.str("instanceAction.start_time"))
	}
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions/req-nope", nil).fault(t, 404, "itemNotFound", "Action req-nope not found")

	// Paging from 2.58.
	a.act(inst.UUID, map[string]any{"lock": nil}, "token=member").must(t, 202)
	l := a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions?limit=1", nil, "token=member", "2.58").must(t, 200)
	if len(l.list("instanceActions")) != 1 || l.str("instanceActions.0.action") != "lock" || !strings.Contains(l.str("links.0.href"), "marker=") {
		t.Fatalf("page 1: %s", l.raw)
	}
	marker := l.str("instanceActions.0.request_id")
	l = a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions?limit=1&marker="+marker, nil, "token=member", "2.58").must(t, 200)
	if l.str("instanceActions.0.action") != "stop" {
		t.Fatalf("page 2: %s", l.raw)
	}
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions?marker=req-nope", nil, "2.58").fault(t, 400, "badRequest", "")
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions?foo=1", nil, "2.58").fault(t, 400, "badRequest", "")
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions?changes-since=2000-01-01T00:00:00Z&changes-before=1999-01-01T00:00:00Z",
		nil, "2.66").fault(t, 400, "badRequest", "The value of changes-since must be less than or equal to changes-before.")
	l = a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions?changes-since=2999-01-01T00:00:00Z", nil, "2.58").must(t, 200)
	if len(l.list("instanceActions")) != 0 {
		t.Fatalf("future changes-since: %s", l.raw)
	}

	// A deleted server's actions are still there from 2.21.
	if _, err := a.svc.instances.Destroy(t.Context(), inst.UUID); err != nil {
		t.Fatal(err)
	}
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions", nil, "token=member", "2.20").must(t, 404)
	a.call("GET", "/v2.1/servers/"+inst.UUID+"/os-instance-actions", nil, "token=member", "2.21").must(t, 200)
	a.call("GET", path, nil, "token=member", "2.21").must(t, 200)
}

var zeroTime time.Time
