package quota

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func TestQuotaArithmetic(t *testing.T) {
	for _, tc := range []struct {
		quota      string
		used, size int64
		over       bool
	}{
		{"10", 0, 10, false},
		{"10", 0, 11, true},
		{"10", 5, 5, false},
		{"10", 5, 6, true},
		{"0", 0, 0, false},
		{"0", 0, 1, true},
		{"junk", 100, 100, false},
	} {
		if got := overBytes(tc.quota, tc.used, tc.size); got != tc.over {
			t.Errorf("overBytes(%s, %d, %d) = %v", tc.quota, tc.used, tc.size, got)
		}
	}
	if overCount("3", 2) || !overCount("3", 3) || !overCount("0", 0) {
		t.Error("overCount wrong")
	}
	for s, ok := range map[string]bool{"12": true, "0": true, "": false, "-1": false, "1.5": false, " 1": false, "١": false} {
		if isDigits(s) != ok {
			t.Errorf("isDigits(%q) = %v", s, !ok)
		}
	}
}

func TestTranslateQuotas(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       http.Header
		reseller bool
		status   int
		sysmeta  map[string]string // nil value: header absent
	}{
		{"legacy set", http.Header{"X-Account-Meta-Quota-Bytes": {"20"}, "X-Account-Quota-Count": {"5"}}, true, 0,
			map[string]string{"Quota-Bytes": "20", "Quota-Count": "5"}},
		{"remove", http.Header{"X-Remove-Account-Meta-Quota-Bytes": {"x"}, "X-Remove-Account-Quota-Count": {"x"}}, true, 0,
			map[string]string{"Quota-Bytes": "", "Quota-Count": ""}},
		{"removal wins", http.Header{"X-Account-Quota-Bytes": {"7"}, "X-Remove-Account-Quota-Bytes": {"1"}}, true, 0,
			map[string]string{"Quota-Bytes": ""}},
		{"empty value removes", http.Header{"X-Account-Meta-Quota-Bytes": {""}}, true, 0, map[string]string{"Quota-Bytes": ""}},
		{"not a number", http.Header{"X-Account-Quota-Bytes": {"lots"}}, true, 400, nil},
		{"user sets", http.Header{"X-Account-Meta-Quota-Bytes": {"100"}}, false, 403, nil},
		{"user clears", http.Header{"X-Account-Meta-Quota-Bytes": {""}}, false, 403, nil},
		{"user other meta", http.Header{"X-Account-Meta-Color": {"red"}}, false, 0, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.in.Clone()
			if got := translateQuotas(h, tc.reseller); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
			if tc.status != 0 {
				return
			}
			for _, kind := range quotaKinds {
				want, set := tc.sysmeta[kind]
				vs, got := h["X-Account-Sysmeta-"+kind]
				if set != got || (set && vs[0] != want) {
					t.Errorf("%s = %v (present %v), want %q (present %v)", kind, vs, got, want, set)
				}
			}
		})
	}
}

// fakeSwift stands in for the proxy core until it can be composed in
// tests: one account with containers, usage that object PUTs raise, and
// callers known by token ("user", "reseller") or 401.
type fakeSwift struct {
	mu         sync.Mutex
	account    http.Header
	containers map[string]http.Header
	objects    map[string]int64
}

func (f *fakeSwift) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !swift.Authorized(r.Context()) && authn.From(r.Context()) == nil {
		swift.WriteStatus(w, r, http.StatusUnauthorized)
		return
	}
	p, _ := swift.ParsePath(r.URL.Path)
	switch {
	case p.Container == "":
		if r.Method == http.MethodPost {
			for k, v := range r.Header {
				if strings.HasPrefix(k, "X-Account-Meta-") || strings.HasPrefix(k, "X-Account-Sysmeta-") {
					if v[0] == "" {
						delete(f.account, k)
					} else {
						f.account[k] = v
					}
				}
			}
		}
		var bytes, count int64
		for _, n := range f.objects {
			bytes, count = bytes+n, count+1
		}
		for k, v := range f.account {
			w.Header()[k] = v
		}
		w.Header().Set("X-Account-Bytes-Used", strconv.FormatInt(bytes, 10))
		w.Header().Set("X-Account-Object-Count", strconv.FormatInt(count, 10))
		w.WriteHeader(http.StatusNoContent)
	case p.Object == "":
		c, ok := f.containers[p.Container]
		if !ok {
			swift.WriteStatus(w, r, http.StatusNotFound)
			return
		}
		var bytes, count int64
		for name, n := range f.objects {
			if strings.HasPrefix(name, p.Container+"/") {
				bytes, count = bytes+n, count+1
			}
		}
		for k, v := range c {
			w.Header()[k] = v
		}
		w.Header().Set("X-Container-Bytes-Used", strconv.FormatInt(bytes, 10))
		w.Header().Set("X-Container-Object-Count", strconv.FormatInt(count, 10))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		n, _ := io.Copy(io.Discard, r.Body)
		f.objects[p.Container+"/"+p.Object] = n
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodHead:
		n, ok := f.objects[p.Container+"/"+p.Object]
		if !ok {
			swift.WriteStatus(w, r, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(http.StatusOK)
	}
}

// withCaller puts the principal a test token names in the context, as
// the auth middleware does.
func withCaller(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Auth-Token") {
		case "user":
			r = r.WithContext(authn.With(r.Context(), &authn.Principal{UserID: "u", Roles: []string{"member"}}))
		case "reseller":
			r = r.WithContext(authn.With(r.Context(), &authn.Principal{UserID: "r", Roles: []string{"reselleradmin"}}))
		}
		next.ServeHTTP(w, r)
	})
}

type quotaTest struct {
	t    *testing.T
	fake *fakeSwift
	srv  *httptest.Server
}

func setup(t *testing.T) *quotaTest {
	fake := &fakeSwift{account: http.Header{}, containers: map[string]http.Header{"c": {}, "q": {
		"X-Container-Meta-Quota-Bytes": {"10"}, "X-Container-Meta-Quota-Count": {"3"},
	}}, objects: map[string]int64{}}
	// The pipeline's order: auth, container quotas, account quotas, core.
	srv := httptest.NewServer(withCaller(NewContainer(NewAccount(fake))))
	t.Cleanup(srv.Close)
	return &quotaTest{t, fake, srv}
}

func (q *quotaTest) do(method, path, token, body string, hdr http.Header) (*http.Response, string) {
	q.t.Helper()
	req, _ := http.NewRequest(method, q.srv.URL+path, strings.NewReader(body))
	if body == "" {
		req.Body = http.NoBody
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		q.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestContainerQuotas(t *testing.T) {
	q := setup(t)
	// As Tempest: an object within the bytes quota is stored, a bigger one
	// is 413 and changes nothing.
	if resp, _ := q.do("PUT", "/v1/AUTH_a/q/small", "user", "0123456789", nil); resp.StatusCode != 201 {
		t.Fatalf("PUT within quota: %d", resp.StatusCode)
	}
	resp, body := q.do("PUT", "/v1/AUTH_a/q/big", "user", "x", nil)
	if resp.StatusCode != 413 || body != "Upload exceeds quota." {
		t.Fatalf("PUT over quota: %d %q", resp.StatusCode, body)
	}
	if _, ok := q.fake.objects["q/big"]; ok {
		t.Fatal("object over quota stored")
	}
	// Anonymous callers learn nothing of the quota.
	if resp, _ := q.do("PUT", "/v1/AUTH_a/q/big", "", "x", nil); resp.StatusCode != 401 {
		t.Errorf("anonymous PUT over quota: %d", resp.StatusCode)
	}
	// Count quota: 3 objects, then 413.
	q.fake.containers["q"].Set("X-Container-Meta-Quota-Bytes", "1000")
	for _, name := range []string{"b", "c"} {
		if resp, _ := q.do("PUT", "/v1/AUTH_a/q/"+name, "user", "", nil); resp.StatusCode != 201 {
			t.Fatalf("PUT %s: %d", name, resp.StatusCode)
		}
	}
	if resp, body := q.do("PUT", "/v1/AUTH_a/q/d", "user", "", nil); resp.StatusCode != 413 || body != "Upload exceeds quota." {
		t.Fatalf("PUT past count: %d %q", resp.StatusCode, body)
	}
	// A copy without a length is measured by its source.
	q.fake.containers["q"].Set("X-Container-Meta-Quota-Count", "10")
	q.fake.containers["q"].Set("X-Container-Meta-Quota-Bytes", "15")
	q.fake.objects["c/src"] = 100
	req, _ := http.NewRequest("PUT", q.srv.URL+"/v1/AUTH_a/q/copy", strings.NewReader(""))
	req.Header.Set("X-Auth-Token", "user")
	req.Header.Set("X-Copy-From", "c/src")
	req.ContentLength = -1
	req.Body = io.NopCloser(strings.NewReader(""))
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 413 {
		t.Errorf("copy past quota: %d", r2.StatusCode)
	}
	// Unlimited containers take anything.
	if resp, _ := q.do("PUT", "/v1/AUTH_a/c/o", "user", strings.Repeat("x", 1000), nil); resp.StatusCode != 201 {
		t.Errorf("PUT without quota: %d", resp.StatusCode)
	}
}

func TestContainerQuotaValuesChecked(t *testing.T) {
	q := setup(t)
	for _, tc := range []struct {
		hdr  string
		val  string
		code int
		body string
	}{
		{"X-Container-Meta-Quota-Bytes", "ten", 400, "Invalid bytes quota."},
		{"X-Container-Meta-Quota-Count", "-1", 400, "Invalid count quota."},
		{"X-Container-Meta-Quota-Bytes", "10", 204, ""},
		{"X-Container-Meta-Quota-Count", "", 204, ""},
	} {
		for _, m := range []string{"POST", "PUT"} {
			resp, body := q.do(m, "/v1/AUTH_a/c", "user", "", http.Header{tc.hdr: {tc.val}})
			if resp.StatusCode != tc.code || (tc.body != "" && body != tc.body) {
				t.Errorf("%s %s=%q: %d %q", m, tc.hdr, tc.val, resp.StatusCode, body)
			}
		}
	}
}

func TestAccountQuotas(t *testing.T) {
	q := setup(t)
	// Only the reseller sets quotas (Tempest's test_user_modify_quota).
	for _, v := range []string{"", "100"} {
		if resp, _ := q.do("POST", "/v1/AUTH_a", "user", "", http.Header{"X-Account-Meta-Quota-Bytes": {v}}); resp.StatusCode != 403 {
			t.Errorf("user sets quota %q: %d", v, resp.StatusCode)
		}
	}
	resp, _ := q.do("POST", "/v1/AUTH_a", "reseller", "", http.Header{"X-Account-Meta-Quota-Bytes": {"20"}, "X-Account-Quota-Count": {"5"}})
	if resp.StatusCode != 204 || q.fake.account.Get("X-Account-Sysmeta-Quota-Bytes") != "20" || q.fake.account.Get("X-Account-Sysmeta-Quota-Count") != "5" {
		t.Fatalf("reseller POST: %d, account %v", resp.StatusCode, q.fake.account)
	}
	// Users see the quotas under their public names.
	resp, _ = q.do("HEAD", "/v1/AUTH_a", "user", "", nil)
	if resp.Header.Get("X-Account-Quota-Bytes") != "20" || resp.Header.Get("X-Account-Quota-Count") != "5" {
		t.Errorf("HEAD headers %v", resp.Header)
	}
	// Tempest's test_overlimit_upload: 21 bytes on a 20-byte quota.
	if resp, body := q.do("PUT", "/v1/AUTH_a/c/big", "user", strings.Repeat("x", 21), nil); resp.StatusCode != 413 || body != "Upload exceeds quota." {
		t.Fatalf("PUT over account quota: %d %q", resp.StatusCode, body)
	}
	if resp, _ := q.do("PUT", "/v1/AUTH_a/c/ok", "user", strings.Repeat("x", 20), nil); resp.StatusCode != 201 {
		t.Fatalf("PUT up to quota: %d", resp.StatusCode)
	}
	// The reseller is bound by no quota.
	if resp, _ := q.do("PUT", "/v1/AUTH_a/c/more", "reseller", "x", nil); resp.StatusCode != 201 {
		t.Errorf("reseller PUT: %d", resp.StatusCode)
	}
	// Object count quota.
	q.do("POST", "/v1/AUTH_a", "reseller", "", http.Header{"X-Remove-Account-Meta-Quota-Bytes": {"x"}, "X-Account-Quota-Count": {"2"}})
	if q.fake.account.Get("X-Account-Sysmeta-Quota-Bytes") != "" {
		t.Fatalf("quota not removed: %v", q.fake.account)
	}
	if resp, _ := q.do("PUT", "/v1/AUTH_a/c/third", "user", "", nil); resp.StatusCode != 413 {
		t.Errorf("PUT past count quota: %d", resp.StatusCode)
	}
	if resp, _ := q.do("POST", "/v1/AUTH_a", "reseller", "", http.Header{"X-Account-Quota-Count": {"many"}}); resp.StatusCode != 400 {
		t.Errorf("bad quota value: %d", resp.StatusCode)
	}
}
