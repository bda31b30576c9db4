// Package formpost turns a browser's HTML form POST into object PUTs, as
// Swift's formpost middleware: a multipart/form-data POST carrying
// redirect, max_file_size, max_file_count, expires and a signature made
// with one of the account's or container's Temp-URL-Keys uploads each
// file of the form as an object under the POSTed path. It sits before
// auth in the proxy pipeline: the signature is the credential.
package formpost

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/tempurl"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure the middleware; the zero value is Swift's defaults.
type Options struct {
	// AllowedDigests are the HMAC digests signatures may use.
	AllowedDigests []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.AllowedDigests == nil {
		o.AllowedDigests = tempurl.Digests
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Info is the "formpost" section of /info with the default options.
func Info() map[string]any { return Options{}.Info() }

// Info is the "formpost" section of /info for these options.
func (o Options) Info() map[string]any {
	o = o.withDefaults()
	digests := slices.Sorted(slices.Values(o.AllowedDigests))
	info := map[string]any{"allowed_digests": digests}
	var deprecated []string
	for _, d := range digests {
		if slices.Contains(tempurl.DeprecatedDigests, d) {
			deprecated = append(deprecated, d)
		}
	}
	if len(deprecated) > 0 {
		info["deprecated_digests"] = deprecated
	}
	return info
}

// New handles form POSTs and passes every other request to next. At
// most one Options may be given.
func New(next http.Handler, opts ...Options) http.Handler {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return &handler{next: next, o: o.withDefaults()}
}

type handler struct {
	next http.Handler
	o    Options
}

// formError is a bad form: 400 with "FormPost: <msg>" as plain text.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

// authError is a form the keys do not sign, or an expired one: 401 with
// "FormPost: <Msg In Title Case>".
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.next.ServeHTTP(w, r)
		return
	}
	ctype, params := parseDisposition(r.Header.Get("Content-Type"))
	boundary, ok := params["boundary"]
	if ctype != "multipart/form-data" || !ok {
		h.next.ServeHTTP(w, r)
		return
	}
	r.Header.Set("User-Agent", strings.TrimSpace(r.Header.Get("User-Agent")+" FormPost"))
	res, err := h.translate(r, boundary)
	var fe *formError
	var ae *authError
	switch {
	case errors.Is(err, errStartBoundary):
		writePlain(w, http.StatusBadRequest, "FormPost: invalid starting boundary")
	case errors.As(err, &fe):
		writePlain(w, http.StatusBadRequest, "FormPost: "+fe.msg)
	case errors.As(err, &ae):
		w.Header().Set("Www-Authenticate", realm(r))
		swift.WriteError(w, r, http.StatusUnauthorized, "FormPost: "+pyTitle(ae.msg))
	case err != nil:
		// The client's body broke off; nobody is left to read an answer.
		swift.WriteStatus(w, r, http.StatusBadRequest)
	default:
		res.write(w)
	}
}

func writePlain(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func realm(r *http.Request) string {
	if p, err := swift.ParsePath(r.URL.Path); err == nil && p.Version == "v1" {
		return `Swift realm="` + p.Account + `"`
	}
	return `Swift realm="unknown"`
}

// pyInt reads an integer as Python's int() does for the form's fields.
func pyInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// orZero is Python's `value or '0'`.
func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// pyTitle is Python's str.title(): each run of letters starts upper-case
// and goes on lower-case.
func pyTitle(s string) string {
	var b strings.Builder
	prev := false
	for _, c := range s {
		letter := unicode.IsLetter(c)
		switch {
		case letter && !prev:
			c = unicode.ToUpper(c)
		case letter:
			c = unicode.ToLower(c)
		}
		prev = letter
		b.WriteRune(c)
	}
	return b.String()
}
