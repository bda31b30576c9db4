package objserver

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRangeRequests(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "ranged")
	data := pattern(200 << 10)
	size := len(data)
	c.must(201, n, "PUT", p, data, "X-Timestamp", ts(1), "Content-Type", "text/x-r")
	for _, tc := range []struct {
		rng          string
		start, end   int // [start, end)
		contentRange string
	}{
		{"bytes=0-9", 0, 10, "bytes 0-9/204800"},
		{"bytes=65530-65545", 65530, 65546, "bytes 65530-65545/204800"}, // across a block edge
		{"bytes=-100", size - 100, size, "bytes 204700-204799/204800"},
		{"bytes=204000-", 204000, size, "bytes 204000-204799/204800"},
		{"bytes=100-999999", 100, size, "bytes 100-204799/204800"},
		{"bytes=-999999", 0, size, "bytes 0-204799/204800"},
	} {
		resp := c.must(206, n, "GET", p, nil, "Range", tc.rng)
		if got := body(resp); !bytes.Equal(got, data[tc.start:tc.end]) {
			t.Errorf("%s: got %d bytes, want %d", tc.rng, len(got), tc.end-tc.start)
		}
		if cr := resp.Header.Get("Content-Range"); cr != tc.contentRange {
			t.Errorf("%s: Content-Range %q, want %q", tc.rng, cr, tc.contentRange)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(tc.end-tc.start) {
			t.Errorf("%s: Content-Length %s", tc.rng, cl)
		}
	}
	// Syntactically bad ranges are ignored: the whole object, 200.
	for _, bad := range []string{"bytes=5-3", "bytes=x-1", "bytes=-", "pages=1-2", "bytes=1"} {
		if got := body(c.must(200, n, "GET", p, nil, "Range", bad)); len(got) != size {
			t.Errorf("%s: %d bytes, want the whole object", bad, len(got))
		}
	}
	resp := c.must(416, n, "GET", p, nil, "Range", "bytes=999999-")
	if cr := resp.Header.Get("Content-Range"); cr != "bytes */204800" {
		t.Errorf("416 Content-Range %q", cr)
	}
	// HEAD ignores Range.
	if h := c.must(200, n, "HEAD", p, nil, "Range", "bytes=0-1"); h.Header.Get("Content-Length") != "204800" {
		t.Errorf("HEAD with Range: Content-Length %s", h.Header.Get("Content-Length"))
	}

	// Several ranges: multipart/byteranges with each part's range.
	resp = c.must(206, n, "GET", p, nil, "Range", "bytes=0-4,70000-70009,-3")
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("multi-range Content-Type %q", resp.Header.Get("Content-Type"))
	}
	raw := body(resp)
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(raw)) {
		t.Errorf("multi-range Content-Length %s, body %d", cl, len(raw))
	}
	mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
	want := []struct {
		cr   string
		data []byte
	}{
		{"bytes 0-4/204800", data[0:5]},
		{"bytes 70000-70009/204800", data[70000:70010]},
		{"bytes 204797-204799/204800", data[size-3:]},
	}
	for i, w := range want {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, _ := io.ReadAll(part)
		if part.Header.Get("Content-Range") != w.cr || part.Header.Get("Content-Type") != "text/x-r" || !bytes.Equal(got, w.data) {
			t.Errorf("part %d: %v %q", i, part.Header, got)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after the parts: %v", err)
	}
}

func TestEmptyObjectRanges(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "empty")
	c.must(201, n, "PUT", p, []byte{}, "X-Timestamp", ts(1), "Content-Type", "a/b")
	c.must(200, n, "GET", p, nil, "Range", "bytes=-5")
	c.must(416, n, "GET", p, nil, "Range", "bytes=0-")
}

func TestConditionalRequests(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "cond")
	data := []byte("conditional")
	c.must(201, n, "PUT", p, data, "X-Timestamp", ts(1), "Content-Type", "a/b")
	etag := md5hex(data)
	lm := c.must(200, n, "HEAD", p, nil).Header.Get("Last-Modified")
	lmTime, _ := http.ParseTime(lm)
	before := lmTime.Add(-time.Hour).Format(http.TimeFormat)
	after := lmTime.Add(time.Hour).Format(http.TimeFormat)
	for _, tc := range []struct {
		hdr  []string
		want int
	}{
		{[]string{"If-Match", etag}, 200},
		{[]string{"If-Match", `"` + etag + `"`}, 200},
		{[]string{"If-Match", "*"}, 200},
		{[]string{"If-Match", "nope, " + etag}, 200},
		{[]string{"If-Match", "nope"}, 412},
		{[]string{"If-None-Match", etag}, 304},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-None-Match", "nope"}, 200},
		{[]string{"If-Modified-Since", lm}, 304},
		{[]string{"If-Modified-Since", after}, 304},
		{[]string{"If-Modified-Since", before}, 200},
		{[]string{"If-Modified-Since", "garbage"}, 200},
		{[]string{"If-Unmodified-Since", before}, 412},
		{[]string{"If-Unmodified-Since", lm}, 200},
		{[]string{"If-None-Match", "nope", "If-Modified-Since", lm}, 304},
	} {
		for _, m := range []string{"GET", "HEAD"} {
			resp := c.must(tc.want, n, m, p, nil, tc.hdr...)
			if tc.want != 200 {
				if resp.Header.Get("Etag") != etag {
					t.Errorf("%s %v: %d without the ETag", m, tc.hdr, tc.want)
				}
				if b := body(resp); len(b) != 0 {
					t.Errorf("%s %v: %d with a body %q", m, tc.hdr, tc.want, b)
				}
			}
		}
	}
	missing := c.path(n.dev, "AUTH_a", "c", "missing")
	c.must(412, n, "GET", missing, nil, "If-Match", "*")
	c.must(404, n, "GET", missing, nil, "If-None-Match", "*")
}

// Long ranges are read in runs of blocks: any start and end, across runs,
// must come back exact, alone or as parts of a multipart answer.
func TestLongRanges(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	p := c.path(n.dev, "AUTH_a", "c", "long")
	data := pattern(2*runBlocks*blockSize + 3*blockSize + 123)
	size := len(data)
	c.must(201, n, "PUT", p, data, "X-Timestamp", ts(1), "Content-Type", "text/x-r")
	run := runBlocks * blockSize
	for _, rg := range [][2]int{
		{0, size}, {1, size}, {100000, 2200000}, {run - 1, run + 1}, {run, 2 * run}, {blockSize - 1, 6*blockSize + 1},
		{size - 5*blockSize - 7, size}, {2*run - 3, size - 1},
	} {
		spec := "bytes=" + strconv.Itoa(rg[0]) + "-" + strconv.Itoa(rg[1]-1)
		resp := c.must(206, n, "GET", p, nil, "Range", spec)
		if got := body(resp); !bytes.Equal(got, data[rg[0]:rg[1]]) {
			t.Errorf("%s: %d bytes, not the %d asked for", spec, len(got), rg[1]-rg[0])
		}
	}
	resp := c.must(206, n, "GET", p, nil, "Range", "bytes=10-1500000,1500001-2200000")
	_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for _, want := range [][2]int{{10, 1500001}, {1500001, 2200001}} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(part); !bytes.Equal(got, data[want[0]:want[1]]) {
			t.Errorf("part %v: %d bytes, not the %d asked for", want, len(got), want[1]-want[0])
		}
	}
}
