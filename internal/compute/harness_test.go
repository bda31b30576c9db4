package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// Projects of the test callers, in the hex form Nova accepts in URLs.
const (
	adminProject = "0a0a0a0a0a0a4a0a8a0a0a0a0a0a0a0a"
	demoProject  = "0d0d0d0d0d0d4d0d8d0d0d0d0d0d0d0d"
	altProject   = "0e0e0e0e0e0e4e0e8e0e0e0e0e0e0e0e"
)

// tokens are the callers of the tests.
var tokens = map[string]*authn.Principal{
	"admin":  {UserID: "u-admin", ProjectID: adminProject, Roles: []string{"admin", "member", "reader"}},
	"member": {UserID: "u-demo", ProjectID: demoProject, Roles: []string{"member", "reader"}},
	"reader": {UserID: "u-reader", ProjectID: demoProject, Roles: []string{"reader"}},
	"alt":    {UserID: "u-alt", ProjectID: altProject, Roles: []string{"member", "reader"}},
}

var testValidator = authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
	if p, ok := tokens[token]; ok {
		return p, nil
	}
	return nil, fault.Unauthorizedf("The request you have made requires authentication.")
})

// knownProjects is a Projects that knows the test projects only.
type knownProjects struct{}

func (knownProjects) ProjectExists(ctx context.Context, id string) (bool, error) {
	return id == adminProject || id == demoProject || id == altProject, nil
}

type api struct {
	t   testing.TB
	svc *Service
	srv *httptest.Server
}

func newAPI(t testing.TB) *api {
	t.Helper()
	return newAPIWith(t, DefaultConfig())
}

func newAPIWith(t testing.TB, cfg Config) *api {
	t.Helper()
	return newAPIOn(t, db.OpenTest(t, nil), cfg)
}

func newAPIOn(t testing.TB, d *db.DB, cfg Config) *api {
	t.Helper()
	svc, err := New(context.Background(), cfg, Options{DB: d, Projects: knownProjects{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpx.Options{}, testValidator))
	t.Cleanup(srv.Close)
	return &api{t: t, svc: svc, srv: srv}
}

// resp is one response, its body decoded when JSON.
type resp struct {
	code   int
	header http.Header
	raw    string
	body   map[string]any
}

// call sends a request. opts: a microversion ("2.55", "latest"),
// "token=NAME" (default admin, "" for none), "legacy-header" to send the
// version in X-OpenStack-Nova-API-Version, "ct=..." for a content type.
func (a *api) call(method, path string, body any, opts ...string) *resp {
	a.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	default:
		data, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	token := "admin"
	legacyHeader := false
	version := ""
	for _, o := range opts {
		switch {
		case strings.HasPrefix(o, "token="):
			token = o[6:]
		case strings.HasPrefix(o, "ct="):
			ct = o[3:]
		case o == "legacy-header":
			legacyHeader = true
		default:
			version = o
		}
	}
	if version != "" {
		if legacyHeader {
			req.Header.Set(LegacyVersionHeader, version)
		} else {
			req.Header.Set(VersionHeader, "compute "+version)
		}
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	r := &resp{code: res.StatusCode, header: res.Header, raw: string(data)}
	_ = json.Unmarshal(data, &r.body)
	return r
}

// must fails the test unless the response has status want.
func (r *resp) must(t testing.TB, want int) *resp {
	t.Helper()
	if r.code != want {
		t.Fatalf("status %d, want %d: %s", r.code, want, r.raw)
	}
	return r
}

// path digs into the JSON body: "a.b.0.c"; numbers index lists.
func (r *resp) path(p string) any {
	var cur any = r.body
	for _, k := range strings.Split(p, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[k]
			if !ok {
				return missing{}
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(c) {
				return missing{}
			}
			cur = c[i]
		default:
			return missing{}
		}
	}
	return cur
}

// missing is what path returns for an absent key, unlike a JSON null.
type missing struct{}

func (r *resp) str(p string) string {
	s, _ := r.path(p).(string)
	return s
}

func (r *resp) num(p string) float64 {
	f, _ := r.path(p).(float64)
	return f
}

func (r *resp) has(p string) bool { _, gone := r.path(p).(missing); return !gone }

func (r *resp) list(p string) []any {
	l, _ := r.path(p).([]any)
	return l
}

// fault checks a Nova error body: {"<name>": {"code": status, "message": msg}}.
func (r *resp) fault(t testing.TB, status int, name, msg string) {
	t.Helper()
	r.must(t, status)
	if len(r.body) != 1 {
		t.Fatalf("error body %s, want one key %q", r.raw, name)
	}
	if got := r.num(name + ".code"); int(got) != status {
		t.Fatalf("error body %s: want %s.code %d", r.raw, name, status)
	}
	if msg != "" && r.str(name+".message") != msg {
		t.Fatalf("error message %q, want %q", r.str(name+".message"), msg)
	}
}

// flavorBody is a create request.
func flavorBody(name string, ram, vcpus, disk int, extra map[string]any) map[string]any {
	f := map[string]any{"name": name, "ram": ram, "vcpus": vcpus, "disk": disk}
	for k, v := range extra {
		f[k] = v
	}
	return map[string]any{"flavor": f}
}

// names lists a field of each item of a list.
func names(items []any, field string) []string {
	var out []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		s, _ := m[field].(string)
		out = append(out, s)
	}
	return out
}
