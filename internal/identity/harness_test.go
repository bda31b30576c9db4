package identity

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

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend/ldap"
)

// testCloud is identity on real SQLite behind httptest, bootstrapped.
type testCloud struct {
	t              *testing.T
	svc            *Service
	srv            *httptest.Server
	adminToken     string
	adminUserID    string
	adminProjectID string
}

const testAdminPassword = "s3cret-admin"

func newTestCloud(t *testing.T, tweak ...func(*Config)) *testCloud {
	t.Helper()
	return newTestCloudOn(t, "", tweak...)
}

// newTestCloudOn is newTestCloud on the database at dsn ("" = SQLite in a
// temp dir).
func newTestCloudOn(t *testing.T, dsn string, tweak ...func(*Config)) *testCloud {
	t.Helper()
	dir := t.TempDir()
	if dsn == "" {
		dsn = filepath.Join(dir, "identity.sqlite")
	}
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cfg := DefaultConfig()
	cfg.KeysDir = filepath.Join(dir, "fernet-keys")
	cfg.BcryptCost = bcrypt.MinCost
	for _, f := range tweak {
		f(&cfg)
	}
	svc, err := New(context.Background(), cfg, Options{DB: d,
		LDAPDriver: func(c backend.LDAPConfig) (backend.Reader, error) { return ldap.New(c) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpxOptions()))
	t.Cleanup(srv.Close)
	res, err := svc.Bootstrap(context.Background(), BootstrapOptions{
		AdminUser: "admin", AdminPassword: testAdminPassword, AdminProject: "admin", Region: "RegionOne",
		Services: []BootstrapService{{Type: "identity", Name: "keystone", URLs: map[string]string{
			"public": srv.URL + "/v3", "internal": srv.URL + "/v3", "admin": srv.URL + "/v3"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &testCloud{t: t, svc: svc, srv: srv, adminUserID: res.AdminUserID, adminProjectID: res.AdminProjectID}
	c.adminToken = c.passwordToken("admin", testAdminPassword, map[string]any{"project": map[string]any{"id": res.AdminProjectID}})
	return c
}

// do sends a JSON request and decodes a JSON answer (nil when none).
func (c *testCloud) do(method, path, token string, body any) (*http.Response, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 {
		_ = json.Unmarshal(data, &out)
	}
	return resp, out
}

// must is do that fails the test unless the status is want.
func (c *testCloud) must(want int, method, path, token string, body any) map[string]any {
	c.t.Helper()
	resp, out := c.do(method, path, token, body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s = %d %v, want %d", method, path, resp.StatusCode, out, want)
	}
	return out
}

// passwordToken authenticates a Default-domain user; scope may be nil.
func (c *testCloud) passwordToken(name, password string, scope map[string]any) string {
	c.t.Helper()
	auth := map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": name, "password": password,
			"domain": map[string]any{"id": DefaultDomainID}}}}}
	if scope != nil {
		auth["scope"] = scope
	}
	resp, out := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": auth})
	if resp.StatusCode != http.StatusCreated {
		c.t.Fatalf("password auth of %s = %d %v", name, resp.StatusCode, out)
	}
	return resp.Header.Get("X-Subject-Token")
}

// id digs out body[key]["id"].
func id(body map[string]any, key string) string {
	m, _ := body[key].(map[string]any)
	s, _ := m["id"].(string)
	return s
}

// roleID finds a global role by name.
func (c *testCloud) roleID(name string) string {
	c.t.Helper()
	var rid string
	if err := c.svc.db.QueryRow(`SELECT id FROM roles WHERE name = $1 AND domain_id = ''`, name).Scan(&rid); err != nil {
		c.t.Fatalf("role %s: %v", name, err)
	}
	return rid
}

// grant assigns a role directly in the database, for tests of features
// other than the assignment API.
func (c *testCloud) grant(typ, actor, target, role string, inherited bool) {
	c.t.Helper()
	if _, err := c.svc.db.Exec(`INSERT INTO assignments (type, actor_id, target_id, role_id, inherited) VALUES ($1, $2, $3, $4, $5)`,
		typ, actor, target, c.roleID(role), inherited); err != nil {
		c.t.Fatal(err)
	}
	c.svc.Invalidate()
}

// newUser makes a user with a password in the Default domain.
func (c *testCloud) newUser(name, password string) string {
	c.t.Helper()
	out := c.must(201, "POST", "/v3/users", c.adminToken, map[string]any{"user": map[string]any{"name": name, "password": password}})
	return id(out, "user")
}

// newProject makes a project in the Default domain.
func (c *testCloud) newProject(name string) string {
	c.t.Helper()
	out := c.must(201, "POST", "/v3/projects", c.adminToken, map[string]any{"project": map[string]any{"name": name}})
	return id(out, "project")
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
