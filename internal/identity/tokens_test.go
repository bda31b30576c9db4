package identity

import (
	"net/http"
	"testing"
)

func TestPasswordTokenHasRolesCatalogAndValidates(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	resp, body := c.do("GET", "/v3/auth/tokens", c.adminToken, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("validate without X-Subject-Token = %d, want 400", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", c.srv.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", c.adminToken)
	req.Header.Set("X-Subject-Token", c.adminToken)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 || r2.Header.Get("X-Subject-Token") != c.adminToken {
		t.Fatalf("validate = %d, subject %q", r2.StatusCode, r2.Header.Get("X-Subject-Token"))
	}
	_ = body
	tok := c.postToken(c.adminToken, c.adminToken)
	roles := names(tok["roles"])
	for _, want := range []string{"admin", "manager", "member", "reader"} {
		if !roles[want] {
			t.Errorf("token roles %v lack %s (implied roles)", roles, want)
		}
	}
	if cat, _ := tok["catalog"].([]any); len(cat) != 1 {
		t.Errorf("catalog = %v, want the identity service", tok["catalog"])
	}
}

// postToken validates subject with auth and returns the token body.
func (c *testCloud) postToken(auth, subject string) map[string]any {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.srv.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", auth)
	req.Header.Set("X-Subject-Token", subject)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		c.t.Fatalf("validate = %d", resp.StatusCode)
	}
	var out map[string]any
	if err := jsonDecode(resp.Body, &out); err != nil {
		c.t.Fatal(err)
	}
	tok, _ := out["token"].(map[string]any)
	return tok
}

func names(v any) map[string]bool {
	out := map[string]bool{}
	list, _ := v.([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		if n, ok := m["name"].(string); ok {
			out[n] = true
		}
	}
	return out
}

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	auth := func(name, pw string) (int, map[string]any) {
		resp, out := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{
			"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
				"name": name, "password": pw, "domain": map[string]any{"id": "default"}}}}}})
		return resp.StatusCode, out
	}
	code1, body1 := auth("admin", "wrong")
	code2, body2 := auth("nobody", "wrong")
	if code1 != 401 || code2 != 401 {
		t.Fatalf("codes = %d, %d, want 401, 401", code1, code2)
	}
	if msg(body1) != msg(body2) {
		t.Fatalf("messages differ: %q vs %q", msg(body1), msg(body2))
	}
}

func msg(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func TestRevokedAndDisabledTokensFailAtOnce(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("alice", "pw-alice-1")
	pid := c.newProject("alpha")
	c.grant(UserProject, uid, pid, "member", false)
	scope := map[string]any{"project": map[string]any{"id": pid}}

	// Revoke.
	tok := c.passwordToken("alice", "pw-alice-1", scope)
	c.must(200, "GET", "/v3/projects/"+pid, tok, nil)
	req, _ := http.NewRequest("DELETE", c.srv.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", c.adminToken)
	req.Header.Set("X-Subject-Token", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("revoke = %v %v", resp, err)
	}
	c.must(401, "GET", "/v3/projects/"+pid, tok, nil)

	// Disabling the project.
	tok = c.passwordToken("alice", "pw-alice-1", scope)
	c.must(200, "PATCH", "/v3/projects/"+pid, c.adminToken, map[string]any{"project": map[string]any{"enabled": false}})
	c.must(401, "GET", "/v3/projects/"+pid, tok, nil)
	c.must(200, "PATCH", "/v3/projects/"+pid, c.adminToken, map[string]any{"project": map[string]any{"enabled": true}})

	// Disabling the user.
	tok = c.passwordToken("alice", "pw-alice-1", scope)
	c.must(200, "PATCH", "/v3/users/"+uid, c.adminToken, map[string]any{"user": map[string]any{"enabled": false}})
	c.must(401, "GET", "/v3/projects/"+pid, tok, nil)
	c.must(200, "PATCH", "/v3/users/"+uid, c.adminToken, map[string]any{"user": map[string]any{"enabled": true}})

	// Removing the only role.
	tok = c.passwordToken("alice", "pw-alice-1", scope)
	if _, err := c.svc.db.Exec(`DELETE FROM assignments WHERE actor_id = $1`, uid); err != nil {
		t.Fatal(err)
	}
	c.svc.Invalidate()
	c.must(401, "GET", "/v3/projects/"+pid, tok, nil)
}

func TestOneProjectCannotSeeAnother(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	a := c.newUser("a", "pw-a")
	pa := c.newProject("pa")
	pb := c.newProject("pb")
	c.grant(UserProject, a, pa, "member", false)
	tok := c.passwordToken("a", "pw-a", map[string]any{"project": map[string]any{"id": pa}})
	c.must(200, "GET", "/v3/projects/"+pa, tok, nil)
	c.must(403, "GET", "/v3/projects/"+pb, tok, nil)
	c.must(403, "PATCH", "/v3/projects/"+pa, tok, map[string]any{"project": map[string]any{"name": "x"}})
	c.must(403, "GET", "/v3/users", tok, nil)
	c.must(403, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"name": "mine"}})
}

func TestRevokedSubjectIs404AndIssueBodyMatchesValidation(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	c.newUser("bob", "pw-bob")
	caller := c.passwordToken("bob", "pw-bob", nil)
	resp, issued := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": "bob", "password": "pw-bob", "domain": map[string]any{"id": "default"}}}}}})
	subject := resp.Header.Get("X-Subject-Token")
	validated := c.postToken(caller, subject)
	if issued["token"].(map[string]any)["issued_at"] != validated["issued_at"] {
		t.Fatalf("issued_at at issue %v != at validation %v", issued["token"].(map[string]any)["issued_at"], validated["issued_at"])
	}
	check := func(method string) int {
		req, _ := http.NewRequest(method, c.srv.URL+"/v3/auth/tokens", nil)
		req.Header.Set("X-Auth-Token", caller)
		req.Header.Set("X-Subject-Token", subject)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := check("DELETE"); code != 204 {
		t.Fatalf("revoke own token = %d", code)
	}
	if code := check("HEAD"); code != 404 {
		t.Fatalf("HEAD revoked token = %d, want 404", code)
	}
}

func TestTokenMethodWithRevokedTokenIs404(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("carol", "pw-carol-1")
	old := c.passwordToken("carol", "pw-carol-1", nil)
	c.must(204, "POST", "/v3/users/"+uid+"/password", "", map[string]any{"user": map[string]any{"password": "pw-carol-2", "original_password": "pw-carol-1"}})
	resp, _ := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"token"}, "token": map[string]any{"id": old}}}})
	if resp.StatusCode != 404 {
		t.Fatalf("token method with a token revoked by a password change = %d, want 404 as Keystone", resp.StatusCode)
	}
}
