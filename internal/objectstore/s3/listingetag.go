package s3

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// A completed multipart upload asks the container to list its S3 ETag
// inside the hash ("<md5>; s3_etag=<etag>-N"), which the S3 listing reads.
// Swift clients get the hash alone, and in JSON the S3 ETag as its own
// "s3_etag" field, as Swift's s3api ListingEtagMiddleware does.

const maxListingBody = 32 << 20

// isContainerGET reports whether r is a Swift container listing.
func isContainerGET(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	p, err := swift.ParsePath(r.URL.Path)
	return err == nil && p.Container != "" && p.Object == ""
}

// serveListing passes a Swift container GET on and cleans the hashes of
// its answer.
func (h *handler) serveListing(w http.ResponseWriter, r *http.Request) {
	resp := swift.Do(h.next, r)
	defer resp.Body.Close()
	out := w.Header()
	for k, v := range resp.Header {
		out[k] = v
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || (mt != "application/json" && mt != "application/xml" && mt != "text/xml") {
		w.WriteHeader(resp.StatusCode)
		copyBody(w, resp)
		return
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(&limitedBody{r: resp.Body, n: maxListingBody})
	if err != nil || n >= maxListingBody {
		// Too big to rework, or cut short: pass on what there is.
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(buf.Bytes())
		copyBody(w, resp)
		return
	}
	body := buf.Bytes()
	if bytes.Contains(body, []byte("s3_etag=")) {
		if mt == "application/json" {
			body = cleanJSONListing(body)
		} else {
			body = cleanXMLListing(body)
		}
		out.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

type limitedBody struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedBody) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errListingTooBig
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	k, err := l.r.Read(b)
	l.n -= int64(k)
	return k, err
}

var errListingTooBig = s3err(0, "", "listing too big")

func copyBody(w http.ResponseWriter, resp *http.Response) {
	buf := make([]byte, 32<<10)
	for {
		k, err := resp.Body.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// cleanJSONListing moves s3_etag out of each hash; a listing it cannot
// read goes out as it came.
func cleanJSONListing(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var items []map[string]any
	if err := dec.Decode(&items); err != nil {
		return body
	}
	for _, it := range items {
		hash, ok := it["hash"].(string)
		if !ok {
			continue
		}
		if clean, etag, found := cutS3ETag(hash); found {
			it["hash"], it["s3_etag"] = clean, `"`+etag+`"`
		}
	}
	out, err := json.Marshal(items)
	if err != nil {
		return body
	}
	return out
}

// cutS3ETag removes the s3_etag parameter from a listing hash.
func cutS3ETag(hash string) (clean, etag string, found bool) {
	parts := strings.Split(hash, ";")
	keep := parts[:1]
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "s3_etag") {
			etag, found = v, true
			continue
		}
		keep = append(keep, p)
	}
	return strings.TrimSpace(strings.Join(keep, ";")), etag, found
}

// cleanXMLListing drops s3_etag from each <hash> element.
func cleanXMLListing(body []byte) []byte {
	s := string(body)
	var b strings.Builder
	for {
		i := strings.Index(s, "<hash>")
		if i < 0 {
			b.WriteString(s)
			return []byte(b.String())
		}
		j := strings.Index(s[i:], "</hash>")
		if j < 0 {
			b.WriteString(s)
			return []byte(b.String())
		}
		b.WriteString(s[:i+len("<hash>")])
		clean, _, _ := cutS3ETag(s[i+len("<hash>") : i+j])
		b.WriteString(clean)
		s = s[i+j:]
	}
}
