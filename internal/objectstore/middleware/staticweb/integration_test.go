package staticweb_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/staticweb"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/tempurl"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

// start runs staticweb after auth and tempurl before it, as the proxy
// pipeline does, in front of the real core.
func start(t *testing.T) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Middle: func(core http.Handler) http.Handler { return staticweb.New(core) },
		Front:  func(auth http.Handler) http.Handler { return tempurl.New(auth) },
	})
	c.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, "/v1/" + c.Account(tok)
}

// site makes Tempest's public container with one object.
func site(t *testing.T, c *proxytest.Cluster, acct string, meta ...string) {
	t.Helper()
	c.Must(http.StatusCreated, "PUT", acct+"/web", tok, nil, "X-Container-Read", ".r:*,.rlistings")
	c.Must(http.StatusCreated, "PUT", acct+"/web/page.html", tok, []byte("<p>hello</p>"), "Content-Type", "text/html")
	if len(meta) > 0 {
		c.Must(http.StatusNoContent, "POST", acct+"/web", tok, nil, meta...)
	}
}

func TestWebIndex(t *testing.T) {
	c, acct := start(t)
	site(t, c, acct, "X-Container-Meta-Web-Index", "page.html")
	resp, _ := c.Do("GET", acct+"/web", "", nil)
	if resp.StatusCode != 301 || resp.Header.Get("Location") != c.URL+acct+"/web/" {
		t.Fatalf("GET container = %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := c.Do("GET", acct+"/web/", "", nil)
	if resp.StatusCode != 200 || string(body) != "<p>hello</p>" {
		t.Fatalf("GET container/ = %d %q", resp.StatusCode, body)
	}
	// The index page answers as the object does (Tempest's assertHeaders).
	for _, h := range []string{"Etag", "Last-Modified", "X-Timestamp", "X-Trans-Id", "Content-Length"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s in %v", h, resp.Header)
		}
	}
	// The owner with a token gets the API, unless asking for the site.
	resp, body = c.Do("GET", acct+"/web", tok, nil)
	if resp.StatusCode != 200 || string(body) != "page.html\n" {
		t.Errorf("owner GET = %d %q", resp.StatusCode, body)
	}
	resp, body = c.Do("GET", acct+"/web/", tok, nil, "X-Web-Mode", "true")
	if resp.StatusCode != 200 || string(body) != "<p>hello</p>" {
		t.Errorf("owner in web mode = %d %q", resp.StatusCode, body)
	}
	// Without .rlistings, a visitor may read objects but not the site's
	// root, as in Swift.
	c.Must(http.StatusNoContent, "POST", acct+"/web", tok, nil, "X-Container-Read", ".r:*")
	c.Must(http.StatusUnauthorized, "GET", acct+"/web/", "", nil)
	c.Must(http.StatusOK, "GET", acct+"/web/page.html", "", nil)
}

func TestWebListingCSSAndError(t *testing.T) {
	c, acct := start(t)
	site(t, c, acct, "X-Container-Meta-Web-Listings", "true", "X-Container-Meta-Web-Listings-Css", "listings.css")
	c.Must(http.StatusCreated, "PUT", acct+"/web/dir/a.txt", tok, []byte("a"))
	resp, body := c.Do("GET", acct+"/web/", "", nil)
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, `<a href="./page%2Ehtml">page.html</a>`) ||
		!strings.Contains(page, `<a href="./dir/">dir/</a>`) ||
		!strings.Contains(page, `<link rel="stylesheet" type="text/css" href="listings.css" />`) {
		t.Fatalf("listing = %d %s", resp.StatusCode, page)
	}
	for _, h := range []string{"Content-Length", "Content-Type", "X-Trans-Id"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s in %v", h, resp.Header)
		}
	}
	// A directory: redirected to its slash, then listed with a parent
	// link and the style sheet one level up.
	resp, _ = c.Do("GET", acct+"/web/dir", "", nil)
	if resp.StatusCode != 301 || resp.Header.Get("Location") != c.URL+acct+"/web/dir/" {
		t.Fatalf("GET dir = %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = c.Do("GET", acct+"/web/dir/", "", nil)
	page = string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, `<a href="../">../</a>`) || !strings.Contains(page, `href="../listings.css"`) ||
		!strings.Contains(page, `<a href="./a%2Etxt">a.txt</a>`) || strings.Contains(page, "page.html") {
		t.Fatalf("dir listing = %d %s", resp.StatusCode, page)
	}
	// Tempest's test_web_error: a missing page gets 404<Web-Error>.
	c.Must(http.StatusNoContent, "POST", acct+"/web", tok, nil, "X-Container-Meta-Web-Error", "page.html")
	c.Must(http.StatusCreated, "PUT", acct+"/web/404page.html", tok, []byte("not here"))
	resp, body = c.Do("GET", acct+"/web/notexisting", "", nil)
	if resp.StatusCode != 404 || string(body) != "not here" {
		t.Fatalf("missing page = %d %q", resp.StatusCode, body)
	}
	c.Must(http.StatusNotFound, "GET", acct+"/web/nodir/", "", nil)
}

func TestDirectoryMarkersAndIndexes(t *testing.T) {
	c, acct := start(t)
	site(t, c, acct, "X-Container-Meta-Web-Index", "index.html")
	c.Must(http.StatusCreated, "PUT", acct+"/web/docs", tok, []byte{}, "Content-Type", "application/directory")
	c.Must(http.StatusCreated, "PUT", acct+"/web/docs/index.html", tok, []byte("docs index"))
	c.Must(http.StatusCreated, "PUT", acct+"/web/empty", tok, []byte{}, "Content-Type", "application/directory")
	// The marker is no page: its index is, behind a redirect.
	resp, _ := c.Do("GET", acct+"/web/docs", "", nil)
	if resp.StatusCode != 301 || resp.Header.Get("Location") != c.URL+acct+"/web/docs/" {
		t.Fatalf("GET docs = %d %v", resp.StatusCode, resp.Header)
	}
	if body := c.Must(http.StatusOK, "GET", acct+"/web/docs/", "", nil); string(body) != "docs index" {
		t.Errorf("docs/ = %q", body)
	}
	// No index and no listings: the listing-disabled page.
	resp, body := c.Do("GET", acct+"/web/", "", nil)
	if resp.StatusCode != 404 || !strings.Contains(string(body), "Web Listing Disabled") ||
		!strings.Contains(string(body), "X-Container-Meta-Web-Index: index.html") {
		t.Errorf("root without index = %d %q", resp.StatusCode, body)
	}
	// An empty directory marker with nothing under it is not found.
	c.Must(http.StatusNotFound, "GET", acct+"/web/empty", "", nil)
	// HEAD follows the same paths without bodies.
	resp, body = c.Do("HEAD", acct+"/web/docs/", "", nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Length") != "10" {
		t.Errorf("HEAD docs/ = %d %v", resp.StatusCode, resp.Header)
	}
}

// A prefix temp URL lists its part of a private container, with links
// that carry the temp URL.
func TestListingThroughTempURL(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/priv", tok, nil,
		"X-Container-Meta-Temp-URL-Key", "k", "X-Container-Meta-Web-Listings", "true")
	c.Must(http.StatusCreated, "PUT", acct+"/priv/pub/a.txt", tok, []byte("a"))
	c.Must(http.StatusCreated, "PUT", acct+"/priv/secret.txt", tok, []byte("s"))
	c.Must(http.StatusUnauthorized, "GET", acct+"/priv/pub/", "", nil)
	exp := time.Now().Unix() + 300
	sig := tempurl.HMAC("sha256", "k", tempurl.Message("GET", exp, "prefix:"+acct+"/priv/pub/", ""))
	q := "?temp_url_sig=" + sig + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_prefix=pub/"
	resp, body := c.Do("GET", acct+"/priv/pub/"+q, "", nil)
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, `<a href="./a%2Etxt?temp_url_prefix=pub/&amp;temp_url_expires=`) ||
		strings.Contains(page, "secret") || resp.Header.Get("Content-Disposition") != "inline" {
		t.Fatalf("listing through temp URL = %d %v %s", resp.StatusCode, resp.Header, page)
	}
	if got := c.Must(http.StatusOK, "GET", acct+"/priv/pub/a.txt"+q, "", nil); string(got) != "a" {
		t.Errorf("object through temp URL = %q", got)
	}
}
