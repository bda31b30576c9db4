package identity

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// An operator's policy.yaml overrides Keystone's defaults.
func TestOperatorPolicyFileOverridesDefaults(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("\"identity:list_projects\": \"!\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newTestCloud(t, func(cfg *Config) { cfg.PolicyFile = path })
	c.must(403, "GET", "/v3/projects", c.adminToken, nil)
	c.must(200, "GET", "/v3/users", c.adminToken, nil)
}

// An expired token is gone, unless the caller asks for allow_expired
// within the window.
func TestExpiredTokensAndAllowExpired(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t, func(cfg *Config) { cfg.TokenExpiration = 2 * time.Second })
	subject := c.passwordToken("admin", testAdminPassword, map[string]any{"project": map[string]any{"id": c.adminProjectID}})
	time.Sleep(2100 * time.Millisecond)
	caller := c.passwordToken("admin", testAdminPassword, map[string]any{"project": map[string]any{"id": c.adminProjectID}})
	check := func(query string) int {
		req, _ := http.NewRequest("GET", c.srv.URL+"/v3/auth/tokens"+query, nil)
		req.Header.Set("X-Auth-Token", caller)
		req.Header.Set("X-Subject-Token", subject)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := check(""); code != 404 {
		t.Fatalf("expired token = %d, want 404", code)
	}
	if code := check("?allow_expired=1"); code != 200 {
		t.Fatalf("expired token with allow_expired = %d, want 200", code)
	}
	c.must(401, "GET", "/v3/projects", subject, nil)
}
