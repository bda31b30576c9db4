package proxy

import (
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// smallObject is the size up to which a PUT's body is read whole and sent
// to the object servers from memory: one buffer, no pipes.
const smallObject = 64 << 10

// statusClientDisconnect is Swift's answer when the client stopped sending
// before the end of the body.
const statusClientDisconnect = 499

func (s *Server) putObject(req *request) {
	r := req.r
	if inm, ok := r.Header["If-None-Match"]; ok && !ifNoneMatchAny(inm) {
		writeText(req.w, r, http.StatusBadRequest, "If-None-Match only supports *")
		return
	}
	if !s.objectWritable(req) {
		return
	}
	guessContentType(req)
	length, ok := s.checkObjectCreation(req)
	if !ok {
		return
	}
	ts, ok := s.timestamp(req)
	if !ok {
		return
	}
	base := s.objectHeader(req)
	if msg := deleteAtHeaders(base, ts); msg != "" {
		writeText(req.w, r, http.StatusBadRequest, msg)
		return
	}
	part := req.ring.Partition(req.t.Account, req.t.Container, req.t.Object)
	n := len(req.ring.Primaries(part))
	if n == 0 {
		writeStatus(req.w, r, http.StatusServiceUnavailable)
		return
	}
	hdrs := s.objectHeaders(req, req.ring, n, ts, base)
	var replies []reply
	var status int
	if length >= 0 && length <= smallObject {
		replies, status = s.putSmall(req, part, hdrs, length)
	} else {
		replies, status = s.putStream(req, part, hdrs, length)
	}
	if status == 0 {
		status = s.putOutcome(req, replies, n)
	}
	h := req.w.Header()
	if status >= 200 && status < 300 || status == http.StatusUnprocessableEntity {
		h.Set("Last-Modified", ts.HTTPDate())
	}
	writeStatus(req.w, r, status)
}

// putOutcome decides a PUT from the object servers' answers; on success
// it sets the ETag.
func (s *Server) putOutcome(req *request, replies []reply, n int) int {
	star := ifNoneMatchAny(req.r.Header["If-None-Match"]) && len(req.r.Header["If-None-Match"]) > 0
	for _, rp := range replies {
		if star && rp.status == http.StatusPreconditionFailed {
			return http.StatusPreconditionFailed
		}
	}
	for _, rp := range replies {
		if rp.status == http.StatusConflict {
			// A newer write is already there: Swift's 202.
			return http.StatusAccepted
		}
	}
	rep, ok := best(replies, n, nil)
	if !ok {
		s.log.Error("object PUT without quorum", "path", req.r.URL.Path, "statuses", statuses(replies), "trans_id", req.id)
		return http.StatusServiceUnavailable
	}
	if rep.status >= 200 && rep.status < 300 {
		etag := ""
		for _, rp := range replies {
			if rp.status >= 200 && rp.status < 300 {
				e := normEtag(rp.header.Get("Etag"))
				if etag != "" && e != etag {
					s.log.Error("object servers returned different etags", "path", req.r.URL.Path, "trans_id", req.id)
					return http.StatusInternalServerError
				}
				etag = e
			}
		}
		if etag != "" {
			req.w.Header().Set("Etag", etag)
		}
	}
	return rep.status
}

func ifNoneMatchAny(vs []string) bool {
	for _, v := range vs {
		for e := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(e) == "*" {
				return true
			}
		}
	}
	return false
}

// guessContentType fills in a missing Content-Type from the object name's
// extension, or replaces it when X-Detect-Content-Type asks for it.
func guessContentType(req *request) {
	h := req.r.Header
	detect := isTrue(h.Get("X-Detect-Content-Type"))
	if !detect && h.Get("Content-Type") != "" {
		return
	}
	ct := "application/octet-stream"
	if ext := path.Ext(req.t.Object); ext != "" {
		if t := mime.TypeByExtension(ext); t != "" {
			// Python's mimetypes gives the bare type; Go adds a charset
			// to text types.
			ct = strings.TrimSuffix(t, "; charset=utf-8")
		}
	}
	h.Set("Content-Type", ct)
	delete(h, "X-Detect-Content-Type")
}

// checkObjectCreation applies Swift's check_object_creation and
// check_content_type. It returns the body's length, -1 for chunked.
func (s *Server) checkObjectCreation(req *request) (int64, bool) {
	w, r := req.w, req.r
	length := r.ContentLength
	chunked := len(r.TransferEncoding) > 0 && r.TransferEncoding[len(r.TransferEncoding)-1] == "chunked"
	if chunked {
		length = -1
	}
	if length > swift.MaxFileSize {
		writeText(w, r, http.StatusRequestEntityTooLarge, "Your request is too large.")
		return 0, false
	}
	// A client request with neither Content-Length nor chunked encoding
	// has no declared length; a middleware's sub-request without a body is
	// a zero-byte object.
	if length == 0 && r.Header.Get("Content-Length") == "" && !chunked && swift.Source(req.ctx) == "" {
		writeText(w, r, http.StatusLengthRequired, "Missing Content-Length header.")
		return 0, false
	}
	if len(req.t.Object) > swift.MaxObjectNameLength {
		writeText(w, r, http.StatusBadRequest, "Object name length of "+strconv.Itoa(len(req.t.Object))+
			" longer than "+strconv.Itoa(swift.MaxObjectNameLength))
		return 0, false
	}
	ct := r.Header.Get("Content-Type")
	if !utf8.ValidString(ct) || strings.IndexByte(ct, 0) >= 0 {
		writeText(w, r, http.StatusBadRequest, "Invalid Content-Type")
		return 0, false
	}
	if msg := checkMetadata("Object", r.Header); msg != "" {
		writeText(w, r, http.StatusBadRequest, msg)
		return 0, false
	}
	if _, params, ok := strings.Cut(ct, ";"); ok {
		for p := range strings.SplitSeq(params, ";") {
			if strings.HasPrefix(strings.TrimSpace(p), "swift_") {
				writeError(w, r, http.StatusBadRequest, "Invalid Content-Type, swift_* is not a valid parameter name.")
				return 0, false
			}
		}
	}
	return length, true
}

// putSmall reads a small body whole and sends it to every primary from
// memory. A status other than 0 answers the client at once.
func (s *Server) putSmall(req *request, part int, hdrs []http.Header, length int64) ([]reply, int) {
	bp := bufPool.Get().(*[]byte)
	body := (*bp)[:length]
	if length > 0 {
		if _, err := io.ReadFull(req.r.Body, body); err != nil {
			bufPool.Put(bp)
			s.log.Info("client disconnected during PUT", "path", req.r.URL.Path, "err", err, "trans_id", req.id)
			return nil, statusClientDisconnect
		}
	}
	// The buffer goes back to the pool only once no request reads it.
	return s.fanout(req.ctx, req.ring, kindObject, part, http.MethodPut, req.t, "", hdrs, body,
		func() { bufPool.Put(bp) }), 0
}
