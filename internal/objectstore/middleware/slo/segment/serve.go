// Package segment serves large objects for the static (slo) and dynamic
// (dlo) large object middlewares, as Swift's SegmentedIterable: the byte
// ranges a client asks for are mapped onto the segments, which are read
// one after another down the pipeline as the caller, checked against the
// manifest and streamed to the client without buffering. It also holds
// what both answer with: swob's Range and conditional-request rules and
// multipart/byteranges bodies.
package segment

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Object is a large object ready to be answered.
type Object struct {
	// Header holds the response headers (the manifest's, with the large
	// object's ETag and Content-Type); Serve sets Content-Length and
	// Content-Range.
	Header http.Header
	// Length is the size of the content; -1 when unknown (a dynamic large
	// object with too many segments to sum): then Range is ignored and the
	// body is sent chunked.
	Length int64
	// Etag (unquoted) and LastModified are what conditional requests are
	// checked against; an empty Etag is not checked.
	Etag, LastModified string
	// Pieces yields, in order, the pieces making up a span of the content
	// (a span with Last -1 runs to the end).
	Pieces func(Span) iter.Seq2[Piece, error]
	// SingleRange makes a multi-range request get the whole object, as
	// Swift's dynamic large objects do.
	SingleRange bool
	// Part, when set, is the one span to answer, with a 206 even to a HEAD
	// (a static large object's part-number).
	Part *Span
	// Next is the rest of the pipeline, Source names the middleware.
	Next   http.Handler
	Source string
	Log    *slog.Logger
}

// Serve answers a GET or HEAD of a large object: conditions, then ranges,
// then the content, whose first segment is opened before the status goes
// out. A segment failing later cuts the response off, as Swift does: the
// client sees a short body and the connection closes.
func Serve(w http.ResponseWriter, r *http.Request, o Object) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if c := Check(r.Header, o.Etag, o.LastModified); c != 0 {
		writeHeader(w, o.Header)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(c)
		return
	}
	if r.Method == http.MethodHead {
		writeHeader(w, o.Header)
		h := w.Header()
		status := http.StatusOK
		switch {
		case o.Part != nil:
			status = http.StatusPartialContent
			h.Set("Content-Range", ContentRange(*o.Part, o.Length))
			h.Set("Content-Length", strconv.FormatInt(o.Part.Len(), 10))
		case o.Length >= 0:
			h.Set("Content-Length", strconv.FormatInt(o.Length, 10))
		}
		w.WriteHeader(status)
		return
	}
	status := http.StatusOK
	var spans []Span
	switch {
	case o.Part != nil:
		status, spans = http.StatusPartialContent, []Span{*o.Part}
	case o.Length < 0:
		spans = []Span{{0, -1}}
	case o.Length == 0:
		// Nothing to read; any Range gets the whole (empty) object.
	default:
		spans = []Span{{0, o.Length - 1}}
		if rs, ok := Ranges(r.Header.Get("Range"), o.Length); ok {
			switch {
			case len(rs) == 0:
				writeHeader(w, o.Header)
				w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(o.Length, 10))
				swift.WriteStatus(w, r, http.StatusRequestedRangeNotSatisfiable)
				return
			case o.SingleRange && len(rs) > 1:
			default:
				status, spans = http.StatusPartialContent, rs
			}
		}
	}

	rd := NewReader(o.Next, r, o.Source, concat(spans, o.Pieces))
	defer rd.Close()
	if err := rd.Prime(); err != nil {
		o.Log.Warn("large object not served", "path", r.URL.Path, "err", err)
		var se *Error
		if !errors.As(err, &se) {
			swift.WriteStatus(w, r, http.StatusInternalServerError)
			return
		}
		swift.WriteStatus(w, r, se.Status)
		return
	}
	writeHeader(w, o.Header)
	h := w.Header()
	cw := &clientWriter{w: w}
	// The client gets each segment as it comes: the status at once, then
	// the data so far whenever the next segment is opened.
	rc := http.NewResponseController(w)
	rd.BeforeNext = func() { _ = rc.Flush() }
	var err error
	switch {
	case len(spans) > 1:
		boundary := newBoundary()
		ctype := h.Get("Content-Type")
		h.Set("Content-Type", "multipart/byteranges;boundary="+boundary)
		h.Set("Content-Length", strconv.FormatInt(multipartLength(spans, o.Length, boundary, ctype), 10))
		w.WriteHeader(status)
		err = writeMultipart(cw, rd, spans, o.Length, boundary, ctype)
	case o.Length < 0:
		w.WriteHeader(status)
		_, err = io.Copy(cw, rd)
	case len(spans) == 0:
		h.Set("Content-Length", "0")
		w.WriteHeader(status)
	default:
		if status == http.StatusPartialContent {
			h.Set("Content-Range", ContentRange(spans[0], o.Length))
		}
		h.Set("Content-Length", strconv.FormatInt(spans[0].Len(), 10))
		w.WriteHeader(status)
		_, err = io.CopyN(cw, rd, spans[0].Len())
		if err == io.EOF {
			err = Errorf("large object %s shorter than its manifest says", r.URL.Path)
		}
	}
	if err != nil && cw.err == nil {
		// The client was promised more than the segments gave: cut the
		// connection rather than end the response early and cleanly.
		o.Log.Error("large object cut off", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func writeHeader(w http.ResponseWriter, src http.Header) {
	h := w.Header()
	for k, v := range src {
		h[k] = v
	}
	h.Del("Content-Range")
	h.Del("Content-Length")
}

// concat yields the pieces of each span in turn.
func concat(spans []Span, pieces func(Span) iter.Seq2[Piece, error]) iter.Seq2[Piece, error] {
	return func(yield func(Piece, error) bool) {
		for _, s := range spans {
			for p, err := range pieces(s) {
				if !yield(p, err) || err != nil {
					return
				}
			}
		}
	}
}

// clientWriter remembers a failed write to the client, which ends the
// response without blaming the segments.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

func newBoundary() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func partHeader(s Span, length int64, boundary, ctype string) string {
	return "--" + boundary + "\r\nContent-Type: " + ctype + "\r\nContent-Range: " + ContentRange(s, length) + "\r\n\r\n"
}

// multipartLength is the exact size of a multipart/byteranges body, so the
// answer carries a Content-Length as swob's does.
func multipartLength(spans []Span, length int64, boundary, ctype string) int64 {
	var n int64
	for _, s := range spans {
		n += int64(len(partHeader(s, length, boundary, ctype))) + s.Len() + 2
	}
	return n + int64(len(boundary)) + 4
}

// writeMultipart writes the parts, taking each span's bytes in turn from
// rd, which reads the spans' content back to back.
func writeMultipart(w io.Writer, rd io.Reader, spans []Span, length int64, boundary, ctype string) error {
	for _, s := range spans {
		if _, err := io.WriteString(w, partHeader(s, length, boundary, ctype)); err != nil {
			return err
		}
		if _, err := io.CopyN(w, rd, s.Len()); err != nil {
			if err == io.EOF {
				err = Errorf("large object shorter than its manifest says")
			}
			return err
		}
		if _, err := io.WriteString(w, "\r\n"); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "--"+boundary+"--")
	return err
}
