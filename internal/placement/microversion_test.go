package placement

import (
	"net/http"
	"strings"
	"testing"
)

func TestMicroversionNegotiation(t *testing.T) {
	t.Parallel()
	testMicroversionNegotiation(t, newAPI(t))
}

func testMicroversionNegotiation(t *testing.T, a *api) {
	cases := []struct {
		name, header string
		status       int
		want         string // response's OpenStack-API-Version
		body         string
	}{
		{"no header is the minimum", "", 200, "placement 1.0", ""},
		{"latest is the maximum", "latest", 200, "placement 1.39", ""},
		{"an exact version", "1.17", 200, "placement 1.17", ""},
		{"below the minimum", "0.5", 406, "", "Unacceptable version header: 0.5"},
		{"above the maximum", "1.40", 406, "", "Unacceptable version header: 1.40"},
		{"not a version", "pony.horse", 400, "", "invalid version string: pony.horse"},
		{"too many dots", "1.2.3", 400, "", "invalid version string: 1.2.3"},
	}
	for _, c := range cases {
		opts := []string{}
		if c.header != "" {
			opts = append(opts, c.header)
		}
		r := a.call("GET", "/", nil, opts...)
		if r.code != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.code, c.status, r.raw)
			continue
		}
		if got := r.header.Get("OpenStack-API-Version"); c.want != "" && got != c.want {
			t.Errorf("%s: OpenStack-API-Version %q, want %q", c.name, got, c.want)
		}
		if c.want != "" && !strings.Contains(strings.ToLower(r.header.Get("Vary")), "openstack-api-version") {
			t.Errorf("%s: Vary = %q", c.name, r.header.Get("Vary"))
		}
		if c.body != "" && !strings.Contains(r.detail(), c.body) {
			t.Errorf("%s: detail %q, want %q", c.name, r.detail(), c.body)
		}
		if c.status == 406 {
			if r.path("errors.0.max_version") != "1.39" || r.path("errors.0.min_version") != "1.0" ||
				r.path("errors.0.title") != "Not Acceptable" {
				t.Errorf("%s: 406 body %s", c.name, r.raw)
			}
		}
	}
}

func TestRootDocument(t *testing.T) {
	t.Parallel()
	testRootDocument(t, newAPI(t))
}

func testRootDocument(t *testing.T, a *api) {
	r := a.call("GET", "/", nil, "token=").must(t, 200) // no token needed
	eq("versions.0.id", "v1.0", "versions.0.min_version", "1.0", "versions.0.max_version", "1.39",
		"versions.0.status", "CURRENT", "versions.0.links.0.rel", "self", "versions.0.links.0.href", "")(t, r)
}

func TestErrorsArePlacements(t *testing.T) {
	t.Parallel()
	testErrorsArePlacements(t, newAPI(t))
}

func testErrorsArePlacements(t *testing.T, a *api) {
	// Before 1.23 there is no code.
	r := a.call("GET", "/barnabas", nil).must(t, 404)
	eq("errors.0.title", "Not Found", "errors.0.status", 404)(t, r)
	if _, ok := r.body["errors"].([]any)[0].(map[string]any)["code"]; ok {
		t.Errorf("code before 1.23: %s", r.raw)
	}
	if id, _ := r.path("errors.0.request_id").(string); !strings.HasPrefix(id, "req-") || r.header.Get("X-Openstack-Request-Id") != id {
		t.Errorf("request id %q vs header %q", id, r.header.Get("X-Openstack-Request-Id"))
	}
	r = a.call("GET", "/barnabas", nil, "1.23").must(t, 404)
	if r.errCode() != "placement.undefined_code" {
		t.Errorf("code = %q", r.errCode())
	}
	r = a.call("DELETE", "/resource_providers", nil).must(t, 405)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
	has("The method DELETE is not allowed for this resource.")(t, r)
	eq("errors.0.title", "Method Not Allowed")(t, r)
	r = a.call("DELETE", "/", nil).must(t, 405)
	// Accept and Content-Type as placement checks them.
	a.call("GET", "/resource_providers", nil, "accept=text/plain").must(t, 406)
	a.call("GET", "/resource_providers", nil, "accept=text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8").must(t, 200)
	r = a.call("POST", "/resource_providers", "I want a resource provider please", "ct=text/plain").must(t, 415)
	has("The media type text/plain is not supported, use application/json")(t, r)
	req, _ := http.NewRequest("POST", a.srv.URL+"/resource_providers", strings.NewReader("{}"))
	req.Header.Set("X-Auth-Token", "admin")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("body without content type: %d", res.StatusCode)
	}
	r = a.call("PUT", "/resource_providers/d3a64825-8228-4ccb-8a6c-1c6d3eb6a3e8", nil, "ct=").must(t, 415)
	has("The media type None is not supported, use application/json")(t, r)
	// Authentication and policy.
	a.call("GET", "/resource_providers", nil, "token=nobody").must(t, 401)
	r = a.call("GET", "/resource_providers", nil, "token=member").must(t, 403)
	has("Policy does not allow placement:resource_providers:list to be performed.")(t, r)
	a.call("GET", "/resource_providers", nil, "token=service").must(t, 200)
	// Routes added by later microversions are 404 before them.
	a.call("GET", "/traits", nil, "1.5").must(t, 404)
	a.call("GET", "/resource_classes", nil, "1.1").must(t, 404)
	a.call("GET", "/usages?project_id=x", nil, "1.8").must(t, 404)
	a.call("GET", "/allocation_candidates?resources=VCPU:1", nil, "1.9").must(t, 404)
}

func TestLastModifiedFrom1_15(t *testing.T) {
	t.Parallel()
	testLastModifiedFrom1_15(t, newAPI(t))
}

func testLastModifiedFrom1_15(t *testing.T, a *api) {
	a.provider("cn", "", nil)
	r := a.call("GET", "/resource_providers", nil, "1.14").must(t, 200)
	if r.header.Get("Last-Modified") != "" || r.header.Get("Cache-Control") != "" {
		t.Errorf("1.14 has caching headers: %v", r.header)
	}
	r = a.call("GET", "/resource_providers", nil, "1.15").must(t, 200)
	if r.header.Get("Last-Modified") == "" || r.header.Get("Cache-Control") != "no-cache" {
		t.Errorf("1.15 lacks caching headers: %v", r.header)
	}
}
