package proxy

import (
	"net/http"
	"slices"
	"strings"
)

// CORS as Swift's proxy does it, from the container's metadata:
// X-Container-Meta-Access-Control-Allow-Origin (space-separated origins
// or "*"), -Max-Age and -Expose-Headers. Strict mode: only the container
// decides.

type corsInfo struct {
	allowOrigin   string
	exposeHeaders string
	maxAge        string
	maxAgeSet     bool
}

func (s *Server) cors(req *request) corsInfo {
	in := s.containerInfo(req)
	if !in.ok() {
		return corsInfo{}
	}
	h := in.header
	c := corsInfo{
		allowOrigin:   h.Get("X-Container-Meta-Access-Control-Allow-Origin"),
		exposeHeaders: h.Get("X-Container-Meta-Access-Control-Expose-Headers"),
	}
	if v, ok := h["X-Container-Meta-Access-Control-Max-Age"]; ok && len(v) > 0 {
		c.maxAge, c.maxAgeSet = v[0], true
	}
	return c
}

func (c corsInfo) originAllowed(origin string) bool {
	for o := range strings.FieldsSeq(c.allowOrigin) {
		if o == origin || o == "*" {
			return true
		}
	}
	return false
}

// options answers OPTIONS: the allowed methods, and for a CORS preflight
// on a container or object, whether the container lets the origin in.
func (s *Server) options(req *request, allow string) {
	w, r := req.w, req.r
	h := w.Header()
	h.Set("Allow", allow)
	origin := r.Header.Get("Origin")
	if origin == "" || req.t.Container == "" {
		writeEmpty(w, http.StatusOK)
		return
	}
	c := s.cors(req)
	method := r.Header.Get("Access-Control-Request-Method")
	if !c.originAllowed(origin) || !slices.Contains(strings.Split(allow, ", "), method) {
		writeStatus(w, r, http.StatusUnauthorized)
		return
	}
	var vary []string
	if strings.TrimSpace(c.allowOrigin) == "*" {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		vary = append(vary, "Origin")
	}
	if c.maxAgeSet {
		h.Set("Access-Control-Max-Age", c.maxAge)
	}
	h.Set("Access-Control-Allow-Methods", allow)
	var hdrs []string
	for v := range strings.SplitSeq(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(hdrs, v) {
			hdrs = append(hdrs, v)
		}
	}
	if len(hdrs) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(hdrs, ", "))
		vary = append(vary, "Access-Control-Request-Headers")
	}
	if len(vary) > 0 {
		h.Set("Vary", strings.Join(vary, ", "))
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// corsWriter adds the CORS headers to the answer of a request with an
// Origin, when the container allows the origin. The container's rules are
// read before the request runs, as Swift's cors_validation.
func (s *Server) corsWriter(req *request) http.ResponseWriter {
	c := s.cors(req)
	origin := req.r.Header.Get("Origin")
	if !c.originAllowed(origin) {
		return req.w
	}
	return &corsResponse{ResponseWriter: req.w, c: c, origin: origin}
}

type corsResponse struct {
	http.ResponseWriter
	c      corsInfo
	origin string
	done   bool
}

// exposeAlways are the headers Swift always exposes to scripts.
var exposeAlways = []string{"cache-control", "content-language", "content-type", "expires", "last-modified",
	"pragma", "etag", "x-timestamp", "x-trans-id", "x-openstack-request-id"}

func (w *corsResponse) WriteHeader(status int) {
	if !w.done {
		w.done = true
		h := w.Header()
		if h.Get("Access-Control-Expose-Headers") == "" {
			expose := slices.Clone(exposeAlways)
			for k := range h {
				if strings.HasPrefix(k, "X-Container-Meta") || strings.HasPrefix(k, "X-Object-Meta") {
					expose = append(expose, strings.ToLower(k))
				}
			}
			for e := range strings.FieldsSeq(w.c.exposeHeaders) {
				expose = append(expose, strings.ToLower(e))
			}
			slices.Sort(expose)
			h.Set("Access-Control-Expose-Headers", strings.Join(slices.Compact(expose), ", "))
		}
		if h.Get("Access-Control-Allow-Origin") == "" {
			if strings.TrimSpace(w.c.allowOrigin) == "*" {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", w.origin)
				if v := h.Get("Vary"); v != "" {
					h.Set("Vary", v+", Origin")
				} else {
					h.Set("Vary", "Origin")
				}
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *corsResponse) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *corsResponse) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *corsResponse) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
