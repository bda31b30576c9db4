package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

const gib = 1 << 30

// img runs qemu-img and returns its standard output; a failure carries
// what it printed.
func (d *Driver) img(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, d.o.ImgBinary, args...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return nil, fmt.Errorf("qemu-img %s: %s", args[0], firstLine(ee.Stderr))
		}
		return nil, fmt.Errorf("qemu-img %s: %w", args[0], err)
	}
	return out, nil
}

// imageInfo is what qemu-img info says of an image.
type imageInfo struct {
	VirtualSize int64  `json:"virtual-size"`
	Format      string `json:"format"`
	BackingFile string `json:"backing-filename"`
}

// info reads an image's header. format is never guessed for images a
// user uploaded: a raw image may look like a qcow2 one naming any host
// file as its backing file. force reads an image a running QEMU holds.
func (d *Driver) info(ctx context.Context, path, format string, force bool) (imageInfo, error) {
	args := []string{"info", "--output=json", "-f", format}
	if force {
		args = append(args, "-U")
	}
	out, err := d.img(ctx, append(args, path)...)
	if err != nil {
		return imageInfo{}, err
	}
	var ii imageInfo
	if err := json.Unmarshal(out, &ii); err != nil {
		return imageInfo{}, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return ii, nil
}

func checkFormat(f string) error {
	if f != "qcow2" && f != "raw" {
		return fmt.Errorf("image format %q is not qcow2 or raw", f)
	}
	return nil
}

// createDisk makes the guest's disk: a qcow2 overlay backed by the shared
// base image, grown to RootGB.
func (d *Driver) createDisk(ctx context.Context, inst hypervisor.Instance) error {
	format := inst.BaseFormat
	if err := checkFormat(format); err != nil {
		return fmt.Errorf("spawn guest %s: base image: %w", inst.UUID, err)
	}
	base, err := filepath.Abs(inst.BaseImage)
	if err != nil {
		return err
	}
	ii, err := d.info(ctx, base, format, true)
	if err != nil {
		return fmt.Errorf("spawn guest %s: base image: %w", inst.UUID, err)
	}
	args := []string{"create", "-q", "-f", "qcow2", "-F", format, "-b", base, filepath.Join(inst.Dir, diskFile)}
	if inst.RootGB > 0 {
		size := int64(inst.RootGB) * gib
		if size < ii.VirtualSize {
			// Nova's FlavorDiskSmallerThanImage.
			return fmt.Errorf("spawn guest %s: Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
				inst.UUID, size, ii.VirtualSize)
		}
		args = append(args, strconv.FormatInt(size, 10))
	}
	os.Remove(filepath.Join(inst.Dir, diskFile))
	if _, err := d.img(ctx, args...); err != nil {
		return fmt.Errorf("spawn guest %s: %w", inst.UUID, err)
	}
	return nil
}

// Snapshot writes a standalone copy of the guest's disk to path. A
// stopped guest's disk is converted as it is. A running (or paused) one
// goes on running: QEMU copies the disk as it was at the start of a
// backup job (blockdev-backup, sync=full: copy-before-write keeps the
// point in time) to a temporary image, which is then converted.
func (d *Driver) Snapshot(ctx context.Context, inst hypervisor.Instance, path, format string) (err error) {
	if err := checkFormat(format); err != nil {
		return fmt.Errorf("snapshot guest %s: %w", inst.UUID, err)
	}
	if err := d.haveDisk(inst); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(path)
			err = fmt.Errorf("snapshot guest %s: %w", inst.UUID, err)
		}
	}()
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	src := filepath.Join(inst.Dir, diskFile)
	if p != nil {
		tmp := filepath.Join(inst.Dir, "snapshot.tmp")
		defer os.Remove(tmp)
		if err := d.backup(ctx, p, src, tmp); err != nil {
			return err
		}
		src = tmp
	}
	_, err = d.img(ctx, "convert", "-f", "qcow2", "-O", format, src, path)
	return err
}

// backup copies a running guest's root disk, as of now, into a new
// standalone qcow2 image at tmp.
func (d *Driver) backup(ctx context.Context, p *proc, disk, tmp string) error {
	ii, err := d.info(ctx, disk, "qcow2", true)
	if err != nil {
		return err
	}
	if _, err := d.img(ctx, "create", "-q", "-f", "qcow2", tmp, strconv.FormatInt(ii.VirtualSize, 10)); err != nil {
		return err
	}
	const node, job = "nimbus-snapshot", "nimbus-snapshot"
	err = p.mon.run(ctx, nil, "blockdev-add", map[string]any{
		"driver":    "qcow2",
		"node-name": node,
		"file":      map[string]any{"driver": "file", "filename": tmp},
	})
	if err != nil {
		return err
	}
	defer p.mon.run(context.WithoutCancel(ctx), nil, "blockdev-del", map[string]any{"node-name": node})
	err = p.mon.run(ctx, nil, "blockdev-backup", map[string]any{
		"job-id":       job,
		"device":       rootDriveID,
		"target":       node,
		"sync":         "full",
		"auto-dismiss": false,
	})
	if err != nil {
		return err
	}
	defer p.mon.run(context.WithoutCancel(ctx), nil, "job-dismiss", map[string]any{"id": job})
	for {
		var jobs []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := p.mon.run(ctx, &jobs, "query-jobs", nil); err != nil {
			return err
		}
		found := false
		for _, j := range jobs {
			if j.ID != job {
				continue
			}
			found = true
			if j.Status == "concluded" {
				if j.Error != "" {
					return fmt.Errorf("disk backup: %s", j.Error)
				}
				return nil
			}
		}
		if !found {
			return errors.New("disk backup job vanished")
		}
		select {
		case <-ctx.Done():
			p.mon.run(context.WithoutCancel(ctx), nil, "job-cancel", map[string]any{"id": job})
			return ctx.Err()
		case <-p.done:
			return errors.New("qemu ended during the disk backup")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
