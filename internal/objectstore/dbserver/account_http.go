package dbserver

import (
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// serveAccount answers /account/{dev}/{part}/{a}[/{c}].
func (s *Server) serveAccount(w http.ResponseWriter, r *http.Request, dev string, bp swift.BackendPath) {
	if bp.Object != "" {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
		return
	}
	path, err := s.dbFor(dev, kindAccount, bp)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if bp.Container != "" {
		if r.Method != http.MethodPut {
			swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
			return
		}
		s.containerRow(w, r, path, bp)
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.putAccount(w, r, path, bp)
	case http.MethodDelete:
		s.deleteAccount(w, r, path)
	case http.MethodPost:
		s.post(w, r, kindAccount, path)
	case http.MethodHead, http.MethodGet:
		s.get(w, r, kindAccount, path)
	default:
		swift.WriteStatus(w, r, http.StatusMethodNotAllowed)
	}
}

// containerRow records a container server's report of a container. The
// account is created when missing (account autocreate: the proxy never
// PUTs accounts).
func (s *Server) containerRow(w http.ResponseWriter, r *http.Request, path string, bp swift.BackendPath) {
	row := containerRow{Name: bp.Container, PutTimestamp: r.Header.Get("X-Put-Timestamp"),
		DeleteTimestamp: r.Header.Get("X-Delete-Timestamp")}
	var err1, err2 error
	row.ObjectCount, err1 = strconv.ParseInt(r.Header.Get("X-Object-Count"), 10, 64)
	row.BytesUsed, err2 = strconv.ParseInt(r.Header.Get("X-Bytes-Used"), 10, 64)
	now := swift.Now()
	row.StatsTimestamp = r.Header.Get("X-Backend-Stats-Timestamp")
	if row.StatsTimestamp == "" {
		row.StatsTimestamp = now.Internal()
	}
	if err := errors.Join(err1, err2, row.check()); err != nil {
		swift.WriteError(w, r, http.StatusBadRequest, "Bad container update: "+err.Error())
		return
	}
	created := now
	if ts, msg := requestTimestamp(r); msg == "" {
		created = ts
	}
	init := &info{Account: bp.Account, CreatedAt: created, PutTimestamp: created, StatusChangedAt: created}
	d, _, err := s.dbs.acquire(r.Context(), path, kindAccount, init)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.dbs.release(d)
	override := strings.EqualFold(r.Header.Get("X-Account-Override-Deleted"), "yes")
	deleted := false
	err = d.write(func(tx *sql.Tx) error {
		deleted = false
		i, err := readInfo(r.Context(), tx)
		if err != nil {
			return err
		}
		if !override && i.isDeleted(kindAccount) {
			deleted = true
			return nil
		}
		_, err = mergeContainers(r.Context(), d, tx, []containerRow{row})
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case deleted:
		swift.WriteStatus(w, r, http.StatusNotFound)
	case row.DeleteTimestamp > row.PutTimestamp:
		swift.WriteStatus(w, r, http.StatusNoContent)
	default:
		swift.WriteStatus(w, r, http.StatusCreated)
	}
}

// putAccount creates an account or updates its PUT timestamp and metadata.
func (s *Server) putAccount(w http.ResponseWriter, r *http.Request, path string, bp swift.BackendPath) {
	ts, msg := requestTimestamp(r)
	if msg != "" {
		swift.WriteError(w, r, http.StatusBadRequest, msg)
		return
	}
	meta := metadataFromHeaders(kindAccount, r.Header, ts)
	init := &info{Account: bp.Account, CreatedAt: ts, PutTimestamp: ts, StatusChangedAt: ts, Metadata: meta}
	d, created, err := s.dbs.acquire(r.Context(), path, kindAccount, init)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.dbs.release(d)
	status := http.StatusCreated
	if !created {
		err = d.write(func(tx *sql.Tx) error {
			i, err := readInfo(r.Context(), tx)
			if err != nil {
				return err
			}
			if i.Status == statusDeleted {
				status = http.StatusForbidden
				return nil
			}
			recreated := i.isDeleted(kindAccount)
			if ts.After(i.PutTimestamp) {
				i.PutTimestamp = ts
			}
			if i.isDeleted(kindAccount) {
				status = http.StatusConflict
				return nil
			}
			status = http.StatusAccepted
			if recreated {
				i.StatusChangedAt = ts
				status = http.StatusCreated
			}
			i.Metadata.merge(meta)
			return saveState(r.Context(), tx, i)
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	switch status {
	case http.StatusForbidden:
		w.Header().Set("X-Account-Status", "Deleted")
		swift.WriteError(w, r, status, "Recently deleted")
	default:
		swift.WriteStatus(w, r, status)
	}
}

// deleteAccount marks the account deleted (Swift's reaper would then
// empty it; here the proxy allows no account DELETE but a reseller's).
func (s *Server) deleteAccount(w http.ResponseWriter, r *http.Request, path string) {
	ts, msg := requestTimestamp(r)
	if msg != "" {
		swift.WriteError(w, r, http.StatusBadRequest, msg)
		return
	}
	d, _, err := s.dbs.acquire(r.Context(), path, kindAccount, nil)
	if errors.Is(err, errNoDB) {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer s.dbs.release(d)
	var deleted *info
	err = d.write(func(tx *sql.Tx) error {
		deleted = nil
		i, err := readInfo(r.Context(), tx)
		if err != nil {
			return err
		}
		if i.isDeleted(kindAccount) {
			deleted = i
			return nil
		}
		if ts.After(i.DeleteTimestamp) {
			i.DeleteTimestamp = ts
		}
		i.Status = statusDeleted
		i.StatusChangedAt = ts
		return saveState(r.Context(), tx, i)
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if deleted != nil {
		s.notFound(w, r, kindAccount, deleted)
		return
	}
	w.Header().Set("X-Account-Status", "Deleted")
	swift.WriteStatus(w, r, http.StatusNoContent)
}
