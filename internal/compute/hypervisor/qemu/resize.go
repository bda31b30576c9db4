package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// stopped is nil for a guest with a disk and no QEMU; else why the
// operation cannot go on.
func (d *Driver) stopped(ctx context.Context, inst hypervisor.Instance, action string) error {
	if err := d.haveDisk(inst); err != nil {
		return err
	}
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	if p != nil {
		return fmt.Errorf("%s guest %s: it is running (pid %d); power it off first", action, inst.UUID, p.pid)
	}
	return nil
}

// Resize keeps a copy of the stopped guest's overlay (disk.resize-backup,
// unless one is kept already) and grows the overlay to inst.RootGB with
// qemu-img resize. The next start uses inst's vCPUs and memory: they are
// on QEMU's command line, nothing else records them.
func (d *Driver) Resize(ctx context.Context, inst hypervisor.Instance) (err error) {
	if err := d.stopped(ctx, inst, "resize"); err != nil {
		return err
	}
	if exists(filepath.Join(inst.Dir, stateFile)) {
		return fmt.Errorf("resize guest %s: it is suspended: %w", inst.UUID, hypervisor.ErrRefused)
	}
	disk := filepath.Join(inst.Dir, diskFile)
	ii, err := d.info(ctx, disk, "qcow2", false)
	if err != nil {
		return fmt.Errorf("resize guest %s: %w", inst.UUID, err)
	}
	size := int64(inst.RootGB) * gib
	if inst.RootGB > 0 && size < ii.VirtualSize {
		return fmt.Errorf("Unable to resize disk down: guest %s has %d bytes, the flavor %d: %w",
			inst.UUID, ii.VirtualSize, size, hypervisor.ErrRefused)
	}
	backup := filepath.Join(inst.Dir, backupFile)
	if !exists(backup) {
		if err := copyFile(disk, backup); err != nil {
			return fmt.Errorf("resize guest %s: back up its disk: %w", inst.UUID, err)
		}
		defer func() {
			if err != nil {
				os.Remove(backup)
			}
		}()
	}
	if inst.RootGB > 0 && size > ii.VirtualSize {
		if _, err := d.img(ctx, "resize", "-q", "-f", "qcow2", disk, strconv.FormatInt(size, 10)); err != nil {
			return fmt.Errorf("resize guest %s: %w", inst.UUID, err)
		}
	}
	d.log.Info("guest resized", "uuid", inst.UUID, "vcpus", inst.VCPUs, "memory_mb", inst.MemoryMB,
		"disk_bytes", max(size, ii.VirtualSize))
	return nil
}

// ConfirmResize drops the backup of the disk.
func (d *Driver) ConfirmResize(ctx context.Context, inst hypervisor.Instance) error {
	if err := d.haveDisk(inst); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(inst.Dir, backupFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("confirm resize of guest %s: %w", inst.UUID, err)
	}
	return nil
}

// RevertResize puts the backup back as the stopped guest's disk.
func (d *Driver) RevertResize(ctx context.Context, inst hypervisor.Instance) error {
	backup := filepath.Join(inst.Dir, backupFile)
	if err := d.haveDisk(inst); err == nil && !exists(backup) {
		return fmt.Errorf("revert resize of guest %s: no backup of its disk: %w", inst.UUID, hypervisor.ErrRefused)
	}
	if err := d.stopped(ctx, inst, "revert resize of"); err != nil {
		return err
	}
	if err := os.Rename(backup, filepath.Join(inst.Dir, diskFile)); err != nil {
		return fmt.Errorf("revert resize of guest %s: %w", inst.UUID, err)
	}
	// Saved memory would not match the disk it was saved with.
	os.Remove(filepath.Join(inst.Dir, stateFile))
	syncDir(inst.Dir)
	return nil
}

// copyFile copies src to dst (through a temporary file, synced), with
// copy_file_range where the file system has it.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	syncDir(filepath.Dir(dst))
	return nil
}

// Rescue starts the guest from a new qcow2 overlay (disk.rescue) on
// image, with its own disk as the second disk. A running guest is ended
// at once first, as Nova's libvirt driver does: a guest needing rescue
// may not shut down cleanly. While disk.rescue exists every start boots
// from it, so the guest stays rescued through power actions and a
// restart of the agent.
func (d *Driver) Rescue(ctx context.Context, inst hypervisor.Instance, image, format string) (err error) {
	if err := checkFormat(format); err != nil {
		return fmt.Errorf("rescue guest %s: %w", inst.UUID, err)
	}
	if err := d.haveDisk(inst); err != nil {
		return err
	}
	if exists(filepath.Join(inst.Dir, stateFile)) {
		return fmt.Errorf("rescue guest %s: it is suspended: %w", inst.UUID, hypervisor.ErrRefused)
	}
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	rescue := filepath.Join(inst.Dir, rescueFile)
	if exists(rescue) {
		if p != nil {
			return nil // rescued and running
		}
		_, err := d.start(ctx, inst, nil)
		return err
	}
	base, err := filepath.Abs(image)
	if err != nil {
		return err
	}
	if _, err := d.info(ctx, base, format, true); err != nil {
		return fmt.Errorf("rescue guest %s: rescue image: %w", inst.UUID, err)
	}
	if p != nil {
		p.setWant(hypervisor.Shutdown)
		if err := d.forceOff(ctx, p); err != nil {
			return fmt.Errorf("rescue guest %s: %w", inst.UUID, err)
		}
	}
	if _, err := d.img(ctx, "create", "-q", "-f", "qcow2", "-F", format, "-b", base, rescue); err != nil {
		os.Remove(rescue)
		return fmt.Errorf("rescue guest %s: %w", inst.UUID, err)
	}
	if _, err := d.start(ctx, inst, nil); err != nil {
		// Not left rescued without having booted the rescue disk.
		os.Remove(rescue)
		return fmt.Errorf("rescue guest %s: %w", inst.UUID, err)
	}
	return nil
}

// Unrescue ends the rescued guest's QEMU, drops the rescue disk and
// starts the guest from its own disk.
func (d *Driver) Unrescue(ctx context.Context, inst hypervisor.Instance) error {
	if err := d.haveDisk(inst); err != nil {
		return err
	}
	rescue := filepath.Join(inst.Dir, rescueFile)
	if !exists(rescue) {
		return fmt.Errorf("unrescue guest %s: it is not rescued: %w", inst.UUID, hypervisor.ErrRefused)
	}
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	if p != nil {
		p.setWant(hypervisor.Shutdown)
		if err := d.forceOff(ctx, p); err != nil {
			return fmt.Errorf("unrescue guest %s: %w", inst.UUID, err)
		}
	}
	if err := os.Remove(rescue); err != nil {
		return fmt.Errorf("unrescue guest %s: %w", inst.UUID, err)
	}
	os.Remove(filepath.Join(inst.Dir, stateFile)) // the rescue guest's memory
	_, err = d.start(ctx, inst, nil)
	return err
}
