package identity

import (
	"net/http"
	"testing"
	"time"
)

// trustParties makes a trustor holding member on a new project, a trustee
// and an outsider, each with a token (the trustor's scoped to the project).
type trustParties struct {
	trustor, trustee, outsider          string // user ids
	project                             string
	trustorTok, trusteeTok, outsiderTok string
}

func (c *testCloud) trustParties() trustParties {
	c.t.Helper()
	var tp trustParties
	tp.trustor = c.newUser("alice", "pw-alice")
	tp.trustee = c.newUser("bob", "pw-bob")
	tp.outsider = c.newUser("carol", "pw-carol")
	tp.project = c.newProject("shared")
	c.grant(UserProject, tp.trustor, tp.project, "member", false)
	tp.trustorTok = c.passwordToken("alice", "pw-alice", map[string]any{"project": map[string]any{"id": tp.project}})
	tp.trusteeTok = c.passwordToken("bob", "pw-bob", nil)
	tp.outsiderTok = c.passwordToken("carol", "pw-carol", nil)
	return tp
}

// createTrust makes a trust of member from the trustor to the trustee,
// with extra fields merged in, and returns its id.
func (c *testCloud) createTrust(tp trustParties, impersonation bool, extra map[string]any) string {
	c.t.Helper()
	body := map[string]any{"trustor_user_id": tp.trustor, "trustee_user_id": tp.trustee, "project_id": tp.project,
		"impersonation": impersonation, "roles": []any{map[string]any{"name": "member"}}}
	for k, v := range extra {
		body[k] = v
	}
	out := c.must(201, "POST", "/v3/OS-TRUST/trusts", tp.trustorTok, map[string]any{"trust": body})
	return id(out, "trust")
}

// trustAuth asks for a trust-scoped token with a password.
func (c *testCloud) trustAuth(name, password, trustID string) (*http.Response, map[string]any) {
	c.t.Helper()
	return c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": name, "password": password, "domain": map[string]any{"id": DefaultDomainID}}}},
		"scope": map[string]any{"OS-TRUST:trust": map[string]any{"id": trustID}}}})
}

// validate is GET /v3/auth/tokens by the admin; it returns the status.
func (c *testCloud) validate(token string) int {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.srv.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", c.adminToken)
	req.Header.Set("X-Subject-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// tokenBody is GET /v3/auth/tokens of token by the admin.
func (c *testCloud) tokenBody(token string) map[string]any {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.srv.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", c.adminToken)
	req.Header.Set("X-Subject-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := jsonDecode(resp.Body, &body); err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("validate = %d %v", resp.StatusCode, err)
	}
	return body
}

func TestTrustCreateGetListDelete(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tp := c.trustParties()
	expires := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	out := c.must(201, "POST", "/v3/OS-TRUST/trusts", tp.trustorTok, map[string]any{"trust": map[string]any{
		"trustor_user_id": tp.trustor, "trustee_user_id": tp.trustee, "project_id": tp.project, "impersonation": true,
		"roles": []any{map[string]any{"name": "member"}}, "expires_at": expires.Format("2006-01-02T15:04:05Z")}})
	tr := out["trust"].(map[string]any)
	tid := tr["id"].(string)
	if tr["trustor_user_id"] != tp.trustor || tr["trustee_user_id"] != tp.trustee || tr["project_id"] != tp.project ||
		tr["impersonation"] != true || tr["remaining_uses"] != nil || tr["expires_at"] != expires.Format(timeFormat) ||
		tr["redelegation_count"] != 0.0 || tr["allow_redelegation"] != false {
		t.Errorf("created = %v", tr)
	}
	if links, _ := tr["links"].(map[string]any); links["self"] != c.srv.URL+"/v3/OS-TRUST/trusts/"+tid {
		t.Errorf("links = %v", tr["links"])
	}
	if rl, _ := tr["roles_links"].(map[string]any); rl["self"] != c.srv.URL+"/v3/OS-TRUST/trusts/"+tid+"/roles" {
		t.Errorf("roles_links = %v", tr["roles_links"])
	}
	if r := names(tr["roles"]); !r["member"] || len(r) != 1 {
		t.Errorf("roles = %v", tr["roles"])
	}

	for _, tok := range []string{tp.trustorTok, tp.trusteeTok} {
		got := c.must(200, "GET", "/v3/OS-TRUST/trusts/"+tid, tok, nil)["trust"].(map[string]any)
		if got["id"] != tid || names(got["roles"])["member"] != true {
			t.Errorf("GET = %v", got)
		}
	}
	for _, q := range []string{"?trustor_user_id=" + tp.trustor} {
		for _, path := range []string{"/v3/OS-TRUST/trusts", "/v3/OS-TRUST/trusts/"} {
			list := c.must(200, "GET", path+q, tp.trustorTok, nil)["trusts"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["id"] != tid {
				t.Fatalf("list %s = %v", path+q, list)
			}
			if _, ok := list[0].(map[string]any)["roles"]; ok {
				t.Errorf("listed trust shows roles: %v", list[0])
			}
		}
	}
	if list := c.must(200, "GET", "/v3/OS-TRUST/trusts?trustee_user_id="+tp.trustee, tp.trusteeTok, nil)["trusts"].([]any); len(list) != 1 {
		t.Errorf("trustee's list = %v", list)
	}
	if list := c.must(200, "GET", "/v3/OS-TRUST/trusts", c.adminToken, nil)["trusts"].([]any); len(list) != 1 {
		t.Errorf("admin's list = %v", list)
	}

	roles := c.must(200, "GET", "/v3/OS-TRUST/trusts/"+tid+"/roles", tp.trusteeTok, nil)["roles"].([]any)
	if r := names(roles); !r["member"] || len(r) != 1 {
		t.Errorf("trust roles = %v", roles)
	}
	member, reader := c.roleID("member"), c.roleID("reader")
	role := c.must(200, "GET", "/v3/OS-TRUST/trusts/"+tid+"/roles/"+member, tp.trustorTok, nil)["role"].(map[string]any)
	if role["id"] != member || role["name"] != "member" {
		t.Errorf("trust role = %v", role)
	}
	c.must(200, "HEAD", "/v3/OS-TRUST/trusts/"+tid+"/roles/"+member, tp.trustorTok, nil)
	c.must(404, "GET", "/v3/OS-TRUST/trusts/"+tid+"/roles/"+reader, tp.trustorTok, nil)
	c.must(404, "HEAD", "/v3/OS-TRUST/trusts/"+tid+"/roles/"+reader, tp.trustorTok, nil)

	c.must(403, "DELETE", "/v3/OS-TRUST/trusts/"+tid, tp.trusteeTok, nil)
	c.must(204, "DELETE", "/v3/OS-TRUST/trusts/"+tid, tp.trustorTok, nil)
	c.must(404, "GET", "/v3/OS-TRUST/trusts/"+tid, tp.trustorTok, nil)
	c.must(404, "DELETE", "/v3/OS-TRUST/trusts/"+tid, tp.trustorTok, nil)
}

func TestTrustCreateRejects(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tp := c.trustParties()
	base := func() map[string]any {
		return map[string]any{"trustor_user_id": tp.trustor, "trustee_user_id": tp.trustee, "project_id": tp.project,
			"impersonation": false, "roles": []any{map[string]any{"name": "member"}}}
	}
	for name, tc := range map[string]struct {
		edit func(map[string]any)
		want int
	}{
		"someone else as trustor": {func(m map[string]any) { m["trustor_user_id"] = tp.outsider }, 403},
		"role not held":           {func(m map[string]any) { m["roles"] = []any{map[string]any{"name": "admin"}} }, 404},
		"unknown role":            {func(m map[string]any) { m["roles"] = []any{map[string]any{"id": "nope"}} }, 404},
		"no roles":                {func(m map[string]any) { delete(m, "roles") }, 403},
		"unknown trustee":         {func(m map[string]any) { m["trustee_user_id"] = "nope" }, 404},
		"bad expiry":              {func(m map[string]any) { m["expires_at"] = "bad.123Z" }, 400},
		"past expiry":             {func(m map[string]any) { m["expires_at"] = "2001-01-01T00:00:00Z" }, 400},
		"zero uses":               {func(m map[string]any) { m["remaining_uses"] = 0 }, 400},
		"no impersonation":        {func(m map[string]any) { delete(m, "impersonation") }, 400},
		"uses and redelegation":   {func(m map[string]any) { m["remaining_uses"], m["allow_redelegation"] = 2, true }, 400},
	} {
		t.Run(name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			c.must(tc.want, "POST", "/v3/OS-TRUST/trusts", tp.trustorTok, map[string]any{"trust": m})
		})
	}
}

func TestTrustScopedToken(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tp := c.trustParties()
	for _, impersonation := range []bool{true, false} {
		tid := c.createTrust(tp, impersonation, nil)
		resp, out := c.trustAuth("bob", "pw-bob", tid)
		if resp.StatusCode != 201 {
			t.Fatalf("trust auth (impersonation %v) = %d %v", impersonation, resp.StatusCode, out)
		}
		tok := resp.Header.Get("X-Subject-Token")
		for what, body := range map[string]map[string]any{"issued": out, "validated": c.tokenBody(tok)} {
			token := body["token"].(map[string]any)
			wantUser := tp.trustee
			if impersonation {
				wantUser = tp.trustor
			}
			if id(token, "user") != wantUser {
				t.Errorf("%s (impersonation %v): user = %v, want %s", what, impersonation, token["user"], wantUser)
			}
			if d, _ := token["user"].(map[string]any)["domain"].(map[string]any); d["name"] != "Default" {
				t.Errorf("%s: user domain = %v, want Default", what, d)
			}
			if id(token, "project") != tp.project {
				t.Errorf("%s: project = %v", what, token["project"])
			}
			trust, _ := token["OS-TRUST:trust"].(map[string]any)
			if trust["id"] != tid || trust["impersonation"] != impersonation || id(trust, "trustor_user") != tp.trustor ||
				id(trust, "trustee_user") != tp.trustee {
				t.Errorf("%s: OS-TRUST:trust = %v", what, trust)
			}
			if r := names(token["roles"]); !r["member"] || !r["reader"] || len(r) != 2 {
				t.Errorf("%s: roles = %v, want member and the reader it implies", what, token["roles"])
			}
		}
		// The token works against the API as its user.
		c.must(200, "GET", "/v3/auth/projects", tok, nil)
		// A trust-scoped token cannot make another token.
		resp, out = c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{
			"methods": []string{"token"}, "token": map[string]any{"id": tok}}}})
		if resp.StatusCode != 403 {
			t.Errorf("token from trust token = %d %v, want 403", resp.StatusCode, out)
		}
	}
}

func TestTrustScopedTokenRejects(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tp := c.trustParties()
	tid := c.createTrust(tp, false, nil)

	if resp, out := c.trustAuth("carol", "pw-carol", tid); resp.StatusCode != 403 {
		t.Errorf("outsider's trust auth = %d %v, want 403", resp.StatusCode, out)
	}
	if resp, out := c.trustAuth("bob", "pw-bob", "nope"); resp.StatusCode != 404 {
		t.Errorf("unknown trust auth = %d %v, want 404", resp.StatusCode, out)
	}
	if resp, out := c.trustAuth("bob", "pw-bob", ""); resp.StatusCode != 400 {
		t.Errorf("empty trust id = %d %v, want 400", resp.StatusCode, out)
	}

	// An expired trust gives no tokens, and its tokens stop validating.
	resp, _ := c.trustAuth("bob", "pw-bob", tid)
	tok := resp.Header.Get("X-Subject-Token")
	if _, err := c.svc.db.Exec(`UPDATE trusts SET expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Minute).UnixMicro(), tid); err != nil {
		t.Fatal(err)
	}
	c.svc.Invalidate()
	if resp, out := c.trustAuth("bob", "pw-bob", tid); resp.StatusCode != 404 {
		t.Errorf("expired trust auth = %d %v, want 404", resp.StatusCode, out)
	}
	if got := c.validate(tok); got != 404 {
		t.Errorf("token of expired trust validates: %d", got)
	}
	c.must(404, "GET", "/v3/OS-TRUST/trusts/"+tid, tp.trustorTok, nil)

	// A trust expiring before a token would caps the token's expiry.
	soon := time.Now().UTC().Add(10 * time.Minute).Truncate(time.Second)
	short := c.createTrust(tp, false, map[string]any{"expires_at": soon.Format(time.RFC3339)})
	resp, out := c.trustAuth("bob", "pw-bob", short)
	if e := out["token"].(map[string]any)["expires_at"]; resp.StatusCode != 201 || e != soon.Format(timeFormat) {
		t.Errorf("token of short trust expires %v, want %s", e, soon.Format(timeFormat))
	}

	// Limited uses run out.
	limited := c.createTrust(tp, false, map[string]any{"remaining_uses": 2})
	var toks []string
	for i := range 2 {
		resp, out := c.trustAuth("bob", "pw-bob", limited)
		if resp.StatusCode != 201 {
			t.Fatalf("use %d = %d %v", i+1, resp.StatusCode, out)
		}
		toks = append(toks, resp.Header.Get("X-Subject-Token"))
	}
	if resp, out := c.trustAuth("bob", "pw-bob", limited); resp.StatusCode != 404 {
		t.Errorf("third use = %d %v, want 404", resp.StatusCode, out)
	}
	for _, tok := range toks {
		if got := c.validate(tok); got != 200 {
			t.Errorf("token of a used-up trust = %d, want 200", got)
		}
	}
}

func TestTrustDeleteRevokesTokens(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tp := c.trustParties()
	tid := c.createTrust(tp, true, nil)
	resp, _ := c.trustAuth("bob", "pw-bob", tid)
	tok := resp.Header.Get("X-Subject-Token")
	if got := c.validate(tok); got != 200 {
		t.Fatalf("validate = %d", got)
	}
	c.must(204, "DELETE", "/v3/OS-TRUST/trusts/"+tid, tp.trustorTok, nil)
	if got := c.validate(tok); got != 404 {
		t.Errorf("token of deleted trust = %d, want 404", got)
	}
	if resp, out := c.trustAuth("bob", "pw-bob", tid); resp.StatusCode != 404 {
		t.Errorf("deleted trust auth = %d %v, want 404", resp.StatusCode, out)
	}

	// The trustor losing the delegated role invalidates the trust's tokens.
	tid = c.createTrust(tp, false, nil)
	resp, _ = c.trustAuth("bob", "pw-bob", tid)
	tok = resp.Header.Get("X-Subject-Token")
	if got := c.validate(tok); got != 200 {
		t.Fatalf("validate = %d", got)
	}
	if _, err := c.svc.db.Exec(`DELETE FROM assignments WHERE actor_id = $1`, tp.trustor); err != nil {
		t.Fatal(err)
	}
	c.svc.Invalidate()
	if got := c.validate(tok); got != 404 {
		t.Errorf("token after trustor lost the role = %d, want 404", got)
	}
	if resp, out := c.trustAuth("bob", "pw-bob", tid); resp.StatusCode != 403 {
		t.Errorf("trust auth after trustor lost the role = %d %v, want 403", resp.StatusCode, out)
	}
}

func TestTrustVisibility(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tp := c.trustParties()
	tid := c.createTrust(tp, false, nil)

	c.must(403, "GET", "/v3/OS-TRUST/trusts/"+tid, tp.outsiderTok, nil)
	c.must(403, "GET", "/v3/OS-TRUST/trusts/"+tid+"/roles", tp.outsiderTok, nil)
	c.must(403, "GET", "/v3/OS-TRUST/trusts/"+tid+"/roles/"+c.roleID("member"), tp.outsiderTok, nil)
	c.must(403, "DELETE", "/v3/OS-TRUST/trusts/"+tid, tp.outsiderTok, nil)
	c.must(403, "GET", "/v3/OS-TRUST/trusts?trustor_user_id="+tp.trustor, tp.outsiderTok, nil)
	c.must(403, "GET", "/v3/OS-TRUST/trusts?trustee_user_id="+tp.trustee, tp.outsiderTok, nil)
	// Without a filter only an admin may list.
	c.must(403, "GET", "/v3/OS-TRUST/trusts", tp.trusteeTok, nil)
	// The trustee sees it as trustee, not another trustor's trusts.
	c.must(403, "GET", "/v3/OS-TRUST/trusts?trustor_user_id="+tp.trustor, tp.trusteeTok, nil)
	if list := c.must(200, "GET", "/v3/OS-TRUST/trusts?trustee_user_id="+tp.outsider, tp.outsiderTok, nil)["trusts"].([]any); len(list) != 0 {
		t.Errorf("outsider's trusts = %v", list)
	}
}
