package slo

import (
	"iter"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// multipartDelete answers DELETE ?multipart-manifest=delete: every segment
// (nested manifests' too) is deleted, then the manifests, with a bulk
// delete's answer.
func (m *middleware) multipartDelete(w http.ResponseWriter, r *http.Request, p swift.Path) {
	format, ok := bulk.BestMatch(r.Header.Get("Accept"), bulk.Formats)
	if !ok {
		format = ""
	}
	bulk.Delete(w, r, m.next, format, m.segmentsToDelete(r, p), bulk.DeleteOptions{
		Source: "SLO", Concurrency: m.o.Concurrency, MaxFailures: bulk.DefaultMaxFailedDeletes,
		YieldFrequency: m.o.YieldFrequency, Log: m.o.Log,
	})
}

// toDelete is an entry of the walk: a name, and whether it is a manifest
// whose segments are still to be listed.
type toDelete struct {
	item     bulk.Item
	manifest bool
}

// segmentsToDelete walks the manifest breadth first, as Swift's
// get_segments_to_delete_iter: each manifest is read when reached, its
// segments queued, and the manifest itself queued after them. A manifest
// that cannot be read is reported (not found, or failed) in its place.
func (m *middleware) segmentsToDelete(r *http.Request, p swift.Path) iter.Seq2[bulk.Item, error] {
	return func(yield func(bulk.Item, error) bool) {
		if !utf8.ValidString(r.URL.Path) || strings.IndexByte(r.URL.Path, 0) >= 0 {
			yield(bulk.Item{}, &bulk.Error{Status: http.StatusPreconditionFailed, Body: "Invalid UTF8 or contains NULL"})
			return
		}
		queue := []toDelete{{item: bulk.Item{Name: "/" + p.Container + "/" + p.Object}, manifest: true}}
		for len(queue) > 0 {
			if len(queue) > m.o.MaxManifestSegments*10 {
				yield(bulk.Item{}, &bulk.Error{Status: http.StatusBadRequest, Body: "Too many buffered slo segments to delete."})
				return
			}
			next := queue[0]
			queue = queue[1:]
			if !next.manifest {
				if !yield(next.item, nil) {
					return
				}
				continue
			}
			segs, status, msg := m.readManifest(r, p, next.item.Name)
			if status != 0 {
				next.item.ErrStatus, next.item.ErrMsg = status, msg
			}
			for _, s := range segs {
				if s.IsData {
					continue
				}
				queue = append(queue, toDelete{item: bulk.Item{Name: s.Name}, manifest: s.SubSLO})
			}
			queue = append(queue, toDelete{item: next.item})
		}
	}
}

// readManifest reads the manifest named "/container/object"; on failure
// the status and message Swift reports for it.
func (m *middleware) readManifest(r *http.Request, p swift.Path, name string) ([]storedSegment, int, string) {
	sub := segment.NewRequest(r, "SLO", http.MethodGet, segmentPath(p, name), "multipart-manifest=get", nil)
	resp := swift.Do(m.next, sub)
	switch {
	case resp.StatusCode/100 == 2 && isSLO(resp.Header):
		body, ok := segment.ReadBody(resp, int64(m.manifestLimit()))
		if !ok {
			return nil, http.StatusInternalServerError, "Unable to load SLO manifest"
		}
		segs, err := decodeManifest(body)
		if err != nil {
			m.o.Log.Error("unable to load SLO manifest", "path", sub.URL.Path, "err", err)
			return nil, http.StatusInternalServerError, "Unable to load SLO manifest"
		}
		return segs, 0, ""
	case resp.StatusCode/100 == 2:
		segment.Drain(resp)
		return nil, http.StatusBadRequest, "Not an SLO manifest"
	case resp.StatusCode == http.StatusNotFound:
		segment.Drain(resp)
		return nil, http.StatusNotFound, "SLO manifest not found"
	case resp.StatusCode == http.StatusUnauthorized:
		segment.Drain(resp)
		return nil, http.StatusUnauthorized, "401 Unauthorized"
	}
	segment.Drain(resp)
	return nil, http.StatusInternalServerError, "Unable to load SLO manifest or segment."
}
