package agent

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/image/inspect"
)

// ImageFetcher downloads an image's data, for the image cache.
type ImageFetcher interface {
	// Fetch writes image id's bytes to w and returns its disk format as
	// the image service declares it ("qcow2", "raw"; "" if unknown).
	// An image the service does not have (or does not show the caller)
	// is an error wrapping ErrImageNotFound; data that cannot be right
	// (a checksum mismatch) wraps ErrImageInvalid.
	Fetch(ctx context.Context, imageID string, w io.Writer) (format string, err error)
}

// ImageUploader uploads a snapshot's data to an image the API created. An
// ImageFetcher given as Options.Images may also be one; snapshots whose
// target names no URL use it.
type ImageUploader interface {
	Upload(ctx context.Context, imageID string, r io.Reader, size int64) error
}

// Errors an ImageFetcher wraps so that a build reports why, and the
// conductor does not reschedule what no host can build.
var (
	ErrImageNotFound = errors.New("image not found")
	ErrImageInvalid  = errors.New("image invalid")
)

// ImageCache keeps every image a guest on this host booted from, once,
// as ImageCacheDir/<id>: guests' disks are overlays on these files, so a
// cached image is never changed, only replaced whole (downloaded to a
// temporary file and renamed). An agent makes its own unless given one
// (Options.ImageCache): agents in one process (fake hosts at scale)
// share one, so that an image is downloaded once for all of them. A
// download runs on the lifetime of the agent that started it.
type ImageCache struct {
	dir string
	log *slog.Logger

	ready    sync.Once
	readyErr error

	mu       sync.Mutex
	inflight map[string]*download // by image id: one download however many builds wait
}

type download struct {
	done   chan struct{}
	format string
	err    error
}

// NewImageCache makes a cache in dir; log may be nil. Nothing is written
// before an agent runs on it.
func NewImageCache(dir string, log *slog.Logger) (*ImageCache, error) {
	if dir == "" {
		return nil, errors.New("image cache: no directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ImageCache{dir: abs, log: log, inflight: map[string]*download{}}, nil
}

// prepare makes the directory and removes the downloads and snapshots a
// previous run left half done, once however many agents share the cache.
func (c *ImageCache) prepare() error {
	c.ready.Do(func() {
		if err := os.MkdirAll(c.dir, 0o750); err != nil {
			c.readyErr = err
			return
		}
		entries, _ := os.ReadDir(c.dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".download-") {
				os.Remove(filepath.Join(c.dir, e.Name()))
			}
		}
		os.RemoveAll(filepath.Join(c.dir, snapshotDir))
	})
	return c.readyErr
}

func (c *ImageCache) path(id string) string { return filepath.Join(c.dir, id) }

// get returns the cached file of img and its format, downloading it with
// f if the cache has none. Builds of one image wait for one download; it
// runs on life (the agent's lifetime), not ctx, so that a build giving up
// does not waste what the others wait for.
func (c *ImageCache) get(ctx, life context.Context, img rpc.Image, f ImageFetcher) (string, string, error) {
	if _, err := newSums(img); err != nil {
		return "", "", err // refused before a cached copy could hide it
	}
	path := c.path(img.ID)
	c.mu.Lock()
	d, ok := c.inflight[img.ID]
	if !ok {
		if format, ok := c.cached(path, img); ok {
			c.mu.Unlock()
			return path, format, checkDeclared(img.DiskFormat, format)
		}
		if f == nil {
			c.mu.Unlock()
			return "", "", fmt.Errorf("image %s is not cached and there is no image service to fetch it from", img.ID)
		}
		d = &download{done: make(chan struct{})}
		c.inflight[img.ID] = d
		go func() {
			d.format, d.err = c.download(life, img, f)
			c.mu.Lock()
			delete(c.inflight, img.ID)
			c.mu.Unlock()
			close(d.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-d.done:
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	if d.err != nil {
		return "", "", d.err
	}
	return path, d.format, checkDeclared(img.DiskFormat, d.format)
}

// cached reports whether path holds img, and its format. A file of the
// wrong size (when the size is known) is not img: it is removed, to be
// downloaded again. c.mu is held, so no download of img is under way.
func (c *ImageCache) cached(path string, img rpc.Image) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", false
	}
	if img.Size > 0 && st.Size() != img.Size {
		c.log.Warn("cached image has the wrong size, downloading it again", "image", img.ID, "size", st.Size(), "want", img.Size)
		os.Remove(path)
		return "", false
	}
	res, err := inspect.Detect(f, st.Size())
	if err != nil || res.Unsafe != "" {
		c.log.Warn("cached image unreadable or unsafe, downloading it again", "image", img.ID, "err", err, "unsafe", res.Unsafe)
		os.Remove(path)
		return "", false
	}
	return res.Format, true
}

// download fetches img into the cache and returns its format.
func (c *ImageCache) download(ctx context.Context, img rpc.Image, f ImageFetcher) (format string, err error) {
	start := time.Now()
	tmp, err := os.CreateTemp(c.dir, ".download-"+img.ID+"-*")
	if err != nil {
		return "", fmt.Errorf("cache image %s: %w", img.ID, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	sums, err := newSums(img)
	if err != nil {
		return "", err
	}
	insp := inspect.New()
	n := &counter{}
	declared, err := f.Fetch(ctx, img.ID, io.MultiWriter(tmp, insp, sums, n))
	if err != nil {
		return "", fmt.Errorf("download image %s: %w", img.ID, err)
	}
	if img.Size > 0 && n.n != img.Size {
		return "", fmt.Errorf("image %s: got %d bytes, the image service says %d: %w", img.ID, n.n, img.Size, ErrImageInvalid)
	}
	if err := sums.check(img); err != nil {
		return "", err
	}
	res := insp.Result()
	if declared == "" {
		declared = img.DiskFormat
	}
	if declared == "" {
		declared = res.Format
	}
	if err := inspect.Verify(declared, res); err != nil {
		return "", fmt.Errorf("image %s: %s: %w", img.ID, err, ErrImageInvalid)
	}
	if res.Format != "qcow2" && res.Format != "raw" {
		return "", fmt.Errorf("image %s: disk format %s cannot boot a server here (qcow2 or raw): %w", img.ID, res.Format, ErrImageInvalid)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("cache image %s: %w", img.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("cache image %s: %w", img.ID, err)
	}
	// Read-only: guests' overlays depend on it never changing.
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return "", fmt.Errorf("cache image %s: %w", img.ID, err)
	}
	if err := os.Rename(tmp.Name(), c.path(img.ID)); err != nil {
		return "", fmt.Errorf("cache image %s: %w", img.ID, err)
	}
	syncDir(c.dir)
	c.log.Info("image cached", "image", img.ID, "format", res.Format, "bytes", n.n, "took", time.Since(start).Round(time.Millisecond))
	return res.Format, nil
}

// checkDeclared refuses a cached image whose format is not the one the
// request declares.
func checkDeclared(declared, format string) error {
	if declared == "" || declared == format {
		return nil
	}
	return fmt.Errorf("image format %s does not match the declared disk_format %s: %w", format, declared, ErrImageInvalid)
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// sums hashes a download with what the request knows to check it against.
type sums struct {
	md5, os hash.Hash
}

func newSums(img rpc.Image) (*sums, error) {
	s := &sums{}
	if img.Checksum != "" {
		s.md5 = md5.New()
	}
	if img.HashValue != "" {
		switch strings.ToLower(img.HashAlgo) {
		case "sha512":
			s.os = sha512.New()
		case "sha256":
			s.os = sha256.New()
		default:
			return nil, fmt.Errorf("image %s: unknown os_hash_algo %q: %w", img.ID, img.HashAlgo, ErrImageInvalid)
		}
	}
	return s, nil
}

func (s *sums) Write(p []byte) (int, error) {
	if s.md5 != nil {
		s.md5.Write(p)
	}
	if s.os != nil {
		s.os.Write(p)
	}
	return len(p), nil
}

func (s *sums) check(img rpc.Image) error {
	if s.md5 != nil {
		if got := hex.EncodeToString(s.md5.Sum(nil)); !strings.EqualFold(got, img.Checksum) {
			return fmt.Errorf("image %s: checksum %s, the image service says %s: %w", img.ID, got, img.Checksum, ErrImageInvalid)
		}
	}
	if s.os != nil {
		if got := hex.EncodeToString(s.os.Sum(nil)); !strings.EqualFold(got, img.HashValue) {
			return fmt.Errorf("image %s: %s %s, the image service says %s: %w", img.ID, img.HashAlgo, got, img.HashValue, ErrImageInvalid)
		}
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
