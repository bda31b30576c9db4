package proxy

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func eqFold(a, b string) bool { return strings.EqualFold(a, b) }

func validUTF8(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// timestamp is the X-Timestamp of a write: now, or what a middleware's
// sub-request carries (versioning copies keep their time, as in Swift).
// Clients do not choose it: a time in the future would make their write
// impossible to replace. A bad value is answered with Swift's 400.
func (s *Server) timestamp(req *request) (swift.Timestamp, bool) {
	v := req.r.Header.Get("X-Timestamp")
	if v == "" || swift.Source(req.ctx) == "" {
		return swift.Now(), true
	}
	ts, err := swift.ParseTimestamp(v)
	if err != nil {
		writeText(req.w, req.r, http.StatusBadRequest, "X-Timestamp should be a UNIX timestamp float value; was "+pyRepr(v))
		return ts, false
	}
	return ts, true
}

// isTrue reads a Swift boolean header or parameter value.
func isTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	}
	return false
}
