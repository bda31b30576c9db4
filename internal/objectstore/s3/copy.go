package s3

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Server-side copies are Swift's: a PUT with X-Copy-From, done by the copy
// middleware further down the pipeline, reading the source as the caller.

// copySource reads x-amz-copy-source: "[/]bucket/key[?versionId=null]",
// URL-encoded.
func copySource(v string) (bucket, key string, e *Error) {
	bad := func(msg string) *Error { return invalidArgument("x-amz-copy-source", v, msg) }
	raw, query, _ := strings.Cut(v, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if id := q.Get("versionId"); err != nil || (id != "" && id != "null") {
			return "", "", bad("Invalid version id specified")
		}
	}
	s, err := url.PathUnescape(raw)
	if err != nil {
		return "", "", bad("Invalid copy source encoding")
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(s, "/"), "/")
	if !validBucketName(bucket, false) || key == "" || !utf8.ValidString(key) || len(key) > swift.MaxObjectNameLength {
		return "", "", bad("Invalid copy source object key")
	}
	return bucket, key, nil
}

// copyFrom is the X-Copy-From header for bucket/key, escaped as Swift
// unescapes it.
func copyFrom(bucket, key string) string {
	return "/" + uriEncode(bucket, false) + "/" + uriEncode(key, true)
}

// checkCopySource looks at the source as the caller and applies the
// x-amz-copy-source-if-* conditions; it returns the source's headers.
func (h *handler) checkCopySource(req *request, bucket, key string) (http.Header, *Error) {
	status, hdr := h.do(req, call{method: http.MethodHead, container: bucket, object: key})
	switch {
	case status == http.StatusNotFound:
		if _, e := h.bucketExists(req, bucket); e != nil {
			return nil, e
		}
		return nil, keyNotFound(key)
	case !is2xx(status):
		return nil, statusError(status, nil)
	}
	if st, cond := copySourceConditions(req.r.Header).check(s3ETag(hdr), httpTime(hdr.Get("Last-Modified"))); st != 0 {
		return nil, errPrecondition.with("Condition", "x-amz-copy-source-"+strings.ToLower(cond))
	}
	if n, _ := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); n > swift.MaxFileSize {
		return nil, errInvalidRequest.msg("The specified copy source is larger than the maximum allowable size for a copy source: " +
			strconv.Itoa(swift.MaxFileSize))
	}
	return hdr, nil
}

// copyObject is CopyObject.
func (h *handler) copyObject(req *request) error {
	srcB, srcK, e := copySource(req.r.Header.Get("X-Amz-Copy-Source"))
	if e != nil {
		return e
	}
	directive := req.r.Header.Get("X-Amz-Metadata-Directive")
	switch directive {
	case "", "COPY", "REPLACE":
	default:
		return invalidArgument("x-amz-metadata-directive", directive, "Unknown metadata directive.")
	}
	if srcB == req.bucket && srcK == req.key && directive != "REPLACE" {
		return errInvalidRequest.msg("This copy request is illegal because it is trying to copy an object to itself " +
			"without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if td := req.r.Header.Get("X-Amz-Tagging-Directive"); td == "REPLACE" {
		return notImplemented("Object tagging")
	}
	if _, e := h.checkCopySource(req, srcB, srcK); e != nil {
		return e
	}
	hdr := http.Header{}
	if directive == "REPLACE" {
		if hdr, e = objectHeaders(req.r.Header); e != nil {
			return e
		}
		hdr.Set("X-Fresh-Metadata", "true")
	} else if e := checkWriteHeaders(req.r.Header); e != nil {
		return e
	}
	hdr.Set("X-Copy-From", copyFrom(srcB, srcK))
	// The copy is a whole new object: the source's multipart ETag and
	// upload are not its own.
	hdr.Set(sysETag, "")
	hdr.Set(sysUploadID, "")
	old := h.uploadOf(req, req.bucket, req.key)
	resp := h.swift(req, call{method: http.MethodPut, container: req.bucket, object: req.key, header: hdr,
		body: strings.NewReader(""), length: 0})
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return bucketNotFound(req.bucket)
	case !is2xx(resp.StatusCode):
		return swiftError(resp, nil)
	}
	if !h.isManifest(req, req.bucket, req.key) {
		h.dropSegments(req, req.bucket, req.key, old)
	}
	return writeXML(req.w, http.StatusOK, copyObjectResult{LastModified: lastModified(resp.Header),
		ETag: quoteETag(resp.Header.Get("Etag"))})
}

// checkWriteHeaders refuses what a COPY-directive copy cannot honour.
func checkWriteHeaders(in http.Header) *Error {
	_, e := objectHeaders(in)
	return e
}

// isManifest reports whether the object is a Static Large Object now.
func (h *handler) isManifest(req *request, bucket, key string) bool {
	status, hdr := h.do(req, call{method: http.MethodHead, container: bucket, object: key})
	return !is2xx(status) || strings.EqualFold(hdr.Get("X-Static-Large-Object"), "true")
}

// lastModified is an answer's Last-Modified in S3's XML form, now if none.
func lastModified(h http.Header) string {
	t := httpTime(h.Get("Last-Modified"))
	if t.IsZero() {
		t = time.Now()
	}
	return isoTime(t)
}
