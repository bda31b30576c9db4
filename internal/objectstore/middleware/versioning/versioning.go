// Package versioning keeps older versions of objects, as Swift's legacy
// versioned_writes middleware. A container whose X-Versions-Location (or
// X-History-Location) names an archive container gets, on every PUT over
// an existing object, a copy of the old data in the archive as
// "<3 hex digits: name length><name>/<timestamp>". On DELETE, "stack"
// mode (X-Versions-Location) puts the newest archived version back in
// place; "history" mode (X-History-Location) archives the current data
// and writes a delete marker. The location is kept as container sysmeta,
// so only this middleware acts on it. Swift's newer object versioning
// (X-Versions-Enabled) is not offered: the header is ignored, as a Swift
// without that middleware ignores it.
package versioning

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Header names: what clients send and see, and the sysmeta behind them.
const (
	hdrVersionsLocation = "X-Versions-Location"
	hdrHistoryLocation  = "X-History-Location"
	hdrRemoveVersions   = "X-Remove-Versions-Location"
	hdrRemoveHistory    = "X-Remove-History-Location"
	sysmetaLocation     = "X-Container-Sysmeta-Versions-Location"
	sysmetaMode         = "X-Container-Sysmeta-Versions-Mode"
)

// DeleteMarkerType is the content type of a history-mode delete marker.
const DeleteMarkerType = "application/x-deleted;swift_versions_deleted=1"

// Info is the "versioned_writes" section of /info.
func Info() map[string]any {
	return map[string]any{"allowed_flags": []string{"x-versions-location", "x-history-location"}}
}

// New versions the objects of containers that ask for it.
func New(next http.Handler) http.Handler {
	return &handler{next: next}
}

type handler struct{ next http.Handler }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := swift.ParsePath(r.URL.Path)
	if err != nil || p.Container == "" {
		h.next.ServeHTTP(w, r)
		return
	}
	if p.Object == "" {
		h.container(w, r)
		return
	}
	if r.Method != http.MethodPut && r.Method != http.MethodDelete {
		h.next.ServeHTTP(w, r)
		return
	}
	// Nobody writes anonymously: let the core say so, without touching
	// the archive first.
	if !swift.Authorized(r.Context()) && authn.From(r.Context()) == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	archive, mode := h.location(r, p)
	if archive == "" {
		h.next.ServeHTTP(w, r)
		return
	}
	v := &versioner{next: h.next, r: r, p: p, archive: archive}
	switch {
	case r.Method == http.MethodPut:
		v.put(w)
	case mode == "history":
		v.deleteHistory(w)
	default:
		v.deleteStack(w)
	}
}
