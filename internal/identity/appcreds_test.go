package identity

import (
	"net/http"
	"testing"
	"time"
)

// appCredAuth authenticates with an application credential given as the
// api-ref shows it, returning the status, token and body.
func (c *testCloud) appCredAuth(cred map[string]any) (int, string, map[string]any) {
	c.t.Helper()
	resp, out := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"application_credential"}, "application_credential": cred}}})
	return resp.StatusCode, resp.Header.Get("X-Subject-Token"), out
}

// appCredUser makes a user with member (and so reader) on a new project,
// and a token of theirs scoped to it.
func (c *testCloud) appCredUser(name string) (uid, pid, tok string) {
	c.t.Helper()
	uid = c.newUser(name, "pw-"+name)
	pid = c.newProject("p-" + name)
	c.grant(UserProject, uid, pid, "member", false)
	tok = c.passwordToken(name, "pw-"+name, map[string]any{"project": map[string]any{"id": pid}})
	return uid, pid, tok
}

func TestAppCredCreateShowsSecretOnce(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, pid, tok := c.appCredUser("alice")
	base := "/v3/users/" + uid + "/application_credentials"
	out := c.must(201, "POST", base, tok, map[string]any{"application_credential": map[string]any{
		"name": "monitoring", "description": "for monitoring"}})
	ac := out["application_credential"].(map[string]any)
	secret, _ := ac["secret"].(string)
	if len(secret) != 86 { // 64 random bytes, unpadded URL-safe base64
		t.Errorf("generated secret %q has %d characters, want 86", secret, len(secret))
	}
	if ac["project_id"] != pid || ac["unrestricted"] != false || ac["expires_at"] != nil || ac["description"] != "for monitoring" {
		t.Errorf("created = %v", ac)
	}
	if r := names(ac["roles"]); !r["member"] || !r["reader"] || len(r) != 2 {
		t.Errorf("default roles = %v, want the token's member and reader", ac["roles"])
	}
	if rules, ok := ac["access_rules"].([]any); !ok || len(rules) != 0 {
		t.Errorf("access_rules = %v, want []", ac["access_rules"])
	}
	links, _ := ac["links"].(map[string]any)
	if links["self"] != c.srv.URL+base+"/"+ac["id"].(string) {
		t.Errorf("links = %v", links)
	}
	got := c.must(200, "GET", base+"/"+ac["id"].(string), tok, nil)["application_credential"].(map[string]any)
	if _, ok := got["secret"]; ok {
		t.Errorf("GET shows the secret: %v", got)
	}
	list := c.must(200, "GET", base, tok, nil)["application_credentials"].([]any)
	if len(list) != 1 {
		t.Fatalf("list = %v", list)
	}
	if _, ok := list[0].(map[string]any)["secret"]; ok {
		t.Errorf("list shows the secret")
	}
	var hash string
	if err := c.svc.db.QueryRow(`SELECT secret_hash FROM application_credentials WHERE id = $1`, ac["id"]).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if hash == secret || len(hash) < 59 || hash[0] != '$' {
		t.Errorf("stored secret is not a bcrypt hash: %q", hash)
	}

	c.must(409, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "monitoring"}})
	c.must(400, "POST", base, tok, map[string]any{"application_credential": map[string]any{"description": "no name"}})
	c.must(400, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "x", "bogus": 1}})
	c.must(400, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "x", "unrestricted": "yes"}})
	c.must(400, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "x",
		"expires_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}})
	c.must(400, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "x", "expires_at": "tomorrow"}})
	// Roles the user does not hold on the project.
	c.must(400, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "x",
		"roles": []any{map[string]any{"name": "admin"}}}})
	c.must(400, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "x",
		"roles": []any{map[string]any{"id": c.roleID("admin")}}}})
	c.must(404, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "x",
		"roles": []any{map[string]any{"name": "no-such-role"}}}})
	// Only for oneself, and only with a project-scoped token.
	other := c.newUser("bob", "pw-bob")
	c.must(403, "POST", "/v3/users/"+other+"/application_credentials", tok, map[string]any{"application_credential": map[string]any{"name": "x"}})
	c.must(403, "POST", "/v3/users/"+other+"/application_credentials", c.adminToken, map[string]any{"application_credential": map[string]any{"name": "x"}})
	unscoped := c.passwordToken("alice", "pw-alice", nil)
	c.must(400, "POST", base, unscoped, map[string]any{"application_credential": map[string]any{"name": "x"}})
	c.must(401, "POST", base, "", map[string]any{"application_credential": map[string]any{"name": "x"}})
}

func TestAppCredAuthenticatesByIDAndByName(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, pid, tok := c.appCredUser("alice")
	// reader held directly as well as implied by member: see
	// TestAppCredWithImpliedRoleOnly for the implied-only case.
	c.grant(UserProject, uid, pid, "reader", false)
	base := "/v3/users/" + uid + "/application_credentials"
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	ac := c.must(201, "POST", base, tok, map[string]any{"application_credential": map[string]any{
		"name": "reader-only", "secret": "my-own-secret", "roles": []any{map[string]any{"name": "reader"}},
		"expires_at": expires.Format("2006-01-02T15:04:05.000000")}})["application_credential"].(map[string]any)
	if ac["secret"] != "my-own-secret" {
		t.Errorf("secret = %v, want the one given", ac["secret"])
	}
	if ac["expires_at"] != expires.Format("2006-01-02T15:04:05.000000") {
		t.Errorf("expires_at = %v, want %s", ac["expires_at"], expires.Format("2006-01-02T15:04:05.000000"))
	}
	acID := ac["id"].(string)

	for name, cred := range map[string]map[string]any{
		"by id":               {"id": acID, "secret": "my-own-secret"},
		"by name and user id": {"name": "reader-only", "secret": "my-own-secret", "user": map[string]any{"id": uid}},
		"by name and user name": {"name": "reader-only", "secret": "my-own-secret",
			"user": map[string]any{"name": "alice", "domain": map[string]any{"id": DefaultDomainID}}},
	} {
		code, acTok, out := c.appCredAuth(cred)
		if code != 201 {
			t.Fatalf("%s: auth = %d %v", name, code, out)
		}
		tb := out["token"].(map[string]any)
		if id(tb, "project") != pid {
			t.Errorf("%s: project = %v, want %s", name, tb["project"], pid)
		}
		if r := names(tb["roles"]); !r["reader"] || len(r) != 1 {
			t.Errorf("%s: roles = %v, want only reader", name, tb["roles"])
		}
		if m := tb["methods"].([]any); len(m) != 1 || m[0] != "application_credential" {
			t.Errorf("%s: methods = %v", name, m)
		}
		if tac, _ := tb["application_credential"].(map[string]any); tac["id"] != acID || tac["restricted"] != true {
			t.Errorf("%s: application_credential = %v", name, tb["application_credential"])
		}
		if exp, _ := time.Parse(time.RFC3339, tb["expires_at"].(string)); exp.After(expires) {
			t.Errorf("%s: token expires %v, after the credential (%v)", name, exp, expires)
		}
		// The token works, and a restricted credential cannot make another.
		c.must(200, "GET", "/v3/projects/"+pid, acTok, nil)
		c.must(403, "POST", base, acTok, map[string]any{"application_credential": map[string]any{"name": "child"}})
		c.must(403, "DELETE", base+"/"+acID, acTok, nil)
	}
	for name, cred := range map[string]map[string]any{
		"wrong secret":       {"id": acID, "secret": "nope"},
		"no secret":          {"id": acID},
		"unknown id":         {"id": "0123456789abcdef0123456789abcdef", "secret": "my-own-secret"},
		"name of other user": {"name": "reader-only", "secret": "my-own-secret", "user": map[string]any{"id": c.adminUserID}},
	} {
		if code, _, out := c.appCredAuth(cred); code != 401 {
			t.Errorf("%s: auth = %d %v, want 401", name, code, out)
		}
	}
	// A scope other than the credential's is refused.
	resp, out := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"application_credential"},
			"application_credential": map[string]any{"id": acID, "secret": "my-own-secret"}},
		"scope": map[string]any{"project": map[string]any{"id": c.adminProjectID}}}})
	if resp.StatusCode != 401 {
		t.Errorf("auth with another scope = %d %v, want 401", resp.StatusCode, out)
	}
}

// The api-ref's own example: a member gives a credential only the reader
// role that member implies.
func TestAppCredWithImpliedRoleOnly(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, pid, tok := c.appCredUser("alice")
	ac := c.must(201, "POST", "/v3/users/"+uid+"/application_credentials", tok, map[string]any{"application_credential": map[string]any{
		"name": "reader-only", "roles": []any{map[string]any{"name": "reader"}}}})["application_credential"].(map[string]any)
	code, _, out := c.appCredAuth(map[string]any{"id": ac["id"], "secret": ac["secret"]})
	if code != 201 {
		t.Fatalf("auth = %d %v", code, out)
	}
	tb := out["token"].(map[string]any)
	if r := names(tb["roles"]); id(tb, "project") != pid || !r["reader"] || len(r) != 1 {
		t.Errorf("token project %v roles %v, want %s and only reader", tb["project"], tb["roles"], pid)
	}
}

func TestAppCredUnrestrictedMayCreateAnother(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, _, tok := c.appCredUser("alice")
	base := "/v3/users/" + uid + "/application_credentials"
	ac := c.must(201, "POST", base, tok, map[string]any{"application_credential": map[string]any{
		"name": "parent", "unrestricted": true}})["application_credential"].(map[string]any)
	code, acTok, out := c.appCredAuth(map[string]any{"id": ac["id"], "secret": ac["secret"]})
	if code != 201 {
		t.Fatalf("auth = %d %v", code, out)
	}
	c.must(201, "POST", base, acTok, map[string]any{"application_credential": map[string]any{"name": "child"}})
}

func TestAppCredExpiredCannotAuthenticate(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, _, tok := c.appCredUser("alice")
	ac := c.must(201, "POST", "/v3/users/"+uid+"/application_credentials", tok, map[string]any{"application_credential": map[string]any{
		"name": "short", "expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}})["application_credential"].(map[string]any)
	code, acTok, _ := c.appCredAuth(map[string]any{"id": ac["id"], "secret": ac["secret"]})
	if code != 201 {
		t.Fatalf("auth before expiry = %d", code)
	}
	// Move the credential's expiry into the past, as time passing would.
	if _, err := c.svc.db.Exec(`UPDATE application_credentials SET expires_at = $1 WHERE id = $2`,
		time.Now().Add(-time.Second).UnixMicro(), ac["id"]); err != nil {
		t.Fatal(err)
	}
	c.svc.Invalidate()
	if code, _, out := c.appCredAuth(map[string]any{"id": ac["id"], "secret": ac["secret"]}); code != 401 {
		t.Errorf("auth after expiry = %d %v, want 401", code, out)
	}
	c.must(401, "GET", "/v3/auth/projects", acTok, nil)
}

func TestAppCredDeleteStopsItsTokens(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, pid, tok := c.appCredUser("alice")
	base := "/v3/users/" + uid + "/application_credentials"
	ac := c.must(201, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": "doomed"}})["application_credential"].(map[string]any)
	_, acTok, _ := c.appCredAuth(map[string]any{"id": ac["id"], "secret": ac["secret"]})
	c.must(200, "GET", "/v3/projects/"+pid, acTok, nil) // now cached
	if _, err := c.svc.ValidateToken(t.Context(), acTok, false); err != nil {
		t.Fatalf("ValidateToken before delete: %v", err)
	}
	c.must(204, "DELETE", base+"/"+ac["id"].(string), tok, nil)
	if _, err := c.svc.ValidateToken(t.Context(), acTok, false); err == nil {
		t.Fatal("ValidateToken after delete succeeded")
	}
	c.must(401, "GET", "/v3/projects/"+pid, acTok, nil)
	req, _ := http.NewRequest("GET", c.srv.URL+"/v3/auth/tokens", nil)
	req.Header.Set("X-Auth-Token", c.adminToken)
	req.Header.Set("X-Subject-Token", acTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("validate deleted credential's token = %d, want 404", resp.StatusCode)
	}
	c.must(404, "GET", base+"/"+ac["id"].(string), tok, nil)
	c.must(404, "DELETE", base+"/"+ac["id"].(string), tok, nil)
	if code, _, _ := c.appCredAuth(map[string]any{"id": ac["id"], "secret": ac["secret"]}); code != 401 {
		t.Errorf("auth with deleted credential = %d, want 401", code)
	}
}

func TestAppCredOtherUsersCannotSeeOrDeleteMine(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	alice, _, aliceTok := c.appCredUser("alice")
	bob, _, bobTok := c.appCredUser("bob")
	mine := "/v3/users/" + alice + "/application_credentials"
	ac := c.must(201, "POST", mine, aliceTok, map[string]any{"application_credential": map[string]any{"name": "mine",
		"access_rules": []any{map[string]any{"service": "compute", "path": "/v2.1/servers", "method": "GET"}}}})["application_credential"].(map[string]any)
	acID := ac["id"].(string)
	ruleID := ac["access_rules"].([]any)[0].(map[string]any)["id"].(string)

	c.must(403, "GET", mine, bobTok, nil)
	c.must(403, "GET", mine+"/"+acID, bobTok, nil)
	c.must(403, "DELETE", mine+"/"+acID, bobTok, nil)
	c.must(403, "GET", "/v3/users/"+alice+"/access_rules", bobTok, nil)
	c.must(403, "DELETE", "/v3/users/"+alice+"/access_rules/"+ruleID, bobTok, nil)
	// Through bob's own path, alice's credential and rule do not exist.
	c.must(404, "GET", "/v3/users/"+bob+"/application_credentials/"+acID, bobTok, nil)
	c.must(404, "DELETE", "/v3/users/"+bob+"/application_credentials/"+acID, bobTok, nil)
	c.must(404, "GET", "/v3/users/"+bob+"/access_rules/"+ruleID, bobTok, nil)
	if l := c.must(200, "GET", "/v3/users/"+bob+"/application_credentials", bobTok, nil)["application_credentials"].([]any); len(l) != 0 {
		t.Errorf("bob's list = %v", l)
	}
	// Nor can bob borrow alice's access rule by id.
	c.must(404, "POST", "/v3/users/"+bob+"/application_credentials", bobTok, map[string]any{"application_credential": map[string]any{
		"name": "borrowed", "access_rules": []any{map[string]any{"id": ruleID}}}})
	// An admin may read and delete it (admin_or_owner).
	c.must(200, "GET", mine+"/"+acID, c.adminToken, nil)
	c.must(204, "DELETE", mine+"/"+acID, c.adminToken, nil)
}

func TestAppCredListFiltersByName(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, _, tok := c.appCredUser("alice")
	base := "/v3/users/" + uid + "/application_credentials"
	for _, n := range []string{"one", "two"} {
		c.must(201, "POST", base, tok, map[string]any{"application_credential": map[string]any{"name": n}})
	}
	if l := c.must(200, "GET", base, tok, nil)["application_credentials"].([]any); len(l) != 2 {
		t.Errorf("list = %d, want 2", len(l))
	}
	l := c.must(200, "GET", base+"?name=two", tok, nil)["application_credentials"].([]any)
	if len(l) != 1 || l[0].(map[string]any)["name"] != "two" {
		t.Errorf("list ?name=two = %v", l)
	}
}

func TestAccessRulesLifecycle(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid, _, tok := c.appCredUser("alice")
	base := "/v3/users/" + uid
	rule := map[string]any{"path": "/v2.1/servers/*/ips", "method": "GET", "service": "compute"}
	ac := c.must(201, "POST", base+"/application_credentials", tok, map[string]any{"application_credential": map[string]any{
		"name": "ips", "access_rules": []any{rule}}})["application_credential"].(map[string]any)
	got := ac["access_rules"].([]any)[0].(map[string]any)
	ruleID := got["id"].(string)
	for k, v := range rule {
		if got[k] != v {
			t.Errorf("access rule %s = %v, want %v", k, got[k], v)
		}
	}
	// Reused: by id, and by an identical description.
	ac2 := c.must(201, "POST", base+"/application_credentials", tok, map[string]any{"application_credential": map[string]any{
		"name": "ips2", "access_rules": []any{map[string]any{"id": ruleID}}}})["application_credential"].(map[string]any)
	ac3 := c.must(201, "POST", base+"/application_credentials", tok, map[string]any{"application_credential": map[string]any{
		"name": "ips3", "access_rules": []any{rule}}})["application_credential"].(map[string]any)
	for _, a := range []map[string]any{ac2, ac3} {
		if r := a["access_rules"].([]any); len(r) != 1 || r[0].(map[string]any)["id"] != ruleID {
			t.Errorf("%s access_rules = %v, want rule %s", a["name"], r, ruleID)
		}
	}
	list := c.must(200, "GET", base+"/access_rules", tok, nil)["access_rules"].([]any)
	if len(list) != 1 {
		t.Fatalf("access rules = %v", list)
	}
	one := c.must(200, "GET", base+"/access_rules/"+ruleID, tok, nil)["access_rule"].(map[string]any)
	if one["links"].(map[string]any)["self"] != c.srv.URL+"/v3/access_rules/"+ruleID || one["service"] != "compute" {
		t.Errorf("access rule = %v", one)
	}
	if l := c.must(200, "GET", base+"/access_rules?service=image", tok, nil)["access_rules"].([]any); len(l) != 0 {
		t.Errorf("filter service=image = %v", l)
	}
	// The token shows the rules.
	_, acTok, _ := c.appCredAuth(map[string]any{"id": ac["id"], "secret": ac["secret"]})
	tb := c.postToken(c.adminToken, acTok)
	if r, _ := tb["application_credential"].(map[string]any)["access_rules"].([]any); len(r) != 1 {
		t.Errorf("token application_credential = %v", tb["application_credential"])
	}
	// In use: 403 until every credential using it is gone.
	c.must(403, "DELETE", base+"/access_rules/"+ruleID, tok, nil)
	for _, a := range []map[string]any{ac, ac2, ac3} {
		c.must(204, "DELETE", base+"/application_credentials/"+a["id"].(string), tok, nil)
	}
	if l := c.must(200, "GET", base+"/access_rules", tok, nil)["access_rules"].([]any); len(l) != 1 {
		t.Errorf("rules after deleting credentials = %v, want the rule kept", l)
	}
	c.must(204, "DELETE", base+"/access_rules/"+ruleID, tok, nil)
	c.must(404, "GET", base+"/access_rules/"+ruleID, tok, nil)
	if l := c.must(200, "GET", base+"/access_rules", tok, nil)["access_rules"].([]any); len(l) != 0 {
		t.Errorf("rules after delete = %v", l)
	}
	// Malformed rules.
	for _, bad := range []map[string]any{
		{"path": "no-slash", "method": "GET", "service": "compute"},
		{"path": "/x", "method": "FETCH", "service": "compute"},
		{"path": "/x", "method": "GET"},
		{"path": "/x", "method": "GET", "service": "compute", "extra": "no"},
	} {
		c.must(400, "POST", base+"/application_credentials", tok, map[string]any{"application_credential": map[string]any{
			"name": "bad", "access_rules": []any{bad}}})
	}
}
