package objserver

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// A large body is written to its file with O_DIRECT, by a goroutine of
// its own, in runs of about 1 MiB while the next ones stream in and are
// checksummed. Through the page cache, each byte would cost a copy into
// freshly allocated pages, and writeback would come in small pieces long
// after; direct writes go from the buffer to the disk, several requests in
// flight for the three replicas. Direct I/O wants file offsets, lengths
// and memory aligned to the disk's blocks: the runs are cut at page
// boundaries, the bytes past the last boundary move to the next buffer,
// and the first page (it holds the header, known only at the end) and the
// file's last bytes are written through the page cache by finish, before
// the fdatasync that makes all of it durable.

const (
	pageSize = 4096
	// directMin is the smallest body written with O_DIRECT.
	directMin = 4 << 20
	// directBufLen holds a page carried over and 16 blocks.
	directBufLen = pageSize + 16*(blockSize+crcSize)
	// directBufs is how many buffers one writer fills and writes at once.
	directBufs = 3
)

var directPool = sync.Pool{New: func() any {
	b := make([]byte, directBufLen+pageSize)
	off := int((pageSize - uintptr(unsafe.Pointer(&b[0]))%pageSize) % pageSize)
	b = b[off : off+directBufLen]
	return &b
}}

// directWriter is the goroutine writing a file's runs.
type directWriter struct {
	todo  chan directRun
	done  chan directDone
	spare []*[]byte // buffers not in use
	head  []byte    // the file's first page, written by finish
	err   error     // the first failed write
}

type directRun struct {
	bp  *[]byte
	b   []byte
	off int64
}

type directDone struct {
	bp  *[]byte
	err error
}

// goDirect switches w to direct writes, if the file system allows them.
// It must be called before any data went in.
func (w *fileWriter) goDirect() {
	if w.written != 0 || w.dw != nil || setDirect(w.f, true) != nil {
		return
	}
	bp := directPool.Get().(*[]byte)
	w.pos = copy(*bp, w.buf[:w.pos])
	putBuf(w.bp)
	w.bp, w.buf = bp, *bp
	dw := &directWriter{todo: make(chan directRun, directBufs), done: make(chan directDone, directBufs),
		head: make([]byte, pageSize)}
	for range directBufs - 1 {
		dw.spare = append(dw.spare, directPool.Get().(*[]byte))
	}
	w.dw = dw
	go dw.run(w.f)
}

func (dw *directWriter) run(f *os.File) {
	for r := range dw.todo {
		_, err := f.WriteAt(r.b, r.off)
		if errors.Is(err, syscall.EINVAL) {
			// The file system took O_DIRECT but not this write: go on
			// through the page cache.
			if setDirect(f, false) == nil {
				_, err = f.WriteAt(r.b, r.off)
			}
		}
		dw.done <- directDone{r.bp, err}
	}
	close(dw.done)
}

// reap takes back a buffer the goroutine is done with, waiting for one.
func (dw *directWriter) reap() {
	d := <-dw.done
	dw.spare = append(dw.spare, d.bp)
	if d.err != nil && dw.err == nil {
		dw.err = d.err
	}
}

// flushDirect hands the pages in the buffer to the goroutine and goes on
// in another buffer with what is past the last page boundary.
func (w *fileWriter) flushDirect() error {
	dw := w.dw
	start, end := 0, w.pos&^(pageSize-1)
	if w.written == 0 {
		copy(dw.head, w.buf[:pageSize])
		start = pageSize
	}
	if len(dw.spare) == 0 {
		dw.reap()
	}
	if dw.err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), dw.err)
	}
	next := dw.spare[len(dw.spare)-1]
	dw.spare = dw.spare[:len(dw.spare)-1]
	if end > start {
		dw.todo <- directRun{bp: w.bp, b: w.buf[start:end], off: w.written + int64(start)}
	} else {
		dw.spare = append(dw.spare, w.bp)
	}
	w.pos = copy(*next, w.buf[end:w.pos])
	w.written += int64(end)
	w.bp, w.buf = next, *next
	return nil
}

// finishDirect writes what the goroutine did not: the bytes past the last
// full page, then the first page with the header. Both go through the
// page cache, so neither needs to be aligned.
func (w *fileWriter) finishDirect() error {
	w.releaseDirect()
	dw := w.dw
	if dw.err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), dw.err)
	}
	if err := setDirect(w.f, false); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	head := dw.head
	if w.written == 0 {
		head = w.buf[:w.pos]
	} else if _, err := w.f.WriteAt(w.buf[:w.pos], w.written); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	w.written += int64(w.pos)
	w.pos = 0
	putHeader(head[:headerSize], w.hdr, w.meta)
	if _, err := w.f.WriteAt(head, 0); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	return nil
}

// releaseDirect ends the goroutine (after the runs in flight) and gives
// its spare buffers back; the current one stays w's until release.
func (w *fileWriter) releaseDirect() {
	dw := w.dw
	if dw == nil || dw.todo == nil {
		return
	}
	close(dw.todo)
	for d := range dw.done {
		dw.spare = append(dw.spare, d.bp)
		if d.err != nil && dw.err == nil {
			dw.err = d.err
		}
	}
	dw.todo = nil
	for _, bp := range dw.spare {
		// Buffers of runs still in flight came back above.
		directPool.Put(bp)
	}
	dw.spare = nil
}
