package identity

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestConsumerCRUD(t *testing.T) {
	c := newTestCloud(t)
	tok := c.adminToken
	const base = "/v3/OS-OAUTH1/consumers"

	created := c.must(201, "POST", base, tok, map[string]any{"consumer": map[string]any{"description": "first", "colour": "red"}})["consumer"].(map[string]any)
	cid, _ := created["id"].(string)
	secret, _ := created["secret"].(string)
	if cid == "" || secret == "" || created["description"] != "first" || created["colour"] != "red" {
		t.Fatalf("created = %v", created)
	}
	if self := created["links"].(map[string]any)["self"]; self != c.srv.URL+base+"/"+cid {
		t.Errorf("self = %v", self)
	}

	// The secret is kept only as a hash.
	var hash string
	if err := c.svc.db.QueryRow(`SELECT secret_hash FROM consumers WHERE id = $1`, cid).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if hash == secret || bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)) != nil {
		t.Errorf("stored %q does not hash the secret", hash)
	}

	got := c.must(200, "GET", base+"/"+cid, tok, nil)["consumer"].(map[string]any)
	if _, ok := got["secret"]; ok {
		t.Errorf("GET shows the secret: %v", got)
	}
	for _, k := range []string{"id", "description", "links", "colour"} {
		if got[k] == nil || (k != "links" && got[k] != created[k]) {
			t.Errorf("GET %s = %v, created %v", k, got[k], created[k])
		}
	}

	other := id(c.must(201, "POST", base, tok, map[string]any{"consumer": map[string]any{}}), "consumer")
	list := c.must(200, "GET", base, tok, nil)
	if ids := listIDs(list, "consumers"); !sameSet(ids, []string{cid, other}) {
		t.Errorf("list = %v", ids)
	}
	for _, it := range list["consumers"].([]any) {
		if _, ok := it.(map[string]any)["secret"]; ok {
			t.Errorf("list shows a secret: %v", it)
		}
	}

	upd := c.must(200, "PATCH", base+"/"+cid, tok, map[string]any{"consumer": map[string]any{"description": "second"}})["consumer"].(map[string]any)
	if upd["description"] != "second" {
		t.Errorf("updated = %v", upd)
	}
	if d := c.must(200, "GET", base+"/"+cid, tok, nil)["consumer"].(map[string]any)["description"]; d != "second" {
		t.Errorf("description after update = %v", d)
	}
	c.must(400, "PATCH", base+"/"+cid, tok, map[string]any{"consumer": map[string]any{"secret": "mine"}})
	c.must(400, "PATCH", base+"/"+cid, tok, map[string]any{"consumer": map[string]any{"id": "other"}})
	c.must(400, "PATCH", base+"/"+cid, tok, map[string]any{"consumer": map[string]any{}})
	c.must(400, "POST", base, tok, map[string]any{"consumer": map[string]any{"description": 7}})

	c.must(204, "DELETE", base+"/"+cid, tok, nil)
	c.must(404, "GET", base+"/"+cid, tok, nil)
	c.must(404, "DELETE", base+"/"+cid, tok, nil)
	c.must(404, "PATCH", base+"/"+cid, tok, map[string]any{"consumer": map[string]any{"description": "x"}})
}

func TestConsumerPolicyAndUnbuiltOAuth(t *testing.T) {
	c := newTestCloud(t)
	proj := c.newProject("p1")
	uid := c.newUser("carol", "pw-carol-1")
	c.grant(UserProject, uid, proj, "member", false)
	tok := c.passwordToken("carol", "pw-carol-1", map[string]any{"project": map[string]any{"id": proj}})
	c.must(403, "GET", "/v3/OS-OAUTH1/consumers", tok, nil)
	c.must(403, "POST", "/v3/OS-OAUTH1/consumers", tok, map[string]any{"consumer": map[string]any{}})

	// Request and access tokens are not built: their paths stay 404.
	for _, p := range []struct{ method, path string }{
		{"POST", "/v3/OS-OAUTH1/request_token"},
		{"POST", "/v3/OS-OAUTH1/access_token"},
		{"PUT", "/v3/OS-OAUTH1/authorize/abc"},
		{"GET", "/v3/OS-OAUTH1/users/" + c.adminUserID + "/access_tokens"},
	} {
		if resp, _ := c.do(p.method, p.path, c.adminToken, nil); resp.StatusCode != 404 {
			t.Errorf("%s %s = %d, want 404", p.method, p.path, resp.StatusCode)
		}
	}
}
