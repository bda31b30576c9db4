package swift

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDoStreamsStatusHeadersAndBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Got", r.URL.Path)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "hello")
	})
	parent := httptest.NewRequest("GET", "/v1/AUTH_a", nil)
	resp := Do(h, NewSubRequest(parent, "test", "GET", "/v1/AUTH_a/c/o%2F?x=1", nil))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || resp.Header.Get("X-Got") != "/v1/AUTH_a/c/o%2F" || string(body) != "hello" {
		t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("X-Got"), body)
	}
}

func TestDoRecoversPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	resp := Do(h, httptest.NewRequest("GET", "/", nil))
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("body of a panicked handler read without error")
	}
}

func TestParsePath(t *testing.T) {
	p, err := ParsePath("/v1/AUTH_x/c/a/b/../c")
	if err != nil || p.Account != "AUTH_x" || p.Container != "c" || p.Object != "a/b/../c" {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := ParsePath("/v2/AUTH_x"); err != ErrNotAPIPath {
		t.Fatalf("v2 accepted: %v", err)
	}
	long := make([]byte, MaxObjectNameLength+1)
	for i := range long {
		long[i] = 'o'
	}
	if err := CheckPath(Path{Account: "a", Container: "c", Object: string(long)}); err == nil {
		t.Fatal("1025-byte object name accepted")
	}
	bp, err := ParseBackendPath("/object/d1/17/AUTH_x/c/o/p")
	if err != nil || bp.Partition != 17 || bp.Object != "o/p" {
		t.Fatalf("%+v %v", bp, err)
	}
	for _, bad := range []string{"/object/../1/a", "/object/d1/x/a", "/other/d1/1/a", "/object/d1"} {
		if _, err := ParseBackendPath(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
