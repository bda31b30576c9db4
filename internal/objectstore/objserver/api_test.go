package objserver

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func TestPutGetHeadRoundTrip(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	for i, size := range []int{0, 1, 4096, blockSize - 1, blockSize, blockSize + 1, 300 << 10, 1<<20 + 17} {
		name := "obj" + strconv.Itoa(i)
		p := c.path(n.dev, "AUTH_a", "c", name)
		data := pattern(size)
		resp := c.must(201, n, "PUT", p, data, "X-Timestamp", ts(1), "Content-Type", "text/x-test",
			"X-Object-Meta-Color", "blue", "X-Object-Sysmeta-Slo-Size", "42", "Content-Disposition", "inline",
			"X-Object-Meta-Empty", "",
			"Etag", md5hex(data))
		if got := resp.Header.Get("Etag"); got != md5hex(data) {
			t.Fatalf("size %d: PUT ETag %q, want %q", size, got, md5hex(data))
		}
		resp = c.must(200, n, "GET", p, nil)
		if got := body(resp); !bytes.Equal(got, data) {
			t.Fatalf("size %d: GET returned %d bytes, different from the %d stored", size, len(got), len(data))
		}
		for k, want := range map[string]string{
			"Content-Length":            strconv.Itoa(size),
			"Content-Type":              "text/x-test",
			"Etag":                      md5hex(data),
			"X-Object-Meta-Color":       "blue",
			"X-Object-Sysmeta-Slo-Size": "42",
			"Content-Disposition":       "inline",
			"X-Timestamp":               ts(1),
			"X-Backend-Timestamp":       ts(1),
			"X-Backend-Data-Timestamp":  ts(1),
			"Accept-Ranges":             "bytes",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("size %d: GET %s = %q, want %q", size, k, got, want)
			}
		}
		if v, ok := resp.Header["X-Object-Meta-Empty"]; !ok || v[0] != "" {
			t.Errorf("size %d: empty metadata value not kept as Swift keeps it: %q", size, v)
		}
		if resp.Header.Get("Last-Modified") == "" {
			t.Errorf("size %d: no Last-Modified", size)
		}
		head := c.must(200, n, "HEAD", p, nil)
		if head.Header.Get("Content-Length") != strconv.Itoa(size) || head.Header.Get("X-Object-Meta-Color") != "blue" {
			t.Errorf("size %d: HEAD headers %v", size, head.Header)
		}
	}
}

func TestChunkedPut(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "chunked")
	data := pattern(700 << 10)
	// A reader that is not a *bytes.Reader makes the client send chunks.
	resp, msg, _ := c.request(n, "PUT", p, io.MultiReader(bytes.NewReader(data)), "X-Timestamp", ts(1), "Content-Type", "a/b")
	if resp.StatusCode != 201 || resp.Header.Get("Etag") != md5hex(data) {
		t.Fatalf("chunked PUT: %d %s etag %s", resp.StatusCode, msg, resp.Header.Get("Etag"))
	}
	if got := body(c.must(200, n, "GET", p, nil)); !bytes.Equal(got, data) {
		t.Fatal("chunked object came back different")
	}
}

func TestPostReplacesMetadata(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "o")
	c.must(201, n, "PUT", p, []byte("hello"), "X-Timestamp", ts(1), "Content-Type", "text/plain",
		"X-Object-Meta-Old", "1", "X-Object-Sysmeta-Keep", "s", "X-Static-Large-Object", "True", "Content-Encoding", "gzip")
	c.must(202, n, "POST", p, nil, "X-Timestamp", ts(2), "X-Object-Meta-New", "2", "X-Object-Sysmeta-Ignored", "x",
		"X-Object-Meta-Removed", "")
	h := c.must(200, n, "HEAD", p, nil).Header
	for k, want := range map[string]string{
		"X-Object-Meta-New":        "2",
		"X-Object-Meta-Old":        "",
		"X-Object-Meta-Removed":    "",
		"X-Object-Sysmeta-Keep":    "s",
		"X-Object-Sysmeta-Ignored": "",
		"X-Static-Large-Object":    "True",
		"Content-Encoding":         "", // a POST replaces it too
		"Content-Type":             "text/plain",
		"X-Timestamp":              ts(2),
		"X-Backend-Data-Timestamp": ts(1),
		"Content-Length":           "5",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("after POST %s = %q, want %q", k, got, want)
		}
	}
	if v, ok := h["X-Object-Meta-Removed"]; !ok || v[0] != "" {
		t.Errorf("a POST's empty metadata value = %q; Swift keeps the key with an empty value", v)
	}
	// A POST may change the content type, and a later one keeps it.
	c.must(202, n, "POST", p, nil, "X-Timestamp", ts(3), "Content-Type", "image/png")
	c.must(202, n, "POST", p, nil, "X-Timestamp", ts(4), "X-Object-Meta-Last", "y")
	h = c.must(200, n, "GET", p, nil).Header
	if h.Get("Content-Type") != "image/png" || h.Get("X-Object-Meta-Last") != "y" || h.Get("X-Object-Meta-New") != "" {
		t.Errorf("after POSTs: %v", h)
	}
	if metas := files(n.dir, "objects", ".meta"); len(metas) != 1 {
		t.Errorf("%d .meta files kept, want only the newest: %v", len(metas), metas)
	}
	resp := c.must(409, n, "POST", p, nil, "X-Timestamp", ts(4), "X-Object-Meta-Late", "z")
	if resp.Header.Get("X-Backend-Timestamp") != ts(4) {
		t.Errorf("409 X-Backend-Timestamp = %q", resp.Header.Get("X-Backend-Timestamp"))
	}
	c.must(404, n, "POST", c.path(n.dev, "AUTH_a", "c", "missing"), nil, "X-Timestamp", ts(5))
	c.must(400, n, "POST", p, nil, "X-Timestamp", ts(6), "X-Delete-At", "soon")
	c.must(400, n, "POST", p, nil, "X-Timestamp", ts(6), "X-Delete-At", "1000")
	// A newer PUT drops the POSTed metadata.
	c.must(201, n, "PUT", p, []byte("again"), "X-Timestamp", ts(7), "Content-Type", "text/plain")
	h = c.must(200, n, "HEAD", p, nil).Header
	if h.Get("X-Object-Meta-Last") != "" || h.Get("X-Timestamp") != ts(7) {
		t.Errorf("after a new PUT: %v", h)
	}
	if metas := files(n.dir, "objects", ".meta"); len(metas) != 0 {
		t.Errorf("old .meta files left after a newer PUT: %v", metas)
	}
}

func TestDeleteWritesTombstoneThatWins(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "o")
	c.must(201, n, "PUT", p, []byte("x"), "X-Timestamp", ts(1), "Content-Type", "a/b")
	c.must(409, n, "DELETE", p, nil, "X-Timestamp", ts(1))
	resp := c.must(204, n, "DELETE", p, nil, "X-Timestamp", ts(2))
	if resp.Header.Get("X-Backend-Timestamp") != ts(2) {
		t.Errorf("DELETE X-Backend-Timestamp = %q", resp.Header.Get("X-Backend-Timestamp"))
	}
	for _, m := range []string{"GET", "HEAD"} {
		resp = c.must(404, n, m, p, nil)
		if resp.Header.Get("X-Backend-Timestamp") != ts(2) {
			t.Errorf("%s of deleted: X-Backend-Timestamp = %q", m, resp.Header.Get("X-Backend-Timestamp"))
		}
	}
	if d := files(n.dir, "objects", ".data"); len(d) != 0 {
		t.Errorf(".data left after delete: %v", d)
	}
	// Older writes lose to the tombstone; a newer one wins.
	resp = c.must(409, n, "PUT", p, []byte("old"), "X-Timestamp", ts(1), "Content-Type", "a/b")
	if resp.Header.Get("X-Backend-Timestamp") != ts(2) {
		t.Errorf("PUT 409 X-Backend-Timestamp = %q", resp.Header.Get("X-Backend-Timestamp"))
	}
	c.must(404, n, "DELETE", p, nil, "X-Timestamp", ts(3))
	c.must(201, n, "PUT", p, []byte("new"), "X-Timestamp", ts(4), "Content-Type", "a/b")
	if got := body(c.must(200, n, "GET", p, nil)); string(got) != "new" {
		t.Fatalf("GET after re-PUT = %q", got)
	}
	// DELETE of something never written still leaves a tombstone.
	q := c.path(n.dev, "AUTH_a", "c", "never")
	c.must(404, n, "DELETE", q, nil, "X-Timestamp", ts(5))
	if resp := c.must(404, n, "GET", q, nil); resp.Header.Get("X-Backend-Timestamp") != ts(5) {
		t.Errorf("tombstone of a never-written object: X-Backend-Timestamp = %q", resp.Header.Get("X-Backend-Timestamp"))
	}
	c.must(409, n, "PUT", q, []byte("late"), "X-Timestamp", ts(4), "Content-Type", "a/b")
}

func TestPutOlderOrEqualTimestampConflicts(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "o")
	c.must(201, n, "PUT", p, []byte("two"), "X-Timestamp", ts(2), "Content-Type", "a/b")
	for _, old := range []string{ts(1), ts(2)} {
		resp := c.must(409, n, "PUT", p, []byte("one"), "X-Timestamp", old, "Content-Type", "a/b")
		if resp.Header.Get("X-Backend-Timestamp") != ts(2) {
			t.Errorf("409 X-Backend-Timestamp = %q", resp.Header.Get("X-Backend-Timestamp"))
		}
	}
	if got := body(c.must(200, n, "GET", p, nil)); string(got) != "two" {
		t.Fatalf("GET = %q", got)
	}
	if len(files(n.dir, "tmp", "")) != 0 {
		t.Errorf("temp files left: %v", files(n.dir, "tmp", ""))
	}
}

func TestBadRequests(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "o")
	part := strconv.Itoa(c.ring.Partition("AUTH_a", "c", "o"))
	put := []string{"X-Timestamp", ts(1), "Content-Type", "a/b"}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		want   int
		hdr    []string
	}{
		{"dotdot device", "PUT", "/object/../" + part + "/AUTH_a/c/o", 400, put},
		{"unknown device", "PUT", "/object/nope/" + part + "/AUTH_a/c/o", 507, put},
		{"non-numeric partition", "PUT", "/object/" + n.dev + "/x1/AUTH_a/c/o", 400, put},
		{"partition out of the ring", "GET", "/object/" + n.dev + "/99999/AUTH_a/c/o", 400, nil},
		{"wrong partition", "PUT", "/object/" + n.dev + "/" + strconv.Itoa((c.ring.Partition("AUTH_a", "c", "o")+1)%16) + "/AUTH_a/c/o", 400, put},
		{"no object", "PUT", "/object/" + n.dev + "/" + part + "/AUTH_a/c", 400, put},
		{"empty object", "PUT", "/object/" + n.dev + "/" + part + "/AUTH_a/c/", 400, put},
		{"no timestamp", "PUT", p, 400, []string{"Content-Type", "a/b"}},
		{"bad timestamp", "PUT", p, 400, []string{"X-Timestamp", "yesterday", "Content-Type", "a/b"}},
		{"bad delete timestamp", "DELETE", p, 400, []string{"X-Timestamp", "-1"}},
		{"no content type", "PUT", p, 400, []string{"X-Timestamp", ts(1)}},
		{"wrong etag", "PUT", p, 422, append([]string{"Etag", md5hex([]byte("other"))}, put...)},
		{"delete-at in the past", "PUT", p, 400, append([]string{"X-Delete-At", "1000"}, put...)},
		{"delete-at not a number", "PUT", p, 400, append([]string{"X-Delete-At", "soon"}, put...)},
		{"unknown method", "PATCH", p, 405, put},
	} {
		resp, msg, _ := c.request(n, tc.method, tc.path, bytes.NewReader([]byte("body")), tc.hdr...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, msg, tc.want)
		}
	}
	if d := files(n.dir, "objects", ".data"); len(d) != 0 {
		t.Errorf("bad requests stored %v", d)
	}
	if tmp := files(n.dir, "tmp", ""); len(tmp) != 0 {
		t.Errorf("temp files left: %v", tmp)
	}
}

func TestIfNoneMatchStarOnPut(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "o")
	c.must(201, n, "PUT", p, []byte("1"), "X-Timestamp", ts(1), "Content-Type", "a/b", "If-None-Match", "*")
	c.must(412, n, "PUT", p, []byte("2"), "X-Timestamp", ts(2), "Content-Type", "a/b", "If-None-Match", "*")
	if got := body(c.must(200, n, "GET", p, nil)); string(got) != "1" {
		t.Fatalf("GET = %q", got)
	}
}

func TestCutUploadLeavesNothing(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "cut")
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(pattern(200 << 10))
		pw.CloseWithError(io.ErrUnexpectedEOF) // the client dies mid-body
	}()
	req, _ := http.NewRequest("PUT", n.srv.URL+p, pr)
	req.ContentLength = 1 << 20
	req.Header.Set("X-Timestamp", ts(1))
	req.Header.Set("Content-Type", "a/b")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Fatalf("cut upload answered %d", resp.StatusCode)
		}
	}
	// The handler notices the broken body; give it a moment.
	for range 100 {
		if len(files(n.dir, "tmp", "")) == 0 {
			break
		}
		sleep()
	}
	if tmp := files(n.dir, "tmp", ""); len(tmp) != 0 {
		t.Fatalf("temp file left after a cut upload: %v", tmp)
	}
	if d := files(n.dir, "objects", ""); len(d) != 0 {
		t.Fatalf("a cut upload left files under objects/: %v", d)
	}
	c.must(404, n, "GET", p, nil)
}

func TestReplicateVerbAnswersSuffixHashes(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	part := c.ring.Partition("AUTH_a", "c", "o")
	hash := c.ring.Hash("AUTH_a", "c", "o")
	base := "/object/" + n.dev + "/" + strconv.Itoa(part)
	if got := string(body(c.must(200, n, "REPLICATE", base, nil))); got != "{}" {
		t.Fatalf("hashes of an empty partition = %s", got)
	}
	c.must(201, n, "PUT", c.path(n.dev, "AUTH_a", "c", "o"), []byte("x"), "X-Timestamp", ts(1), "Content-Type", "a/b")
	first := string(body(c.must(200, n, "REPLICATE", base, nil)))
	if want := `"` + suffixOf(hash) + `":"`; !bytes.Contains([]byte(first), []byte(want)) {
		t.Fatalf("hashes after a PUT = %s, want the suffix %s", first, suffixOf(hash))
	}
	c.must(204, n, "DELETE", c.path(n.dev, "AUTH_a", "c", "o"), nil, "X-Timestamp", ts(2))
	second := string(body(c.must(200, n, "REPLICATE", base+"/"+suffixOf(hash), nil)))
	if second == first {
		t.Fatal("suffix hash did not change with a delete")
	}
	if _, err := os.Stat(filepath.Join(n.dir, "objects", strconv.Itoa(part), hashesFile)); err != nil {
		t.Fatalf("no hash cache: %v", err)
	}
	c.must(400, n, "REPLICATE", base+"/xyz", nil)
}
