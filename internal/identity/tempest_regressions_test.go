package identity

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Regressions found by running tempest's identity tests against Nimbus;
// each test names the tempest test it stands for.

// test_credentials.test_credentials_create_get_update_delete: an EC2
// credential's blob (and so its access key) and project can be changed;
// the id stays the one derived from the first access key, as in Keystone.
func TestCredentialUpdateReplacesEC2Key(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	alice, p1, _ := c.memberOf("alice")
	p2 := c.newProject("second")
	blob := func(access, secret string) string {
		b, _ := json.Marshal(map[string]string{"access": access, "secret": secret})
		return string(b)
	}
	cred := c.must(201, "POST", "/v3/credentials", c.adminToken, map[string]any{"credential": map[string]any{
		"user_id": alice, "project_id": p1, "type": "ec2", "blob": blob("old-access", "old-secret")}})["credential"].(map[string]any)
	cid := cred["id"].(string)
	if cid != hashAccessKey("old-access") {
		t.Fatalf("id = %s, want sha256 of the access key", cid)
	}

	up := c.must(200, "PATCH", "/v3/credentials/"+cid, c.adminToken, map[string]any{"credential": map[string]any{
		"blob": blob("new-access", "new-secret"), "project_id": p2, "type": "ec2"}})["credential"].(map[string]any)
	var got map[string]any
	if err := json.Unmarshal([]byte(up["blob"].(string)), &got); err != nil {
		t.Fatal(err)
	}
	if up["id"] != cid || up["project_id"] != p2 || up["user_id"] != alice || got["access"] != "new-access" || got["secret"] != "new-secret" {
		t.Errorf("updated = %v", up)
	}
	shown := c.must(200, "GET", "/v3/credentials/"+cid, c.adminToken, nil)["credential"].(map[string]any)
	if shown["blob"] != up["blob"] || shown["project_id"] != p2 {
		t.Errorf("shown = %v, want %v", shown, up)
	}

	// The old access key no longer names the credential.
	c.must(404, "GET", "/v3/users/"+alice+"/credentials/OS-EC2/old-access", c.adminToken, nil)
	resp, _ := c.do("POST", "/v3/ec2tokens", "", map[string]any{"credentials": map[string]any{
		"access": "old-access", "signature": strings.Repeat("0", 64), "host": "h", "verb": "GET", "path": "/", "params": map[string]any{}}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ec2tokens with the replaced access key = %d, want 401", resp.StatusCode)
	}

	// Keystone's _validate_blob_update_keys: a scope in the blob cannot
	// be added, changed or dropped.
	b, _ := json.Marshal(map[string]any{"access": "new-access", "secret": "s", "trust_id": "some-trust"})
	c.must(400, "PATCH", "/v3/credentials/"+cid, c.adminToken, map[string]any{"credential": map[string]any{"blob": string(b)}})
	// Still a valid EC2 blob.
	c.must(400, "PATCH", "/v3/credentials/"+cid, c.adminToken, map[string]any{"credential": map[string]any{"blob": `{"secret": "s"}`}})
	// And still no changing the id.
	c.must(400, "PATCH", "/v3/credentials/"+cid, c.adminToken, map[string]any{"credential": map[string]any{"id": "other"}})
}

// test_domain_configuration.test_show_default_group_config_and_options:
// the defaults of a group and of an option are at
// /v3/domains/config/{group}/default and /v3/domains/config/{group}/{option}/default.
func TestDefaultDomainConfigPaths(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tok := c.adminToken
	all := c.must(200, "GET", "/v3/domains/config/default", tok, nil)["config"].(map[string]any)
	if all["identity"] == nil || all["ldap"] == nil {
		t.Fatalf("defaults = %v", all)
	}
	ident := c.must(200, "GET", "/v3/domains/config/identity/default", tok, nil)["config"].(map[string]any)
	g, _ := ident["identity"].(map[string]any)
	if _, ok := g["driver"]; !ok {
		t.Errorf("identity defaults = %v", ident)
	}
	if _, ok := g["list_limit"]; !ok {
		t.Errorf("identity defaults = %v", ident)
	}
	for _, opt := range []string{"driver", "list_limit"} {
		o := c.must(200, "GET", "/v3/domains/config/identity/"+opt+"/default", tok, nil)["config"].(map[string]any)
		if _, ok := o[opt]; !ok || len(o) != 1 {
			t.Errorf("default of identity.%s = %v", opt, o)
		}
	}
	ldap := c.must(200, "GET", "/v3/domains/config/ldap/default", tok, nil)["config"].(map[string]any)
	opts, _ := ldap["ldap"].(map[string]any)
	if len(opts) == 0 {
		t.Fatalf("ldap defaults = %v", ldap)
	}
	for opt := range opts {
		o := c.must(200, "GET", "/v3/domains/config/ldap/"+opt+"/default", tok, nil)["config"].(map[string]any)
		if _, ok := o[opt]; !ok {
			t.Errorf("default of ldap.%s = %v", opt, o)
		}
	}
	// Unsupported groups are refused as before; paths the wildcard
	// routes catch but that are not default-config paths are 404.
	if resp, _ := c.do("GET", "/v3/domains/config/nosuch/default", tok, nil); resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("unknown group = %d, want 4xx", resp.StatusCode)
	}
	for _, p := range []string{"/v3/domains/config/identity/other", "/v3/domains/x/identity/default",
		"/v3/domains/config/identity/driver/other", "/v3/domains/default/users/x"} {
		c.must(404, "GET", p, tok, nil)
	}
	// The per-domain config routes still win where they apply.
	c.must(404, "GET", "/v3/domains/"+DefaultDomainID+"/config/identity", tok, nil)
	c.must(401, "GET", "/v3/domains/config/identity/default", "", nil)
}

// test_domains_negative.test_create_domain_with_name_length_over_64 and
// test_projects_negative.test_create_projects_name_length_over_64:
// project and domain names are at most 64 characters; users and groups
// keep 255.
func TestNameLengthLimits(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	for _, tc := range []struct {
		kind, path string
		limit      int
	}{
		{"project", "/v3/projects", 64},
		{"domain", "/v3/domains", 64},
		{"user", "/v3/users", 255},
		{"group", "/v3/groups", 255},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			body := func(name string) any { return map[string]any{tc.kind: map[string]any{"name": name}} }
			c.must(201, "POST", tc.path, c.adminToken, body(strings.Repeat("a", tc.limit)))
			// Characters, not bytes, as JSON Schema counts them.
			c.must(201, "POST", tc.path, c.adminToken, body(strings.Repeat("é", tc.limit)))
			resp, out := c.do("POST", tc.path, c.adminToken, body(strings.Repeat("b", tc.limit+1)))
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("name of %d = %d %v, want 400", tc.limit+1, resp.StatusCode, out)
			}
			checkKeystoneError(t, tc.kind, resp.StatusCode, out)
		})
	}
	pid := c.newProject("short")
	c.must(400, "PATCH", "/v3/projects/"+pid, c.adminToken, map[string]any{"project": map[string]any{"name": strings.Repeat("c", 65)}})
	did := id(c.must(201, "POST", "/v3/domains", c.adminToken, map[string]any{"domain": map[string]any{"name": "short"}}), "domain")
	c.must(400, "PATCH", "/v3/domains/"+did, c.adminToken, map[string]any{"domain": map[string]any{"name": strings.Repeat("c", 65)}})
}

// test_users_negative.test_create_user_for_non_existent_domain: a missing
// domain is DomainNotFound (404) for users and groups. Projects keep 400,
// which Keystone's projects API makes of DomainNotFound.
func TestCreateInMissingDomain(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	const missing = "1b7cbc03153e4c03bc0b74701d2a5af5"
	for _, tc := range []struct {
		path, kind string
		want       int
	}{
		{"/v3/users", "user", 404},
		{"/v3/groups", "group", 404},
		{"/v3/projects", "project", 400},
	} {
		resp, out := c.do("POST", tc.path, c.adminToken, map[string]any{tc.kind: map[string]any{
			"name": "x", "password": "pw-1-Secret", "domain_id": missing}})
		if resp.StatusCode != tc.want {
			t.Errorf("%s in missing domain = %d %v, want %d", tc.kind, resp.StatusCode, out, tc.want)
		}
		checkKeystoneError(t, tc.kind, resp.StatusCode, out)
	}
	// Policy comes first: someone who may not create projects there
	// learns nothing about the domain.
	_, _, tok := c.memberOf("alice")
	c.must(403, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"name": "x", "domain_id": missing}})
}

// test_projects.test_create_is_domain_project: a project created with
// is_domain=true is a domain, reachable through both APIs.
func TestProjectActingAsDomain(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	tok := c.adminToken
	proj := c.must(201, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{
		"domain_id": nil, "is_domain": true, "name": "acme", "description": "a domain"}})["project"].(map[string]any)
	did, _ := proj["id"].(string)
	if did == "" || proj["is_domain"] != true || proj["domain_id"] != nil || proj["parent_id"] != nil ||
		proj["name"] != "acme" || proj["description"] != "a domain" || proj["enabled"] != true {
		t.Fatalf("created = %v", proj)
	}
	dom := c.must(200, "GET", "/v3/domains/"+did, tok, nil)["domain"].(map[string]any)
	if dom["name"] != "acme" || dom["enabled"] != true {
		t.Errorf("as domain = %v", dom)
	}
	shown := c.must(200, "GET", "/v3/projects/"+did, tok, nil)["project"].(map[string]any)
	if shown["is_domain"] != true || shown["domain_id"] != nil || shown["name"] != "acme" {
		t.Errorf("shown = %v", shown)
	}

	listIDs := func(path string, key string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, x := range c.must(200, "GET", path, tok, nil)[key].([]any) {
			m := x.(map[string]any)
			out[m["id"].(string)] = m
		}
		return out
	}
	asDomains := listIDs("/v3/projects?is_domain=true", "projects")
	if asDomains[did] == nil || asDomains[did]["is_domain"] != true || asDomains[DefaultDomainID] == nil {
		t.Errorf("is_domain=true lists %v", asDomains)
	}
	if listIDs("/v3/domains", "domains")[did] == nil {
		t.Errorf("/v3/domains lacks %s", did)
	}
	if plain := listIDs("/v3/projects", "projects"); plain[did] != nil || plain[c.adminProjectID] == nil {
		t.Errorf("plain project list = %v", plain)
	}
	if named := listIDs("/v3/projects?is_domain=true&name=acme", "projects"); len(named) != 1 || named[did] == nil {
		t.Errorf("is_domain=true&name=acme lists %v", named)
	}

	// Projects in the new domain see it as their parent, and it sees them.
	child := id(c.must(201, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{
		"name": "web", "domain_id": did}}), "project")
	sub := c.must(200, "GET", "/v3/projects/"+did+"?subtree_as_ids", tok, nil)["project"].(map[string]any)
	if st, _ := sub["subtree"].(map[string]any); st == nil || len(st) != 1 {
		t.Errorf("subtree = %v, want {%s: null}", sub["subtree"], child)
	}
	c.must(204, "DELETE", "/v3/projects/"+child, tok, nil)

	// Only root projects act as domains; is_domain cannot be flipped.
	c.must(400, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{
		"is_domain": true, "name": "nested", "parent_id": c.adminProjectID}})
	c.must(400, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{
		"is_domain": true, "name": "inside", "domain_id": DefaultDomainID}})
	c.must(400, "PATCH", "/v3/projects/"+did, tok, map[string]any{"project": map[string]any{"is_domain": false}})
	c.must(400, "PATCH", "/v3/projects/"+c.adminProjectID, tok, map[string]any{"project": map[string]any{"is_domain": true}})
	// Names are unique among domains, whichever API made them.
	c.must(409, "POST", "/v3/projects", tok, map[string]any{"project": map[string]any{"is_domain": true, "name": "acme"}})

	// Someone who may not create domains cannot do it through /v3/projects.
	_, _, aliceTok := c.memberOf("alice")
	c.must(403, "POST", "/v3/projects", aliceTok, map[string]any{"project": map[string]any{"is_domain": true, "name": "evil"}})
	c.must(403, "PATCH", "/v3/projects/"+did, aliceTok, map[string]any{"project": map[string]any{"enabled": false}})
	c.must(403, "DELETE", "/v3/projects/"+did, aliceTok, nil)

	// Update and delete through /v3/projects act on the domain; an
	// enabled domain cannot be deleted.
	c.must(403, "DELETE", "/v3/projects/"+did, tok, nil)
	up := c.must(200, "PATCH", "/v3/projects/"+did, tok, map[string]any{"project": map[string]any{
		"enabled": false, "description": "off"}})["project"].(map[string]any)
	if up["enabled"] != false || up["is_domain"] != true {
		t.Errorf("updated = %v", up)
	}
	if d := c.must(200, "GET", "/v3/domains/"+did, tok, nil)["domain"].(map[string]any); d["enabled"] != false || d["description"] != "off" {
		t.Errorf("domain after update = %v", d)
	}
	c.must(204, "DELETE", "/v3/projects/"+did, tok, nil)
	c.must(404, "GET", "/v3/domains/"+did, tok, nil)
	c.must(404, "GET", "/v3/projects/"+did, tok, nil)
}
