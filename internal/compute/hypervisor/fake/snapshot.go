package fake

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// SnapshotSize is the virtual size of the disk images Snapshot writes:
// small, so that scale tests upload little to the image service.
const SnapshotSize = 1 << 20

// Snapshot writes an empty disk image of SnapshotSize bytes to path, raw
// or qcow2, which qemu-img accepts; the guest's state does not change.
// The file appears whole or not at all.
func (d *Driver) Snapshot(ctx context.Context, inst hypervisor.Instance, path, format string) error {
	if err := d.exists(inst.UUID); err != nil {
		return err
	}
	var write func(f *os.File) error
	switch format {
	case "raw":
		write = writeRaw
	case "qcow2":
		write = writeQcow2
	default:
		return fmt.Errorf("snapshot %s: unsupported format %q", inst.UUID, format)
	}
	if err := d.begin(ctx, OpSnapshot, inst); err != nil {
		return err
	}
	if err := d.exists(inst.UUID); err != nil {
		return err
	}
	if err := writeFile(path, write); err != nil {
		return fmt.Errorf("snapshot %s: %w", inst.UUID, err)
	}
	return nil
}

// writeFile writes a temporary file next to path and renames it.
func writeFile(path string, write func(f *os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// writeRaw makes a sparse file of zeros.
func writeRaw(f *os.File) error {
	return f.Truncate(SnapshotSize)
}

// writeQcow2 makes an empty qcow2 (version 2) image: the header, a
// refcount table, one refcount block and an L1 table, a cluster each, with
// no data clusters, as `qemu-img create -f qcow2 -o compat=0.10` lays it
// out.
func writeQcow2(f *os.File) error {
	const (
		clusterBits = 16
		cluster     = 1 << clusterBits
		refTable    = 1 * cluster
		refBlock    = 2 * cluster
		l1Table     = 3 * cluster
		clusters    = 4
		// One L1 entry maps an L2 table of cluster/8 clusters.
		l1Size = (SnapshotSize + cluster*(cluster/8) - 1) / (cluster * (cluster / 8))
	)
	img := make([]byte, l1Table+cluster) // the L1 table's entries stay zero: no data
	be := binary.BigEndian
	be.PutUint32(img[0:], 0x514649fb) // "QFI\xfb"
	be.PutUint32(img[4:], 2)          // version
	// 8: backing file offset, 16: backing file name size: none
	be.PutUint32(img[20:], clusterBits)
	be.PutUint64(img[24:], SnapshotSize)
	// 32: no encryption
	be.PutUint32(img[36:], l1Size)
	be.PutUint64(img[40:], l1Table)
	be.PutUint64(img[48:], refTable)
	be.PutUint32(img[56:], 1) // refcount table clusters
	// 60: no snapshots, 64: snapshots offset
	be.PutUint64(img[refTable:], refBlock)
	for i := range clusters { // 16-bit refcounts, each cluster used once
		be.PutUint16(img[refBlock+2*i:], 1)
	}
	_, err := f.Write(img)
	return err
}
