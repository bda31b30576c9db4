package proxy

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// bufPool holds the buffers bodies are copied through; largePool those of
// GET bodies over largeBody, copied in fewer, larger reads and writes.
var (
	bufPool   = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
	largePool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}
)

const largeBody = 1 << 20

// getter finds a node that serves an object GET or HEAD, and another one
// when the body breaks off: Swift's GetOrHeadHandler.
type getter struct {
	s      *Server
	req    *request
	part   int
	nodes  []ring.Device
	nprim  int // the first nprim nodes are primaries
	next   int
	hdr    http.Header
	query  string
	etag   string // of the source in use: a resumed body must be the same object
	tomb   swift.Timestamp
	others []reply // answers that were not a source
}

func (s *Server) newGetter(req *request) *getter {
	part := req.ring.Partition(req.t.Account, req.t.Container, req.t.Object)
	prim := s.limits.order(req.ring.Primaries(part))
	return &getter{s: s, req: req, part: part, nodes: prim, nprim: len(prim), hdr: s.objectHeader(req),
		query: req.r.URL.RawQuery}
}

// goodSource: an answer worth giving the client (Swift's is_good_source
// for objects).
func goodSource(status int) bool {
	return (status >= 200 && status < 400) || status == http.StatusRequestedRangeNotSatisfiable
}

// find asks the remaining nodes in turn and returns the first good
// answer, or nil when none is left.
func (g *getter) find() *http.Response {
	for {
		if g.next == g.nprim && len(g.nodes) == g.nprim {
			// Primaries exhausted: as many handoffs, computed only now.
			g.nodes = append(g.nodes[:g.nprim:g.nprim], limitDevs(g.req.ring.Handoffs(g.part), g.nprim)...)
		}
		if g.next >= len(g.nodes) {
			break
		}
		i := g.next
		g.next++
		resp := g.try(g.nodes[i], i >= g.nprim)
		if resp != nil {
			return resp
		}
	}
	return nil
}

func (g *getter) try(dev ring.Device, handoff bool) *http.Response {
	resp, err := g.s.send(g.req.ctx, g.req.r.Method, backendURL(dev, kindObject, g.part, g.req.t, g.query), g.hdr, nil, 0)
	if err != nil {
		if g.req.ctx.Err() == nil {
			g.s.nodeFailed(dev, "storage node request failed", "method", g.req.r.Method, "kind", kindObject,
				"err", err, "trans_id", g.req.id)
		}
		return nil
	}
	if goodSource(resp.StatusCode) {
		ts := replyTimestamp(resp.Header)
		if g.tomb.After(ts) {
			// Older than a delete another node knows of.
			drain(resp, 0)
			return nil
		}
		if g.etag != "" && normEtag(resp.Header.Get("Etag")) != g.etag {
			drain(resp, 0)
			return nil
		}
		return resp
	}
	body := drain(resp, 64<<10)
	if handoff && (resp.StatusCode >= 500 || (resp.StatusCode == http.StatusNotFound && resp.Header.Get("X-Backend-Timestamp") == "")) {
		return nil
	}
	if resp.StatusCode == http.StatusNotFound {
		if ts, err := swift.ParseTimestamp(resp.Header.Get("X-Backend-Timestamp")); err == nil && ts.After(g.tomb) {
			g.tomb = ts
		}
	}
	g.others = append(g.others, reply{status: resp.StatusCode, header: resp.Header, body: body, dev: dev})
	return nil
}

// findNewest asks every primary at once (X-Newest) and keeps the newest
// good answer.
func (g *getter) findNewest() *http.Response {
	type result struct {
		resp *http.Response
		dev  ring.Device
		err  error
	}
	ch := make(chan result, g.nprim)
	for _, dev := range g.nodes[:g.nprim] {
		go func() {
			resp, err := g.s.send(g.req.ctx, g.req.r.Method, backendURL(dev, kindObject, g.part, g.req.t, g.query), g.hdr, nil, 0)
			ch <- result{resp, dev, err}
		}()
	}
	g.next = g.nprim
	var bestResp *http.Response
	var bestTS swift.Timestamp
	var good []*http.Response
	for range g.nprim {
		res := <-ch
		if res.err != nil {
			continue
		}
		resp := res.resp
		if !goodSource(resp.StatusCode) {
			body := drain(resp, 64<<10)
			if resp.StatusCode == http.StatusNotFound {
				if ts, err := swift.ParseTimestamp(resp.Header.Get("X-Backend-Timestamp")); err == nil && ts.After(g.tomb) {
					g.tomb = ts
				}
			}
			g.others = append(g.others, reply{status: resp.StatusCode, header: resp.Header, body: body, dev: res.dev})
			continue
		}
		good = append(good, resp)
		if ts := replyTimestamp(resp.Header); bestResp == nil || ts.After(bestTS) {
			bestResp, bestTS = resp, ts
		}
	}
	for _, r := range good {
		if r != bestResp {
			drain(r, 0)
		}
	}
	if bestResp != nil && g.tomb.After(bestTS) {
		drain(bestResp, 0)
		return g.find()
	}
	if bestResp == nil {
		return g.find()
	}
	return bestResp
}

func normEtag(e string) string { return strings.Trim(e, `"`) }

func (s *Server) getObject(req *request) {
	w, r := req.w, req.r
	g := s.newGetter(req)
	var resp *http.Response
	if r.Header.Get("X-Newest") != "" {
		resp = g.findNewest()
	} else {
		resp = g.find()
	}
	if resp == nil {
		rep, ok := best(g.others, len(g.others), nil)
		if !ok {
			if len(g.others) > 0 {
				s.log.Error("object GET without quorum", "path", r.URL.Path, "statuses", statuses(g.others), "trans_id", req.id)
			}
			writeStatus(w, r, http.StatusServiceUnavailable)
			return
		}
		h := w.Header()
		if rep.status == http.StatusPreconditionFailed || rep.status == http.StatusNotModified {
			copyResponseHeader(h, rep.header)
			delete(h, "Content-Length")
			delete(h, "Content-Type")
		}
		writeStatus(w, r, rep.status)
		return
	}
	g.etag = normEtag(resp.Header.Get("Etag"))
	h := w.Header()
	copyResponseHeader(h, resp.Header)
	h.Set("Accept-Ranges", "bytes")
	if ct := h.Get("Content-Type"); strings.Contains(ct, ";") {
		h.Set("Content-Type", cleanContentType(ct))
	}
	status := resp.StatusCode
	if r.Method == http.MethodHead || (status != http.StatusOK && status != http.StatusPartialContent) {
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = io.Copy(w, resp.Body)
		}
		resp.Body.Close()
		return
	}
	w.WriteHeader(status)
	s.streamObject(req, g, resp)
}

// cleanContentType drops the swift_bytes parameter Swift keeps in the
// listing of large objects.
func cleanContentType(ct string) string {
	parts := strings.Split(ct, ";")
	out := parts[:1]
	for _, p := range parts[1:] {
		if !strings.HasPrefix(strings.TrimSpace(p), "swift_bytes=") {
			out = append(out, p)
		}
	}
	return strings.Join(out, ";")
}

// errShortBody is a body that ended before its length.
var errShortBody = errors.New("body ended early")

// streamObject copies a GET's body to the client. When a node's body
// breaks off (a node going away, or an object server stopping before a
// block whose checksum is wrong), the rest comes from the next node with
// the same ETag, by Range. A multi-range answer cannot be resumed; the
// client's connection is cut so that it never takes a short body for a
// whole one.
func (s *Server) streamObject(req *request, g *getter, resp *http.Response) {
	pool := &bufPool
	if resp.ContentLength > largeBody {
		pool = &largePool
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	buf := *bp
	multipart := strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges")
	start, end, known := bodyRange(resp)
	var sent int64
	for {
		err := copyBody(req.w, resp.Body, buf, &sent)
		resp.Body.Close()
		if err == nil && (!known || sent == end-start+1) {
			return
		}
		if err == nil {
			err = errShortBody
		}
		if errors.Is(err, errClientWrite) || req.ctx.Err() != nil {
			// The client went away; nothing to resume for.
			panic(http.ErrAbortHandler)
		}
		s.log.Warn("object body broke off, resuming from another node", "path", req.r.URL.Path,
			"sent", sent, "err", err, "trans_id", req.id)
		if multipart || !known {
			panic(http.ErrAbortHandler)
		}
		g.hdr = g.hdr.Clone()
		g.hdr.Set("Range", "bytes="+strconv.FormatInt(start+sent, 10)+"-"+strconv.FormatInt(end, 10))
		g.hdr.Del("If-None-Match")
		g.hdr.Del("If-Modified-Since")
		resp = g.find()
		if resp == nil || resp.StatusCode != http.StatusPartialContent {
			if resp != nil {
				resp.Body.Close()
			}
			s.log.Error("no node can finish the object body", "path", req.r.URL.Path, "sent", sent, "trans_id", req.id)
			panic(http.ErrAbortHandler)
		}
		rs, _, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || rs != start+sent {
			resp.Body.Close()
			panic(http.ErrAbortHandler)
		}
	}
}

// errClientWrite marks a failed write to the client.
var errClientWrite = errors.New("write to client failed")

func copyBody(w io.Writer, r io.Reader, buf []byte, sent *int64) error {
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return errClientWrite
			}
			*sent += int64(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// bodyRange is the span of the object a 200 or single-range 206 answer
// carries; known is false when it cannot be told (no length, multipart).
func bodyRange(resp *http.Response) (start, end int64, known bool) {
	if resp.StatusCode == http.StatusPartialContent {
		s, e, ok := parseContentRange(resp.Header.Get("Content-Range"))
		return s, e, ok
	}
	if resp.ContentLength < 0 {
		return 0, 0, false
	}
	return 0, resp.ContentLength - 1, true
}

// parseContentRange reads "bytes first-last/total".
func parseContentRange(v string) (first, last int64, ok bool) {
	v, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	span, _, _ := strings.Cut(v, "/")
	a, b, found := strings.Cut(span, "-")
	if !found {
		return 0, 0, false
	}
	f, err1 := strconv.ParseInt(a, 10, 64)
	l, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || l < f {
		return 0, 0, false
	}
	return f, l, true
}
