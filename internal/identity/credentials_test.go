package identity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memberOf makes a user with the member role on a new project and returns
// its id, the project id and a project-scoped token.
func (c *testCloud) memberOf(name string) (uid, pid, tok string) {
	c.t.Helper()
	uid = c.newUser(name, name+"-password-1")
	pid = c.newProject(name + "-project")
	c.grant(UserProject, uid, pid, "member", false)
	tok = c.passwordToken(name, name+"-password-1", map[string]any{"project": map[string]any{"id": pid}})
	return uid, pid, tok
}

func TestCredentialsCRUDAndIsolation(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	alice, _, aliceTok := c.memberOf("alice")
	bob, _, bobTok := c.memberOf("bob")

	out := c.must(201, "POST", "/v3/credentials", aliceTok, map[string]any{"credential": map[string]any{
		"user_id": alice, "type": "totp", "blob": "s3cr3t-seed"}})
	cid := id(out, "credential")
	if cr := out["credential"].(map[string]any); cr["blob"] != "s3cr3t-seed" || cr["project_id"] != nil || cr["links"] == nil {
		t.Errorf("created = %v", cr)
	}
	// Stored sealed, not in clear.
	var stored string
	if err := c.svc.db.QueryRow(`SELECT blob FROM credentials WHERE id = $1`, cid).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "s3cr3t") || !strings.HasPrefix(stored, sealedPrefix) {
		t.Errorf("stored blob %q is not encrypted", stored)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(c.svc.cfg.KeysDir), "credential-keys", "0")); err != nil {
		t.Errorf("credential key: %v", err)
	}

	// Bob may not create for Alice, see, change or delete hers.
	c.must(403, "POST", "/v3/credentials", bobTok, map[string]any{"credential": map[string]any{"user_id": alice, "type": "totp", "blob": "x"}})
	c.must(403, "GET", "/v3/credentials/"+cid, bobTok, nil)
	c.must(403, "PATCH", "/v3/credentials/"+cid, bobTok, map[string]any{"credential": map[string]any{"blob": "x"}})
	c.must(403, "DELETE", "/v3/credentials/"+cid, bobTok, nil)
	c.must(201, "POST", "/v3/credentials", bobTok, map[string]any{"credential": map[string]any{"user_id": bob, "type": "cert", "blob": "b"}})
	if got := c.must(200, "GET", "/v3/credentials", bobTok, nil)["credentials"].([]any); len(got) != 1 || got[0].(map[string]any)["user_id"] != bob {
		t.Errorf("bob's list = %v", got)
	}
	if got := c.must(200, "GET", "/v3/credentials?user_id="+alice, bobTok, nil)["credentials"].([]any); len(got) != 0 {
		t.Errorf("bob sees alice's: %v", got)
	}
	// Alice may not give hers away to Bob.
	c.must(403, "PATCH", "/v3/credentials/"+cid, aliceTok, map[string]any{"credential": map[string]any{"user_id": bob}})

	if got := c.must(200, "GET", "/v3/credentials?type=totp", c.adminToken, nil)["credentials"].([]any); len(got) != 1 {
		t.Errorf("admin type filter = %v", got)
	}
	if got := c.must(200, "GET", "/v3/credentials", c.adminToken, nil)["credentials"].([]any); len(got) != 2 {
		t.Errorf("admin list = %v", got)
	}
	upd := c.must(200, "PATCH", "/v3/credentials/"+cid, aliceTok, map[string]any{"credential": map[string]any{"blob": "new-seed"}})
	if upd["credential"].(map[string]any)["blob"] != "new-seed" {
		t.Errorf("update = %v", upd)
	}
	if got := c.must(200, "GET", "/v3/credentials/"+cid, aliceTok, nil); got["credential"].(map[string]any)["blob"] != "new-seed" {
		t.Errorf("get after update = %v", got)
	}
	c.must(204, "DELETE", "/v3/credentials/"+cid, aliceTok, nil)
	resp, body := c.do("GET", "/v3/credentials/"+cid, c.adminToken, nil)
	if e, _ := body["error"].(map[string]any); resp.StatusCode != 404 || e["title"] != "Not Found" {
		t.Errorf("deleted credential = %d %v", resp.StatusCode, body)
	}
}

func TestEC2CredentialTypeRules(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	blob := `{"access": "AK1", "secret": "S1"}`
	c.must(400, "POST", "/v3/credentials", c.adminToken, map[string]any{"credential": map[string]any{
		"user_id": c.adminUserID, "type": "ec2", "blob": blob}}) // no project
	c.must(400, "POST", "/v3/credentials", c.adminToken, map[string]any{"credential": map[string]any{
		"user_id": c.adminUserID, "project_id": c.adminProjectID, "type": "ec2", "blob": "not json"}})
	out := c.must(201, "POST", "/v3/credentials", c.adminToken, map[string]any{"credential": map[string]any{
		"user_id": c.adminUserID, "project_id": c.adminProjectID, "type": "ec2", "blob": blob}})
	if id(out, "credential") != hashAccessKey("AK1") {
		t.Errorf("ec2 credential id = %s, want sha256(access)", id(out, "credential"))
	}
	// It shows through the OS-EC2 API too.
	got := c.must(200, "GET", "/v3/users/"+c.adminUserID+"/credentials/OS-EC2/AK1", c.adminToken, nil)
	if cr := got["credential"].(map[string]any); cr["secret"] != "S1" || cr["tenant_id"] != c.adminProjectID {
		t.Errorf("OS-EC2 view = %v", cr)
	}
}

func TestOSEC2Credentials(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	alice, pid, aliceTok := c.memberOf("alice")
	_, _, bobTok := c.memberOf("bob")
	base := "/v3/users/" + alice + "/credentials/OS-EC2"

	c.must(404, "POST", base, aliceTok, map[string]any{"tenant_id": "no-such-project"})
	c.must(403, "POST", base, bobTok, map[string]any{"tenant_id": pid})
	out := c.must(201, "POST", base, aliceTok, map[string]any{"tenant_id": pid})
	cr := out["credential"].(map[string]any)
	access, _ := cr["access"].(string)
	if access == "" || cr["secret"] == "" || cr["user_id"] != alice || cr["tenant_id"] != pid {
		t.Fatalf("created = %v", cr)
	}
	if v, ok := cr["trust_id"]; !ok || v != nil {
		t.Errorf("trust_id = %v, %v; want null", v, ok)
	}
	if l, _ := cr["links"].(map[string]any); !strings.HasSuffix(l["self"].(string), base+"/"+access) {
		t.Errorf("links = %v", cr["links"])
	}
	// Stored as a v3 credential with id sha256(access).
	v3 := c.must(200, "GET", "/v3/credentials/"+hashAccessKey(access), aliceTok, nil)["credential"].(map[string]any)
	var blob map[string]any
	if err := json.Unmarshal([]byte(v3["blob"].(string)), &blob); err != nil || blob["access"] != access || v3["type"] != "ec2" {
		t.Errorf("v3 view = %v", v3)
	}
	list := c.must(200, "GET", base, aliceTok, nil)
	if l, _ := list["credentials"].([]any); len(l) != 1 {
		t.Errorf("list = %v", list)
	}
	c.must(403, "GET", base+"/"+access, bobTok, nil)
	c.must(403, "DELETE", base+"/"+access, bobTok, nil)
	c.must(200, "GET", base+"/"+access, aliceTok, nil)
	c.must(204, "DELETE", base+"/"+access, aliceTok, nil)
	c.must(404, "GET", base+"/"+access, aliceTok, nil)
	c.must(404, "GET", "/v3/credentials/"+hashAccessKey(access), c.adminToken, nil)
}

// AWS's SigV4 test suite, case get-vanilla.
var getVanilla = EC2Request{
	Access: "AKIDEXAMPLE", Verb: "GET", Path: "/", Host: "example.amazonaws.com",
	BodyHash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	Params:   map[string]string{},
	Headers: map[string]string{"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z",
		"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
	Signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
}

const vanillaSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

func TestSigV4MatchesAWSTestSuite(t *testing.T) {
	t.Parallel()
	if got := sigV4(vanillaSecret, getVanilla); got != getVanilla.Signature {
		t.Errorf("sigV4 = %s, want %s", got, getVanilla.Signature)
	}
}

func TestEC2TokensIssuesProjectToken(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	alice, pid, _ := c.memberOf("alice")
	blob, _ := json.Marshal(map[string]string{"access": "AKIDEXAMPLE", "secret": vanillaSecret})
	c.must(201, "POST", "/v3/credentials", c.adminToken, map[string]any{"credential": map[string]any{
		"user_id": alice, "project_id": pid, "type": "ec2", "blob": string(blob)}})
	creds := map[string]any{"access": getVanilla.Access, "signature": getVanilla.Signature, "host": getVanilla.Host,
		"verb": getVanilla.Verb, "path": getVanilla.Path, "params": getVanilla.Params, "headers": getVanilla.Headers,
		"body_hash": getVanilla.BodyHash}
	resp, out := c.do("POST", "/v3/ec2tokens", "", map[string]any{"credentials": creds})
	if resp.StatusCode != 200 || resp.Header.Get("X-Subject-Token") == "" {
		t.Fatalf("ec2tokens = %d %v", resp.StatusCode, out)
	}
	tok := out["token"].(map[string]any)
	if tok["user"].(map[string]any)["id"] != alice || tok["project"].(map[string]any)["id"] != pid {
		t.Errorf("token = %v", tok)
	}
	if !names(tok["roles"])["member"] {
		t.Errorf("roles = %v", tok["roles"])
	}
	c.must(200, "GET", "/v3/auth/catalog", resp.Header.Get("X-Subject-Token"), nil)

	creds["signature"] = strings.Repeat("0", 64)
	if resp, _ := c.do("POST", "/v3/ec2tokens", "", map[string]any{"credentials": creds}); resp.StatusCode != 401 {
		t.Errorf("bad signature = %d, want 401", resp.StatusCode)
	}
	creds["access"] = "unknown"
	if resp, _ := c.do("POST", "/v3/ec2tokens", "", map[string]any{"credentials": creds}); resp.StatusCode != 401 {
		t.Errorf("unknown access = %d, want 401", resp.StatusCode)
	}
}
