package compute_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/compute/glanceclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/image/imagetest"
)

// These tests run the compute API with the product's image client
// (glanceclient) against the real image service, both on httptest.

var proxyCallers = map[string]*authn.Principal{
	"admin":   {UserID: "u-admin", ProjectID: "0a0a0a0a0a0a4a0a8a0a0a0a0a0a0a0a", Roles: []string{"admin", "member", "reader"}},
	"member":  {UserID: "u-demo", ProjectID: "0d0d0d0d0d0d4d0d8d0d0d0d0d0d0d0d", Roles: []string{"member", "reader"}},
	"alt":     {UserID: "u-alt", ProjectID: "0e0e0e0e0e0e4e0e8e0e0e0e0e0e0e0e", Roles: []string{"member", "reader"}},
	"neutron": {UserID: "u-neutron", ProjectID: "0f0f0f0f0f0f4f0f8f0f0f0f0f0f0f0f", Roles: []string{"service"}},
}

var proxyValidator = authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
	p, ok := proxyCallers[token]
	if !ok {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	c := *p
	c.Token, c.ExpiresAt = token, time.Now().Add(time.Hour)
	return &c, nil
})

type proxyAPI struct {
	t        *testing.T
	svc      *compute.Service
	compute  string
	glance   string
	images   *glanceclient.Client
	tasks    chan tasks.Task
	bootFrom string // an active public image
}

func newProxyAPI(t *testing.T, cfg compute.Config) *proxyAPI {
	t.Helper()
	ctx := context.Background()
	gurl := imagetest.Start(t, proxyValidator)
	b, err := bus.Open(ctx, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	gc := glanceclient.New(gurl, nil)
	svc, err := compute.New(ctx, cfg, compute.Options{DB: db.OpenTest(t, nil), Images: gc, Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.EnsureDefaultFlavors(ctx); err != nil {
		t.Fatal(err)
	}
	csrv := httptest.NewServer(svc.Handler(httpx.Options{}, proxyValidator))
	t.Cleanup(csrv.Close)
	a := &proxyAPI{t: t, svc: svc, compute: csrv.URL, glance: gurl, images: gc, tasks: make(chan tasks.Task, 100)}
	stop, err := b.Work(ctx, tasks.Queue, func(ctx context.Context, body []byte) error {
		task, err := tasks.Decode(body)
		if err != nil {
			return err
		}
		a.tasks <- task
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	a.bootFrom = a.image("admin", "cirros", map[string]any{"visibility": "public"}, true)
	return a
}

type answer struct {
	code int
	raw  string
	body map[string]any
	hdr  http.Header
}

func (a *proxyAPI) do(base, method, path string, body any, token, version string, header ...string) *answer {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if version != "" {
		req.Header.Set("OpenStack-API-Version", "compute "+version)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	out := &answer{code: res.StatusCode, raw: string(data), hdr: res.Header}
	_ = json.Unmarshal(data, &out.body)
	return out
}

// nova calls the compute API at 2.35 unless version says otherwise.
func (a *proxyAPI) nova(method, path string, body any, token string, version ...string) *answer {
	a.t.Helper()
	v := "2.35"
	if len(version) > 0 {
		v = version[0]
	}
	return a.do(a.compute, method, "/v2.1"+path, body, token, v)
}

func (r *answer) must(t *testing.T, code int) *answer {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.raw)
	}
	return r
}

// fault checks Nova's error body.
func (r *answer) fault(t *testing.T, code int, name, msg string) {
	t.Helper()
	r.must(t, code)
	e, _ := r.body[name].(map[string]any)
	if e == nil || e["message"] != msg || e["code"] != float64(code) {
		t.Fatalf("error body %s, want %s %q", r.raw, name, msg)
	}
}

// image makes an image of token's project (active when upload).
func (a *proxyAPI) image(token, name string, fields map[string]any, upload bool) string {
	a.t.Helper()
	f := map[string]any{"name": name, "disk_format": "raw", "container_format": "bare"}
	for k, v := range fields {
		f[k] = v
	}
	id, err := a.images.CreateImage(context.Background(), token, f)
	if err != nil {
		a.t.Fatal(err)
	}
	if upload {
		req, _ := http.NewRequest(http.MethodPut, a.glance+"/v2/images/"+id+"/file", strings.NewReader(strings.Repeat("*", 1024)))
		req.Header.Set("X-Auth-Token", token)
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusNoContent {
			a.t.Fatalf("upload: %v %v", res, err)
		}
		res.Body.Close()
	}
	return id
}

func ids(items any) []string {
	var out []string
	list, _ := items.([]any)
	for _, it := range list {
		m, _ := it.(map[string]any)
		s, _ := m["id"].(string)
		out = append(out, s)
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
