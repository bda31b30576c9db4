// Package file is the default image store: one file per image under a
// directory (DATA/images), like glance_store's filesystem driver. Uploads go
// to a temporary file that becomes the image only once it is complete and
// synced, so a failed or interrupted upload never leaves an image behind.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/fsync"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
)

const (
	scheme    = "file://"
	tmpPrefix = ".tmp-"
	bufSize   = 1 << 20
)

var (
	_ store.Store    = (*Store)(nil)
	_ store.Capacity = (*Store)(nil)
)

// Store keeps images as files dir/<id>.
type Store struct {
	dir string // absolute, clean
}

// New opens the store in dir, creating it if needed, and removes the
// temporary files of uploads that a crash interrupted.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("create image store %s: %w", abs, err)
	}
	s := &Store{dir: abs}
	if err := s.removeLeftovers(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) removeLeftovers() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("list image store %s: %w", s.dir, err)
	}
	removed := false
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove leftover upload: %w", err)
		}
		removed = true
	}
	if removed {
		return fsync.Path(s.dir)
	}
	return nil
}

// Name is "file", as in glance.
func (s *Store) Name() string { return "file" }

// Dir is the directory the images are in.
func (s *Store) Dir() string { return s.dir }

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Put streams r into dir/<id>.
func (s *Store) Put(ctx context.Context, id string, r io.Reader, maxSize int64) (obj store.Object, err error) {
	if err := store.CheckID(id); err != nil {
		return store.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Object{}, fmt.Errorf("store image %s: %w", id, err)
	}
	final := filepath.Join(s.dir, id)
	if _, err := os.Lstat(final); err == nil {
		return store.Object{}, fault.Conflictf("Image %s already has data.", id)
	}

	f, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return store.Object{}, mediaErr(fmt.Errorf("create temporary file for image %s: %w", id, err))
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	src := &ctxReader{ctx: ctx, r: store.Limit(r, maxSize)}
	// A bare io.Writer keeps os.File.ReadFrom from copying through its own
	// 32 KiB buffer: we want our 1 MiB writes.
	dst := &errWriter{w: f}
	n, err := io.CopyBuffer(dst, src, *bp)
	switch {
	case dst.err != nil:
		return store.Object{}, mediaErr(fmt.Errorf("write image %s: %w", id, dst.err))
	case fault.KindOf(err) != fault.Internal:
		return store.Object{}, err // our quota fault, or one from the reader
	case err != nil:
		return store.Object{}, fmt.Errorf("read image %s data: %w", id, err)
	}

	if err := f.Sync(); err != nil {
		return store.Object{}, mediaErr(fmt.Errorf("sync image %s: %w", id, err))
	}
	err = f.Close()
	f = nil
	if err != nil {
		return store.Object{}, mediaErr(fmt.Errorf("close image %s: %w", id, err))
	}
	if err := ctx.Err(); err != nil {
		return store.Object{}, fmt.Errorf("store image %s: %w", id, err)
	}
	// A link, unlike a rename, never replaces an image that a concurrent
	// Put of the same id finished first.
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return store.Object{}, fault.Conflictf("Image %s already has data.", id)
		}
		return store.Object{}, mediaErr(fmt.Errorf("link image %s: %w", id, err))
	}
	// If the unlink fails the next New cleans up.
	os.Remove(tmp)
	if err := fsync.Path(s.dir); err != nil {
		os.Remove(final)
		return store.Object{}, mediaErr(fmt.Errorf("sync image store: %w", err))
	}
	return store.Object{Location: scheme + final, Size: n}, nil
}

// Open reads [offset, offset+length) of the image at location. With length
// < 0 it returns the *os.File itself, so that io.Copy to a socket uses
// sendfile; with a length, a reader whose WriteTo does the same.
func (s *Store) Open(ctx context.Context, location string, offset, length int64) (io.ReadCloser, error) {
	path, err := s.path(location)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fault.BadRequestf("Invalid range: negative offset.")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// O_NOFOLLOW: a symlink planted in the directory is not an image.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
			return nil, fault.Wrap(fault.NotFound, err, "Image data not found.")
		}
		return nil, fmt.Errorf("open image data %s: %w", path, err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek image data %s: %w", path, err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return &section{LimitedReader: io.LimitedReader{R: f, N: length}, f: f}, nil
}

// section is a limited read of a file. Its WriteTo hands the
// *io.LimitedReader of an *os.File to io.Copy, which net.TCPConn.ReadFrom
// (and so http.ResponseWriter) serves with sendfile.
type section struct {
	io.LimitedReader
	f *os.File
}

func (s *section) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, &s.LimitedReader) }
func (s *section) Close() error                       { return s.f.Close() }

// Delete removes the image at location; a missing one is not an error.
func (s *Store) Delete(ctx context.Context, location string) error {
	path, err := s.path(location)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete image data %s: %w", path, err)
	}
	if err := fsync.Path(s.dir); err != nil {
		return fmt.Errorf("sync image store: %w", err)
	}
	return nil
}

// Free is the space left for unprivileged users on the store's file system.
func (s *Store) Free() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", s.dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// path maps a location back to a file, accepting only dir/<uuid> exactly:
// no "..", no other directory, no temporary files.
func (s *Store) path(location string) (string, error) {
	p, ok := strings.CutPrefix(location, scheme)
	if !ok || !strings.HasPrefix(p, s.dir+"/") || !store.ValidID(p[len(s.dir)+1:]) {
		return "", fault.BadRequestf("Invalid location for the file store.")
	}
	return p, nil
}

// mediaErr turns a full disk or quota into the TooLarge fault.
func mediaErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return store.ErrFull(err)
	}
	return err
}

// ctxReader stops a copy once ctx is done, between reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// errWriter remembers a write error, to tell it from a read error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
