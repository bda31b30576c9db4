package tempurl

import (
	"net/http"
	"strings"
)

// headerSet matches header names exactly or, for names given with a
// trailing "*", by prefix; case does not matter.
type headerSet struct {
	exact    map[string]bool
	prefixes []string
}

func newHeaderSet(names []string) headerSet {
	s := headerSet{exact: map[string]bool{}}
	for _, n := range names {
		n = strings.ToLower(n)
		if p, ok := strings.CutSuffix(n, "*"); ok {
			s.prefixes = append(s.prefixes, p)
		} else {
			s.exact[n] = true
		}
	}
	return s
}

func (s headerSet) match(name string) bool {
	n := strings.ToLower(name)
	if s.exact[n] {
		return true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// headerFilter removes the headers of remove that allow does not except.
type headerFilter struct{ remove, allow headerSet }

func (f headerFilter) apply(h http.Header) {
	for name := range h {
		if f.remove.match(name) && !f.allow.match(name) {
			delete(h, name)
		}
	}
}

// disallowed are headers a writing temp URL may not carry: they would let
// its holder point an object at data the URL gives no access to.
var disallowed = []string{"X-Object-Manifest", "X-Symlink-Target"}

// contentDisposition renders Content-Disposition as Swift's tempurl does,
// with the name both quoted plainly and RFC 5987-encoded.
func contentDisposition(kind, filename string) string {
	return kind + `; filename="` + quote(filename, " /") + `"; filename*=UTF-8''` + quote(filename, "/")
}

// baseName is the object's last path segment, the default download name.
func baseName(p string) string {
	p = strings.TrimRight(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// quote is Python's urllib.parse.quote: letters, digits, "_.-~" and the
// safe characters stay, every other byte of the UTF-8 form is %XX.
func quote(s, safe string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || (c < 0x80 && strings.IndexByte(safe, c) >= 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
