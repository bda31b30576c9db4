package s3

import (
	"encoding/xml"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// deleteObjects is DeleteObjects (POST ?delete): up to 1000 keys, each
// deleted as DeleteObject would, a few at a time.
func (h *handler) deleteObjects(req *request) error {
	if !hasIntegrityHeader(req.r.Header) {
		return errInvalidRequest.msg("Missing required header for this request: Content-MD5")
	}
	pl, e := newPayload(req.r, req.sig.contentSHA, true)
	if e != nil {
		return e
	}
	data, err := readAll(pl, 2<<20, errMalformedXML)
	if err != nil {
		return err
	}
	var d deleteRequest
	if err := xml.Unmarshal(data, &d); err != nil || len(d.Objects) == 0 {
		return errMalformedXML
	}
	if len(d.Objects) > maxMultiDelete {
		return errMalformedXML.msg("The request must contain no more than 1000 keys")
	}
	if _, e := h.bucketExists(req, req.bucket); e != nil {
		return e
	}
	results := make([]*Error, len(d.Objects))
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				o := d.Objects[i]
				switch {
				case o.VersionID != nil && *o.VersionID != "null":
					results[i] = s3err(404, "NoSuchVersion", "The specified version does not exist.")
				case o.Key == "" || !utf8.ValidString(o.Key) || len(o.Key) > swift.MaxObjectNameLength:
					results[i] = errInvalidArgument.msg("Invalid key")
				default:
					results[i] = h.deleteKey(req, o.Key)
				}
			}
		}()
	}
	for i := range d.Objects {
		work <- i
	}
	close(work)
	wg.Wait()
	out := deleteResult{}
	for i, o := range d.Objects {
		if e := results[i]; e != nil {
			out.Errors = append(out.Errors, deleteError{Key: o.Key, Code: e.Code, Message: e.Message})
		} else if !d.Quiet {
			out.Deleted = append(out.Deleted, deletedInfo{Key: o.Key})
		}
	}
	return writeXML(req.w, http.StatusOK, out)
}

// hasIntegrityHeader reports whether the body comes with Content-MD5 or an
// x-amz-checksum-*, one of which S3 wants on some requests.
func hasIntegrityHeader(h http.Header) bool {
	if h.Get("Content-MD5") != "" || h.Get("X-Amz-Trailer") != "" {
		return true
	}
	for name := range h {
		if n := strings.ToLower(name); strings.HasPrefix(n, "x-amz-checksum-") && n != "x-amz-checksum-algorithm" {
			return true
		}
	}
	return false
}
