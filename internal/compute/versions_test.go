package compute

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		ok   bool
	}{
		{"2.1", Version{2, 1}, true}, {"2.96", Version{2, 96}, true}, {"2.0", Version{2, 0}, true},
		{"2.01", Version{}, false}, {"02.1", Version{}, false}, {"2", Version{}, false}, {"2.x", Version{}, false},
		{" 2.1", Version{}, false}, {"0.1", Version{}, false},
	} {
		got, err := ParseVersion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestNegotiator(t *testing.T) {
	n := DefaultNegotiator
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    Version
		err     string
	}{
		{"none is the minimum", nil, Version{2, 1}, ""},
		{"new header", map[string]string{VersionHeader: "compute 2.55"}, Version{2, 55}, ""},
		{"other services ignored", map[string]string{VersionHeader: "volume 3.5, compute 2.10"}, Version{2, 10}, ""},
		{"only other services", map[string]string{VersionHeader: "volume 3.5"}, Version{2, 1}, ""},
		{"service case-insensitive", map[string]string{VersionHeader: "COMPUTE 2.3"}, Version{2, 3}, ""},
		{"legacy header", map[string]string{LegacyVersionHeader: "2.20"}, Version{2, 20}, ""},
		{"new wins over legacy", map[string]string{VersionHeader: "compute 2.30", LegacyVersionHeader: "2.20"}, Version{2, 30}, ""},
		{"latest", map[string]string{VersionHeader: "compute latest"}, MaxVersion, ""},
		{"too high", map[string]string{VersionHeader: "compute 2.200"}, Version{}, "Version 2.200 is not supported by the API. Minimum is 2.1 and maximum is 2.96."},
		{"too low", map[string]string{VersionHeader: "compute 2.0"}, Version{}, "Version 2.0 is not supported by the API. Minimum is 2.1 and maximum is 2.96."},
		{"bad format", map[string]string{VersionHeader: "compute 2.x"}, Version{}, "API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			got, err := n.Negotiate(h)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Negotiate = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestVersionsRoot(t *testing.T) {
	a := newAPI(t)
	r := a.call("GET", "/", nil, "token=").must(t, 200)
	vs := r.list("versions")
	if got := names(vs, "id"); !slices.Equal(got, []string{"v2.0", "v2.1"}) {
		t.Fatalf("versions %v, want v2.0 then v2.1 (tempest wants v2.0 first)", got)
	}
	if r.str("versions.1.version") != "2.96" || r.str("versions.1.min_version") != "2.1" || r.str("versions.1.status") != "CURRENT" {
		t.Errorf("v2.1 entry %v", r.path("versions.1"))
	}
	if r.str("versions.0.status") != "SUPPORTED" || r.str("versions.0.version") != "" {
		t.Errorf("v2.0 entry %v", r.path("versions.0"))
	}
	self := r.str("versions.1.links.0.href")
	if self != a.srv.URL+"/v2.1/" {
		t.Errorf("v2.1 self link %q", self)
	}
	if r.header.Get(VersionHeader) != "" {
		t.Errorf("the root is not versioned, got %s", r.header.Get(VersionHeader))
	}
	if r.header.Get("X-Openstack-Request-Id") == "" || r.header.Get("X-Openstack-Request-Id") != r.header.Get(ComputeRequestIDHeader) {
		t.Errorf("request ids %q %q", r.header.Get("X-Openstack-Request-Id"), r.header.Get(ComputeRequestIDHeader))
	}

	// Every self link of the list is followable and names itself (tempest's
	// test_get_version_details).
	for i, want := range []string{"v2.0", "v2.1"} {
		href := r.str("versions." + string(rune('0'+i)) + ".links.0.href")
		d := a.call("GET", strings.TrimPrefix(href, a.srv.URL), nil).must(t, 200)
		if d.str("version.id") != want || d.str("version.links.0.href") != href {
			t.Errorf("GET %s: %s", href, d.raw)
		}
	}
}

func TestVersionDocumentNeedsNoToken(t *testing.T) {
	a := newAPI(t)
	r := a.call("GET", "/v2.1", nil, "token=", "2.50").must(t, 200)
	if r.str("version.id") != "v2.1" || r.str("version.version") != "2.96" {
		t.Fatalf("%s", r.raw)
	}
	if r.header.Get(VersionHeader) != "compute 2.50" {
		t.Errorf("version header %q", r.header.Get(VersionHeader))
	}
	if r.str("version.media-types.0.type") != "application/vnd.openstack.compute+json;version=2.1" {
		t.Errorf("media types %v", r.path("version.media-types"))
	}
	l := a.call("GET", "/v2", nil, "token=").must(t, 200)
	if l.str("version.id") != "v2.0" || l.header.Get(VersionHeader) != "" {
		t.Errorf("legacy: %s %v", l.raw, l.header)
	}
	// With the slash it is inside the API, which wants a token.
	a.call("GET", "/v2.1/", nil, "token=").fault(t, 401, "error", "The request you have made requires authentication.")
}

func TestMicroversionHeaders(t *testing.T) {
	a := newAPI(t)
	for _, tc := range []struct {
		opts []string
		want string
	}{
		{nil, "2.1"},
		{[]string{"2.61"}, "2.61"},
		{[]string{"latest"}, "2.96"},
		{[]string{"2.35", "legacy-header"}, "2.35"},
	} {
		r := a.call("GET", "/v2.1/flavors", nil, tc.opts...).must(t, 200)
		if r.header.Get(VersionHeader) != "compute "+tc.want || r.header.Get(LegacyVersionHeader) != tc.want {
			t.Errorf("%v: headers %q %q, want %s", tc.opts, r.header.Get(VersionHeader), r.header.Get(LegacyVersionHeader), tc.want)
		}
		vary := r.header.Values("Vary")
		if !slices.Contains(vary, VersionHeader) || !slices.Contains(vary, LegacyVersionHeader) {
			t.Errorf("%v: Vary %v", tc.opts, vary)
		}
	}
	// Errors carry the version too.
	e := a.call("GET", "/v2.1/flavors/nope", nil, "2.40")
	e.fault(t, 404, "itemNotFound", "Flavor nope could not be found.")
	if e.header.Get(VersionHeader) != "compute 2.40" {
		t.Errorf("error without version header: %v", e.header)
	}

	a.call("GET", "/v2.1/flavors", nil, "2.97").fault(t, 406, "computeFault",
		"Version 2.97 is not supported by the API. Minimum is 2.1 and maximum is 2.96.")
	a.call("GET", "/v2.1/flavors", nil, "2.x").fault(t, 400, "badRequest",
		"API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum.")
	a.call("GET", "/v2.1/flavors", nil, "2.97", "legacy-header").fault(t, 406, "computeFault", "")
}

func TestLegacyV2IgnoresMicroversions(t *testing.T) {
	a := newAPI(t)
	a.call("POST", "/v2.1/flavors", flavorBody("f1", 64, 1, 1, map[string]any{"id": "f1"}), "2.61").must(t, 200)
	// A version header sent to /v2 is dropped, nothing is echoed, and the
	// answer is the v2.0 shape (no description, no extra_specs).
	r := a.call("GET", "/v2/flavors/f1", nil, "2.61").must(t, 200)
	if r.header.Get(VersionHeader) != "" || r.header.Get(LegacyVersionHeader) != "" {
		t.Errorf("legacy answer has version headers %v", r.header)
	}
	if r.has("flavor.description") || r.has("flavor.extra_specs") || r.str("flavor.swap") != "" {
		t.Errorf("legacy flavor %s", r.raw)
	}
	if got := r.str("flavor.links.0.href"); got != a.srv.URL+"/v2/flavors/f1" {
		t.Errorf("legacy self link %q", got)
	}
	// v2.0 strips properties it does not know instead of refusing them.
	a.call("POST", "/v2/flavors", flavorBody("f2", 64, 1, 1, map[string]any{"id": "f2", "bogus": 1}), "token=admin").must(t, 200)
	a.call("POST", "/v2.1/flavors", flavorBody("f3", 64, 1, 1, map[string]any{"bogus": 1})).fault(t, 400, "badRequest", "")
}

func TestProjectIDInURL(t *testing.T) {
	a := newAPI(t)
	a.call("POST", "/v2.1/flavors", flavorBody("f1", 64, 1, 1, map[string]any{"id": "f1"})).must(t, 200)
	r := a.call("GET", "/v2.1/"+demoProject+"/flavors/f1", nil, "token=member").must(t, 200)
	want := a.srv.URL + "/v2.1/" + demoProject + "/flavors/f1"
	if r.str("flavor.links.0.href") != want {
		t.Errorf("self link %q, want %q", r.str("flavor.links.0.href"), want)
	}
	if r.str("flavor.links.1.href") != a.srv.URL+"/"+demoProject+"/flavors/f1" {
		t.Errorf("bookmark %q", r.str("flavor.links.1.href"))
	}
	a.call("GET", "/v2.1/"+altProject+"/flavors/f1", nil, "token=member").fault(t, 400, "badRequest",
		"Malformed request URL: URL's project_id '"+altProject+"' doesn't match Context's project_id '"+demoProject+"'")
}

func TestUnknownPathIsNovaNotFound(t *testing.T) {
	a := newAPI(t)
	a.call("GET", "/v2.1/os-nothing-here", nil).fault(t, 404, "itemNotFound", "The resource could not be found.")
	// 401s are keystonemiddleware's, in Keystone's shape.
	u := a.call("GET", "/v2.1/flavors", nil, "token=bogus")
	u.fault(t, 401, "error", "The request you have made requires authentication.")
	if u.str("error.title") != "Unauthorized" {
		t.Errorf("401 body %s", u.raw)
	}
	cfg := DefaultConfig()
	cfg.AuthURI = "http://keystone.example:5000"
	b := newAPIWith(t, cfg)
	if got := b.call("GET", "/v2.1/flavors", nil, "token=").header.Get("WWW-Authenticate"); got != `Keystone uri="http://keystone.example:5000"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}
