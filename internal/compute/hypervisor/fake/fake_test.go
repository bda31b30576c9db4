package fake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/hypervisortest"
)

func newInstance(t *testing.T) hypervisor.Instance {
	id := uuid.NewString()
	return hypervisor.Instance{
		UUID:     id,
		Name:     "instance-" + id[:8],
		VCPUs:    2,
		MemoryMB: 64,
		RootGB:   1,
		Dir:      t.TempDir(),
	}
}

var suiteOptions = hypervisortest.Options{
	Parallel:      64,
	ConsoleMarker: func(inst hypervisor.Instance) string { return fake.Marker(inst.UUID) },
	Crash: func(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance) {
		if err := d.(*fake.Driver).Crash(inst.UUID); err != nil {
			t.Fatalf("Crash(%s) = %v", inst.UUID, err)
		}
	},
}

func TestConformance(t *testing.T) {
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver {
		return fake.New(fake.Config{})
	}, newInstance, suiteOptions)
}

// With every operation slow, the suite must wait rather than read once.
func TestConformanceSlow(t *testing.T) {
	delay := map[fake.Op]time.Duration{}
	for _, op := range []fake.Op{fake.OpSpawn, fake.OpDestroy, fake.OpPowerOff, fake.OpPowerOn,
		fake.OpReboot, fake.OpPause, fake.OpUnpause, fake.OpSuspend, fake.OpResume,
		fake.OpConsoleOutput, fake.OpSnapshot} {
		delay[op] = 5 * time.Millisecond
	}
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver {
		return fake.New(fake.Config{Faults: fake.Faults{Delay: delay}})
	}, newInstance, suiteOptions)
}

func spawn(t *testing.T, d *fake.Driver) hypervisor.Instance {
	t.Helper()
	inst := newInstance(t)
	if err := d.Spawn(t.Context(), inst); err != nil {
		t.Fatalf("Spawn = %v", err)
	}
	return inst
}

func state(t *testing.T, d *fake.Driver, inst hypervisor.Instance) hypervisor.PowerState {
	t.Helper()
	info, err := d.Info(t.Context(), inst)
	if err != nil {
		t.Fatalf("Info(%s) = %v", inst.UUID, err)
	}
	return info.State
}

func TestHost(t *testing.T) {
	got, err := fake.New(fake.Config{Host: hypervisor.Host{Hostname: "fake-0042", VCPUs: 16, MemoryMB: 32768, DiskGB: 100}}).Host(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "fake-0042" || got.VCPUs != 16 || got.MemoryMB != 32768 || got.DiskGB != 100 || got.Type != "fake" {
		t.Errorf("Host() = %+v, want the configured host of type fake", got)
	}
	var cpu struct {
		Arch     string
		Topology struct{ Cores int }
	}
	if err := json.Unmarshal([]byte(got.CPUInfo), &cpu); err != nil || cpu.Arch != "x86_64" || cpu.Topology.Cores != 16 {
		t.Errorf("Host().CPUInfo = %s (%v), want JSON with arch x86_64 and 16 cores", got.CPUInfo, err)
	}

	def, _ := fake.New(fake.Config{}).Host(t.Context())
	if def.Hostname == "" || def.VCPUs != 1000 || def.MemoryMB != 800000 || def.DiskGB != 600000 || def.Version != 1000 {
		t.Errorf("default Host() = %+v, want Nova's fake driver's sizes and a hostname", def)
	}
}

func TestCrashSendsEvent(t *testing.T) {
	d := fake.New(fake.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ev1, ev2 := d.Events(ctx), d.Events(ctx)
	stopped, crashed, bystander := spawn(t, d), spawn(t, d), spawn(t, d)

	// A requested power-off is not an event: the first event each
	// subscriber sees is the crash that follows it.
	if err := d.PowerOff(t.Context(), stopped, 0); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if err := d.Crash(crashed.UUID); err != nil {
		t.Fatalf("Crash = %v", err)
	}
	for i, events := range []<-chan hypervisor.Event{ev1, ev2} {
		select {
		case ev := <-events:
			if ev.UUID != crashed.UUID || ev.State != hypervisor.Shutdown || ev.At.Before(before) {
				t.Errorf("subscriber %d got %+v, want %s shut down at or after %v", i, ev, crashed.UUID, before)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("subscriber %d got no event", i)
		}
	}
	if s := state(t, d, crashed); s != hypervisor.Shutdown {
		t.Errorf("crashed guest state = %d, want Shutdown", s)
	}
	if s := state(t, d, bystander); s != hypervisor.Running {
		t.Errorf("bystander state = %d, want Running", s)
	}
	out, _ := d.ConsoleOutput(t.Context(), crashed, 0)
	if !bytes.HasSuffix(out, []byte("reboot: Power down\n")) {
		t.Errorf("console of a crashed guest ends %q, want the power-down line", out[max(0, len(out)-40):])
	}
	if err := d.Crash(crashed.UUID); !errors.Is(err, fake.ErrState) {
		t.Errorf("Crash(a stopped guest) = %v, want ErrState", err)
	}
	if err := d.Crash(uuid.NewString()); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Crash(unknown) = %v, want ErrNotFound", err)
	}

	// Crashes are queued, not dropped, while nobody reads.
	for _, inst := range []hypervisor.Instance{stopped, crashed, bystander} {
		if err := d.PowerOn(t.Context(), inst); err != nil {
			t.Fatal(err)
		}
		if err := d.Crash(inst.UUID); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{stopped.UUID, crashed.UUID, bystander.UUID} {
		select {
		case ev := <-ev1:
			if ev.UUID != want {
				t.Errorf("queued event for %s, want %s", ev.UUID, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no queued event for %s", want)
		}
	}
}

func TestFailSpawn(t *testing.T) {
	boom := errors.New("no space left on fake device")
	var bad atomic.Value
	bad.Store("")
	d := fake.New(fake.Config{Faults: fake.Faults{FailSpawn: func(inst hypervisor.Instance) error {
		if inst.UUID == bad.Load() {
			return boom
		}
		return nil
	}}})
	inst := newInstance(t)
	bad.Store(inst.UUID)
	if err := d.Spawn(t.Context(), inst); !errors.Is(err, boom) {
		t.Fatalf("Spawn = %v, want the injected error", err)
	}
	if _, err := d.Info(t.Context(), inst); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Info after a failed spawn = %v, want ErrNotFound", err)
	}
	if running, _ := d.Running(t.Context()); len(running) != 0 || d.Len() != 0 {
		t.Errorf("after a failed spawn Running() = %v, Len() = %d; want nothing", running, d.Len())
	}
	other := spawn(t, d)
	if s := state(t, d, other); s != hypervisor.Running {
		t.Errorf("other guest state = %d, want Running", s)
	}

	// Faults can be lifted while the driver is in use.
	d.SetFaults(fake.Faults{})
	if err := d.Spawn(t.Context(), inst); err != nil {
		t.Fatalf("Spawn after the fault was lifted = %v", err)
	}
}

func TestFailOperation(t *testing.T) {
	d := fake.New(fake.Config{})
	inst := spawn(t, d)
	boom := errors.New("qmp: connection reset")
	d.SetFaults(fake.Faults{Fail: func(op fake.Op, _ hypervisor.Instance) error {
		if op == fake.OpPause {
			return boom
		}
		return nil
	}})
	if err := d.Pause(t.Context(), inst); !errors.Is(err, boom) {
		t.Fatalf("Pause = %v, want the injected error", err)
	}
	if s := state(t, d, inst); s != hypervisor.Running {
		t.Errorf("state after a failed pause = %d, want Running (unchanged)", s)
	}
	if err := d.Suspend(t.Context(), inst); err != nil {
		t.Errorf("Suspend = %v; only pause was to fail", err)
	}
}

func TestDelayCancelled(t *testing.T) {
	d := fake.New(fake.Config{Faults: fake.Faults{Delay: map[fake.Op]time.Duration{fake.OpSpawn: time.Hour}}})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	inst := newInstance(t)
	if err := d.Spawn(ctx, inst); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Spawn with a 1h delay and a 20ms deadline = %v, want DeadlineExceeded", err)
	}
	if d.Len() != 0 {
		t.Errorf("a cancelled spawn left %d guests", d.Len())
	}
}

func TestStateRules(t *testing.T) {
	d := fake.New(fake.Config{})
	inst := spawn(t, d)
	ctx := t.Context()
	steps := []struct {
		name    string
		do      func() error
		wantErr error
		want    hypervisor.PowerState
	}{
		{"spawn twice", func() error { return d.Spawn(ctx, inst) }, fake.ErrState, hypervisor.Running},
		{"unpause running", func() error { return d.Unpause(ctx, inst) }, fake.ErrState, hypervisor.Running},
		{"resume running", func() error { return d.Resume(ctx, inst) }, fake.ErrState, hypervisor.Running},
		{"pause", func() error { return d.Pause(ctx, inst) }, nil, hypervisor.Paused},
		{"soft reboot paused", func() error { return d.Reboot(ctx, inst, false) }, fake.ErrState, hypervisor.Paused},
		{"suspend paused", func() error { return d.Suspend(ctx, inst) }, fake.ErrState, hypervisor.Paused},
		{"hard reboot paused", func() error { return d.Reboot(ctx, inst, true) }, nil, hypervisor.Running},
		{"power off", func() error { return d.PowerOff(ctx, inst, time.Minute) }, nil, hypervisor.Shutdown},
		{"power off again", func() error { return d.PowerOff(ctx, inst, 0) }, nil, hypervisor.Shutdown},
		{"pause stopped", func() error { return d.Pause(ctx, inst) }, fake.ErrState, hypervisor.Shutdown},
		{"hard reboot stopped", func() error { return d.Reboot(ctx, inst, true) }, nil, hypervisor.Running},
		{"suspend", func() error { return d.Suspend(ctx, inst) }, nil, hypervisor.Suspended},
		{"power on suspended", func() error { return d.PowerOn(ctx, inst) }, nil, hypervisor.Running},
	}
	for _, s := range steps {
		err := s.do()
		if s.wantErr == nil && err != nil || s.wantErr != nil && !errors.Is(err, s.wantErr) {
			t.Errorf("%s: err = %v, want %v", s.name, err, s.wantErr)
		}
		if got := state(t, d, inst); got != s.want {
			t.Errorf("%s: state = %d, want %d", s.name, got, s.want)
		}
	}
}

func TestConsoleOutput(t *testing.T) {
	d := fake.New(fake.Config{})
	inst := hypervisor.Instance{UUID: "5b1c1c1e-0d1f-4d7e-9a55-3f0f2f7f0a01", VCPUs: 2, MemoryMB: 64}
	if err := d.Spawn(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	boot := `[    0.000000] Linux version 6.1.0-nimbus-fake (fake hypervisor) #%d
[    0.000000] Command line: console=ttyS0
[    0.000000] Memory: 65536K available, 2 CPUs
[    0.100000] Run /init as init process
nimbus-guest: instance 5b1c1c1e-0d1f-4d7e-9a55-3f0f2f7f0a01 key none
`
	console := func() string {
		out, err := d.ConsoleOutput(t.Context(), inst, 0)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if diff := cmp.Diff(fmt.Sprintf(boot, 1), console()); diff != "" {
		t.Errorf("console after spawn (-want +got):\n%s", diff)
	}
	if err := d.Reboot(t.Context(), inst, false); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOff(t.Context(), inst, 0); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(boot, 1) + fmt.Sprintf(boot, 2) + "reboot: Power down\n"
	if diff := cmp.Diff(want, console()); diff != "" {
		t.Errorf("console after a reboot and a power-off (-want +got):\n%s", diff)
	}
	// Pause and resume are no new boot.
	for _, op := range []func(context.Context, hypervisor.Instance) error{d.PowerOn, d.Pause, d.Unpause, d.Suspend, d.Resume} {
		if err := op(t.Context(), inst); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Count(console(), "nimbus-guest: instance"); got != 3 {
		t.Errorf("console shows %d boots, want 3", got)
	}
	// A long history keeps only the last boots, as a rotated log.
	for range 200 {
		if err := d.Reboot(t.Context(), inst, true); err != nil {
			t.Fatal(err)
		}
	}
	out := console()
	if got := strings.Count(out, "nimbus-guest: instance"); got != 64 {
		t.Errorf("console after 203 boots shows %d, want the last 64", got)
	}
	if !strings.Contains(out, ") #203\n") {
		t.Errorf("console after 203 boots lacks boot #203")
	}
}

func TestSnapshotImagesQemuImgAccepts(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("qemu-img not installed (Debian package qemu-utils)")
	}
	d := fake.New(fake.Config{})
	inst := spawn(t, d)
	for _, format := range []string{"raw", "qcow2"} {
		path := filepath.Join(t.TempDir(), "snap")
		if err := d.Snapshot(t.Context(), inst, path, format); err != nil {
			t.Fatalf("Snapshot(%s) = %v", format, err)
		}
		out, err := exec.Command(qemuImg, "info", "--output=json", path).Output()
		if err != nil {
			t.Fatalf("qemu-img info %s: %v", format, err)
		}
		var info struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
		}
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("qemu-img info: %v: %s", err, out)
		}
		if info.Format != format || info.VirtualSize != fake.SnapshotSize {
			t.Errorf("qemu-img info of the %s snapshot: %s, %d bytes; want %s, %d", format, info.Format, info.VirtualSize, format, fake.SnapshotSize)
		}
		if format == "qcow2" {
			if out, err := exec.Command(qemuImg, "check", "-f", "qcow2", path).CombinedOutput(); err != nil {
				t.Errorf("qemu-img check: %v\n%s", err, out)
			}
		}
	}
	dir := t.TempDir()
	if err := d.Snapshot(t.Context(), inst, filepath.Join(dir, "snap"), "vmdk"); err == nil {
		t.Error("Snapshot(vmdk) succeeded; the fake writes raw and qcow2 only")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed snapshot left %d files", len(entries))
	}
}

func TestCPUTime(t *testing.T) {
	d := fake.New(fake.Config{})
	inst := spawn(t, d)
	cpu := func() time.Duration {
		info, err := d.Info(t.Context(), inst)
		if err != nil {
			t.Fatal(err)
		}
		return info.CPUTime
	}
	time.Sleep(2 * time.Millisecond)
	if err := d.Pause(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	paused := cpu()
	if paused < 2*time.Millisecond {
		t.Errorf("CPUTime after 2ms running = %v", paused)
	}
	time.Sleep(2 * time.Millisecond)
	if got := cpu(); got != paused {
		t.Errorf("CPUTime moved from %v to %v while paused", paused, got)
	}
	if err := d.Unpause(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	if got := cpu(); got <= paused {
		t.Errorf("CPUTime stayed %v after unpause", got)
	}
}

// hosts builds n fake hosts and m instances spread over them.
func hosts(n, m int) ([]*fake.Driver, []hypervisor.Instance) {
	ds := make([]*fake.Driver, n)
	for i := range ds {
		ds[i] = fake.New(fake.Config{Host: hypervisor.Host{Hostname: fmt.Sprintf("fake-%04d", i)}})
	}
	insts := make([]hypervisor.Instance, m)
	for i := range insts {
		insts[i] = hypervisor.Instance{UUID: uuid.NewString(), VCPUs: 1, MemoryMB: 64, RootGB: 1}
	}
	return ds, insts
}

// 10,000 guests on 1,000 hosts: small, and no goroutine per guest or host.
func TestTenThousandGuests(t *testing.T) {
	ds, insts := hosts(1000, 10000)
	goroutines := runtime.NumGoroutine()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, inst := range insts {
		if err := ds[i%len(ds)].Spawn(t.Context(), inst); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perGuest := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(len(insts))
	t.Logf("%d bytes of heap per fake guest (heap %d -> %d)", perGuest, before.HeapAlloc, after.HeapAlloc)
	if perGuest > 512 {
		t.Errorf("%d bytes of heap per fake guest, want at most 512", perGuest)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after 10,000 spawns, %d before", n, goroutines)
	}
	total := 0
	for _, d := range ds {
		running, err := d.Running(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(running) != 10 {
			t.Fatalf("%d guests running on a host, want 10", len(running))
		}
		total += len(running)
	}
	if total != len(insts) {
		t.Errorf("%d guests running, want %d", total, len(insts))
	}
	runtime.KeepAlive(ds)
	runtime.KeepAlive(insts)
}

// BenchmarkSpawn10k spawns 10,000 guests on 1,000 fresh hosts, from as
// many goroutines as GOMAXPROCS, per iteration.
func BenchmarkSpawn10k(b *testing.B) {
	_, insts := hosts(0, 10000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		ds, _ := hosts(1000, 0)
		b.StartTimer()
		var next atomic.Int64
		done := make(chan error)
		for range runtime.GOMAXPROCS(0) {
			go func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= len(insts) {
						done <- nil
						return
					}
					if err := ds[i%len(ds)].Spawn(ctx, insts[i]); err != nil {
						done <- err
						return
					}
				}
			}()
		}
		for range runtime.GOMAXPROCS(0) {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(insts))/b.Elapsed().Seconds(), "guests/s")
}

// BenchmarkInfo reads the state of guests of a 10,000-guest host in parallel.
func BenchmarkInfo(b *testing.B) {
	ds, insts := hosts(1, 10000)
	for _, inst := range insts {
		if err := ds[0].Spawn(context.Background(), inst); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ds[0].Info(context.Background(), insts[int(n.Add(1))%len(insts)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestConsoleBanners(t *testing.T) {
	d := fake.New(fake.Config{})
	t.Cleanup(func() { d.Close() })
	inst := spawn(t, d)
	addr, err := d.VNCAddr(t.Context(), inst)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := d.VNCAddr(t.Context(), inst); again != addr {
		t.Errorf("VNCAddr twice: %s then %s, want one listener per guest", addr, again)
	}
	for _, tc := range []struct {
		name       string
		dial       func() (net.Conn, error)
		banner     string
		send, back string // what the client sends after the banner, and what comes back
	}{
		// RFB: the client's version, then the server's security types
		// (one: None).
		{"vnc", func() (net.Conn, error) { return net.Dial("tcp", addr) }, fake.VNCBanner, fake.VNCBanner, "\x01\x01"},
		{"serial", func() (net.Conn, error) { return d.DialSerial(t.Context(), inst) }, fake.SerialBanner(inst.UUID), "hello", "hello"},
	} {
		c, err := tc.dial()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		want := tc.banner + tc.back
		go c.Write([]byte(tc.send))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Errorf("%s read %q, %v; want %q", tc.name, got, err, want)
		}
		c.Close()
	}
	if err := d.Destroy(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("VNC listener of a destroyed guest still accepts")
	}
}

func TestResizeRootDisk(t *testing.T) {
	d := fake.New(fake.Config{})
	inst := spawn(t, d) // 1 GB
	if err := d.PowerOff(t.Context(), inst, 0); err != nil {
		t.Fatal(err)
	}
	same := inst
	same.RootGB = 0 // keeps the disk
	if err := d.Resize(t.Context(), same); err != nil || d.RootGB(inst.UUID) != 1 {
		t.Errorf("Resize to disk 0 = %v, root %d GB; want nil, 1", err, d.RootGB(inst.UUID))
	}
	big := inst
	big.RootGB = 5
	if err := d.Resize(t.Context(), big); err != nil || d.RootGB(inst.UUID) != 5 {
		t.Errorf("Resize to 5 GB = %v, root %d GB", err, d.RootGB(inst.UUID))
	}
	if err := d.RevertResize(t.Context(), inst); err != nil || d.RootGB(inst.UUID) != 1 {
		t.Errorf("RevertResize = %v, root %d GB; want the first flavor's 1 GB", err, d.RootGB(inst.UUID))
	}
	if err := d.PowerOn(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	if err := d.Rescue(t.Context(), inst, "img", "raw"); err != nil || !d.Rescued(inst.UUID) {
		t.Errorf("Rescue = %v, rescued %v", err, d.Rescued(inst.UUID))
	}
	if err := d.Suspend(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	if err := d.Unrescue(t.Context(), inst); err != nil || d.Rescued(inst.UUID) {
		t.Errorf("Unrescue = %v, rescued %v", err, d.Rescued(inst.UUID))
	}
}
