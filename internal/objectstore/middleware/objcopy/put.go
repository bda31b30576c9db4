package objcopy

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// put answers a PUT with X-Copy-From: GET the source, PUT its body and
// metadata (merged with the request's) to the destination.
func (m *middleware) put(w http.ResponseWriter, r *http.Request, p swift.Path) {
	if r.ContentLength > 0 {
		writeText(w, r, http.StatusBadRequest, "Copy requests require a zero byte body")
		return
	}
	srcAccount := p.Account
	if v := r.Header.Get("X-Copy-From-Account"); v != "" {
		acct, msg := checkAccount(bulk.Unquote(v))
		if msg != "" {
			swift.WriteError(w, r, http.StatusPreconditionFailed, msg)
			return
		}
		srcAccount = acct
	}
	srcContainer, srcObject, ok := splitPathHeader(r.Header.Get("X-Copy-From"))
	if !ok {
		swift.WriteError(w, r, http.StatusPreconditionFailed, "X-Copy-From header must be of the form <container name>/<object name>")
		return
	}
	srcPath := "/" + p.Version + "/" + srcAccount + "/" + srcContainer + "/" + srcObject

	src := swift.Do(m.next, sourceRequest(r, srcPath))
	defer src.Body.Close()
	if src.StatusCode >= 300 {
		passOn(w, r, src)
		return
	}
	length, err := strconv.ParseInt(src.Header.Get("Content-Length"), 10, 64)
	if err != nil || length > swift.MaxFileSize {
		// No length: a dynamic large object of too many segments to sum.
		swift.WriteStatus(w, r, http.StatusRequestEntityTooLarge)
		return
	}

	sink := sinkRequest(r, src, length)
	extra := http.Header{}
	extra.Set("X-Copied-From-Account", bulk.Quote(srcAccount))
	extra.Set("X-Copied-From", bulk.Quote(srcContainer+"/"+srcObject))
	if lm := src.Header.Get("Last-Modified"); lm != "" {
		extra.Set("X-Copied-From-Last-Modified", lm)
	}
	if v := src.Header.Get("X-Object-Version-Id"); v != "" {
		extra.Set("X-Copied-From-Version-Id", v)
	}
	for k, v := range sink.Header {
		if isMeta(k) || k == "X-Delete-At" {
			extra[k] = v
		}
	}

	res := segment.Call(m.next, sink, 64<<10)
	h := w.Header()
	for k, v := range res.Header {
		h[k] = v
	}
	if res.Status/100 == 2 {
		for k, v := range extra {
			h[k] = v
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.WriteHeader(res.Status)
	_, _ = w.Write(res.Body)
}

// sourceRequest is the GET of the source: the client's request turned
// into a GET (its headers apply: Range, conditions), newest copy wanted;
// ?multipart-manifest=get reads a static large object's manifest in the
// form it was PUT.
func sourceRequest(r *http.Request, path string) *http.Request {
	q := r.URL.Query()
	if q.Get("multipart-manifest") == "get" {
		q.Set("format", "raw")
	}
	sub := segment.NewRequest(r, "SSC", http.MethodGet, path, q.Encode(), nil)
	for k, v := range r.Header {
		sub.Header[k] = v
	}
	sub.Header.Del("Content-Length")
	sub.Header.Del("Transfer-Encoding")
	sub.Header.Del("X-Backend-Storage-Policy-Index")
	sub.Header.Set("X-Newest", "true")
	return sub
}

// persisted are the non-metadata headers an object keeps (the object
// server's allowed_headers), copied from the source.
var persisted = map[string]bool{
	"Content-Disposition": true,
	"Content-Encoding":    true,
	"Content-Language":    true,
	"Cache-Control":       true,
	"Expires":             true,
	"X-Robots-Tag":        true,
	"X-Delete-At":         true,
}

func isMeta(k string) bool {
	return strings.HasPrefix(k, "X-Object-Meta-") || strings.HasPrefix(k, "X-Object-Sysmeta-") ||
		strings.HasPrefix(k, "X-Object-Transient-Sysmeta-")
}

func isSysmeta(k string) bool { return strings.HasPrefix(k, "X-Object-Sysmeta-") }

// sinkRequest is the PUT of the destination: the source's metadata (only
// its sysmeta with X-Fresh-Metadata: true) under the request's headers,
// the source's body, etag (when it is the body's MD5) and content type.
func sinkRequest(r *http.Request, src *http.Response, length int64) *http.Request {
	sink := r.Clone(r.Context())
	h := http.Header{}
	if trueValue(r.Header.Get("X-Fresh-Metadata")) {
		for k, v := range r.Header {
			h[k] = v
		}
		for k, v := range src.Header {
			if isSysmeta(k) {
				h[k] = v
			}
		}
		for k, v := range r.Header {
			if isSysmeta(k) {
				h[k] = v
			}
		}
	} else {
		for k, v := range src.Header {
			if isMeta(k) || persisted[k] {
				h[k] = v
			}
		}
		for k, v := range r.Header {
			h[k] = v
		}
	}
	sink.Header = h

	q := r.URL.Query()
	_, isSLO := src.Header["X-Static-Large-Object"]
	manifest, isDLO := src.Header["X-Object-Manifest"]
	manifestGet := q.Get("multipart-manifest") == "get"
	if manifestGet {
		if isSLO {
			q.Set("multipart-manifest", "put")
		}
		if isDLO {
			q.Del("multipart-manifest")
			h["X-Object-Manifest"] = manifest
		}
	}
	q.Del("version-id")
	sink.URL.RawQuery = q.Encode()
	sink.RequestURI = sink.URL.RequestURI()

	if src.StatusCode == http.StatusOK && !isSLO && (!isDLO || manifestGet) {
		// The body is the source's content: its etag checks the copy.
		h.Set("Etag", segment.NormalizeEtag(src.Header.Get("Etag")))
	} else {
		// The etag and size the listing showed were the large object's;
		// the copy gets its own.
		for k := range h {
			if strings.HasPrefix(k, "X-Object-Sysmeta-Container-Update-Override-") {
				delete(h, k)
			}
		}
	}
	if isSLO && !manifestGet {
		// A whole copy is a plain object: the manifest's record of the
		// large object's etag and size is not its own.
		for k := range h {
			if strings.HasPrefix(k, "X-Object-Sysmeta-Slo-") {
				delete(h, k)
			}
		}
	}
	for _, k := range []string{"X-Copy-From", "X-Copy-From-Account", "Range", "Transfer-Encoding"} {
		h.Del(k)
	}
	if r.Header.Get("Content-Type") == "" {
		h.Set("Content-Type", src.Header.Get("Content-Type"))
	}
	sink.Body = io.NopCloser(src.Body)
	sink.ContentLength = length
	sink.TransferEncoding = nil
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	return sink
}

// passOn gives the client the source's failed answer.
func passOn(w http.ResponseWriter, r *http.Request, src *http.Response) {
	h := w.Header()
	for k, v := range src.Header {
		h[k] = v
	}
	w.WriteHeader(src.StatusCode)
	_, _ = io.Copy(w, src.Body)
}

func writeText(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, msg)
	}
}

// trueValue is Swift's config_true_value.
func trueValue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	}
	return false
}
