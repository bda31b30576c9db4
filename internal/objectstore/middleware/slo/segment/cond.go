package segment

import (
	"net/http"
	"strings"
	"time"
)

// NormalizeEtag drops the quotes around an entity tag.
func NormalizeEtag(tag string) string {
	if len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' {
		return tag[1 : len(tag)-1]
	}
	return tag
}

// matches reports whether an If-Match/If-None-Match header names etag or "*".
func matches(values []string, etag string) bool {
	for _, v := range values {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || (tag != "" && NormalizeEtag(tag) == etag) {
				return true
			}
		}
	}
	return false
}

// Check evaluates a GET's or HEAD's conditional headers against the
// large object's etag (unquoted; "" when unknown) and Last-Modified, in
// swob's order: 304, 412, or 0 when the request is to be answered.
func Check(h http.Header, etag, lastModified string) int {
	if etag != "" {
		if inm, ok := h["If-None-Match"]; ok && matches(inm, etag) {
			return http.StatusNotModified
		}
		if im, ok := h["If-Match"]; ok && !matches(im, etag) {
			return http.StatusPreconditionFailed
		}
	}
	lm, err := http.ParseTime(lastModified)
	if err != nil {
		return 0
	}
	if t, ok := headerTime(h, "If-Modified-Since"); ok && !lm.After(t) {
		return http.StatusNotModified
	}
	if t, ok := headerTime(h, "If-Unmodified-Since"); ok && lm.After(t) {
		return http.StatusPreconditionFailed
	}
	return 0
}

func headerTime(h http.Header, name string) (time.Time, bool) {
	v := h.Get(name)
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	return t, err == nil
}
