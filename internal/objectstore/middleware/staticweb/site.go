package staticweb

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// site serves one request from a container's web settings.
type site struct {
	h       *handler
	r       *http.Request
	p       swift.Path
	webMode bool

	// The container's X-Container-Meta-Web-* settings.
	index, errorSuffix, listings, label, css, dirType string

	transID string // of the last sub-request, for answers made here
}

// load reads the container's web settings, past the caller's
// authorization (they are not secret: they shape what anyone sees).
func (s *site) load() {
	sub := swift.NewSubRequest(s.r, "SW", http.MethodHead, "/", nil)
	sub.URL.Path = s.containerPath()
	sub.RequestURI = sub.URL.RequestURI()
	resp := swift.Do(s.h.next, sub.WithContext(swift.WithAuthorized(sub.Context())))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return
	}
	get := func(name string) string { return strings.TrimSpace(resp.Header.Get("X-Container-Meta-Web-" + name)) }
	s.index, s.errorSuffix, s.listings = get("Index"), get("Error"), get("Listings")
	s.label, s.css, s.dirType = get("Listings-Label"), get("Listings-Css"), get("Directory-Type")
}

func (s *site) containerPath() string {
	return "/" + s.p.Version + "/" + s.p.Account + "/" + s.p.Container
}

// do sends a request down the pipeline and notes its transaction id.
func (s *site) do(req *http.Request) *http.Response {
	resp := swift.Do(s.h.next, req)
	if id := resp.Header.Get("X-Trans-Id"); id != "" {
		s.transID = id
	}
	return resp
}

// same is the client's request (method, headers, query) for another
// path: an index page in place of a directory.
func (s *site) same(path string) *http.Response {
	req := s.r.Clone(s.r.Context())
	req.URL.Path, req.URL.RawPath = path, ""
	req.RequestURI = req.URL.RequestURI()
	req.Body, req.ContentLength = http.NoBody, 0
	req.Header.Set("User-Agent", strings.TrimSpace(s.r.Header.Get("User-Agent")+" StaticWeb"))
	return s.do(req)
}

// get is a GET the middleware makes as the caller (Swift's make_env):
// the core authorizes it with the caller's identity and Referer.
func (s *site) get(path, rawQuery string) *http.Response {
	req := swift.NewSubRequest(s.r, "SW", http.MethodGet, "/", nil)
	req.URL.Path, req.URL.RawQuery = path, rawQuery
	req.RequestURI = req.URL.RequestURI()
	// The caller's context, not marked as a middleware's own lookup: the
	// core must not take it for the owner's.
	req = req.WithContext(s.r.Context())
	for _, name := range []string{"Referer", "Origin", "Access-Control-Request-Method"} {
		if v := s.r.Header.Get(name); v != "" {
			req.Header.Set(name, v)
		}
	}
	req.Header.Set("User-Agent", strings.TrimSpace(s.r.Header.Get("User-Agent")+" StaticWeb"))
	return s.do(req)
}

// relay sends a sub-request's answer to the client as it is.
func (s *site) relay(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	if s.r.Method != http.MethodHead {
		_, _ = io.Copy(w, resp.Body)
	}
}

// stamp gives an answer made here the transaction id of the
// sub-requests behind it, when the pipeline's front has not set one.
func (s *site) stamp(w http.ResponseWriter) {
	if s.transID != "" && w.Header().Get("X-Trans-Id") == "" {
		w.Header().Set("X-Trans-Id", s.transID)
		w.Header().Set("X-Openstack-Request-Id", s.transID)
	}
}

// errorPage answers status with the container's error page for it,
// "<status><Web-Error>", when there is one; false when there is not.
func (s *site) errorPage(w http.ResponseWriter, status int) bool {
	if s.errorSuffix == "" {
		return false
	}
	resp := s.get(s.containerPath()+"/"+strconv.Itoa(status)+s.errorSuffix, "")
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return false
	}
	resp.StatusCode = status
	s.relay(w, resp)
	return true
}

// errorResponse relays resp, or the error page for its status instead.
func (s *site) errorResponse(w http.ResponseWriter, resp *http.Response) {
	if s.errorPage(w, resp.StatusCode) {
		resp.Body.Close()
		return
	}
	s.relay(w, resp)
}

// notFound is a plain 404, or the error page for it.
func (s *site) notFound(w http.ResponseWriter) {
	if s.errorPage(w, http.StatusNotFound) {
		return
	}
	s.stamp(w)
	swift.WriteStatus(w, s.r, http.StatusNotFound)
}

// redirectSlash sends the browser to the directory's path with a
// trailing slash, absolute as swob makes it.
func (s *site) redirectSlash(w http.ResponseWriter) {
	scheme, host := s.h.scheme, s.h.host
	if scheme == "" {
		scheme = "http"
		if s.r.TLS != nil {
			scheme = "https"
		}
	}
	if host == "" {
		host = s.r.Host
	}
	w.Header().Set("Location", scheme+"://"+host+quote(s.r.URL.Path+"/", "/"))
	s.stamp(w)
	const body = "<html><h1>Moved Permanently</h1><p>The resource has moved permanently.</p></html>"
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusMovedPermanently)
	if s.r.Method != http.MethodHead {
		_, _ = io.WriteString(w, body)
	}
}

// quote is Python's urllib.parse.quote: letters, digits, "_.-~" and the
// safe characters stay, every other byte is %XX.
func quote(s, safe string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || (c < 0x80 && strings.IndexByte(safe, c) >= 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
