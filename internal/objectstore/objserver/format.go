package objserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
)

// The files of an object (.data, .meta and .ts) share one self-checking
// format, so a file is whole on its own and replication copies it byte for
// byte:
//
//	offset  size  field
//	0       4     magic "NSO1"
//	4       1     version (1)
//	5       1     kind: 'd' data, 'm' metadata (POST), 't' tombstone
//	6       2     zero
//	8       8     data length L (little endian)
//	16      16    MD5 of the data (the ETag)
//	32      4     metadata length M
//	36      4     CRC32C of bytes 0..36 and of the metadata
//	40      M     metadata: count u32, then per entry key length u16, key,
//	              value length u32, value; keys sorted
//	40+M          data in blocks of 64 KiB (the last one shorter), each
//	              followed by the CRC32C of its bytes
//
// Keeping each block's checksum right after it lets a reader check every
// block before it gives the bytes away, and a range read touch only the
// blocks it needs. Metadata is binary rather than JSON because header values
// may be any bytes and must come back exactly as they were stored.
const (
	blockSize  = 64 << 10
	crcSize    = 4
	headerSize = 40
	fileMagic  = "NSO1"
	version    = 1
	// maxMetaLen bounds what a reader believes before it allocates.
	maxMetaLen = 1 << 20

	kindData byte = 'd'
	kindMeta byte = 'm'
	kindTomb byte = 't'
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the fixed part of a file.
type header struct {
	kind    byte
	size    int64 // data length
	md5     [16]byte
	metaLen int
}

// blocksAt is the file offset of the first data block.
func (h header) blocksAt() int64 { return headerSize + int64(h.metaLen) }

// fileLen is the length a whole file with this header has.
func (h header) fileLen() int64 {
	return h.blocksAt() + h.size + crcSize*blockCount(h.size)
}

func blockCount(size int64) int64 { return (size + blockSize - 1) / blockSize }

// blockLen is the data length of block i of an object of size bytes.
func blockLen(size, i int64) int64 { return min(blockSize, size-i*blockSize) }

// putHeader writes h into dst[:headerSize], its CRC covering meta too.
func putHeader(dst []byte, h header, meta []byte) {
	copy(dst[0:4], fileMagic)
	dst[4] = version
	dst[5] = h.kind
	dst[6], dst[7] = 0, 0
	binary.LittleEndian.PutUint64(dst[8:16], uint64(h.size))
	copy(dst[16:32], h.md5[:])
	binary.LittleEndian.PutUint32(dst[32:36], uint32(len(meta)))
	crc := crc32.Update(crc32.Checksum(dst[:36], castagnoli), castagnoli, meta)
	binary.LittleEndian.PutUint32(dst[36:40], crc)
}

// errCorrupt marks a file whose bytes are not what was written: such a
// file is quarantined, never served.
var errCorrupt = errors.New("corrupt object file")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, args...)...)
}

// parseHeader reads the fixed header; checkHeader then checks its CRC once
// the metadata bytes are at hand.
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerSize {
		return h, corruptf("short header (%d bytes)", len(b))
	}
	if string(b[0:4]) != fileMagic || b[4] != version {
		return h, corruptf("bad magic or version")
	}
	h.kind = b[5]
	switch h.kind {
	case kindData, kindMeta, kindTomb:
	default:
		return h, corruptf("bad kind %q", h.kind)
	}
	size := binary.LittleEndian.Uint64(b[8:16])
	if size > 1<<50 {
		return h, corruptf("bad data length %d", size)
	}
	h.size = int64(size)
	copy(h.md5[:], b[16:32])
	ml := binary.LittleEndian.Uint32(b[32:36])
	if ml > maxMetaLen {
		return h, corruptf("bad metadata length %d", ml)
	}
	h.metaLen = int(ml)
	return h, nil
}

func checkHeader(fixed, meta []byte) error {
	want := binary.LittleEndian.Uint32(fixed[36:40])
	if crc32.Update(crc32.Checksum(fixed[:36], castagnoli), castagnoli, meta) != want {
		return corruptf("header checksum mismatch")
	}
	return nil
}

// encodeMeta serializes metadata, keys sorted so equal maps give equal
// bytes.
func encodeMeta(m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	n := 4
	for k, v := range m {
		keys = append(keys, k)
		n += 2 + len(k) + 4 + len(v)
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		v := m[k]
		b = binary.LittleEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

func decodeMeta(b []byte) (map[string]string, error) {
	if len(b) < 4 {
		return nil, corruptf("short metadata")
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if n > uint32(len(b)) {
		return nil, corruptf("bad metadata count")
	}
	m := make(map[string]string, n)
	for range n {
		if len(b) < 2 {
			return nil, corruptf("short metadata key")
		}
		kl := int(binary.LittleEndian.Uint16(b))
		b = b[2:]
		if len(b) < kl+4 {
			return nil, corruptf("short metadata key")
		}
		k := string(b[:kl])
		b = b[kl:]
		vl := int(binary.LittleEndian.Uint32(b))
		b = b[4:]
		if len(b) < vl {
			return nil, corruptf("short metadata value")
		}
		m[k] = string(b[:vl])
		b = b[vl:]
	}
	if len(b) != 0 {
		return nil, corruptf("trailing metadata bytes")
	}
	return m, nil
}

// bufLen is the size of the pooled I/O buffers: four blocks with their
// checksums, plus room for a header and ordinary metadata, so a small
// object is read or written with one system call.
const bufLen = 4*(blockSize+crcSize) + 8<<10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufLen); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }
