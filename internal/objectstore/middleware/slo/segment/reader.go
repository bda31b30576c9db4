package segment

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"iter"
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Piece is one stretch of a large object's content: bytes First..Last of
// a segment object, or inline data.
type Piece struct {
	Path  string // "/v1/a/c/o", unescaped; "" for inline data
	Data  []byte // inline data, already cut to the stretch wanted
	First int64  // first byte wanted of the segment
	Last  int64  // last byte wanted, inclusive; -1 for up to the end
	Etag  string // the segment's etag as the manifest has it; "" unchecked
	Size  int64  // the segment's size as the manifest has it; -1 unchecked
}

// whole reports whether the piece is all of its segment: then it is read
// without a Range, and its MD5 and length can be checked.
func (p Piece) whole() bool {
	return p.First == 0 && (p.Last < 0 || p.Size >= 0 && p.Last == p.Size-1)
}

// Error is a large object that cannot be served as it stands: a segment is
// missing or changed, or a sub-manifest cannot be read. Status is the
// answer when nothing was sent yet: 409, as Swift, or 503 when the
// segment's server failed.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf makes a 409 Error.
func Errorf(format string, a ...any) *Error {
	return &Error{Status: http.StatusConflict, Msg: fmt.Sprintf(format, a...)}
}

// Reader reads a large object's content from its pieces: each segment is
// a GET down the pipeline as the caller (with multipart-manifest=get, so
// that a segment is read as the plain object it must be), checked against
// the manifest and, when read whole, against its own ETag.
type Reader struct {
	next   http.Handler
	r      *http.Request
	source string
	name   string // the large object, for errors
	pull   func() (Piece, error, bool)
	stop   func()
	cur    io.ReadCloser
	err    error
	opened int
	// BeforeNext, when set, runs before each segment after the first is
	// opened: Serve flushes what the client has been sent so far.
	BeforeNext func()
}

// NewReader reads the pieces pieces yields, for the request r.
func NewReader(next http.Handler, r *http.Request, source string, pieces iter.Seq2[Piece, error]) *Reader {
	pull, stop := iter.Pull2(pieces)
	return &Reader{next: next, r: r, source: source, name: r.URL.Path, pull: pull, stop: stop}
}

// Prime opens the first segment, so that a large object whose first
// segment is missing is answered with an error status instead of a cut
// body (Swift's validate_first_segment).
func (rd *Reader) Prime() error {
	if rd.cur == nil && rd.err == nil {
		rd.err = rd.advance()
	}
	if rd.err == io.EOF {
		return nil
	}
	return rd.err
}

// advance opens the next piece; io.EOF when there are none.
func (rd *Reader) advance() error {
	if rd.cur != nil {
		rd.cur.Close()
		rd.cur = nil
	}
	p, err, ok := rd.pull()
	if !ok {
		return io.EOF
	}
	if err != nil {
		return err
	}
	if rd.opened++; rd.opened > 1 && rd.BeforeNext != nil {
		rd.BeforeNext()
	}
	if p.Path == "" {
		rd.cur = io.NopCloser(bytes.NewReader(p.Data))
		return nil
	}
	rc, err := rd.open(p)
	if err != nil {
		return err
	}
	rd.cur = rc
	return nil
}

func (rd *Reader) open(p Piece) (io.ReadCloser, error) {
	sub := NewRequest(rd.r, rd.source, http.MethodGet, p.Path, "multipart-manifest=get", nil)
	whole := p.whole()
	if !whole {
		rng := "bytes=" + strconv.FormatInt(p.First, 10) + "-"
		if p.Last >= 0 {
			rng += strconv.FormatInt(p.Last, 10)
		}
		sub.Header.Set("Range", rng)
	}
	res := swift.Do(rd.next, sub)
	if res.StatusCode < 200 || res.StatusCode > 299 {
		Drain(res)
		e := Errorf("while processing manifest %s, got %d while retrieving %s", rd.name, res.StatusCode, p.Path)
		if res.StatusCode >= 500 {
			e.Status = http.StatusServiceUnavailable
		}
		return nil, e
	}
	etag := NormalizeEtag(res.Header.Get("Etag"))
	length, lerr := strconv.ParseInt(res.Header.Get("Content-Length"), 10, 64)
	if lerr != nil {
		length = -1
	}
	if (p.Etag != "" && etag != p.Etag) || (whole && p.Size >= 0 && length != p.Size) {
		Drain(res)
		return nil, Errorf("object segment no longer valid: %s etag: %s != %s or %d != %d", p.Path, etag, p.Etag, length, p.Size)
	}
	if whole {
		if res.StatusCode != http.StatusOK {
			Drain(res)
			return nil, Errorf("partial answer to a whole read of segment %s", p.Path)
		}
		return &checked{rc: res.Body, path: p.Path, etag: etag, want: length, md5: md5.New()}, nil
	}
	var body io.Reader = res.Body
	if res.StatusCode == http.StatusOK && p.First > 0 {
		// The range was not applied: skip to it.
		if _, err := io.CopyN(io.Discard, res.Body, p.First); err != nil {
			Drain(res)
			return nil, Errorf("segment %s shorter than its range", p.Path)
		}
	}
	want := int64(-1)
	if p.Last >= 0 {
		want = p.Last - p.First + 1
		body = io.LimitReader(body, want)
	}
	return &checked{rc: res.Body, r: body, path: p.Path, want: want}, nil
}

// Read reads the content, segment after segment. A segment that does not
// match the manifest, breaks off or fails its checksum is an *Error.
func (rd *Reader) Read(b []byte) (int, error) {
	for {
		if rd.err != nil {
			return 0, rd.err
		}
		if rd.cur == nil {
			if rd.err = rd.advance(); rd.err != nil {
				continue
			}
		}
		n, err := rd.cur.Read(b)
		if err == io.EOF {
			rd.cur.Close()
			rd.cur = nil
			err = nil
			if n == 0 {
				continue
			}
		}
		if err != nil {
			rd.err = err
		}
		return n, err
	}
}

// Close ends the read, closing the open segment.
func (rd *Reader) Close() error {
	if rd.cur != nil {
		rd.cur.Close()
		rd.cur = nil
	}
	rd.stop()
	if rd.err == nil {
		rd.err = io.ErrClosedPipe
	}
	return nil
}

// checked is a segment's body that must have want bytes (-1: any) and,
// when md5 is set, the MD5 etag.
type checked struct {
	rc   io.ReadCloser
	r    io.Reader // rc, or a limit on it; nil means rc
	path string
	etag string
	want int64
	got  int64
	md5  hash.Hash
}

func (c *checked) Read(b []byte) (int, error) {
	r := c.r
	if r == nil {
		r = c.rc
	}
	n, err := r.Read(b)
	c.got += int64(n)
	if c.md5 != nil {
		c.md5.Write(b[:n])
	}
	if err == io.EOF {
		if c.want >= 0 && c.got != c.want {
			return n, Errorf("segment %s: read %d bytes, expected %d", c.path, c.got, c.want)
		}
		if c.md5 != nil && c.etag != "" && hex.EncodeToString(c.md5.Sum(nil)) != c.etag {
			return n, Errorf("segment %s: MD5 of the content is not its etag %s", c.path, c.etag)
		}
		return n, io.EOF
	}
	if err != nil {
		return n, Errorf("segment %s: read: %v", c.path, err)
	}
	return n, nil
}

func (c *checked) Close() error { return c.rc.Close() }
