package image

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/identity"
	filestore "github.com/nimbus-cloud/nimbus/internal/image/store/file"
)

// testCloud is identity and image on real SQLite and a real file store,
// behind httptest, with two projects to test isolation.
type testCloud struct {
	t        *testing.T
	id       *identity.Service
	svc      *Service
	srv      *httptest.Server
	idSrv    *httptest.Server
	admin    string // admin token on the admin project
	alice    string // member token on project A
	bob      string // member token on project B
	projectA string
	projectB string
	storeDir string
}

func newTestCloud(t *testing.T, tweak ...func(*Config)) *testCloud {
	t.Helper()
	return newTestCloudWith(t, false, tweak...)
}

// newTestCloudWith also runs import (an embedded bus, a staging store and
// the import worker) when importing is true.
func newTestCloudWith(t *testing.T, importing bool, tweak ...func(*Config)) *testCloud {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	idDB, err := db.Open(ctx, filepath.Join(dir, "identity.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idDB.Close() })
	icfg := identity.DefaultConfig()
	icfg.KeysDir = filepath.Join(dir, "keys")
	icfg.BcryptCost = bcrypt.MinCost
	ids, err := identity.New(ctx, icfg, identity.Options{DB: idDB})
	if err != nil {
		t.Fatal(err)
	}
	idSrv := httptest.NewServer(ids.Handler(httpx.Options{}))
	t.Cleanup(idSrv.Close)
	if _, err := ids.Bootstrap(ctx, identity.BootstrapOptions{AdminUser: "admin", AdminPassword: "adminpw", AdminProject: "admin"}); err != nil {
		t.Fatal(err)
	}

	imgDB, err := db.Open(ctx, filepath.Join(dir, "image.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imgDB.Close() })
	c := &testCloud{t: t, id: ids, idSrv: idSrv, storeDir: filepath.Join(dir, "images")}
	st, err := filestore.New(c.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	for _, f := range tweak {
		f(&cfg)
	}
	opts := Options{DB: imgDB, Store: st}
	if importing {
		b, err := bus.Open(ctx, bus.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		staging, err := filestore.New(filepath.Join(dir, "staging"))
		if err != nil {
			t.Fatal(err)
		}
		opts.Bus, opts.Staging = b, staging
	}
	c.svc, err = New(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if importing {
		stop, err := c.svc.StartImportWorker(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	c.srv = httptest.NewServer(c.svc.Handler(httpx.Options{}, ids))
	t.Cleanup(c.srv.Close)

	c.admin = c.login("admin", "adminpw", "admin")
	c.projectA = c.idCall("POST", "/v3/projects", map[string]any{"project": map[string]any{"name": "A"}}, "project")
	c.projectB = c.idCall("POST", "/v3/projects", map[string]any{"project": map[string]any{"name": "B"}}, "project")
	member := c.roleID("member")
	for _, u := range []struct{ name, project string }{{"alice", c.projectA}, {"bob", c.projectB}} {
		uid := c.idCall("POST", "/v3/users", map[string]any{"user": map[string]any{"name": u.name, "password": u.name + "pw"}}, "user")
		c.idCall("PUT", "/v3/projects/"+u.project+"/users/"+uid+"/roles/"+member, nil, "")
	}
	c.alice = c.login("alice", "alicepw", "A")
	c.bob = c.login("bob", "bobpw", "B")
	return c
}

func (c *testCloud) roleID(name string) string {
	c.t.Helper()
	_, body := c.raw(c.idSrv.URL, "GET", "/v3/roles?name="+name, c.admin, "", nil)
	var out struct {
		Roles []struct{ ID string } `json:"roles"`
	}
	json.Unmarshal(body, &out)
	if len(out.Roles) != 1 {
		c.t.Fatalf("role %s: %s", name, body)
	}
	return out.Roles[0].ID
}

func (c *testCloud) login(user, password, project string) string {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": user, "password": password, "domain": map[string]any{"id": "default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"id": "default"}}}}})
	resp, err := http.Post(c.idSrv.URL+"/v3/auth/tokens", "application/json", bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		c.t.Fatalf("login %s = %d", user, resp.StatusCode)
	}
	return resp.Header.Get("X-Subject-Token")
}

// idCall makes an identity request as admin and returns body[key].id.
func (c *testCloud) idCall(method, path string, body any, key string) string {
	c.t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	resp, out := c.raw(c.idSrv.URL, method, path, c.admin, "application/json", data)
	if resp.StatusCode >= 300 {
		c.t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, out)
	}
	if key == "" {
		return ""
	}
	var m map[string]map[string]any
	json.Unmarshal(out, &m)
	id, _ := m[key]["id"].(string)
	return id
}

func (c *testCloud) raw(base, method, path, token, ctype string, body []byte) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

// do calls the image API with a JSON body and decodes a JSON answer.
func (c *testCloud) do(method, path, token string, body any) (*http.Response, map[string]any) {
	c.t.Helper()
	var data []byte
	ctype := ""
	if body != nil {
		data, _ = json.Marshal(body)
		ctype = "application/json"
		if method == "PATCH" {
			ctype = patchType
		}
	}
	resp, out := c.raw(c.srv.URL, method, path, token, ctype, data)
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return resp, m
}

func (c *testCloud) must(want int, method, path, token string, body any) map[string]any {
	c.t.Helper()
	resp, m := c.do(method, path, token, body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s = %d %v, want %d", method, path, resp.StatusCode, m, want)
	}
	return m
}

// upload PUTs data as an image's file and returns the status.
func (c *testCloud) upload(token, id string, data []byte) (int, string) {
	c.t.Helper()
	resp, out := c.raw(c.srv.URL, "PUT", "/v2/images/"+id+"/file", token, "application/octet-stream", data)
	return resp.StatusCode, string(out)
}

func (c *testCloud) rawRange(id, rng string) (*http.Response, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.srv.URL+"/v2/images/"+id+"/file", nil)
	req.Header.Set("X-Auth-Token", c.alice)
	req.Header.Set("Range", rng)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (c *testCloud) newRequest(method, path, token string, body []byte) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", token)
	return req
}

func (c *testCloud) send(req *http.Request) int {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
