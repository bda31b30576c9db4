package s3

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

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/identity"
)

// identityCloud is real identity on SQLite behind httptest, with alice, a
// member of project demo, holding an EC2 credential.
type identityCloud struct {
	svc            *identity.Service
	url            string
	access, secret string
	projectID      string
}

func newIdentityCloud(t *testing.T) *identityCloud {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, filepath.Join(dir, "identity.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cfg := identity.DefaultConfig()
	cfg.KeysDir = filepath.Join(dir, "keys")
	cfg.BcryptCost = bcrypt.MinCost
	svc, err := identity.New(ctx, cfg, identity.Options{DB: d})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpx.Options{}))
	t.Cleanup(srv.Close)
	if _, err := svc.Bootstrap(ctx, identity.BootstrapOptions{AdminUser: "admin", AdminPassword: "admin-pw",
		AdminProject: "admin", Region: "RegionOne"}); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, token string, body any, want int) (map[string]any, http.Header) {
		t.Helper()
		b, _ := json.Marshal(body)
		r, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		if token != "" {
			r.Header.Set("X-Auth-Token", token)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, data)
		}
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return out, resp.Header
	}
	token := func(user, pw string, project string) string {
		_, h := call("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{
			"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
				"name": user, "password": pw, "domain": map[string]any{"id": "default"}}}},
			"scope": map[string]any{"project": map[string]any{"name": project, "domain": map[string]any{"id": "default"}}}}}, 201)
		return h.Get("X-Subject-Token")
	}
	id := func(m map[string]any, key string) string { return m[key].(map[string]any)["id"].(string) }
	admin := token("admin", "admin-pw", "admin")
	project, _ := call("POST", "/v3/projects", admin, map[string]any{"project": map[string]any{"name": "demo"}}, 201)
	user, _ := call("POST", "/v3/users", admin, map[string]any{"user": map[string]any{"name": "alice", "password": "alice-pw"}}, 201)
	roles, _ := call("GET", "/v3/roles?name=member", admin, nil, 200)
	member := roles["roles"].([]any)[0].(map[string]any)["id"].(string)
	call("PUT", "/v3/projects/"+id(project, "project")+"/users/"+id(user, "user")+"/roles/"+member, admin, nil, 204)
	alice := token("alice", "alice-pw", "demo")
	cred, _ := call("POST", "/v3/users/"+id(user, "user")+"/credentials/OS-EC2", alice,
		map[string]any{"tenant_id": id(project, "project")}, 201)
	c := cred["credential"].(map[string]any)
	return &identityCloud{svc: svc, url: srv.URL, access: c["access"].(string), secret: c["secret"].(string),
		projectID: id(project, "project")}
}

// S3 with EC2 credentials made in identity, checked in-process and through
// /v3/s3tokens as a split deployment does.
func TestWithIdentity(t *testing.T) {
	t.Parallel()
	ic := newIdentityCloud(t)
	remote, err := authn.NewRemote(authn.RemoteOptions{AuthURL: ic.url + "/v3", Username: "admin", Password: "admin-pw",
		ProjectName: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]Verifier{"in-process": ic.svc, "remote": remote} {
		t.Run(name, func(t *testing.T) {
			s := newStack(t, v)
			c := s.client(ic.access, ic.secret)
			c.must(200, "PUT", "/alice-bucket", nil)
			c.must(200, "PUT", "/alice-bucket/hello.txt", []byte("hello"))
			if _, data := c.must(200, "GET", "/alice-bucket/hello.txt", nil); string(data) != "hello" {
				t.Errorf("read back %q", data)
			}
			var all listAllMyBucketsResult
			_, data := c.must(200, "GET", "/", nil)
			decodeXML(t, data, &all)
			if len(all.Buckets) != 1 || all.Owner.ID != "demo:alice" {
				t.Errorf("buckets: %s", data)
			}
			s.client(ic.access, "wrong-secret").fails(403, "SignatureDoesNotMatch", "GET", "/alice-bucket/hello.txt", nil)
			s.client("no-such-access", ic.secret).fails(403, "InvalidAccessKeyId", "GET", "/alice-bucket/hello.txt", nil)
			// The bucket is a container of the project's account.
			if resp, _ := s.send(mustRequest(t, "HEAD", s.url+"/v1/AUTH_"+ic.projectID+"/alice-bucket")); resp.StatusCode != 401 && resp.StatusCode != 403 {
				t.Errorf("anonymous HEAD of the container = %d", resp.StatusCode)
			}
		})
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
