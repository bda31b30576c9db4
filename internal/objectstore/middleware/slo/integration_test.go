package slo_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/dlo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

func start(t *testing.T) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Middle: func(core http.Handler) http.Handler { return slo.New(dlo.New(core)) },
	})
	return c, "/v1/" + c.Account(tok)
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// segments puts n objects "c/seg-i" whose content is a run of one byte.
func segments(t *testing.T, c *proxytest.Cluster, acct string, sizes ...int) [][]byte {
	t.Helper()
	var out [][]byte
	for i, n := range sizes {
		b := bytes.Repeat([]byte{byte('a' + i)}, n)
		c.Must(http.StatusCreated, "PUT", fmt.Sprintf("%s/c/seg-%d", acct, i), tok, b)
		out = append(out, b)
	}
	return out
}

func TestPutGetHeadStaticLargeObject(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	segs := segments(t, c, acct, 5, 7, 3)
	manifest := fmt.Sprintf(`[{"path": "/c/seg-0", "etag": %q, "size_bytes": 5},
		{"path": "c/seg-1", "range": "1-3"}, {"data": "eHl6"}, {"path": "/c/seg-2"}]`, md5hex(segs[0]))
	resp, body := c.Do("PUT", acct+"/c/big?multipart-manifest=put", tok, []byte(manifest), "Content-Type", "text/x-big")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest: %d %s", resp.StatusCode, body)
	}
	want := string(segs[0]) + string(segs[1][1:4]) + "xyz" + string(segs[2])
	parts := md5hex(segs[0]) + md5hex(segs[1]) + ":1-3;" + md5hex([]byte("xyz")) + md5hex(segs[2])
	etag := `"` + md5hex([]byte(parts)) + `"`
	if got := resp.Header.Get("Etag"); got != etag {
		t.Errorf("PUT Etag = %s, want %s", got, etag)
	}

	resp, body = c.Do("GET", acct+"/c/big", tok, nil)
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("GET = %d %q, want %q", resp.StatusCode, body, want)
	}
	for k, v := range map[string]string{
		"Etag": etag, "Content-Length": fmt.Sprint(len(want)), "X-Static-Large-Object": "True",
		"Content-Type": "text/x-big",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("GET %s = %q, want %q", k, got, v)
		}
	}

	resp, _ = c.Do("HEAD", acct+"/c/big", tok, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != fmt.Sprint(len(want)) || resp.Header.Get("Etag") != etag {
		t.Fatalf("HEAD = %d %v", resp.StatusCode, resp.Header)
	}

	// One range across segment boundaries, and inline data.
	resp, body = c.Do("GET", acct+"/c/big", tok, nil, "Range", "bytes=3-9")
	if resp.StatusCode != http.StatusPartialContent || string(body) != want[3:10] ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 3-9/%d", len(want)) {
		t.Fatalf("range GET = %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	resp, body = c.Do("GET", acct+"/c/big", tok, nil, "Range", "bytes=-4")
	if resp.StatusCode != http.StatusPartialContent || string(body) != want[len(want)-4:] {
		t.Fatalf("suffix range GET = %d %q", resp.StatusCode, body)
	}
	resp, _ = c.Do("GET", acct+"/c/big", tok, nil, "Range", "bytes=100-")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(want)) {
		t.Fatalf("unsatisfiable range = %d %v", resp.StatusCode, resp.Header)
	}

	// Several ranges: multipart/byteranges.
	resp, body = c.Do("GET", acct+"/c/big", tok, nil, "Range", "bytes=0-1,6-8,12-")
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("multi-range GET = %d", resp.StatusCode)
	}
	if fmt.Sprint(len(body)) != resp.Header.Get("Content-Length") {
		t.Errorf("multi-range Content-Length %s, body %d bytes", resp.Header.Get("Content-Length"), len(body))
	}
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "multipart/byteranges" {
		t.Fatalf("multi-range Content-Type = %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var got []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		got = append(got, p.Header.Get("Content-Range")+"="+string(b))
	}
	wantParts := []string{
		fmt.Sprintf("bytes 0-1/%d=%s", len(want), want[0:2]),
		fmt.Sprintf("bytes 6-8/%d=%s", len(want), want[6:9]),
		fmt.Sprintf("bytes 12-13/%d=%s", len(want), want[12:]),
	}
	if strings.Join(got, "|") != strings.Join(wantParts, "|") {
		t.Errorf("parts = %q, want %q", got, wantParts)
	}

	// Conditions apply to the large object's etag.
	resp, _ = c.Do("GET", acct+"/c/big", tok, nil, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: its etag = %d, want 304", resp.StatusCode)
	}
	resp, _ = c.Do("GET", acct+"/c/big", tok, nil, "If-Match", `"nope"`)
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("If-Match: other etag = %d, want 412", resp.StatusCode)
	}
	resp, body = c.Do("GET", acct+"/c/big", tok, nil, "If-Match", etag)
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("If-Match: its etag = %d %q", resp.StatusCode, body)
	}

	// The manifest as stored and as put.
	resp, body = c.Do("GET", acct+"/c/big?multipart-manifest=get", tok, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("manifest GET = %d %v", resp.StatusCode, resp.Header)
	}
	var stored []map[string]any
	if err := json.Unmarshal(body, &stored); err != nil || len(stored) != 4 || stored[0]["name"] != "/c/seg-0" ||
		stored[1]["range"] != "1-3" || stored[2]["data"] != "eHl6" || stored[3]["bytes"] != float64(3) {
		t.Fatalf("manifest = %s (%v)", body, err)
	}
	resp, body = c.Do("GET", acct+"/c/big?multipart-manifest=get&format=raw", tok, nil)
	wantRaw := fmt.Sprintf(`[{"etag": "%s", "path": "/c/seg-0", "size_bytes": 5}, {"etag": "%s", "path": "/c/seg-1", "range": "1-3", "size_bytes": 7}, {"data": "eHl6"}, {"etag": "%s", "path": "/c/seg-2", "size_bytes": 3}]`,
		md5hex(segs[0]), md5hex(segs[1]), md5hex(segs[2]))
	if resp.StatusCode != http.StatusOK || string(body) != wantRaw || resp.Header.Get("Content-Type") != "text/x-big" ||
		resp.Header.Get("Etag") != md5hex(body) {
		t.Fatalf("raw manifest = %d %v\n%s\nwant\n%s", resp.StatusCode, resp.Header, body, wantRaw)
	}

	// The listing shows the large object's size and both etags.
	body = c.Must(http.StatusOK, "GET", acct+"/c?format=json", tok, nil)
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil {
		t.Fatal(err)
	}
	if rows[0]["name"] != "big" || rows[0]["bytes"] != float64(len(want)) || rows[0]["content_type"] != "text/x-big" {
		t.Errorf("listing row = %v", rows[0])
	}
	if rows[0]["slo_etag"] != etag || rows[0]["hash"] != md5hex(c.Must(http.StatusOK, "GET", acct+"/c/big?multipart-manifest=get", tok, nil)) {
		t.Errorf("listing hash %v slo_etag %v, want the manifest's MD5 and %s", rows[0]["hash"], rows[0]["slo_etag"], etag)
	}
	body = c.Must(http.StatusOK, "GET", acct+"/c?format=xml", tok, nil)
	if !bytes.Contains(body, []byte("<name>big</name><hash>"+rows[0]["hash"].(string)+"</hash>")) {
		t.Errorf("XML listing = %s", body)
	}
}

// TestOddNames: segment names with "?", "#", "%" and non-ASCII letters
// are names, not URL syntax, all the way through.
func TestOddNames(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	names := []string{"what?x=1", "hash#tag", "100%", "café/ünï"}
	var manifest []string
	var want string
	for i, n := range names {
		body := strings.Repeat(string(rune('a'+i)), 2)
		want += body
		req := c.Request("PUT", acct+"/c/x", tok, []byte(body))
		req.URL.Path = acct + "/c/" + n
		req.URL.RawPath = ""
		if resp, _ := c.Send(req); resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %q = %d", n, resp.StatusCode)
		}
		b, _ := json.Marshal("/c/" + n)
		manifest = append(manifest, `{"path": `+string(b)+`}`)
	}
	c.Must(http.StatusCreated, "PUT", acct+"/c/big?multipart-manifest=put", tok, []byte("["+strings.Join(manifest, ",")+"]"))
	if body := c.Must(http.StatusOK, "GET", acct+"/c/big", tok, nil); string(body) != want {
		t.Errorf("GET = %q, want %q", body, want)
	}
	_, body := c.Do("DELETE", acct+"/c/big?multipart-manifest=delete", tok, nil)
	if !strings.Contains(string(body), "Number Deleted: 5\n") {
		t.Errorf("multipart delete = %q", body)
	}
	if resp, body := c.Do("GET", acct+"/c", tok, nil); len(body) != 0 {
		t.Errorf("left in the container: %d %q", resp.StatusCode, body)
	}
}
