package qemu

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

func TestProbeKVM(t *testing.T) {
	needQEMU(t)
	start := time.Now()
	d, err := New(Options{InstancesDir: testDirs(t), Log: testLogger(t)})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer d.Close()
	t.Logf("probe chose %s in %v", d.Accel(), time.Since(start))
	switch d.Accel() {
	case "kvm":
		if _, err := os.Stat("/dev/kvm"); err != nil {
			t.Errorf("Accel() = kvm without /dev/kvm: %v", err)
		}
	case "tcg":
	default:
		t.Errorf("Accel() = %q, want kvm or tcg", d.Accel())
	}
	h, err := d.Host(testCtx(t))
	if err != nil {
		t.Fatalf("Host() = %v", err)
	}
	if h.Accel != d.Accel() || h.Type != "QEMU" || h.Version < 1000000 || h.VCPUs < 1 || h.MemoryMB < 1 || h.DiskGB < 1 {
		t.Errorf("Host() = %+v", h)
	}
	var ci struct {
		Arch     string
		Features []string
	}
	if err := json.Unmarshal([]byte(h.CPUInfo), &ci); err != nil || ci.Arch != "x86_64" {
		t.Errorf("Host().CPUInfo = %s (%v), want Nova's cpu_info JSON", h.CPUInfo, err)
	}
}

func TestHostBeforeFirstGuest(t *testing.T) {
	d := newTestDriver(t, filepath.Join(testDirs(t), "not", "yet"))
	h, err := d.Host(testCtx(t))
	if err != nil || h.DiskGB < 1 || h.Accel != "tcg" {
		t.Errorf("Host() = %+v, %v; want the disk of the file system to be", h, err)
	}
}

func TestUnknownAccel(t *testing.T) {
	needQEMU(t)
	if _, err := New(Options{Accel: "hvf"}); err == nil {
		t.Error("New(Accel: hvf) succeeded")
	}
}

// TestPowerCycle walks a guest that honours ACPI through every power
// action and checks each against what the guest itself printed.
func TestPowerCycle(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, dirs, "guest.raw", false), "raw")
	events := d.Events(t.Context())

	start := time.Now()
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	spawned := time.Since(start)
	wantState(t, d, inst, hypervisor.Running)
	booted := spawned + waitBoots(t, d, inst, 1)
	t.Logf("Spawn returned after %v (Running); the guest printed its boot line after %v", spawned, booted)
	info, err := d.Info(testCtx(t), inst)
	if err != nil || info.VCPUs != 1 || info.MemoryMB != 64 {
		t.Errorf("Info() = %+v, %v; want 1 vCPU, 64 MB", info, err)
	}
	for _, f := range []string{diskFile, pidFile, qmpSock, serialSock, consoleLog} {
		if _, err := os.Stat(filepath.Join(inst.Dir, f)); err != nil {
			t.Errorf("guest directory lacks %s: %v", f, err)
		}
	}
	if got, _ := d.Running(testCtx(t)); !slices.Equal(got, []string{inst.UUID}) {
		t.Errorf("Running() = %v, want [%s]", got, inst.UUID)
	}

	// Back to back, so that the watcher sees each event after the next
	// action began: still none of them is reported.
	for range 10 {
		if err := d.Pause(testCtx(t), inst); err != nil {
			t.Fatalf("Pause() = %v", err)
		}
		wantState(t, d, inst, hypervisor.Paused)
		if err := d.Unpause(testCtx(t), inst); err != nil {
			t.Fatalf("Unpause() = %v", err)
		}
		wantState(t, d, inst, hypervisor.Running)
	}

	// The guest answers the power button: it prints so and powers off
	// long before the timeout.
	start = time.Now()
	if err := d.PowerOff(testCtx(t), inst, 20*time.Second); err != nil {
		t.Fatalf("PowerOff() = %v", err)
	}
	t.Logf("ACPI PowerOff took %v", time.Since(start))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("PowerOff of a guest honouring ACPI took %v", took)
	}
	if !strings.Contains(console(t, d, inst), acpiLine) {
		t.Errorf("console lacks %q after PowerOff:\n%s", acpiLine, console(t, d, inst))
	}
	wantState(t, d, inst, hypervisor.Shutdown)
	if got, _ := d.Running(testCtx(t)); len(got) != 0 {
		t.Errorf("Running() = %v after PowerOff", got)
	}
	if err := d.Pause(testCtx(t), inst); err == nil || errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Pause() of a stopped guest = %v, want a not-running error", err)
	}
	if err := d.PowerOff(testCtx(t), inst, 0); err != nil {
		t.Errorf("PowerOff() of a stopped guest = %v, want nil", err)
	}

	start = time.Now()
	if err := d.PowerOn(testCtx(t), inst); err != nil {
		t.Fatalf("PowerOn() = %v", err)
	}
	t.Logf("PowerOn took %v", time.Since(start))
	wantState(t, d, inst, hypervisor.Running)
	waitBoots(t, d, inst, 2) // the log is kept across starts

	if err := d.Reboot(testCtx(t), inst, true); err != nil {
		t.Fatalf("Reboot(hard) = %v", err)
	}
	waitBoots(t, d, inst, 3)
	wantState(t, d, inst, hypervisor.Running)

	// A hard reboot of a paused guest lets it run again.
	if err := d.Pause(testCtx(t), inst); err != nil {
		t.Fatalf("Pause() = %v", err)
	}
	if err := d.Reboot(testCtx(t), inst, true); err != nil {
		t.Fatalf("Reboot(hard) of a paused guest = %v", err)
	}
	waitBoots(t, d, inst, 4)
	wantState(t, d, inst, hypervisor.Running)

	// Soft: the guest shuts down through ACPI and is started again.
	pid := livePid(inst.Dir, inst.UUID)
	if err := d.Reboot(testCtx(t), inst, false); err != nil {
		t.Fatalf("Reboot(soft) = %v", err)
	}
	waitBoots(t, d, inst, 5)
	if got := strings.Count(console(t, d, inst), acpiLine); got != 2 {
		t.Errorf("console shows %d ACPI shutdowns after a soft reboot, want 2", got)
	}
	if livePid(inst.Dir, inst.UUID) == pid {
		t.Errorf("soft reboot kept QEMU %d", pid)
	}
	wantState(t, d, inst, hypervisor.Running)

	// Everything above was asked for: no events.
	select {
	case e := <-events:
		t.Errorf("Event %+v for a requested change", e)
	default:
	}

	if err := d.Destroy(testCtx(t), inst); err != nil {
		t.Fatalf("Destroy() = %v", err)
	}
	if _, err := os.Stat(inst.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("guest directory after Destroy: %v", err)
	}
	if _, err := d.Info(testCtx(t), inst); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Info() after Destroy = %v, want ErrNotFound", err)
	}
	if procAlive(pid, inst.UUID) {
		t.Error("QEMU still runs after Destroy")
	}
}

// TestForcedPowerOff: a guest with no OS ignores the power button; after
// the timeout it is forced off all the same.
func TestForcedPowerOff(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, blankImage(t, dirs, "64M"), "qcow2")
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	wantState(t, d, inst, hypervisor.Running)
	start := time.Now()
	if err := d.PowerOff(testCtx(t), inst, time.Second); err != nil {
		t.Fatalf("PowerOff(1s) = %v", err)
	}
	took := time.Since(start)
	if took < time.Second || took > 8*time.Second {
		t.Errorf("PowerOff(1s) of a guest ignoring ACPI took %v, want the timeout and a quick forced stop", took)
	}
	wantState(t, d, inst, hypervisor.Shutdown)

	if err := d.PowerOn(testCtx(t), inst); err != nil {
		t.Fatalf("PowerOn() = %v", err)
	}
	wantState(t, d, inst, hypervisor.Running)
	start = time.Now()
	if err := d.PowerOff(testCtx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(0) = %v", err)
	}
	t.Logf("PowerOff(0) took %v", time.Since(start))
	wantState(t, d, inst, hypervisor.Shutdown)
}

// TestGuestPowersItselfOff: the guest shuts down on its own; the driver
// says so on Events and in Info.
func TestGuestPowersItselfOff(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, dirs, "off.raw", true), "raw")
	events := d.Events(t.Context())
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	select {
	case e := <-events:
		if e.UUID != inst.UUID || e.State != hypervisor.Shutdown || e.At.IsZero() {
			t.Errorf("Event = %+v, want %s shut down", e, inst.UUID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no Event for a guest that powered itself off")
	}
	wantState(t, d, inst, hypervisor.Shutdown)
	if !strings.Contains(console(t, d, inst), bootedLine) {
		t.Error("console lacks the boot line")
	}
}

// TestPausedBehindTheDriversBack: QEMU stopping the guest by itself (as
// on an I/O error; here a stop sent on the driver's own monitor
// connection, bypassing its bookkeeping) is reported, and so is the
// guest running again.
func TestPausedBehindTheDriversBack(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, dirs, "guest.raw", false), "raw")
	events := d.Events(t.Context())
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	p, err := d.lookup(testCtx(t), inst.UUID, inst.Dir)
	if err != nil || p == nil {
		t.Fatalf("lookup() = %v, %v", p, err)
	}
	for _, c := range []struct {
		cmd  string
		want hypervisor.PowerState
	}{{"stop", hypervisor.Paused}, {"cont", hypervisor.Running}} {
		if err := p.mon.run(testCtx(t), nil, c.cmd, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-events:
			if e.UUID != inst.UUID || e.State != c.want {
				t.Errorf("Event after %s = %+v, want state %d", c.cmd, e, c.want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no Event after an unrequested %s", c.cmd)
		}
		wantState(t, d, inst, c.want)
	}
}

// TestKilledQEMU: kill -9 under a running guest makes it Shutdown, with
// an event, and PowerOn brings it back.
func TestKilledQEMU(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	base := writeImage(t, dirs, "guest.raw", false)
	inst := newInstance(t, d, base, "raw")
	other := newInstance(t, d, base, "raw")
	events := d.Events(t.Context())
	for _, i := range []hypervisor.Instance{inst, other} {
		if err := d.Spawn(testCtx(t), i); err != nil {
			t.Fatalf("Spawn() = %v", err)
		}
	}
	waitBoots(t, d, inst, 1)
	pid := livePid(inst.Dir, inst.UUID)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case e := <-events:
		if e.UUID != inst.UUID || e.State != hypervisor.Shutdown {
			t.Errorf("Event = %+v, want %s shut down", e, inst.UUID)
		}
		t.Logf("event %v after kill -9", time.Since(start))
	case <-time.After(30 * time.Second):
		t.Fatal("no Event after kill -9 of QEMU")
	}
	wantState(t, d, inst, hypervisor.Shutdown)
	wantState(t, d, other, hypervisor.Running)
	if got, _ := d.Running(testCtx(t)); !slices.Equal(got, []string{other.UUID}) {
		t.Errorf("Running() = %v, want only %s", got, other.UUID)
	}
	// The pid file outlives a killed QEMU; a stale one must not fool the
	// driver, even when the pid is taken by another process.
	if _, err := os.Stat(filepath.Join(inst.Dir, pidFile)); err != nil {
		t.Logf("pid file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(inst.Dir, pidFile), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantState(t, d, inst, hypervisor.Shutdown)

	if err := d.PowerOn(testCtx(t), inst); err != nil {
		t.Fatalf("PowerOn() after kill -9 = %v", err)
	}
	wantState(t, d, inst, hypervisor.Running)
	waitBoots(t, d, inst, 2)
}

// TestAgentRestart: a second Driver, as a restarted agent, finds the
// guests the first left running, without restarting them, and drives
// them.
func TestAgentRestart(t *testing.T) {
	dirs := testDirs(t)
	d1 := newTestDriver(t, dirs)
	base := writeImage(t, dirs, "guest.raw", false)
	inst := newInstance(t, d1, base, "raw")
	paused := newInstance(t, d1, base, "raw")
	for _, i := range []hypervisor.Instance{inst, paused} {
		if err := d1.Spawn(testCtx(t), i); err != nil {
			t.Fatalf("Spawn() = %v", err)
		}
		waitBoots(t, d1, i, 1)
	}
	if err := d1.Pause(testCtx(t), paused); err != nil {
		t.Fatal(err)
	}
	pid := livePid(inst.Dir, inst.UUID)
	d1.Close()

	d2 := newTestDriver(t, dirs)
	events := d2.Events(t.Context())
	got, err := d2.Running(testCtx(t))
	if err != nil {
		t.Fatalf("Running() = %v", err)
	}
	slices.Sort(got)
	want := []string{inst.UUID, paused.UUID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Running() after restart = %v, want %v", got, want)
	}
	wantState(t, d2, inst, hypervisor.Running)
	wantState(t, d2, paused, hypervisor.Paused)
	if p := livePid(inst.Dir, inst.UUID); p != pid {
		t.Errorf("QEMU pid %d became %d: the guest was restarted", pid, p)
	}
	if n := strings.Count(console(t, d2, inst), bootedLine); n != 1 {
		t.Errorf("console shows %d boots, want 1", n)
	}
	// The new driver watches the guests it took over.
	syscall.Kill(livePid(paused.Dir, paused.UUID), syscall.SIGKILL)
	select {
	case e := <-events:
		if e.UUID != paused.UUID || e.State != hypervisor.Shutdown {
			t.Errorf("Event = %+v, want %s shut down", e, paused.UUID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no Event for a taken-over guest killed")
	}
	if err := d2.PowerOff(testCtx(t), inst, 20*time.Second); err != nil {
		t.Fatalf("PowerOff() by the new driver = %v", err)
	}
	wantState(t, d2, inst, hypervisor.Shutdown)
	if !strings.Contains(console(t, d2, inst), acpiLine) {
		t.Error("the taken-over guest did not get the ACPI power button")
	}
}

func TestSuspendResume(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, dirs, "guest.raw", false), "raw")
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	waitBoots(t, d, inst, 1)
	start := time.Now()
	if err := d.Suspend(testCtx(t), inst); err != nil {
		t.Fatalf("Suspend() = %v", err)
	}
	t.Logf("Suspend took %v", time.Since(start))
	wantState(t, d, inst, hypervisor.Suspended)
	st, err := os.Stat(filepath.Join(inst.Dir, stateFile))
	if err != nil || st.Size() < 100<<10 {
		t.Fatalf("saved memory: %v (%d bytes)", err, st.Size())
	}
	if got, _ := d.Running(testCtx(t)); len(got) != 0 {
		t.Errorf("Running() = %v with the guest suspended", got)
	}
	start = time.Now()
	if err := d.Resume(testCtx(t), inst); err != nil {
		t.Fatalf("Resume() = %v", err)
	}
	t.Logf("Resume took %v", time.Since(start))
	wantState(t, d, inst, hypervisor.Running)
	if _, err := os.Stat(filepath.Join(inst.Dir, stateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("saved memory left after Resume: %v", err)
	}
	// Restored, not rebooted: one boot on the console, and the guest's
	// loop still waits for the power button.
	if err := d.PowerOff(testCtx(t), inst, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	out := console(t, d, inst)
	if strings.Count(out, bootedLine) != 1 || !strings.Contains(out, acpiLine) {
		t.Errorf("console after suspend, resume, ACPI power off:\n%s", out)
	}
	if err := d.Resume(testCtx(t), inst); err == nil {
		t.Error("Resume() of a stopped guest that was not suspended succeeded")
	}
}

func TestSnapshot(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	base := writeImage(t, dirs, "guest.raw", false)
	inst := newInstance(t, d, base, "raw")
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	waitBoots(t, d, inst, 1)
	out := t.TempDir()
	check := func(path, format string) {
		t.Helper()
		b, err := exec.Command("qemu-img", "info", "--output=json", "-f", format, path).Output()
		if err != nil {
			t.Fatalf("qemu-img info %s: %v", path, err)
		}
		var ii imageInfo
		json.Unmarshal(b, &ii)
		if ii.Format != format || ii.VirtualSize != 1<<30 || ii.BackingFile != "" {
			t.Errorf("snapshot %s: %+v, want standalone %s of 1 GiB", path, ii, format)
		}
		raw := filepath.Join(out, "check.raw")
		if b, err := exec.Command("qemu-img", "convert", "-f", format, "-O", "raw", path, raw).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert: %v: %s", err, b)
		}
		if got, want := readFileHead(t, raw, 512), bootSector(false)[:512]; string(got) != string(want) {
			t.Errorf("snapshot %s does not hold the guest's boot sector", path)
		}
	}
	for _, format := range []string{"qcow2", "raw"} {
		path := filepath.Join(out, "snap."+format)
		start := time.Now()
		if err := d.Snapshot(testCtx(t), inst, path, format); err != nil {
			t.Fatalf("Snapshot(%s) of a running guest = %v", format, err)
		}
		t.Logf("live snapshot to %s took %v", format, time.Since(start))
		check(path, format)
		wantState(t, d, inst, hypervisor.Running)
	}
	// A paused guest is copied as well, and stays paused.
	if err := d.Pause(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot(testCtx(t), inst, filepath.Join(out, "paused.qcow2"), "qcow2"); err != nil {
		t.Fatalf("Snapshot() of a paused guest = %v", err)
	}
	check(filepath.Join(out, "paused.qcow2"), "qcow2")
	wantState(t, d, inst, hypervisor.Paused)
	if err := d.Unpause(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	if err := d.Snapshot(testCtx(t), inst, filepath.Join(out, "x"), "vmdk"); err == nil {
		t.Error("Snapshot(vmdk) succeeded")
	}
	if err := d.PowerOff(testCtx(t), inst, 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, "stopped.qcow2")
	if err := d.Snapshot(testCtx(t), inst, path, "qcow2"); err != nil {
		t.Fatalf("Snapshot() of a stopped guest = %v", err)
	}
	check(path, "qcow2")
	wantState(t, d, inst, hypervisor.Shutdown)
	// The guest boots from its disk after all this.
	if err := d.PowerOn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	waitBoots(t, d, inst, 2)
}

func TestRootDiskTooSmall(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, blankImage(t, dirs, "2G"), "qcow2")
	inst.RootGB = 1
	err := d.Spawn(testCtx(t), inst)
	if err == nil || !strings.Contains(err.Error(), "Flavor's disk is too small for requested image") {
		t.Fatalf("Spawn(2 GiB image, 1 GiB root) = %v, want the disk too small", err)
	}
	if livePid(inst.Dir, inst.UUID) != 0 {
		t.Error("QEMU started all the same")
	}
	// RootGB 0 keeps the image's size.
	inst.RootGB = 0
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn(RootGB 0) = %v", err)
	}
	var ii imageInfo
	b, _ := exec.Command("qemu-img", "info", "-U", "--output=json", filepath.Join(inst.Dir, diskFile)).Output()
	json.Unmarshal(b, &ii)
	if ii.VirtualSize != 2<<30 {
		t.Errorf("disk of RootGB 0 is %d bytes, want the image's 2 GiB", ii.VirtualSize)
	}
	if err := d.Spawn(testCtx(t), inst); err == nil {
		t.Error("Spawn() of a running guest succeeded")
	}
}

func TestBadInstance(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	base := writeImage(t, dirs, "guest.raw", false)
	for name, mod := range map[string]func(*hypervisor.Instance){
		"relative dir":  func(i *hypervisor.Instance) { i.Dir = "guest" },
		"no memory":     func(i *hypervisor.Instance) { i.MemoryMB = 0 },
		"no format":     func(i *hypervisor.Instance) { i.BaseFormat = "" },
		"missing image": func(i *hypervisor.Instance) { i.BaseImage = filepath.Join(dirs, "nope") },
		"bad MAC":       func(i *hypervisor.Instance) { i.MACs, i.Taps = []string{"fa:16:3e:00:00:01,x=y"}, []string{"tap0"} },
	} {
		inst := newInstance(t, d, base, "raw")
		mod(&inst)
		if err := d.Spawn(testCtx(t), inst); err == nil {
			t.Errorf("Spawn(%s) succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestConsoleTail(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, dirs, "guest.raw", false), "raw")
	if _, err := d.ConsoleOutput(testCtx(t), inst, 0); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("ConsoleOutput() before Spawn = %v, want ErrNotFound", err)
	}
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	waitBoots(t, d, inst, 1)
	got, err := d.ConsoleOutput(testCtx(t), inst, 7)
	if err != nil || string(got) != "booted\r\n"[1:] {
		t.Errorf("ConsoleOutput(7) = %q, %v; want %q", got, err, "ooted\r\n")
	}
}

func TestVNC(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs, func(o *Options) { o.VNC = true })
	inst := newInstance(t, d, writeImage(t, dirs, "guest.raw", false), "raw")
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	addr, err := d.VNCAddr(testCtx(t), inst)
	if err != nil {
		t.Fatalf("VNCAddr() = %v", err)
	}
	host, _, _ := net.SplitHostPort(addr)
	if host != "127.0.0.1" {
		t.Errorf("VNCAddr() = %s, want 127.0.0.1", addr)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial VNC %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "RFB ") {
		t.Errorf("VNC greeting = %q, %v; want RFB", line, err)
	}
	if d.SerialSocket(inst) != filepath.Join(inst.Dir, "serial.sock") {
		t.Errorf("SerialSocket() = %s", d.SerialSocket(inst))
	}
}

// TestLongDir: guests in a directory whose sockets' paths are longer than
// a socket address holds.
func TestLongDir(t *testing.T) {
	dirs := filepath.Join(testDirs(t), strings.Repeat("long-", 30))
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, testDirs(t), "guest.raw", false), "raw")
	if len(d.SerialSocket(inst)) <= maxSocketPath {
		t.Fatalf("%s is not too long for a socket address", d.SerialSocket(inst))
	}
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	waitBoots(t, d, inst, 1)
	wantState(t, d, inst, hypervisor.Running)
	// The serial console: the guest's power-off line comes through it.
	c, err := d.DialSerial(testCtx(t), inst)
	if err != nil {
		t.Fatalf("DialSerial() = %v", err)
	}
	defer c.Close()
	if err := d.PowerOff(testCtx(t), inst, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if line != acpiLine {
		t.Errorf("serial console read %q, %v; want %q", line, err, acpiLine)
	}
	if got, _ := d.Running(testCtx(t)); len(got) != 0 {
		t.Errorf("Running() = %v", got)
	}
	// A new driver finds it there too.
	if err := d.PowerOn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d2 := newTestDriver(t, dirs)
	if got, _ := d2.Running(testCtx(t)); !slices.Equal(got, []string{inst.UUID}) {
		t.Errorf("Running() of a new driver = %v, want [%s]", got, inst.UUID)
	}
	wantState(t, d2, inst, hypervisor.Running)
	if err := d2.Destroy(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
}

// TestNICs attaches guests' NICs to tap devices made beforehand, as the
// network agent will; root only.
func TestNICs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making tap devices needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, dirs, "guest.raw", false), "raw")
	// Unique per run: tests of several packages may run at once.
	tap := "tapq" + inst.UUID[:8]
	if out, err := exec.Command("ip", "tuntap", "add", "dev", tap, "mode", "tap").CombinedOutput(); err != nil {
		t.Skipf("ip tuntap add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", tap).Run() })
	// Up, it has no carrier until a QEMU opens it.
	if out, err := exec.Command("ip", "link", "set", tap, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set up: %v: %s", err, out)
	}
	inst.MACs = []string{"fa:16:3e:12:34:56", "fa:16:3e:12:34:57"}
	inst.Taps = []string{"", tap} // the first has no network
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatalf("Spawn() = %v", err)
	}
	p, err := d.lookup(testCtx(t), inst.UUID, inst.Dir)
	if err != nil || p == nil {
		t.Fatalf("lookup() = %v, %v", p, err)
	}
	var filters []struct {
		Name    string `json:"name"`
		MainMAC string `json:"main-mac"`
	}
	if err := p.mon.run(testCtx(t), &filters, "query-rx-filter", nil); err != nil {
		t.Fatal(err)
	}
	if len(filters) != 1 || filters[0].MainMAC != "fa:16:3e:12:34:57" {
		t.Errorf("guest NICs = %+v, want one with MAC fa:16:3e:12:34:57", filters)
	}
	out, err := exec.Command("ip", "-o", "link", "show", tap).CombinedOutput()
	if err != nil || strings.Contains(string(out), "NO-CARRIER") {
		t.Errorf("tap %s with the guest running: %s %v; want carrier (QEMU attached)", tap, out, err)
	}
	if err := d.PowerOff(testCtx(t), inst, 0); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command("ip", "-o", "link", "show", tap).CombinedOutput()
	if !strings.Contains(string(out), "NO-CARRIER") {
		t.Errorf("tap %s after PowerOff: %s; want no carrier", tap, out)
	}
}
