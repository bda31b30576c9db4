package compute_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
)

// server makes an active server of token's project on host1.
func (a *proxyAPI) server(token string) string {
	a.t.Helper()
	p := proxyCallers[token]
	now := time.Now().Add(-time.Minute)
	inst := &instances.Instance{UUID: uuid.NewString(), Name: "vm", ProjectID: p.ProjectID, UserID: p.UserID,
		Hostname: "vm", Host: "host1", Node: "node1", LaunchedOn: "host1", AvailabilityZone: "nova",
		VMState: instances.Active, PowerState: instances.PowerRunning, ImageRef: a.bootFrom,
		Flavor:    instances.Flavor{FlavorID: "1", Name: "m1.tiny", MemoryMB: 512, VCPUs: 1, RootGB: 1, RXTXFactor: 1},
		Spec:      instances.RequestSpec{Image: instances.Image{ID: a.bootFrom, DiskFormat: "raw", Size: 1024}},
		CreatedAt: now, LaunchedAt: now}
	st := a.svc.InstancesForTest()
	err := st.DB().Tx(context.Background(), func(tx *sql.Tx) error {
		return st.CreateTx(context.Background(), tx, inst, instances.Action{RequestID: "req-" + inst.UUID, UserID: p.UserID, ProjectID: p.ProjectID})
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return inst.UUID
}

// snapshotDone takes the snapshot task and ends it as the conductor
// would (the image record stays as the API made it).
func (a *proxyAPI) snapshotDone(server, image string) {
	a.t.Helper()
	select {
	case task := <-a.tasks:
		if task.Kind != tasks.Snapshot || task.UUID != server || task.ImageID != image {
			a.t.Fatalf("task %+v, want snapshot of %s into %s", task, server, image)
		}
	case <-time.After(10 * time.Second):
		a.t.Fatal("no snapshot queued")
	}
	_, err := a.svc.InstancesForTest().Update(context.Background(), server, instances.Guard{}, func(i *instances.Instance) error {
		i.TaskState = ""
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
}

func (a *proxyAPI) backup(server, name string, rotation any, version string) *answer {
	a.t.Helper()
	return a.nova("POST", "/servers/"+server+"/action", map[string]any{"createBackup": map[string]any{
		"name": name, "backup_type": "daily", "rotation": rotation}}, "member", version)
}

// backups lists the server's daily backups, oldest first.
func (a *proxyAPI) backups(server string) []string {
	a.t.Helper()
	r := a.nova("GET", "/images/detail?property-image_type=backup&property-backup_type=daily&server="+server, nil, "member")
	r.must(a.t, http.StatusOK)
	var names []string
	for _, it := range r.body["images"].([]any) {
		names = append([]string{it.(map[string]any)["name"].(string)}, names...)
	}
	return names
}

func TestCreateBackupRotation(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	srv := a.server("member")
	var first string
	for i, name := range []string{"backup-1", "backup-2", "backup-3"} {
		r := a.backup(srv, name, 2, "2.45").must(t, http.StatusAccepted)
		id, _ := r.body["image_id"].(string)
		if len(r.body) != 1 || id == "" {
			t.Fatalf("createBackup answered %s", r.raw)
		}
		if i == 0 {
			first = id
		}
		a.snapshotDone(srv, id)
		img := a.nova("GET", "/images/"+id, nil, "member").must(t, http.StatusOK).body["image"].(map[string]any)
		md := img["metadata"].(map[string]any)
		if md["image_type"] != "backup" || md["backup_type"] != "daily" || md["instance_uuid"] != srv || img["name"] != name {
			t.Fatalf("backup image %v", img)
		}
		time.Sleep(1100 * time.Millisecond) // the image service's creation times are in seconds
	}
	if got := a.backups(srv); !reflect.DeepEqual(got, []string{"backup-2", "backup-3"}) {
		t.Fatalf("backups after rotation: %v", got)
	}
	a.nova("GET", "/images/"+first, nil, "member").must(t, http.StatusNotFound)

	// Another server's backups and other types are not rotated away.
	other := a.server("member")
	r := a.backup(other, "other-1", 1, "2.1").must(t, http.StatusAccepted)
	loc := r.hdr.Get("Location")
	if !strings.HasPrefix(loc, a.glance+"/images/") || r.raw != "" {
		t.Fatalf("2.1 answer: Location %q body %q", loc, r.raw)
	}
	a.snapshotDone(other, loc[strings.LastIndex(loc, "/")+1:])
	if got := a.backups(srv); len(got) != 2 {
		t.Fatalf("backups of the first server: %v", got)
	}
}

func TestCreateBackupRefused(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	srv := a.server("member")
	act := func(body map[string]any, token string) *answer {
		return a.nova("POST", "/servers/"+srv+"/action", map[string]any{"createBackup": body}, token, "2.45")
	}
	a.backup(srv, "b", -1, "2.45").fault(t, http.StatusBadRequest, "badRequest",
		"Invalid input for field/attribute rotation. Value: -1. -1 is less than the minimum of 0")
	act(map[string]any{"name": "b", "rotation": 1}, "member").fault(t, http.StatusBadRequest, "badRequest",
		"Invalid input for field/attribute createBackup. Value: {'name': 'b', 'rotation': 1}. 'backup_type' is a required property")
	act(map[string]any{"name": "b", "backup_type": "daily", "rotation": 1, "x": 1}, "member").must(t, http.StatusBadRequest)
	act(map[string]any{"name": "", "backup_type": "daily", "rotation": 1}, "member").must(t, http.StatusBadRequest)
	act(map[string]any{"name": "b", "backup_type": 1, "rotation": 1}, "member").must(t, http.StatusBadRequest)
	act(map[string]any{"name": "b", "backup_type": "daily", "rotation": 1}, "alt").fault(t, http.StatusNotFound, "itemNotFound",
		"Instance "+srv+" could not be found.")
	a.nova("PUT", "/os-quota-sets/"+proxyCallers["member"].ProjectID, map[string]any{"quota_set": map[string]any{"metadata_items": 1}},
		"admin", "2.1").must(t, http.StatusOK)
	a.nova("POST", "/servers/"+srv+"/action", map[string]any{"createBackup": map[string]any{"name": "b", "backup_type": "daily",
		"rotation": 1, "metadata": map[string]string{"a": "1", "b": "2"}}}, "member", "2.38").fault(t, http.StatusForbidden, "forbidden",
		"Image metadata limit exceeded")
	if got := a.backups(srv); len(got) != 0 {
		t.Fatalf("refused backups made images: %v", got)
	}
	select {
	case task := <-a.tasks:
		t.Fatalf("a refused backup queued %+v", task)
	case <-time.After(200 * time.Millisecond):
	}

	// From 2.39 the metadata is not counted; a server busy with one
	// backup refuses the next with Nova's 409.
	r := a.nova("POST", "/servers/"+srv+"/action", map[string]any{"createBackup": map[string]any{"name": "b", "backup_type": "daily",
		"rotation": "1", "metadata": map[string]string{"a": "1", "b": "2"}}}, "member", "2.39").must(t, http.StatusAccepted)
	if loc := r.hdr.Get("Location"); loc == "" {
		t.Fatal("no Location before 2.45")
	}
	a.backup(srv, "c", 1, "2.45").fault(t, http.StatusConflict, "conflictingRequest",
		"Cannot 'createBackup' instance "+srv+" while it is in task_state image_snapshot")
	if got := a.backups(srv); len(got) != 1 {
		t.Fatalf("backups: %v", got)
	}
}

func TestCreateBackupRotationZero(t *testing.T) {
	a := newProxyAPI(t, compute.DefaultConfig())
	srv := a.server("member")
	r := a.backup(srv, "old", 1, "2.45").must(t, http.StatusAccepted)
	a.snapshotDone(srv, r.body["image_id"].(string))
	time.Sleep(1100 * time.Millisecond)
	r = a.backup(srv, "dropped", 0, "2.1").must(t, http.StatusAccepted)
	if loc := r.hdr.Get("Location"); loc != "" {
		t.Fatalf("rotation 0 answered Location %q", loc)
	}
	var id string
	select {
	case task := <-a.tasks:
		id = task.ImageID
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot queued")
	}
	if got := a.backups(srv); len(got) != 1 || got[0] != "dropped" {
		t.Fatalf("backups while uploading: %v", got)
	}
	// The upload ends (as the agent's would): then the backup goes too.
	disk := make([]byte, 512) // a qcow2 v2 header: 64 KiB clusters, 1 MiB, no backing file
	copy(disk, "QFI\xfb")
	binary.BigEndian.PutUint32(disk[4:], 2)
	binary.BigEndian.PutUint32(disk[20:], 16)
	binary.BigEndian.PutUint64(disk[24:], 1<<20)
	req, _ := http.NewRequest(http.MethodPut, a.glance+"/v2/images/"+id+"/file", bytes.NewReader(disk))
	req.Header.Set("X-Auth-Token", "member")
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %v %v", res, err)
	}
	res.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(a.backups(srv)) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backup of rotation 0 kept: %v", a.backups(srv))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
