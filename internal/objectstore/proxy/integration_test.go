package proxy_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const alice, bob = proxytest.Alice, proxytest.Bob

// transID is the form Tempest checks.
var transID = regexp.MustCompile(`^tx[0-9a-f]{21}-[0-9a-f]{10}`)

func TestContainerAndObjectLifecycle(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)

	// A new project's account exists as an empty one.
	resp, _ := c.Do("HEAD", a, alice, nil)
	if resp.StatusCode != 204 || resp.Header.Get("X-Account-Container-Count") != "0" ||
		resp.Header.Get("X-Timestamp") == "" || !transID.MatchString(resp.Header.Get("X-Trans-Id")) ||
		resp.Header.Get("X-Openstack-Request-Id") != resp.Header.Get("X-Trans-Id") || resp.Header.Get("Content-Type") == "" {
		t.Fatalf("HEAD of a new account: %d %v", resp.StatusCode, resp.Header)
	}

	resp, _ = c.Do("PUT", a+"/box", alice, nil, "X-Container-Meta-Color", "blue")
	if resp.StatusCode != 201 || resp.Header.Get("Content-Type") == "" {
		t.Fatalf("container PUT: %d %v", resp.StatusCode, resp.Header)
	}
	c.Must(202, "PUT", a+"/box", alice, nil)
	resp, _ = c.Do("HEAD", a+"/box", alice, nil)
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("X-Container-Meta-Color") != "blue" || h.Get("X-Container-Object-Count") != "0" ||
		h.Get("X-Storage-Policy") != "Policy-0" || h.Get("X-Timestamp") == "" || h.Get("X-Container-Bytes-Used") != "0" {
		t.Fatalf("container HEAD: %d %v", resp.StatusCode, h)
	}

	resp, _ = c.Do("PUT", a+"/box/dir/file.txt", alice, []byte("hello"), "X-Object-Meta-Size", "small")
	if resp.StatusCode != 201 || resp.Header.Get("Etag") != "5d41402abc4b2a76b9719d911017c592" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("object PUT: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := c.Do("GET", a+"/box/dir/file.txt", alice, nil)
	h = resp.Header
	if resp.StatusCode != 200 || string(body) != "hello" || h.Get("Content-Type") != "text/plain" ||
		h.Get("X-Object-Meta-Size") != "small" || h.Get("Etag") != "5d41402abc4b2a76b9719d911017c592" ||
		h.Get("Accept-Ranges") != "bytes" || h.Get("X-Timestamp") == "" || h.Get("Last-Modified") == "" {
		t.Fatalf("object GET: %d %q %v", resp.StatusCode, body, h)
	}
	resp, body = c.Do("HEAD", a+"/box/dir/file.txt", alice, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "5" || len(body) != 0 {
		t.Fatalf("object HEAD: %d %v", resp.StatusCode, resp.Header)
	}

	// POST replaces the object's metadata.
	c.Must(202, "POST", a+"/box/dir/file.txt", alice, nil, "X-Object-Meta-Kind", "greeting")
	resp, _ = c.Do("HEAD", a+"/box/dir/file.txt", alice, nil)
	if resp.Header.Get("X-Object-Meta-Kind") != "greeting" || resp.Header.Get("X-Object-Meta-Size") != "" {
		t.Fatalf("after POST: %v", resp.Header)
	}
	c.Must(404, "POST", a+"/box/missing", alice, nil, "X-Object-Meta-Kind", "x")

	// Container and account metadata.
	c.Must(204, "POST", a+"/box", alice, nil, "X-Container-Meta-Size", "big", "X-Remove-Container-Meta-Color", "x")
	resp, _ = c.Do("HEAD", a+"/box", alice, nil)
	if resp.Header.Get("X-Container-Meta-Size") != "big" || resp.Header.Get("X-Container-Meta-Color") != "" {
		t.Fatalf("container meta after POST: %v", resp.Header)
	}
	c.Must(204, "POST", a, alice, nil, "X-Account-Meta-Owner", "alice")
	resp, _ = c.Do("HEAD", a, alice, nil)
	if resp.Header.Get("X-Account-Meta-Owner") != "alice" {
		t.Fatalf("account meta: %v", resp.Header)
	}
	c.Must(204, "POST", a, alice, nil, "X-Remove-Account-Meta-Owner", "x")
	resp, _ = c.Do("HEAD", a, alice, nil)
	if resp.Header.Get("X-Account-Meta-Owner") != "" {
		t.Fatalf("account meta not removed: %v", resp.Header)
	}

	// Not empty: 409; then empty it and delete.
	c.Must(409, "DELETE", a+"/box", alice, nil)
	c.Must(204, "DELETE", a+"/box/dir/file.txt", alice, nil)
	c.Must(404, "DELETE", a+"/box/dir/file.txt", alice, nil)
	c.Must(404, "GET", a+"/box/dir/file.txt", alice, nil)
	c.Must(204, "DELETE", a+"/box", alice, nil)
	c.Must(404, "HEAD", a+"/box", alice, nil)
	c.Must(404, "DELETE", a+"/box", alice, nil)
	c.Must(404, "PUT", a+"/box/obj", alice, []byte("no container"))

	// Accounts cannot be made or removed through the API.
	resp, _ = c.Do("PUT", a, alice, nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Fatalf("account PUT: %d %v", resp.StatusCode, resp.Header)
	}
	c.Must(405, "DELETE", a, alice, nil)
}

func TestInfo(t *testing.T) {
	c := proxytest.Start(t, proxytest.Options{Info: map[string]any{"slo": map[string]any{"max_manifest_segments": 1000}}})
	resp, body := c.Do("GET", "/info", "", nil)
	var info map[string]map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(body, &info) != nil {
		t.Fatalf("/info: %d %s", resp.StatusCode, body)
	}
	if info["swift"]["max_file_size"] != float64(5<<30) || info["slo"] == nil || info["swift"]["policies"] == nil {
		t.Fatalf("/info = %s", body)
	}
	c.Must(405, "PUT", "/info", "", nil)
}

func TestPathsAndNamesSwiftRefuses(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)
	for _, tc := range []struct {
		method, path string
		want         int
		body         string
	}{
		{"PUT", a + "/box/" + strings.Repeat("o", 1025), 400, "Object name length of 1025 longer than 1024"},
		{"PUT", a + "/" + strings.Repeat("c", 257), 400, "Container name length of 257 longer than 256"},
		{"GET", "/v2" + a[3:], 400, ""},
		{"GET", "/", 404, ""},
		{"GET", "/v1", 412, "Bad URL"},
		{"GET", a + "//obj", 412, "Bad URL"},
		{"PUT", a + "/box/bad%FFname", 412, "Invalid UTF8 or contains NULL"},
		{"PUT", a + "/box/nul%00", 412, "Invalid UTF8 or contains NULL"},
	} {
		resp, body := c.Do(tc.method, tc.path, alice, []byte("x"))
		if resp.StatusCode != tc.want || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("%s %.60s: %d %q, want %d %q", tc.method, tc.path, resp.StatusCode, body, tc.want, tc.body)
		}
	}
	c.Must(201, "PUT", a+"/box/"+strings.Repeat("o", 1024), alice, []byte("x"))
	c.Must(201, "PUT", a+"/"+strings.Repeat("c", 256), alice, nil)
	// An encoded slash is a slash, as in Swift.
	c.Must(201, "PUT", a+"/box/x%2Fy", alice, []byte("slash"))
	if got := c.Must(200, "GET", a+"/box/x/y", alice, nil); string(got) != "slash" {
		t.Fatalf("x%%2Fy read back as x/y: %q", got)
	}
	// ".." is just a name.
	c.Must(201, "PUT", a+"/box/a/../b", alice, []byte("dots"))
	c.Must(404, "GET", a+"/box/b", alice, nil)
	if got := c.Must(200, "GET", a+"/box/a/../b", alice, nil); string(got) != "dots" {
		t.Fatalf("a/../b = %q", got)
	}
}

func TestMetadataLimits(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)
	long := strings.Repeat("k", 129)
	for _, tc := range []struct {
		method, path string
		hdr          []string
		body         string
	}{
		{"PUT", a + "/box/o", []string{"X-Object-Meta-" + long, "v"}, "Metadata name too long: x-object-meta-" + strings.ToUpper(long[:1]) + long[1:]},
		{"PUT", a + "/box/o", []string{"X-Object-Meta-K", strings.Repeat("v", 257)}, "Metadata value longer than 256: x-object-meta-K"},
		{"POST", a + "/box", []string{"X-Container-Meta-K", strings.Repeat("v", 257)}, "Metadata value longer than 256: x-container-meta-K"},
		{"POST", a, []string{"X-Account-Meta-" + long, "v"}, "Metadata name too long: x-account-meta-" + strings.ToUpper(long[:1]) + long[1:]},
		{"PUT", a + "/box/o", []string{"X-Delete-After", "-5"}, "X-Delete-After in past"},
		{"PUT", a + "/box/o", []string{"X-Delete-At", "100"}, "X-Delete-At in past"},
		{"PUT", a + "/box/o", []string{"X-Delete-After", "soon"}, "Non-integer X-Delete-After"},
	} {
		resp, body := c.Do(tc.method, tc.path, alice, []byte("x"), tc.hdr...)
		if resp.StatusCode != 400 || string(body) != tc.body {
			t.Errorf("%s %s %s: %d %q, want 400 %q", tc.method, tc.path, tc.hdr[0][:min(20, len(tc.hdr[0]))], resp.StatusCode, body, tc.body)
		}
	}
	c.Must(404, "GET", a+"/box/o", alice, nil)
	// 90 items are fine, 91 are not.
	var hdr []string
	for i := range 91 {
		hdr = append(hdr, "X-Object-Meta-K"+strconv.Itoa(i), "v")
	}
	resp, body := c.Do("PUT", a+"/box/o", alice, []byte("x"), hdr...)
	if resp.StatusCode != 400 || string(body) != "Too many metadata items; max 90" {
		t.Fatalf("91 items: %d %q", resp.StatusCode, body)
	}
	c.Must(201, "PUT", a+"/box/o", alice, []byte("x"), hdr[:180]...)
}

func TestListings(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	for _, name := range []string{"a", "b", "c"} {
		c.Must(201, "PUT", a+"/"+name, alice, nil)
	}
	for _, name := range []string{"x1", "x2", "y/1", "y/2", "z&<"} {
		c.Must(201, "PUT", a+"/a/"+name, alice, []byte(name), "Content-Type", "text/plain")
	}
	get := func(path string, hdr ...string) (int, string, http.Header) {
		resp, body := c.Do("GET", path, alice, nil, hdr...)
		return resp.StatusCode, string(body), resp.Header
	}
	for _, tc := range []struct {
		query, want string
	}{
		{"", "x1\nx2\ny/1\ny/2\nz&<\n"},
		{"?limit=2", "x1\nx2\n"},
		{"?marker=x2", "y/1\ny/2\nz&<\n"},
		{"?end_marker=y/1", "x1\nx2\n"},
		{"?marker=x1&end_marker=y/2", "x2\ny/1\n"},
		{"?prefix=y/", "y/1\ny/2\n"},
		{"?delimiter=/", "x1\nx2\ny/\nz&<\n"},
		{"?prefix=y/&delimiter=/", "y/1\ny/2\n"},
		{"?reverse=true", "z&<\ny/2\ny/1\nx2\nx1\n"},
		{"?reverse=on&limit=2&marker=y/2", "y/1\nx2\n"},
		{"?path=y", "y/1\ny/2\n"},
	} {
		status, body, _ := get(a + "/a" + tc.query)
		if status != 200 || body != tc.want {
			t.Errorf("GET a%s: %d %q, want %q", tc.query, status, body, tc.want)
		}
	}
	// An empty plain listing is a 204; JSON and XML still have a body.
	if status, body, h := get(a + "/a?prefix=nothing"); status != 204 || body != "" || h.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("empty plain listing: %d %q %v", status, body, h)
	}
	if status, body, _ := get(a + "/a?prefix=nothing&format=json"); status != 200 || body != "[]" {
		t.Errorf("empty json listing: %d %q", status, body)
	}
	status, body, h := get(a + "/a?format=json&limit=1")
	var objs []map[string]any
	if status != 200 || json.Unmarshal([]byte(body), &objs) != nil || len(objs) != 1 || h.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("json listing: %d %q %v", status, body, h)
	}
	if o := objs[0]; o["name"] != "x1" || o["bytes"] != float64(2) || o["hash"] != md5hex([]byte("x1")) ||
		o["content_type"] != "text/plain" || o["last_modified"] == nil {
		t.Fatalf("json entry %v", o)
	}
	status, body, h = get(a+"/a?delimiter=/&prefix=y", "Accept", "application/xml")
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<container name="a"><subdir name="y/"><name>y/</name></subdir></container>`
	if status != 200 || body != want || h.Get("Vary") != "Accept" || h.Get("Content-Type") != "application/xml; charset=utf-8" {
		t.Errorf("xml listing: %d %q %v", status, body, h)
	}
	status, body, _ = get(a + "/a?format=xml&prefix=z")
	if !strings.Contains(body, "<name>z&amp;&lt;</name>") || !strings.Contains(body, "<bytes>3</bytes>") ||
		!strings.Contains(body, "<content_type>text/plain</content_type>") {
		t.Errorf("xml object entry: %d %q", status, body)
	}
	if status, _, _ := get(a+"/a", "Accept", "text/html"); status != 406 {
		t.Errorf("Accept text/html: %d", status)
	}
	if status, body, _ := get(a + "/a?limit=10001"); status != 412 || body != "Maximum limit is 10000" {
		t.Errorf("limit 10001: %d %q", status, body)
	}

	// The account's listing of containers.
	if status, body, _ := get(a); status != 200 || body != "a\nb\nc\n" {
		t.Errorf("account listing: %d %q", status, body)
	}
	if status, body, _ := get(a + "?marker=a&limit=1"); body != "b\n" {
		t.Errorf("account marker/limit: %d %q", status, body)
	}
	if status, body, _ := get(a + "?reverse=1&end_marker=a"); body != "c\nb\n" {
		t.Errorf("account reverse: %d %q", status, body)
	}
	status, body, _ = get(a + "?format=xml&prefix=b")
	if status != 200 || !strings.HasPrefix(body, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<account name="AUTH_alice">`+"\n<container><name>b</name><count>") {
		t.Errorf("account xml: %d %q", status, body)
	}
	var conts []map[string]any
	status, body, _ = get(a + "?format=json")
	if json.Unmarshal([]byte(body), &conts) != nil || len(conts) != 3 || conts[0]["name"] != "a" || conts[0]["count"] == nil {
		t.Errorf("account json: %d %q", status, body)
	}
	resp, _ := c.Do("HEAD", a, alice, nil)
	if resp.Header.Get("X-Account-Container-Count") != "3" || resp.Header.Get("X-Account-Storage-Policy-Policy-0-Container-Count") != "3" {
		t.Errorf("account HEAD: %v", resp.Header)
	}
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }
