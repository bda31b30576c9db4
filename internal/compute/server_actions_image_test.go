package compute

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// createImage creates the snapshot's image record in the image service
// with the caller's token, then queues the snapshot into it.
func TestCreateImage(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active)

	res := a.act(inst.UUID, map[string]any{"createImage": map[string]any{"name": "snap-1", "metadata": map[string]any{"purpose": "backup"}}},
		"token=member", "2.45").must(t, 202)
	id := res.str("image_id")
	if id == "" || res.header.Get("Location") != "" {
		t.Fatalf("2.45 answer: %s, Location %q", res.raw, res.header.Get("Location"))
	}
	img := a.glance.record(t, id)
	for k, want := range map[string]any{"name": "snap-1", "status": "queued", "disk_format": "qcow2", "container_format": "bare",
		"visibility": "private", "owner": demoProject, "instance_uuid": inst.UUID, "image_type": "snapshot", "user_id": "u-demo",
		"base_image_ref": a.image, "purpose": "backup", "hw_disk_bus": "virtio", "min_ram": float64(64), "min_disk": float64(1)} {
		if img[k] != want {
			t.Errorf("image %s = %v, want %v", k, img[k], want)
		}
	}
	if got := a.get(t, inst.UUID); got.TaskState != instances.TaskImageSnapshot {
		t.Fatalf("task state %q", got.TaskState)
	}
	task := a.task(t)
	if task.Kind != tasks.Snapshot || task.ImageID != id || task.UUID != inst.UUID {
		t.Fatalf("task %+v", task)
	}

	// Before 2.45: no body, the image's URL in Location.
	inst2 := a.server(t, "member", instances.Stopped)
	res = a.act(inst2.UUID, map[string]any{"createImage": map[string]any{"name": "snap-2"}}, "token=member", "2.44").must(t, 202)
	loc := res.header.Get("Location")
	if res.raw != "" || !strings.Contains(loc, "/images/") {
		t.Fatalf("2.44 answer %q, Location %q", res.raw, loc)
	}
	id2 := loc[strings.LastIndex(loc, "/")+1:]
	if a.glance.record(t, id2)["name"] != "snap-2" {
		t.Fatalf("no image %s", id2)
	}
	a.task(t)

	// An admin's snapshot of a member's server is shared with its project.
	inst3 := a.server(t, "member", instances.Active)
	res = a.act(inst3.UUID, map[string]any{"createImage": map[string]any{"name": "admin-snap"}}, "token=admin", "2.45").must(t, 202)
	if img := a.glance.record(t, res.str("image_id")); img["visibility"] != "shared" || img["instance_owner"] != demoProject {
		t.Fatalf("admin's snapshot: %v", img)
	}
	a.task(t)

	// A server busy with something else: 409, and no image left behind.
	before := a.countImages(t)
	inst4 := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.TaskState = instances.TaskPausing })
	a.act(inst4.UUID, map[string]any{"createImage": map[string]any{"name": "x"}}, "token=member").fault(t, 409, "conflictingRequest",
		"Cannot 'createImage' instance "+inst4.UUID+" while it is in task_state pausing")
	a.act(inst.UUID, map[string]any{"createImage": map[string]any{}}, "token=member").fault(t, 400, "badRequest",
		"Invalid input for field/attribute createImage. Value: {}. 'name' is a required property")
	a.act(inst.UUID, map[string]any{"createImage": map[string]any{"name": "x", "metadata": map[string]any{"k": 1}}}, "token=member").
		fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"createImage": map[string]any{"name": "x"}}, "token=reader").fault(t, 403, "forbidden", "")
	if n := a.countImages(t); n != before {
		t.Fatalf("images %d, want %d", n, before)
	}
	a.noTask(t)
}

// countImages counts the images the admin sees.
func (a *actionsAPI) countImages(t *testing.T) int {
	t.Helper()
	code, out, err := a.glance.do(context.Background(), "admin", "GET", "/v2/images", "", nil)
	if err != nil || code != 200 {
		t.Fatalf("list images: %d %v", code, err)
	}
	var l struct{ Images []any }
	_ = json.Unmarshal(out, &l)
	return len(l.Images)
}

func TestResize(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active)
	a.act(inst.UUID, map[string]any{"resize": map[string]any{"flavorRef": "1"}}, "token=member").fault(t, 400, "badRequest",
		"When resizing, instances must change flavor!")
	a.act(inst.UUID, map[string]any{"resize": map[string]any{"flavorRef": "404"}}, "token=member").fault(t, 400, "badRequest",
		"Flavor 404 could not be found.")
	a.act(inst.UUID, map[string]any{"resize": map[string]any{"flavorRef": ""}}, "token=member").fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"resize": map[string]any{}}, "token=member").fault(t, 400, "badRequest",
		"Invalid input for field/attribute resize. Value: {}. 'flavorRef' is a required property")
	a.noTask(t)

	res := a.act(inst.UUID, map[string]any{"resize": map[string]any{"flavorRef": "http://compute/flavors/2", "OS-DCF:diskConfig": "AUTO"}},
		"token=member").must(t, 202)
	if res.raw != "" {
		t.Fatalf("body %q", res.raw)
	}
	got := a.get(t, inst.UUID)
	if got.TaskState != instances.TaskResizePrep || got.NewFlavor == nil || got.NewFlavor.FlavorID != "2" ||
		got.Flavor.FlavorID != "1" || !got.AutoDiskConfig {
		t.Fatalf("after resize: task %q new %+v flavor %s auto %v", got.TaskState, got.NewFlavor, got.Flavor.FlavorID, got.AutoDiskConfig)
	}
	if task := a.task(t); task.Kind != tasks.Resize || task.UUID != inst.UUID {
		t.Fatalf("task %+v", task)
	}

	t.Run("over quota", func(t *testing.T) {
		a.call("PUT", "/v2.1/os-quota-sets/"+demoProject, map[string]any{"quota_set": map[string]any{"cores": 1}}).must(t, 200)
		t.Cleanup(func() { a.call("DELETE", "/v2.1/os-quota-sets/"+demoProject, nil) })
		inst := a.server(t, "member", instances.Stopped)
		res := a.act(inst.UUID, map[string]any{"resize": map[string]any{"flavorRef": "3"}}, "token=member")
		res.fault(t, 403, "forbidden", "")
		if !strings.HasPrefix(res.str("forbidden.message"), "Quota exceeded for cores: Requested 1, but already used ") {
			t.Fatalf("message %q", res.str("forbidden.message"))
		}
		if got := a.get(t, inst.UUID); got.TaskState != "" || got.NewFlavor != nil {
			t.Fatalf("changed: %q %+v", got.TaskState, got.NewFlavor)
		}
		// A smaller flavor needs no quota.
		big := a.server(t, "member", instances.Stopped, func(i *instances.Instance) { i.Flavor.VCPUs, i.Flavor.FlavorID = 4, "4" })
		a.act(big.UUID, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, "token=member").must(t, 202)
		a.task(t)
	})
	t.Run("image too big for the flavor", func(t *testing.T) {
		inst := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.Spec.Image.MinDiskGB = 10 })
		a.act(inst.UUID, map[string]any{"resize": map[string]any{"flavorRef": "84"}}, "token=member").fault(t, 400, "badRequest",
			"Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is 1073741824 bytes, minimum size is 10737418240 bytes.")
	})
	t.Run("host down", func(t *testing.T) {
		inst := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.Host = "host2" })
		if _, _, err := a.svc.instances.Heartbeat(context.Background(), "host2", "nova-compute", time.Now().Add(-time.Hour), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		a.act(inst.UUID, map[string]any{"resize": map[string]any{"flavorRef": "2"}}, "token=member").fault(t, 409, "conflictingRequest",
			"Service is unavailable at this time.")
	})
	a.noTask(t)
}

func TestRevertResizeNeedsQuotaForTheOldFlavor(t *testing.T) {
	a := newActionsAPI(t)
	a.call("PUT", "/v2.1/os-quota-sets/"+demoProject, map[string]any{"quota_set": map[string]any{"ram": 100}}).must(t, 200)
	inst := a.server(t, "member", instances.Resized, func(i *instances.Instance) {
		old := i.Flavor
		old.MemoryMB = 4096
		i.OldFlavor = &old
	})
	res := a.act(inst.UUID, map[string]any{"revertResize": nil}, "token=member")
	res.fault(t, 403, "forbidden", "")
	if !strings.HasPrefix(res.str("forbidden.message"), "Quota exceeded for ram: Requested 3584, but already used ") {
		t.Fatalf("message %q", res.str("forbidden.message"))
	}
	a.noTask(t)
}

func TestRebuild(t *testing.T) {
	a := newActionsAPI(t)
	if _, err := a.svc.CreateKeyPair(context.Background(), tokens["member"], KeyPairSpec{Name: "k1", Generate: true}); err != nil {
		t.Fatal(err)
	}
	other := a.glance.upload(t, "other", []byte("another disk"), map[string]any{"os_distro": "debian"})
	inst := a.server(t, "member", instances.Active)

	res := a.act(inst.UUID, map[string]any{"rebuild": map[string]any{"imageRef": other, "name": "renamed", "adminPass": "pw",
		"metadata": map[string]any{"a": "b"}, "key_name": "k1", "user_data": "aGVsbG8=", "description": "d"}}, "token=member", "2.57").must(t, 202)
	if res.str("server.adminPass") != "pw" || res.str("server.name") != "renamed" || res.str("server.id") != inst.UUID ||
		res.str("server.user_data") != "aGVsbG8=" || res.str("server.key_name") != "k1" || res.str("server.image.id") != other ||
		res.str("server.metadata.a") != "b" || res.has("server.metadata.k") {
		t.Fatalf("rebuild answer: %s", res.raw)
	}
	if !strings.HasSuffix(res.header.Get("Location"), "/servers/"+inst.UUID) {
		t.Fatalf("Location %q", res.header.Get("Location"))
	}
	got := a.get(t, inst.UUID)
	if got.TaskState != instances.TaskRebuilding || got.ImageRef != other || got.Spec.Image.Properties["os_distro"] != "debian" ||
		got.KeyName != "k1" || got.KeyData == "" || string(got.UserData) != "hello" || got.Name != "renamed" ||
		got.Description == nil || *got.Description != "d" {
		t.Fatalf("after rebuild: %+v", got)
	}
	if task := a.task(t); task.Kind != tasks.Rebuild || task.ImageID != other {
		t.Fatalf("task %+v", task)
	}

	inst2 := a.server(t, "member", instances.Stopped)
	res = a.act(inst2.UUID, map[string]any{"rebuild": map[string]any{"imageRef": a.image}}, "token=member").must(t, 202)
	if len(res.str("server.adminPass")) != 12 {
		t.Fatalf("generated password: %s", res.raw)
	}
	a.task(t)

	a.act(inst2.UUID, map[string]any{"rebuild": map[string]any{"imageRef": "8a8f7f3c-2a4d-4f2e-9d10-3c58c54b4f1e"}}, "token=member").
		fault(t, 409, "conflictingRequest", "") // busy rebuilding
	inst3 := a.server(t, "member", instances.Active)
	a.act(inst3.UUID, map[string]any{"rebuild": map[string]any{"imageRef": "8a8f7f3c-2a4d-4f2e-9d10-3c58c54b4f1e"}}, "token=member").
		fault(t, 400, "badRequest", "Cannot find image for rebuild")
	a.act(inst3.UUID, map[string]any{"rebuild": map[string]any{"imageRef": "not-a-uuid"}}, "token=member").fault(t, 400, "badRequest", "")
	a.act(inst3.UUID, map[string]any{"rebuild": map[string]any{"imageRef": a.image, "key_name": "nope"}}, "token=member", "2.54").
		fault(t, 400, "badRequest", "Invalid key_name provided.")
	a.act(inst3.UUID, map[string]any{"rebuild": map[string]any{"imageRef": a.image, "key_name": "k1"}}, "token=member", "2.53").
		fault(t, 400, "badRequest", "")
	a.act(inst3.UUID, map[string]any{"rebuild": map[string]any{"imageRef": a.image, "user_data": "%%%"}}, "token=member", "2.57").
		fault(t, 400, "badRequest", "")
	a.act(inst3.UUID, map[string]any{"rebuild": map[string]any{"imageRef": a.image, "hostname": "-bad-"}}, "token=member", "2.90").
		fault(t, 400, "badRequest", "")
	big := a.glance.upload(t, "big", []byte("x"), map[string]any{"min_disk": 50})
	a.act(inst3.UUID, map[string]any{"rebuild": map[string]any{"imageRef": big}}, "token=member").fault(t, 400, "badRequest",
		"Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is 1073741824 bytes, minimum size is 53687091200 bytes.")
	if got := a.get(t, inst3.UUID); got.TaskState != "" || got.ImageRef != a.image {
		t.Fatalf("changed: %q %s", got.TaskState, got.ImageRef)
	}
	a.noTask(t)

	// 2.75 answers every attribute, as GET does.
	inst4 := a.server(t, "member", instances.Active)
	res = a.act(inst4.UUID, map[string]any{"rebuild": map[string]any{"imageRef": a.image, "hostname": "new-host"}}, "token=member", "2.90").must(t, 202)
	if !res.has("server.OS-EXT-AZ:availability_zone") || a.get(t, inst4.UUID).Hostname != "new-host" {
		t.Fatalf("2.90 rebuild: %s", res.raw)
	}
	a.task(t)
}

func TestRescue(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Stopped)
	res := a.act(inst.UUID, map[string]any{"rescue": map[string]any{"adminPass": "pw", "rescue_image_ref": a.image}}, "token=member").must(t, 200)
	if res.str("adminPass") != "pw" {
		t.Fatalf("rescue answer %s", res.raw)
	}
	got := a.get(t, inst.UUID)
	if got.TaskState != instances.TaskRescuing || got.RescueImageRef != a.image {
		t.Fatalf("after rescue: %q %q", got.TaskState, got.RescueImageRef)
	}
	if task := a.task(t); task.Kind != tasks.Rescue || task.ImageID != a.image {
		t.Fatalf("task %+v", task)
	}
	inst2 := a.server(t, "member", instances.Active)
	res = a.act(inst2.UUID, map[string]any{"rescue": nil}, "token=member").must(t, 200)
	if len(res.str("adminPass")) != 12 {
		t.Fatalf("rescue answer %s", res.raw)
	}
	a.task(t)
	inst3 := a.server(t, "member", instances.Active)
	a.act(inst3.UUID, map[string]any{"rescue": map[string]any{"rescue_image_ref": "8a8f7f3c-2a4d-4f2e-9d10-3c58c54b4f1e"}}, "token=member").
		fault(t, 400, "badRequest", "Requested rescue image '8a8f7f3c-2a4d-4f2e-9d10-3c58c54b4f1e' is not supported")
	a.noTask(t)
}

func TestShelveAndUnshelve(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active)
	a.act(inst.UUID, map[string]any{"shelve": nil}, "token=member").must(t, 202)
	if got := a.get(t, inst.UUID); got.TaskState != instances.TaskShelving {
		t.Fatalf("task %q", got.TaskState)
	}
	task := a.task(t)
	if task.Kind != tasks.Shelve || task.ImageID == "" {
		t.Fatalf("task %+v", task)
	}
	if img := a.glance.record(t, task.ImageID); img["name"] != inst.Name+"-shelved" || img["instance_uuid"] != inst.UUID {
		t.Fatalf("shelve image %v", img)
	}

	shelved := a.server(t, "member", instances.Shelved)
	a.act(shelved.UUID, map[string]any{"unshelve": map[string]any{"availability_zone": "nova"}}, "token=member", "2.77").
		fault(t, 409, "conflictingRequest", "")
	a.act(shelved.UUID, map[string]any{"unshelve": map[string]any{}}, "token=member", "2.77").fault(t, 400, "badRequest", "")

	off := a.server(t, "member", instances.ShelvedOffloaded, func(i *instances.Instance) { i.Host, i.Node = "", "" })
	a.act(off.UUID, map[string]any{"unshelve": map[string]any{"availability_zone": "elsewhere"}}, "token=member", "2.77").
		fault(t, 400, "badRequest", "The requested availability zone is not available")
	a.act(off.UUID, map[string]any{"unshelve": map[string]any{"host": "host1"}}, "token=member", "2.91").fault(t, 403, "forbidden", "")
	a.act(off.UUID, map[string]any{"unshelve": map[string]any{"host": "nohost"}}, "token=admin", "2.91").
		fault(t, 400, "badRequest", "Compute host nohost could not be found.")
	a.noTask(t)
	a.act(off.UUID, map[string]any{"unshelve": map[string]any{"availability_zone": "nova"}}, "token=member", "2.77").must(t, 202)
	got := a.get(t, off.UUID)
	if got.TaskState != instances.TaskUnshelving || got.Spec.AvailabilityZone != "nova" {
		t.Fatalf("after unshelve: %q %q", got.TaskState, got.Spec.AvailabilityZone)
	}
	if task := a.task(t); task.Kind != tasks.Unshelve || task.AvailabilityZone != "nova" {
		t.Fatalf("task %+v", task)
	}
}

// os-getConsoleOutput asks the server's agent over the bus and answers at
// once.
func TestConsoleOutput(t *testing.T) {
	a := newActionsAPI(t)
	requests := make(chan rpc.Request, 10)
	stop, err := a.bus.Serve(rpc.Subject("host1"), func(ctx context.Context, body []byte) ([]byte, error) {
		var req rpc.Request
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, err
		}
		requests <- req
		out := "boot\x07ing\nnimbus-guest: instance " + req.Instance.UUID + "\n"
		return json.Marshal(rpc.Reply{V: 1, OK: true, PowerState: 1, Output: &out})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	inst := a.server(t, "member", instances.Stopped)
	res := a.act(inst.UUID, map[string]any{"os-getConsoleOutput": map[string]any{"length": "5"}}, "token=member").must(t, 200)
	if res.str("output") != "booting\nnimbus-guest: instance "+inst.UUID+"\n" {
		t.Fatalf("output %q", res.str("output"))
	}
	asked := <-requests
	if asked.Op != rpc.ConsoleOutput || asked.Length == nil || *asked.Length != 5 || asked.Instance.UUID != inst.UUID {
		t.Fatalf("asked %+v", asked)
	}
	a.act(inst.UUID, map[string]any{"os-getConsoleOutput": map[string]any{"length": -1}}, "token=member").must(t, 200)
	if asked = <-requests; asked.Length != nil {
		t.Fatalf("length -1 sent as %d", *asked.Length)
	}
	a.act(inst.UUID, map[string]any{"os-getConsoleOutput": map[string]any{"length": -2}}, "token=member").fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"os-getConsoleOutput": map[string]any{"length": "x"}}, "token=member").fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"os-getConsoleOutput": map[string]any{"lines": 1}}, "token=member").fault(t, 400, "badRequest", "")
	a.act(inst.UUID, map[string]any{"os-getConsoleOutput": map[string]any{}}, "token=reader").fault(t, 403, "forbidden", "")

	// No agent on the host.
	gone := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.Host = "host9" })
	a.act(gone.UUID, map[string]any{"os-getConsoleOutput": map[string]any{}}, "token=member").fault(t, 409, "conflictingRequest", "")
}

func TestForceDeleteAndRestore(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Error, func(i *instances.Instance) { i.TaskState = instances.TaskRebooting })
	a.act(inst.UUID, map[string]any{"restore": nil}, "token=member").fault(t, 409, "conflictingRequest",
		"Cannot 'restore' instance "+inst.UUID+" while it is in vm_state error")
	a.act(inst.UUID, map[string]any{"forceDelete": nil}, "token=member").must(t, 202)
	if got := a.get(t, inst.UUID); got.TaskState != instances.TaskDeleting {
		t.Fatalf("task %q", got.TaskState)
	}
	if task := a.task(t); task.Kind != tasks.Delete {
		t.Fatalf("task %+v", task)
	}
	a.act(inst.UUID, map[string]any{"forceDelete": nil}, "token=alt").must(t, 404)
	a.noTask(t)
}

func TestDiagnostics(t *testing.T) {
	a := newActionsAPI(t)
	var power atomic.Int32
	power.Store(1)
	stop, err := a.bus.Serve(rpc.Subject("host1"), func(ctx context.Context, body []byte) ([]byte, error) {
		var req rpc.Request
		if err := json.Unmarshal(body, &req); err != nil || req.Op != rpc.GetInfo {
			return json.Marshal(rpc.Reply{V: 1, Error: rpc.Errorf(rpc.CodeBadRequest, false, "unexpected %s", req.Op)})
		}
		return json.Marshal(rpc.Reply{V: 1, OK: true, PowerState: 1,
			Info: &rpc.Info{PowerState: hypervisor.PowerState(power.Load()), VCPUs: 2, MemoryMB: 512, CPUTimeNS: 4000}})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	inst := a.server(t, "member", instances.Active)
	path := "/v2.1/servers/" + inst.UUID + "/diagnostics"
	a.call("GET", path, nil, "token=member").fault(t, 403, "forbidden", "Policy doesn't allow os_compute_api:os-server-diagnostics to be performed.")
	old := a.call("GET", path, nil, "2.47").must(t, 200)
	if old.num("memory") != 512*1024 || old.num("cpu0_time") != 2000 {
		t.Fatalf("2.47: %s", old.raw)
	}
	d := a.call("GET", path, nil, "2.48").must(t, 200)
	if d.str("state") != "running" || d.str("driver") != "libvirt" || d.num("num_cpus") != 2 || d.num("memory_details.maximum") != 512 ||
		len(d.list("cpu_details")) != 2 || d.path("config_drive") != false {
		t.Fatalf("2.48: %s", d.raw)
	}
	power.Store(4)
	a.call("GET", path, nil, "2.48").fault(t, 409, "conflictingRequest",
		"Cannot 'get_diagnostics' instance "+inst.UUID+" while it is in power_state shutdown")
	noHost := a.server(t, "member", instances.Active, func(i *instances.Instance) { i.Host = "" })
	a.call("GET", "/v2.1/servers/"+noHost.UUID+"/diagnostics", nil).must(t, 409)
}
