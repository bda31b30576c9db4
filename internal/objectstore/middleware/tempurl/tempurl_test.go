package tempurl

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

type fixture struct {
	fake *fakeSwift
	srv  *httptest.Server
	now  time.Time
}

func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{fake: newFake(), now: time.Unix(1700000000, 0)}
	f.fake.meta["/v1/AUTH_a"] = http.Header{"X-Account-Meta-Temp-Url-Key": {"acctkey"}, "X-Account-Meta-Temp-Url-Key-2": {"acctkey2"}}
	f.fake.meta["/v1/AUTH_a/c"] = http.Header{"X-Container-Meta-Temp-Url-Key": {"contkey"}}
	f.fake.meta["/v1/AUTH_a/other"] = http.Header{}
	f.fake.objects["/v1/AUTH_a/c/dir/o.txt"] = fakeObject{http.Header{
		"Content-Type":               {"text/plain"},
		"X-Object-Meta-Secret":       {"s"},
		"X-Object-Meta-Public-Color": {"blue"},
	}, "hello"}
	f.fake.objects["/v1/AUTH_a/c/d.bin"] = fakeObject{http.Header{"Content-Disposition": {"attachment; filename=stored"}}, "x"}
	f.srv = httptest.NewServer(New(f.fake, Options{Now: func() time.Time { return f.now }}))
	t.Cleanup(f.srv.Close)
	return f
}

// sign computes a temp URL query the way a client does.
func sign(digest, method, key string, expires int64, path string) string {
	return "temp_url_sig=" + HMAC(digest, key, Message(method, expires, path, "")) + "&temp_url_expires=" + strconv.FormatInt(expires, 10)
}

func (f *fixture) do(t *testing.T, method, pathQuery string, hdr http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+pathQuery, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestValidURLsGrantAccess(t *testing.T) {
	f := setup(t)
	exp := f.now.Unix() + 60
	obj := "/v1/AUTH_a/c/dir/o.txt"
	for _, tc := range []struct {
		name, query string
	}{
		{"sha1 account key", sign("sha1", "GET", "acctkey", exp, obj)},
		{"sha256 second account key", sign("sha256", "GET", "acctkey2", exp, obj)},
		{"sha512 container key", sign("sha512", "GET", "contkey", exp, obj)},
		{"sha512 base64", "temp_url_sig=sha512:" + b64url(HMAC("sha512", "acctkey", Message("GET", exp, obj, ""))) + "&temp_url_expires=" + strconv.FormatInt(exp, 10)},
		{"iso 8601 expiry", "temp_url_sig=" + HMAC("sha256", "acctkey", Message("GET", exp, obj, "")) + "&temp_url_expires=" + time.Unix(exp, 0).UTC().Format("2006-01-02T15:04:05Z")},
		{"prefix", "temp_url_sig=" + HMAC("sha256", "contkey", Message("GET", exp, "prefix:/v1/AUTH_a/c/dir/", "")) + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_prefix=dir/"},
		{"address range", "temp_url_sig=" + HMAC("sha256", "acctkey", Message("GET", exp, obj, "127.0.0.0/8")) + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_ip_range=127.0.0.0/8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", obj+"?"+tc.query+"&format=json", http.Header{"X-Auth-Token": {"stale"}}, "")
			if resp.StatusCode != 200 || body != "hello" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			want := `attachment; filename="o.txt"; filename*=UTF-8''o.txt`
			if got := resp.Header.Get("Content-Disposition"); got != want {
				t.Errorf("Content-Disposition = %q", got)
			}
			if got := resp.Header.Get("Expires"); got != time.Unix(exp, 0).UTC().Format(http.TimeFormat) {
				t.Errorf("Expires = %q", got)
			}
			// Private metadata is hidden, public metadata shown.
			if resp.Header.Get("X-Object-Meta-Secret") != "" || resp.Header.Get("X-Object-Meta-Public-Color") != "blue" {
				t.Errorf("metadata headers %v", resp.Header)
			}
			// Only the temp URL's parameters go on; the token does not.
			q := f.fake.last.URL.Query()
			if q.Get("format") != "" || q.Get("temp_url_sig") == "" || f.fake.lastHdr.Get("X-Auth-Token") != "" {
				t.Errorf("forwarded %s with %v", f.fake.last.URL, f.fake.lastHdr)
			}
		})
	}
}

func b64url(hexSig string) string {
	raw := make([]byte, len(hexSig)/2)
	for i := range raw {
		n, _ := strconv.ParseUint(hexSig[2*i:2*i+2], 16, 8)
		raw[i] = byte(n)
	}
	return strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(raw)), "=")
}

func stdB64(b []byte) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var s strings.Builder
	for i := 0; i < len(b); i += 3 {
		var n uint32
		k := min(3, len(b)-i)
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < k {
				n |= uint32(b[i+j])
			}
		}
		for j := 0; j < 4; j++ {
			if j <= k {
				s.WriteByte(alpha[(n>>(18-6*j))&63])
			} else {
				s.WriteByte('=')
			}
		}
	}
	return s.String()
}

func TestInvalidURLsAre401(t *testing.T) {
	f := setup(t)
	exp := f.now.Unix() + 60
	obj := "/v1/AUTH_a/c/dir/o.txt"
	for _, tc := range []struct {
		name, method, path, query string
	}{
		{"expired", "GET", obj, sign("sha256", "GET", "acctkey", f.now.Unix()-1, obj)},
		{"wrong key", "GET", obj, sign("sha256", "GET", "nokey", exp, obj)},
		{"other object", "GET", "/v1/AUTH_a/c/d.bin", sign("sha256", "GET", "acctkey", exp, obj)},
		{"PUT with a GET signature", "PUT", obj, sign("sha256", "GET", "acctkey", exp, obj)},
		{"container key on another container", "GET", "/v1/AUTH_a/other/o", sign("sha256", "GET", "contkey", exp, "/v1/AUTH_a/other/o")},
		{"missing signature", "GET", obj, "temp_url_expires=" + strconv.FormatInt(exp, 10)},
		{"missing expiry", "GET", obj, "temp_url_sig=" + pySHA1},
		{"bad expiry", "GET", obj, "temp_url_sig=" + pySHA1 + "&temp_url_expires=tomorrow"},
		{"digest not allowed", "GET", obj, "temp_url_sig=md5:" + b64url(pySHA1) + "&temp_url_expires=" + strconv.FormatInt(exp, 10)},
		{"upper-case hex", "GET", obj, strings.ToUpper(sign("sha256", "GET", "acctkey", exp, obj))},
		{"object outside prefix", "GET", obj, "temp_url_sig=" + HMAC("sha256", "contkey", Message("GET", exp, "prefix:/v1/AUTH_a/c/pub", "")) + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_prefix=pub"},
		{"address outside range", "GET", obj, "temp_url_sig=" + HMAC("sha256", "acctkey", Message("GET", exp, obj, "10.0.0.0/8")) + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_ip_range=10.0.0.0/8"},
		{"range with host bits", "GET", obj, "temp_url_sig=" + HMAC("sha256", "acctkey", Message("GET", exp, obj, "127.0.0.1/8")) + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_ip_range=127.0.0.1/8"},
		{"account path", "GET", "/v1/AUTH_a", sign("sha256", "GET", "acctkey", exp, "/v1/AUTH_a")},
		{"COPY not allowed", "COPY", obj, sign("sha256", "COPY", "acctkey", exp, obj)},
		{"account without keys", "GET", "/v1/AUTH_b/c/o", sign("sha256", "GET", "", exp, "/v1/AUTH_b/c/o")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := strings.Replace(tc.query, "TEMP_URL_SIG", "temp_url_sig", 1)
			q = strings.Replace(q, "&TEMP_URL_EXPIRES", "&temp_url_expires", 1)
			resp, body := f.do(t, tc.method, tc.path+"?"+q, nil, "")
			if resp.StatusCode != 401 || body != "401 Unauthorized: Temp URL invalid\n" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if resp.Header.Get("Www-Authenticate") == "" {
				t.Error("no Www-Authenticate")
			}
		})
	}
}

func TestHeadWithOtherMethodsSignature(t *testing.T) {
	f := setup(t)
	exp := f.now.Unix() + 60
	obj := "/v1/AUTH_a/c/dir/o.txt"
	for _, m := range []string{"GET", "PUT", "POST", "HEAD"} {
		resp, _ := f.do(t, "HEAD", obj+"?"+sign("sha256", m, "acctkey", exp, obj), nil, "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") == "" {
			t.Errorf("HEAD with %s signature: %d %v", m, resp.StatusCode, resp.Header)
		}
	}
	resp, body := f.do(t, "HEAD", obj+"?"+sign("sha256", "DELETE", "acctkey", exp, obj), nil, "")
	if resp.StatusCode != 401 || body != "" {
		t.Errorf("HEAD with DELETE signature: %d %q", resp.StatusCode, body)
	}
}

func TestPutThroughTempURL(t *testing.T) {
	f := setup(t)
	exp := f.now.Unix() + 60
	obj := "/v1/AUTH_a/c/new"
	hdr := http.Header{"X-Timestamp": {"1"}, "X-Object-Meta-A": {"b"}}
	resp, _ := f.do(t, "PUT", obj+"?"+sign("sha1", "PUT", "contkey", exp, obj), hdr, "data")
	if resp.StatusCode != 201 || f.fake.objects[obj].body != "data" {
		t.Fatalf("PUT %d, stored %+v", resp.StatusCode, f.fake.objects[obj])
	}
	if f.fake.lastHdr.Get("X-Timestamp") != "" || f.fake.lastHdr.Get("X-Object-Meta-A") != "b" {
		t.Errorf("forwarded headers %v", f.fake.lastHdr)
	}
	// Headers that would point the object elsewhere are refused.
	for _, h := range []string{"X-Object-Manifest", "X-Symlink-Target"} {
		resp, body := f.do(t, "PUT", obj+"?"+sign("sha1", "PUT", "contkey", exp, obj), http.Header{h: {"c/x"}}, "data")
		if resp.StatusCode != 400 || body != "The header '"+h+"' is not allowed in this tempurl" {
			t.Errorf("%s: %d %q", h, resp.StatusCode, body)
		}
	}
	// A container key cannot copy from another container, nor any key
	// from another account.
	for _, h := range []http.Header{{"X-Copy-From": {"other/o"}}, {"X-Copy-From": {"/c/o"}, "X-Copy-From-Account": {"AUTH_b"}}} {
		resp, _ := f.do(t, "PUT", obj+"?"+sign("sha1", "PUT", "contkey", exp, obj), h, "")
		if resp.StatusCode != 401 {
			t.Errorf("%v: %d", h, resp.StatusCode)
		}
	}
	resp, _ = f.do(t, "PUT", obj+"?"+sign("sha1", "PUT", "acctkey", exp, obj), http.Header{"X-Copy-From": {"other/o"}}, "")
	if resp.StatusCode != 201 {
		t.Errorf("account key copy in the account: %d", resp.StatusCode)
	}
}

func TestDispositionChoices(t *testing.T) {
	f := setup(t)
	exp := f.now.Unix() + 60
	for _, tc := range []struct {
		path, extra, want string
	}{
		{"/v1/AUTH_a/c/dir/o.txt", "&inline", "inline"},
		{"/v1/AUTH_a/c/dir/o.txt", "&inline&filename=a+b.txt", `inline; filename="a b.txt"; filename*=UTF-8''a%20b.txt`},
		{"/v1/AUTH_a/c/dir/o.txt", "&filename=" + url.QueryEscape("ü.txt"), `attachment; filename="%C3%BC.txt"; filename*=UTF-8''%C3%BC.txt`},
		{"/v1/AUTH_a/c/d.bin", "", "attachment; filename=stored"},
	} {
		resp, _ := f.do(t, "GET", tc.path+"?"+sign("sha256", "GET", "acctkey", exp, tc.path)+tc.extra, nil, "")
		if got := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || got != tc.want {
			t.Errorf("%s%s: %d %q, want %q", tc.path, tc.extra, resp.StatusCode, got, tc.want)
		}
	}
}

func TestContainerRootOnlyForStaticweb(t *testing.T) {
	f := setup(t)
	exp := f.now.Unix() + 60
	q := "temp_url_sig=" + HMAC("sha256", "contkey", Message("GET", exp, "prefix:/v1/AUTH_a/c/", "")) + "&temp_url_expires=" + strconv.FormatInt(exp, 10) + "&temp_url_prefix="
	resp, body := f.do(t, "GET", "/v1/AUTH_a/c?"+q, nil, "")
	if resp.StatusCode != 401 || body != "401 Unauthorized: Temp URL invalid\n" {
		t.Fatalf("container root without staticweb: %d %q", resp.StatusCode, body)
	}
	// A listing page staticweb made is shown inline.
	f.fake.objects["/v1/AUTH_a/c/"] = fakeObject{http.Header{"X-Backend-Content-Generator": {"staticweb"}}, "<html>"}
	resp, body = f.do(t, "GET", "/v1/AUTH_a/c/?"+q, nil, "")
	if resp.StatusCode != 200 || body != "<html>" || resp.Header.Get("Content-Disposition") != "inline" {
		t.Fatalf("staticweb listing: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestRequestsWithoutTempURLPassThrough(t *testing.T) {
	f := setup(t)
	resp, _ := f.do(t, "GET", "/v1/AUTH_a/c/dir/o.txt?format=json", nil, "")
	if resp.StatusCode != 401 || f.fake.last.URL.RawQuery != "format=json" {
		t.Fatalf("plain request: %d, forwarded %s", resp.StatusCode, f.fake.last.URL)
	}
}

func TestInfo(t *testing.T) {
	info := Info()
	if d := info["allowed_digests"].([]string); strings.Join(d, ",") != "sha1,sha256,sha512" {
		t.Errorf("allowed_digests %v", d)
	}
	if m := info["methods"].([]string); strings.Join(m, ",") != "GET,HEAD,PUT,POST,DELETE" {
		t.Errorf("methods %v", m)
	}
	if info["outgoing_allow_headers"].([]string)[0] != "x-object-meta-public-*" {
		t.Errorf("%v", info)
	}
}
