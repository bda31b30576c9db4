package inspect

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// finding is one format's verdict on the captured bytes.
type finding struct {
	format  string
	virtual int64
	unsafe  string
}

// Result is what the inspector concluded once all bytes were written. It may
// be called at any time; it reflects the bytes written so far.
func (i *Inspector) Result() Result {
	head := i.head.buf
	var found []finding
	for _, check := range []func(*Inspector, []byte) (finding, bool){
		(*Inspector).qcow2, (*Inspector).vhdAtStart, (*Inspector).vhdxResult,
		(*Inspector).vdi, (*Inspector).vmdkResult, (*Inspector).iso,
	} {
		if f, ok := check(i, head); ok {
			found = append(found, f)
		}
	}
	if len(found) == 0 {
		if f, ok := i.vhdAtEnd(); ok {
			found = append(found, f)
		}
	}
	res := Result{ActualSize: i.n}
	if len(found) == 0 {
		res.Format = "raw"
		res.VirtualSize = i.n
		res.Partition, res.Unsafe = partitions(head)
		return res
	}
	f := found[0]
	res.Format, res.VirtualSize, res.Unsafe = f.format, f.virtual, f.unsafe
	if res.VirtualSize < 0 || res.VirtualSize > maxVirtualSize {
		res.VirtualSize = 0
		if res.Unsafe == "" {
			res.Unsafe = "virtual size out of range"
		}
	}
	if len(found) > 1 && res.Unsafe == "" {
		names := make([]string, len(found))
		for k, f := range found {
			names[k] = f.format
		}
		res.Unsafe = "multiple formats detected: " + strings.Join(names, ", ")
	}
	return res
}

const truncated = "truncated header"

// sizeFrom converts a header's unsigned size, refusing what does not fit.
func sizeFrom(v uint64) (int64, string) {
	if v > maxVirtualSize {
		return 0, "virtual size out of range"
	}
	return int64(v), ""
}

// qcow2 follows docs/interop/qcow2.txt in QEMU.
func (i *Inspector) qcow2(h []byte) (finding, bool) {
	if !hasPrefix(h, "QFI\xfb") {
		return finding{}, false
	}
	f := finding{format: "qcow2"}
	if len(h) < 72 {
		f.unsafe = truncated
		return f, true
	}
	be := binary.BigEndian
	version := be.Uint32(h[4:])
	f.virtual, f.unsafe = sizeFrom(be.Uint64(h[24:]))
	if version != 2 && version != 3 {
		f.unsafe = fmt.Sprintf("qcow2 version %d is not supported", version)
		return f, true
	}
	if cb := be.Uint32(h[20:]); cb < 9 || cb > 21 {
		f.unsafe = "qcow2 cluster size out of range"
		return f, true
	}
	if be.Uint64(h[8:]) != 0 {
		f.unsafe = "qcow2 has a backing file"
		return f, true
	}
	if version == 3 {
		if len(h) < 104 {
			f.unsafe = truncated
			return f, true
		}
		if be.Uint32(h[100:]) < 104 {
			f.unsafe = "qcow2 header length out of range"
			return f, true
		}
		incompat := be.Uint64(h[72:])
		const (
			dataFile = 1 << 2
			known    = 1<<5 - 1 // dirty, corrupt, data file, compression type, extended L2
		)
		if incompat&dataFile != 0 {
			f.unsafe = "qcow2 has an external data file"
			return f, true
		}
		if incompat&^known != 0 {
			f.unsafe = "qcow2 has unknown incompatible features"
			return f, true
		}
	}
	return f, true
}

// VHD keeps a 512-byte footer at the end; dynamic and differencing disks
// also copy it to the start.
const vhdMagic = "conectix"

func (i *Inspector) vhdAtStart(h []byte) (finding, bool) {
	if !hasPrefix(h, vhdMagic) {
		return finding{}, false
	}
	f := vhdFooter(h, false)
	return f, true
}

func (i *Inspector) vhdAtEnd() (finding, bool) {
	if i.n < 512 {
		return finding{}, false
	}
	foot := i.lastBytes(512)
	if !hasPrefix(foot, vhdMagic) {
		return finding{}, false
	}
	f := vhdFooter(foot, true)
	if f.unsafe == "" && f.virtual > i.n-512 {
		f.unsafe = "vhd size exceeds the data"
	}
	return f, true
}

func vhdFooter(b []byte, fixed bool) finding {
	f := finding{format: "vhd"}
	if len(b) < 512 {
		f.unsafe = truncated
		return f
	}
	be := binary.BigEndian
	var sum uint32
	for k, c := range b[:512] {
		if k < 64 || k >= 68 {
			sum += uint32(c)
		}
	}
	if ^sum != be.Uint32(b[64:]) {
		f.unsafe = "vhd footer checksum mismatch"
		return f
	}
	f.virtual, f.unsafe = sizeFrom(be.Uint64(b[48:]))
	if f.unsafe != "" {
		return f
	}
	switch t := be.Uint32(b[60:]); {
	case t == 4:
		f.unsafe = "vhd is a differencing disk"
	case t == 2 && fixed, t == 3 && !fixed:
	default:
		f.unsafe = fmt.Sprintf("vhd disk type %d is not allowed here", t)
	}
	return f
}

// vdi follows the VirtualBox header, version 1.1.
func (i *Inspector) vdi(h []byte) (finding, bool) {
	const magic = 0xbeda107f
	if len(h) < 0x44 || binary.LittleEndian.Uint32(h[0x40:]) != magic {
		return finding{}, false
	}
	f := finding{format: "vdi"}
	if len(h) < 0x190 {
		f.unsafe = truncated
		return f, true
	}
	le := binary.LittleEndian
	if v := le.Uint32(h[0x44:]); v != 0x00010001 {
		f.unsafe = fmt.Sprintf("vdi version %#x is not supported", v)
		return f, true
	}
	f.virtual, f.unsafe = sizeFrom(le.Uint64(h[0x170:]))
	if f.unsafe != "" {
		return f, true
	}
	switch t := le.Uint32(h[0x4c:]); t {
	case 1, 2: // dynamic, fixed
	case 4:
		f.unsafe = "vdi is a differencing image"
	default:
		f.unsafe = fmt.Sprintf("vdi image type %d is not supported", t)
	}
	return f, true
}

// iso reads the ISO 9660 primary volume descriptor at sector 16.
func (i *Inspector) iso(h []byte) (finding, bool) {
	const at = 32 << 10
	if len(h) < at+6 || string(h[at+1:at+6]) != "CD001" {
		return finding{}, false
	}
	f := finding{format: "iso"}
	if len(h) < at+2048 {
		f.unsafe = truncated
		return f, true
	}
	pvd := h[at : at+2048]
	if pvd[0] != 1 {
		f.unsafe = "iso has no primary volume descriptor first"
		return f, true
	}
	// Both-endian fields: the two halves must agree.
	blocks := binary.LittleEndian.Uint32(pvd[80:])
	blockSize := binary.LittleEndian.Uint16(pvd[128:])
	if blocks != binary.BigEndian.Uint32(pvd[84:]) || blockSize != binary.BigEndian.Uint16(pvd[130:]) {
		f.unsafe = "iso volume descriptor is inconsistent"
		return f, true
	}
	switch blockSize {
	case 512, 1024, 2048:
	default:
		f.unsafe = "iso logical block size out of range"
		return f, true
	}
	f.virtual = int64(blocks) * int64(blockSize)
	return f, true
}
