package s3

import (
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// System metadata this API keeps on objects (hidden from clients by the
// gatekeeper in front of the pipeline).
const (
	sysETag     = "X-Object-Sysmeta-S3api-Etag"      // a multipart object's S3 ETag
	sysUploadID = "X-Object-Sysmeta-S3api-Upload-Id" // the upload a manifest completed
)

// passedHeaders are the request headers an object keeps, as S3 stores them.
var passedHeaders = []string{"Content-Type", "Content-Disposition", "Content-Language", "Cache-Control", "Expires"}

// objectHeaders turns an S3 write's headers into Swift's: standard headers,
// x-amz-meta-* as X-Object-Meta-*; features Swift cannot honour are
// NotImplemented rather than silently dropped.
func objectHeaders(in http.Header) (http.Header, *Error) {
	out := http.Header{}
	for _, name := range passedHeaders {
		if v := in.Get(name); v != "" {
			out.Set(name, v)
		}
	}
	if enc := contentEncoding(in.Get("Content-Encoding")); enc != "" {
		out.Set("Content-Encoding", enc)
	}
	if sc := in.Get("X-Amz-Storage-Class"); sc != "" && sc != "STANDARD" {
		return nil, errInvalidStorage.with("StorageClassRequested", sc)
	}
	if acl := in.Get("X-Amz-Acl"); acl != "" && acl != "private" {
		return nil, notImplemented("The canned ACL " + acl + " on objects")
	}
	metaSize, metaCount := 0, 0
	for name, vals := range in {
		n := strings.ToLower(name)
		switch {
		case strings.HasPrefix(n, "x-amz-meta-"):
			key := n[len("x-amz-meta-"):]
			v := strings.Join(vals, ",")
			metaSize += len(key) + len(v)
			metaCount++
			if key == "" || len(key) > swift.MaxMetaNameLength || len(v) > swift.MaxMetaValueLength {
				return nil, errMetadataTooLarge
			}
			out.Set("X-Object-Meta-"+key, v)
		case strings.HasPrefix(n, "x-amz-grant-"):
			return nil, notImplemented("Access grants on objects")
		case strings.HasPrefix(n, "x-amz-server-side-encryption"):
			return nil, notImplemented("Server-side encryption")
		case strings.HasPrefix(n, "x-amz-object-lock-"):
			return nil, notImplemented("Object lock")
		case n == "x-amz-tagging":
			return nil, notImplemented("Object tagging")
		case n == "x-amz-website-redirect-location":
			return nil, notImplemented("Website redirects")
		}
	}
	// S3 allows 2 KB of user metadata; Swift's own limits are stricter
	// per entry and overall.
	if metaSize > 2048 || metaSize > swift.MaxMetaOverallSize || metaCount > swift.MaxMetaCount {
		return nil, errMetadataTooLarge.with("Size", strconv.Itoa(metaSize), "MaxSizeAllowed", "2048")
	}
	return out, nil
}

// contentEncoding drops aws-chunked, which describes the request body and
// is no property of the object.
func contentEncoding(v string) string {
	var keep []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			keep = append(keep, e)
		}
	}
	return strings.Join(keep, ", ")
}

// md5Header turns Content-MD5 (base64) into the hex ETag Swift checks.
func md5Header(h http.Header) (string, *Error) {
	v := h.Get("Content-MD5")
	if v == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(b) != 16 {
		return "", errInvalidDigest
	}
	return hex.EncodeToString(b), nil
}

// putObject is PutObject: the body streams to Swift with its checks.
func (h *handler) putObject(req *request) error {
	hdr, e := objectHeaders(req.r.Header)
	if e != nil {
		return e
	}
	etag, e := md5Header(req.r.Header)
	if e != nil {
		return e
	}
	if etag != "" {
		hdr.Set("ETag", etag)
	}
	pl, e := newPayload(req.r, req.sig.contentSHA, false)
	if e != nil {
		return e
	}
	if pl.Len() > swift.MaxFileSize {
		return errEntityTooLarge.with("ProposedSize", strconv.FormatInt(pl.Len(), 10), "MaxSizeAllowed", strconv.Itoa(swift.MaxFileSize))
	}
	old := h.uploadOf(req, req.bucket, req.key)
	resp := h.swift(req, call{method: http.MethodPut, container: req.bucket, object: req.key, header: hdr, body: pl, length: pl.Len()})
	defer resp.Body.Close()
	if e := pl.Err(); e != nil {
		return e
	}
	if !is2xx(resp.StatusCode) {
		return swiftError(resp, bucketNotFound(req.bucket))
	}
	h.dropSegments(req, req.bucket, req.key, old)
	req.w.Header().Set("ETag", quoteETag(resp.Header.Get("Etag")))
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// uploadOf is the multipart upload the object now at key was completed
// from, "" if none: writing over it orphans that upload's parts.
func (h *handler) uploadOf(req *request, bucket, key string) string {
	status, hdr := h.do(req, call{method: http.MethodHead, container: bucket, object: key})
	if !is2xx(status) {
		return ""
	}
	return hdr.Get(sysUploadID)
}

// dropSegments deletes the parts of a replaced multipart object. A failure
// only leaves garbage, so it is logged, not answered.
func (h *handler) dropSegments(req *request, bucket, key, uploadID string) {
	if uploadID == "" || !validUploadID(uploadID) {
		return
	}
	if err := h.deletePrefix(req, bucket+segmentsSuffix, key+"/"+uploadID+"/"); err != nil {
		req.log.Warn("s3: delete the parts of a replaced upload", "bucket", bucket, "key", key, "upload", uploadID, "err", err)
	}
}

// s3ETag is the ETag S3 shows for an object answer.
func s3ETag(h http.Header) string {
	if v := h.Get(sysETag); v != "" {
		return quoteETag(v)
	}
	return quoteETag(h.Get("Etag"))
}

// shownHeaders are the object headers S3 answers as they are.
var shownHeaders = []string{"Content-Length", "Content-Type", "Content-Range", "Content-Encoding", "Content-Disposition",
	"Content-Language", "Cache-Control", "Expires", "Last-Modified", "Accept-Ranges"}

// responseOverrides are GET's response-* parameters and what they set.
var responseOverrides = map[string]string{
	"response-content-type": "Content-Type", "response-content-language": "Content-Language",
	"response-expires": "Expires", "response-cache-control": "Cache-Control",
	"response-content-disposition": "Content-Disposition", "response-content-encoding": "Content-Encoding",
}

// getObject is GetObject and HeadObject.
func (h *handler) getObject(req *request) error {
	hdr := http.Header{}
	if rng := req.r.Header.Get("Range"); rng != "" {
		hdr.Set("Range", rng)
	}
	resp := h.swift(req, call{method: req.r.Method, container: req.bucket, object: req.key, header: hdr})
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return h.missingKey(req)
	case !is2xx(resp.StatusCode):
		return swiftError(resp, keyNotFound(req.key))
	}
	etag := s3ETag(resp.Header)
	out := req.w.Header()
	if status, cond := getConditions(req.r.Header).check(etag, httpTime(resp.Header.Get("Last-Modified"))); status != 0 {
		if status == http.StatusPreconditionFailed {
			return errPrecondition.with("Condition", cond)
		}
		out.Set("ETag", etag)
		out.Set("Last-Modified", resp.Header.Get("Last-Modified"))
		req.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	for _, name := range shownHeaders {
		if v := resp.Header.Get(name); v != "" {
			out.Set(name, v)
		}
	}
	out.Set("ETag", etag)
	for name, vals := range resp.Header {
		if n := strings.ToLower(name); strings.HasPrefix(n, "x-object-meta-") {
			out["x-amz-meta-"+n[len("x-object-meta-"):]] = vals
		}
	}
	if req.r.Method == http.MethodGet {
		for param, name := range responseOverrides {
			if v, ok := req.q[param]; ok {
				out.Set(name, v[0])
			}
		}
	}
	req.w.WriteHeader(resp.StatusCode)
	if req.r.Method == http.MethodHead {
		return nil
	}
	if _, err := io.Copy(req.w, resp.Body); err != nil {
		// The client went away or the storage failed mid-stream; the
		// response is cut short either way.
		req.log.Info("s3: GET cut short", "bucket", req.bucket, "key", req.key, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// missingKey tells NoSuchKey from NoSuchBucket after a 404.
func (h *handler) missingKey(req *request) error {
	if _, e := h.bucketExists(req, req.bucket); e != nil {
		return e
	}
	return keyNotFound(req.key)
}

// deleteObject is DeleteObject: a missing key is deleted already; a
// multipart object goes with its parts.
func (h *handler) deleteObject(req *request) error {
	if e := h.deleteKey(req, req.key); e != nil {
		return e
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deleteKey(req *request, key string) *Error {
	status, hdr := h.do(req, call{method: http.MethodHead, container: req.bucket, object: key})
	switch {
	case status == http.StatusNotFound:
		if _, e := h.bucketExists(req, req.bucket); e != nil {
			return e
		}
		return nil
	case !is2xx(status):
		return statusError(status, nil)
	}
	var q url.Values
	if strings.EqualFold(hdr.Get("X-Static-Large-Object"), "true") {
		q = url.Values{"multipart-manifest": {"delete"}}
	}
	status, _ = h.do(req, call{method: http.MethodDelete, container: req.bucket, object: key, query: q})
	if !is2xx(status) && status != http.StatusNotFound {
		return statusError(status, nil)
	}
	return nil
}
