package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// tokens are the callers of the tests: placement only looks at roles
// and project.
var tokens = map[string]*authn.Principal{
	"admin":   {UserID: "u-admin", ProjectID: "p-admin", Roles: []string{"admin", "member", "reader"}},
	"service": {UserID: "u-nova", ProjectID: "p-service", Roles: []string{"service"}},
	"reader":  {UserID: "u-reader", ProjectID: "p-reader", Roles: []string{"reader"}},
	"member":  {UserID: "u-member", ProjectID: "p-member", Roles: []string{"member", "reader"}},
}

var testValidator = authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
	if p, ok := tokens[token]; ok {
		return p, nil
	}
	return nil, fault.Unauthorizedf("bad token")
})

type api struct {
	t   testing.TB
	svc *Service
	srv *httptest.Server
}

func newAPI(t testing.TB) *api {
	t.Helper()
	return newAPIOn(t, db.OpenTest(t, nil))
}

func newAPIOn(t testing.TB, d *db.DB) *api {
	t.Helper()
	svc, err := New(context.Background(), DefaultConfig(), Options{DB: d})
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

// call sends a request; opts are "version" strings ("1.39", "latest"),
// or "token=NAME", or "ct=..." for a content type.
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
	for _, o := range opts {
		switch {
		case strings.HasPrefix(o, "token="):
			token = o[6:]
		case strings.HasPrefix(o, "ct="):
			ct = o[3:]
		case strings.HasPrefix(o, "accept="):
			req.Header.Set("Accept", o[7:])
		default:
			req.Header.Set("OpenStack-API-Version", "placement "+o)
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

// path digs into the JSON body: "a.b.c"; numbers index lists.
func (r *resp) path(p string) any {
	var cur any = r.body
	for _, k := range strings.Split(p, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[k]
		case []any:
			i := 0
			for _, ch := range k {
				i = i*10 + int(ch-'0')
			}
			if i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func (r *resp) num(p string) int64 {
	f, _ := r.path(p).(float64)
	return int64(f)
}

func (r *resp) errCode() string {
	s, _ := r.path("errors.0.code").(string)
	return s
}

func (r *resp) detail() string {
	s, _ := r.path("errors.0.detail").(string)
	return s
}

// provider makes a provider with inventory (class -> total) at latest.
func (a *api) provider(name, parent string, inv map[string]int64) string {
	a.t.Helper()
	body := map[string]any{"name": name}
	if parent != "" {
		body["parent_provider_uuid"] = parent
	}
	r := a.call("POST", "/resource_providers", body, "latest").must(a.t, 200)
	id := r.body["uuid"].(string)
	if len(inv) > 0 {
		invs := map[string]any{}
		for rc, n := range inv {
			invs[rc] = map[string]any{"total": n}
		}
		a.call("PUT", "/resource_providers/"+id+"/inventories", map[string]any{
			"resource_provider_generation": 0, "inventories": invs}, "latest").must(a.t, 200)
	}
	return id
}

func (a *api) generation(id string) int64 {
	a.t.Helper()
	return a.call("GET", "/resource_providers/"+id, nil, "latest").must(a.t, 200).num("generation")
}

// step is one request of a scenario test, as a gabbi test is.
type step struct {
	name         string
	method, path string
	body         any
	ver          string // microversion; "" sends none (1.0)
	token        string // "" = admin
	status       int
	check        func(t *testing.T, r *resp)
}

// run plays the steps in order, stopping at the first that fails.
func (a *api) run(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		opts := []string{}
		if s.ver != "" {
			opts = append(opts, s.ver)
		}
		if s.token != "" {
			opts = append(opts, "token="+s.token)
		}
		r := a.call(s.method, s.path, s.body, opts...)
		if r.code != s.status {
			t.Fatalf("%s: %s %s = %d, want %d: %s", s.name, s.method, s.path, r.code, s.status, r.raw)
		}
		if s.check != nil {
			ok := t.Run(s.name, func(t *testing.T) { s.check(t, r) })
			if !ok {
				t.FailNow()
			}
		}
	}
}

// has checks that the error detail (or body) contains every text.
func has(texts ...string) func(t *testing.T, r *resp) {
	return func(t *testing.T, r *resp) {
		t.Helper()
		for _, s := range texts {
			if !strings.Contains(r.raw, s) && !strings.Contains(r.detail(), s) {
				t.Errorf("body lacks %q: %s", s, r.raw)
			}
		}
	}
}

// eq checks JSON paths of the body.
func eq(pairs ...any) func(t *testing.T, r *resp) {
	return func(t *testing.T, r *resp) {
		t.Helper()
		for i := 0; i+1 < len(pairs); i += 2 {
			p := pairs[i].(string)
			got, _ := json.Marshal(r.path(p))
			want, _ := json.Marshal(pairs[i+1])
			if string(got) != string(want) {
				t.Errorf("%s = %s, want %s", p, got, want)
			}
		}
	}
}

func all(checks ...func(t *testing.T, r *resp)) func(t *testing.T, r *resp) {
	return func(t *testing.T, r *resp) {
		t.Helper()
		for _, c := range checks {
			c(t, r)
		}
	}
}
