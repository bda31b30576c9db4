// Package crossdomain answers GET /crossdomain.xml with a cross-domain
// policy document, as Swift's crossdomain middleware does, so that Flash,
// Java and Silverlight clients served from other sites may call the API.
package crossdomain

import (
	"net/http"
	"strconv"
)

// DefaultPolicy is Swift's default: any site, over HTTP or HTTPS. It is
// permissive on purpose, as in Swift; operators narrow it with Options.
const DefaultPolicy = `<allow-access-from domain="*" secure="false" />`

// Options configure the middleware.
type Options struct {
	// Policy is the XML placed inside <cross-domain-policy>, one or more
	// <allow-access-from .../> elements (Swift's cross_domain_policy).
	// Empty means DefaultPolicy.
	Policy string
}

// New serves /crossdomain.xml and passes every other request to next.
// At most one Options may be given.
func New(next http.Handler, opts ...Options) http.Handler {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Policy == "" {
		o.Policy = DefaultPolicy
	}
	body := []byte(Document(o.Policy))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/crossdomain.xml" || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

// Document is the policy document as Swift renders it.
func Document(policy string) string {
	return `<?xml version="1.0"?>` + "\n" +
		`<!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd" >` + "\n" +
		"<cross-domain-policy>\n" + policy + "\n</cross-domain-policy>"
}

// Info is the "crossdomain" section of /info: present, without keys.
func Info() map[string]any { return map[string]any{} }
