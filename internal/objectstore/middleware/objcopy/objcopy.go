// Package objcopy is Swift's server-side copy middleware: COPY with a
// Destination (and Destination-Account) header, or PUT with X-Copy-From
// (and X-Copy-From-Account) and an empty body, makes a new object from an
// existing one. The source is read with a GET down the pipeline as the
// caller (through the large object middlewares, so a large object is
// copied whole unless ?multipart-manifest=get asks for its manifest) and
// streamed into the PUT of the destination, also as the caller.
package objcopy

import (
	"net/http"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Info is nil: Swift's copy middleware has no /info section.
func Info() map[string]any { return nil }

// New wraps next with server-side copy.
func New(next http.Handler) http.Handler { return &middleware{next: next} }

type middleware struct{ next http.Handler }

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := swift.ParsePath(r.URL.Path)
	if err != nil || p.Object == "" {
		m.next.ServeHTTP(w, r)
		return
	}
	switch {
	case r.Method == http.MethodPut && r.Header.Get("X-Copy-From") != "":
		m.put(w, r, p)
	case r.Method == "COPY":
		m.copy(w, r, p)
	case r.Method == http.MethodOptions:
		m.options(w, r)
	default:
		m.next.ServeHTTP(w, r)
	}
}

// copy turns COPY into the PUT with X-Copy-From it stands for.
func (m *middleware) copy(w http.ResponseWriter, r *http.Request, p swift.Path) {
	dest := r.Header.Get("Destination")
	if dest == "" {
		swift.WriteError(w, r, http.StatusPreconditionFailed, "Destination header required")
		return
	}
	put := r.Clone(r.Context())
	h := put.Header
	destAccount := p.Account
	if v, ok := h["Destination-Account"]; ok {
		acct, msg := checkAccount(bulk.Unquote(first(v)))
		if msg != "" {
			swift.WriteError(w, r, http.StatusPreconditionFailed, msg)
			return
		}
		h.Set("X-Copy-From-Account", bulk.Quote(p.Account))
		destAccount = acct
		h.Del("Destination-Account")
	}
	container, object, ok := splitPathHeader(dest)
	if !ok {
		swift.WriteError(w, r, http.StatusPreconditionFailed, "Destination header must be of the form <container name>/<object name>")
		return
	}
	put.Method = http.MethodPut
	put.URL.Path = "/" + p.Version + "/" + destAccount + "/" + container + "/" + object
	put.URL.RawPath = ""
	put.RequestURI = put.URL.RequestURI()
	put.ContentLength = 0
	h.Set("Content-Length", "0")
	h.Set("X-Copy-From", bulk.Quote("/"+p.Container+"/"+p.Object))
	h.Del("Destination")
	np, err := swift.ParsePath(put.URL.Path)
	if err != nil {
		swift.WriteError(w, r, http.StatusPreconditionFailed, "Destination header must be of the form <container name>/<object name>")
		return
	}
	m.put(w, put, np)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// checkAccount is Swift's check_account_format: the message for a bad
// account name, "" for a good one.
func checkAccount(name string) (string, string) {
	switch {
	case name == "":
		return "", "Account name cannot be empty"
	case strings.Contains(name, "/"):
		return "", "Account name cannot contain slashes"
	}
	return name, ""
}

// splitPathHeader reads "container/object" (URL-encoded, an optional
// leading slash) as Swift's check_path_header: both parts non-empty.
func splitPathHeader(v string) (container, object string, ok bool) {
	v = strings.TrimPrefix(bulk.Unquote(v), "/")
	container, object, ok = strings.Cut(v, "/")
	return container, object, ok && container != "" && object != ""
}

// options adds COPY to the methods an object allows.
func (m *middleware) options(w http.ResponseWriter, r *http.Request) {
	m.next.ServeHTTP(&allowWriter{ResponseWriter: w}, r)
}

type allowWriter struct {
	http.ResponseWriter
	wrote bool
}

func (a *allowWriter) WriteHeader(status int) {
	if !a.wrote && status/100 == 2 {
		h := a.Header()
		for _, k := range []string{"Allow", "Access-Control-Allow-Methods"} {
			if v := h.Get(k); v != "" && !strings.Contains(v, "COPY") {
				h.Set(k, v+", COPY")
			}
		}
	}
	a.wrote = true
	a.ResponseWriter.WriteHeader(status)
}

func (a *allowWriter) Write(b []byte) (int, error) {
	if !a.wrote {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(b)
}

func (a *allowWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
