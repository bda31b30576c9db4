package formpost

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/tempurl"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// maxValueLength is how much of a form field is kept; the rest is read
// and dropped (Swift's MAX_VALUE_LENGTH).
const maxValueLength = 4096

// maxKeptBody bounds how much of a failed upload's answer is kept to
// show the client.
const maxKeptBody = 64 << 10

// result is what the form POST answers.
type result struct {
	status   int
	message  string
	redirect string
	header   http.Header // Access-Control-* of the last upload
	body     []byte      // the last upload's answer, shown when it failed
}

// translate reads the form and uploads its files in order. Fields after
// a file apply only to the files after them, as in Swift, which cannot
// buffer a whole form either.
func (h *handler) translate(r *http.Request, boundary string) (*result, error) {
	keys := h.keys(r)
	f, err := newForm(r.Body, boundary)
	if err != nil {
		return nil, err
	}
	attrs := map[string]string{}
	res := &result{header: http.Header{}}
	files := int64(0)
	for {
		p, err := f.next()
		if err != nil {
			return nil, err
		}
		if p == nil {
			break
		}
		disp, dattrs := parseDisposition(p.header.Get("Content-Disposition"))
		if disp != "form-data" || dattrs["filename"] == "" {
			v, err := readValue(p)
			if err != nil {
				return nil, err
			}
			if name, ok := dattrs["name"]; ok {
				attrs[strings.ToLower(name)] = strings.TrimRight(v, "\r\n-")
			}
			continue
		}
		files++
		maxCount, ok := pyInt(orZero(attrs["max_file_count"]))
		if !ok {
			return nil, &formError{"max_file_count not an integer"}
		}
		if files > maxCount {
			res.status, res.message = http.StatusBadRequest, "max file count exceeded"
			break
		}
		fattrs := make(map[string]string, len(attrs)+3)
		for k, v := range attrs {
			fattrs[k] = v
		}
		fattrs["filename"] = dattrs["filename"]
		if _, set := attrs["content-type"]; !set {
			if vs, ok := p.header["Content-Type"]; ok {
				fattrs["content-type"] = orDefault(vs[0], "application/octet-stream")
			}
		}
		if _, set := attrs["content-encoding"]; !set {
			if vs, ok := p.header["Content-Encoding"]; ok {
				fattrs["content-encoding"] = vs[0]
			}
		}
		if err := h.upload(r, fattrs, p, keys, res); err != nil {
			return nil, err
		}
		if res.status/100 != 2 {
			break
		}
	}
	if res.status == 0 {
		res.status, res.message = http.StatusBadRequest, "no files to process"
	}
	res.redirect = attrs["redirect"]
	return res, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// readValue keeps the first maxValueLength bytes of a field.
func readValue(p *part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, maxValueLength))
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(io.Discard, p); err != nil {
		return "", err
	}
	return string(b), nil
}

// keys are the Temp-URL-Keys that may sign a form for this path: none
// unless it names at least a container.
func (h *handler) keys(r *http.Request) []string {
	parts := strings.SplitN(r.URL.Path, "/", 5)
	if len(parts) < 4 || parts[0] != "" || (parts[1] != "v1" && parts[1] != "v1.0") || parts[2] == "" || parts[3] == "" {
		return nil
	}
	var keys []string
	for _, k := range tempurl.Keys(h.next, r, "FP", parts[2], parts[3]) {
		keys = append(keys, k.Key)
	}
	return keys
}

// upload checks the form's signature and expiry, then PUTs one file as
// an object, recording the answer in res.
func (h *handler) upload(r *http.Request, attrs map[string]string, body io.Reader, keys []string, res *result) error {
	if len(keys) == 0 {
		return &authError{"invalid signature"}
	}
	maxSize, ok := pyInt(orZero(attrs["max_file_size"]))
	if !ok {
		return &formError{"max_file_size not an integer"}
	}
	path := r.URL.Path
	if !strings.HasSuffix(path, "/") && strings.Count(path, "/") < 4 {
		path += "/"
	}
	path += attrs["filename"]
	hdr := http.Header{}
	if v, set := attrs["x_delete_at"]; set {
		n, ok := pyInt(v)
		if !ok {
			return &formError{"x_delete_at not an integer: Unix timestamp required."}
		}
		hdr.Set("X-Delete-At", strconv.FormatInt(n, 10))
	}
	if v, set := attrs["x_delete_after"]; set {
		n, ok := pyInt(v)
		if !ok {
			return &formError{"x_delete_after not an integer: Number of seconds required."}
		}
		hdr.Set("X-Delete-After", strconv.FormatInt(n, 10))
	}
	if v, set := attrs["content-type"]; set {
		hdr.Set("Content-Type", orDefault(v, "application/octet-stream"))
	}
	if v, set := attrs["content-encoding"]; set {
		hdr.Set("Content-Encoding", v)
	}
	expires, ok := pyInt(orZero(attrs["expires"]))
	if !ok {
		return &formError{"expired not an integer"}
	}
	if float64(expires) < float64(h.o.Now().UnixNano())/1e9 {
		return &authError{"form expired"}
	}
	if !h.signed(r.URL.Path, attrs, keys) {
		return &authError{"invalid signature"}
	}

	capped := &cappedReader{r: body, max: maxSize}
	sub := swift.NewSubRequest(r, "FP", http.MethodPut, "/", capped)
	sub.URL.Path = path
	sub.RequestURI = sub.URL.RequestURI()
	sub = sub.WithContext(swift.WithAuthorized(sub.Context()))
	sub.Header = hdr
	for _, name := range []string{"User-Agent", "Referer", "Origin", "Access-Control-Request-Method"} {
		if v := r.Header.Get(name); v != "" {
			sub.Header.Set(name, v)
		}
	}
	resp := swift.Do(h.next, sub)
	kept, _ := io.ReadAll(io.LimitReader(resp.Body, maxKeptBody))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if capped.exceeded {
		return &formError{"max_file_size exceeded"}
	}
	res.status, res.body = resp.StatusCode, kept
	res.header = http.Header{}
	for k, v := range resp.Header {
		// CORS as the upload answered it; the transaction id too, for an
		// answer the core did not make.
		if strings.HasPrefix(strings.ToLower(k), "access-control") || k == "X-Trans-Id" || k == "X-Openstack-Request-Id" {
			res.header[k] = v
		}
	}
	return nil
}

// signed checks the form's signature against every key: an HMAC of
// "path\nredirect\nmax_file_size\nmax_file_count\nexpires".
func (h *handler) signed(path string, attrs map[string]string, keys []string) bool {
	digest, sig, err := tempurl.ParseSignature(attrs["signature"])
	if err != nil || !contains(h.o.AllowedDigests, digest) {
		return false
	}
	msg := Message(path, attrs["redirect"], orZero(attrs["max_file_size"]), orZero(attrs["max_file_count"]), orZero(attrs["expires"]))
	valid := false
	for _, k := range keys {
		if tempurl.Equal(sig, tempurl.HMAC(digest, k, msg)) {
			valid = true
		}
	}
	return valid
}

// Message is what a form's signature signs.
func Message(path, redirect, maxFileSize, maxFileCount, expires string) string {
	return path + "\n" + redirect + "\n" + maxFileSize + "\n" + maxFileCount + "\n" + expires
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// cappedReader fails the upload once more than max bytes were read.
type cappedReader struct {
	r        io.Reader
	max, n   int64
	exceeded bool
}

var errTooBig = &formError{"max_file_size exceeded"}

func (c *cappedReader) Read(b []byte) (int, error) {
	if c.exceeded {
		return 0, errTooBig
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	if c.n > c.max {
		c.exceeded = true
		return 0, errTooBig
	}
	return n, err
}

// write sends the answer: a 303 to the form's redirect with status and
// message in the query, or the status as plain text.
func (res *result) write(w http.ResponseWriter) {
	for k, v := range res.header {
		if _, set := w.Header()[k]; !set {
			w.Header()[k] = v
		}
	}
	line := strconv.Itoa(res.status) + " " + swift.Title(res.status)
	if res.redirect == "" {
		body := []byte(line)
		if res.message != "" {
			body = []byte(line + "\r\nFormPost: " + pyTitle(res.message))
		}
		if res.status/100 != 2 && len(res.body) > 0 {
			body = res.body
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(res.status)
		_, _ = w.Write(body)
		return
	}
	loc := res.redirect
	if strings.Contains(loc, "?") {
		loc += "&"
	} else {
		loc += "?"
	}
	loc += "status=" + strconv.Itoa(res.status) + "&message=" + pyQuote(res.message)
	body := `<html><body><p><a href="` + loc + `">Click to continue...</a></p></body></html>`
	w.Header().Set("Location", loc)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusSeeOther)
	_, _ = w.Write([]byte(body))
}

// pyQuote is Python's urllib.parse.quote with "/" safe.
func pyQuote(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
