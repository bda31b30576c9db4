package tempurl_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/tempurl"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

// start runs tempurl in front of auth and the real core, as the proxy
// pipeline does.
func start(t *testing.T) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Front: func(auth http.Handler) http.Handler { return tempurl.New(auth) },
	})
	return c, "/v1/" + c.Account(tok)
}

func signed(method, key, path string, expires int64) string {
	return path + "?temp_url_sig=" + tempurl.HMAC("sha256", key, tempurl.Message(method, expires, path, "")) +
		"&temp_url_expires=" + strconv.FormatInt(expires, 10)
}

// As Tempest's test_object_temp_url: an account key, GET, HEAD, PUT
// through temp URLs without a token.
func TestTempURLsThroughTheCore(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusNoContent, "POST", acct, tok, nil, "X-Account-Meta-Temp-URL-Key", "Meta")
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/c/obj", tok, []byte("content"), "X-Object-Meta-Private", "p")
	exp := time.Now().Unix() + 600

	// Without a temp URL the object is private.
	c.Must(http.StatusUnauthorized, "GET", acct+"/c/obj", "", nil)

	resp, body := c.Do("GET", signed("GET", "Meta", acct+"/c/obj", exp), "", nil)
	if resp.StatusCode != 200 || string(body) != "content" {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="obj"; filename*=UTF-8''obj` {
		t.Errorf("Content-Disposition = %q", got)
	}
	if resp.Header.Get("X-Object-Meta-Private") != "" || resp.Header.Get("Etag") == "" || resp.Header.Get("X-Trans-Id") == "" {
		t.Errorf("headers %v", resp.Header)
	}
	// A token sent along does no harm (Tempest sends one).
	if resp, _ := c.Do("HEAD", signed("GET", "Meta", acct+"/c/obj", exp), tok, nil); resp.StatusCode != 200 {
		t.Errorf("HEAD with GET signature and a token = %d", resp.StatusCode)
	}
	// Inline.
	resp, _ = c.Do("GET", signed("GET", "Meta", acct+"/c/obj", exp)+"&inline", "", nil)
	if resp.Header.Get("Content-Disposition") != "inline" {
		t.Errorf("inline: %v", resp.Header)
	}

	// PUT through a temp URL, then read it back.
	c.Must(http.StatusCreated, "PUT", signed("PUT", "Meta", acct+"/c/new", exp), "", []byte("uploaded"))
	if got := c.Must(http.StatusOK, "GET", acct+"/c/new", tok, nil); string(got) != "uploaded" {
		t.Errorf("uploaded object = %q", got)
	}
	// The signature is for one method and one object.
	for _, tc := range []struct{ method, path string }{
		{"DELETE", signed("PUT", "Meta", acct+"/c/new", exp)},
		{"GET", strings.Replace(signed("GET", "Meta", acct+"/c/obj", exp), "/c/obj?", "/c/new?", 1)},
		{"GET", signed("GET", "Meta", acct+"/c/obj", time.Now().Unix()-1)},
		{"GET", signed("GET", "other", acct+"/c/obj", exp)},
	} {
		resp, body := c.Do(tc.method, tc.path, "", nil)
		if resp.StatusCode != 401 || string(body) != "401 Unauthorized: Temp URL invalid\n" {
			t.Errorf("%s %s = %d %q", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	c.Must(http.StatusOK, "GET", acct+"/c/new", tok, nil)

	// Another project's account: its keys, not ours, sign for it.
	bob := "/v1/" + c.Account(proxytest.Bob)
	c.Must(http.StatusCreated, "PUT", bob+"/c", proxytest.Bob, nil)
	c.Must(http.StatusCreated, "PUT", bob+"/c/o", proxytest.Bob, []byte("bob's"))
	c.Must(http.StatusUnauthorized, "GET", signed("GET", "Meta", bob+"/c/o", exp), "", nil)
}

// As Tempest's test_get_object_using_temp_url_with_prefix: a container
// key and a prefix URL, anonymous.
func TestPrefixURLWithContainerKey(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil, "X-Container-Meta-Temp-URL-Key", "ckey")
	c.Must(http.StatusCreated, "PUT", acct+"/c/public/file.txt", tok, []byte("shared"))
	c.Must(http.StatusCreated, "PUT", acct+"/c/private.txt", tok, []byte("secret"))
	exp := time.Now().Unix() + 300
	sig := tempurl.HMAC("sha256", "ckey", tempurl.Message("GET", exp, "prefix:"+acct+"/c/public", ""))
	q := "?temp_url_sig=" + sig + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_prefix=public"
	if got := c.Must(http.StatusOK, "GET", acct+"/c/public/file.txt"+q, "", nil); string(got) != "shared" {
		t.Errorf("prefix GET = %q", got)
	}
	c.Must(http.StatusUnauthorized, "GET", acct+"/c/private.txt"+q, "", nil)
	// The temp URL key is the owner's secret: a temp URL does not show it.
	resp, _ := c.Do("HEAD", acct+"/c/public/file.txt"+q, "", nil)
	if resp.Header.Get("X-Container-Meta-Temp-Url-Key") != "" {
		t.Error("key shown")
	}
}
