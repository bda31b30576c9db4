package dbserver

import (
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// serveContainer answers /container/{dev}/{part}/{a}/{c}[/{o}].
func (s *Server) serveContainer(w http.ResponseWriter, r *http.Request, dev string, bp swift.BackendPath) {
	if bp.Container == "" {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
		return
	}
	path, err := s.dbFor(dev, kindContainer, bp)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if bp.Object != "" {
		switch r.Method {
		case http.MethodPut, http.MethodDelete:
			s.objectRow(w, r, path, bp)
		default:
			swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
		}
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.putContainer(w, r, path, bp)
	case http.MethodDelete:
		s.deleteContainer(w, r, path, bp)
	case http.MethodPost:
		s.post(w, r, kindContainer, path)
	case http.MethodHead, http.MethodGet:
		s.get(w, r, kindContainer, path)
	default:
		swift.WriteStatus(w, r, http.StatusMethodNotAllowed)
	}
}

// shouldAutocreate is Swift's rule for object rows of a container that
// does not exist here: made on the fly for internal accounts (".…") or
// when the caller asks.
func shouldAutocreate(r *http.Request, account string) bool {
	if v := r.Header.Get("X-Backend-Auto-Create"); v != "" {
		return isTrue(v)
	}
	return strings.HasPrefix(account, ".")
}

// objectRow records an object's PUT or DELETE in its container's listing.
func (s *Server) objectRow(w http.ResponseWriter, r *http.Request, path string, bp swift.BackendPath) {
	ts, msg := requestTimestamp(r)
	if msg != "" {
		swift.WriteError(w, r, http.StatusBadRequest, msg)
		return
	}
	row := objectRow{Name: bp.Object, CreatedAt: ts.Internal(), Deleted: r.Method == http.MethodDelete}
	if !row.Deleted {
		size, err := strconv.ParseInt(r.Header.Get("X-Size"), 10, 64)
		if err != nil || size < 0 {
			swift.WriteError(w, r, http.StatusBadRequest, "Missing or bad X-Size header")
			return
		}
		row.Size = size
		row.ContentType = r.Header.Get("X-Content-Type")
		row.ETag = r.Header.Get("X-Etag")
		// A POST that changed the content type sends the object's data
		// timestamp with these two of its own.
		row.CtypeTimestamp = r.Header.Get("X-Content-Type-Timestamp")
		row.MetaTimestamp = r.Header.Get("X-Meta-Timestamp")
	}
	if err := row.check(); err != nil {
		swift.WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	var init *info
	if shouldAutocreate(r, bp.Account) {
		// The container's own timestamp has no offset, as Swift's.
		norm := swift.Timestamp{Ticks: ts.Ticks}
		init = &info{Account: bp.Account, Container: bp.Container, CreatedAt: norm, PutTimestamp: norm, StatusChangedAt: norm}
	}
	d, _, err := s.dbs.acquire(r.Context(), path, kindContainer, init)
	if errors.Is(err, errNoDB) {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.dbs.release(d)
	err = d.write(func(tx *sql.Tx) error {
		_, err := mergeObjects(r.Context(), d, tx, []objectRow{row})
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if row.Deleted {
		swift.WriteStatus(w, r, http.StatusNoContent)
	} else {
		swift.WriteStatus(w, r, http.StatusCreated)
	}
}

// putContainer creates the container, or updates its PUT timestamp and
// metadata (recreating it if it was deleted), then tells the account.
func (s *Server) putContainer(w http.ResponseWriter, r *http.Request, path string, bp swift.BackendPath) {
	ts, msg := requestTimestamp(r)
	if msg != "" {
		swift.WriteError(w, r, http.StatusBadRequest, msg)
		return
	}
	targets, ok := accountTargets(r)
	if !ok {
		swift.WriteStatus(w, r, http.StatusBadRequest)
		return
	}
	meta := metadataFromHeaders(kindContainer, r.Header, ts)
	init := &info{Account: bp.Account, Container: bp.Container, CreatedAt: ts, PutTimestamp: ts,
		StatusChangedAt: ts, Metadata: meta}
	d, created, err := s.dbs.acquire(r.Context(), path, kindContainer, init)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.dbs.release(d)
	conflict := false
	if !created {
		err = d.write(func(tx *sql.Tx) error {
			conflict, created = false, false
			i, err := readInfo(r.Context(), tx)
			if err != nil {
				return err
			}
			recreated := i.isDeleted(kindContainer)
			if ts.After(i.PutTimestamp) {
				i.PutTimestamp = ts
			}
			if i.isDeleted(kindContainer) {
				conflict = true // deleted after this PUT was made
				return nil
			}
			if recreated {
				i.StatusChangedAt = ts
				created = true
			}
			i.Metadata.merge(meta)
			return saveState(r.Context(), tx, i)
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if conflict {
		swift.WriteStatus(w, r, http.StatusConflict)
		return
	}
	if s.updateAccount(r, d, bp, targets) {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return
	}
	if created {
		swift.WriteStatus(w, r, http.StatusCreated)
	} else {
		swift.WriteStatus(w, r, http.StatusAccepted)
	}
}

// deleteContainer marks an empty container deleted and tells the account.
func (s *Server) deleteContainer(w http.ResponseWriter, r *http.Request, path string, bp swift.BackendPath) {
	ts, msg := requestTimestamp(r)
	if msg != "" {
		swift.WriteError(w, r, http.StatusBadRequest, msg)
		return
	}
	targets, ok := accountTargets(r)
	if !ok {
		swift.WriteStatus(w, r, http.StatusBadRequest)
		return
	}
	d, _, err := s.dbs.acquire(r.Context(), path, kindContainer, nil)
	if errors.Is(err, errNoDB) {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.dbs.release(d)
	var conflict, existed bool
	err = d.write(func(tx *sql.Tx) error {
		conflict, existed = false, false
		i, err := readInfo(r.Context(), tx)
		if err != nil {
			return err
		}
		if i.ObjectCount > 0 {
			conflict = true
			return nil
		}
		existed = !i.PutTimestamp.IsZero() && !i.isDeleted(kindContainer)
		if ts.After(i.DeleteTimestamp) {
			i.DeleteTimestamp = ts
		}
		if !i.isDeleted(kindContainer) {
			conflict = true // put again after this DELETE was made
			return nil
		}
		if existed {
			i.StatusChangedAt = ts
		}
		return saveState(r.Context(), tx, i)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if conflict {
		swift.WriteStatus(w, r, http.StatusConflict)
		return
	}
	if s.updateAccount(r, d, bp, targets) || !existed {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return
	}
	swift.WriteStatus(w, r, http.StatusNoContent)
}
