package s3

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// listObjects is ListObjects (v1) and ListObjectsV2 (list-type=2) over
// Swift's container listing, which already does prefix, delimiter and
// marker; one more entry than asked for tells whether it is truncated.
func (h *handler) listObjects(req *request) error {
	q := req.q
	maxKeys := maxBucketListing
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 32)
		if err != nil || n < 0 {
			return invalidArgument("max-keys", v[0], "Argument max-keys must be an integer between 0 and 2147483647")
		}
		maxKeys = int(n)
	}
	limit := min(maxKeys, maxBucketListing)
	enc := q.Get("encoding-type")
	if q.Has("encoding-type") && enc != "url" {
		return invalidArgument("encoding-type", enc, "Invalid Encoding Method specified in Request")
	}
	v2 := false
	if q.Has("list-type") {
		switch lt := q.Get("list-type"); lt {
		case "2":
			v2 = true
		case "1":
		default:
			return invalidArgument("list-type", lt, "Invalid List Type specified in Request")
		}
	}
	prefix, delimiter := q.Get("prefix"), q.Get("delimiter")
	sq := url.Values{"format": {"json"}, "limit": {strconv.Itoa(limit + 1)}}
	if prefix != "" {
		sq.Set("prefix", prefix)
	}
	if delimiter != "" {
		sq.Set("delimiter", delimiter)
	}
	var token *string
	if v2 {
		if v, ok := q["start-after"]; ok {
			sq.Set("marker", v[0])
		}
		if v, ok := q["continuation-token"]; ok {
			m, err := base64.StdEncoding.DecodeString(v[0])
			if err != nil {
				return invalidArgument("continuation-token", v[0], "The continuation token provided is incorrect")
			}
			sq.Set("marker", string(m))
			token = &v[0]
		}
	} else if v, ok := q["marker"]; ok {
		sq.Set("marker", v[0])
	}
	resp := h.swift(req, call{method: http.MethodGet, container: req.bucket, query: sq})
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return bucketNotFound(req.bucket)
	}
	var items []listEntry
	if err := decodeListing(resp, &items); err != nil {
		return err
	}
	truncated := limit > 0 && len(items) > limit
	items = items[:min(len(items), limit)]

	encode := func(s string) string {
		if enc == "url" {
			return uriEncode(s, true)
		}
		return s
	}
	out := listBucketResult{Name: req.bucket, Prefix: encode(prefix), MaxKeys: maxKeys, IsTruncated: truncated,
		Delimiter: encode(delimiter), EncodingType: enc}
	lastName := func() string {
		last := items[len(items)-1]
		if last.Subdir != "" {
			return last.Subdir
		}
		return last.Name
	}
	if v2 {
		n := len(items)
		out.KeyCount = &n
		out.ContinuationToken = token
		if v, ok := q["start-after"]; ok {
			s := encode(v[0])
			out.StartAfter = &s
		}
		if truncated {
			out.NextContinuationToken = base64.StdEncoding.EncodeToString([]byte(lastName()))
		}
	} else {
		m := encode(q.Get("marker"))
		out.Marker = &m
		if truncated && delimiter != "" {
			out.NextMarker = encode(lastName())
		}
	}
	withOwner := !v2 || q.Get("fetch-owner") == "true"
	for _, it := range items {
		if it.Subdir != "" {
			out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{encode(it.Subdir)})
			continue
		}
		o := objectInfo{Key: encode(it.Name), LastModified: isoTime(swiftListingTime(it.LastModified)),
			ETag: listingETag(it), Size: it.Bytes, StorageClass: "STANDARD"}
		if withOwner {
			o.Owner = &owner{req.owner(), req.owner()}
		}
		out.Contents = append(out.Contents, o)
	}
	return writeXML(req.w, http.StatusOK, out)
}

// listingETag is the ETag S3 shows for a listed object: a multipart
// upload's own ETag where the listing carries it (s3_etag, which the
// completed manifest asks the container to record), an SLO's as "<etag>-N"
// as s3api does, else the MD5.
func listingETag(e listEntry) string {
	hash, params := splitHashParams(e.Hash)
	switch {
	case e.S3ETag != "":
		return quoteETag(e.S3ETag)
	case params["s3_etag"] != "":
		return quoteETag(params["s3_etag"])
	case e.SLOETag != "":
		return quoteETag(unquoteETag(e.SLOETag) + "-N")
	case params["slo_etag"] != "":
		return quoteETag(unquoteETag(params["slo_etag"]) + "-N")
	}
	return quoteETag(hash)
}

// splitHashParams splits a listing hash "md5; key=value; ..." as a
// container update override records it.
func splitHashParams(h string) (string, map[string]string) {
	parts := strings.Split(h, ";")
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[strings.ToLower(k)] = v
	}
	return strings.TrimSpace(parts[0]), params
}

func quoteETag(e string) string { return `"` + unquoteETag(e) + `"` }
func unquoteETag(e string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(e), "W/"), `"`)
}
