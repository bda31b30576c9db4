package versioning

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func TestVersionNames(t *testing.T) {
	ts, _ := swift.ParseTimestamp("1700000000.12345")
	for _, tc := range []struct{ object, want string }{
		{"o", "001o/1700000000.12345"},
		{"dir/é.txt", "00adir/é.txt/1700000000.12345"}, // length in bytes
		{strings.Repeat("x", 300), "12c" + strings.Repeat("x", 300) + "/1700000000.12345"},
	} {
		if got := VersionName(tc.object, ts); got != tc.want {
			t.Errorf("VersionName(%.20q) = %.40q, want %.40q", tc.object, got, tc.want)
		}
	}
	ts.Offset = 2
	if got := VersionName("o", ts); got != "001o/1700000000.12345_0000000000000002" {
		t.Errorf("with offset: %q", got)
	}
}

func TestTranslateContainerHeaders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     http.Header
		status int
		want   map[string]string // "" value: present and empty; missing key: absent
		absent []string
	}{
		{"stack", http.Header{"X-Versions-Location": {"arch"}}, 0,
			map[string]string{sysmetaLocation: "arch", sysmetaMode: "stack", "X-Versions-Location": ""}, nil},
		{"history", http.Header{"X-History-Location": {"arch"}}, 0,
			map[string]string{sysmetaLocation: "arch", sysmetaMode: "history", "X-Versions-Location": ""}, []string{"X-History-Location"}},
		{"empty history defers", http.Header{"X-Versions-Location": {"arch"}, "X-History-Location": {""}}, 0,
			map[string]string{sysmetaLocation: "arch", sysmetaMode: "stack"}, nil},
		{"empty versions defers", http.Header{"X-Versions-Location": {""}, "X-History-Location": {"h"}}, 0,
			map[string]string{sysmetaLocation: "h", sysmetaMode: "history"}, nil},
		{"both", http.Header{"X-Versions-Location": {"a"}, "X-History-Location": {"b"}}, 400, nil, nil},
		{"slash", http.Header{"X-Versions-Location": {"a/b"}}, 412, nil, nil},
		{"empty removes", http.Header{"X-Versions-Location": {""}}, 0,
			map[string]string{sysmetaLocation: "", sysmetaMode: "", "X-Versions-Location": ""}, []string{hdrRemoveVersions}},
		{"remove", http.Header{"X-Remove-History-Location": {"x"}}, 0,
			map[string]string{sysmetaLocation: "", sysmetaMode: "", "X-Versions-Location": ""}, []string{hdrRemoveHistory}},
		{"set wins over remove", http.Header{"X-Versions-Location": {"a"}, "X-Remove-Versions-Location": {"x"}}, 0,
			map[string]string{sysmetaLocation: "a"}, []string{hdrRemoveVersions}},
		{"unrelated", http.Header{"X-Container-Meta-A": {"b"}}, 0, nil, []string{sysmetaLocation, sysmetaMode}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.in.Clone()
			status, _ := translate(h)
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			for k, want := range tc.want {
				if vs, ok := h[k]; !ok || vs[0] != want {
					t.Errorf("%s = %v, want %q", k, vs, want)
				}
			}
			for _, k := range tc.absent {
				if _, ok := h[k]; ok {
					t.Errorf("%s present: %v", k, h[k])
				}
			}
		})
	}
}

type vwTest struct {
	t    *testing.T
	core *fakeCore
	srv  *httptest.Server
}

// setup serves the versioning middleware in front of the fake core, with
// callers known by token: "owner" writes, "reader" may only read.
func setup(t *testing.T) *vwTest {
	core := newFakeCore()
	h := New(core)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Auth-Token") {
		case "owner":
			r = r.WithContext(authn.With(r.Context(), &authn.Principal{UserID: "o", Roles: []string{"member"}}))
		case "reader":
			r = r.WithContext(authn.With(r.Context(), &authn.Principal{UserID: "r", Roles: []string{"reader"}}))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &vwTest{t, core, srv}
}

func (v *vwTest) do(method, path, token, body string, hdr http.Header) (*http.Response, string) {
	v.t.Helper()
	req, _ := http.NewRequest(method, v.srv.URL+path, strings.NewReader(body))
	if body == "" {
		req.Body = http.NoBody
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (v *vwTest) must(method, path, body string, hdr http.Header, want int) *http.Response {
	v.t.Helper()
	resp, got := v.do(method, path, "owner", body, hdr)
	if resp.StatusCode != want {
		v.t.Fatalf("%s %s: %d %q, want %d", method, path, resp.StatusCode, got, want)
	}
	return resp
}

func (v *vwTest) body(path string) string {
	v.t.Helper()
	resp, b := v.do("GET", path, "owner", "", nil)
	if resp.StatusCode != 200 {
		return "<" + resp.Status + ">"
	}
	return b
}

func TestStackMode(t *testing.T) {
	v := setup(t)
	v.must("PUT", "/v1/AUTH_a/versions", "", nil, 201)
	resp := v.must("PUT", "/v1/AUTH_a/c", "", http.Header{"X-Versions-Location": {"versions"}}, 201)
	if resp.Header.Get("X-Versions-Location") != "versions" {
		t.Errorf("PUT answer headers %v", resp.Header)
	}
	if c := v.core.containers["AUTH_a/c"]; c.Get(sysmetaLocation) != "versions" || c.Get(sysmetaMode) != "stack" {
		t.Fatalf("container stored %v", c)
	}
	resp = v.must("HEAD", "/v1/AUTH_a/c", "", nil, 204)
	if resp.Header.Get("X-Versions-Location") != "versions" || resp.Header.Get("X-History-Location") != "" {
		t.Errorf("HEAD headers %v", resp.Header)
	}

	v.must("PUT", "/v1/AUTH_a/c/obj", "one", http.Header{"X-Object-Meta-N": {"1"}, "Content-Type": {"text/one"}}, 201)
	if got := v.core.versions("AUTH_a/versions"); len(got) != 0 {
		t.Fatalf("first PUT archived %v", got)
	}
	firstTS := v.core.objects["AUTH_a/c/obj"].ts
	v.must("PUT", "/v1/AUTH_a/c/obj", "two", nil, 201)
	v.must("PUT", "/v1/AUTH_a/c/obj", "three", nil, 201)
	got := v.core.versions("AUTH_a/versions")
	if len(got) != 2 || got[0] != VersionName("obj", firstTS) {
		t.Fatalf("archive %v, want 2 versions starting %s", got, VersionName("obj", firstTS))
	}
	arch := v.core.objects["AUTH_a/versions/"+got[0]]
	if arch.body != "one" || arch.header.Get("X-Object-Meta-N") != "1" || arch.header.Get("Content-Type") != "text/one" {
		t.Errorf("archived copy %+v", arch)
	}
	for k := range arch.header {
		if strings.HasPrefix(k, "Bad-") {
			t.Errorf("archive PUT carried %s", k)
		}
	}
	// Each DELETE brings the previous version back.
	for _, want := range []string{"two", "one"} {
		v.must("DELETE", "/v1/AUTH_a/c/obj", "", nil, 204)
		if b := v.body("/v1/AUTH_a/c/obj"); b != want {
			t.Fatalf("after DELETE: %q, want %q", b, want)
		}
	}
	if got := v.core.versions("AUTH_a/versions"); len(got) != 0 {
		t.Fatalf("archive not emptied: %v", got)
	}
	if h := v.core.objects["AUTH_a/c/obj"].header; h.Get("X-Object-Meta-N") != "1" || h.Get("Content-Type") != "text/one" {
		t.Errorf("restored metadata %v", h)
	}
	v.must("DELETE", "/v1/AUTH_a/c/obj", "", nil, 204)
	if b := v.body("/v1/AUTH_a/c/obj"); b != "<404 Not Found>" {
		t.Errorf("after last DELETE: %q", b)
	}
	v.must("DELETE", "/v1/AUTH_a/c/obj", "", nil, 404)
}

func TestHistoryMode(t *testing.T) {
	v := setup(t)
	v.must("PUT", "/v1/AUTH_a/hist", "", nil, 201)
	resp := v.must("PUT", "/v1/AUTH_a/c", "", http.Header{"X-History-Location": {"hist"}}, 201)
	if resp.Header.Get("X-History-Location") != "hist" || resp.Header.Get("X-Versions-Location") != "" {
		t.Errorf("headers %v", resp.Header)
	}
	v.must("PUT", "/v1/AUTH_a/c/o", "1", nil, 201)
	v.must("PUT", "/v1/AUTH_a/c/o", "2", nil, 201)
	v.must("DELETE", "/v1/AUTH_a/c/o", "", nil, 204)
	if b := v.body("/v1/AUTH_a/c/o"); b != "<404 Not Found>" {
		t.Fatalf("after DELETE: %q", b)
	}
	got := v.core.versions("AUTH_a/hist")
	if len(got) != 3 {
		t.Fatalf("archive %v", got)
	}
	var bodies []string
	for _, n := range got {
		o := v.core.objects["AUTH_a/hist/"+n]
		if !strings.HasPrefix(n, "001o/") {
			t.Errorf("name %q", n)
		}
		if o.listedType() == DeleteMarkerType {
			bodies = append(bodies, "<marker>")
		} else {
			bodies = append(bodies, o.body)
		}
	}
	if strings.Join(bodies, ",") != "1,2,<marker>" {
		t.Errorf("archive holds %v", bodies)
	}
	// In stack mode over a history, a DELETE with a marker on top brings
	// back the version before it.
	v.must("POST", "/v1/AUTH_a/c", "", http.Header{"X-Versions-Location": {"hist"}}, 201)
	v.must("DELETE", "/v1/AUTH_a/c/o", "", nil, 204)
	if b := v.body("/v1/AUTH_a/c/o"); b != "2" {
		t.Fatalf("after stack DELETE over marker: %q", b)
	}
	if got := v.core.versions("AUTH_a/hist"); len(got) != 1 {
		t.Errorf("archive after restore %v", got)
	}
}

func TestRefusedWritesLeaveNoTrace(t *testing.T) {
	v := setup(t)
	v.must("PUT", "/v1/AUTH_a/versions", "", nil, 201)
	v.must("PUT", "/v1/AUTH_a/c", "", http.Header{"X-Versions-Location": {"versions"}}, 201)
	v.must("PUT", "/v1/AUTH_a/c/o", "1", nil, 201)
	v.must("PUT", "/v1/AUTH_a/c/o", "2", nil, 201)
	before := v.core.versions("AUTH_a/versions")
	for _, tc := range []struct{ method, token string }{{"PUT", "reader"}, {"DELETE", "reader"}, {"PUT", ""}, {"DELETE", ""}} {
		resp, _ := v.do(tc.method, "/v1/AUTH_a/c/o", tc.token, "3", nil)
		want := 403
		if tc.token == "" {
			want = 401
		}
		if resp.StatusCode != want {
			t.Errorf("%s by %q: %d", tc.method, tc.token, resp.StatusCode)
		}
		if got := v.core.versions("AUTH_a/versions"); strings.Join(got, ",") != strings.Join(before, ",") {
			t.Errorf("%s by %q changed the archive: %v", tc.method, tc.token, got)
		}
		if b := v.body("/v1/AUTH_a/c/o"); b != "2" {
			t.Errorf("%s by %q changed the object: %q", tc.method, tc.token, b)
		}
	}
	// History mode: the refused DELETE takes back its archive copy and
	// marker.
	v.must("POST", "/v1/AUTH_a/c", "", http.Header{"X-History-Location": {"versions"}}, 201)
	v.must("DELETE", "/v1/AUTH_a/versions/"+before[0], "", nil, 204)
	if resp, _ := v.do("DELETE", "/v1/AUTH_a/c/o", "reader", "", nil); resp.StatusCode != 403 {
		t.Fatalf("history DELETE by reader: %d", resp.StatusCode)
	}
	if got := v.core.versions("AUTH_a/versions"); len(got) != 0 {
		t.Errorf("refused history DELETE left %v", got)
	}
}

func TestMissingArchiveContainer(t *testing.T) {
	v := setup(t)
	v.must("PUT", "/v1/AUTH_a/c", "", http.Header{"X-Versions-Location": {"nowhere"}}, 201)
	v.must("PUT", "/v1/AUTH_a/c/o", "1", nil, 201) // nothing to archive yet
	resp, body := v.do("PUT", "/v1/AUTH_a/c/o", "owner", "2", nil)
	if resp.StatusCode != 412 || !strings.Contains(body, "Precondition Failed") {
		t.Fatalf("PUT over an object: %d %q", resp.StatusCode, body)
	}
	if b := v.body("/v1/AUTH_a/c/o"); b != "1" {
		t.Errorf("object changed: %q", b)
	}
	// Without an archive there is nothing to restore: a plain DELETE.
	v.must("DELETE", "/v1/AUTH_a/c/o", "", nil, 204)
}

func TestContainerHeaderErrors(t *testing.T) {
	v := setup(t)
	resp, body := v.do("PUT", "/v1/AUTH_a/c", "owner", "", http.Header{"X-Versions-Location": {"a"}, "X-History-Location": {"b"}})
	if resp.StatusCode != 400 || body != "Only one of x-versions-location or x-history-location may be specified" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("both: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = v.do("POST", "/v1/AUTH_a/c", "owner", "", http.Header{"X-Versions-Location": {"a/b"}})
	if resp.StatusCode != 412 || body != "Container name cannot contain slashes" {
		t.Errorf("slash: %d %q", resp.StatusCode, body)
	}
	if _, ok := v.core.containers["AUTH_a/c"]; ok {
		t.Error("refused PUT created the container")
	}
	v.must("PUT", "/v1/AUTH_a/c", "", http.Header{"X-Versions-Location": {"a"}}, 201)
	resp = v.must("POST", "/v1/AUTH_a/c", "", http.Header{"X-Remove-Versions-Location": {"x"}}, 201)
	if c := v.core.containers["AUTH_a/c"]; c.Get(sysmetaLocation) != "" || c.Get(sysmetaMode) != "" || resp.Header.Get("X-Versions-Location") != "" {
		t.Errorf("after remove: stored %v, answered %v", c, resp.Header)
	}
}

func TestInfo(t *testing.T) {
	if f := Info()["allowed_flags"].([]string); strings.Join(f, ",") != "x-versions-location,x-history-location" {
		t.Errorf("%v", f)
	}
}
