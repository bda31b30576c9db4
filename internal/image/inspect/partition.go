package inspect

import (
	"encoding/binary"
	"hash/crc32"
)

// partitions finds the partition table of a raw image: a GPT behind its
// protective MBR, or a plain MBR. A table that claims GPT but is garbled is
// unsafe, as tools would disagree on what the disk holds.
func partitions(h []byte) (kind, unsafe string) {
	if len(h) < 512 || h[510] != 0x55 || h[511] != 0xaa {
		return "", ""
	}
	// A FAT boot sector carries the same signature but no partition table.
	if h[0x10] == 2 && h[0x15] == 0xf8 {
		return "", ""
	}
	var used, protective int
	for k := range 4 {
		e := h[446+16*k : 446+16*k+16]
		if e[0] != 0 && e[0] != 0x80 {
			return "", "" // not a partition table after all
		}
		if e[4] == 0 {
			continue
		}
		used++
		if e[4] == 0xee {
			protective++
			if binary.LittleEndian.Uint32(e[8:]) != 1 {
				return "gpt", "gpt protective partition does not start at LBA 1"
			}
		}
	}
	if used == 0 {
		return "", ""
	}
	if protective == 0 {
		return "mbr", ""
	}
	if used != 1 {
		return "gpt", "gpt protective MBR defines other partitions"
	}
	for _, sector := range []int{512, 4096} {
		if len(h) >= sector+8 && string(h[sector:sector+8]) == "EFI PART" {
			return "gpt", gptHeader(h, sector)
		}
	}
	return "gpt", "gpt header not found"
}

// gptHeader checks the header at LBA 1 and, when they lie within the head,
// the partition entries against their checksums.
func gptHeader(h []byte, sector int) string {
	if len(h) < 2*sector {
		return truncated
	}
	le := binary.LittleEndian
	hdr := h[sector : 2*sector]
	size := le.Uint32(hdr[12:])
	if size < 92 || int(size) > sector {
		return "gpt header size out of range"
	}
	b := append([]byte(nil), hdr[:size]...)
	clear(b[16:20])
	if crc32.ChecksumIEEE(b) != le.Uint32(hdr[16:]) {
		return "gpt header checksum mismatch"
	}
	if le.Uint64(hdr[24:]) != 1 {
		return "gpt header is not at LBA 1"
	}
	lba := le.Uint64(hdr[72:])
	count := uint64(le.Uint32(hdr[80:]))
	esize := uint64(le.Uint32(hdr[84:]))
	if esize < 128 || esize&(esize-1) != 0 || count > 1<<14 {
		return "gpt partition entries out of range"
	}
	if lba < 2 || lba > uint64(len(h)/sector) {
		return "" // entries beyond what is kept: the header checksum has to do
	}
	start := lba * uint64(sector)
	end := start + count*esize
	if end > uint64(len(h)) {
		return ""
	}
	if crc32.ChecksumIEEE(h[start:end]) != le.Uint32(hdr[88:]) {
		return "gpt partition entries checksum mismatch"
	}
	return ""
}
