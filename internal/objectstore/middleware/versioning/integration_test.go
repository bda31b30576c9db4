package versioning_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/versioning"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

func start(t *testing.T) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Middle: func(core http.Handler) http.Handler { return versioning.New(core) },
	})
	return c, "/v1/" + c.Account(tok)
}

type entry struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Bytes       int    `json:"bytes"`
}

func list(t *testing.T, c *proxytest.Cluster, path string) []entry {
	t.Helper()
	var out []entry
	body := c.Must(http.StatusOK, "GET", path+"?format=json", tok, nil)
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("listing %s: %v in %q", path, err, body)
	}
	return out
}

func count(t *testing.T, c *proxytest.Cluster, path string) (string, string) {
	t.Helper()
	resp, _ := c.Do("HEAD", path, tok, nil)
	return resp.Header.Get("X-Container-Object-Count"), resp.Header.Get("X-Container-Bytes-Used")
}

// As Tempest's test_versioned_container.
func TestStackModeThroughTheCore(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/vers", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/base", tok, nil, "X-Versions-Location", "vers")
	resp, _ := c.Do("HEAD", acct+"/base", tok, nil)
	if resp.Header.Get("X-Versions-Location") != "vers" {
		t.Fatalf("HEAD base: %v", resp.Header)
	}
	resp, _ = c.Do("HEAD", acct+"/vers", tok, nil)
	if resp.Header.Get("X-Versions-Location") != "" {
		t.Errorf("archive shows a location: %v", resp.Header)
	}
	one, two := strings.Repeat("1", 1024), strings.Repeat("2", 1024)
	c.Must(http.StatusCreated, "PUT", acct+"/base/obj", tok, []byte(one), "X-Object-Meta-V", "one")
	c.Must(http.StatusCreated, "PUT", acct+"/base/obj", tok, []byte(two))
	if got := c.Must(http.StatusOK, "GET", acct+"/base/obj", tok, nil); string(got) != two {
		t.Fatal("current is not version 2")
	}
	arch := list(t, c, acct+"/vers")
	if len(arch) != 1 || !strings.HasPrefix(arch[0].Name, "003obj/") || arch[0].Bytes != 1024 {
		t.Fatalf("archive %+v", arch)
	}
	c.Must(http.StatusNoContent, "DELETE", acct+"/base/obj", tok, nil)
	resp, got := c.Do("GET", acct+"/base/obj", tok, nil)
	if string(got) != one || resp.Header.Get("X-Object-Meta-V") != "one" {
		t.Fatalf("after DELETE: %q %v", got[:min(len(got), 10)], resp.Header)
	}
	if n, b := count(t, c, acct+"/base"); n != "1" || b != "1024" {
		t.Errorf("base holds %s objects, %s bytes", n, b)
	}
	c.Must(http.StatusNoContent, "DELETE", acct+"/base/obj", tok, nil)
	for _, cont := range []string{"/base", "/vers"} {
		if n, b := count(t, c, acct+cont); n != "0" || b != "0" {
			t.Errorf("%s holds %s objects, %s bytes", cont, n, b)
		}
	}
	c.Must(http.StatusNotFound, "GET", acct+"/base/obj", tok, nil)
}

func TestHistoryModeThroughTheCore(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/hist", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/base", tok, nil)
	c.Must(http.StatusNoContent, "POST", acct+"/base", tok, nil, "X-History-Location", "hist")
	resp, _ := c.Do("GET", acct+"/base", tok, nil)
	if resp.Header.Get("X-History-Location") != "hist" || resp.Header.Get("X-Versions-Location") != "" {
		t.Fatalf("GET base: %v", resp.Header)
	}
	c.Must(http.StatusCreated, "PUT", acct+"/base/o", tok, []byte("a"))
	c.Must(http.StatusCreated, "PUT", acct+"/base/o", tok, []byte("bb"))
	c.Must(http.StatusNoContent, "DELETE", acct+"/base/o", tok, nil)
	c.Must(http.StatusNotFound, "GET", acct+"/base/o", tok, nil)
	arch := list(t, c, acct+"/hist")
	if len(arch) != 3 || arch[0].Bytes != 1 || arch[1].Bytes != 2 || arch[2].ContentType != versioning.DeleteMarkerType {
		t.Fatalf("archive %+v", arch)
	}
	// A reader may not write: nothing is archived for a refused PUT or
	// DELETE, and the object stays.
	c.Must(http.StatusCreated, "PUT", acct+"/base/o", tok, []byte("ccc"))
	before := len(list(t, c, acct+"/hist"))
	c.Must(http.StatusForbidden, "PUT", acct+"/base/o", proxytest.Reader, []byte("dddd"))
	c.Must(http.StatusForbidden, "DELETE", acct+"/base/o", proxytest.Reader, nil)
	c.Must(http.StatusUnauthorized, "DELETE", acct+"/base/o", "", nil)
	if after := list(t, c, acct+"/hist"); len(after) != before {
		t.Errorf("refused writes changed the archive: %+v", after)
	}
	if got := c.Must(http.StatusOK, "GET", acct+"/base/o", tok, nil); string(got) != "ccc" {
		t.Errorf("object = %q", got)
	}
	// Removing the location stops versioning.
	c.Must(http.StatusNoContent, "POST", acct+"/base", tok, nil, "X-Remove-History-Location", "x")
	resp, _ = c.Do("HEAD", acct+"/base", tok, nil)
	if resp.Header.Get("X-History-Location") != "" || resp.Header.Get("X-Versions-Location") != "" {
		t.Errorf("after removal: %v", resp.Header)
	}
	c.Must(http.StatusCreated, "PUT", acct+"/base/o", tok, []byte("e"))
	if after := list(t, c, acct+"/hist"); len(after) != before {
		t.Errorf("unversioned PUT archived: %+v", after)
	}
}

func TestArchiveContainerMissing(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/base", tok, nil, "X-Versions-Location", "nowhere")
	c.Must(http.StatusCreated, "PUT", acct+"/base/o", tok, []byte("1"))
	c.Must(http.StatusPreconditionFailed, "PUT", acct+"/base/o", tok, []byte("2"))
	if got := c.Must(http.StatusOK, "GET", acct+"/base/o", tok, nil); string(got) != "1" {
		t.Errorf("object = %q", got)
	}
	resp, body := c.Do("PUT", acct+"/other", tok, nil, "X-Versions-Location", "a/b")
	if resp.StatusCode != 412 || string(body) != "Container name cannot contain slashes" {
		t.Errorf("slash = %d %q", resp.StatusCode, body)
	}
	resp, body = c.Do("PUT", acct+"/other", tok, nil, "X-Versions-Location", "a", "X-History-Location", "b")
	if resp.StatusCode != 400 || !strings.HasPrefix(string(body), "Only one of") {
		t.Errorf("both = %d %q", resp.StatusCode, body)
	}
	c.Must(http.StatusNotFound, "HEAD", acct+"/other", tok, nil)
}
