// Package hypervisortest is the conformance suite of hypervisor.Driver:
// what the compute agent relies on, taken from the interface's doc
// comments, checked against a driver that really runs guests. Every driver,
// fake and qemu alike, calls Run from its tests.
//
// The suite is written for the slowest driver that must pass it, QEMU
// under TCG on a loaded two-core CI machine: waits are polls with generous
// deadlines, never fixed sleeps, so a fast driver finishes in milliseconds.
package hypervisortest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// Options tunes the suite to a driver. The zero value runs everything with
// the default limits.
type Options struct {
	// Timeout bounds each driver call and each wait for a power state;
	// 0 means 3 minutes.
	Timeout time.Duration
	// Parallel is how many guests the concurrency subtest spawns at once;
	// 0 means 8.
	Parallel int

	// A driver without an ability skips its subtests (they report the
	// reason) instead of failing them.
	SkipPause    bool
	SkipSuspend  bool
	SkipSnapshot bool
	// SnapshotFormats are the formats Snapshot is checked with; nil means
	// "raw" and "qcow2".
	SnapshotFormats []string

	// ConsoleMarker, when set, is text the guest's console shows once it
	// has booted (the test image prints "nimbus-guest: instance <uuid> key
	// <name|none>"); the suite waits for it after Spawn and PowerOn and
	// checks ConsoleOutput against it.
	ConsoleMarker func(inst hypervisor.Instance) string
	// Crash, when set, makes a running guest die behind the driver's back
	// (kill its QEMU process, fake.Driver.Crash). The suite then expects
	// an Event for the guest, a Shutdown (or Crashed) state, and PowerOn to
	// bring it back. Unset, that subtest is skipped.
	Crash func(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance)
}

// Run runs the conformance subtests. newDriver returns a driver ready for
// use, with whatever cleanup it needs registered on t; each subtest takes a
// fresh one. newInstance returns a guest the driver has never seen: a new
// UUID, its own empty Dir, and a base image the driver can boot. opts holds
// at most one Options.
func Run(t *testing.T, newDriver func(t *testing.T) hypervisor.Driver, newInstance func(t *testing.T) hypervisor.Instance, opts ...Options) {
	t.Helper()
	s := &suite{newDriver: newDriver, newInstance: newInstance}
	if len(opts) > 1 {
		t.Fatalf("hypervisortest.Run: %d Options, want at most one", len(opts))
	}
	if len(opts) == 1 {
		s.Options = opts[0]
	}
	if s.Timeout <= 0 {
		s.Timeout = 3 * time.Minute
	}
	if s.Parallel <= 0 {
		s.Parallel = 8
	}
	if s.SnapshotFormats == nil {
		s.SnapshotFormats = []string{"raw", "qcow2"}
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"Host", s.testHost},
		{"SpawnRunning", s.testSpawnRunning},
		{"PowerOffOn", s.testPowerOffOn},
		{"Reboot", s.testReboot},
		{"PauseUnpause", s.testPauseUnpause},
		{"SuspendResume", s.testSuspendResume},
		{"Running", s.testRunning},
		{"Destroy", s.testDestroy},
		{"DestroyStopped", s.testDestroyStopped},
		{"ConsoleOutput", s.testConsoleOutput},
		{"Snapshot", s.testSnapshot},
		{"SnapshotStopped", s.testSnapshotStopped},
		{"UnknownGuest", s.testUnknownGuest},
		{"ConcurrentGuests", s.testConcurrentGuests},
		{"EventsCloseWithContext", s.testEventsClose},
		{"CrashIsReported", s.testCrash},
		{"ResizeRevertConfirm", s.testResize},
		{"RescueUnrescue", s.testRescue},
		{"Consoles", s.testConsoles},
	} {
		t.Run(tc.name, tc.run)
	}
}

type suite struct {
	Options
	newDriver   func(t *testing.T) hypervisor.Driver
	newInstance func(t *testing.T) hypervisor.Instance
}

// ctx bounds one driver call or one wait.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// spawn starts a new guest, waits until it runs (and shows its console
// marker), and destroys it when the test ends.
func (s *suite) spawn(t *testing.T, d hypervisor.Driver) hypervisor.Instance {
	t.Helper()
	inst := s.newInstance(t)
	if err := d.Spawn(s.ctx(t), inst); err != nil {
		t.Fatalf("Spawn(%s) = %v", inst.UUID, err)
	}
	s.cleanupDestroy(t, d, inst)
	s.waitState(t, d, inst, hypervisor.Running)
	s.waitMarker(t, d, inst)
	return inst
}

// cleanupDestroy destroys the guest at the end of the test, so that a
// failing test leaves no QEMU behind. t.Context is done by then.
func (s *suite) cleanupDestroy(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		if err := d.Destroy(ctx, inst); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			t.Errorf("cleanup: Destroy(%s) = %v", inst.UUID, err)
		}
	})
}

// waitState polls Info until the guest is in one of want. Drivers may
// report a requested state a moment after the call returns (QMP events
// arrive on their own), so the suite polls rather than reads once.
func (s *suite) waitState(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance, want ...hypervisor.PowerState) hypervisor.Info {
	t.Helper()
	ctx := s.ctx(t)
	var (
		info hypervisor.Info
		err  error
	)
	for pause := time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
		info, err = d.Info(ctx, inst)
		if err == nil && slices.Contains(want, info.State) {
			return info
		}
		select {
		case <-ctx.Done():
			if err != nil {
				t.Fatalf("Info(%s) = %v, want state %v", inst.UUID, err, stateNames(want))
			}
			t.Fatalf("Info(%s).State = %s after %v, want %v", inst.UUID, stateName(info.State), s.Timeout, stateNames(want))
		case <-time.After(pause):
		}
	}
}

// waitMarker waits until the console shows ConsoleMarker, when set.
func (s *suite) waitMarker(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance) {
	t.Helper()
	if s.ConsoleMarker == nil {
		return
	}
	marker := []byte(s.ConsoleMarker(inst))
	ctx := s.ctx(t)
	var out []byte
	for pause := time.Millisecond; ; pause = min(2*pause, time.Second) {
		var err error
		out, err = d.ConsoleOutput(ctx, inst, 0)
		if err != nil {
			t.Fatalf("ConsoleOutput(%s) = %v", inst.UUID, err)
		}
		if bytes.Contains(out, marker) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("console of %s lacks %q after %v; its tail:\n%s", inst.UUID, marker, s.Timeout, tail(out, 2000))
		case <-time.After(pause):
		}
	}
}

func (s *suite) running(t *testing.T, d hypervisor.Driver) []string {
	t.Helper()
	uuids, err := d.Running(s.ctx(t))
	if err != nil {
		t.Fatalf("Running() = %v", err)
	}
	return uuids
}

func (s *suite) testHost(t *testing.T) {
	d := s.newDriver(t)
	h, err := d.Host(s.ctx(t))
	if err != nil {
		t.Fatalf("Host() = %v", err)
	}
	if h.Hostname == "" || h.Type == "" {
		t.Errorf("Host() = %+v, want a Hostname and a Type", h)
	}
	if h.VCPUs <= 0 || h.MemoryMB <= 0 || h.DiskGB <= 0 {
		t.Errorf("Host() = %+v, want positive VCPUs, MemoryMB and DiskGB for placement's inventory", h)
	}
}

func (s *suite) testSpawnRunning(t *testing.T) {
	d := s.newDriver(t)
	inst := s.spawn(t, d)
	info := s.waitState(t, d, inst, hypervisor.Running)
	if info.VCPUs != inst.VCPUs || info.MemoryMB != inst.MemoryMB {
		t.Errorf("Info(%s) = %d VCPUs, %d MB; the instance asked for %d VCPUs, %d MB",
			inst.UUID, info.VCPUs, info.MemoryMB, inst.VCPUs, inst.MemoryMB)
	}
	if info.CPUTime < 0 {
		t.Errorf("Info(%s).CPUTime = %v, negative", inst.UUID, info.CPUTime)
	}
}

func (s *suite) testPowerOffOn(t *testing.T) {
	d := s.newDriver(t)
	inst := s.spawn(t, d)

	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s, 0) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)
	if slices.Contains(s.running(t, d), inst.UUID) {
		t.Errorf("Running() lists %s, which is shut down", inst.UUID)
	}

	if err := d.PowerOn(s.ctx(t), inst); err != nil {
		t.Fatalf("PowerOn(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	s.waitMarker(t, d, inst)
	if !slices.Contains(s.running(t, d), inst.UUID) {
		t.Errorf("Running() lacks %s after PowerOn", inst.UUID)
	}

	// A graceful stop: the guest may honour ACPI, or be forced off when
	// the timeout runs out; either way it ends shut down.
	if err := d.PowerOff(s.ctx(t), inst, 5*time.Second); err != nil {
		t.Fatalf("PowerOff(%s, 5s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)

	if err := d.PowerOn(s.ctx(t), inst); err != nil {
		t.Fatalf("second PowerOn(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
}

func (s *suite) testReboot(t *testing.T) {
	d := s.newDriver(t)
	inst := s.spawn(t, d)
	for _, hard := range []bool{false, true} {
		if err := d.Reboot(s.ctx(t), inst, hard); err != nil {
			t.Fatalf("Reboot(%s, hard=%v) = %v", inst.UUID, hard, err)
		}
		s.waitState(t, d, inst, hypervisor.Running)
		s.waitMarker(t, d, inst)
		if !slices.Contains(s.running(t, d), inst.UUID) {
			t.Errorf("Running() lacks %s after Reboot(hard=%v)", inst.UUID, hard)
		}
	}
}

func (s *suite) testPauseUnpause(t *testing.T) {
	if s.SkipPause {
		t.Skip("the driver does not support pause (Options.SkipPause)")
	}
	d := s.newDriver(t)
	inst := s.spawn(t, d)
	if err := d.Pause(s.ctx(t), inst); err != nil {
		t.Fatalf("Pause(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Paused)
	if err := d.Unpause(s.ctx(t), inst); err != nil {
		t.Fatalf("Unpause(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
}

func (s *suite) testSuspendResume(t *testing.T) {
	if s.SkipSuspend {
		t.Skip("the driver does not support suspend (Options.SkipSuspend)")
	}
	d := s.newDriver(t)
	inst := s.spawn(t, d)
	if err := d.Suspend(s.ctx(t), inst); err != nil {
		t.Fatalf("Suspend(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Suspended)
	if err := d.Resume(s.ctx(t), inst); err != nil {
		t.Fatalf("Resume(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	// Resumed, not rebooted: the console still shows the boot's marker
	// and the guest keeps running.
	s.waitMarker(t, d, inst)
}

func (s *suite) testRunning(t *testing.T) {
	d := s.newDriver(t)
	a := s.spawn(t, d)
	b := s.spawn(t, d)
	got := s.running(t, d)
	for _, inst := range []hypervisor.Instance{a, b} {
		if !slices.Contains(got, inst.UUID) {
			t.Errorf("Running() = %v, lacks spawned guest %s", got, inst.UUID)
		}
	}
	if err := d.Destroy(s.ctx(t), a); err != nil {
		t.Fatalf("Destroy(%s) = %v", a.UUID, err)
	}
	got = s.running(t, d)
	if slices.Contains(got, a.UUID) {
		t.Errorf("Running() = %v, lists destroyed guest %s", got, a.UUID)
	}
	if !slices.Contains(got, b.UUID) {
		t.Errorf("Running() = %v, lacks %s after another guest was destroyed", got, b.UUID)
	}
}

// dirEntries lists dir, which may not exist yet.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read guest dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// checkDestroyed checks that the driver has forgotten the guest and left
// none of the files it made in the guest's directory (what was there
// before Spawn, such as a config drive the agent built, may stay).
func (s *suite) checkDestroyed(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance, before []string) {
	t.Helper()
	if info, err := d.Info(s.ctx(t), inst); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Info(%s) after Destroy = %+v, %v; want ErrNotFound", inst.UUID, info, err)
	}
	if slices.Contains(s.running(t, d), inst.UUID) {
		t.Errorf("Running() lists %s after Destroy", inst.UUID)
	}
	for _, name := range dirEntries(t, inst.Dir) {
		if !slices.Contains(before, name) {
			t.Errorf("Destroy(%s) left %s in the guest's directory", inst.UUID, filepath.Join(inst.Dir, name))
		}
	}
}

func (s *suite) testDestroy(t *testing.T) {
	d := s.newDriver(t)
	inst := s.newInstance(t)
	before := dirEntries(t, inst.Dir)
	if err := d.Spawn(s.ctx(t), inst); err != nil {
		t.Fatalf("Spawn(%s) = %v", inst.UUID, err)
	}
	s.cleanupDestroy(t, d, inst)
	s.waitState(t, d, inst, hypervisor.Running)
	if err := d.Destroy(s.ctx(t), inst); err != nil {
		t.Fatalf("Destroy(%s) = %v", inst.UUID, err)
	}
	s.checkDestroyed(t, d, inst, before)
}

func (s *suite) testDestroyStopped(t *testing.T) {
	d := s.newDriver(t)
	inst := s.newInstance(t)
	before := dirEntries(t, inst.Dir)
	if err := d.Spawn(s.ctx(t), inst); err != nil {
		t.Fatalf("Spawn(%s) = %v", inst.UUID, err)
	}
	s.cleanupDestroy(t, d, inst)
	s.waitState(t, d, inst, hypervisor.Running)
	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s, 0) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)
	if err := d.Destroy(s.ctx(t), inst); err != nil {
		t.Fatalf("Destroy(%s) of a stopped guest = %v", inst.UUID, err)
	}
	s.checkDestroyed(t, d, inst, before)
}

func (s *suite) testConsoleOutput(t *testing.T) {
	d := s.newDriver(t)
	inst := s.spawn(t, d)
	console := func(maxBytes int) []byte {
		t.Helper()
		out, err := d.ConsoleOutput(s.ctx(t), inst, maxBytes)
		if err != nil {
			t.Fatalf("ConsoleOutput(%s, %d) = %v", inst.UUID, maxBytes, err)
		}
		return out
	}

	// A console log only grows while the guest runs, so each read
	// contains the earlier ones' tails.
	all := console(0)
	if s.ConsoleMarker != nil && !bytes.Contains(all, []byte(s.ConsoleMarker(inst))) {
		t.Errorf("ConsoleOutput(%s, 0) lacks %q:\n%s", inst.UUID, s.ConsoleMarker(inst), tail(all, 2000))
	}
	for _, n := range []int{1, 10, 100} {
		before := console(0)
		out := console(n)
		after := console(0)
		if len(out) > n {
			t.Errorf("ConsoleOutput(%s, %d) returned %d bytes", inst.UUID, n, len(out))
		}
		if len(before) >= n && len(out) != n {
			t.Errorf("ConsoleOutput(%s, %d) returned %d bytes of a %d-byte log, want the last %d", inst.UUID, n, len(out), len(before), n)
		}
		if !bytes.Contains(after, out) {
			t.Errorf("ConsoleOutput(%s, %d) = %q, not part of the whole log", inst.UUID, n, out)
		}
	}
	if out := console(-1); len(out) < len(all) {
		t.Errorf("ConsoleOutput(%s, -1) returned %d bytes, want all of it (at least the %d read before)", inst.UUID, len(out), len(all))
	}
}

// checkImage checks that path holds a disk image in format.
func checkImage(t *testing.T, path, format string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("snapshot file: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	switch format {
	case "raw":
		if st.Size() == 0 || st.Size()%512 != 0 {
			t.Errorf("raw snapshot %s is %d bytes, want a positive multiple of 512", path, st.Size())
		}
	case "qcow2":
		var hdr struct {
			Magic   uint32
			Version uint32
			_       [16]byte // backing file offset and size, cluster bits
			Size    uint64
		}
		if err := binary.Read(f, binary.BigEndian, &hdr); err != nil {
			t.Fatalf("qcow2 snapshot %s: read header: %v", path, err)
		}
		if hdr.Magic != 0x514649fb || (hdr.Version != 2 && hdr.Version != 3) || hdr.Size == 0 {
			t.Errorf("qcow2 snapshot %s: magic %#x version %d size %d, want QFI\\xfb, 2 or 3, a virtual size",
				path, hdr.Magic, hdr.Version, hdr.Size)
		}
	default:
		t.Fatalf("checkImage: unknown format %q", format)
	}
}

func (s *suite) testSnapshot(t *testing.T) {
	if s.SkipSnapshot {
		t.Skip("the driver does not support snapshots (Options.SkipSnapshot)")
	}
	d := s.newDriver(t)
	inst := s.spawn(t, d)
	for _, format := range s.SnapshotFormats {
		path := filepath.Join(t.TempDir(), "snapshot."+format)
		if err := d.Snapshot(s.ctx(t), inst, path, format); err != nil {
			t.Fatalf("Snapshot(%s, %s) = %v", inst.UUID, format, err)
		}
		checkImage(t, path, format)
		// Paused "as needed", then running again.
		s.waitState(t, d, inst, hypervisor.Running)
	}
}

func (s *suite) testSnapshotStopped(t *testing.T) {
	if s.SkipSnapshot {
		t.Skip("the driver does not support snapshots (Options.SkipSnapshot)")
	}
	d := s.newDriver(t)
	inst := s.spawn(t, d)
	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s, 0) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)
	format := s.SnapshotFormats[0]
	path := filepath.Join(t.TempDir(), "snapshot."+format)
	if err := d.Snapshot(s.ctx(t), inst, path, format); err != nil {
		t.Fatalf("Snapshot(%s, %s) of a stopped guest = %v", inst.UUID, format, err)
	}
	checkImage(t, path, format)
	// A snapshot does not start a stopped guest.
	if info, err := d.Info(s.ctx(t), inst); err != nil || info.State != hypervisor.Shutdown {
		t.Errorf("Info(%s) after snapshot of a stopped guest = %s, %v; want shutdown", inst.UUID, stateName(info.State), err)
	}
}

func (s *suite) testUnknownGuest(t *testing.T) {
	d := s.newDriver(t)
	// A guest spawned and running alongside, so that "unknown" is not
	// merely "the driver has no guests at all".
	s.spawn(t, d)
	inst := s.newInstance(t)
	snap := filepath.Join(t.TempDir(), "snapshot")
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Info", func(ctx context.Context) error { _, err := d.Info(ctx, inst); return err }},
		{"PowerOff", func(ctx context.Context) error { return d.PowerOff(ctx, inst, 0) }},
		{"PowerOn", func(ctx context.Context) error { return d.PowerOn(ctx, inst) }},
		{"RebootSoft", func(ctx context.Context) error { return d.Reboot(ctx, inst, false) }},
		{"RebootHard", func(ctx context.Context) error { return d.Reboot(ctx, inst, true) }},
		{"Pause", func(ctx context.Context) error { return d.Pause(ctx, inst) }},
		{"Unpause", func(ctx context.Context) error { return d.Unpause(ctx, inst) }},
		{"Suspend", func(ctx context.Context) error { return d.Suspend(ctx, inst) }},
		{"Resume", func(ctx context.Context) error { return d.Resume(ctx, inst) }},
		{"ConsoleOutput", func(ctx context.Context) error { _, err := d.ConsoleOutput(ctx, inst, 0); return err }},
		{"Snapshot", func(ctx context.Context) error { return d.Snapshot(ctx, inst, snap, "raw") }},
	}
	for _, c := range calls {
		if err := c.call(s.ctx(t)); !errors.Is(err, hypervisor.ErrNotFound) {
			t.Errorf("%s(unknown guest %s) = %v, want ErrNotFound", c.name, inst.UUID, err)
		}
	}
	if _, err := os.Stat(snap); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Snapshot(unknown guest) made %s (stat: %v)", snap, err)
	}
	// Destroying a guest that is already gone is what an agent does
	// after a host lost its guests: either answer will do.
	if err := d.Destroy(s.ctx(t), inst); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Destroy(unknown guest %s) = %v, want nil or ErrNotFound", inst.UUID, err)
	}
	if slices.Contains(s.running(t, d), inst.UUID) {
		t.Errorf("Running() lists %s, which was never spawned", inst.UUID)
	}
}

func (s *suite) testConcurrentGuests(t *testing.T) {
	d := s.newDriver(t)
	insts := make([]hypervisor.Instance, s.Parallel)
	for i := range insts {
		insts[i] = s.newInstance(t)
		s.cleanupDestroy(t, d, insts[i])
	}
	// forEach runs op on every guest at once; t.Fatal is not allowed off
	// the test's goroutine, so errors are gathered.
	forEach := func(what string, op func(ctx context.Context, inst hypervisor.Instance) error) {
		t.Helper()
		ctx := s.ctx(t)
		errs := make([]error, len(insts))
		var wg sync.WaitGroup
		for i, inst := range insts {
			wg.Go(func() {
				if err := op(ctx, inst); err != nil {
					errs[i] = fmt.Errorf("%s(%s): %w", what, inst.UUID, err)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}

	forEach("Spawn", d.Spawn)
	for _, inst := range insts {
		s.waitState(t, d, inst, hypervisor.Running)
	}
	got := s.running(t, d)
	for _, inst := range insts {
		if !slices.Contains(got, inst.UUID) {
			t.Errorf("Running() lacks %s, one of %d guests spawned at once", inst.UUID, len(insts))
		}
	}
	forEach("PowerOff", func(ctx context.Context, inst hypervisor.Instance) error { return d.PowerOff(ctx, inst, 0) })
	for _, inst := range insts {
		s.waitState(t, d, inst, hypervisor.Shutdown)
	}
	forEach("Destroy", d.Destroy)
	got = s.running(t, d)
	for _, inst := range insts {
		if slices.Contains(got, inst.UUID) {
			t.Errorf("Running() lists destroyed guest %s", inst.UUID)
		}
		if _, err := d.Info(s.ctx(t), inst); !errors.Is(err, hypervisor.ErrNotFound) {
			t.Errorf("Info(%s) after Destroy = %v, want ErrNotFound", inst.UUID, err)
		}
	}
}

func (s *suite) testEventsClose(t *testing.T) {
	d := s.newDriver(t)
	ctx, cancel := context.WithCancel(t.Context())
	events := d.Events(ctx)
	cancel()
	deadline := time.After(s.Timeout)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("Events channel still open %v after its context was cancelled", s.Timeout)
		}
	}
}

func (s *suite) testCrash(t *testing.T) {
	if s.Crash == nil {
		t.Skip("no way to crash a guest of this driver (Options.Crash)")
	}
	d := s.newDriver(t)
	events := d.Events(s.ctx(t))
	other := s.spawn(t, d)
	inst := s.spawn(t, d)
	s.Crash(t, d, inst)

	deadline := time.After(s.Timeout)
	for waiting := true; waiting; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("Events channel closed before the crash was reported")
			}
			if ev.UUID == other.UUID {
				t.Errorf("Event %+v for %s, which did not crash", ev, other.UUID)
			}
			if ev.UUID != inst.UUID {
				continue
			}
			if ev.State != hypervisor.Shutdown && ev.State != hypervisor.Crashed {
				t.Errorf("Event for the crashed guest says %s, want shutdown or crashed", stateName(ev.State))
			}
			if ev.At.IsZero() {
				t.Errorf("Event %+v has no time", ev)
			}
			waiting = false
		case <-deadline:
			t.Fatalf("no Event for crashed guest %s within %v", inst.UUID, s.Timeout)
		}
	}
	s.waitState(t, d, inst, hypervisor.Shutdown, hypervisor.Crashed)
	if slices.Contains(s.running(t, d), inst.UUID) {
		t.Errorf("Running() lists crashed guest %s", inst.UUID)
	}
	if info, err := d.Info(s.ctx(t), other); err != nil || info.State != hypervisor.Running {
		t.Errorf("Info(%s), a bystander of the crash = %s, %v; want running", other.UUID, stateName(info.State), err)
	}
	// os-start after a crash must work.
	if err := d.PowerOn(s.ctx(t), inst); err != nil {
		t.Fatalf("PowerOn(%s) after a crash = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	s.waitMarker(t, d, inst)
}

func stateName(s hypervisor.PowerState) string {
	switch s {
	case hypervisor.NoState:
		return "pending"
	case hypervisor.Running:
		return "running"
	case hypervisor.Paused:
		return "paused"
	case hypervisor.Shutdown:
		return "shutdown"
	case hypervisor.Crashed:
		return "crashed"
	case hypervisor.Suspended:
		return "suspended"
	}
	return fmt.Sprintf("PowerState(%d)", int(s))
}

func stateNames(states []hypervisor.PowerState) string {
	var b bytes.Buffer
	for i, s := range states {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(stateName(s))
	}
	return b.String()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
