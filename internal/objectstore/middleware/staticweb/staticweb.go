// Package staticweb serves a container as a web site, as Swift's
// staticweb middleware: for anonymous GETs and HEADs (or requests with
// X-Web-Mode: true) on a container with X-Container-Meta-Web-Index,
// -Web-Listings, -Web-Error, -Web-Listings-CSS, -Web-Listings-Label or
// -Web-Directory-Type, it serves index pages, HTML listings and error
// pages, and redirects directory paths to their trailing slash. It sits
// after auth in the pipeline; every object and listing it reads is read
// as the caller, so the container's read ACL still decides.
package staticweb

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure the middleware.
type Options struct {
	// URLBase ("https://www.example.com") gives the scheme and host of the
	// redirects it makes, for a proxy behind a TLS terminator or another
	// name; by default they are the request's.
	URLBase string
}

// Info is the "staticweb" section of /info: present, without keys.
func Info() map[string]any { return map[string]any{} }

// New serves web sites from containers in front of next. At most one
// Options may be given.
func New(next http.Handler, opts ...Options) http.Handler {
	h := &handler{next: next}
	if len(opts) > 0 && opts[0].URLBase != "" {
		if u, err := url.Parse(opts[0].URLBase); err == nil {
			h.scheme, h.host = u.Scheme, u.Host
		}
	}
	return h
}

type handler struct {
	next         http.Handler
	scheme, host string
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := swift.ParsePath(r.URL.Path)
	if err != nil || p.Container == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		h.next.ServeHTTP(w, r)
		return
	}
	if swift.Source(r.Context()) != "" {
		// A middleware's own request (tempurl reading keys, say): Swift's
		// pre-authorized requests pass staticweb by.
		h.next.ServeHTTP(w, r)
		return
	}
	webMode := isTrue(r.Header.Get("X-Web-Mode"))
	// A caller with a token sees the plain API unless it asks for the
	// site; temp URL holders and anonymous visitors see the site.
	if authn.From(r.Context()) != nil && !webMode {
		h.next.ServeHTTP(w, r)
		return
	}
	s := &site{h: h, r: r, p: p, webMode: webMode}
	if p.Object != "" {
		s.object(w)
		return
	}
	s.container(w)
}

// isTrue is Swift's config_true_value.
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	}
	return false
}
