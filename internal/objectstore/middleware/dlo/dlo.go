// Package dlo is Swift's dynamic large object middleware: an object whose
// X-Object-Manifest is "container/prefix" reads as the concatenation, in
// name order, of the objects of that container whose names start with
// the prefix, as the container lists them when the object is read. Its
// ETag is the quoted MD5 of the segments' etags; Range works over the
// whole. ?multipart-manifest=get reads the manifest object itself.
//
// Listings and segments are read with sub-requests down the pipeline in
// the caller's context, so the core authorizes each as the caller.
package dlo

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure the middleware.
type Options struct {
	// PageSize is the listing page asked for: a large object of more
	// segments is read page after page, and is sent without a length or
	// an etag (Swift's listing limit, 10000, by default).
	PageSize int
	Log      *slog.Logger
}

// Info is nil: Swift's dlo has no /info section.
func Info() map[string]any { return nil }

// New wraps next with dynamic large object support.
func New(next http.Handler, opts ...Options) http.Handler {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.PageSize <= 0 || o.PageSize > swift.ContainerListingLimit {
		o.PageSize = swift.ContainerListingLimit
	}
	return &middleware{next: next, log: o.Log, pageSize: o.PageSize}
}

type middleware struct {
	next     http.Handler
	log      *slog.Logger
	pageSize int
}

const (
	headerManifest = "X-Object-Manifest"
	ignoreRangeIf  = "X-Backend-Ignore-Range-If-Metadata-Present"
)

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := swift.ParsePath(r.URL.Path)
	if err != nil || p.Object == "" {
		m.next.ServeHTTP(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if r.URL.Query().Get("multipart-manifest") != "get" {
			m.get(w, r, p)
			return
		}
	case http.MethodPut:
		if v, ok := r.Header[headerManifest]; ok && !validManifest(first(v)) {
			swift.WriteError(w, r, http.StatusBadRequest, "X-Object-Manifest must be in the format container/prefix")
			return
		}
	}
	m.next.ServeHTTP(w, r)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// validManifest checks an X-Object-Manifest value as Swift does:
// "container/prefix", both non-empty, no query characters, and a prefix
// that does not start with a slash.
func validManifest(v string) bool {
	container, prefix, ok := strings.Cut(v, "/")
	return ok && container != "" && prefix != "" && !strings.ContainsAny(v, "?&") && !strings.HasPrefix(prefix, "/")
}

// get passes the request on; an answer carrying X-Object-Manifest is
// replaced by the large object.
func (m *middleware) get(w http.ResponseWriter, r *http.Request, p swift.Path) {
	// Swift's hint to the object server, carried by the request passed on.
	if v := strings.TrimSpace(r.Header.Get(ignoreRangeIf)); v != "" {
		r.Header.Set(ignoreRangeIf, v+","+headerManifest)
	} else {
		r.Header.Set(ignoreRangeIf, headerManifest)
	}
	ic := &segment.Interceptor{
		W:       w,
		Capture: func(_ int, h http.Header) bool { _, ok := h[headerManifest]; return ok },
		Limit:   0, // the manifest object's own body is not needed
	}
	m.next.ServeHTTP(ic, r)
	if !ic.Captured() {
		ic.Finish()
		return
	}
	value := bulk.Unquote(ic.Headers.Get(headerManifest))
	container, prefix, ok := strings.Cut(value, "/")
	if !ok || container == "" {
		m.log.Error("bad X-Object-Manifest", "path", r.URL.Path, "value", value)
		swift.WriteStatus(w, r, http.StatusInternalServerError)
		return
	}
	l := &lister{m: m, r: r, base: "/" + p.Version + "/" + p.Account + "/" + container, prefix: prefix}
	page, errResp := l.page("")
	if errResp != nil {
		writeResponse(w, r, errResp)
		return
	}
	complete := len(page) < m.pageSize
	h := http.Header{}
	for k, v := range ic.Headers {
		h[k] = v
	}
	length, etag := int64(-1), ""
	if complete {
		length = 0
		sum := md5.New()
		for _, s := range page {
			length += s.Bytes
			sum.Write([]byte(segment.NormalizeEtag(s.Hash)))
		}
		etag = hex.EncodeToString(sum.Sum(nil))
		h.Set("Etag", `"`+etag+`"`)
	}
	segment.Serve(w, r, segment.Object{
		Header: h, Length: length, Etag: etag, LastModified: ic.Headers.Get("Last-Modified"),
		SingleRange: true, Next: m.next, Source: "DLO", Log: m.log,
		Pieces: func(s segment.Span) iter.Seq2[segment.Piece, error] {
			return func(yield func(segment.Piece, error) bool) { l.pieces(page, s, yield) }
		},
	})
}

// writeResponse passes a failed listing's answer to the client (a GET
// gets its body, a HEAD only the headers).
func writeResponse(w http.ResponseWriter, r *http.Request, res *segment.Result) {
	h := w.Header()
	for k, v := range res.Header {
		h[k] = v
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(res.Status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Body)
}

// listed is a listing row of a segment.
type listed struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	Hash  string `json:"hash"`
}

// lister reads the segments' container listing page by page.
type lister struct {
	m      *middleware
	r      *http.Request
	base   string // "/v1/account/container"
	prefix string
}

// page lists the segments after marker; a failed listing is returned as
// the answer to give.
func (l *lister) page(marker string) ([]listed, *segment.Result) {
	q := "format=json&limit=" + strconv.Itoa(l.m.pageSize) + "&prefix=" + url.QueryEscape(l.prefix)
	if marker != "" {
		q += "&marker=" + url.QueryEscape(marker)
	}
	sub := segment.NewRequest(l.r, "DLO", http.MethodGet, l.base, q, nil)
	res := segment.Call(l.m.next, sub, 64<<20)
	if res.Status/100 != 2 {
		return nil, &res
	}
	var page []listed
	if res.Status == http.StatusNoContent || len(res.Body) == 0 {
		return page, nil
	}
	if err := json.Unmarshal(res.Body, &page); err != nil {
		l.m.log.Error("segment listing is not JSON", "path", l.base, "err", err)
		return nil, &segment.Result{Status: http.StatusInternalServerError, Header: http.Header{}}
	}
	return page, nil
}

// pieces yields the pieces of span, from the first page on and fetching
// further pages as long as they are full, as Swift's
// _segment_listing_iterator.
func (l *lister) pieces(page []listed, s segment.Span, yield func(segment.Piece, error) bool) {
	first, last := s.First, s.Last // last < 0: to the end
	toEnd := last < 0
	for {
		for _, seg := range page {
			n := seg.Bytes
			if first >= n {
				first -= n
				if !toEnd {
					last -= n
				}
				continue
			}
			if !toEnd && last < 0 {
				return
			}
			p := segment.Piece{Path: l.base + "/" + seg.Name, First: max(first, 0), Last: -1, Size: -1}
			if !toEnd && last < n-1 {
				p.Last = last
			}
			if !yield(p, nil) {
				return
			}
			first = max(first-n, 0)
			if !toEnd {
				last -= n
			}
		}
		if len(page) < l.m.pageSize || (!toEnd && last < 0) {
			return
		}
		next, errResp := l.page(page[len(page)-1].Name)
		if errResp != nil {
			yield(segment.Piece{}, segment.Errorf("got status %d listing container %s", errResp.Status, l.base))
			return
		}
		page = next
	}
}
