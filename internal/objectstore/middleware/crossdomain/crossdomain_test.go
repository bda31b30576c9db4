package crossdomain

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServesPolicyAndPassesOthers(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	for _, tc := range []struct {
		name   string
		opts   []Options
		policy string
	}{
		{"default", nil, `<allow-access-from domain="*" secure="false" />`},
		{"configured", []Options{{Policy: `<allow-access-from domain="*.example.com" />`}}, `<allow-access-from domain="*.example.com" />`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(New(next, tc.opts...))
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/crossdomain.xml")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// What Tempest's test_get_crossdomain_policy checks.
			start := "<?xml version=\"1.0\"?>\n<!DOCTYPE cross-domain-policy SYSTEM \"http://www.adobe.com/xml/dtds/cross-domain-policy.dtd\" >\n<cross-domain-policy>\n"
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), start) || !strings.HasSuffix(string(body), "</cross-domain-policy>") {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), "\n"+tc.policy+"\n") {
				t.Errorf("policy missing: %q", body)
			}
			if resp.Header.Get("Content-Type") != "application/xml" || resp.Header.Get("Content-Length") == "" {
				t.Errorf("headers %v", resp.Header)
			}
			for _, other := range []string{"/crossdomain.xml/x", "/v1/AUTH_a/crossdomain.xml"} {
				resp, err := http.Get(srv.URL + other)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusTeapot {
					t.Errorf("%s answered %d, not passed on", other, resp.StatusCode)
				}
			}
			resp, err = http.Post(srv.URL+"/crossdomain.xml", "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTeapot {
				t.Errorf("POST answered %d, not passed on", resp.StatusCode)
			}
		})
	}
}
