package formpost

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func hmacHex(digest, key, msg string) string {
	h := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}[digest]
	m := hmac.New(h, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// fakeSwift stands in for the rest of the pipeline until the proxy core
// can be composed in tests: account and container metadata, objects in
// memory, and 401 for any request neither authorized by a middleware nor
// made by a known caller. A PUT whose body fails stores nothing.
type fakeSwift struct {
	mu      sync.Mutex
	meta    map[string]http.Header
	objects map[string]fakeObject
}

type fakeObject struct {
	header http.Header
	body   string
}

func (f *fakeSwift) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !swift.Authorized(r.Context()) && authn.From(r.Context()) == nil {
		swift.WriteStatus(w, r, http.StatusUnauthorized)
		return
	}
	if m, ok := f.meta[r.URL.Path]; ok && r.Method == http.MethodHead {
		for k, v := range m {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPut {
		swift.WriteStatus(w, r, http.StatusMethodNotAllowed)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/quota") {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		swift.WriteError(w, r, http.StatusRequestEntityTooLarge, "Upload exceeds quota.")
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(499)
		return
	}
	f.objects[r.URL.Path] = fakeObject{r.Header.Clone(), string(b)}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("X-Trans-Id", "tx-upload")
	w.Header().Set("Etag", "x")
	w.WriteHeader(http.StatusCreated)
}

type formTest struct {
	t    *testing.T
	fake *fakeSwift
	srv  *httptest.Server
	now  time.Time
}

func setup(t *testing.T) *formTest {
	ft := &formTest{t: t, now: time.Unix(1700000000, 0), fake: &fakeSwift{
		meta: map[string]http.Header{
			"/v1/AUTH_a":   {"X-Account-Meta-Temp-Url-Key": {"acctkey"}},
			"/v1/AUTH_a/c": {"X-Container-Meta-Temp-Url-Key-2": {"contkey"}},
		},
		objects: map[string]fakeObject{},
	}}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		ft.fake.ServeHTTP(w, r)
	})
	ft.srv = httptest.NewServer(New(next, Options{Now: func() time.Time { return ft.now }}))
	t.Cleanup(ft.srv.Close)
	return ft
}

type field struct{ name, value string }

type file struct{ name, filename, contentType, body string }

// buildForm builds a multipart body the way Tempest does.
func buildForm(fields []field, files []file) (string, string) {
	const boundary = "--boundary--"
	var b strings.Builder
	for _, f := range fields {
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"\r\n\r\n" + f.value + "\r\n")
	}
	for _, f := range files {
		b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + f.name + "\"; filename=\"" + f.filename + "\"\r\n")
		if f.contentType != "" {
			b.WriteString("Content-Type: " + f.contentType + "\r\n")
		}
		b.WriteString("\r\n" + f.body + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String(), "multipart/form-data; boundary=" + boundary
}

// signed returns the fields of a form for path signed with key.
func signed(digest, key, path, redirect string, maxSize, maxCount, expires int64) []field {
	ms, mc, ex := strconv.FormatInt(maxSize, 10), strconv.FormatInt(maxCount, 10), strconv.FormatInt(expires, 10)
	sig := hmacHex(digest, key, path+"\n"+redirect+"\n"+ms+"\n"+mc+"\n"+ex)
	if digest == "sha512" {
		raw, _ := hex.DecodeString(sig)
		sig = "sha512:" + base64.URLEncoding.EncodeToString(raw)
	}
	return []field{{"redirect", redirect}, {"max_file_size", ms}, {"max_file_count", mc}, {"expires", ex}, {"signature", sig}}
}

func (ft *formTest) post(path, body, ctype string) (*http.Response, string) {
	ft.t.Helper()
	req, _ := http.NewRequest("POST", ft.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-Auth-Token", "irrelevant")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		ft.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestUploadWithoutRedirect(t *testing.T) {
	ft := setup(t)
	exp := ft.now.Unix() + 600
	for _, tc := range []struct {
		name, digest, key, path, object string
	}{
		{"sha1 account key under a prefix", "sha1", "acctkey", "/v1/AUTH_a/c/ObjectTemp", "/v1/AUTH_a/c/ObjectTemptestfile"},
		{"sha256 container key on the container", "sha256", "contkey", "/v1/AUTH_a/c", "/v1/AUTH_a/c/testfile"},
		{"sha512 base64", "sha512", "acctkey", "/v1/AUTH_a/c/dir/", "/v1/AUTH_a/c/dir/testfile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := buildForm(signed(tc.digest, tc.key, tc.path, "", 104857600, 10, exp), []file{{"file1", "testfile", "application/octet-stream", "hello world"}})
			resp, got := ft.post(tc.path, body, ctype)
			if resp.StatusCode != 201 || got != "201 Created" || resp.Header.Get("Content-Type") != "text/plain" {
				t.Fatalf("got %d %q %v", resp.StatusCode, got, resp.Header)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("X-Trans-Id") != "tx-upload" || resp.Header.Get("Etag") != "" {
				t.Errorf("only CORS headers of the upload pass: %v", resp.Header)
			}
			o, ok := ft.fake.objects[tc.object]
			if !ok || o.body != "hello world" || o.header.Get("Content-Type") != "application/octet-stream" {
				t.Fatalf("stored %v", ft.fake.objects)
			}
			if ua := o.header.Get("User-Agent"); !strings.HasSuffix(ua, " FormPost") {
				t.Errorf("User-Agent %q", ua)
			}
		})
	}
}

func TestUploadWithRedirectAndManyFiles(t *testing.T) {
	ft := setup(t)
	exp := ft.now.Unix() + 600
	fields := append(signed("sha1", "acctkey", "/v1/AUTH_a/c/p-", "https://srv/x?a=1", 100, 2, exp),
		field{"x_delete_after", "60"}, field{"content-encoding", "gzip"})
	body, ctype := buildForm(fields, []file{{"f1", "one", "text/plain", "1"}, {"f2", "two", "", "22"}})
	resp, got := ft.post("/v1/AUTH_a/c/p-", body, ctype)
	loc := "https://srv/x?a=1&status=201&message="
	if resp.StatusCode != 303 || resp.Header.Get("Location") != loc || got != `<html><body><p><a href="`+loc+`">Click to continue...</a></p></body></html>` {
		t.Fatalf("got %d %v %q", resp.StatusCode, resp.Header, got)
	}
	one, two := ft.fake.objects["/v1/AUTH_a/c/p-one"], ft.fake.objects["/v1/AUTH_a/c/p-two"]
	if one.body != "1" || two.body != "22" || one.header.Get("Content-Type") != "text/plain" ||
		one.header.Get("X-Delete-After") != "60" || two.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("stored %+v %+v", one, two)
	}
}

func TestFormErrors(t *testing.T) {
	ft := setup(t)
	exp := ft.now.Unix() + 600
	path := "/v1/AUTH_a/c/o"
	good := signed("sha1", "acctkey", path, "", 5, 1, exp)
	one := []file{{"f", "x", "", "abc"}}
	for _, tc := range []struct {
		name   string
		fields []field
		files  []file
		status int
		body   string
	}{
		{"expired", signed("sha1", "acctkey", path, "", 5, 1, ft.now.Unix()-1), one, 401, "FormPost: Form Expired"},
		{"wrong key", signed("sha1", "Wrong", path, "", 5, 1, exp), one, 401, "FormPost: Invalid Signature"},
		{"no signature", good[:4], one, 401, "FormPost: Invalid Signature"},
		{"changed max_file_size", append(good, field{"max_file_size", "6"}), one, 401, "FormPost: Invalid Signature"},
		{"too many files", good, []file{{"f", "x", "", "a"}, {"g", "y", "", "b"}}, 400, "400 Bad Request\r\nFormPost: Max File Count Exceeded"},
		{"file too big", good, []file{{"f", "x", "", "abcdef"}}, 400, "FormPost: max_file_size exceeded"},
		{"no files", good, nil, 400, "400 Bad Request\r\nFormPost: No Files To Process"},
		{"bad max_file_count", append(good, field{"max_file_count", "ten"}), one, 400, "FormPost: max_file_count not an integer"},
		{"bad expires", append(good, field{"expires", "soon"}), one, 400, "FormPost: expired not an integer"},
		{"bad x_delete_at", append(good, field{"x_delete_at", "never"}), one, 400, "FormPost: x_delete_at not an integer: Unix timestamp required."},
		{"upload refused", signed("sha1", "acctkey", "/v1/AUTH_a/c/", "", 5, 1, exp), []file{{"f", "quota", "", "a"}}, 413, "Upload exceeds quota."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clear(ft.fake.objects)
			p := path
			if tc.name == "upload refused" {
				p = "/v1/AUTH_a/c/"
			}
			body, ctype := buildForm(tc.fields, tc.files)
			resp, got := ft.post(p, body, ctype)
			if resp.StatusCode != tc.status || got != tc.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, got, tc.status, tc.body)
			}
			if tc.status == 400 && tc.name != "too many files" || tc.status == 401 {
				if len(ft.fake.objects) != 0 {
					t.Errorf("stored %v", ft.fake.objects)
				}
			}
		})
	}
	// Only the first file of a one-file form is stored.
	body, ctype := buildForm(good, []file{{"f", "x", "", "a"}, {"g", "y", "", "b"}})
	ft.post(path, body, ctype)
	if _, ok := ft.fake.objects[path+"x"]; !ok || len(ft.fake.objects) != 1 {
		t.Errorf("stored %v", ft.fake.objects)
	}
}

func TestPathsWithoutKeys(t *testing.T) {
	ft := setup(t)
	exp := ft.now.Unix() + 600
	for _, p := range []string{"/v1/AUTH_a", "/v2/AUTH_a/c/o", "/v1/AUTH_b/c/o"} {
		body, ctype := buildForm(signed("sha1", "acctkey", p, "", 5, 1, exp), []file{{"f", "x", "", "a"}})
		resp, got := ft.post(p, body, ctype)
		if resp.StatusCode != 401 || got != "FormPost: Invalid Signature" {
			t.Errorf("%s: %d %q", p, resp.StatusCode, got)
		}
	}
}

func TestNotAFormPassesThrough(t *testing.T) {
	ft := setup(t)
	for _, ctype := range []string{"application/x-www-form-urlencoded", "multipart/form-data", "multipart/mixed; boundary=b"} {
		resp, _ := ft.post("/v1/AUTH_a/c/o", "x", ctype)
		if resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s: %d", ctype, resp.StatusCode)
		}
	}
	resp, got := ft.post("/v1/AUTH_a/c/o", "garbage", "multipart/form-data; boundary=b")
	if resp.StatusCode != 400 || got != "FormPost: invalid starting boundary" {
		t.Errorf("bad start: %d %q", resp.StatusCode, got)
	}
}

func TestInfo(t *testing.T) {
	info := Info()
	if d := info["allowed_digests"].([]string); strings.Join(d, ",") != "sha1,sha256,sha512" {
		t.Errorf("%v", info)
	}
}
