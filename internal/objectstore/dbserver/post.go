package dbserver

import (
	"database/sql"
	"errors"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// post updates a live container's or account's metadata. A container's
// PUT timestamp moves too (as Swift's does) unless the caller says not to.
func (s *Server) post(w http.ResponseWriter, r *http.Request, k kind, path string) {
	ts, msg := requestTimestamp(r)
	if msg != "" {
		swift.WriteError(w, r, http.StatusBadRequest, msg)
		return
	}
	d, _, err := s.dbs.acquire(r.Context(), path, k, nil)
	if errors.Is(err, errNoDB) {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.dbs.release(d)
	meta := metadataFromHeaders(k, r.Header, ts)
	moveTimestamp := k == kindContainer && !isTrue(r.Header.Get("X-Backend-No-Timestamp-Update"))
	var deleted *info
	err = d.write(func(tx *sql.Tx) error {
		deleted = nil
		i, err := readInfo(r.Context(), tx)
		if err != nil {
			return err
		}
		if i.isDeleted(k) {
			deleted = i
			return nil
		}
		if moveTimestamp && ts.After(i.PutTimestamp) {
			i.PutTimestamp = ts
		}
		i.Metadata.merge(meta)
		return saveState(r.Context(), tx, i)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if deleted != nil {
		s.notFound(w, r, k, deleted)
		return
	}
	swift.WriteStatus(w, r, http.StatusNoContent)
}
