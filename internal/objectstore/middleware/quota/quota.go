// Package quota limits what may be stored, as Swift's container_quotas
// and account_quotas middlewares: an object PUT that would take a
// container past X-Container-Meta-Quota-Bytes or -Quota-Count, or an
// account past the quota its reseller set, is refused with 413 before
// any data is written. Quotas are checked against the usage the
// container and account report, so, as in Swift, they are approximate:
// concurrent and chunked uploads may overshoot them a little.
package quota

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// ContainerInfo is the "container_quotas" section of /info.
func ContainerInfo() map[string]any { return map[string]any{} }

// AccountInfo is the "account_quotas" section of /info.
func AccountInfo() map[string]any { return map[string]any{} }

const msgExceeded = "Upload exceeds quota."

// exceeded answers a PUT past a quota. A caller who could not have
// written anyway gets the core's 401 instead, so that a quota tells
// strangers nothing (Swift defers to its authorize hook for this; the
// core is that hook here). A caller known but without write access still
// gets 413: the core's ACL check cannot be asked without side effects.
func exceeded(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if !swift.Authorized(r.Context()) && authn.From(r.Context()) == nil {
		next.ServeHTTP(w, r)
		return
	}
	swift.WriteError(w, r, http.StatusRequestEntityTooLarge, msgExceeded)
}

// isDigits is Python's str.isdigit for ASCII: non-empty, digits only.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// headerInt reads a usage header; missing or unreadable counts as 0.
func headerInt(h http.Header, name string) int64 {
	n, _ := strconv.ParseInt(h.Get(name), 10, 64)
	return n
}

// uploadSize is how many bytes a PUT adds: its Content-Length, or for a
// server-side copy that arrives without one the source's size; 0 when
// unknown (a chunked upload), as in Swift.
func uploadSize(next http.Handler, r *http.Request, account string) int64 {
	if r.ContentLength >= 0 {
		return r.ContentLength
	}
	from := r.Header.Get("X-Copy-From")
	if from == "" {
		return 0
	}
	src, err := url.PathUnescape(from)
	if err != nil {
		return 0
	}
	if a := r.Header.Get("X-Copy-From-Account"); a != "" {
		if account, err = url.PathUnescape(a); err != nil {
			return 0
		}
	}
	status, h := headInfo(next, r, "/v1/"+account+"/"+strings.TrimPrefix(src, "/"))
	if status/100 != 2 {
		return 0
	}
	return headerInt(h, "Content-Length")
}

// headInfo is swift.HeadInfo for a path taken literally (names may hold
// '?'): the core may answer it from its short-lived cache.
func headInfo(next http.Handler, r *http.Request, path string) (int, http.Header) {
	return head(next, r, path, false)
}

// freshInfo asks the storage servers themselves: usage changes with every
// upload, and a cached count would let uploads run past a quota.
func freshInfo(next http.Handler, r *http.Request, path string) (int, http.Header) {
	return head(next, r, path, true)
}

func head(next http.Handler, r *http.Request, path string, fresh bool) (int, http.Header) {
	sub := swift.NewSubRequest(r, "QU", http.MethodHead, "/", nil)
	sub.URL.Path = path
	sub.RequestURI = sub.URL.RequestURI()
	if fresh {
		sub.Header.Set("X-Newest", "true")
	}
	sub = sub.WithContext(swift.WithAuthorized(sub.Context()))
	resp := swift.Do(next, sub)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}
