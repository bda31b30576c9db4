// Package tempurl grants time-limited access to objects through signed
// URLs, as Swift's tempurl middleware: a URL carrying temp_url_sig and
// temp_url_expires, signed with HMAC under one of the account's or
// container's Temp-URL-Keys, is let through the pipeline without a token
// (swift.WithAuthorized). It sits before auth in the proxy pipeline.
package tempurl

import (
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure the middleware; the zero value is Swift's defaults.
type Options struct {
	// Methods a temp URL may be used with.
	Methods []string
	// IncomingRemoveHeaders are removed from requests made with a temp
	// URL, except those IncomingAllowHeaders names. A trailing "*" makes
	// a name a prefix.
	IncomingRemoveHeaders, IncomingAllowHeaders []string
	// OutgoingRemoveHeaders are removed from responses to temp URLs,
	// except those OutgoingAllowHeaders names.
	OutgoingRemoveHeaders, OutgoingAllowHeaders []string
	// AllowedDigests are the HMAC digests signatures may use.
	AllowedDigests []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Swift's defaults.
var (
	DefaultMethods               = []string{"GET", "HEAD", "PUT", "POST", "DELETE"}
	DefaultIncomingRemoveHeaders = []string{"x-timestamp", "x-open-expired"}
	DefaultOutgoingRemoveHeaders = []string{"x-object-meta-*"}
	DefaultOutgoingAllowHeaders  = []string{"x-object-meta-public-*"}
)

func (o Options) withDefaults() Options {
	if o.Methods == nil {
		o.Methods = DefaultMethods
	}
	if o.IncomingRemoveHeaders == nil {
		o.IncomingRemoveHeaders = DefaultIncomingRemoveHeaders
	}
	if o.OutgoingRemoveHeaders == nil {
		o.OutgoingRemoveHeaders = DefaultOutgoingRemoveHeaders
	}
	if o.OutgoingAllowHeaders == nil {
		o.OutgoingAllowHeaders = DefaultOutgoingAllowHeaders
	}
	if o.AllowedDigests == nil {
		o.AllowedDigests = Digests
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Info is the "tempurl" section of /info with the default options.
func Info() map[string]any { return Options{}.Info() }

// Info is the "tempurl" section of /info for these options.
func (o Options) Info() map[string]any {
	o = o.withDefaults()
	info := map[string]any{
		"methods":                 o.Methods,
		"incoming_remove_headers": o.IncomingRemoveHeaders,
		"incoming_allow_headers":  nonNil(o.IncomingAllowHeaders),
		"outgoing_remove_headers": o.OutgoingRemoveHeaders,
		"outgoing_allow_headers":  o.OutgoingAllowHeaders,
		"allowed_digests":         sorted(o.AllowedDigests),
	}
	var deprecated []string
	for _, d := range o.AllowedDigests {
		if slices.Contains(DeprecatedDigests, d) {
			deprecated = append(deprecated, d)
		}
	}
	if len(deprecated) > 0 {
		info["deprecated_digests"] = sorted(deprecated)
	}
	return info
}

// New checks temp URLs on requests to next. At most one Options may be
// given.
func New(next http.Handler, opts ...Options) http.Handler {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o = o.withDefaults()
	return &handler{
		next: next,
		o:    o,
		in:   headerFilter{newHeaderSet(o.IncomingRemoveHeaders), newHeaderSet(o.IncomingAllowHeaders)},
		out:  headerFilter{newHeaderSet(o.OutgoingRemoveHeaders), newHeaderSet(o.OutgoingAllowHeaders)},
	}
}

type handler struct {
	next    http.Handler
	o       Options
	in, out headerFilter
}

// grant is a checked temp URL.
type grant struct {
	account, container, object string
	scope                      string
	expires                    int64
	p                          params
	sig                        string // as hex
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		h.next.ServeHTTP(w, r)
		return
	}
	p := parseParams(r.URL.RawQuery)
	if p.sig == nil && p.expires == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	g, ok := h.check(r, p)
	if !ok {
		invalid(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		for _, name := range disallowed {
			if _, present := r.Header[name]; present {
				swift.WriteError(w, r, http.StatusBadRequest, "The header '"+name+"' is not allowed in this tempurl")
				return
			}
		}
	}
	if !g.copySourceAllowed(r) {
		unauthorized(w, r)
		return
	}
	fwd := r.Clone(swift.WithAuthorized(r.Context()))
	h.in.apply(fwd.Header)
	// The URL is the credential: a token sent along must neither widen
	// nor, being stale, spoil it.
	for _, name := range []string{"X-Auth-Token", "X-Storage-Token", "X-Service-Token"} {
		fwd.Header.Del(name)
	}
	fwd.URL.RawQuery = g.forwardQuery()
	fwd.RequestURI = fwd.URL.RequestURI()
	h.next.ServeHTTP(&writer{ResponseWriter: w, r: r, h: h, g: g}, fwd)
}

// check validates the temp URL parameters of r as Swift does, in the same
// order, so that every failure is the same 401.
func (h *handler) check(r *http.Request, p params) (grant, bool) {
	var g grant
	if p.expires != nil {
		g.expires = ParseExpires(*p.expires, h.o.Now())
	}
	if p.sig == nil || *p.sig == "" || g.expires == 0 {
		return g, false
	}
	digest, sig, err := ParseSignature(*p.sig)
	if err != nil || !allowed(h.o.AllowedDigests, digest) {
		return g, false
	}
	g.sig, g.p = sig, p
	rootOK := (r.Method == http.MethodGet || r.Method == http.MethodHead) && p.prefix != nil && *p.prefix == ""
	var ok bool
	g.account, g.container, g.object, ok = h.pathParts(r, rootOK)
	if !ok {
		return g, false
	}
	if p.ipRange != nil && *p.ipRange != "" && !remoteIn(r.RemoteAddr, *p.ipRange) {
		return g, false
	}
	keys := Keys(h.next, r, "TU", g.account, g.container)
	if len(keys) == 0 {
		return g, false
	}
	path := "/v1/" + g.account + "/" + g.container + "/" + g.object
	if p.prefix != nil {
		if !strings.HasPrefix(g.object, *p.prefix) {
			return g, false
		}
		path = "prefix:/v1/" + g.account + "/" + g.container + "/" + *p.prefix
	}
	methods := []string{r.Method}
	if r.Method == http.MethodHead {
		// A URL signed for GET, PUT or POST may also be HEADed.
		methods = []string{"HEAD", "GET", "POST", "PUT"}
	}
	ipRange := ""
	if p.ipRange != nil {
		ipRange = *p.ipRange
	}
	for _, m := range methods {
		msg := Message(m, g.expires, path, ipRange)
		for _, k := range keys {
			if Equal(sig, HMAC(digest, k.Key, msg)) {
				g.scope = k.Scope
				return g, true
			}
		}
	}
	return g, false
}

// pathParts splits an object path of a method temp URLs allow; with
// rootOK a container's root is accepted too, for staticweb.
func (h *handler) pathParts(r *http.Request, rootOK bool) (account, container, object string, ok bool) {
	if !slices.Contains(h.o.Methods, r.Method) {
		return "", "", "", false
	}
	segs := strings.SplitN(r.URL.Path, "/", 5)
	min := 5
	if rootOK {
		min = 4
	}
	if len(segs) < min || segs[0] != "" || segs[1] != "v1" || segs[2] == "" || segs[3] == "" {
		return "", "", "", false
	}
	if len(segs) == 5 {
		object = segs[4]
	}
	if !rootOK && strings.Trim(object, "/") == "" {
		return "", "", "", false
	}
	return segs[2], segs[3], object, true
}

// remoteIn reports whether the client's address is in the range, an
// address or a network without host bits, as Python's ip_network.
func remoteIn(remoteAddr, ipRange string) bool {
	addr, err := netip.ParseAddr(remoteAddr)
	if err != nil {
		ap, err := netip.ParseAddrPort(remoteAddr)
		if err != nil {
			return false
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap()
	prefix, err := netip.ParsePrefix(ipRange)
	if err != nil {
		a, err := netip.ParseAddr(ipRange)
		if err != nil {
			return false
		}
		prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if prefix.Masked() != prefix {
		return false
	}
	return prefix.Contains(addr)
}

// copySourceAllowed keeps a server-side copy inside what the URL grants:
// Swift checks every sub-request of a temp URL request against the key's
// scope, so a PUT with X-Copy-From may read only from the same account,
// or the same container for a container key.
func (g grant) copySourceAllowed(r *http.Request) bool {
	if a := r.Header.Get("X-Copy-From-Account"); a != "" {
		if u, err := url.PathUnescape(a); err != nil || u != g.account {
			return false
		}
	}
	from := r.Header.Get("X-Copy-From")
	if from == "" || g.scope == scopeAccount {
		return true
	}
	u, err := url.PathUnescape(from)
	if err != nil {
		return false
	}
	container, _, _ := strings.Cut(strings.TrimPrefix(u, "/"), "/")
	return container == g.container
}

// forwardQuery keeps only the temp URL's own parameters, as Swift
// rewrites the query (staticweb reads them to sign its links).
func (g grant) forwardQuery() string {
	q := []string{"temp_url_sig=" + url.QueryEscape(g.sig), "temp_url_expires=" + url.QueryEscape(*g.p.expires)}
	if g.p.prefix != nil {
		q = append(q, "temp_url_prefix="+url.QueryEscape(*g.p.prefix))
	}
	if g.p.filename != nil && *g.p.filename != "" {
		q = append(q, "filename="+url.QueryEscape(*g.p.filename))
	}
	if g.p.inline {
		q = append(q, "inline=")
	}
	return strings.Join(q, "&")
}

// invalid answers Swift's 401 for a bad or expired temp URL.
func invalid(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Www-Authenticate", realm(r))
	if r.Method == http.MethodHead {
		swift.WriteStatus(w, r, http.StatusUnauthorized)
		return
	}
	swift.WriteError(w, r, http.StatusUnauthorized, "401 Unauthorized: Temp URL invalid\n")
}

// unauthorized is the plain 401 of a request the grant does not cover.
func unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Www-Authenticate", realm(r))
	swift.WriteStatus(w, r, http.StatusUnauthorized)
}

func realm(r *http.Request) string {
	name := "unknown"
	if p, err := swift.ParsePath(r.URL.Path); err == nil && p.Version == "v1" {
		name = quote(p.Account, "/")
	}
	return `Swift realm="` + name + `"`
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
