package objcopy_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/dlo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/objcopy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

func start(t *testing.T) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Middle: func(core http.Handler) http.Handler { return objcopy.New(slo.New(dlo.New(core))) },
	})
	return c, "/v1/" + c.Account(tok)
}

func md5hex(s string) string {
	b := md5.Sum([]byte(s))
	return hex.EncodeToString(b[:])
}

func TestCopy(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/src", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/dst", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/src/o", tok, []byte("content"),
		"Content-Type", "text/x-src", "X-Object-Meta-A", "1", "X-Object-Meta-B", "2", "Content-Disposition", "inline")

	// PUT with X-Copy-From: metadata merged, the request's wins.
	resp, body := c.Do("PUT", acct+"/dst/p", tok, []byte{}, "X-Copy-From", "src/o", "X-Object-Meta-B", "new")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("copy = %d %s", resp.StatusCode, body)
	}
	for k, v := range map[string]string{
		"X-Copied-From": "src/o", "X-Copied-From-Account": c.Account(tok), "Etag": md5hex("content"),
		"X-Object-Meta-A": "1", "X-Object-Meta-B": "new",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("copy response %s = %q, want %q", k, got, v)
		}
	}
	if resp.Header.Get("X-Copied-From-Last-Modified") == "" {
		t.Error("no X-Copied-From-Last-Modified")
	}
	resp, body = c.Do("GET", acct+"/dst/p", tok, nil)
	if string(body) != "content" || resp.Header.Get("Content-Type") != "text/x-src" || resp.Header.Get("X-Object-Meta-A") != "1" ||
		resp.Header.Get("X-Object-Meta-B") != "new" || resp.Header.Get("Content-Disposition") != "inline" {
		t.Errorf("copy = %q %v", body, resp.Header)
	}

	// An empty metadata value is metadata too (Tempest's
	// test_copy_object_with_x_object_metakey).
	resp, _ = c.Do("COPY", acct+"/src/o", tok, nil, "Destination", "dst/e", "X-Object-Meta-Test", "")
	if v, ok := resp.Header["X-Object-Meta-Test"]; resp.StatusCode != http.StatusCreated || !ok || v[0] != "" || resp.Header.Get("X-Object-Meta-A") != "1" {
		t.Errorf("COPY with an empty value = %d %v", resp.StatusCode, resp.Header)
	}
	// (Whether the stored object keeps the empty value is the core's
	// and the object server's business.)
	// Copying an object onto itself changes its content type.
	c.Must(http.StatusCreated, "PUT", acct+"/dst/e", tok, []byte{}, "X-Copy-From", "dst/e", "Content-Type", "text/plain; charset=UTF-8")
	if resp, body := c.Do("GET", acct+"/dst/e", tok, nil); string(body) != "content" || resp.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Errorf("copy onto itself = %q %v", body, resp.Header)
	}

	// COPY with Destination, fresh metadata.
	resp, _ = c.Do("COPY", acct+"/src/o", tok, nil, "Destination", "/dst/q", "X-Fresh-Metadata", "true",
		"X-Object-Meta-C", "3", "Content-Type", "text/x-new")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("COPY = %d", resp.StatusCode)
	}
	resp, body = c.Do("GET", acct+"/dst/q", tok, nil)
	if string(body) != "content" || resp.Header.Get("X-Object-Meta-A") != "" || resp.Header.Get("X-Object-Meta-C") != "3" ||
		resp.Header.Get("Content-Type") != "text/x-new" {
		t.Errorf("fresh copy = %q %v", body, resp.Header)
	}

	// Across accounts, as someone allowed to write there.
	resp, body = c.Do("COPY", acct+"/src/o", proxytest.Reseller, nil, "Destination", "dst/r", "Destination-Account", c.Account(proxytest.Bob))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("COPY to a missing container of another account = %d %s", resp.StatusCode, body)
	}
	c.Must(http.StatusCreated, "PUT", "/v1/"+c.Account(proxytest.Bob)+"/dst", proxytest.Bob, nil)
	c.Must(http.StatusCreated, "COPY", acct+"/src/o", proxytest.Reseller, nil, "Destination", "dst/r", "Destination-Account", c.Account(proxytest.Bob))
	if body := c.Must(http.StatusOK, "GET", "/v1/"+c.Account(proxytest.Bob)+"/dst/r", proxytest.Bob, nil); string(body) != "content" {
		t.Errorf("cross-account copy = %q", body)
	}
	// Bob may not read Alice's object: the copy is refused as his GET would be.
	resp, _ = c.Do("PUT", "/v1/"+c.Account(proxytest.Bob)+"/dst/s", proxytest.Bob, []byte{}, "X-Copy-From", "src/o", "X-Copy-From-Account", c.Account(tok))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("copy from an unreadable source = %d, want 403", resp.StatusCode)
	}
	c.Must(http.StatusNotFound, "HEAD", "/v1/"+c.Account(proxytest.Bob)+"/dst/s", proxytest.Bob, nil)

	// A range of the source.
	c.Must(http.StatusCreated, "PUT", acct+"/dst/part", tok, []byte{}, "X-Copy-From", "src/o", "Range", "bytes=1-3")
	if body := c.Must(http.StatusOK, "GET", acct+"/dst/part", tok, nil); string(body) != "ont" {
		t.Errorf("ranged copy = %q", body)
	}

	for _, tc := range []struct {
		method, path string
		body         []byte
		hdr          []string
		status       int
		msg          string
	}{
		{"PUT", "/dst/x", []byte("data"), []string{"X-Copy-From", "src/o"}, 400, "Copy requests require a zero byte body"},
		{"PUT", "/dst/x", []byte{}, []string{"X-Copy-From", "src"}, 412, "X-Copy-From header must be of the form <container name>/<object name>"},
		{"PUT", "/dst/x", []byte{}, []string{"X-Copy-From", "src/missing"}, 404, ""},
		{"PUT", "/dst/x", []byte{}, []string{"X-Copy-From", "src/o", "X-Copy-From-Account", "a/b"}, 412, "Account name cannot contain slashes"},
		{"COPY", "/src/o", nil, nil, 412, "Destination header required"},
		{"COPY", "/src/o", nil, []string{"Destination", "dst"}, 412, "Destination header must be of the form <container name>/<object name>"},
		{"COPY", "/src/o", nil, []string{"Destination", "dst/x", "If-Match", `"nope"`}, 412, ""},
		{"COPY", "/src/o", nil, []string{"Destination", "nocontainer/x"}, 404, ""},
	} {
		resp, body := c.Do(tc.method, acct+tc.path, tok, tc.body, tc.hdr...)
		if resp.StatusCode != tc.status || (tc.msg != "" && string(body) != tc.msg) {
			t.Errorf("%s %s %q = %d %q, want %d %q", tc.method, tc.path, tc.hdr, resp.StatusCode, body, tc.status, tc.msg)
		}
	}
	c.Must(http.StatusNotFound, "HEAD", acct+"/dst/x", tok, nil)

	resp, _ = c.Do("OPTIONS", acct+"/src/o", tok, nil)
	if allow := resp.Header.Get("Allow"); !strings.HasSuffix(allow, ", COPY") {
		t.Errorf("OPTIONS Allow = %q", allow)
	}
}

func TestCopyLargeObjects(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/c/seg1", tok, []byte("aaaa"))
	c.Must(http.StatusCreated, "PUT", acct+"/c/seg2", tok, []byte("bbbb"))
	c.Must(http.StatusCreated, "PUT", acct+"/c/slo?multipart-manifest=put", tok, []byte(`[{"path": "c/seg1"}, {"path": "c/seg2"}]`))
	c.Must(http.StatusCreated, "PUT", acct+"/c/dlo", tok, nil, "X-Object-Manifest", "c/seg")

	// Whole copies are plain objects with the content.
	for _, src := range []string{"slo", "dlo"} {
		c.Must(http.StatusCreated, "COPY", acct+"/c/"+src, tok, nil, "Destination", "c/"+src+"-whole")
		resp, body := c.Do("GET", acct+"/c/"+src+"-whole", tok, nil)
		if string(body) != "aaaabbbb" || resp.Header.Get("X-Static-Large-Object") != "" || resp.Header.Get("X-Object-Manifest") != "" ||
			resp.Header.Get("Etag") != md5hex("aaaabbbb") {
			t.Errorf("whole copy of the %s = %q %v", src, body, resp.Header)
		}
	}
	var rows []struct {
		Name, Hash string
		Bytes      int64
		SLOEtag    string `json:"slo_etag"`
	}
	if err := json.Unmarshal(c.Must(http.StatusOK, "GET", acct+"/c?format=json&prefix=slo-whole", tok, nil), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("listing: %v %v", rows, err)
	}
	if r := rows[0]; r.Hash != md5hex("aaaabbbb") || r.Bytes != 8 || r.SLOEtag != "" {
		t.Errorf("listing of the whole copy of the slo = %+v", r)
	}
	if resp, _ := c.Do("HEAD", acct+"/c/slo-whole", tok, nil); resp.Header.Get("X-Object-Sysmeta-Slo-Etag") != "" {
		t.Errorf("whole copy keeps the manifest's sysmeta: %v", resp.Header)
	}

	// With multipart-manifest=get, the manifests are copied.
	c.Must(http.StatusCreated, "COPY", acct+"/c/slo?multipart-manifest=get", tok, nil, "Destination", "c/slo-manifest")
	resp, body := c.Do("GET", acct+"/c/slo-manifest", tok, nil)
	sloEtag := `"` + md5hex(md5hex("aaaa")+md5hex("bbbb")) + `"`
	if string(body) != "aaaabbbb" || resp.Header.Get("X-Static-Large-Object") != "True" || resp.Header.Get("Etag") != sloEtag {
		t.Errorf("manifest copy of the slo = %q %v", body, resp.Header)
	}
	c.Must(http.StatusCreated, "COPY", acct+"/c/dlo?multipart-manifest=get", tok, nil, "Destination", "c/dlo-manifest")
	resp, body = c.Do("GET", acct+"/c/dlo-manifest", tok, nil)
	if string(body) != "aaaabbbb" || resp.Header.Get("X-Object-Manifest") != "c/seg" {
		t.Errorf("manifest copy of the dlo = %q %v", body, resp.Header)
	}
	if got := c.Must(http.StatusOK, "GET", acct+"/c/dlo-manifest?multipart-manifest=get", tok, nil); len(got) != 0 {
		t.Errorf("dlo manifest copy has content %q", got)
	}
}
