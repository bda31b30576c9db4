package compute

import (
	"net/http"
	"testing"
)

func TestExtensions(t *testing.T) {
	a := newAPI(t)
	r := a.call("GET", "/v2.1/extensions", nil, "token=reader").must(t, http.StatusOK)
	exts := r.list("extensions")
	if len(exts) != 99 {
		t.Fatalf("%d extensions, want Nova's 99", len(exts))
	}
	names := map[string]bool{}
	prev := ""
	for _, e := range exts {
		e := e.(map[string]any)
		names[e["name"].(string)] = true
		if alias := e["alias"].(string); alias <= prev {
			t.Errorf("alias %q after %q: not sorted", alias, prev)
		} else {
			prev = alias
		}
	}
	if !names["Hosts"] || names["ExtendedVIFNet"] {
		t.Errorf("names %v: want Hosts and not the legacy ExtendedVIFNet", names)
	}
	legacy := a.call("GET", "/v2/extensions", nil, "token=member").must(t, http.StatusOK)
	if n := len(legacy.list("extensions")); n != 100 {
		t.Errorf("legacy /v2 lists %d extensions, want 100", n)
	}

	r = a.call("GET", "/v2.1/extensions/os-consoles", nil, "token=member").must(t, http.StatusOK)
	want := map[string]any{"alias": "os-consoles", "name": "Consoles", "description": "Interactive Console support.",
		"links": []any{}, "namespace": "http://docs.openstack.org/compute/ext/fake_xml", "updated": "2014-12-03T00:00:00Z"}
	got := r.body["extension"].(map[string]any)
	for k, v := range want {
		if k == "links" {
			if l, ok := got[k].([]any); !ok || len(l) != 0 {
				t.Errorf("links = %v", got[k])
			}
			continue
		}
		if got[k] != v {
			t.Errorf("extension %s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("extension %v has other members", got)
	}
	a.call("GET", "/v2.1/extensions/os-nothing", nil, "token=member").
		fault(t, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
	a.call("GET", "/v2.1/extensions/OS-EXT-VIF-NET", nil).must(t, http.StatusNotFound)
	a.call("GET", "/v2/extensions/OS-EXT-VIF-NET", nil).must(t, http.StatusOK)
	a.call("GET", "/v2.1/extensions", nil, "token=").must(t, http.StatusUnauthorized)
}
