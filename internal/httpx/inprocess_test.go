package httpx

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
)

func inProcessClient(h http.Handler) *http.Client {
	return &http.Client{Transport: &InProcess{Next: http.DefaultTransport, Hosts: map[string]http.Handler{"node:6200": h}}}
}

func TestInProcessStreamsBothWays(t *testing.T) {
	c := inProcessClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/obj/a b" || r.URL.RawQuery != "x=1" || r.Host != "node:6200" || r.Header.Get("X-Test") != "yes" {
			http.Error(w, "bad request as seen: "+r.URL.String()+" "+r.Host, 400)
			return
		}
		w.Header().Set("Content-Length", r.Header.Get("Content-Length"))
		w.WriteHeader(201)
		io.Copy(w, r.Body)
	}))
	data := make([]byte, 5<<20)
	rand.Read(data)
	req, _ := http.NewRequest("PUT", "http://node:6200/obj/a%20b?x=1", bytes.NewReader(data))
	req.Header.Set("X-Test", "yes")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 201 || resp.ContentLength != int64(len(data)) || !bytes.Equal(got, data) {
		t.Fatalf("status %d length %d err %v equal %t: %s", resp.StatusCode, resp.ContentLength, err, bytes.Equal(got, data), got[:min(len(got), 100)])
	}
}

// A handler that cuts its answer short (http.ErrAbortHandler) must give
// the client a read error, never a short body that looks whole.
func TestInProcessAbortIsAnError(t *testing.T) {
	c := inProcessClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("partial"))
		panic(http.ErrAbortHandler)
	}))
	resp, err := c.Get("http://node:6200/x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("reading an aborted answer: no error")
	}

	c = inProcessClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }))
	if _, err := c.Get("http://node:6200/x"); err == nil {
		t.Fatal("an answer aborted before its header: no error")
	}
}

// The handler not reading the body must not leave the client's writer
// blocked: the body is closed once the handler returns.
func TestInProcessUnreadBodyIsClosed(t *testing.T) {
	c := inProcessClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(412) }))
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", "http://node:6200/x", pr)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 412 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := pw.Write([]byte("more")); err == nil {
		t.Fatal("writing the request body after the handler returned: no error")
	}
}

func TestInProcessOtherHostsGoToNext(t *testing.T) {
	c := inProcessClient(http.NotFoundHandler())
	_, err := c.Get("http://127.0.0.1:1/")
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("a host not in the map went elsewhere than the network: %v", err)
	}
}
