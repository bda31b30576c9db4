// Package inspect learns a disk image's format from its bytes as they stream
// past, without buffering the image, so the image service can refuse uploads
// whose content is not what their disk_format claims, or that point QEMU at
// other files (backing files, external data files, VMDK extents).
//
// It follows the idea of Glance's and oslo.utils' format_inspector: capture
// only the few regions each format needs, then decide once the stream ends.
package inspect

import (
	"io"
)

const (
	// headSize covers every header the formats keep near the start: qcow2,
	// VDI, the VHD footer copy, VMDK sparse headers, GPT (512 and 4096 byte
	// sectors) with its entries, and the ISO 9660 volume descriptor at 32 KiB.
	headSize = 64 << 10
	// sniffSize is how much must arrive before regions further on are chosen.
	sniffSize = 512
	// tailSize holds a VHD footer and a streamOptimized VMDK footer with its
	// markers.
	tailSize = 3 * 512
	// maxVirtualSize bounds any size a header claims; it is far above any
	// real disk and keeps arithmetic on it from overflowing.
	maxVirtualSize = 1 << 55
)

// Inspector learns an image's format from its bytes as they stream past. It is
// an io.Writer that never fails, keeps at most a bounded amount of data (the
// regions the formats need: headers near the start, a VHD footer at the end,
// VMDK descriptor, VHDX metadata, ISO volume descriptor at 32 KiB, GPT header
// and entries), so memory stays flat for any image size.
type Inspector struct {
	n          int64 // bytes written
	chunkStart int64 // offset of the chunk being written

	head    *region
	regions []*region

	tail    [tailSize]byte
	tailPos int // next write index in tail, a ring

	vmdk vmdkState
	vhdx vhdxState
}

// region is a span of the stream to keep. Its bytes arrive in order, so buf
// fills from the front; missed is set when it was asked for too late.
type region struct {
	off    int64
	want   int
	buf    []byte
	missed bool
	done   func(b []byte) // called once when buf is full
}

func (r *region) complete() bool { return !r.missed && len(r.buf) == r.want }

// New returns an Inspector ready for the first byte of an image.
func New() *Inspector {
	i := &Inspector{}
	i.head = i.capture(0, headSize, nil)
	i.capture(0, sniffSize, i.sniffed)
	return i
}

// capture asks for want bytes at off. Regions chosen while a chunk is being
// written still see that chunk; a region that starts before it is missed.
func (i *Inspector) capture(off int64, want int, done func([]byte)) *region {
	r := &region{off: off, want: want, done: done}
	if off < i.chunkStart || want <= 0 || off < 0 {
		r.missed = true
	}
	i.regions = append(i.regions, r)
	return r
}

// Write records p. It never fails.
func (i *Inspector) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	start := i.n
	end := start + int64(len(p))
	i.chunkStart = start
	// Regions may add regions; those are visited by the same loop.
	for k := 0; k < len(i.regions); k++ {
		r := i.regions[k]
		if r.missed || len(r.buf) == r.want {
			continue
		}
		from := r.off + int64(len(r.buf)) // next byte the region needs
		if from < start || from >= end {
			continue
		}
		to := min(r.off+int64(r.want), end)
		r.buf = append(r.buf, p[from-start:to-start]...)
		if len(r.buf) == r.want && r.done != nil {
			r.done(r.buf)
		}
	}
	i.n = end
	i.chunkStart = end
	i.keepTail(p)
	i.prune()
	return len(p), nil
}

// prune drops finished regions from the scan list; their owners keep them.
func (i *Inspector) prune() {
	kept := i.regions[:0]
	for _, r := range i.regions {
		if !r.missed && len(r.buf) < r.want {
			kept = append(kept, r)
		}
	}
	clear(i.regions[len(kept):])
	i.regions = kept
}

func (i *Inspector) keepTail(p []byte) {
	if len(p) >= tailSize {
		copy(i.tail[:], p[len(p)-tailSize:])
		i.tailPos = 0
		return
	}
	n := copy(i.tail[i.tailPos:], p)
	if n < len(p) {
		copy(i.tail[:], p[n:])
	}
	i.tailPos = (i.tailPos + len(p)) % tailSize
}

// lastBytes returns the last n (<= tailSize) bytes written, fewer if the
// stream is shorter.
func (i *Inspector) lastBytes(n int) []byte {
	n = int(min(int64(n), i.n))
	out := make([]byte, 0, tailSize)
	out = append(out, i.tail[i.tailPos:]...)
	out = append(out, i.tail[:i.tailPos]...)
	return out[tailSize-n:]
}

// held is the number of bytes the inspector keeps, for tests.
func (i *Inspector) held() int {
	n := tailSize + cap(i.head.buf)
	n += i.vmdk.held() + i.vhdx.held()
	return n
}

// sniffed runs once the first 512 bytes are in and asks for the regions that
// only some formats need.
func (i *Inspector) sniffed(b []byte) {
	switch {
	case hasPrefix(b, vmdkMagic):
		i.vmdk.start(i, b)
	case hasPrefix(b, vhdxMagic):
		i.vhdx.start(i)
	}
}

// nextWanted is the lowest offset at or after the current one that some
// region still needs, or -1 when none does.
func (i *Inspector) nextWanted() int64 {
	next := int64(-1)
	for _, r := range i.regions {
		if r.missed || len(r.buf) == r.want {
			continue
		}
		at := max(r.off+int64(len(r.buf)), i.n)
		if next < 0 || at < next {
			next = at
		}
	}
	return next
}

// skip advances over n bytes nobody needs, as if they had been written.
// Only Detect uses it, and only where nextWanted says nothing is needed; the
// tail ring is refilled because Detect always reads the last tailSize bytes.
func (i *Inspector) skip(n int64) {
	i.n += n
	i.chunkStart = i.n
}

// Result is what the inspector concluded once all bytes were written.
type Result struct {
	// Format is the Glance disk_format name: "raw", "qcow2", "vmdk", "vhd",
	// "vhdx", "vdi" or "iso"; "raw" when nothing else matched.
	Format string
	// Partition is the partition table of a raw image: "gpt", "mbr" or "".
	Partition string
	// VirtualSize is the number of bytes the guest sees; for raw, ActualSize.
	VirtualSize int64
	// ActualSize is the number of bytes written.
	ActualSize int64
	// Unsafe is "" when the image is safe to hand to QEMU, else why not.
	Unsafe string
}

// Detect inspects an image file of size bytes, reading only the regions the
// formats need. It gives the same Result as writing the whole file to New().
func Detect(r io.ReaderAt, size int64) (Result, error) {
	i := New()
	buf := make([]byte, 1<<20)
	tailStart := max(size-tailSize, 0)
	for i.n < size {
		next := i.nextWanted()
		if next < 0 || next > tailStart {
			next = tailStart
		}
		if next > i.n {
			i.skip(next - i.n)
			continue
		}
		chunk := buf[:min(int64(len(buf)), size-i.n)]
		n, err := r.ReadAt(chunk, i.n)
		if n < len(chunk) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Result{}, err
		}
		i.Write(chunk)
	}
	return i.Result(), nil
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}
