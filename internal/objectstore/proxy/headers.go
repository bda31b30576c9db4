package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// backendHeader starts the headers of a request to a storage node: the
// transaction id, and the X-Backend-* and X-Timestamp headers of the
// request (middlewares set them; the gatekeeper keeps clients from it).
func (s *Server) backendHeader(req *request) http.Header {
	h := make(http.Header, 12)
	h["X-Trans-Id"] = []string{req.id}
	h["User-Agent"] = []string{s.userAgent}
	for k, v := range req.r.Header {
		if strings.HasPrefix(k, "X-Backend-") {
			h[k] = v
		}
	}
	return h
}

// passThrough are the container headers that are not metadata but go to
// the container servers as they are (Swift's pass_through_headers, plus
// the versioning middleware's X-History-Location).
var passThrough = map[string]bool{
	"X-Container-Read":     true,
	"X-Container-Write":    true,
	"X-Container-Sync-Key": true,
	"X-Container-Sync-To":  true,
	"X-Versions-Location":  true,
	"X-History-Location":   true,
}

// removeHeaders are X-Remove-* headers that clear a pass-through header.
var removeHeaders = map[string]string{
	"X-Remove-Container-Read":     "X-Container-Read",
	"X-Remove-Container-Write":    "X-Container-Write",
	"X-Remove-Versions-Location":  "X-Versions-Location",
	"X-Remove-History-Location":   "X-History-Location",
	"X-Remove-Container-Sync-Key": "X-Container-Sync-Key",
	"X-Remove-Container-Sync-To":  "X-Container-Sync-To",
}

// transferMeta copies an account's or container's metadata headers from
// the client request to a backend request, as Swift's transfer_headers:
// user metadata and sysmeta, pass-through headers (containers), and
// X-Remove-* as empty values, which delete.
func transferMeta(kind string, src, dst http.Header) {
	meta := "X-" + kind + "-Meta-"
	sysmeta := "X-" + kind + "-Sysmeta-"
	remove := "X-Remove-" + kind + "-Meta-"
	for k, v := range src {
		switch {
		case strings.HasPrefix(k, remove):
			dst[meta+k[len(remove):]] = []string{""}
		case strings.HasPrefix(k, meta), strings.HasPrefix(k, sysmeta):
			dst[k] = v
		case kind == "Container" && passThrough[k]:
			dst[k] = v
		}
	}
	if kind == "Container" {
		for k, to := range removeHeaders {
			if _, ok := src[k]; ok {
				dst[to] = []string{""}
			}
		}
	}
}

// ownerHeaders are the headers only an account's owner may set or see
// (Swift's swift_owner_headers).
var ownerHeaders = []string{
	"X-Container-Read", "X-Container-Write",
	"X-Container-Sync-Key", "X-Container-Sync-To",
	"X-Account-Meta-Temp-Url-Key", "X-Account-Meta-Temp-Url-Key-2",
	"X-Container-Meta-Temp-Url-Key", "X-Container-Meta-Temp-Url-Key-2",
	"X-Account-Access-Control",
}

func stripOwnerHeaders(h http.Header) {
	for _, k := range ownerHeaders {
		delete(h, k)
	}
	delete(h, "X-Remove-Container-Read")
	delete(h, "X-Remove-Container-Write")
}

// checkMetadata applies Swift's metadata limits to a request's headers
// (constraints.check_metadata); the message is Swift's 400 body, "" when
// the headers are fine. kind is "Account", "Container" or "Object".
func checkMetadata(kind string, h http.Header) string {
	prefix := "X-" + kind + "-Meta-"
	lower := strings.ToLower(prefix)
	count, size := 0, 0
	for k, vs := range h {
		for _, v := range vs {
			if len(v) > swift.MaxHeaderSize {
				name := k
				if len(name) > swift.MaxMetaNameLength {
					name = name[:swift.MaxMetaNameLength]
				}
				return "Header value too long: " + name
			}
			if !strings.HasPrefix(k, prefix) {
				continue
			}
			key := k[len(prefix):]
			if key == "" {
				return "Metadata name cannot be empty"
			}
			if kind != "Object" && (!utf8.ValidString(key) || !utf8.ValidString(v)) {
				return "Metadata must be valid UTF-8"
			}
			count++
			size += len(key) + len(v)
			if len(key) > swift.MaxMetaNameLength {
				return "Metadata name too long: " + lower + key
			}
			if len(v) > swift.MaxMetaValueLength {
				return "Metadata value longer than " + strconv.Itoa(swift.MaxMetaValueLength) + ": " + lower + key
			}
			if count > swift.MaxMetaCount {
				return "Too many metadata items; max " + strconv.Itoa(swift.MaxMetaCount)
			}
			if size > swift.MaxMetaOverallSize {
				return "Total metadata too large; max " + strconv.Itoa(swift.MaxMetaOverallSize)
			}
		}
	}
	return ""
}

// hopHeaders are never copied between a client and a storage node.
var hopHeaders = map[string]bool{
	"Connection":                     true,
	"Keep-Alive":                     true,
	"Proxy-Connection":               true,
	"Transfer-Encoding":              true,
	"Te":                             true,
	"Trailer":                        true,
	"Upgrade":                        true,
	"Expect":                         true,
	"Host":                           true,
	"Content-Length":                 true,
	"X-Auth-Token":                   true,
	"X-Storage-Token":                true,
	"X-Service-Token":                true,
	"Authorization":                  true,
	"Cookie":                         true,
	"X-Trans-Id":                     true,
	"User-Agent":                     true,
	"X-Newest":                       true,
	"Origin":                         true,
	"Referer":                        true,
	"Accept-Encoding":                true,
	"X-Trans-Id-Extra":               true,
	"Access-Control-Request-Method":  true,
	"Access-Control-Request-Headers": true,
}

// objectHeader is the headers of an object request to a storage node: as
// Swift's object controller, everything the request carries (metadata,
// content headers, conditions, ranges) but hop-by-hop and credentials.
func (s *Server) objectHeader(req *request) http.Header {
	h := make(http.Header, len(req.r.Header)+6)
	for k, v := range req.r.Header {
		if !hopHeaders[k] {
			h[k] = v
		}
	}
	h["X-Trans-Id"] = []string{req.id}
	h["User-Agent"] = []string{s.userAgent}
	return h
}

// skipResponse are backend response headers the client does not get from
// the core (net/http sets its own).
var skipResponse = map[string]bool{
	"Connection":             true,
	"Keep-Alive":             true,
	"Transfer-Encoding":      true,
	"Date":                   true,
	"Server":                 true,
	"X-Trans-Id":             true,
	"X-Openstack-Request-Id": true,
}

// copyResponseHeader copies a storage node's answer headers to the client
// response.
func copyResponseHeader(dst, src http.Header) {
	for k, v := range src {
		if !skipResponse[k] {
			dst[k] = v
		}
	}
}
