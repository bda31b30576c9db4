package slo

import (
	"bytes"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
)

// maxListing is the largest listing body the middleware rewrites (Swift's
// MAX_CONTAINER_LISTING_CONTENT_LENGTH); larger ones pass untouched.
const maxListing = 1 << 20 * 8

// listing answers a container GET. A manifest's listing row carries the
// large object's etag as a parameter of its hash ("<md5>; slo_etag=<etag>",
// from the container update override): in JSON it becomes its own
// "slo_etag" field, as Swift's, and XML shows the plain hash.
func (m *middleware) listing(w http.ResponseWriter, r *http.Request) {
	kind := ""
	ic := &segment.Interceptor{
		W: w,
		Capture: func(status int, h http.Header) bool {
			if status/100 != 2 {
				return false
			}
			if n, err := strconv.Atoi(h.Get("Content-Length")); err != nil || n > maxListing {
				return false
			}
			ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
			switch strings.TrimSpace(ct) {
			case "application/json":
				kind = "json"
			case "application/xml", "text/xml":
				kind = "xml"
			default:
				return false
			}
			return true
		},
		Limit: maxListing,
	}
	m.next.ServeHTTP(ic, r)
	if !ic.Captured() {
		ic.Finish()
		return
	}
	body := ic.Body.Bytes()
	if bytes.Contains(body, []byte("slo_etag=")) {
		if kind == "json" {
			body = jsonHash.ReplaceAllFunc(body, splitJSONHash)
		} else {
			body = xmlHash.ReplaceAllFunc(body, splitXMLHash)
		}
	}
	h := w.Header()
	for k, v := range ic.Headers {
		h[k] = v
	}
	if r.Method == http.MethodGet {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(ic.Status)
	_, _ = w.Write(body)
}

var (
	jsonHash = regexp.MustCompile(`"hash":\s*"[^"\\]*slo_etag=[^"\\]*"`)
	xmlHash  = regexp.MustCompile(`<hash>[^<]*slo_etag=[^<]*</hash>`)
)

// splitHash separates the slo_etag parameter from a listing hash.
func splitHash(v string) (hash, sloEtag string) {
	parts := strings.Split(v, ";")
	hash = strings.TrimSpace(parts[0])
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if k == "slo_etag" {
			sloEtag = val
			continue
		}
		hash += "; " + strings.TrimSpace(p)
	}
	return hash, sloEtag
}

func splitJSONHash(b []byte) []byte {
	rest := string(b)[len(`"hash"`):] // the match starts with it
	j := strings.IndexByte(rest, '"')
	punct := rest[:j] // ": " or ":" as the listing wrote it
	value := rest[j+1 : len(rest)-1]
	hash, slo := splitHash(value)
	comma := ", "
	if !strings.Contains(punct, " ") {
		comma = ","
	}
	return []byte(`"hash"` + punct + `"` + hash + `"` + comma + `"slo_etag"` + punct + `"\"` + slo + `\""`)
}

func splitXMLHash(b []byte) []byte {
	v := strings.TrimSuffix(strings.TrimPrefix(string(b), "<hash>"), "</hash>")
	hash, _ := splitHash(v)
	return []byte("<hash>" + hash + "</hash>")
}
