package tempurl

import (
	"io"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Key scopes: an account key signs URLs for the whole account, a
// container key only for its container.
const (
	scopeAccount   = "account"
	scopeContainer = "container"
)

// ScopedKey is one temp URL key and where it applies.
type ScopedKey struct {
	Key   string
	Scope string // "account" or "container"
}

// Keys reads the temp URL keys of an account and one of its containers:
// X-Account-Meta-Temp-URL-Key(-2), then X-Container-Meta-Temp-URL-Key(-2),
// 0 to 4 of them. They are read past the caller's authorization, since
// the caller of a temp URL or form has no other right. source names the
// middleware in the sub-requests ("TU", "FP").
func Keys(next http.Handler, r *http.Request, source, account, container string) []ScopedKey {
	var keys []ScopedKey
	if status, h := headInfo(next, r, source, "/v1/"+account); status/100 == 2 {
		for _, name := range []string{"X-Account-Meta-Temp-Url-Key", "X-Account-Meta-Temp-Url-Key-2"} {
			if v := h.Get(name); v != "" {
				keys = append(keys, ScopedKey{v, scopeAccount})
			}
		}
	}
	if container == "" {
		return keys
	}
	if status, h := headInfo(next, r, source, "/v1/"+account+"/"+container); status/100 == 2 {
		for _, name := range []string{"X-Container-Meta-Temp-Url-Key", "X-Container-Meta-Temp-Url-Key-2"} {
			if v := h.Get(name); v != "" {
				keys = append(keys, ScopedKey{v, scopeContainer})
			}
		}
	}
	return keys
}

// headInfo is swift.HeadInfo for a path taken literally: names may hold
// '?', which swift.NewSubRequest would take for the start of a query.
func headInfo(next http.Handler, r *http.Request, source, path string) (int, http.Header) {
	sub := subRequest(r, source, http.MethodHead, path, "", nil)
	sub = sub.WithContext(swift.WithAuthorized(sub.Context()))
	resp := swift.Do(next, sub)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// subRequest is swift.NewSubRequest with the decoded path and the raw
// query given apart.
func subRequest(r *http.Request, source, method, path, rawQuery string, body io.Reader) *http.Request {
	sub := swift.NewSubRequest(r, source, method, "/", body)
	sub.URL.Path = path
	sub.URL.RawQuery = rawQuery
	sub.RequestURI = sub.URL.RequestURI()
	return sub
}
