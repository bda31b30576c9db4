package bulk

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Formats are the bodies a bulk answer can take, in Swift's order of
// preference (the first when the client names none).
var Formats = []string{"text/plain", "application/json", "application/xml", "text/xml"}

// Field is one "Key: value" of a bulk answer's body; Value is a string or
// an int.
type Field struct {
	Key   string
	Value any
}

// Failure is one item that failed: its quoted name and a status line
// ("404 Not Found") or message.
type Failure struct {
	Name, Status string
}

// Status is the status line Swift shows for a code: "201 Created".
func Status(code int) string {
	t := swift.Title(code)
	switch code {
	case 499:
		t = "Client Disconnect"
	case http.StatusRequestEntityTooLarge:
		t = "Request Entity Too Large"
	}
	if t == "" {
		t = "Unknown"
	}
	return strconv.Itoa(code) + " " + t
}

// Body renders a bulk answer as Swift's get_heartbeat_response_body:
// JSON keeps the fields' order and adds "Errors"; XML and text sort the
// fields by key; rootTag names XML's root element ("delete", "extract",
// "upload").
func Body(format string, fields []Field, failures []Failure, rootTag string) []byte {
	if format == "application/json" {
		var b strings.Builder
		b.WriteByte('{')
		for _, f := range fields {
			b.WriteString(pyJSON(f.Key))
			b.WriteString(": ")
			b.WriteString(pyJSON(f.Value))
			b.WriteString(", ")
		}
		b.WriteString(`"Errors": [`)
		for i, e := range failures {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("[" + pyJSON(e.Name) + ", " + pyJSON(e.Status) + "]")
		}
		b.WriteString("]}")
		return []byte(b.String())
	}
	sorted := slices.Clone(fields)
	slices.SortStableFunc(sorted, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	var b strings.Builder
	if strings.HasSuffix(format, "/xml") {
		b.WriteString("<" + rootTag + ">\n")
		for _, f := range sorted {
			tag := strings.ToLower(strings.ReplaceAll(f.Key, " ", "_"))
			b.WriteString("<" + tag + ">" + xmlEscape(str(f.Value)) + "</" + tag + ">\n")
		}
		b.WriteString("<errors>\n")
		for _, e := range failures {
			b.WriteString("<object><name>" + xmlEscape(e.Name) + "</name><status>" + xmlEscape(e.Status) + "</status></object>\n")
		}
		b.WriteString("</errors>\n</" + rootTag + ">\n")
		return []byte(b.String())
	}
	for _, f := range sorted {
		b.WriteString(f.Key + ": " + str(f.Value) + "\n")
	}
	b.WriteString("Errors:\n")
	for _, e := range failures {
		b.WriteString(e.Name + ", " + e.Status + "\n")
	}
	return []byte(b.String())
}

// xmlEscape is Python's xml.sax.saxutils.escape: &, < and > only.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// pyJSON encodes a string or number as Python's json.dumps does: non-ASCII
// escaped as \uXXXX, so bodies match Swift's byte for byte.
func pyJSON(v any) string {
	s, ok := v.(string)
	if !ok {
		return str(v)
	}
	return QuoteJSON(s)
}

// QuoteJSON is a JSON string literal as Python's json.dumps writes it
// (ensure_ascii): "\"", "\\", "\n", "\r", "\t", "\b", "\f" escaped by
// name, other control and all non-ASCII characters as \uXXXX (surrogate
// pairs beyond the BMP).
func QuoteJSON(s string) string {
	const hexd = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	u4 := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hexd[r>>12&0xf])
		b.WriteByte(hexd[r>>8&0xf])
		b.WriteByte(hexd[r>>4&0xf])
		b.WriteByte(hexd[r&0xf])
	}
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r > 0x7e && r < 0x10000):
			u4(r)
		case r >= 0x10000:
			r -= 0x10000
			u4(0xd800 + r>>10)
			u4(0xdc00 + r&0x3ff)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// mediaRange is an Accept header's media-range pattern, as swob's Accept.
var mediaRange = regexp.MustCompile(`^\s*([^()<>@,;:\\"/\[\]?={}\x00-\x20\x7f]+)/([^()<>@,;:\\"/\[\]?={}\x00-\x20\x7f]+)((?:\s*;\s*[^()<>@,;:\\"/\[\]?={}\x00-\x20\x7f]+\s*=\s*(?:[^()<>@,;:\\"/\[\]?={}\x00-\x20\x7f]+|"(?:[^"\\]|\\.)*"))*?\s*)$`)

// BestMatch picks the offer the Accept header prefers, as swob's
// best_match: the first offer when there is no header, "" when nothing
// offered is acceptable; ok is false for a malformed header.
func BestMatch(accept string, offers []string) (match string, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return offers[0], true
	}
	type cand struct {
		typ, sub string
		q        float64
		exact    bool
	}
	var cands []cand
	for part := range strings.SplitSeq(accept, ",") {
		m := mediaRange.FindStringSubmatch(part)
		if m == nil {
			return "", false
		}
		q, seenQ := 1.0, false
		for p := range strings.SplitSeq(m[3], ";") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			name, value, _ := strings.Cut(p, "=")
			if strings.TrimSpace(name) == "q" {
				if seenQ {
					return "", false
				}
				seenQ = true
				v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err != nil {
					return "", false
				}
				q = v
			}
		}
		cands = append(cands, cand{m[1], m[2], q, m[1] != "*" && m[2] != "*"})
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.q != b.q:
			if a.q > b.q {
				return -1
			}
			return 1
		case a.exact != b.exact:
			if a.exact {
				return -1
			}
			return 1
		}
		return 0
	})
	for _, c := range cands {
		for _, o := range offers {
			typ, sub, _ := strings.Cut(o, "/")
			if (c.typ == "*" || c.typ == typ) && (c.sub == "*" || c.sub == sub) {
				return o, true
			}
		}
	}
	return "", true
}

// Progress answers a long bulk request as Swift does: a 200 whose body
// starts only when the work is done, or, if that takes more than the
// heartbeat interval, at once with whitespace (or XML's declaration), more
// whitespace every interval, then "\r\n\r\n" and the result, so that
// neither the client nor a proxy between times out.
type Progress struct {
	w         http.ResponseWriter
	format    string
	status    int
	mu        sync.Mutex
	started   bool
	done      bool
	stop      chan struct{}
	beating   chan struct{} // closed when the heartbeat goroutine is gone
	separator string
}

// StartProgress begins the heartbeat of an answer with the given status
// and body format (Content-Type; "" leaves Swift's default).
func StartProgress(w http.ResponseWriter, format string, status int, interval time.Duration) *Progress {
	p := &Progress{w: w, format: format, status: status, stop: make(chan struct{}), beating: make(chan struct{})}
	if interval > 0 {
		go p.beat(interval)
	} else {
		close(p.beating)
	}
	return p
}

func (p *Progress) beat(interval time.Duration) {
	defer close(p.beating)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			if !p.done {
				p.heartbeat()
			}
			p.mu.Unlock()
		}
	}
}

func (p *Progress) header() {
	ct := p.format
	if ct == "" {
		ct = "text/html; charset=UTF-8"
	}
	p.w.Header().Set("Content-Type", ct)
}

func (p *Progress) heartbeat() {
	chunk := " "
	if !p.started {
		p.header()
		p.w.WriteHeader(p.status)
		p.started = true
		if strings.HasSuffix(p.format, "/xml") {
			chunk = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		}
	}
	_, _ = p.w.Write([]byte(chunk))
	p.separator = "\r\n\r\n"
	if f, ok := p.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Begin sends the status and a first space at once, as a static large
// object PUT with ?heartbeat=on does.
func (p *Progress) Begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		p.header()
		p.w.WriteHeader(p.status)
		p.started = true
		_, _ = p.w.Write([]byte(" "))
		p.separator = "\r\n\r\n"
		if f, ok := p.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// Finish stops the heartbeat, waiting for its goroutine to end so that
// nothing touches the ResponseWriter once the handler returns, and writes
// the result.
func (p *Progress) Finish(body []byte) {
	close(p.stop)
	<-p.beating
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if !p.started {
		p.header()
		p.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		p.w.WriteHeader(p.status)
		p.started = true
	}
	_, _ = p.w.Write([]byte(p.separator))
	_, _ = p.w.Write(body)
}

// Quote is Python's urllib.parse.quote with "/" safe, which Swift applies
// to the names in bulk answers: bytes other than letters, digits and
// "_.-~/" become %XX.
func Quote(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&0xf])
	}
	return b.String()
}

// Unquote is Python's urllib.parse.unquote on bytes: %XX sequences become
// bytes, anything else (invalid escapes, "+") stays as it is.
func Unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
