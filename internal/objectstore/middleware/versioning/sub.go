package versioning

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// source names this middleware in its sub-requests (Swift's "VW").
const source = "VW"

// preauthed is a sub-request past the caller's authorization, as Swift's
// make_pre_authed_request: the versioning work of a request the core
// allows (or has allowed) for the caller.
func preauthed(r *http.Request, method, path, rawQuery string, body io.Reader) *http.Request {
	sub := swift.NewSubRequest(r, source, method, "/", body)
	sub.URL.Path = path
	sub.URL.RawQuery = rawQuery
	sub.RequestURI = sub.URL.RequestURI()
	return sub.WithContext(swift.WithAuthorized(sub.Context()))
}

// headInfo is swift.HeadInfo for a path taken literally (names may hold
// '?').
func headInfo(next http.Handler, r *http.Request, path string) (int, http.Header) {
	resp := swift.Do(next, preauthed(r, http.MethodHead, path, "", nil))
	drain(resp)
	return resp.StatusCode, resp.Header
}

// drain reads what is left of a short answer and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

// failure is the status Swift answers when a versioning step fails: 412
// for a client error (a missing archive container, no permission), 503
// otherwise; 0 for success.
func failure(status int) int {
	switch {
	case status/100 == 2:
		return 0
	case status/100 == 4:
		return http.StatusPreconditionFailed
	}
	return http.StatusServiceUnavailable
}

// copied are the headers of an object that go with its data into
// another version of it; X-Timestamp and the backend's headers do not.
func copied(name string) bool {
	switch name {
	case "Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language",
		"Cache-Control", "Expires", "X-Robots-Tag", "X-Delete-At",
		"X-Object-Manifest", "X-Static-Large-Object":
		return true
	}
	return strings.HasPrefix(name, "X-Object-Meta-") || strings.HasPrefix(name, "X-Object-Sysmeta-")
}

// getSource reads a version for copying: the newest copy, past the
// caller's authorization (a writer need not be a reader). A nil response
// with a status is a failure; a 404 response is returned as it is.
func (v *versioner) getSource(path string) (*http.Response, int) {
	get := preauthed(v.r, http.MethodGet, path, "", nil)
	get.Header.Set("X-Newest", "true")
	resp := swift.Do(v.next, get)
	if resp.StatusCode == http.StatusNotFound {
		return resp, 0
	}
	if st := failure(resp.StatusCode); st != 0 {
		drain(resp)
		return nil, st
	}
	n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil || n < 0 || n > swift.MaxFileSize {
		resp.Body.Close()
		return nil, http.StatusRequestEntityTooLarge
	}
	resp.ContentLength = n
	return resp, 0
}

// putCopy writes the data and metadata of src at path; 0 or a failure
// status.
func (v *versioner) putCopy(path string, src *http.Response) int {
	defer src.Body.Close()
	put := preauthed(v.r, http.MethodPut, path, "", src.Body)
	put.ContentLength = src.ContentLength
	for k, vs := range src.Header {
		if copied(k) {
			put.Header[k] = vs
		}
	}
	resp := swift.Do(v.next, put)
	drain(resp)
	return failure(resp.StatusCode)
}

// send makes a pre-authorized request without a body; 0 or a failure
// status.
func (v *versioner) send(method, path string, hdr http.Header) int {
	req := preauthed(v.r, method, path, "", nil)
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp := swift.Do(v.next, req)
	drain(resp)
	if method == http.MethodDelete && resp.StatusCode == http.StatusNotFound {
		return 0
	}
	return failure(resp.StatusCode)
}

// relay sends resp to the client as it is.
func relay(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
