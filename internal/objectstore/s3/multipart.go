package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Multipart uploads are kept as s3api keeps them, in the container
// "<bucket>+segments": an empty marker object "<key>/<upload id>" holding
// the final object's headers while the upload is open, and each part as
// "<key>/<upload id>/<part number>". Completing writes a Static Large
// Object manifest of the parts at <key> (the SLO middleware below checks
// and serves it) carrying the S3 ETag, md5 of the parts' MD5s, "-N".

// sysHeader keeps one of the final object's headers on the marker.
const sysHeader = "X-Object-Sysmeta-S3api-Hdr-"

// Container update overrides make the container listing show what S3
// lists for the manifest: the total size and the S3 ETag.
const (
	overrideETag = "X-Object-Sysmeta-Container-Update-Override-Etag"
	overrideSize = "X-Object-Sysmeta-Container-Update-Override-Size"
)

// newUploadID is s3api's form: URL-safe base64 of a UUID's text, which
// always starts with a letter, so no part number is ever mistaken for one.
func newUploadID() string {
	return base64.URLEncoding.EncodeToString([]byte(uuid.NewString()))
}

func validUploadID(id string) bool {
	if id == "" || len(id) > 128 || !('A' <= id[0] && id[0] <= 'Z' || 'a' <= id[0] && id[0] <= 'z') {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(alnum(c) || c == '-' || c == '_' || c == '=') {
			return false
		}
	}
	return true
}

func (req *request) segments() string { return req.bucket + segmentsSuffix }

func (req *request) markerName(id string) string { return req.key + "/" + id }

func partName(key, id string, n int) string { return key + "/" + id + "/" + strconv.Itoa(n) }

// createUpload is CreateMultipartUpload.
func (h *handler) createUpload(req *request) error {
	hdr, e := objectHeaders(req.r.Header)
	if e != nil {
		return e
	}
	if _, e := h.bucketExists(req, req.bucket); e != nil {
		return e
	}
	if status, _ := h.do(req, call{method: http.MethodPut, container: req.segments()}); !is2xx(status) {
		return statusError(status, bucketNotFound(req.bucket))
	}
	id := newUploadID()
	marker := http.Header{"Content-Type": {"application/octet-stream"}}
	for k, v := range hdr {
		if strings.HasPrefix(k, "X-Object-Meta-") {
			marker[k] = v
		} else {
			marker[sysHeader+k] = v
		}
	}
	status, _ := h.do(req, call{method: http.MethodPut, container: req.segments(), object: req.markerName(id),
		header: marker, body: strings.NewReader(""), length: 0})
	if !is2xx(status) {
		return statusError(status, bucketNotFound(req.bucket))
	}
	return writeXML(req.w, http.StatusOK, initiateMultipartUploadResult{Bucket: req.bucket, Key: req.key, UploadID: id})
}

// openUpload checks that the upload named in the query is open and
// returns its id and its marker's headers.
func (h *handler) openUpload(req *request) (string, http.Header, *Error) {
	id := req.q.Get("uploadId")
	if !validUploadID(id) {
		return "", nil, errNoSuchUpload.with("UploadId", id)
	}
	status, hdr := h.do(req, call{method: http.MethodHead, container: req.segments(), object: req.markerName(id)})
	switch {
	case status == http.StatusNotFound:
		if _, e := h.bucketExists(req, req.bucket); e != nil {
			return "", nil, e
		}
		return "", nil, errNoSuchUpload.with("UploadId", id)
	case !is2xx(status):
		return "", nil, statusError(status, nil)
	}
	return id, hdr, nil
}

// partNumber reads partNumber, 1 to the parts limit.
func partNumber(q url.Values) (int, *Error) {
	v := q.Get("partNumber")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxUploadParts {
		return 0, invalidArgument("partNumber", v, "Part number must be an integer between 1 and "+strconv.Itoa(maxUploadParts)+", inclusive")
	}
	return n, nil
}

// uploadPart is UploadPart, or UploadPartCopy with x-amz-copy-source.
func (h *handler) uploadPart(req *request) error {
	n, e := partNumber(req.q)
	if e != nil {
		return e
	}
	id, _, e := h.openUpload(req)
	if e != nil {
		return e
	}
	if req.r.Header.Get("X-Amz-Copy-Source") != "" {
		return h.uploadPartCopy(req, id, n)
	}
	hdr := http.Header{}
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
	resp := h.swift(req, call{method: http.MethodPut, container: req.segments(), object: partName(req.key, id, n),
		header: hdr, body: pl, length: pl.Len()})
	defer resp.Body.Close()
	if e := pl.Err(); e != nil {
		return e
	}
	if !is2xx(resp.StatusCode) {
		return swiftError(resp, errNoSuchUpload.with("UploadId", id))
	}
	req.w.Header().Set("ETag", quoteETag(resp.Header.Get("Etag")))
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// uploadPartCopy is UploadPartCopy: a Swift copy into the part, of a byte
// range of the source if x-amz-copy-source-range says so.
func (h *handler) uploadPartCopy(req *request, id string, n int) error {
	srcB, srcK, e := copySource(req.r.Header.Get("X-Amz-Copy-Source"))
	if e != nil {
		return e
	}
	src, e := h.checkCopySource(req, srcB, srcK)
	if e != nil {
		return e
	}
	size, _ := strconv.ParseInt(src.Get("Content-Length"), 10, 64)
	hdr := http.Header{"X-Copy-From": {copyFrom(srcB, srcK)}}
	want := size
	if rng := req.r.Header.Get("X-Amz-Copy-Source-Range"); rng != "" {
		first, last, ok := parseCopyRange(rng)
		if !ok {
			return invalidArgument("x-amz-copy-source-range", rng, "The x-amz-copy-source-range value must be of the form "+
				"bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
		if last >= size {
			return errInvalidRange.with("RangeRequested", rng, "ActualObjectSize", strconv.FormatInt(size, 10))
		}
		hdr.Set("Range", rng)
		want = last - first + 1
	}
	part := partName(req.key, id, n)
	resp := h.swift(req, call{method: http.MethodPut, container: req.segments(), object: part, header: hdr,
		body: strings.NewReader(""), length: 0})
	resp.Body.Close()
	if !is2xx(resp.StatusCode) {
		return swiftError(resp, errNoSuchUpload.with("UploadId", id))
	}
	// A copy that ignored the range would make a wrong part: check, and
	// take it back rather than keep it.
	status, got := h.do(req, call{method: http.MethodHead, container: req.segments(), object: part})
	if n, _ := strconv.ParseInt(got.Get("Content-Length"), 10, 64); !is2xx(status) || n != want {
		h.do(req, call{method: http.MethodDelete, container: req.segments(), object: part})
		return notImplemented("Copying a byte range of an object into a part")
	}
	return writeXML(req.w, http.StatusOK, copyPartResult{LastModified: lastModified(resp.Header),
		ETag: quoteETag(resp.Header.Get("Etag"))})
}

// parseCopyRange reads "bytes=first-last", both given.
func parseCopyRange(v string) (int64, int64, bool) {
	r, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(r, "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// part is an uploaded part as the segments listing shows it.
type part struct {
	n        int
	name     string
	etag     string
	size     int64
	modified string
}

// listUploadParts lists an upload's parts in part number order.
func (h *handler) listUploadParts(req *request, id string) ([]part, error) {
	prefix := req.key + "/" + id + "/"
	var parts []part
	err := h.eachListed(req, req.segments(), prefix, func(e listEntry) error {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name, prefix))
		if err != nil || n < 1 || strconv.Itoa(n) != strings.TrimPrefix(e.Name, prefix) {
			return nil
		}
		parts = append(parts, part{n: n, name: e.Name, etag: unquoteETag(e.Hash), size: e.Bytes, modified: e.LastModified})
		return nil
	})
	sort.Slice(parts, func(i, j int) bool { return parts[i].n < parts[j].n })
	return parts, err
}

// completeUpload is CompleteMultipartUpload.
func (h *handler) completeUpload(req *request) error {
	id := req.q.Get("uploadId")
	_, marker, e := h.openUpload(req)
	if e != nil {
		if e.Code == errNoSuchUpload.Code && validUploadID(id) {
			// A retry after a success: the manifest is there already.
			status, hdr := h.do(req, call{method: http.MethodHead, container: req.bucket, object: req.key})
			if is2xx(status) && hdr.Get(sysUploadID) == id {
				return h.completed(req, hdr.Get(sysETag))
			}
		}
		return e
	}
	pl, e := newPayload(req.r, req.sig.contentSHA, true)
	if e != nil {
		return e
	}
	data, err := readAll(pl, 2<<20, errMalformedXML)
	if err != nil {
		return err
	}
	var body completeMultipartUpload
	if err := xml.Unmarshal(data, &body); err != nil || len(body.Parts) == 0 {
		return errMalformedXML
	}
	if len(body.Parts) > maxUploadParts {
		return errInvalidPart.msg("The number of parts exceeds " + strconv.Itoa(maxUploadParts))
	}
	for i := 1; i < len(body.Parts); i++ {
		if body.Parts[i].PartNumber <= body.Parts[i-1].PartNumber {
			return errInvalidPartOrder
		}
	}
	uploaded, err := h.listUploadParts(req, id)
	if err != nil {
		return err
	}
	byNumber := map[int]part{}
	for _, p := range uploaded {
		byNumber[p.n] = p
	}
	type segment struct {
		Path  string `json:"path"`
		ETag  string `json:"etag"`
		Bytes int64  `json:"size_bytes"`
	}
	manifest := make([]segment, 0, len(body.Parts))
	used := map[int]bool{}
	sums := md5.New()
	var total int64
	chosen := make([]part, len(body.Parts))
	for i, bp := range body.Parts {
		p, ok := byNumber[bp.PartNumber]
		want := strings.ToLower(unquoteETag(bp.ETag))
		if !ok || want != strings.ToLower(p.etag) || len(p.etag) != 2*md5.Size {
			return errInvalidPart.with("UploadId", id, "PartNumber", strconv.Itoa(bp.PartNumber), "ETag", bp.ETag)
		}
		chosen[i] = p
	}
	for i, p := range chosen {
		if p.size < minPartSize && i < len(chosen)-1 {
			return errEntityTooSmall.with("ProposedSize", strconv.FormatInt(p.size, 10),
				"MinSizeAllowed", strconv.Itoa(minPartSize), "PartNumber", strconv.Itoa(p.n), "ETag", quoteETag(p.etag))
		}
		raw, err := hex.DecodeString(p.etag)
		if err != nil {
			return errInvalidPart.with("UploadId", id, "PartNumber", strconv.Itoa(p.n))
		}
		sums.Write(raw)
		total += p.size
		used[p.n] = true
		manifest = append(manifest, segment{Path: "/" + req.segments() + "/" + p.name, ETag: p.etag, Bytes: p.size})
	}
	s3etag := hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(manifest))
	doc, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	hdr := http.Header{}
	for k, v := range marker {
		switch {
		case strings.HasPrefix(k, "X-Object-Meta-"):
			hdr[k] = v
		case strings.HasPrefix(k, sysHeader):
			hdr[strings.TrimPrefix(k, sysHeader)] = v
		}
	}
	hdr.Set(sysETag, s3etag)
	hdr.Set(sysUploadID, id)
	// The base value stays blank for the SLO middleware to fill in, as
	// s3api leaves it.
	hdr.Set(overrideETag, "; s3_etag="+s3etag)
	hdr.Set(overrideSize, strconv.FormatInt(total, 10))
	old := h.uploadOf(req, req.bucket, req.key)
	resp := h.swift(req, call{method: http.MethodPut, container: req.bucket, object: req.key,
		query: url.Values{"multipart-manifest": {"put"}}, header: hdr, body: strings.NewReader(string(doc)), length: int64(len(doc))})
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		// The SLO middleware found a segment missing or changed.
		return errInvalidPart.with("UploadId", id)
	case !is2xx(resp.StatusCode):
		return swiftError(resp, bucketNotFound(req.bucket))
	}
	// The upload is closed: its marker and the parts left out go.
	h.do(req, call{method: http.MethodDelete, container: req.segments(), object: req.markerName(id)})
	for _, p := range uploaded {
		if !used[p.n] {
			h.do(req, call{method: http.MethodDelete, container: req.segments(), object: p.name})
		}
	}
	if old != id {
		h.dropSegments(req, req.bucket, req.key, old)
	}
	return h.completed(req, s3etag)
}

func (h *handler) completed(req *request, s3etag string) error {
	loc := "http://" + req.r.Host + "/" + uriEncode(req.bucket, false) + "/" + uriEncode(req.key, true)
	if req.r.TLS != nil {
		loc = "https" + strings.TrimPrefix(loc, "http")
	}
	return writeXML(req.w, http.StatusOK, completeMultipartUploadResult{Location: loc, Bucket: req.bucket, Key: req.key,
		ETag: quoteETag(s3etag)})
}

// abortUpload is AbortMultipartUpload: the parts go, then the marker.
func (h *handler) abortUpload(req *request) error {
	id, _, e := h.openUpload(req)
	if e != nil {
		return e
	}
	if err := h.deletePrefix(req, req.segments(), req.key+"/"+id+"/"); err != nil {
		return err
	}
	status, _ := h.do(req, call{method: http.MethodDelete, container: req.segments(), object: req.markerName(id)})
	if !is2xx(status) && status != http.StatusNotFound {
		return statusError(status, nil)
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
