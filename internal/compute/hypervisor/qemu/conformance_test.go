package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/hypervisortest"
	"github.com/nimbus-cloud/nimbus/test/guest/guestboot"
)

// crash kills a guest's QEMU behind the driver's back.
func crash(t *testing.T, d hypervisor.Driver, inst hypervisor.Instance) {
	pid := livePid(inst.Dir, inst.UUID)
	if pid == 0 {
		t.Fatalf("guest %s has no QEMU to kill", inst.UUID)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// TestConformance runs the driver suite with the probe guest, which
// boots, prints its line and honours ACPI within a fraction of a second.
func TestConformance(t *testing.T) {
	needQEMU(t)
	dirs := testDirs(t)
	base := writeImage(t, dirs, "guest.raw", false)
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver {
		return newTestDriver(t, dirs, func(o *Options) { o.VNC = true })
	}, func(t *testing.T) hypervisor.Instance {
		id := uuid.NewString()
		return hypervisor.Instance{
			UUID: id, Name: "instance-" + id[:8], VCPUs: 1, MemoryMB: 64, RootGB: 1,
			BaseImage: base, BaseFormat: "raw", Dir: filepath.Join(dirs, id),
		}
	}, hypervisortest.Options{
		Timeout:       time.Minute,
		ConsoleMarker: func(hypervisor.Instance) string { return strings.TrimSpace(bootedLine) },
		Crash:         crash,
	})
}

// testImage is the test guest image of test/guest (NIMBUS_GUEST_IMAGE, or
// built); a few seconds a boot under TCG, so opt-in: NIMBUS_TEST_GUEST=1.
func testImage(t *testing.T) string {
	t.Helper()
	needQEMU(t)
	if os.Getenv("NIMBUS_TEST_GUEST") != "1" {
		t.Skip("set NIMBUS_TEST_GUEST=1 (and NIMBUS_GUEST_IMAGE=path, or let test/guest/build-image.sh build it) to boot the test guest image")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	img, err := guestboot.ImageFromEnv(ctx, "../../../../test/guest/build-image.sh", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// imageInstance is a guest of the test image with a config drive naming
// its UUID and key pair, built in its directory as the agent does.
func imageInstance(t *testing.T, dirs, img string) hypervisor.Instance {
	t.Helper()
	id := uuid.NewString()
	inst := hypervisor.Instance{
		UUID: id, Name: "instance-" + id[:8], VCPUs: 1, MemoryMB: 256, RootGB: 1,
		BaseImage: img, BaseFormat: "qcow2", Dir: filepath.Join(dirs, id),
	}
	if err := os.MkdirAll(inst.Dir, 0o750); err != nil {
		t.Fatal(err)
	}
	inst.ConfigDrive = filepath.Join(inst.Dir, "config.iso")
	err := configdrive.Build(inst.ConfigDrive, configdrive.Data{
		UUID: id, Name: "guest", Hostname: "guest.novalocal",
		Keys: []configdrive.Key{{Name: "conformance", Type: "ssh", Data: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test\n"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func imageMarker(inst hypervisor.Instance) string {
	return "nimbus-guest: instance " + inst.UUID + " key conformance"
}

// TestConformanceTestImage runs the driver suite on the real test guest
// (a Linux kernel reading its config drive).
func TestConformanceTestImage(t *testing.T) {
	img := testImage(t)
	dirs := testDirs(t)
	hypervisortest.Run(t, func(t *testing.T) hypervisor.Driver {
		return newTestDriver(t, dirs, func(o *Options) { o.Accel = "auto" })
	}, func(t *testing.T) hypervisor.Instance {
		return imageInstance(t, dirs, img)
	}, hypervisortest.Options{
		Timeout:       3 * time.Minute,
		Parallel:      4,
		ConsoleMarker: imageMarker,
		Crash:         crash,
	})
}

// TestTestImageTimes boots the test guest through the driver and by hand
// (the same image, config drive and accelerator, a plain QEMU command),
// and reports the times to its console line and to power off.
func TestTestImageTimes(t *testing.T) {
	img := testImage(t)
	dirs := testDirs(t)
	d := newTestDriver(t, dirs, func(o *Options) { o.Accel = "auto" })
	for round := range 3 {
		inst := imageInstance(t, dirs, img)
		t.Cleanup(func() { d.Destroy(context.Background(), inst) })
		start := time.Now()
		if err := d.Spawn(testCtx(t), inst); err != nil {
			t.Fatalf("Spawn() = %v", err)
		}
		spawned := time.Since(start)
		marker := imageMarker(inst)
		waitFor(t, "the test guest's console line", func() bool {
			return strings.Contains(console(t, d, inst), marker)
		})
		toMarker := time.Since(start)
		start = time.Now()
		if err := d.PowerOff(testCtx(t), inst, time.Minute); err != nil {
			t.Fatalf("PowerOff() = %v", err)
		}
		off := time.Since(start)

		res, err := guestboot.Boot(testCtx(t), guestboot.Options{
			Image: img, Accel: d.Accel(), Dir: t.TempDir(),
			ConfigDrive: &configdrive.Data{UUID: inst.UUID, Name: "guest", Hostname: "guest.novalocal"},
		})
		if err != nil {
			t.Fatalf("boot by hand: %v", err)
		}
		t.Logf("round %d, %s: driver: Spawn %v, console line %v, ACPI power off %v; by hand: console line %v, power off %v",
			round, d.Accel(), spawned.Round(time.Millisecond), toMarker.Round(time.Millisecond), off.Round(time.Millisecond),
			res.ToMarker.Round(time.Millisecond), res.ToExit.Round(time.Millisecond))
	}
}
