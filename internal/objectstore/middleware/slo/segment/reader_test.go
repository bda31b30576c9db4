package segment

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// lyingStore serves objects whose headers it is told, whatever the body:
// the real stack never lies, and a large object must not pass on what a
// broken segment server sends.
type lyingStore map[string]struct {
	body, etag string
	length     int
	ignoreRng  bool
}

func (s lyingStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o, ok := s[r.URL.Path]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.URL.Query().Get("multipart-manifest") != "get" {
		w.WriteHeader(http.StatusTeapot)
		return
	}
	w.Header().Set("Etag", o.etag)
	body := o.body
	status := http.StatusOK
	if rs, ok := Ranges(r.Header.Get("Range"), int64(len(body))); ok && len(rs) == 1 && !o.ignoreRng {
		body = body[rs[0].First : rs[0].Last+1]
		status = http.StatusPartialContent
	}
	n := o.length
	if n == 0 {
		n = len(body)
	}
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func md5hex(s string) string {
	b := md5.Sum([]byte(s))
	return hex.EncodeToString(b[:])
}

func seq(ps ...Piece) iter.Seq2[Piece, error] {
	return func(yield func(Piece, error) bool) {
		for _, p := range ps {
			if !yield(p, nil) {
				return
			}
		}
	}
}

func read(store http.Handler, ps ...Piece) (string, error) {
	rd := NewReader(store, httptest.NewRequest("GET", "/v1/a/c/big", nil), "test", seq(ps...))
	defer rd.Close()
	b, err := io.ReadAll(rd)
	return string(b), err
}

func TestReaderChecksSegments(t *testing.T) {
	store := lyingStore{
		"/v1/a/c/good":    {body: "hello", etag: md5hex("hello")},
		"/v1/a/c/corrupt": {body: "hellO", etag: md5hex("hello")},
		"/v1/a/c/short":   {body: "hel", etag: md5hex("hello"), length: 5},
		"/v1/a/c/norange": {body: "0123456789", etag: md5hex("0123456789"), ignoreRng: true},
	}
	whole := func(name string) Piece { return Piece{Path: "/v1/a/c/" + name, Last: -1, Size: -1} }
	for _, tc := range []struct {
		name   string
		pieces []Piece
		want   string
		status int // 0: no error
	}{
		{"whole", []Piece{whole("good"), {Data: []byte("!")}, whole("good")}, "hello!hello", 0},
		{"range", []Piece{{Path: "/v1/a/c/good", First: 1, Last: 3, Size: 5}}, "ell", 0},
		{"range to the end", []Piece{{Path: "/v1/a/c/good", First: 2, Last: -1, Size: -1}}, "llo", 0},
		{"range ignored by the server", []Piece{{Path: "/v1/a/c/norange", First: 3, Last: 5, Size: -1}}, "345", 0},
		{"manifest etag", []Piece{{Path: "/v1/a/c/good", Last: -1, Size: -1, Etag: md5hex("other")}}, "", http.StatusConflict},
		{"manifest size", []Piece{{Path: "/v1/a/c/good", Last: -1, Size: 4}}, "", http.StatusConflict},
		{"corrupt", []Piece{whole("corrupt")}, "hellO", http.StatusConflict},
		{"short", []Piece{whole("short")}, "hel", http.StatusConflict},
		{"missing", []Piece{whole("good"), whole("gone")}, "hello", http.StatusConflict},
	} {
		got, err := read(store, tc.pieces...)
		var se *Error
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.status != 0 && (!errors.As(err, &se) || se.Status != tc.status):
			t.Errorf("%s: err %v, want a %d", tc.name, err, tc.status)
		case got != tc.want:
			t.Errorf("%s: read %q, want %q", tc.name, got, tc.want)
		}
	}

	rd := NewReader(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}), httptest.NewRequest("GET", "/v1/a/c/big", nil), "test", seq(whole("x")))
	defer rd.Close()
	var se *Error
	if err := rd.Prime(); !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
		t.Errorf("segment server failing: %v, want a 503", err)
	}
}

func TestSegmentNamesKeepQuestionMarks(t *testing.T) {
	var got string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path + " ? " + r.URL.RawQuery
	})
	Call(h, NewRequest(httptest.NewRequest("GET", "/", nil), "test", "HEAD", "/v1/a/c/what?x=1#y", "", nil), 0)
	if got != "/v1/a/c/what?x=1#y ? " {
		t.Errorf("handler saw %q", got)
	}
}
