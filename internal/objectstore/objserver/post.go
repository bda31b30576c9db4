package objserver

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// post writes a .meta (Swift's fast POST): it replaces the user metadata,
// transient sysmeta and the headers a POST may set, and may change the
// Content-Type; the newest .meta wins.
func (s *Server) post(w http.ResponseWriter, r *http.Request, q *objRequest) {
	ts, ok := requestTimestamp(w, r)
	if !ok {
		return
	}
	deleteAt, ok := deleteAtHeader(w, r, ts, false)
	if !ok {
		return
	}
	o, _, err := s.open(q, 4096)
	if err != nil {
		var miss *missingError
		if errors.As(err, &miss) {
			notFound(w, r, miss.ts)
			return
		}
		s.fail(w, r, "open object", err)
		return
	}
	o.close()
	if o.expired(ts) {
		notFound(w, r, o.ts)
		return
	}
	if !ts.After(o.ts) {
		conflict(w, r, o.ts)
		return
	}
	meta := requestMeta(r.Header, false)
	meta["name"] = q.name()
	ctype, newType := r.Header["Content-Type"]
	if newType && len(ctype) > 0 {
		meta["Content-Type"] = ctype[0]
		meta["Content-Type-Timestamp"] = ts.Internal()
	} else if cts, ok := o.meta["Content-Type-Timestamp"]; ok {
		// An earlier POST changed the type; this one keeps it.
		meta["Content-Type"] = o.meta["Content-Type"]
		meta["Content-Type-Timestamp"] = cts
		newType = false
	}
	if len(encodeMeta(meta)) > maxMetaLen {
		swift.WriteError(w, r, http.StatusBadRequest, "Metadata too large")
		return
	}
	path, err := writeSmall(q.d, kindMeta, meta)
	if err != nil {
		s.fail(w, r, "write metadata file", err)
		return
	}
	if deleteAt > 0 {
		if err := s.addExpiring(q.d, deleteAt, q.part, q.hash); err != nil {
			s.fail(w, r, "index expiring object", err)
			return
		}
	}
	if err := s.commit(q.d, q.part, q.hash, path, fileRef{ts: ts, ext: ".meta"}); err != nil {
		var stale *staleError
		if errors.As(err, &stale) {
			conflict(w, r, stale.ts)
			return
		}
		s.fail(w, r, "commit metadata file", err)
		return
	}
	if newType && !isReplication(r) {
		// The listing shows the content type: tell the container.
		hdr := map[string]string{
			"X-Timestamp":              o.dataTS.Internal(),
			"X-Size":                   strconv.FormatInt(o.size(), 10),
			"X-Content-Type":           ctype[0],
			"X-Content-Type-Timestamp": ts.Internal(),
			"X-Meta-Timestamp":         ts.Internal(),
			"X-Etag":                   o.etag(),
		}
		applyOverrides(hdr, nil, o.meta)
		s.containerUpdate(r, q, http.MethodPut, ts, hdr)
	}
	swift.WriteStatus(w, r, http.StatusAccepted)
}

// delete writes a tombstone: 204 when there was an object, 404 when not
// (the tombstone is written anyway, as Swift does, so the delete wins over
// older copies elsewhere), 409 when the object is as new as the delete.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, q *objRequest) {
	ts, ok := requestTimestamp(w, r)
	if !ok {
		return
	}
	var orig swift.Timestamp
	var origDeleteAt int64
	status := http.StatusNotFound
	o, _, err := s.open(q, 4096)
	var miss *missingError
	switch {
	case errors.As(err, &miss):
		orig = miss.ts
	case err != nil:
		s.fail(w, r, "open object", err)
		return
	case o.expired(ts):
		orig, origDeleteAt = o.ts, o.deleteAt
	default:
		orig, origDeleteAt = o.dataTS, o.deleteAt
		status = http.StatusNoContent
		if !ts.After(orig) {
			status = http.StatusConflict
		}
	}
	o.close()
	if v, ok := r.Header["X-If-Delete-At"]; ok {
		// The expirer's guard: delete only the object it scheduled.
		want, err := swift.ParseTimestamp(v[0])
		if err != nil {
			swift.WriteError(w, r, http.StatusBadRequest, "Bad X-If-Delete-At header value")
			return
		}
		switch {
		case orig.IsZero():
			swift.WriteStatus(w, r, http.StatusNotFound)
			return
		case !ts.After(orig):
			swift.WriteStatus(w, r, http.StatusConflict)
			return
		case origDeleteAt*100000 != want.Ticks || want.Offset != 0:
			swift.WriteError(w, r, http.StatusPreconditionFailed, "X-If-Delete-At and X-Delete-At do not match")
			return
		}
		status = http.StatusNoContent
	}
	respTS := orig
	if ts.After(orig) {
		respTS = ts
		if err := s.tombstone(q, ts); err != nil {
			var stale *staleError
			if !errors.As(err, &stale) {
				s.fail(w, r, "write tombstone", err)
				return
			}
			status, respTS = http.StatusConflict, stale.ts
		} else if !isReplication(r) {
			s.containerUpdate(r, q, http.MethodDelete, ts, map[string]string{"X-Timestamp": ts.Internal()})
		}
	}
	w.Header().Set("X-Backend-Timestamp", respTS.Internal())
	swift.WriteStatus(w, r, status)
}

// tombstone writes and commits a .ts at ts.
func (s *Server) tombstone(q *objRequest, ts swift.Timestamp) error {
	path, err := writeSmall(q.d, kindTomb, map[string]string{"name": q.name()})
	if err != nil {
		return err
	}
	return s.commit(q.d, q.part, q.hash, path, fileRef{ts: ts, ext: ".ts"})
}
