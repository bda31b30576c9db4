package s3

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// call is one Swift sub-request made for an S3 request.
type call struct {
	method            string
	container, object string // unescaped names; "" for the account
	query             url.Values
	header            http.Header
	body              io.Reader
	length            int64 // of body; -1 unknown
}

// swift sends c down the pipeline as the caller and returns the answer;
// the caller closes its body.
func (h *handler) swift(req *request, c call) *http.Response {
	path := "/v1/" + req.account
	if c.container != "" {
		path += "/" + c.container
		if c.object != "" {
			path += "/" + c.object
		}
	}
	// The path is set after NewSubRequest, which would split a "?" in a
	// key off as a query.
	sub := swift.NewSubRequest(req.r, "S3", c.method, "/", c.body)
	sub.URL = &url.URL{Path: path, RawQuery: c.query.Encode()}
	sub.RequestURI = sub.URL.RequestURI()
	for k, v := range c.header {
		sub.Header[k] = v
	}
	if c.body != nil {
		sub.ContentLength = c.length
		if c.length >= 0 {
			sub.Header.Set("Content-Length", strconv.FormatInt(c.length, 10))
		}
	}
	return swift.Do(h.next, sub)
}

// do is swift for calls whose body is not needed: it is drained and
// closed, and the status and headers returned.
func (h *handler) do(req *request, c call) (int, http.Header) {
	resp := h.swift(req, c)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// swiftError turns a failed Swift answer into S3's error; notFound is what
// a 404 means where it happened. The body is read for Swift's reason.
func swiftError(resp *http.Response, notFound *Error) *Error {
	msg := func() string {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return strings.TrimSpace(string(b))
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return errAccessDenied
	case http.StatusNotFound:
		if notFound == nil {
			return errNoSuchKey
		}
		return notFound
	case http.StatusLengthRequired:
		return errMissingLength
	case http.StatusPreconditionFailed:
		return errPrecondition
	case http.StatusRequestEntityTooLarge:
		if m := msg(); m != "" && !strings.HasPrefix(m, "<html>") {
			return errEntityTooLarge.msg(m)
		}
		return errEntityTooLarge
	case http.StatusRequestedRangeNotSatisfiable:
		return errInvalidRange
	case http.StatusUnprocessableEntity:
		return errBadDigest
	case http.StatusRequestTimeout, 499:
		return errRequestTimeout
	case http.StatusBadRequest:
		if m := msg(); m != "" && !strings.HasPrefix(m, "<html>") {
			return errInvalidRequest.msg(m)
		}
		return errInvalidRequest
	case http.StatusServiceUnavailable, http.StatusInsufficientStorage, http.StatusTooManyRequests, 498:
		return errUnavailable
	}
	return errInternal.with("Cause", "storage answered "+strconv.Itoa(resp.StatusCode))
}

// statusError is swiftError for answers already drained.
func statusError(status int, notFound *Error) *Error {
	return swiftError(&http.Response{StatusCode: status, Body: http.NoBody}, notFound)
}

func bucketNotFound(b string) *Error { return errNoSuchBucket.with("BucketName", b) }
func keyNotFound(k string) *Error    { return errNoSuchKey.with("Key", k) }

func is2xx(status int) bool { return status >= 200 && status < 300 }

// bucketExists asks Swift whether the bucket is there (and the caller may
// see it); a failure other than 404 comes back as the S3 error.
func (h *handler) bucketExists(req *request, bucket string) (http.Header, *Error) {
	status, hdr := h.do(req, call{method: http.MethodHead, container: bucket})
	if !is2xx(status) {
		return nil, statusError(status, bucketNotFound(bucket))
	}
	return hdr, nil
}
