package qemu

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// virtualSize is the guest's disk size as qemu-img sees it.
func virtualSize(t *testing.T, d *Driver, inst hypervisor.Instance) int64 {
	t.Helper()
	ii, err := d.info(testCtx(t), filepath.Join(inst.Dir, diskFile), "qcow2", true)
	if err != nil {
		t.Fatal(err)
	}
	return ii.VirtualSize
}

// blockDevices lists the running guest's drives: id and file.
func blockDevices(t *testing.T, d *Driver, inst hypervisor.Instance) []string {
	t.Helper()
	p, err := d.running(testCtx(t), inst, "query")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []struct {
		Device   string `json:"device"`
		Inserted *struct {
			File string `json:"file"`
		} `json:"inserted"`
	}
	if err := p.mon.run(testCtx(t), &blocks, "query-block", nil); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range blocks {
		if b.Inserted != nil && b.Device != "config" {
			out = append(out, b.Device+"="+filepath.Base(b.Inserted.File))
		}
	}
	return out
}

func TestResizeDisk(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	inst := newInstance(t, d, writeImage(t, dirs, "guest.raw", false), "raw") // 1 GB
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	waitBoots(t, d, inst, 1)
	big := inst
	big.MemoryMB, big.RootGB = 128, 3
	if err := d.Resize(testCtx(t), big); err == nil || errors.Is(err, hypervisor.ErrRefused) {
		t.Errorf("Resize() of a running guest = %v, want a plain error", err)
	}
	if err := d.PowerOff(testCtx(t), inst, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Resize(testCtx(t), big); err != nil {
		t.Fatalf("Resize() = %v", err)
	}
	if got := virtualSize(t, d, inst); got != 3*gib {
		t.Errorf("disk after Resize = %d bytes, want 3 GiB", got)
	}
	if !exists(filepath.Join(inst.Dir, backupFile)) {
		t.Errorf("no %s after Resize", backupFile)
	}
	if err := d.PowerOn(testCtx(t), big); err != nil {
		t.Fatal(err)
	}
	waitBoots(t, d, inst, 2)
	if info, err := d.Info(testCtx(t), big); err != nil || info.MemoryMB != 128 {
		t.Errorf("Info() after Resize = %+v, %v; want 128 MB from QEMU", info, err)
	}
	if err := d.PowerOff(testCtx(t), big, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.RevertResize(testCtx(t), inst); err != nil {
		t.Fatalf("RevertResize() = %v", err)
	}
	if got := virtualSize(t, d, inst); got != gib {
		t.Errorf("disk after RevertResize = %d bytes, want 1 GiB", got)
	}
	if exists(filepath.Join(inst.Dir, backupFile)) {
		t.Errorf("%s left after RevertResize", backupFile)
	}
}

func TestRescueDisks(t *testing.T) {
	dirs := testDirs(t)
	d := newTestDriver(t, dirs)
	img := writeImage(t, dirs, "guest.raw", false)
	inst := newInstance(t, d, img, "raw")
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	waitBoots(t, d, inst, 1)
	if got := strings.Join(blockDevices(t, d, inst), " "); got != "root=disk" {
		t.Errorf("drives = %s, want root=disk", got)
	}
	if err := d.Rescue(testCtx(t), inst, img, "raw"); err != nil {
		t.Fatalf("Rescue() = %v", err)
	}
	waitBoots(t, d, inst, 2)
	if got := strings.Join(blockDevices(t, d, inst), " "); got != "rescue=disk.rescue root=disk" {
		t.Errorf("rescued drives = %s, want rescue=disk.rescue root=disk", got)
	}
	// A new driver (the agent restarted) and a power cycle: still rescued.
	d.Close()
	d = newTestDriver(t, dirs)
	if err := d.Reboot(testCtx(t), inst, true); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOff(testCtx(t), inst, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(blockDevices(t, d, inst), " "); got != "rescue=disk.rescue root=disk" {
		t.Errorf("drives after a power cycle = %s, want the rescue disk first", got)
	}
	if err := d.Unrescue(testCtx(t), inst); err != nil {
		t.Fatalf("Unrescue() = %v", err)
	}
	if got := strings.Join(blockDevices(t, d, inst), " "); got != "root=disk" {
		t.Errorf("drives after Unrescue = %s, want root=disk", got)
	}
	if exists(filepath.Join(inst.Dir, rescueFile)) {
		t.Errorf("%s left after Unrescue", rescueFile)
	}
	if err := d.Rescue(testCtx(t), inst, filepath.Join(dirs, "missing.raw"), "raw"); err == nil {
		t.Error("Rescue() from a missing image = nil")
	}
	wantState(t, d, inst, hypervisor.Running)
}

// TestTestImageResizeRescue resizes and rescues the real test guest: it
// boots each time, reading its config drive (from the rescue disk too).
func TestTestImageResizeRescue(t *testing.T) {
	img := testImage(t)
	dirs := testDirs(t)
	d := newTestDriver(t, dirs, func(o *Options) { o.Accel = "auto" })
	inst := imageInstance(t, dirs, img)
	t.Cleanup(func() { d.Destroy(testCtx(t), inst) })
	marker := imageMarker(inst)
	waitMarkers := func(n int) {
		t.Helper()
		waitFor(t, "the test guest's console line", func() bool {
			return strings.Count(console(t, d, inst), marker) >= n
		})
	}
	if err := d.Spawn(testCtx(t), inst); err != nil {
		t.Fatal(err)
	}
	waitMarkers(1)
	if err := d.PowerOff(testCtx(t), inst, time.Minute); err != nil {
		t.Fatal(err)
	}
	big := inst
	big.MemoryMB, big.RootGB = 384, 2
	if err := d.Resize(testCtx(t), big); err != nil {
		t.Fatalf("Resize() = %v", err)
	}
	if err := d.PowerOn(testCtx(t), big); err != nil {
		t.Fatal(err)
	}
	waitMarkers(2)
	if err := d.ConfirmResize(testCtx(t), big); err != nil {
		t.Fatal(err)
	}
	if err := d.Rescue(testCtx(t), big, img, "qcow2"); err != nil {
		t.Fatalf("Rescue() = %v", err)
	}
	waitMarkers(3)
	if err := d.Unrescue(testCtx(t), big); err != nil {
		t.Fatalf("Unrescue() = %v", err)
	}
	waitMarkers(4)
}
