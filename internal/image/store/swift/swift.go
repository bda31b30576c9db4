// Package swift keeps image data in OpenStack Swift (any server of the v1
// object API), like glance_store's swift driver: an image is a Static Large
// Object whose segments, SegmentSize bytes each, live in "<container>_segments"
// and whose manifest is "<container>/<id>". Uploads stream segment by segment
// and write the manifest last, so an image exists only once all of its data
// does; a failed upload deletes the segments it wrote.
package swift

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
)

var _ store.Store = (*Store)(nil)

// Defaults of Options.
const (
	DefaultContainer   = "glance"
	DefaultSegmentSize = 200 << 20 // glance_store's swift_store_large_object_chunk_size
)

const (
	scheme = "swift://"
	// cleanupTimeout bounds the deletes that undo a failed upload; they run
	// even when the caller's context is done.
	cleanupTimeout = 2 * time.Minute
	// uploadMeta names the upload that wrote a manifest, so that Put can
	// tell its own manifest from a concurrent one of the same id.
	uploadMeta = "X-Object-Meta-Nimbus-Upload"
)

// Options configure a Store.
type Options struct {
	// Endpoint returns the storage URL of the account
	// ("http://host:8080/v1/AUTH_x") and a token for it: from the Keystone
	// catalog with a service token in production, tempauth (TempAuth) in
	// tests. The Store calls it once and again when Swift answers 401.
	Endpoint func(ctx context.Context) (storageURL, token string, err error)
	// Container holds the manifests; the segments go to
	// Container+"_segments". Both are created on demand. Default "glance".
	Container string
	// SegmentSize is the size of every segment but the last. Default 200 MiB.
	SegmentSize int64
	// HTTPClient talks to Swift. Default: one whose transport waits for
	// "100 Continue" before sending a segment, so that a 401 costs no data
	// and the segment can be sent again with a fresh token; a transport
	// without ExpectContinueTimeout fails such an upload instead.
	HTTPClient *http.Client
	// Log gets the errors the Store handles itself (failed cleanups).
	// Default: discarded.
	Log *slog.Logger
}

// Store keeps images in a Swift account.
type Store struct {
	endpoint  func(ctx context.Context) (string, string, error)
	container string
	segments  string
	segSize   int64
	client    *http.Client
	log       *slog.Logger

	authMu     sync.Mutex
	storageURL string
	token      string

	ready atomic.Bool // both containers are known to exist
}

// New returns a Store; it does not talk to Swift until used.
func New(o Options) (*Store, error) {
	if o.Endpoint == nil {
		return nil, errors.New("swift image store: no Endpoint")
	}
	if o.Container == "" {
		o.Container = DefaultContainer
	}
	// Swift allows 256 bytes; "_segments" must fit too.
	if strings.Contains(o.Container, "/") || len(o.Container) > 256-len("_segments") {
		return nil, fmt.Errorf("swift image store: bad container name %q", o.Container)
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ExpectContinueTimeout = 5 * time.Second
		o.HTTPClient = &http.Client{Transport: tr}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		endpoint:  o.Endpoint,
		container: o.Container,
		segments:  o.Container + "_segments",
		segSize:   o.SegmentSize,
		client:    o.HTTPClient,
		log:       o.Log,
	}, nil
}

// Name is "swift", as in glance.
func (s *Store) Name() string { return "swift" }

// Container is the container that holds the manifests.
func (s *Store) Container() string { return s.container }

// SegmentContainer is the container that holds the segments.
func (s *Store) SegmentContainer() string { return s.segments }

// segment is one entry of an SLO manifest, in Swift's field names.
type segment struct {
	Path      string `json:"path"`
	Etag      string `json:"etag"`
	SizeBytes int64  `json:"size_bytes"`
}

// Put streams r into segments of the segment container and then writes the
// manifest <container>/<id>. An empty image is a plain empty object.
func (s *Store) Put(ctx context.Context, id string, r io.Reader, maxSize int64) (obj store.Object, err error) {
	if err := store.CheckID(id); err != nil {
		return store.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Object{}, fmt.Errorf("store image %s: %w", id, err)
	}
	if err := s.ensureContainers(ctx); err != nil {
		return store.Object{}, s.ctxErr(ctx, id, err)
	}
	// A quick check saves uploading an image only to be refused at the end;
	// If-None-Match on the manifest closes the race.
	switch _, err := s.head(ctx, s.container, id); {
	case err == nil:
		return store.Object{}, conflict(id)
	case !fault.Is(err, fault.NotFound):
		return store.Object{}, s.ctxErr(ctx, id, err)
	}

	upload := newNonce()
	prefix := id + "/" + upload + "/"
	var segs []segment
	written := 0 // segments possibly on the server, including a failed one
	defer func() {
		if err != nil && written > 0 {
			s.deleteSegments(ctx, prefix, written)
		}
	}()

	src := bufio.NewReaderSize(&ctxReader{ctx: ctx, r: store.Limit(r, maxSize)}, 64<<10)
	var size int64
	for {
		// Peek instead of relying on a short segment: data that ends on a
		// segment boundary must not make an empty last segment.
		if _, err := src.Peek(1); err == io.EOF {
			break
		} else if err != nil {
			return store.Object{}, s.readErr(ctx, id, err)
		}
		name := prefix + fmt.Sprintf("%08d", len(segs)+1)
		written++
		seg, err := s.putSegment(ctx, id, name, src)
		if err != nil {
			return store.Object{}, err
		}
		segs = append(segs, seg)
		size += seg.SizeBytes
		if seg.SizeBytes < s.segSize {
			break // the data ended inside this segment
		}
	}
	if len(segs) == 0 {
		return s.putEmpty(ctx, id)
	}
	if err := s.putManifest(ctx, id, upload, segs); err != nil {
		return store.Object{}, err
	}
	return store.Object{Location: scheme + s.container + "/" + id, Size: size}, nil
}

// putSegment streams up to segSize bytes of src into object name of the
// segment container and checks Swift's ETag against the MD5 of what it sent.
func (s *Store) putSegment(ctx context.Context, id, name string, src io.Reader) (segment, error) {
	b := &segBody{r: io.LimitReader(src, s.segSize), h: md5.New()}
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, err := s.send(ctx, http.MethodPut, s.segments, name, "", h, b)
	n, rerr, sum := b.stop()
	if rerr != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return segment{}, s.readErr(ctx, id, rerr)
	}
	if err != nil {
		return segment{}, s.ctxErr(ctx, id, fmt.Errorf("upload segment %s of image %s: %w", name, id, err))
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusCreated {
		if resp.StatusCode == http.StatusNotFound {
			s.ready.Store(false) // someone deleted the container
		}
		return segment{}, s.ctxErr(ctx, id, putStatusErr(resp, "upload segment "+name+" of image "+id))
	}
	if got := strings.Trim(resp.Header.Get("Etag"), `"`); got != sum {
		return segment{}, fmt.Errorf("upload segment %s of image %s: swift ETag %q, sent data has MD5 %s", name, id, got, sum)
	}
	return segment{Path: "/" + s.segments + "/" + name, Etag: sum, SizeBytes: n}, nil
}

// putManifest writes the SLO manifest of segs as <container>/<id>, unless
// the id has an object already. If the outcome is unknown (the connection
// or ctx failed), it removes the manifest again if it is this upload's.
func (s *Store) putManifest(ctx context.Context, id, upload string, segs []segment) error {
	body, err := json.Marshal(segs)
	if err != nil {
		return err
	}
	h := http.Header{
		"Content-Type":  {"application/octet-stream"},
		"If-None-Match": {"*"},
		uploadMeta:      {upload},
	}
	resp, err := s.sendBytes(ctx, http.MethodPut, s.container, id, "multipart-manifest=put", h, body)
	if err != nil {
		s.removeManifestOf(ctx, id, upload)
		return s.ctxErr(ctx, id, fmt.Errorf("write manifest of image %s: %w", id, err))
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusCreated:
	case http.StatusPreconditionFailed:
		return conflict(id)
	default:
		return s.ctxErr(ctx, id, putStatusErr(resp, "write manifest of image "+id))
	}
	// The image is complete in Swift. A cancel that came in at the very
	// end is too late to matter: report success, as the data is durable.
	return nil
}

// putEmpty stores an empty image as a plain empty object: SLO segments
// cannot be empty.
func (s *Store) putEmpty(ctx context.Context, id string) (store.Object, error) {
	if err := ctx.Err(); err != nil {
		return store.Object{}, fmt.Errorf("store image %s: %w", id, err)
	}
	h := http.Header{"Content-Type": {"application/octet-stream"}, "If-None-Match": {"*"}}
	resp, err := s.sendBytes(ctx, http.MethodPut, s.container, id, "", h, nil)
	if err != nil {
		return store.Object{}, s.ctxErr(ctx, id, fmt.Errorf("write empty image %s: %w", id, err))
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusCreated:
		return store.Object{Location: scheme + s.container + "/" + id}, nil
	case http.StatusPreconditionFailed:
		return store.Object{}, conflict(id)
	}
	return store.Object{}, putStatusErr(resp, "write empty image "+id)
}

// removeManifestOf deletes <container>/<id> with its segments if upload
// wrote it.
func (s *Store) removeManifestOf(ctx context.Context, id, upload string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	h, err := s.head(ctx, s.container, id)
	if err != nil {
		if !fault.Is(err, fault.NotFound) {
			s.log.Error("swift: check manifest of failed upload", "image", id, "err", err)
		}
		return
	}
	if h.Get(uploadMeta) == upload {
		if err := s.deleteObject(ctx, id); err != nil {
			s.log.Error("swift: delete manifest of failed upload", "image", id, "err", err)
		}
	}
}

// deleteSegments removes segments 1..n under prefix after a failed upload.
func (s *Store) deleteSegments(ctx context.Context, prefix string, n int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for i := 1; i <= n; i++ {
		name := prefix + fmt.Sprintf("%08d", i)
		resp, err := s.sendBytes(ctx, http.MethodDelete, s.segments, name, "", nil, nil)
		if err != nil {
			s.log.Error("swift: delete segment of failed upload", "segment", name, "err", err)
			continue
		}
		drain(resp)
		if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
			s.log.Error("swift: delete segment of failed upload", "segment", name, "status", resp.Status)
		}
	}
}

// Open reads [offset, offset+length) of the image at location, with a
// Range request where only part is wanted (Swift serves ranges of SLOs
// across segments).
func (s *Store) Open(ctx context.Context, location string, offset, length int64) (io.ReadCloser, error) {
	id, err := s.parse(location)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fault.BadRequestf("Invalid range: negative offset.")
	}
	if length == 0 {
		if _, err := s.head(ctx, s.container, id); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	h := http.Header{}
	ranged := offset > 0 || length > 0
	if ranged {
		end := ""
		if length > 0 {
			end = strconv.FormatInt(offset+length-1, 10)
		}
		h.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-"+end)
	}
	resp, err := s.sendBytes(ctx, http.MethodGet, s.container, id, "", h, nil)
	if err != nil {
		return nil, fmt.Errorf("read image %s: %w", id, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if !ranged {
			return resp.Body, nil
		}
		// The whole object despite the Range (an empty object, a proxy
		// that drops the header): cut the range out ourselves.
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil && err != io.EOF {
			resp.Body.Close()
			return nil, fmt.Errorf("read image %s: %w", id, err)
		}
		if length < 0 {
			return resp.Body, nil
		}
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, length), resp.Body}, nil
	case http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			resp.Body.Close()
			return nil, fmt.Errorf("read image %s: asked for bytes from %d, got Content-Range %q", id, offset, resp.Header.Get("Content-Range"))
		}
		return resp.Body, nil
	case http.StatusRequestedRangeNotSatisfiable:
		drain(resp)
		return io.NopCloser(strings.NewReader("")), nil // offset at or past the end
	}
	defer drain(resp)
	return nil, statusErr(resp, "read image "+id)
}

// rangeStart parses the first byte of "bytes a-b/n".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	a, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(a, 10, 64)
	return n, err == nil
}

// Delete removes the image at location, manifest and segments; a missing
// image is not an error.
func (s *Store) Delete(ctx context.Context, location string) error {
	id, err := s.parse(location)
	if err != nil {
		return err
	}
	return s.deleteObject(ctx, id)
}

// bulkResult is the body of a multipart-manifest=delete, as for bulk
// deletes.
type bulkResult struct {
	NumberDeleted  int        `json:"Number Deleted"`
	NumberNotFound int        `json:"Number Not Found"`
	ResponseStatus string     `json:"Response Status"`
	ResponseBody   string     `json:"Response Body"`
	Errors         [][]string `json:"Errors"`
}

func (s *Store) deleteObject(ctx context.Context, id string) error {
	h := http.Header{"Accept": {"application/json"}}
	resp, err := s.sendBytes(ctx, http.MethodDelete, s.container, id, "multipart-manifest=delete", h, nil)
	if err != nil {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	defer drain(resp)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil
	case resp.StatusCode == http.StatusNoContent:
		return nil // a plain object: the empty image
	case resp.StatusCode != http.StatusOK:
		return statusErr(resp, "delete image "+id)
	}
	// SLO answers 200 at once and reports the outcome in the body.
	var res bulkResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return fmt.Errorf("delete image %s: read swift's result: %w", id, err)
	}
	code, _, _ := strings.Cut(res.ResponseStatus, " ")
	switch {
	case code == "400":
		// Not a manifest: an empty image is a plain object.
		return s.deletePlain(ctx, id)
	case len(res.Errors) > 0:
		return fmt.Errorf("delete image %s: swift: %s %s %v", id, res.ResponseStatus, res.ResponseBody, res.Errors)
	case code == "200" || code == "204" || code == "404":
		return nil
	}
	return fmt.Errorf("delete image %s: swift: %s %s", id, res.ResponseStatus, res.ResponseBody)
}

// deletePlain deletes <container>/<id> if it is not a manifest, whose
// segments a plain DELETE would leave behind.
func (s *Store) deletePlain(ctx context.Context, id string) error {
	h, err := s.head(ctx, s.container, id)
	if fault.Is(err, fault.NotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	if strings.EqualFold(h.Get("X-Static-Large-Object"), "true") {
		return fmt.Errorf("delete image %s: swift refused to delete the manifest", id)
	}
	resp, err := s.sendBytes(ctx, http.MethodDelete, s.container, id, "", nil, nil)
	if err != nil {
		return fmt.Errorf("delete image %s: %w", id, err)
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		return statusErr(resp, "delete image "+id)
	}
	return nil
}

// parse maps a location back to an image id, accepting only
// swift://<our container>/<uuid>.
func (s *Store) parse(location string) (string, error) {
	rest, ok := strings.CutPrefix(location, scheme+s.container+"/")
	if !ok || !store.ValidID(rest) {
		return "", fault.BadRequestf("Invalid location for the swift store.")
	}
	return rest, nil
}

// ensureContainers creates both containers unless they are known to exist.
// PUT of an existing container is harmless (202).
func (s *Store) ensureContainers(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	for _, c := range []string{s.container, s.segments} {
		resp, err := s.sendBytes(ctx, http.MethodPut, c, "", "", nil, nil)
		if err != nil {
			return fmt.Errorf("create container %s: %w", c, err)
		}
		drain(resp)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
			return putStatusErr(resp, "create container "+c)
		}
	}
	s.ready.Store(true)
	return nil
}

func (s *Store) head(ctx context.Context, container, name string) (http.Header, error) {
	resp, err := s.sendBytes(ctx, http.MethodHead, container, name, "", nil, nil)
	if err != nil {
		return nil, fmt.Errorf("head %s/%s: %w", container, name, err)
	}
	defer drain(resp)
	if resp.StatusCode/100 != 2 {
		return nil, statusErr(resp, "head "+container+"/"+name)
	}
	return resp.Header, nil
}

// readErr wraps an error of the uploaded data: our quota fault as is, a
// cancel as such, anything else as a failed read.
func (s *Store) readErr(ctx context.Context, id string, err error) error {
	if fault.KindOf(err) != fault.Internal {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("store image %s: %w", id, err)
	}
	return fmt.Errorf("read image %s data: %w", id, err)
}

// ctxErr prefers ctx's error when ctx is done, since a cancel shows up as
// whatever the transport made of it.
func (s *Store) ctxErr(ctx context.Context, id string, err error) error {
	if cerr := ctx.Err(); cerr != nil && fault.KindOf(err) == fault.Internal {
		return fmt.Errorf("store image %s: %w", id, cerr)
	}
	return err
}

func conflict(id string) error { return fault.Conflictf("Image %s already has data.", id) }

func newNonce() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// segBody is the body of one segment upload: it hashes what it hands on
// and remembers the first read error, to tell the data's errors from the
// connection's. gen fences off a request that was given up (a 401 retry),
// since the transport may go on reading the body after Do returns.
type segBody struct {
	mu      sync.Mutex
	r       io.Reader
	h       hash.Hash
	n       int64
	err     error
	gen     int
	stopped bool
}

var errStale = errors.New("swift: body of an abandoned request")

// attempt is the body of one try at sending b.
type attempt struct {
	b   *segBody
	gen int
}

func (a attempt) Read(p []byte) (int, error) {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped || a.gen != b.gen {
		return 0, errStale
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// next returns a body for a new try, if nothing was read by the last one.
func (b *segBody) next() (io.Reader, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n > 0 || b.err != nil || b.stopped {
		return nil, false
	}
	b.gen++
	return attempt{b, b.gen}, true
}

// stop ends all reads and returns the bytes sent, the data's error and
// the MD5 in hex.
func (b *segBody) stop() (int64, error, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	return b.n, b.err, hex.EncodeToString(b.h.Sum(nil))
}

// ctxReader stops the upload once ctx is done, between reads.
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
