package inspect

import (
	"encoding/binary"
	"hash/crc32"
)

const vhdxMagic = "vhdxfile"

// VHDX GUIDs as they appear on disk (the first three fields little-endian).
var (
	vhdxMetadataRegion = guid(0x8B7CA206, 0x4790, 0x4B9A, 0xB8FE575F050F886E)
	vhdxBATRegion      = guid(0x2DC27766, 0xF623, 0x4200, 0x9D64115E9BFD4A08)
	vhdxVirtualSize    = guid(0x2FA54224, 0xCD1B, 0x4876, 0xB2115DBED83BF4B8)
	vhdxParentLocator  = guid(0xA8D35F2D, 0xB30B, 0x454D, 0xABF7D3D84834AB0C)
)

func guid(a uint32, b, c uint16, d uint64) string {
	var g [16]byte
	binary.LittleEndian.PutUint32(g[0:], a)
	binary.LittleEndian.PutUint16(g[4:], b)
	binary.LittleEndian.PutUint16(g[6:], c)
	binary.BigEndian.PutUint64(g[8:], d)
	return string(g[:])
}

// vhdxState walks region table -> metadata table -> virtual disk size item,
// asking for each as the previous one arrives.
type vhdxState struct {
	regions, meta, size *region
	unsafe              string
	parent              bool
}

const (
	vhdxRegionTable = 192 << 10
	vhdxTableSize   = 64 << 10
	vhdxMaxEntries  = 2047
)

func (s *vhdxState) held() int {
	n := 0
	for _, r := range []*region{s.regions, s.meta, s.size} {
		if r != nil {
			n += cap(r.buf)
		}
	}
	return n
}

func (s *vhdxState) start(i *Inspector) {
	s.regions = i.capture(vhdxRegionTable, vhdxTableSize, func(b []byte) { s.regionTable(i, b) })
}

func (s *vhdxState) regionTable(i *Inspector, b []byte) {
	le := binary.LittleEndian
	if string(b[:4]) != "regi" {
		s.unsafe = "vhdx region table is invalid"
		return
	}
	sum := le.Uint32(b[4:])
	c := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	c.Write(b[:4])
	c.Write(make([]byte, 4))
	c.Write(b[8:])
	if c.Sum32() != sum {
		s.unsafe = "vhdx region table checksum mismatch"
		return
	}
	count := le.Uint32(b[8:])
	if count > vhdxMaxEntries {
		s.unsafe = "vhdx region table is invalid"
		return
	}
	var metaOff uint64
	for k := range int(count) {
		e := b[16+32*k : 16+32*k+32]
		id := string(e[:16])
		switch {
		case id == vhdxMetadataRegion:
			metaOff = le.Uint64(e[16:])
		case id == vhdxBATRegion:
		case le.Uint32(e[28:])&1 != 0:
			s.unsafe = "vhdx has an unknown required region"
			return
		}
	}
	// Regions are 1 MiB aligned and past the headers; anything else was
	// either garbled or placed where it has already streamed by.
	if metaOff < 1<<20 || metaOff%(1<<20) != 0 || metaOff > maxVirtualSize {
		s.unsafe = "vhdx metadata region is invalid"
		return
	}
	s.meta = i.capture(int64(metaOff), vhdxTableSize, func(b []byte) { s.metadata(i, b) })
}

func (s *vhdxState) metadata(i *Inspector, b []byte) {
	le := binary.LittleEndian
	if string(b[:8]) != "metadata" {
		s.unsafe = "vhdx metadata table is invalid"
		return
	}
	count := int(le.Uint16(b[10:]))
	if count > vhdxMaxEntries {
		s.unsafe = "vhdx metadata table is invalid"
		return
	}
	for k := range count {
		e := b[32+32*k : 32+32*k+32]
		off, length := le.Uint32(e[16:]), le.Uint32(e[20:])
		switch string(e[:16]) {
		case vhdxParentLocator:
			s.parent = true
		case vhdxVirtualSize:
			if off < vhdxTableSize || length != 8 || s.size != nil {
				s.unsafe = "vhdx virtual disk size item is invalid"
				return
			}
			s.size = i.capture(s.meta.off+int64(off), 8, nil)
		}
	}
}

func (i *Inspector) vhdxResult(h []byte) (finding, bool) {
	if !hasPrefix(h, vhdxMagic) {
		return finding{}, false
	}
	s := &i.vhdx
	f := finding{format: "vhdx", unsafe: s.unsafe}
	switch {
	case f.unsafe != "":
	case s.parent:
		f.unsafe = "vhdx is a differencing disk"
	case s.size == nil || !s.size.complete():
		f.unsafe = truncated
	default:
		f.virtual, f.unsafe = sizeFrom(binary.LittleEndian.Uint64(s.size.buf))
	}
	return f, true
}
