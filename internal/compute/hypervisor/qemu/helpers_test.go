package qemu

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// needQEMU skips a test on a machine without QEMU.
func needQEMU(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install qemu-system-x86 qemu-utils): %v", bin, err)
		}
	}
}

// testDirs is a short directory for guests (unix socket paths are
// limited to 107 bytes, t.TempDir's names run long), removed at the end.
func testDirs(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "qemu-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestDriver is a TCG driver over a fresh instances directory, closed
// at the end of the test.
func newTestDriver(t *testing.T, instances string, mod ...func(*Options)) *Driver {
	t.Helper()
	needQEMU(t)
	o := Options{Accel: "tcg", InstancesDir: instances, Log: testLogger(t), SoftRebootTimeout: 10 * time.Second}
	for _, f := range mod {
		f(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// writeImage writes a base image file of the test guest into dir.
func writeImage(t *testing.T, dir, name string, offAtOnce bool) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, bootSector(offAtOnce), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// blankImage makes an empty qcow2 image of size (SeaBIOS finds nothing to
// boot on it and waits: a guest that ignores ACPI).
func blankImage(t *testing.T, dir, size string) string {
	t.Helper()
	path := filepath.Join(dir, "blank-"+size+".qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", path, size).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	return path
}

// newInstance is a guest of the test image in instances/<uuid>; Destroy
// is registered for the end of the test so that no QEMU is left behind.
func newInstance(t *testing.T, d *Driver, base, format string) hypervisor.Instance {
	t.Helper()
	id := uuid.NewString()
	inst := hypervisor.Instance{
		UUID:       id,
		Name:       "instance-" + id[:8],
		VCPUs:      1,
		MemoryMB:   64,
		RootGB:     1,
		BaseImage:  base,
		BaseFormat: format,
		Dir:        filepath.Join(d.o.InstancesDir, id),
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if pid := livePid(inst.Dir, inst.UUID); pid != 0 {
			kill(pid, inst.UUID)
		}
		if err := d.Destroy(ctx, inst); err != nil && !errors.Is(err, hypervisor.ErrNotFound) {
			t.Errorf("cleanup: Destroy = %v", err)
		}
	})
	return inst
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or 30s pass.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("still waiting after 30s for %s", what)
	return 0
}

func stateOf(t *testing.T, d *Driver, inst hypervisor.Instance) hypervisor.PowerState {
	t.Helper()
	info, err := d.Info(testCtx(t), inst)
	if err != nil {
		t.Fatalf("Info(%s) = %v", inst.UUID, err)
	}
	return info.State
}

func wantState(t *testing.T, d *Driver, inst hypervisor.Instance, want hypervisor.PowerState) {
	t.Helper()
	if got := stateOf(t, d, inst); got != want {
		t.Fatalf("Info(%s).State = %d, want %d", inst.UUID, got, want)
	}
}

// console is the guest's whole console log.
func console(t *testing.T, d *Driver, inst hypervisor.Instance) string {
	t.Helper()
	out, err := d.ConsoleOutput(testCtx(t), inst, 0)
	if err != nil {
		t.Fatalf("ConsoleOutput(%s) = %v", inst.UUID, err)
	}
	return string(out)
}

// waitBoots waits until the console shows n boots of the test guest.
func waitBoots(t *testing.T, d *Driver, inst hypervisor.Instance, n int) time.Duration {
	t.Helper()
	return waitFor(t, "boot "+string(rune('0'+n))+" on the console", func() bool {
		return strings.Count(console(t, d, inst), bootedLine) >= n
	})
}

func readFileHead(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.Read(b); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b)
}
