package dbserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// notFound answers a deleted database's 404, with its timestamps.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, k kind, i *info) {
	i.backendHeaders(w.Header())
	if k == kindAccount && i.Status == statusDeleted {
		w.Header().Set("X-Account-Status", "Deleted")
	}
	swift.WriteStatus(w, r, http.StatusNotFound)
}

// get answers HEAD and GET of a container or account: its stats and
// metadata, and for GET the listing, always JSON (the proxy renders the
// format the client asked for).
func (s *Server) get(w http.ResponseWriter, r *http.Request, k kind, path string) {
	limit := swift.ContainerListingLimit
	if k == kindAccount {
		limit = swift.AccountListingLimit
	}
	p, status, msg := parseListParams(r, limit)
	if status != 0 && r.Method == http.MethodGet {
		swift.WriteError(w, r, status, msg)
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
	i, err := readInfo(r.Context(), d.sql)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if i.isDeleted(k) {
		s.notFound(w, r, k, i)
		return
	}
	h := w.Header()
	i.headers(k, h)
	h.Set("Content-Type", "application/json; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	entries, err := listRows(r.Context(), d, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(listingJSON(k, entries)); err != nil {
		s.fail(w, r, err)
		return
	}
	body.Truncate(body.Len() - 1) // Encode's newline
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body.Bytes())
}
