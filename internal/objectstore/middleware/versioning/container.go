package versioning

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// container turns X-Versions-Location / X-History-Location of a container
// request into sysmeta, and sysmeta back into them in the answer.
func (h *handler) container(w http.ResponseWriter, r *http.Request) {
	if status, msg := translate(r.Header); status != 0 {
		if status == http.StatusBadRequest {
			writePlain(w, r, status, msg)
		} else {
			swift.WriteError(w, r, status, msg)
		}
		return
	}
	h.next.ServeHTTP(&showLocation{ResponseWriter: w}, r)
}

// translate rewrites the versioning headers of a container request as
// Swift's versioned_writes does; a non-zero status refuses the request.
func translate(hdr http.Header) (int, string) {
	_, hasVersions := hdr[hdrVersionsLocation]
	_, hasHistory := hdr[hdrHistoryLocation]
	if hasVersions && hasHistory {
		switch {
		case hdr.Get(hdrHistoryLocation) == "":
			delete(hdr, hdrHistoryLocation) // the versions location decides
			hasHistory = false
		case hdr.Get(hdrVersionsLocation) != "":
			return http.StatusBadRequest, "Only one of x-versions-location or x-history-location may be specified"
		default:
			delete(hdr, hdrVersionsLocation)
			hasVersions = false
		}
	}
	if hasVersions || hasHistory {
		name, val, mode := hdrVersionsLocation, "", "stack"
		if !hasVersions {
			name, mode = hdrHistoryLocation, "history"
		}
		val = hdr.Get(name)
		if val == "" {
			hdr.Set(hdrRemoveVersions, "x")
		} else {
			if strings.Contains(val, "/") {
				return http.StatusPreconditionFailed, "Container name cannot contain slashes"
			}
			hdr.Set(sysmetaLocation, val)
			hdr.Set(sysmetaMode, mode)
			// Only the sysmeta says where versions go; clear what an older
			// proxy may have stored in the plain header.
			hdr.Set(hdrVersionsLocation, "")
			delete(hdr, hdrHistoryLocation)
			delete(hdr, hdrRemoveVersions)
			delete(hdr, hdrRemoveHistory)
		}
	}
	if hdr.Get(hdrRemoveVersions) != "" || hdr.Get(hdrRemoveHistory) != "" {
		hdr.Set(hdrVersionsLocation, "")
		hdr.Set(sysmetaLocation, "")
		hdr.Set(sysmetaMode, "")
		delete(hdr, hdrHistoryLocation)
		delete(hdr, hdrRemoveVersions)
		delete(hdr, hdrRemoveHistory)
	}
	return 0, ""
}

func writePlain(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = io.WriteString(w, msg)
	}
}

// showLocation shows the sysmeta location under the header that set it.
type showLocation struct {
	http.ResponseWriter
	wrote bool
}

func (w *showLocation) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		h := w.ResponseWriter.Header()
		if loc := h.Get(sysmetaLocation); loc != "" {
			if h.Get(sysmetaMode) == "history" {
				h.Set(hdrHistoryLocation, loc)
				h.Del(hdrVersionsLocation)
			} else {
				h.Set(hdrVersionsLocation, loc)
				h.Del(hdrHistoryLocation)
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *showLocation) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *showLocation) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *showLocation) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// location is the archive container and mode of the request's container,
// "" when it keeps no versions.
func (h *handler) location(r *http.Request, p swift.Path) (archive, mode string) {
	status, hdr := headInfo(h.next, r, "/v1/"+p.Account+"/"+p.Container)
	if status/100 != 2 {
		return "", ""
	}
	loc, mode := hdr.Get(sysmetaLocation), hdr.Get(sysmetaMode)
	if loc == "" {
		// Set before the sysmeta existed: stack mode, as Swift keeps it.
		loc, mode = hdr.Get(hdrVersionsLocation), "stack"
	}
	if loc == "" {
		return "", ""
	}
	if u, err := url.PathUnescape(loc); err == nil {
		loc = u
	}
	archive, _, _ = strings.Cut(loc, "/")
	if mode == "" {
		mode = "stack"
	}
	return archive, mode
}
