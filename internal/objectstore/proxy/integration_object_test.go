package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/storage"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestRanges(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)
	data := pattern(200 << 10)
	c.Must(201, "PUT", a+"/box/o", alice, data)

	resp, body := c.Do("GET", a+"/box/o", alice, nil, "Range", "bytes=100-199")
	if resp.StatusCode != 206 || !bytes.Equal(body, data[100:200]) || resp.Header.Get("Content-Range") != "bytes 100-199/204800" {
		t.Fatalf("single range: %d %d bytes %v", resp.StatusCode, len(body), resp.Header)
	}
	resp, body = c.Do("GET", a+"/box/o", alice, nil, "Range", "bytes=-10")
	if resp.StatusCode != 206 || !bytes.Equal(body, data[len(data)-10:]) {
		t.Fatalf("suffix range: %d %d bytes", resp.StatusCode, len(body))
	}
	resp, body = c.Do("GET", a+"/box/o", alice, nil, "Range", "bytes=0-0,1000-1999,-5")
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("multi-range: %d %v", resp.StatusCode, resp.Header)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, b)
	}
	if len(parts) != 3 || !bytes.Equal(parts[0], data[:1]) || !bytes.Equal(parts[1], data[1000:2000]) || !bytes.Equal(parts[2], data[len(data)-5:]) {
		t.Fatalf("multi-range parts: %d", len(parts))
	}
	c.Must(416, "GET", a+"/box/o", alice, nil, "Range", "bytes=300000-")

	// Conditional requests go to the object servers.
	etag := md5hex(data)
	c.Must(304, "GET", a+"/box/o", alice, nil, "If-None-Match", etag)
	c.Must(412, "GET", a+"/box/o", alice, nil, "If-Match", "nope")
	c.Must(200, "GET", a+"/box/o", alice, nil, "If-Match", etag)
	resp, _ = c.Do("HEAD", a+"/box/o", alice, nil)
	c.Must(304, "GET", a+"/box/o", alice, nil, "If-Modified-Since", resp.Header.Get("Last-Modified"))
}

func TestPutChecks(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)

	// Chunked upload, small and large.
	for _, size := range []int{10, 3<<20 + 17} {
		data := pattern(size)
		req := c.Request("PUT", a+"/box/chunked", alice, nil)
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.ContentLength = -1
		resp, body := c.Send(req)
		if resp.StatusCode != 201 || resp.Header.Get("Etag") != md5hex(data) {
			t.Fatalf("chunked PUT of %d: %d %q %v", size, resp.StatusCode, body, resp.Header)
		}
		if got := c.Must(200, "GET", a+"/box/chunked", alice, nil); !bytes.Equal(got, data) {
			t.Fatalf("chunked object of %d read back wrong", size)
		}
	}
	// Without a length: 411. Go's client always sends one, so by hand.
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s/box/nolength HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\nConnection: close\r\n\r\n", a, alice)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	conn.Close()
	if resp.StatusCode != 411 || string(body) != "Missing Content-Length header." {
		t.Fatalf("PUT without a length: %d %q", resp.StatusCode, body)
	}
	c.Must(201, "PUT", a+"/box/empty", alice, []byte{})
	if got := c.Must(200, "GET", a+"/box/empty", alice, nil); len(got) != 0 {
		t.Fatalf("empty object = %q", got)
	}

	// A wrong ETag stores nothing.
	for _, size := range []int{5, 1 << 20} {
		c.Must(422, "PUT", a+"/box/etag", alice, pattern(size), "Etag", strings.Repeat("0", 32))
		c.Must(404, "HEAD", a+"/box/etag", alice, nil)
	}
	c.Must(201, "PUT", a+"/box/etag", alice, []byte("right"), "Etag", md5hex([]byte("right")))

	// If-None-Match: * refuses to overwrite.
	c.Must(412, "PUT", a+"/box/etag", alice, []byte("again"), "If-None-Match", "*")
	c.Must(412, "PUT", a+"/box/etag", alice, pattern(1<<20), "If-None-Match", "*")
	c.Must(201, "PUT", a+"/box/fresh", alice, []byte("new"), "If-None-Match", "*")
	resp, body = c.Do("PUT", a+"/box/fresh", alice, []byte("new"), "If-None-Match", "some-etag")
	if resp.StatusCode != 400 || string(body) != "If-None-Match only supports *" {
		t.Fatalf("If-None-Match etag: %d %q", resp.StatusCode, body)
	}
	if got := c.Must(200, "GET", a+"/box/etag", alice, nil); string(got) != "right" {
		t.Fatalf("overwritten by a refused PUT: %q", got)
	}

	// Content-Type: guessed from the name, or detected on request.
	for name, want := range map[string]string{"a.html": "text/html", "b.json": "application/json", "c": "application/octet-stream"} {
		c.Must(201, "PUT", a+"/box/"+name, alice, []byte("x"), "Content-Type", "")
		resp, _ := c.Do("HEAD", a+"/box/"+name, alice, nil)
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("guessed type of %s = %q, want %q", name, got, want)
		}
	}
	c.Must(201, "PUT", a+"/box/d.png", alice, []byte("x"), "Content-Type", "text/plain", "X-Detect-Content-Type", "true")
	if resp, _ := c.Do("HEAD", a+"/box/d.png", alice, nil); resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("detected type = %q", resp.Header.Get("Content-Type"))
	}
	resp, body = c.Do("PUT", a+"/box/e", alice, []byte("x"), "Content-Type", "text/plain;swift_bytes=5")
	if resp.StatusCode != 400 {
		t.Errorf("swift_ parameter: %d %q", resp.StatusCode, body)
	}
}

func TestExpiringObjects(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)
	before := time.Now().Unix()
	c.Must(201, "PUT", a+"/box/brief", alice, []byte("soon gone"), "X-Delete-After", "1")
	resp, _ := c.Do("HEAD", a+"/box/brief", alice, nil)
	at, err := strconv.ParseInt(resp.Header.Get("X-Delete-At"), 10, 64)
	if err != nil || at < before+1 || at > time.Now().Unix()+1 {
		t.Fatalf("X-Delete-At = %q (now %d)", resp.Header.Get("X-Delete-At"), before)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := c.Do("GET", a+"/box/brief", alice, nil)
		if resp.StatusCode == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the object is still served after its X-Delete-At: %d", resp.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// POST can set it too.
	c.Must(201, "PUT", a+"/box/later", alice, []byte("x"))
	c.Must(202, "POST", a+"/box/later", alice, nil, "X-Delete-At", strconv.FormatInt(time.Now().Unix()+3600, 10))
	resp, _ = c.Do("HEAD", a+"/box/later", alice, nil)
	if resp.Header.Get("X-Delete-At") == "" {
		t.Fatalf("X-Delete-At after POST: %v", resp.Header)
	}
}

func TestNodeDownReadsAndWritesGoOn(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)
	first := pattern(10 << 10)
	c.Must(201, "PUT", a+"/box/first", alice, first)

	for down := range c.Nodes() {
		c.Stop(down)
		name := "second-" + strconv.Itoa(down)
		small, large := pattern(5000+down), pattern(2<<20+down)
		c.Must(201, "PUT", a+"/box/"+name, alice, small)
		c.Must(201, "PUT", a+"/box/"+name+"-large", alice, large)
		if got := c.Must(200, "GET", a+"/box/first", alice, nil); !bytes.Equal(got, first) {
			t.Fatalf("node %d down: first object changed", down)
		}
		if got := c.Must(200, "GET", a+"/box/"+name+"-large", alice, nil); !bytes.Equal(got, large) {
			t.Fatalf("node %d down: large object read back wrong", down)
		}
		listing := string(c.Must(200, "GET", a+"/box?prefix="+name, alice, nil))
		if listing != name+"\n"+name+"-large\n" {
			t.Fatalf("node %d down: listing %q", down, listing)
		}
		c.Must(201, "PUT", a+"/box-"+strconv.Itoa(down), alice, nil)
		c.Must(204, "POST", a+"/box", alice, nil, "X-Container-Meta-Down", strconv.Itoa(down))
		c.Must(202, "POST", a+"/box/first", alice, nil, "X-Object-Meta-Down", strconv.Itoa(down))
		c.Must(204, "DELETE", a+"/box/"+name, alice, nil)
		c.Must(404, "GET", a+"/box/"+name, alice, nil)
		c.Start(down)
	}
	// With two nodes down there is no quorum for writes.
	c.Stop(0)
	c.Stop(1)
	c.Must(503, "PUT", a+"/box/no-quorum", alice, []byte("x"))
	c.Must(503, "PUT", a+"/box/no-quorum", alice, pattern(1<<20))
}

func TestCorruptCopyIsNeverServed(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)
	data := pattern(300 << 10)
	c.Must(201, "PUT", a+"/box/obj", alice, data)

	// Corrupt the copy of the first primary: the proxy reads it first.
	part := c.Ring.Partition(c.Account(alice), "box", "obj")
	dev := c.Ring.Primaries(part)[0]
	var node *proxytest.Node
	for i := range c.Nodes() {
		if n := c.Node(i); n.Device == dev.Name {
			node = n
		}
	}
	var files []string
	filepath.Walk(filepath.Join(node.Dir, "objects"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".data") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("%d .data files on %s", len(files), dev.Name)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(files[0], raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if got := c.Must(200, "GET", a+"/box/obj", alice, nil); !bytes.Equal(got, data) {
			t.Fatal("GET returned corrupt bytes")
		}
		got := c.Must(206, "GET", a+"/box/obj", alice, nil, "Range", "bytes=100000-250000")
		if !bytes.Equal(got, data[100000:250001]) {
			t.Fatal("range GET returned corrupt bytes")
		}
	}
	c.Each(func(s *storage.Server) error { return s.AuditOnce(context.Background()) })
	if got := c.Must(200, "GET", a+"/box/obj", alice, nil); !bytes.Equal(got, data) {
		t.Fatal("GET after the audit returned other bytes")
	}
}
