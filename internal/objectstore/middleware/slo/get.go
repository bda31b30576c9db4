package slo

import (
	"crypto/md5"
	"encoding/hex"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// manifestLimit bounds how much of a manifest is read into memory: a
// manifest PUT is at most MaxManifestSize, and its stored form adds a few
// fields per segment.
func (m *middleware) manifestLimit() int { return 4*m.o.MaxManifestSize + 1<<20 }

// get answers a GET or HEAD. The request goes down the pipeline as it is
// (asking the object server to apply conditions to the large object's
// etag and to ignore Range on a manifest, where it can); an answer that
// is not a manifest passes through untouched, a manifest is read and the
// large object served from its segments.
func (m *middleware) get(w http.ResponseWriter, r *http.Request, p swift.Path) {
	q := r.URL.Query()
	manifestGet := q.Get("multipart-manifest") == "get"
	if !manifestGet {
		// Swift's hints to the object server; the request is passed on as
		// it is otherwise, so it carries them.
		csvAppend(r.Header, etagIsAt, sysmetaEtag)
		csvAppend(r.Header, ignoreRangeIf, headerSLO)
	}
	ic := &segment.Interceptor{
		W:       w,
		Capture: func(_ int, h http.Header) bool { return isSLO(h) },
		Limit:   m.manifestLimit(),
	}
	m.next.ServeHTTP(ic, r)
	if !ic.Captured() {
		ic.Finish()
		return
	}
	if manifestGet {
		m.serveManifest(w, r, ic, q.Get("format") == "raw")
		return
	}
	m.serveLarge(w, r, p, q, ic)
}

// serveManifest answers ?multipart-manifest=get: the stored manifest as
// JSON, or with format=raw in the form it was PUT (with the large
// object's content type, so that a server-side copy can PUT it again).
func (m *middleware) serveManifest(w http.ResponseWriter, r *http.Request, ic *segment.Interceptor, raw bool) {
	h := w.Header()
	for k, v := range ic.Headers {
		h[k] = v
	}
	h.Set("Content-Type", cleanType(h.Get("Content-Type")))
	if ic.Overflow {
		m.o.Log.Error("manifest too large to read", "path", r.URL.Path)
		swift.WriteError(w, r, http.StatusInternalServerError, "Unable to load SLO manifest")
		return
	}
	body := ic.Body.Bytes()
	if !raw {
		h.Set("Content-Type", "application/json; charset=utf-8")
		if r.Method == http.MethodGet || ic.Status/100 != 2 {
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(ic.Status)
		_, _ = w.Write(body)
		return
	}
	if r.Method == http.MethodHead || ic.Status != http.StatusOK {
		// Nothing to convert: pass the answer on.
		w.WriteHeader(ic.Status)
		_, _ = w.Write(body)
		return
	}
	segs, err := decodeManifest(body)
	if err != nil {
		m.o.Log.Error("unable to load SLO manifest", "path", r.URL.Path, "err", err)
		h.Del("Content-Length")
		swift.WriteError(w, r, http.StatusInternalServerError, "Unable to load SLO manifest")
		return
	}
	out := encodeRaw(segs)
	sum := md5.Sum(out)
	h.Set("Etag", hex.EncodeToString(sum[:]))
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// cleanType drops the swift_bytes parameter the manifest's content type
// carries for the container listing.
func cleanType(ct string) string {
	if c, _, ok := cutSwiftBytes(ct); ok {
		return c
	}
	return ct
}

// serveLarge serves the large object a captured manifest answer is for.
func (m *middleware) serveLarge(w http.ResponseWriter, r *http.Request, p swift.Path, q url.Values, ic *segment.Interceptor) {
	var part int
	if v, ok := q["part-number"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(first(v)))
		if err != nil || n <= 0 {
			swift.WriteError(w, r, http.StatusBadRequest, "Part number must be an integer greater than 0")
			return
		}
		if r.Header.Get("Range") != "" {
			swift.WriteError(w, r, http.StatusBadRequest, "Range requests are not supported with part number queries")
			return
		}
		part = n
	}
	hdr := ic.Headers
	etag := hdr.Get(sysmetaEtag)
	size, err := strconv.ParseInt(hdr.Get(sysmetaSize), 10, 64)
	if err != nil || size < 0 || etag == "" {
		etag, size = "", -1 // a manifest stored without them: work them out
	}
	lastModified := hdr.Get("Last-Modified")
	// Conditions are checked here against the large object's etag, whatever
	// the object server made of them.
	if etag != "" && part == 0 {
		if c := segment.Check(r.Header, etag, lastModified); c != 0 {
			h := w.Header()
			copyLargeHeaders(h, hdr, etag)
			h.Set("Content-Length", "0")
			w.WriteHeader(c)
			return
		}
	}
	if r.Method == http.MethodHead && etag != "" && part == 0 {
		h := w.Header()
		copyLargeHeaders(h, hdr, etag)
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		return
	}

	body, ok := m.manifestBody(r, ic)
	if !ok {
		swift.WriteStatus(w, r, http.StatusServiceUnavailable)
		return
	}
	segs, err := decodeManifest(body)
	if err != nil {
		m.o.Log.Error("unable to load SLO manifest", "path", r.URL.Path, "err", err)
		swift.WriteError(w, r, http.StatusInternalServerError, "Unable to load SLO manifest")
		return
	}
	if etag == "" {
		etag, size = sloEtag(segs), totalSize(segs)
	}
	out := http.Header{}
	copyLargeHeaders(out, hdr, etag)
	o := segment.Object{
		Header: out, Length: size, Etag: etag, LastModified: lastModified,
		Next: m.next, Source: "SLO", Log: m.o.Log,
	}
	if part > 0 {
		out.Set("X-Parts-Count", strconv.Itoa(len(segs)))
		if part > len(segs) {
			h := w.Header()
			for k, v := range out {
				h[k] = v
			}
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			if r.Method == http.MethodHead {
				h.Set("Content-Length", "0")
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			writeText(w, r, http.StatusRequestedRangeNotSatisfiable, h.Get("Content-Type"), "The requested part number is not satisfiable")
			return
		}
		var start int64
		for _, s := range segs[:part-1] {
			start += s.length()
		}
		o.Part = &segment.Span{First: start, Last: start + segs[part-1].length() - 1}
	}
	g := &getter{m: m, r: r, p: p, cache: map[string][]storedSegment{}}
	o.Pieces = func(s segment.Span) iter.Seq2[segment.Piece, error] {
		return func(yield func(segment.Piece, error) bool) {
			g.pieces(segs, s.First, s.Last, 1, yield)
		}
	}
	segment.Serve(w, r, o)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// copyLargeHeaders makes a large object's headers from its manifest's:
// the large object's etag, the manifest's as X-Manifest-Etag, the content
// type without swift_bytes, and no sizes (Serve sets them).
func copyLargeHeaders(dst, manifest http.Header, etag string) {
	for k, v := range manifest {
		dst[k] = v
	}
	dst.Set("X-Manifest-Etag", segment.NormalizeEtag(manifest.Get("Etag")))
	dst.Set("Etag", `"`+etag+`"`)
	dst.Set("Content-Type", cleanType(manifest.Get("Content-Type")))
	dst.Del("Content-Range")
	dst.Del("Content-Length")
}

// manifestBody is the whole manifest: the captured answer when it is
// the complete body, otherwise (the object server applied a Range or a
// condition to the manifest itself) a fresh GET of the manifest alone.
func (m *middleware) manifestBody(r *http.Request, ic *segment.Interceptor) ([]byte, bool) {
	if ic.Status == http.StatusOK && !ic.Overflow && r.Method == http.MethodGet && completeBody(ic) {
		return ic.Body.Bytes(), true
	}
	sub := segment.NewRequest(r, "SLO", http.MethodGet, r.URL.Path, "multipart-manifest=get", nil)
	resp := swift.Do(m.next, sub)
	if resp.StatusCode != http.StatusOK || !isSLO(resp.Header) {
		segment.Drain(resp)
		m.o.Log.Warn("manifest changed or unreadable on refetch", "path", r.URL.Path, "status", resp.StatusCode)
		return nil, false
	}
	return segment.ReadBody(resp, int64(m.manifestLimit()))
}

// completeBody reports whether a 200 holds the whole stored manifest.
func completeBody(ic *segment.Interceptor) bool {
	if n, err := strconv.Atoi(ic.Headers.Get("Content-Length")); err == nil {
		return n == ic.Body.Len()
	}
	return true
}

// getter walks a manifest for the pieces of a byte range, reading nested
// manifests as it reaches them (a few kept, as Swift's LRU cache does, so
// that several ranges in one nested object fetch it once).
type getter struct {
	m     *middleware
	r     *http.Request
	p     swift.Path
	cache map[string][]storedSegment
	order []string
}

const subManifestCache = 20

// pieces yields the pieces of bytes first..last of the content segs
// describe, as Swift's _byterange_listing_iterator; it returns false when
// the consumer stopped.
func (g *getter) pieces(segs []storedSegment, first, last int64, depth int, yield func(segment.Piece, error) bool) bool {
	for _, s := range segs {
		n := s.length()
		if first >= n {
			first -= n
			last -= n
			continue
		}
		if last < 0 {
			return true
		}
		from, to := max(0, first), min(n-1, last)
		switch {
		case s.IsData:
			if !yield(segment.Piece{Data: s.Data[from : to+1]}, nil) {
				return false
			}
		case s.SubSLO:
			if depth >= maxRecursion {
				yield(segment.Piece{}, segment.Errorf("while processing manifest %s, max recursion depth was exceeded", g.r.URL.Path))
				return false
			}
			sub, err := g.subManifest(s.Name)
			if err != nil {
				yield(segment.Piece{}, err)
				return false
			}
			rs, _, ok := parseStoredRange(s.Range)
			if !ok {
				rs = 0
			}
			if !g.pieces(sub, rs+from, rs+to, depth+1, yield) {
				return false
			}
		default:
			rs, _, ok := parseStoredRange(s.Range)
			if !ok {
				rs = 0
			}
			piece := segment.Piece{
				Path: segmentPath(g.p, s.Name), First: rs + from, Last: rs + to,
				Etag: s.Hash, Size: s.Bytes,
			}
			if !yield(piece, nil) {
				return false
			}
		}
		first -= n
		last -= n
	}
	return true
}

// subManifest reads a nested static large object's manifest.
func (g *getter) subManifest(name string) ([]storedSegment, error) {
	if segs, ok := g.cache[name]; ok {
		return segs, nil
	}
	sub := segment.NewRequest(g.r, "SLO", http.MethodGet, segmentPath(g.p, name), "multipart-manifest=get", nil)
	resp := swift.Do(g.m.next, sub)
	if resp.StatusCode/100 != 2 {
		segment.Drain(resp)
		return nil, segment.Errorf("while fetching %s, GET of submanifest %s failed with status %d", g.r.URL.Path, name, resp.StatusCode)
	}
	body, ok := segment.ReadBody(resp, int64(g.m.manifestLimit()))
	if !ok {
		return nil, segment.Errorf("while fetching %s, submanifest %s could not be read", g.r.URL.Path, name)
	}
	segs, err := decodeManifest(body)
	if err != nil {
		return nil, segment.Errorf("while fetching %s, JSON-decoding of submanifest %s failed: %v", g.r.URL.Path, name, err)
	}
	if len(g.order) >= subManifestCache {
		delete(g.cache, g.order[0])
		g.order = g.order[1:]
	}
	g.cache[name] = segs
	g.order = append(g.order, name)
	return segs, nil
}
