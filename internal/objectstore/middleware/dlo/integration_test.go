package dlo_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/dlo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

func start(t *testing.T, o ...dlo.Options) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Middle: func(core http.Handler) http.Handler { return dlo.New(core, o...) },
	})
	return c, "/v1/" + c.Account(tok)
}

func md5hex(s string) string {
	b := md5.Sum([]byte(s))
	return hex.EncodeToString(b[:])
}

func TestDynamicLargeObject(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/segs", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	parts := []string{"one-", "two-", "three"}
	// Put out of order: the listing's name order is what counts.
	for _, i := range []int{2, 0, 1} {
		c.Must(http.StatusCreated, "PUT", fmt.Sprintf("%s/segs/obj/%08d", acct, i), tok, []byte(parts[i]))
	}
	c.Must(http.StatusCreated, "PUT", acct+"/segs/other", tok, []byte("not a segment"))
	c.Must(http.StatusCreated, "PUT", acct+"/c/big", tok, nil, "X-Object-Manifest", "segs/obj/", "Content-Type", "text/x-dlo")

	want := strings.Join(parts, "")
	etag := `"` + md5hex(md5hex(parts[0])+md5hex(parts[1])+md5hex(parts[2])) + `"`
	resp, body := c.Do("GET", acct+"/c/big", tok, nil)
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("GET = %d %q, want %q", resp.StatusCode, body, want)
	}
	for k, v := range map[string]string{"Etag": etag, "Content-Length": fmt.Sprint(len(want)),
		"X-Object-Manifest": "segs/obj/", "Content-Type": "text/x-dlo"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("GET %s = %q, want %q", k, got, v)
		}
	}
	resp, _ = c.Do("HEAD", acct+"/c/big", tok, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Etag") != etag || resp.Header.Get("Content-Length") != fmt.Sprint(len(want)) {
		t.Errorf("HEAD = %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = c.Do("GET", acct+"/c/big", tok, nil, "Range", "bytes=2-9")
	if resp.StatusCode != http.StatusPartialContent || string(body) != want[2:10] ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 2-9/%d", len(want)) {
		t.Errorf("range GET = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = c.Do("GET", acct+"/c/big", tok, nil, "Range", "bytes=0-1,4-5")
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("multi-range GET of a DLO = %d %q, want the whole object as Swift", resp.StatusCode, body)
	}
	resp, _ = c.Do("GET", acct+"/c/big", tok, nil, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match = %d", resp.StatusCode)
	}
	resp, body = c.Do("GET", acct+"/c/big?multipart-manifest=get", tok, nil)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Etag") != md5hex("") {
		t.Errorf("manifest GET = %d %q %v", resp.StatusCode, body, resp.Header)
	}

	// A segment added later shows at once.
	c.Must(http.StatusCreated, "PUT", acct+"/segs/obj/00000003", tok, []byte("+four"))
	if body := c.Must(http.StatusOK, "GET", acct+"/c/big", tok, nil); string(body) != want+"+four" {
		t.Errorf("after a new segment: %q", body)
	}

	resp, body = c.Do("PUT", acct+"/c/bad", tok, nil, "X-Object-Manifest", "/segs")
	if resp.StatusCode != http.StatusBadRequest || string(body) != "X-Object-Manifest must be in the format container/prefix" {
		t.Errorf("bad manifest PUT = %d %q", resp.StatusCode, body)
	}
}

// TestManifestByPost is Tempest's test_object_upload_in_segments: the
// manifest header comes with a POST after the object.
func TestManifestByPost(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	var want string
	for i := range 10 {
		part := fmt.Sprintf("data%d", i)
		want += part
		c.Must(http.StatusCreated, "PUT", fmt.Sprintf("%s/c/lo/%d", acct, i), tok, []byte(part))
	}
	c.Must(http.StatusCreated, "PUT", acct+"/c/lo", tok, []byte{})
	c.Must(http.StatusAccepted, "POST", acct+"/c/lo", tok, nil, "X-Object-Manifest", "c/lo/")
	resp, _ := c.Do("HEAD", acct+"/c/lo", tok, nil)
	if e := resp.Header.Get("Etag"); !strings.HasPrefix(e, `"`) || !strings.HasSuffix(e, `"`) ||
		resp.Header.Get("X-Object-Manifest") != "c/lo/" || resp.Header.Get("Accept-Ranges") != "bytes" ||
		resp.Header.Get("X-Timestamp") == "" || resp.Header.Get("Content-Length") != fmt.Sprint(len(want)) {
		t.Errorf("HEAD = %d %v", resp.StatusCode, resp.Header)
	}
	if body := c.Must(http.StatusOK, "GET", acct+"/c/lo", tok, nil); string(body) != want {
		t.Errorf("GET = %q, want %q", body, want)
	}
}

// TestManySegments reads a large object listed over several pages: with
// more segments than one page lists, the size is not known up front and
// the object goes chunked, without an etag of its own and whole.
func TestManySegments(t *testing.T) {
	c, acct := start(t, dlo.Options{PageSize: 2})
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	var want string
	for i := range 5 {
		part := strings.Repeat(string(rune('a'+i)), i+1)
		want += part
		c.Must(http.StatusCreated, "PUT", fmt.Sprintf("%s/c/seg/%d", acct, i), tok, []byte(part))
	}
	c.Must(http.StatusCreated, "PUT", acct+"/c/many", tok, nil, "X-Object-Manifest", "c/seg/")
	resp, body := c.Do("GET", acct+"/c/many", tok, nil, "Range", "bytes=1-2")
	if resp.StatusCode != http.StatusOK || string(body) != want || resp.Header.Get("Content-Length") != "" ||
		resp.Header.Get("Etag") != `"`+md5hex("")+`"` && resp.Header.Get("Etag") != md5hex("") {
		t.Errorf("GET = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// Two segments fit a page: the object is known whole.
	c.Must(http.StatusCreated, "PUT", acct+"/c/few", tok, nil, "X-Object-Manifest", "c/seg/4")
	resp, body = c.Do("GET", acct+"/c/few", tok, nil)
	if string(body) != "eeeee" || resp.Header.Get("Content-Length") != "5" {
		t.Errorf("one-page GET = %q %v", body, resp.Header)
	}
	// A segment container that cannot be listed.
	c.Must(http.StatusCreated, "PUT", acct+"/c/nowhere", tok, nil, "X-Object-Manifest", "missing/x")
	resp, _ = c.Do("GET", acct+"/c/nowhere", tok, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("manifest of a missing container = %d", resp.StatusCode)
	}
	// Another's segments: the listing is refused to the caller.
	bob := "/v1/" + c.Account(proxytest.Bob)
	c.Must(http.StatusCreated, "PUT", bob+"/pub", proxytest.Bob, nil, "X-Container-Read", ".r:*")
	c.Must(http.StatusCreated, "PUT", bob+"/pub/steal", proxytest.Bob, nil, "X-Object-Manifest", "private/x")
	resp, _ = c.Do("GET", bob+"/pub/steal", "", nil)
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET through a manifest of an unreadable container = %d", resp.StatusCode)
	}
}
