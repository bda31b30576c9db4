package objserver

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nimbus-cloud/nimbus/internal/fsync"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// fileWriter streams one object file into the device's tmp/ directory.
// A small file is built in the pooled buffer and written with a single
// write; a large one is written four blocks at a time and its header,
// which holds the length and MD5, is written last in place.
type fileWriter struct {
	f       *os.File
	bp      *[]byte
	buf     []byte
	pos     int   // bytes pending in buf
	written int64 // bytes already in the file
	synced  int64 // bytes handed to writeback
	hdr     header
	meta    []byte
	sum     hash.Hash
	share   *sumWriter    // hashes in a goroutine, shared with other replicas; or nil
	dw      *directWriter // writes a large body with O_DIRECT, or nil
}

var errTooLarge = errors.New("object too large")

func newFileWriter(d *device, kind byte, meta []byte) (*fileWriter, error) {
	f, err := os.CreateTemp(d.tmp(), ".w-")
	if err != nil {
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	w := &fileWriter{f: f, bp: getBuf(), meta: meta, hdr: header{kind: kind, metaLen: len(meta)}}
	w.buf = *w.bp
	if headerSize+len(meta)+blockSize+crcSize <= len(w.buf) {
		clear(w.buf[:headerSize])
		w.pos = headerSize + copy(w.buf[headerSize:], meta)
	} else {
		// Outsized metadata: out it goes now, behind a blank header.
		if _, err := f.Write(append(make([]byte, headerSize), meta...)); err != nil {
			w.abort()
			return nil, fmt.Errorf("write %s: %w", f.Name(), err)
		}
		w.written = int64(headerSize + len(meta))
	}
	if kind == kindData {
		w.sum = md5.New()
	}
	return w, nil
}

// shareSum has the MD5 computed by a goroutine shared with the other
// writers of key (the same object version on other devices of this
// server).
func (w *fileWriter) shareSum(s *sumShare, key string) {
	if w.sum != nil {
		w.share = s.join(key)
	}
}

func (w *fileWriter) flush() error {
	if w.pos == 0 {
		return nil
	}
	if w.dw != nil {
		return w.flushDirect()
	}
	if _, err := w.f.Write(w.buf[:w.pos]); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	w.written += int64(w.pos)
	w.pos = 0
	if w.written-w.synced >= writebackEvery {
		startWriteback(w.f, w.synced, w.written-w.synced)
		w.synced = w.written
	}
	return nil
}

// writebackEvery is how much of a large upload may sit in the page cache
// before its writeback is started.
const writebackEvery = 8 << 20

// readFrom copies the body into the file as checksummed blocks. A body
// that breaks off returns its reader's error (io.ErrUnexpectedEOF for a
// request whose client went away); limit bounds the data length.
func (w *fileWriter) readFrom(r io.Reader, limit int64) error {
	for {
		if w.pos+blockSize+crcSize > len(w.buf) {
			if err := w.flush(); err != nil {
				return err
			}
		}
		blk := w.buf[w.pos : w.pos+blockSize]
		n, err := fill(r, blk)
		if n > 0 {
			if w.hdr.size+int64(n) > limit {
				return errTooLarge
			}
			if w.share != nil {
				w.share.write(blk[:n])
			} else {
				w.sum.Write(blk[:n])
			}
			binary.LittleEndian.PutUint32(w.buf[w.pos+n:], crc32.Checksum(blk[:n], castagnoli))
			w.pos += n + crcSize
			w.hdr.size += int64(n)
		}
		if err == io.EOF || (err == nil && n < blockSize) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fill reads until b is full or the reader ends (io.EOF).
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// finish writes the header, fsyncs and closes the file; the caller then
// commits or removes it.
func (w *fileWriter) finish() error {
	defer w.release()
	switch {
	case w.share != nil:
		w.hdr.md5 = w.share.sum()
	case w.sum != nil:
		w.sum.Sum(w.hdr.md5[:0])
	}
	if w.dw != nil {
		if err := w.finishDirect(); err != nil {
			return err
		}
	} else if w.written == 0 {
		putHeader(w.buf[:headerSize], w.hdr, w.meta)
		if err := w.flush(); err != nil {
			return err
		}
	} else {
		if err := w.flush(); err != nil {
			return err
		}
		var fixed [headerSize]byte
		putHeader(fixed[:], w.hdr, w.meta)
		if _, err := w.f.WriteAt(fixed[:], 0); err != nil {
			return fmt.Errorf("write %s: %w", w.f.Name(), err)
		}
	}
	if err := fdatasync(w.f); err != nil {
		return fmt.Errorf("fsync %s: %w", w.f.Name(), err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", w.f.Name(), err)
	}
	return nil
}

func (w *fileWriter) release() {
	if w.share != nil {
		w.share.leave()
		w.share = nil
	}
	switch {
	case w.dw != nil && w.bp != nil:
		w.releaseDirect()
		directPool.Put(w.bp)
		w.bp, w.buf = nil, nil
	case w.bp != nil:
		putBuf(w.bp)
		w.bp, w.buf = nil, nil
	}
}

// abort drops the temp file.
func (w *fileWriter) abort() {
	w.release()
	w.f.Close()
	_ = os.Remove(w.f.Name())
}

func (w *fileWriter) path() string { return w.f.Name() }

// writeSmall writes a file with no data (a tombstone or a .meta).
func writeSmall(d *device, kind byte, meta map[string]string) (string, error) {
	w, err := newFileWriter(d, kind, encodeMeta(meta))
	if err != nil {
		return "", err
	}
	if err := w.finish(); err != nil {
		w.abort()
		return "", err
	}
	return w.path(), nil
}

// staleError says the hash directory already holds something as new as
// the file offered; ts is what wins there.
type staleError struct{ ts swift.Timestamp }

func (e *staleError) Error() string { return "newer file exists at " + e.ts.Internal() }

// commit moves the finished temp file into the object's hash directory as
// ref, unless what is there is as new (a *staleError, and the temp file is
// removed). It fsyncs the directory (and any it had to create), removes
// the files the new one makes obsolete and invalidates the suffix hash.
func (s *Server) commit(d *device, part int, hash, tmp string, ref fileRef) error {
	dir := d.hashDir(part, hash)
	mu := s.hashLock(hash)
	mu.Lock()
	st, err := readDirState(dir)
	if err != nil {
		mu.Unlock()
		os.Remove(tmp)
		return fmt.Errorf("list %s: %w", dir, err)
	}
	if err := checkNewer(&st, ref); err != nil {
		mu.Unlock()
		os.Remove(tmp)
		return err
	}
	target := filepath.Join(dir, ref.name())
	var created int
	for try := 0; ; try++ {
		created, err = mkdirs(dir, d.objects())
		if err == nil {
			err = os.Rename(tmp, target)
		}
		// A reclaim may remove an empty parent between mkdir and rename.
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == 3 {
			break
		}
	}
	if err != nil {
		mu.Unlock()
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", dir, err)
	}
	for p, i := dir, 0; i <= created && i < 4; p, i = filepath.Dir(p), i+1 {
		if err = fsync.Path(p); err != nil {
			mu.Unlock()
			return fmt.Errorf("fsync %s: %w", p, err)
		}
	}
	st.files = append(st.files, ref)
	st = stateOf(namesOf(st.files))
	for _, f := range st.obsolete() {
		_ = os.Remove(filepath.Join(dir, f.name()))
	}
	mu.Unlock()
	s.invalidate(d, part, suffixOf(hash))
	return nil
}

// checkNewer refuses a file that what the directory holds outdates.
func checkNewer(st *dirState, ref fileRef) error {
	w := st.winnerTS()
	if st.winner != nil && !ref.ts.After(w) {
		return &staleError{ts: w}
	}
	if ref.ext == ".meta" {
		if m := st.newestMeta(); !ref.ts.After(m) {
			return &staleError{ts: m}
		}
	}
	return nil
}

func namesOf(files []fileRef) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.name()
	}
	return out
}
