package objserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// objFile is an open object file: its header and metadata checked, its
// blocks read on demand through a pooled buffer and checked one by one.
type objFile struct {
	f    *os.File
	path string
	hdr  header
	meta map[string]string

	bp       *[]byte
	cache    []byte // file bytes [cacheAt, cacheAt+len(cache)) held in *bp
	cacheAt  int64
	rp       *[]byte // the buffer of run, once used
	dropped  int64   // file bytes before this were dropped from the cache
	released bool
}

// openObjFile opens path and checks its header, reading first bytes at
// once (enough for a small object's data too, so one read serves it).
// A missing file gives an error satisfying errors.Is(err, fs.ErrNotExist);
// a damaged one an error satisfying errors.Is(err, errCorrupt).
func openObjFile(path string, first int) (*objFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	o := &objFile{f: f, path: path, bp: getBuf()}
	first = min(max(first, 4096), len(*o.bp))
	n, err := f.ReadAt((*o.bp)[:first], 0)
	if err != nil && err != io.EOF {
		o.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	o.cache, o.cacheAt = (*o.bp)[:n], 0
	if o.hdr, err = parseHeader(o.cache); err != nil {
		o.Close()
		return nil, err
	}
	end := headerSize + o.hdr.metaLen
	var meta []byte
	if end <= n {
		meta = o.cache[headerSize:end]
	} else {
		meta = make([]byte, o.hdr.metaLen)
		if m, err := f.ReadAt(meta, headerSize); m < len(meta) {
			o.Close()
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
			return nil, corruptf("short metadata")
		}
	}
	if err := checkHeader(o.cache[:headerSize], meta); err != nil {
		o.Close()
		return nil, err
	}
	if o.meta, err = decodeMeta(meta); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// Close releases the file and the buffer.
func (o *objFile) Close() error {
	if !o.released {
		o.released = true
		putBuf(o.bp)
		o.cache = nil
		if o.rp != nil {
			runPool.Put(o.rp)
			o.rp = nil
		}
	}
	return o.f.Close()
}

// block returns block i's data once its checksum is right, reading ahead
// up to block last. The slice is valid until the next call.
func (o *objFile) block(i, last int64) ([]byte, error) {
	size := o.hdr.size
	if i < 0 || i >= blockCount(size) {
		return nil, fmt.Errorf("block %d out of range", i)
	}
	at := o.hdr.blocksAt() + i*(blockSize+crcSize)
	need := blockLen(size, i) + crcSize
	if at < o.cacheAt || at+need > o.cacheAt+int64(len(o.cache)) {
		buf := *o.bp
		span := int64(len(buf)) / (blockSize + crcSize) * (blockSize + crcSize)
		// Read up to the end of block last, not beyond the data.
		if last >= i {
			end := o.hdr.blocksAt() + last*(blockSize+crcSize) + blockLen(size, last) + crcSize
			span = min(span, end-at)
		}
		span = max(span, need)
		n, err := o.f.ReadAt(buf[:span], at)
		if int64(n) < need {
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("read %s: %w", o.path, err)
			}
			return nil, corruptf("%s truncated in block %d", o.path, i)
		}
		o.cache, o.cacheAt = buf[:n], at
	}
	b := o.cache[at-o.cacheAt : at-o.cacheAt+need]
	data := b[:len(b)-crcSize]
	if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(b[len(data):]) {
		return nil, corruptf("%s: checksum mismatch in block %d", o.path, i)
	}
	return data, nil
}

// runBlocks is how many blocks a large read takes at once: their data
// lands contiguous in one buffer (the checksums in another) with one
// system call, so that it leaves in one write.
const runBlocks = 16

var runPool = sync.Pool{New: func() any { b := make([]byte, runBlocks*blockSize); return &b }}

// run returns the data of blocks i up to at most last (runBlocks of them
// at most) once each block's checksum is right. The slice is valid until
// the next call or Close.
func (o *objFile) run(i, last int64) ([]byte, error) {
	size := o.hdr.size
	if i < 0 || i >= blockCount(size) || last < i {
		return nil, fmt.Errorf("blocks %d-%d out of range", i, last)
	}
	last = min(last, i+runBlocks-1, blockCount(size)-1)
	if o.rp == nil {
		o.rp = runPool.Get().(*[]byte)
	}
	data := *o.rp
	var crcs [runBlocks * crcSize]byte
	bufs := make([][]byte, 0, 2*runBlocks)
	n := 0
	for b := i; b <= last; b++ {
		l := int(blockLen(size, b))
		k := int(b - i)
		bufs = append(bufs, data[n:n+l], crcs[k*crcSize:(k+1)*crcSize])
		n += l
	}
	at := o.hdr.blocksAt() + i*(blockSize+crcSize)
	want := n + len(bufs)/2*crcSize
	got, err := preadv(o.f, bufs, at)
	if got < want {
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s: %w", o.path, err)
		}
		return nil, corruptf("%s truncated in blocks %d-%d", o.path, i, last)
	}
	off := 0
	for b := i; b <= last; b++ {
		l := int(blockLen(size, b))
		k := int(b - i)
		if crc32.Checksum(data[off:off+l], castagnoli) != binary.LittleEndian.Uint32(crcs[k*crcSize:]) {
			return nil, corruptf("%s: checksum mismatch in block %d", o.path, b)
		}
		off += l
	}
	return data[:n], nil
}

// dropBehind drops the file's pages before block i from the page cache.
func (o *objFile) dropBehind(i int64) {
	end := o.hdr.blocksAt() + i*(blockSize+crcSize)
	if end > o.dropped {
		// The kernel drops only whole folios, and readahead makes them
		// up to a few MiB: go back over the last ones, which the
		// previous call may have left.
		from := o.dropped &^ (dropAlign - 1)
		dropCache(o.f, from, end-from)
		o.dropped = end
	}
}

// dropAlign is the largest folio the page cache is expected to hold.
const dropAlign = 8 << 20

// isCorrupt reports whether err means the file's bytes are bad.
func isCorrupt(err error) bool { return errors.Is(err, errCorrupt) }
