package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

const uuid1 = "6f2b1d7e-2c1a-4b8e-9d1e-0a1b2c3d4e01"
const uuid2 = "6f2b1d7e-2c1a-4b8e-9d1e-0a1b2c3d4e02"

func TestBuildThenPowerActions(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	e.start(e.options(d))

	rep := e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"), func(r *rpc.Request) {
		r.ConfigDrive = &rpc.ConfigDrive{
			Name: "vm1", Hostname: "vm1.novalocal",
			Keys:     []configdrive.Key{{Name: "mykey", Type: "ssh", Data: "ssh-ed25519 AAAA test"}},
			UserData: []byte("#!/bin/sh\necho hi\n"),
		}
	})
	if rep.Error != nil {
		t.Fatalf("build reply has an error: %+v", rep.Error)
	}
	u := e.waitUpdate("build done", taskDone(uuid1, rpc.BuildAndRun))
	if !u.OK || u.PowerState != hypervisor.Running || u.Host != testHost || u.RequestID != "req-build_and_run" || u.Fault != nil {
		t.Errorf("build update = %+v, want ok, running, from %s", u, testHost)
	}
	// The guest's directory holds the record and a config drive the
	// guest can read.
	dir := filepath.Join(e.dir, "instances", uuid1)
	iso, err := os.ReadFile(filepath.Join(dir, "disk.config"))
	if err != nil {
		t.Fatalf("config drive: %v", err)
	}
	if len(iso) < 0x8006 || string(iso[0x8001:0x8006]) != "CD001" || !bytes.Contains(iso, []byte("config-2")) {
		t.Errorf("disk.config is not an ISO 9660 image labelled config-2")
	}
	if !bytes.Contains(iso, []byte(`"uuid":"`+uuid1+`"`)) || !bytes.Contains(iso, []byte("ssh-ed25519 AAAA test")) {
		t.Errorf("config drive lacks the instance's meta_data.json")
	}
	if cached, err := os.ReadFile(filepath.Join(e.dir, "image-cache", "cirros")); err != nil || !bytes.Equal(cached, rawImage(64<<10)) {
		t.Errorf("image cache holds %d bytes (%v), want the image", len(cached), err)
	}

	steps := []struct {
		op   rpc.Op
		want hypervisor.PowerState
		mod  func(*rpc.Request)
	}{
		{rpc.PowerOff, hypervisor.Shutdown, func(r *rpc.Request) { r.Timeout = 60 }},
		{rpc.PowerOn, hypervisor.Running, nil},
		{rpc.Reboot, hypervisor.Running, func(r *rpc.Request) { r.Hard = true }},
		{rpc.Reboot, hypervisor.Running, nil},
		{rpc.Pause, hypervisor.Paused, nil},
		{rpc.Unpause, hypervisor.Running, nil},
		{rpc.Suspend, hypervisor.Suspended, nil},
		{rpc.Resume, hypervisor.Running, nil},
	}
	for _, s := range steps {
		var mods []func(*rpc.Request)
		if s.mod != nil {
			mods = append(mods, s.mod)
		}
		e.mustCall(s.op, uuid1, s.want, mods...)
		u := e.waitUpdate(string(s.op)+" done", taskDone(uuid1, s.op))
		if !u.OK || u.PowerState != s.want {
			t.Errorf("%s update: ok %v power_state %d, want ok and %d", s.op, u.OK, u.PowerState, s.want)
		}
		if info, err := d.Info(t.Context(), hypervisor.Instance{UUID: uuid1}); err != nil || info.State != s.want {
			t.Errorf("after %s the driver says %v (%v), want %d", s.op, info.State, err, s.want)
		}
	}

	rep = e.mustCall(rpc.GetInfo, uuid1, hypervisor.Running)
	if rep.Info == nil || rep.Info.VCPUs != 1 || rep.Info.MemoryMB != 256 || rep.Info.PowerState != hypervisor.Running {
		t.Errorf("get_info = %+v, want 1 vCPU, 256 MB, running", rep.Info)
	}

	// Nova's tail: the last two pieces of a log ending in a newline are
	// its last line and "".
	two := 2
	rep = e.mustCall(rpc.ConsoleOutput, uuid1, hypervisor.Running, func(r *rpc.Request) { r.Length = &two })
	if rep.Output == nil || *rep.Output != fake.Marker(uuid1)+"\n" {
		t.Errorf("console output (2) = %q, want the marker line", deref(rep.Output))
	}
	rep = e.mustCall(rpc.ConsoleOutput, uuid1, hypervisor.Running)
	// Booted at the build, the power on and the two reboots.
	if n := strings.Count(deref(rep.Output), fake.Marker(uuid1)); n != 4 {
		t.Errorf("whole console output shows %d boots, want 4", n)
	}
	if out := deref(rep.Output); !strings.HasPrefix(out, "[    0.000000] Linux version") {
		t.Errorf("whole console output starts %q", clip(out))
	}

	e.mustCall(rpc.Destroy, uuid1, hypervisor.NoState)
	e.waitUpdate("destroy done", taskDone(uuid1, rpc.Destroy))
	if d.Len() != 0 {
		t.Errorf("driver has %d guests after destroy", d.Len())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("instance directory left after destroy: %v", err)
	}
	// Destroying again is harmless; anything else finds no guest.
	e.mustCall(rpc.Destroy, uuid1, hypervisor.NoState)
	_, err = e.call(rpc.PowerOn, uuid1)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeNotFound || re.Message != "Instance "+uuid1+" could not be found." {
		t.Errorf("power_on after destroy: %v, want not_found", err)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestFailedActionKeepsState(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	e.start(e.options(d))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	e.mustCall(rpc.PowerOff, uuid1, hypervisor.Shutdown)

	rep, err := e.call(rpc.Pause, uuid1) // the fake refuses to pause a stopped guest
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeFailed || rep.OK || rep.PowerState != hypervisor.Shutdown {
		t.Fatalf("pause of a stopped guest: %+v, %v; want failed with power_state shutdown", rep, err)
	}
	u := e.waitUpdate("pause failed", taskDone(uuid1, rpc.Pause))
	if u.OK || u.Fault == nil || u.Fault.Code != rpc.CodeFailed || u.PowerState != hypervisor.Shutdown {
		t.Errorf("pause update = %+v, want a fault and power_state shutdown", u)
	}
}

func TestReadoptAfterRestart(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	stop := e.start(e.options(d))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	e.mustCall(rpc.BuildAndRun, uuid2, hypervisor.Running, buildReq("cirros"))
	e.mustCall(rpc.PowerOff, uuid2, hypervisor.Shutdown)
	stop()

	// While no agent runs, nothing answers; a guest dies unseen.
	if _, err := e.call(rpc.GetInfo, uuid1); !errors.Is(err, rpc.ErrUnreachable) {
		t.Errorf("call with no agent: %v, want ErrUnreachable", err)
	}
	const uuid3 = "6f2b1d7e-2c1a-4b8e-9d1e-0a1b2c3d4e03"
	// A guest the driver runs that this agent never built (its record
	// lost) is reported all the same.
	if err := d.Spawn(t.Context(), hypervisor.Instance{UUID: uuid3, VCPUs: 1, MemoryMB: 64}); err != nil {
		t.Fatal(err)
	}
	drain(e.updates)

	e.start(e.options(d))
	found := map[string]hypervisor.PowerState{}
	for len(found) < 3 {
		u := e.waitUpdate("sync after restart", func(u rpc.Update) bool { return u.Event == rpc.EventSync })
		found[u.UUID] = u.PowerState
	}
	want := map[string]hypervisor.PowerState{uuid1: hypervisor.Running, uuid2: hypervisor.Shutdown, uuid3: hypervisor.Running}
	for uuid, s := range want {
		if found[uuid] != s {
			t.Errorf("after restart %s reported %d, want %d", uuid, found[uuid], s)
		}
	}
	// Re-adopted, not restarted: still one boot on the console.
	out, err := d.ConsoleOutput(t.Context(), hypervisor.Instance{UUID: uuid1}, 0)
	if err != nil || bytes.Count(out, []byte("Linux version")) != 1 {
		t.Errorf("guest booted %d times (%v), want once", bytes.Count(out, []byte("Linux version")), err)
	}
	// The new agent acts on re-adopted guests, and runs a stopped one
	// from its record.
	e.mustCall(rpc.Reboot, uuid1, hypervisor.Running, func(r *rpc.Request) { r.Hard = true })
	e.mustCall(rpc.PowerOn, uuid2, hypervisor.Running)
	e.mustCall(rpc.PowerOff, uuid3, hypervisor.Shutdown)
}

func drain(c chan rpc.Update) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func TestRecordedGuestGoneIsReported(t *testing.T) {
	e := newEnv(t)
	stop := e.start(e.options(fake.New(fake.Config{})))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	stop()
	drain(e.updates)
	// The host rebooted: a new driver has no guests, the record stays.
	e.start(e.options(fake.New(fake.Config{})))
	u := e.waitUpdate("sync of a lost guest", func(u rpc.Update) bool { return u.UUID == uuid1 && u.Event == rpc.EventSync })
	if u.PowerState != hypervisor.NoState {
		t.Errorf("lost guest reported %d, want 0 (no state)", u.PowerState)
	}
	// Building it again works (the conductor may rebuild or delete it).
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
}

func TestCrashReportsShutdown(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	e.start(e.options(d))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	e.waitUpdate("build", taskDone(uuid1, rpc.BuildAndRun))

	if err := d.Crash(uuid1); err != nil {
		t.Fatal(err)
	}
	u := e.waitUpdate("crash", func(u rpc.Update) bool { return u.UUID == uuid1 && u.Event == rpc.EventLifecycle })
	if u.PowerState != hypervisor.Shutdown {
		t.Errorf("crash reported power_state %d, want %d (shutdown)", u.PowerState, hypervisor.Shutdown)
	}
	// os-start works on what is left.
	e.mustCall(rpc.PowerOn, uuid1, hypervisor.Running)
}

func TestPeriodicSyncFindsUnreportedChange(t *testing.T) {
	e := newEnv(t)
	d := &silentDriver{Driver: fake.New(fake.Config{})}
	o := e.options(d)
	o.SyncInterval = 50 * time.Millisecond
	e.start(o)
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	e.waitUpdate("build", taskDone(uuid1, rpc.BuildAndRun))
	e.noUpdate(200*time.Millisecond, "sync of an unchanged guest", func(u rpc.Update) bool { return u.Event == rpc.EventSync })
	d.Driver.Crash(uuid1) // its event never reaches the agent
	u := e.waitUpdate("sync after a missed event", func(u rpc.Update) bool { return u.UUID == uuid1 && u.Event == rpc.EventSync })
	if u.PowerState != hypervisor.Shutdown {
		t.Errorf("sync reported %d, want shutdown", u.PowerState)
	}
}

// silentDriver loses every event.
type silentDriver struct{ *fake.Driver }

func (d *silentDriver) Events(ctx context.Context) <-chan hypervisor.Event {
	c := make(chan hypervisor.Event)
	context.AfterFunc(ctx, func() { close(c) })
	return c
}

func TestHeartbeats(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{Host: hypervisor.Host{Hostname: "node-7", VCPUs: 16, MemoryMB: 32768, DiskGB: 500}})
	o := e.options(d)
	o.HeartbeatInterval = 100 * time.Millisecond
	o.HostIP = "192.0.2.7"
	stop := e.start(o)
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))

	var beats []rpc.Heartbeat
	timeout := time.After(5 * time.Second)
	for len(beats) < 5 {
		select {
		case hb := <-e.heartbeats:
			beats = append(beats, hb)
		case <-timeout:
			t.Fatalf("%d heartbeats in 5s at a 100ms interval", len(beats))
		}
	}
	last := beats[len(beats)-1]
	if last.Host != testHost || last.Binary != "nova-compute" || last.Interval != 0.1 || last.Stopping {
		t.Errorf("heartbeat = %+v", last)
	}
	want := rpc.Resources{HypervisorHostname: "node-7", HypervisorType: "fake", HypervisorVersion: 1000, VCPUs: 16, MemoryMB: 32768, LocalGB: 500, HostIP: "192.0.2.7"}
	got := last.Resources
	got.CPUInfo = ""
	if got != want || last.Resources.CPUInfo == "" {
		t.Errorf("resources = %+v, want %+v with cpu_info", last.Resources, want)
	}
	if last.RunningVMs != 1 {
		t.Errorf("running_vms = %d, want 1", last.RunningVMs)
	}
	for i := 2; i < len(beats); i++ { // the second comes early: at a random part of the interval, to spread hosts
		gap := beats[i].At.Sub(beats[i-1].At)
		if gap < 50*time.Millisecond || gap > time.Second {
			t.Errorf("heartbeat %d came %v after the one before, want about 100ms", i, gap)
		}
	}

	stop()
	var final *rpc.Heartbeat
	timeout = time.After(5 * time.Second)
	for final == nil {
		select {
		case hb := <-e.heartbeats:
			if hb.Stopping {
				final = &hb
			}
		case <-timeout:
			t.Fatal("no last heartbeat from a stopping agent")
		}
	}
	select {
	case hb := <-e.heartbeats:
		t.Errorf("heartbeat after the agent stopped: %+v", hb)
	case <-time.After(500 * time.Millisecond):
	}
}

func TestImageFetchedOnceForConcurrentBuilds(t *testing.T) {
	e := newEnv(t)
	e.images.hold = make(chan struct{})
	e.images.started = make(chan string, 10)
	e.start(e.options(fake.New(fake.Config{})))

	var wg sync.WaitGroup
	for _, uuid := range []string{uuid1, uuid2} {
		wg.Go(func() { e.mustCall(rpc.BuildAndRun, uuid, hypervisor.Running, buildReq("cirros")) })
	}
	<-e.images.started
	// Both builds are waiting for the one download...
	time.Sleep(200 * time.Millisecond)
	close(e.images.hold)
	wg.Wait()
	if n := e.images.count("cirros"); n != 1 {
		t.Errorf("image fetched %d times for two builds, want once", n)
	}
	// ...and a later build uses the cache.
	const uuid3 = "6f2b1d7e-2c1a-4b8e-9d1e-0a1b2c3d4e03"
	e.mustCall(rpc.BuildAndRun, uuid3, hypervisor.Running, buildReq("cirros"))
	if n := e.images.count("cirros"); n != 1 {
		t.Errorf("image fetched %d times for three builds, want once", n)
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "image-cache"))
	if len(entries) != 1 || entries[0].Name() != "cirros" {
		t.Errorf("image cache holds %v, want just cirros", entries)
	}
}

func TestBuildFailures(t *testing.T) {
	e := newEnv(t)
	var failSpawn atomic.Bool
	d := fake.New(fake.Config{Faults: fake.Faults{FailSpawn: func(hypervisor.Instance) error {
		if failSpawn.Load() {
			return errors.New("no space left on device")
		}
		return nil
	}}})
	e.start(e.options(d))
	qcow := qcow2Image(t)
	e.images.add("qcow", "qcow2", qcow)
	e.images.add("liar", "raw", qcow) // says raw, is qcow2: QEMU must never probe it
	e.images.add("vmdk", "vmdk", []byte("# Disk DescriptorFile\nversion=1\n"))

	tests := []struct {
		name      string
		image     rpc.Image
		spawnFail bool
		code      string
		retryable bool
		msg       string
	}{
		{"spawn fails", rpc.Image{ID: "cirros"}, true, rpc.CodeBuildFailed, true, "no space left on device"},
		{"image not found", rpc.Image{ID: "missing"}, false, rpc.CodeImageNotFound, false, "Image missing could not be found."},
		{"checksum mismatch", rpc.Image{ID: "qcow", Checksum: "00000000000000000000000000000000"}, false, rpc.CodeImageInvalid, false, "checksum"},
		{"size mismatch", rpc.Image{ID: "qcow", Size: 12}, false, rpc.CodeImageInvalid, false, "bytes"},
		{"format mismatch", rpc.Image{ID: "liar"}, false, rpc.CodeImageInvalid, false, "does not match"},
		{"unbootable format", rpc.Image{ID: "vmdk"}, false, rpc.CodeImageInvalid, false, ""},
		{"unknown hash", rpc.Image{ID: "cirros", HashAlgo: "crc32", HashValue: "00"}, false, rpc.CodeImageInvalid, false, "crc32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			failSpawn.Store(tc.spawnFail)
			rep, err := e.call(rpc.BuildAndRun, uuid1, buildReq(""), func(r *rpc.Request) { r.Image = &tc.image })
			var re *rpc.Error
			if !errors.As(err, &re) {
				t.Fatalf("build: %v, want an rpc error", err)
			}
			if re.Code != tc.code || re.Retryable != tc.retryable || !strings.Contains(re.Message, tc.msg) {
				t.Errorf("build error = %+v, want code %s retryable %v message with %q", re, tc.code, tc.retryable, tc.msg)
			}
			if rep.OK || rep.PowerState != hypervisor.NoState {
				t.Errorf("reply = %+v", rep)
			}
			u := e.waitUpdate("failed build", taskDone(uuid1, rpc.BuildAndRun))
			if u.OK || u.Fault == nil || u.Fault.Code != tc.code || u.Fault.Message != re.Message {
				t.Errorf("update = %+v, want the fault of the reply", u)
			}
			if d.Len() != 0 {
				t.Errorf("driver has %d guests after a failed build", d.Len())
			}
			if _, err := os.Stat(filepath.Join(e.dir, "instances", uuid1)); !os.IsNotExist(err) {
				t.Errorf("instance directory left after a failed build: %v", err)
			}
		})
	}
	// Nothing bad was cached: a good request for the same image builds.
	failSpawn.Store(false)
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("qcow"))
	if n := e.images.count("qcow"); n != 3 {
		t.Errorf("qcow fetched %d times, want 3 (two refused, one kept)", n)
	}
	// Asked again, the build is not repeated.
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("qcow"))
	out, _ := d.ConsoleOutput(t.Context(), hypervisor.Instance{UUID: uuid1}, 0)
	if n := bytes.Count(out, []byte("Linux version")); n != 1 {
		t.Errorf("guest booted %d times after a repeated build, want once", n)
	}
}

// qcow2Image is a valid empty qcow2 image, as the fake driver snapshots.
func qcow2Image(t *testing.T) []byte {
	t.Helper()
	d := fake.New(fake.Config{})
	inst := hypervisor.Instance{UUID: "x", VCPUs: 1, MemoryMB: 1}
	if err := d.Spawn(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "img")
	if err := d.Snapshot(t.Context(), inst, path, "qcow2"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	e.start(e.options(fake.New(fake.Config{})))
	tests := []struct {
		name string
		req  rpc.Request
		code string
	}{
		{"newer version", rpc.Request{V: rpc.Version + 1, Op: rpc.GetInfo, Instance: rpc.Instance{UUID: uuid1}}, rpc.CodeUnsupportedVersion},
		{"unknown op", rpc.Request{Op: "migrate", Instance: rpc.Instance{UUID: uuid1}}, rpc.CodeBadRequest},
		{"no uuid", rpc.Request{Op: rpc.PowerOn}, rpc.CodeBadRequest},
		{"path in uuid", rpc.Request{Op: rpc.Destroy, Instance: rpc.Instance{UUID: "../image-cache"}}, rpc.CodeBadRequest},
		{"build without flavor", rpc.Request{Op: rpc.BuildAndRun, Instance: rpc.Instance{UUID: uuid1}, Image: &rpc.Image{ID: "cirros"}}, rpc.CodeBadRequest},
		{"build without image", rpc.Request{Op: rpc.BuildAndRun, Instance: rpc.Instance{UUID: uuid1, Flavor: &rpc.Flavor{VCPUs: 1, RAM: 64}}}, rpc.CodeBadRequest},
		{"snapshot without target", rpc.Request{Op: rpc.Snapshot, Instance: rpc.Instance{UUID: uuid1}}, rpc.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.Call(t.Context(), testHost, tc.req)
			var re *rpc.Error
			if !errors.As(err, &re) || re.Code != tc.code {
				t.Errorf("Call: %v, want code %s", err, tc.code)
			}
		})
	}
	// Not JSON at all.
	var rep rpc.Reply
	if err := e.bus.Call(t.Context(), rpc.Subject(testHost), []byte("{"), &rep); err != nil || rep.OK || rep.Error.Code != rpc.CodeBadRequest {
		t.Errorf("malformed request: %+v, %v", rep, err)
	}
}

func TestOperationsOnOneGuestAreSerialised(t *testing.T) {
	e := newEnv(t)
	d := &overlapDriver{Driver: fake.New(fake.Config{})}
	e.start(e.options(d))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	e.mustCall(rpc.BuildAndRun, uuid2, hypervisor.Running, buildReq("cirros"))
	var wg sync.WaitGroup
	for i := range 8 {
		uuid := uuid1
		if i%2 == 1 {
			uuid = uuid2
		}
		wg.Go(func() { e.mustCall(rpc.Reboot, uuid, hypervisor.Running, func(r *rpc.Request) { r.Hard = true }) })
	}
	wg.Wait()
	if d.maxSame.Load() != 1 {
		t.Errorf("%d reboots of one guest ran at once, want 1", d.maxSame.Load())
	}
	if d.maxAll.Load() < 2 {
		t.Errorf("reboots of different guests never overlapped (max %d at once)", d.maxAll.Load())
	}
}

// overlapDriver counts reboots that run at the same time.
type overlapDriver struct {
	*fake.Driver
	mu              sync.Mutex
	active          map[string]int
	all             int
	maxSame, maxAll atomic.Int32
}

func (d *overlapDriver) Reboot(ctx context.Context, inst hypervisor.Instance, hard bool) error {
	d.mu.Lock()
	if d.active == nil {
		d.active = map[string]int{}
	}
	d.active[inst.UUID]++
	d.all++
	if n := int32(d.active[inst.UUID]); n > d.maxSame.Load() {
		d.maxSame.Store(n)
	}
	if n := int32(d.all); n > d.maxAll.Load() {
		d.maxAll.Store(n)
	}
	d.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	d.mu.Lock()
	d.active[inst.UUID]--
	d.all--
	d.mu.Unlock()
	return d.Driver.Reboot(ctx, inst, hard)
}

func TestStoppingCutsABuildShort(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{Faults: fake.Faults{Delay: map[fake.Op]time.Duration{fake.OpSpawn: time.Minute}}})
	stop := e.start(e.options(d))
	errc := make(chan error, 1)
	go func() {
		_, err := e.call(rpc.BuildAndRun, uuid1, buildReq("cirros"))
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	stop()
	var re *rpc.Error
	if err := <-errc; !errors.As(err, &re) || re.Code != rpc.CodeUnavailable || !re.Retryable {
		t.Fatalf("build cut short by a stopping agent: %v, want unavailable and retryable", err)
	}
	u := e.waitUpdate("cut short build", taskDone(uuid1, rpc.BuildAndRun))
	if u.OK || u.Fault == nil || u.Fault.Code != rpc.CodeUnavailable {
		t.Errorf("update = %+v", u)
	}
	if d.Len() != 0 {
		t.Errorf("a guest is left after a cut short build")
	}
}

func TestBusyGuestAnswersBeforeTheDeadline(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	e.start(e.options(d))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	d.SetFaults(fake.Faults{Delay: map[fake.Op]time.Duration{fake.OpReboot: 3 * time.Second}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.mustCall(rpc.Reboot, uuid1, hypervisor.Running, func(r *rpc.Request) { r.Hard = true })
	}()
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err := e.client.Call(ctx, testHost, rpc.Request{Op: rpc.PowerOff, Instance: rpc.Instance{UUID: uuid1}})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeBusy || !re.Retryable {
		t.Errorf("power_off of a guest busy rebooting: %v, want busy", err)
	}
	<-done
	// Nothing happened, and no update says otherwise.
	e.noUpdate(300*time.Millisecond, "update of a request that gave up", taskDone(uuid1, rpc.PowerOff))
	e.mustCall(rpc.GetInfo, uuid1, hypervisor.Running)
}

// TestWithoutInstancesDir is the fake driver at scale: no files per
// guest, records in memory, re-adoption from the driver alone.
func TestWithoutInstancesDir(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	o := e.options(d)
	o.InstancesDir = ""
	stop := e.start(o)
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"), func(r *rpc.Request) {
		r.ConfigDrive = &rpc.ConfigDrive{Name: "vm1", Hostname: "vm1"}
	})
	e.mustCall(rpc.PowerOff, uuid1, hypervisor.Shutdown)
	e.mustCall(rpc.PowerOn, uuid1, hypervisor.Running)
	stop()
	if _, err := os.Stat(filepath.Join(e.dir, "instances")); !os.IsNotExist(err) {
		t.Errorf("instances directory made: %v", err)
	}
	drain(e.updates)
	e.start(o)
	u := e.waitUpdate("sync", func(u rpc.Update) bool { return u.UUID == uuid1 && u.Event == rpc.EventSync })
	if u.PowerState != hypervisor.Running {
		t.Errorf("re-adopted guest reported %d, want running", u.PowerState)
	}
	e.mustCall(rpc.PowerOff, uuid1, hypervisor.Shutdown)
	e.mustCall(rpc.Destroy, uuid1, hypervisor.NoState)
}
