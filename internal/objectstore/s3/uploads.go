package s3

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListParts and ListMultipartUploads, read from the segments container.

// intParam reads a non-negative integer parameter, def when absent.
func intParam(q url.Values, name string, def int) (int, *Error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(v[0], 10, 32)
	if err != nil || n < 0 {
		return 0, invalidArgument(name, v[0], "Argument "+name+" must be an integer between 0 and 2147483647")
	}
	return int(n), nil
}

// listParts is ListParts.
func (h *handler) listParts(req *request) error {
	id, _, e := h.openUpload(req)
	if e != nil {
		return e
	}
	maxParts, e := intParam(req.q, "max-parts", maxPartsListing)
	if e != nil {
		return e
	}
	after, e := intParam(req.q, "part-number-marker", 0)
	if e != nil {
		return e
	}
	parts, err := h.listUploadParts(req, id)
	if err != nil {
		return err
	}
	limit := min(maxParts, maxPartsListing)
	out := listPartsResult{Bucket: req.bucket, Key: req.key, UploadID: id, Initiator: owner{req.owner(), req.owner()},
		Owner: owner{req.owner(), req.owner()}, StorageClass: "STANDARD", PartNumberMarker: after, MaxParts: maxParts}
	for _, p := range parts {
		if p.n <= after {
			continue
		}
		if len(out.Parts) == limit {
			out.IsTruncated = true
			break
		}
		out.Parts = append(out.Parts, partInfo{PartNumber: p.n, LastModified: isoTime(swiftListingTime(p.modified)),
			ETag: quoteETag(p.etag), Size: p.size})
	}
	if len(out.Parts) > 0 {
		out.NextPartNumberMarker = out.Parts[len(out.Parts)-1].PartNumber
	}
	return writeXML(req.w, http.StatusOK, out)
}

// listUploads is ListMultipartUploads: the markers in the segments
// container, by key then upload id.
func (h *handler) listUploads(req *request) error {
	q := req.q
	if _, e := h.bucketExists(req, req.bucket); e != nil {
		return e
	}
	maxUploads, e := intParam(q, "max-uploads", 1000)
	if e != nil {
		return e
	}
	enc := q.Get("encoding-type")
	if q.Has("encoding-type") && enc != "url" {
		return invalidArgument("encoding-type", enc, "Invalid Encoding Method specified in Request")
	}
	encode := func(s string) string {
		if enc == "url" {
			return uriEncode(s, true)
		}
		return s
	}
	prefix, delimiter := q.Get("prefix"), q.Get("delimiter")
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	limit := min(maxUploads, 1000)
	out := listMultipartUploadsResult{Bucket: req.bucket, KeyMarker: encode(keyMarker), UploadIDMarker: idMarker,
		Delimiter: encode(delimiter), Prefix: encode(prefix), EncodingType: enc, MaxUploads: maxUploads}
	seenPrefix := map[string]bool{}
	stop := errStopListing
	err := h.eachListed(req, req.segments(), prefix, func(e listEntry) error {
		i := strings.LastIndexByte(e.Name, '/')
		if i < 0 || !validUploadID(e.Name[i+1:]) {
			return nil // a part, or not ours
		}
		key, id := e.Name[:i], e.Name[i+1:]
		if keyMarker != "" && (key < keyMarker || key == keyMarker && (idMarker == "" || id <= idMarker)) {
			return nil
		}
		if delimiter != "" {
			if j := strings.Index(key[len(prefix):], delimiter); j >= 0 {
				cp := key[:len(prefix)+j+len(delimiter)]
				if seenPrefix[cp] {
					return nil
				}
				if len(out.Uploads)+len(out.CommonPrefixes) == limit {
					out.IsTruncated = true
					return stop
				}
				seenPrefix[cp] = true
				out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{encode(cp)})
				return nil
			}
		}
		if len(out.Uploads)+len(out.CommonPrefixes) == limit {
			out.IsTruncated = true
			return stop
		}
		out.Uploads = append(out.Uploads, uploadInfo{Key: encode(key), UploadID: id, Initiator: owner{req.owner(), req.owner()},
			Owner: owner{req.owner(), req.owner()}, StorageClass: "STANDARD", Initiated: isoTime(swiftListingTime(e.LastModified))})
		out.NextKeyMarker, out.NextUploadIDMarker = encode(key), id
		return nil
	})
	if err != nil && err != stop {
		return err
	}
	return writeXML(req.w, http.StatusOK, out)
}

var errStopListing = s3err(0, "", "")
