package s3

import (
	"net/http"
	"strings"
	"time"
)

// Conditional requests are judged here against the S3 ETag (a multipart
// object's is not Swift's) and Last-Modified, in RFC 7232's order, which is
// also S3's: If-Match, else If-Unmodified-Since; then If-None-Match, else
// If-Modified-Since.

// conditions are the four headers, under whatever names the request uses.
type conditions struct {
	ifMatch, ifNoneMatch, ifModifiedSince, ifUnmodifiedSince string
}

func getConditions(h http.Header) conditions {
	return conditions{h.Get("If-Match"), h.Get("If-None-Match"), h.Get("If-Modified-Since"), h.Get("If-Unmodified-Since")}
}

func copySourceConditions(h http.Header) conditions {
	return conditions{h.Get("X-Amz-Copy-Source-If-Match"), h.Get("X-Amz-Copy-Source-If-None-Match"),
		h.Get("X-Amz-Copy-Source-If-Modified-Since"), h.Get("X-Amz-Copy-Source-If-Unmodified-Since")}
}

// check returns 0 when the request goes ahead, 304 (Not Modified) or 412
// with the name of the condition that failed.
func (c conditions) check(etag string, lastModified time.Time) (int, string) {
	if c.ifMatch != "" {
		if !etagListMatches(c.ifMatch, etag) {
			return http.StatusPreconditionFailed, "If-Match"
		}
	} else if t, err := http.ParseTime(c.ifUnmodifiedSince); err == nil && lastModified.After(t) {
		return http.StatusPreconditionFailed, "If-Unmodified-Since"
	}
	if c.ifNoneMatch != "" {
		if etagListMatches(c.ifNoneMatch, etag) {
			return http.StatusNotModified, "If-None-Match"
		}
	} else if t, err := http.ParseTime(c.ifModifiedSince); err == nil && !lastModified.After(t) {
		return http.StatusNotModified, "If-Modified-Since"
	}
	return 0, ""
}

func etagListMatches(list, etag string) bool {
	want := unquoteETag(etag)
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || unquoteETag(e) == want {
			return true
		}
	}
	return false
}
