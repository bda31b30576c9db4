// Package slo is Swift's static large object middleware: a PUT with
// ?multipart-manifest=put stores a JSON list of segments (objects, parts
// of objects, inline data, other static large objects), checked one by
// one; a GET or HEAD of the manifest then answers the concatenation of
// the segments, streamed, with Range and conditional requests over the
// whole; ?multipart-manifest=get returns the manifest and
// ?multipart-manifest=delete deletes the segments and the manifest.
//
// Segments are read and checked with sub-requests down the pipeline in
// the caller's context, so the core authorizes each as the caller.
package slo

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure the middleware; zero values are Swift's defaults.
type Options struct {
	MaxManifestSegments int           // object segments in one manifest (1000)
	MaxManifestSize     int           // bytes of a manifest PUT (8 MiB)
	YieldFrequency      time.Duration // heartbeat interval with ?heartbeat=on (10s)
	// Concurrency is how many segments are checked (HEAD) at once on a
	// manifest PUT, and deleted at once by multipart-manifest=delete (2).
	Concurrency int
	Log         *slog.Logger
}

// Swift's defaults.
const (
	DefaultMaxManifestSegments = swift.MaxManifestSegments
	DefaultMaxManifestSize     = swift.MaxManifestSize
	DefaultYieldFrequency      = 10 * time.Second
	DefaultConcurrency         = 2
)

// The headers and sysmeta the middleware keeps with a manifest.
const (
	headerSLO     = "X-Static-Large-Object"
	sysmetaEtag   = "X-Object-Sysmeta-Slo-Etag"
	sysmetaSize   = "X-Object-Sysmeta-Slo-Size"
	overrideEtag  = "X-Object-Sysmeta-Container-Update-Override-Etag"
	backendEtag   = "X-Backend-Container-Update-Override-Etag"
	overrideSize  = "X-Object-Sysmeta-Container-Update-Override-Size"
	backendSize   = "X-Backend-Container-Update-Override-Size"
	etagIsAt      = "X-Backend-Etag-Is-At"
	ignoreRangeIf = "X-Backend-Ignore-Range-If-Metadata-Present"
)

// maxRecursion is how deep static large objects may nest.
const maxRecursion = 10

func (o Options) withDefaults() Options {
	if o.MaxManifestSegments <= 0 {
		o.MaxManifestSegments = DefaultMaxManifestSegments
	}
	if o.MaxManifestSize <= 0 {
		o.MaxManifestSize = DefaultMaxManifestSize
	}
	if o.YieldFrequency <= 0 {
		o.YieldFrequency = DefaultYieldFrequency
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	o.Concurrency = min(o.Concurrency, 1000)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Info is the "slo" section of /info.
func Info() map[string]any {
	return map[string]any{
		"max_manifest_segments": DefaultMaxManifestSegments,
		"max_manifest_size":     DefaultMaxManifestSize,
		"yield_frequency":       int(DefaultYieldFrequency / time.Second),
		"min_segment_size":      swift.MinSegmentSize,
		"allow_async_delete":    false,
	}
}

// New wraps next with static large object support.
func New(next http.Handler, opts ...Options) http.Handler {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return &middleware{next: next, o: o.withDefaults()}
}

type middleware struct {
	next http.Handler
	o    Options
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := swift.ParsePath(r.URL.Path)
	if err != nil || p.Container == "" {
		m.next.ServeHTTP(w, r)
		return
	}
	if p.Object == "" {
		if r.Method == http.MethodGet {
			m.listing(w, r)
			return
		}
		m.next.ServeHTTP(w, r)
		return
	}
	mm := r.URL.Query().Get("multipart-manifest")
	switch {
	case r.Method == http.MethodPut && mm == "put":
		m.put(w, r, p)
	case r.Method == http.MethodDelete && mm == "delete":
		m.multipartDelete(w, r, p)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		m.get(w, r, p)
	case hasHeader(r.Header, headerSLO):
		swift.WriteError(w, r, http.StatusBadRequest, "X-Static-Large-Object is a reserved header. "+
			"To create a static large object add query param multipart-manifest=put.")
	default:
		m.next.ServeHTTP(w, r)
	}
}

func hasHeader(h http.Header, k string) bool {
	_, ok := h[k]
	return ok
}

// isSLO reports whether an object's headers mark it a static large object.
func isSLO(h http.Header) bool { return trueValue(h.Get(headerSLO)) }

// csvAppend adds a name to a comma-separated header value.
func csvAppend(h http.Header, key, name string) {
	if v := strings.TrimSpace(h.Get(key)); v != "" {
		h.Set(key, v+","+name)
		return
	}
	h.Set(key, name)
}

// segmentPath is the full path of a manifest's segment name.
func segmentPath(p swift.Path, name string) string {
	return "/" + p.Version + "/" + p.Account + "/" + strings.TrimLeft(name, "/")
}
