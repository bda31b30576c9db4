package identity

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Security-compliance (Keystone's [security_compliance]) and hostile-input
// tests.

// authStatus tries a password authentication and returns its status and
// body.
func (c *testCloud) authStatus(name, password string) (int, map[string]any) {
	c.t.Helper()
	resp, out := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": name, "password": password, "domain": map[string]any{"id": DefaultDomainID}}}}}})
	return resp.StatusCode, out
}

// raw sends body as is, with the given content type.
func (c *testCloud) raw(method, path, token, contentType string, body []byte) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
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
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

// checkKeystoneError checks body is {"error": {"code", "title", "message"}}
// with the status as code.
func checkKeystoneError(t *testing.T, what string, status int, body map[string]any) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Errorf("%s: body %v is not a Keystone error", what, body)
		return
	}
	if code, _ := e["code"].(float64); int(code) != status {
		t.Errorf("%s: error.code = %v, want %d", what, e["code"], status)
	}
	if s, _ := e["title"].(string); s == "" {
		t.Errorf("%s: error.title missing in %v", what, e)
	}
	if s, _ := e["message"].(string); s == "" {
		t.Errorf("%s: error.message missing in %v", what, e)
	}
}

func lockoutConfig(c *Config) {
	c.LockoutFailureAttempts = 3
	c.LockoutDuration = 200 * time.Millisecond
}

func TestLockoutAfterFailedAttempts(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t, lockoutConfig)
	uid := c.newUser("alice", "right-pw-1")
	for i := range 3 {
		if code, _ := c.authStatus("alice", "wrong"); code != 401 {
			t.Fatalf("wrong password #%d = %d, want 401", i+1, code)
		}
	}
	code, body := c.authStatus("alice", "right-pw-1")
	if code != 401 {
		t.Fatalf("right password while locked = %d, want 401", code)
	}
	checkKeystoneError(t, "locked", code, body)
	if !strings.Contains(msg(body), "locked") {
		t.Errorf("locked message = %q", msg(body))
	}
	time.Sleep(250 * time.Millisecond)
	if code, body := c.authStatus("alice", "right-pw-1"); code != 201 {
		t.Fatalf("right password after lockout_duration = %d %v, want 201", code, body)
	}
	// A success resets the count: two more failures do not lock.
	c.authStatus("alice", "wrong")
	c.authStatus("alice", "wrong")
	if code, _ := c.authStatus("alice", "right-pw-1"); code != 201 {
		t.Fatalf("right password after 2 failures = %d, want 201", code)
	}
	// ignore_lockout_failure_attempts exempts a user.
	svc := c.newUser("svc", "svc-pw-1")
	c.must(200, "PATCH", "/v3/users/"+svc, c.adminToken, map[string]any{"user": map[string]any{
		"options": map[string]any{"ignore_lockout_failure_attempts": true}}})
	for range 4 {
		c.authStatus("svc", "wrong")
	}
	if code, _ := c.authStatus("svc", "svc-pw-1"); code != 201 {
		t.Errorf("exempt user after failures = %d, want 201", code)
	}
	_ = uid
}

func TestLockoutLiftedWhenAdminDisablesAndEnables(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t, func(cfg *Config) { cfg.LockoutFailureAttempts = 3; cfg.LockoutDuration = time.Hour })
	uid := c.newUser("alice", "right-pw-1")
	for range 3 {
		c.authStatus("alice", "wrong")
	}
	if code, _ := c.authStatus("alice", "right-pw-1"); code != 401 {
		t.Fatalf("right password while locked = %d, want 401", code)
	}
	c.must(200, "PATCH", "/v3/users/"+uid, c.adminToken, map[string]any{"user": map[string]any{"enabled": false}})
	c.must(200, "PATCH", "/v3/users/"+uid, c.adminToken, map[string]any{"user": map[string]any{"enabled": true}})
	if code, body := c.authStatus("alice", "right-pw-1"); code != 201 {
		t.Fatalf("after disable+enable = %d %v, want 201", code, body)
	}
}

// Keystone's User.enabled setter clears failed_auth_count whenever enabled
// is set true, so PATCH {"enabled": true} on a locked (still enabled) user
// unlocks it: the documented way to unlock.
func TestLockoutLiftedWhenAdminEnables(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t, func(cfg *Config) { cfg.LockoutFailureAttempts = 3; cfg.LockoutDuration = time.Hour })
	uid := c.newUser("alice", "right-pw-1")
	for range 3 {
		c.authStatus("alice", "wrong")
	}
	if code, _ := c.authStatus("alice", "right-pw-1"); code != 401 {
		t.Fatalf("right password while locked = %d, want 401", code)
	}
	c.must(200, "PATCH", "/v3/users/"+uid, c.adminToken, map[string]any{"user": map[string]any{"enabled": true}})
	if code, body := c.authStatus("alice", "right-pw-1"); code != 201 {
		t.Fatalf("after admin enable = %d %v, want 201", code, body)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("alice", "old-pw-1")
	pid := c.newProject("alpha")
	c.grant(UserProject, uid, pid, "member", false)
	tok := c.passwordToken("alice", "old-pw-1", map[string]any{"project": map[string]any{"id": pid}})
	c.must(200, "GET", "/v3/users/"+uid, tok, nil)
	path := "/v3/users/" + uid + "/password"

	resp, body := c.do("POST", path, tok, map[string]any{"user": map[string]any{"original_password": "not-it", "password": "new-pw-2"}})
	if resp.StatusCode != 401 {
		t.Fatalf("wrong original = %d %v, want 401", resp.StatusCode, body)
	}
	checkKeystoneError(t, "wrong original", 401, body)
	c.must(400, "POST", path, tok, map[string]any{"user": map[string]any{"password": "new-pw-2"}})

	c.must(204, "POST", path, tok, map[string]any{"user": map[string]any{"original_password": "old-pw-1", "password": "new-pw-2"}})
	c.must(401, "GET", "/v3/users/"+uid, tok, nil) // old tokens are revoked
	if code, _ := c.authStatus("alice", "old-pw-1"); code != 401 {
		t.Errorf("old password still works: %d", code)
	}
	// A revocation also covers tokens issued in its second (Fernet times
	// are whole seconds), as Keystone's does; tempest sleeps here too.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	newTok := c.passwordToken("alice", "new-pw-2", map[string]any{"project": map[string]any{"id": pid}})
	c.must(200, "GET", "/v3/users/"+uid, newTok, nil)
	// Other users' tokens are untouched.
	c.must(200, "GET", "/v3/users/"+uid, c.adminToken, nil)
}

// Keystone's change-password call is unenforced: it needs no token (so a
// user whose password expired can still change it); the original password
// is the check.
func TestChangePasswordWithoutToken(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("alice", "old-pw-1")
	c.must(204, "POST", "/v3/users/"+uid+"/password", "", map[string]any{"user": map[string]any{"original_password": "old-pw-1", "password": "new-pw-2"}})
}

func TestPasswordHistory(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t, func(cfg *Config) { cfg.UniqueLastPasswordCount = 2 })
	uid := c.newUser("alice", "first-pw-1")
	path := "/v3/users/" + uid + "/password"
	change := func(from, to string) (int, map[string]any) {
		tok := c.passwordToken("alice", from, nil)
		resp, body := c.do("POST", path, tok, map[string]any{"user": map[string]any{"original_password": from, "password": to}})
		return resp.StatusCode, body
	}
	if code, body := change("first-pw-1", "second-pw-2"); code != 204 {
		t.Fatalf("first change = %d %v", code, body)
	}
	code, body := change("second-pw-2", "first-pw-1")
	if code != 400 {
		t.Fatalf("reusing the previous password = %d %v, want 400", code, body)
	}
	checkKeystoneError(t, "reuse", code, body)
	if code, _ := change("second-pw-2", "second-pw-2"); code != 400 {
		t.Errorf("reusing the current password = %d, want 400", code)
	}
	if code, body := change("second-pw-2", "third-pw-3"); code != 204 {
		t.Errorf("a new password = %d %v, want 204", code, body)
	}
	// With a count of 2, the one before the previous is allowed again.
	if code, body := change("third-pw-3", "first-pw-1"); code != 204 {
		t.Errorf("password three changes back = %d %v, want 204", code, body)
	}
}

func TestPasswordRegexRejectsWeakPasswords(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t, func(cfg *Config) {
		cfg.PasswordRegex = `^.{8,}$`
		cfg.PasswordRegexDesc = "at least 8 characters"
	})
	resp, body := c.do("POST", "/v3/users", c.adminToken, map[string]any{"user": map[string]any{"name": "weak", "password": "short"}})
	if resp.StatusCode != 400 {
		t.Fatalf("create with weak password = %d %v, want 400", resp.StatusCode, body)
	}
	checkKeystoneError(t, "weak", 400, body)
	if !strings.Contains(msg(body), "at least 8 characters") {
		t.Errorf("message %q lacks the regex description", msg(body))
	}
	uid := c.newUser("alice", "long-enough-1")
	c.must(400, "PATCH", "/v3/users/"+uid, c.adminToken, map[string]any{"user": map[string]any{"password": "short"}})
	tok := c.passwordToken("alice", "long-enough-1", nil)
	c.must(400, "POST", "/v3/users/"+uid+"/password", tok, map[string]any{"user": map[string]any{"original_password": "long-enough-1", "password": "short"}})
	if code, _ := c.authStatus("alice", "long-enough-1"); code != 201 {
		t.Errorf("password changed despite rejection: %d", code)
	}
}

func TestSQLLookingInputIsLiteral(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	evil := []string{`x' OR '1'='1`, `'; DROP TABLE users; --`, `%`, `_`, `a\' OR 1=1 #`, `" OR ""="`}
	for _, name := range evil {
		c.must(201, "POST", "/v3/users", c.adminToken, map[string]any{"user": map[string]any{"name": name, "password": "pw-evil-1"}})
		c.must(201, "POST", "/v3/projects", c.adminToken, map[string]any{"project": map[string]any{"name": name, "description": name}})
	}
	for _, name := range evil {
		for _, coll := range []string{"users", "projects"} {
			l := c.must(200, "GET", "/v3/"+coll+"?name="+url.QueryEscape(name), c.adminToken, nil)[coll].([]any)
			if len(l) != 1 || l[0].(map[string]any)["name"] != name {
				t.Errorf("%s ?name=%q = %v, want only that one", coll, name, l)
			}
		}
	}
	for _, probe := range []string{`' OR '1'='1`, `admin' --`, `*`, `%%`, `admin%`} {
		for _, coll := range []string{"users", "projects", "domains", "groups"} {
			l := c.must(200, "GET", "/v3/"+coll+"?name="+url.QueryEscape(probe), c.adminToken, nil)[coll].([]any)
			if len(l) != 0 {
				t.Errorf("%s ?name=%q = %v, want nothing", coll, probe, l)
			}
		}
	}
	// The users table survived, and an evil name authenticates as itself only.
	if code, _ := c.authStatus(`x' OR '1'='1`, "pw-evil-1"); code != 201 {
		t.Errorf("auth as the evil-named user = %d", code)
	}
	if code, _ := c.authStatus(`admin' --`, "anything"); code != 401 {
		t.Errorf("auth with injected name = %d, want 401", code)
	}
}

func TestMalformedRequestsGetKeystoneErrors(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	big := []byte(`{"project": {"name": "big", "description": "` + strings.Repeat("x", 200*1024) + `"}}`)
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		want                      int
	}{
		{"truncated JSON", "POST", "/v3/projects", "application/json", []byte(`{"project": {"name": "x"`), 400},
		{"not JSON", "POST", "/v3/projects", "application/json", []byte(`name=x`), 400},
		{"empty body", "POST", "/v3/projects", "application/json", nil, 400},
		{"array body", "POST", "/v3/projects", "application/json", []byte(`[1,2]`), 400},
		{"entity not an object", "POST", "/v3/projects", "application/json", []byte(`{"project": "x"}`), 400},
		{"name a number", "POST", "/v3/projects", "application/json", []byte(`{"project": {"name": 123}}`), 400},
		{"enabled a string", "POST", "/v3/projects", "application/json", []byte(`{"project": {"name": "x", "enabled": "yes"}}`), 400},
		{"user name a list", "POST", "/v3/users", "application/json", []byte(`{"user": {"name": ["a"]}}`), 400},
		{"wrong content type", "POST", "/v3/projects", "text/plain", []byte(`{"project": {"name": "x"}}`), 400},
		{"200 KB body", "POST", "/v3/projects", "application/json", big, 413},
		{"200 KB auth body", "POST", "/v3/auth/tokens", "application/json", big, 413},
		{"auth truncated", "POST", "/v3/auth/tokens", "application/json", []byte(`{"auth": {"identity":`), 400},
		{"auth without identity", "POST", "/v3/auth/tokens", "application/json", []byte(`{"auth": {}}`), 400},
		{"methods not a list", "POST", "/v3/auth/tokens", "application/json", []byte(`{"auth": {"identity": {"methods": "password"}}}`), 400},
		{"no methods", "POST", "/v3/auth/tokens", "application/json", []byte(`{"auth": {"identity": {"methods": []}}}`), 400},
		{"unknown method", "POST", "/v3/auth/tokens", "application/json", []byte(`{"auth": {"identity": {"methods": ["kerberos"], "kerberos": {}}}}`), 401},
		{"password method without password", "POST", "/v3/auth/tokens", "application/json", []byte(`{"auth": {"identity": {"methods": ["password"]}}}`), 400},
		{"password a number", "POST", "/v3/auth/tokens", "application/json",
			[]byte(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": 5}}}}}`), 400},
		{"app cred wrong types", "POST", "/v3/auth/tokens", "application/json",
			[]byte(`{"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": 7, "secret": true}}}}`), 400},
	}
	for _, tc := range cases {
		tok := c.adminToken
		if strings.HasPrefix(tc.path, "/v3/auth") {
			tok = ""
		}
		code, body := c.raw(tc.method, tc.path, tok, tc.ctype, tc.body)
		if code != tc.want {
			t.Errorf("%s: status = %d %v, want %d", tc.name, code, body, tc.want)
			continue
		}
		checkKeystoneError(t, tc.name, code, body)
	}
	// Nothing was created by the rejected requests.
	if l := c.must(200, "GET", "/v3/projects?name=x", c.adminToken, nil)["projects"].([]any); len(l) != 0 {
		t.Errorf("rejected requests created %v", l)
	}
}

func TestGarbledAndForgedTokens(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	other := newTestCloud(t) // same users and shape, different Fernet keys
	good := c.adminToken
	flipped := []byte(good)
	flipped[len(flipped)/2] ^= 0x01
	if flipped[len(flipped)/2] == '=' || flipped[len(flipped)/2] == '-' {
		flipped[len(flipped)/2] = 'A'
	}
	tokens := map[string]string{
		"garbage":             "not-a-token",
		"forged (other keys)": other.adminToken,
		"truncated":           good[:len(good)-5],
		"bit flipped":         string(flipped),
		"huge":                strings.Repeat("A", 8000),
		"sql":                 `' OR '1'='1`,
		"uuid-like":           "0123456789abcdef0123456789abcdef",
	}
	for name, tok := range tokens {
		resp, body := c.do("GET", "/v3/projects", tok, nil)
		if resp.StatusCode != 401 {
			t.Errorf("%s as X-Auth-Token = %d, want 401", name, resp.StatusCode)
		} else {
			checkKeystoneError(t, name+" as X-Auth-Token", 401, body)
		}
		req, _ := http.NewRequest("GET", c.srv.URL+"/v3/auth/tokens", nil)
		req.Header.Set("X-Auth-Token", good)
		req.Header.Set("X-Subject-Token", tok)
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode != 404 {
			t.Errorf("%s as X-Subject-Token = %d %s, want 404", name, r2.StatusCode, data)
			continue
		}
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		checkKeystoneError(t, name+" as X-Subject-Token", 404, out)
	}
	// The good token still works.
	c.must(200, "GET", "/v3/projects", good, nil)
}

// Wrong original passwords at POST /v3/users/{id}/password are failed
// authentications too; otherwise that call allows unlimited guessing.
func TestChangePasswordGuessesCountTowardLockout(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t, func(cfg *Config) { cfg.LockoutFailureAttempts = 3; cfg.LockoutDuration = time.Hour })
	uid := c.newUser("alice", "right-pw-1")
	for range 3 {
		c.must(401, "POST", "/v3/users/"+uid+"/password", "", map[string]any{"user": map[string]any{"original_password": "guess", "password": "new-pw-2"}})
	}
	if code, _ := c.authStatus("alice", "right-pw-1"); code != 401 {
		t.Fatalf("right password after 3 wrong originals = %d, want 401 (locked)", code)
	}
}
