package s3

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// oldCreationDate stands in for a container's creation time where Swift's
// listing gives none (s3api's constant).
const oldCreationDate = "2009-02-03T16:45:09.000Z"

// listBuckets is ListBuckets: the account's containers whose names are
// bucket names.
func (h *handler) listBuckets(req *request) error {
	out := listAllMyBucketsResult{Owner: owner{req.owner(), req.owner()}, Buckets: []bucketInfo{}}
	const limit = 10000
	marker := ""
	for {
		resp := h.swift(req, call{method: http.MethodGet,
			query: url.Values{"format": {"json"}, "limit": {strconv.Itoa(limit)}, "marker": {marker}}})
		if resp.StatusCode == http.StatusNotFound {
			// An account never written to has no containers.
			resp.Body.Close()
			break
		}
		var items []struct {
			Name         string `json:"name"`
			LastModified string `json:"last_modified"`
		}
		err := decodeListing(resp, &items)
		if err != nil {
			return err
		}
		for _, c := range items {
			if !validBucketName(c.Name, false) {
				continue
			}
			created := oldCreationDate
			if c.LastModified != "" {
				created = isoTime(swiftListingTime(c.LastModified))
			}
			out.Buckets = append(out.Buckets, bucketInfo{Name: c.Name, CreationDate: created})
		}
		if len(items) < limit {
			break
		}
		marker = items[len(items)-1].Name
	}
	return writeXML(req.w, http.StatusOK, out)
}

// decodeListing reads a Swift JSON listing; no content is an empty one.
// A failure is S3's error for it (a missing container is NoSuchBucket,
// set by the caller when it matters).
func decodeListing(resp *http.Response, v any) error {
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil
	case !is2xx(resp.StatusCode):
		return swiftError(resp, nil)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	return nil
}

func (h *handler) headBucket(req *request) error {
	if _, e := h.bucketExists(req, req.bucket); e != nil {
		return e
	}
	req.w.Header().Set("x-amz-bucket-region", h.o.Location)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// cannedBucketACLs are the canned ACLs a bucket can have in Swift's terms.
var cannedBucketACLs = map[string]string{
	"private":     "",
	"public-read": ".r:*,.rlistings",
}

// createBucket is CreateBucket: a PUT of the container. Swift answers 202
// for a container that was there, which in a project's own account is
// always the caller's.
func (h *handler) createBucket(req *request) error {
	if !validBucketName(req.bucket, true) {
		return errInvalidBucketName.with("BucketName", req.bucket)
	}
	if strings.EqualFold(req.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true") {
		return notImplemented("Object lock")
	}
	hdr := http.Header{}
	if e := cannedACL(req.r.Header, func(read string) {
		if read != "" {
			hdr.Set("X-Container-Read", read)
		}
	}); e != nil {
		return e
	}
	pl, e := newPayload(req.r, req.sig.contentSHA, true)
	if e != nil {
		return e
	}
	var conf createBucketConfiguration
	data, err := readAll(pl, 64<<10, errMalformedXML)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(data)) != "" {
		if err := readXML(strings.NewReader(string(data)), 64<<10, &conf); err != nil {
			return err
		}
		loc := conf.LocationConstraint
		if loc != "" && loc != h.o.Location && loc != strings.ToLower(h.o.Location) {
			return errInvalidLocation.with("LocationConstraint", loc)
		}
	}
	status, _ := h.do(req, call{method: http.MethodPut, container: req.bucket, header: hdr})
	switch {
	case status == http.StatusAccepted:
		return errBucketOwnedByYou.with("BucketName", req.bucket)
	case !is2xx(status):
		return statusError(status, bucketNotFound(req.bucket))
	}
	req.w.Header().Set("Location", "/"+req.bucket)
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// cannedACL reads x-amz-acl; grants and canned ACLs Swift cannot express
// are not implemented.
func cannedACL(h http.Header, set func(read string)) *Error {
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-grant-") {
			return notImplemented("Access grants (" + strings.ToLower(name) + ")")
		}
	}
	acl := h.Get("X-Amz-Acl")
	if acl == "" {
		return nil
	}
	read, ok := cannedBucketACLs[acl]
	if !ok {
		return notImplemented("The canned ACL " + acl)
	}
	set(read)
	return nil
}

// deleteBucket is DeleteBucket: only an empty bucket goes, and with it the
// parts of uploads never completed. The container DELETE decides whether
// the bucket is empty (each container server checks its own copy), before
// any part is touched: the parts of completed uploads live there too.
func (h *handler) deleteBucket(req *request) error {
	status := 0
	for try := 0; ; try++ {
		status, _ = h.do(req, call{method: http.MethodDelete, container: req.bucket})
		if status != http.StatusConflict || try == 3 {
			break
		}
		// Right after the last object went, a container copy may not
		// have counted it out yet.
		time.Sleep(time.Duration(100*(try+1)) * time.Millisecond)
	}
	switch {
	case status == http.StatusConflict:
		return errBucketNotEmpty.with("BucketName", req.bucket)
	case !is2xx(status):
		return statusError(status, bucketNotFound(req.bucket))
	}
	if err := h.deletePrefix(req, req.bucket+segmentsSuffix, ""); err != nil {
		req.log.Warn("s3: delete the parts of a deleted bucket", "bucket", req.bucket, "err", err)
	} else if st, _ := h.do(req, call{method: http.MethodDelete, container: req.bucket + segmentsSuffix}); !is2xx(st) &&
		st != http.StatusNotFound {
		req.log.Warn("s3: delete the segments container of a deleted bucket", "bucket", req.bucket, "status", st)
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deletePrefix deletes every object of container whose name starts with
// prefix; a missing container has none.
func (h *handler) deletePrefix(req *request, container, prefix string) error {
	names, err := h.listNames(req, container, prefix)
	if err != nil {
		return err
	}
	for _, n := range names {
		status, _ := h.do(req, call{method: http.MethodDelete, container: container, object: n})
		if !is2xx(status) && status != http.StatusNotFound {
			return statusError(status, nil)
		}
	}
	return nil
}

// listNames lists every object name under prefix in container; a missing
// container has none.
func (h *handler) listNames(req *request, container, prefix string) ([]string, error) {
	var names []string
	err := h.eachListed(req, container, prefix, func(e listEntry) error {
		names = append(names, e.Name)
		return nil
	})
	return names, err
}

// listEntry is one object of a Swift container listing.
type listEntry struct {
	Name         string `json:"name"`
	Hash         string `json:"hash"`
	Bytes        int64  `json:"bytes"`
	ContentType  string `json:"content_type"`
	LastModified string `json:"last_modified"`
	Subdir       string `json:"subdir"`
	S3ETag       string `json:"s3_etag"`
	SLOETag      string `json:"slo_etag"`
}

// eachListed calls f for every object under prefix in container, page by
// page; a missing container has none.
func (h *handler) eachListed(req *request, container, prefix string, f func(listEntry) error) error {
	const limit = 10000
	marker := ""
	for {
		resp := h.swift(req, call{method: http.MethodGet, container: container, query: url.Values{"format": {"json"},
			"prefix": {prefix}, "marker": {marker}, "limit": {strconv.Itoa(limit)}}})
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			return nil
		}
		var items []listEntry
		if err := decodeListing(resp, &items); err != nil {
			return err
		}
		for _, it := range items {
			if err := f(it); err != nil {
				return err
			}
		}
		if len(items) < limit {
			return nil
		}
		marker = items[len(items)-1].Name
	}
}

func (h *handler) getLocation(req *request) error {
	if _, e := h.bucketExists(req, req.bucket); e != nil {
		return e
	}
	loc := h.o.Location
	if loc == "us-east-1" {
		loc = "" // as S3 answers for its first region
	}
	return writeXML(req.w, http.StatusOK, locationConstraint{Location: loc})
}

// getVersioning answers that S3 versioning was never enabled: this API
// does not offer it.
func (h *handler) getVersioning(req *request) error {
	if _, e := h.bucketExists(req, req.bucket); e != nil {
		return e
	}
	return writeXML(req.w, http.StatusOK, versioningConfiguration{})
}
