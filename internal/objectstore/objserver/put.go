package objserver

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// put stores an object: checks, streams the body into tmp/ with block
// checksums and the MD5, fsyncs, renames into place, then updates the
// container listing.
func (s *Server) put(w http.ResponseWriter, r *http.Request, q *objRequest) {
	ts, ok := requestTimestamp(w, r)
	if !ok {
		return
	}
	replication := isReplication(r)
	if _, ok := r.Header["Content-Length"]; !ok && !chunked(r) {
		swift.WriteError(w, r, http.StatusLengthRequired, "Missing Content-Length header.")
		return
	}
	if r.ContentLength > swift.MaxFileSize {
		swift.WriteError(w, r, http.StatusRequestEntityTooLarge, "Your request is too large.")
		return
	}
	ctype, ok := r.Header["Content-Type"]
	if !ok || len(ctype) == 0 {
		swift.WriteError(w, r, http.StatusBadRequest, "No content type")
		return
	}
	deleteAt, ok := deleteAtHeader(w, r, swift.FromTime(s.now()), replication)
	if !ok {
		return
	}

	// Refuse early what the commit would refuse anyway.
	if _, ok := r.Header["If-None-Match"]; ok {
		o, _, err := s.open(q, 4096)
		if err == nil {
			exp := o.expired(s.requestNow(r))
			tags := parseMatch(r.Header.Get("If-None-Match"))
			etag := o.etag()
			o.close()
			if !exp && tags.matches(etag) {
				swift.WriteStatus(w, r, http.StatusPreconditionFailed)
				return
			}
		}
	}
	large := r.ContentLength < 0 || r.ContentLength > blockSize
	if large {
		// Spare streaming a large body the commit would refuse; a small
		// one is cheaper checked once, at the commit.
		st, err := readDirState(q.dir())
		if err != nil {
			s.fail(w, r, "list object directory", err)
			return
		}
		if st.winner != nil && !ts.After(st.winner.ts) {
			conflict(w, r, st.winner.ts)
			return
		}
	}

	meta := requestMeta(r.Header, true)
	meta["name"] = q.name()
	meta["Content-Type"] = ctype[0]
	enc := encodeMeta(meta)
	if len(enc) > maxMetaLen {
		swift.WriteError(w, r, http.StatusBadRequest, "Metadata too large")
		return
	}
	fw, err := newFileWriter(q.d, kindData, enc)
	if err != nil {
		s.fail(w, r, "create object file", err)
		return
	}
	if r.ContentLength >= directMin {
		fw.goDirect()
	}
	if large {
		fw.shareSum(&s.sums, q.name()+"\x00"+ts.Internal())
	}
	limit := int64(swift.MaxFileSize)
	if r.ContentLength >= 0 {
		limit = r.ContentLength
	}
	if err := fw.readFrom(r.Body, limit); err != nil {
		fw.abort()
		switch {
		case errors.Is(err, errTooLarge):
			swift.WriteError(w, r, http.StatusRequestEntityTooLarge, "Your request is too large.")
		case isNoSpace(err):
			swift.WriteStatus(w, r, http.StatusInsufficientStorage)
		case isTimeout(err):
			swift.WriteStatus(w, r, http.StatusRequestTimeout)
		default:
			// The client went away mid-body (Swift's 499).
			swift.WriteStatus(w, r, 499)
		}
		return
	}
	if r.ContentLength >= 0 && fw.hdr.size != r.ContentLength {
		fw.abort()
		swift.WriteStatus(w, r, 499)
		return
	}
	if err := fw.finish(); err != nil {
		fw.abort()
		s.fail(w, r, "write object file", err)
		return
	}
	etag := hexMD5(fw.hdr.md5)
	if want := normalizeEtag(r.Header.Get("Etag")); want != "" && strings.ToLower(want) != etag {
		os.Remove(fw.path())
		swift.WriteStatus(w, r, http.StatusUnprocessableEntity)
		return
	}
	if deleteAt > 0 {
		if err := s.addExpiring(q.d, deleteAt, q.part, q.hash); err != nil {
			os.Remove(fw.path())
			s.fail(w, r, "index expiring object", err)
			return
		}
	}
	if err := s.commit(q.d, q.part, q.hash, fw.path(), fileRef{ts: ts, ext: ".data"}); err != nil {
		var stale *staleError
		if errors.As(err, &stale) {
			conflict(w, r, stale.ts)
			return
		}
		s.fail(w, r, "commit object file", err)
		return
	}
	if !replication {
		hdr := map[string]string{
			"X-Timestamp":    ts.Internal(),
			"X-Size":         strconv.FormatInt(fw.hdr.size, 10),
			"X-Content-Type": ctype[0],
			"X-Etag":         etag,
		}
		applyOverrides(hdr, r.Header, meta)
		s.containerUpdate(r, q, http.MethodPut, ts, hdr)
	}
	w.Header().Set("Etag", etag)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// applyOverrides lets the proxy (for SLO, a manifest's total size and
// ETag) say what the listing should show instead of the stored bytes'
// figures: X-Backend-Container-Update-Override-* from the request, then
// X-Object-Sysmeta-Container-Update-Override-* from the metadata, which
// wins as in Swift.
func applyOverrides(hdr map[string]string, req http.Header, meta map[string]string) {
	const backend, sysmeta = "X-Backend-Container-Update-Override-", "X-Object-Sysmeta-Container-Update-Override-"
	for k, v := range req {
		if rest, ok := strings.CutPrefix(k, backend); ok && len(v) > 0 && rest != "" {
			hdr["X-"+rest] = v[0]
		}
	}
	for k, v := range meta {
		if rest, ok := strings.CutPrefix(k, sysmeta); ok && rest != "" {
			hdr["X-"+rest] = v
		}
	}
}

// requestTimestamp reads X-Timestamp, answering 400 when it is missing or
// bad.
func requestTimestamp(w http.ResponseWriter, r *http.Request) (swift.Timestamp, bool) {
	v := r.Header.Get("X-Timestamp")
	if v == "" {
		swift.WriteError(w, r, http.StatusBadRequest, "Missing X-Timestamp header")
		return swift.Timestamp{}, false
	}
	ts, err := swift.ParseTimestamp(v)
	if err != nil || ts.IsZero() {
		swift.WriteError(w, r, http.StatusBadRequest, "X-Timestamp should be a UNIX timestamp float value; was "+strconv.Quote(v))
		return swift.Timestamp{}, false
	}
	return ts, true
}

// requestNow is the time a read is judged at: the request's X-Timestamp
// when it has one (as Swift), else now.
func (s *Server) requestNow(r *http.Request) swift.Timestamp {
	if v := r.Header.Get("X-Timestamp"); v != "" {
		if ts, err := swift.ParseTimestamp(v); err == nil && !ts.IsZero() {
			return ts
		}
	}
	return swift.FromTime(s.now())
}

// deleteAtHeader checks X-Delete-At: an integer, not in the past.
func deleteAtHeader(w http.ResponseWriter, r *http.Request, now swift.Timestamp, skipPast bool) (int64, bool) {
	v := r.Header.Get("X-Delete-At")
	if v == "" {
		return 0, true
	}
	at, err := strconv.ParseInt(v, 10, 64)
	if err != nil || at < 0 {
		swift.WriteError(w, r, http.StatusBadRequest, "Non-integer X-Delete-At")
		return 0, false
	}
	if !skipPast && at*100000 < now.Ticks {
		swift.WriteError(w, r, http.StatusBadRequest, "X-Delete-At in past")
		return 0, false
	}
	return at, true
}

func isReplication(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("X-Backend-Replication"), "true")
}

func chunked(r *http.Request) bool {
	for _, te := range r.TransferEncoding {
		if te == "chunked" {
			return true
		}
	}
	return false
}

func conflict(w http.ResponseWriter, r *http.Request, ts swift.Timestamp) {
	w.Header().Set("X-Backend-Timestamp", ts.Internal())
	swift.WriteStatus(w, r, http.StatusConflict)
}

// fail answers an unexpected error: 507 when the disk is full, else a
// logged 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, action string, err error) {
	if isNoSpace(err) {
		swift.WriteStatus(w, r, http.StatusInsufficientStorage)
		return
	}
	s.log.Error(action, "method", r.Method, "path", r.URL.Path, "err", err)
	swift.WriteStatus(w, r, http.StatusInternalServerError)
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func hexMD5(sum [16]byte) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for i, c := range sum {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b[:])
}
