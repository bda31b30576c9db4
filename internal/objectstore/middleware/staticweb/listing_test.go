package staticweb

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func TestHumanReadable(t *testing.T) {
	// Values from Swift's human_readable.
	for n, want := range map[int64]string{
		0: "0", 1023: "1023", 1024: "1Ki", 1536: "2Ki", 2560: "2Ki", 3584: "4Ki",
		1048576: "1Mi", 1572863: "2Mi", 5368709120: "5Gi", 1 << 62: "4Ei",
	} {
		if got := humanReadable(n); got != want {
			t.Errorf("humanReadable(%d) = %q, want %q", n, got, want)
		}
	}
}

// goldenCase is one entry of testdata/cases.json. The .golden files are
// what Swift's own staticweb renders for the same input
// (testdata/gen_golden.py); they are not rewritten by these tests.
type goldenCase struct {
	Name    string            `json:"name"`
	Path    string            `json:"path"`
	Prefix  string            `json:"prefix"`
	Query   string            `json:"query"`
	TempURL bool              `json:"tempurl"`
	Meta    map[string]string `json:"meta"`
	Listing json.RawMessage   `json:"listing"`
}

func TestListingPagesMatchSwift(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", tc.Name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			// The rest of the pipeline, reduced to the two answers a
			// listing needs: the container's settings and its listing.
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/AUTH_a/c" {
					swift.WriteStatus(w, r, http.StatusNotFound)
					return
				}
				if r.Method == http.MethodHead {
					for k, v := range tc.Meta {
						w.Header().Set("X-Container-Meta-"+k, v)
					}
					w.WriteHeader(http.StatusNoContent)
					return
				}
				if r.URL.Query().Get("format") != "json" || r.URL.Query().Get("delimiter") != "/" || r.URL.Query().Get("prefix") != tc.Prefix {
					t.Errorf("listing asked with %q", r.URL.RawQuery)
				}
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				_, _ = w.Write(tc.Listing)
			})
			r := httptest.NewRequest("GET", tc.Path+"?"+tc.Query, nil)
			if tc.TempURL {
				r = r.WithContext(swift.WithAuthorized(r.Context()))
			}
			p, _ := swift.ParsePath(r.URL.Path)
			s := &site{h: &handler{next: next}, r: r, p: p}
			s.load()
			rec := httptest.NewRecorder()
			s.listing(rec, tc.Prefix)
			got := []byte(strconv.Itoa(rec.Code) + " " + http.StatusText(rec.Code) + "\n" + rec.Body.String())
			if !bytes.Equal(got, want) {
				t.Errorf("page differs from Swift's\n got: %s\nwant: %s", got, want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=UTF-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if rec.Code == 200 && rec.Header().Get("X-Backend-Content-Generator") != "staticweb" {
				t.Error("no X-Backend-Content-Generator")
			}
			if strings.Contains(rec.Body.String(), "<y>") {
				t.Error("name not escaped")
			}
		})
	}
}

func TestRedirectUsesURLBase(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !swift.Authorized(r.Context()) && r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNoContent) // the caller may read
			return
		}
		w.Header().Set("X-Container-Meta-Web-Index", "index.html")
		w.WriteHeader(http.StatusNoContent)
	})
	for _, tc := range []struct {
		opts []Options
		want string
	}{
		{nil, "http://example.com/v1/AUTH_a/my%20site/"},
		{[]Options{{URLBase: "https://www.example.org"}}, "https://www.example.org/v1/AUTH_a/my%20site/"},
	} {
		rec := httptest.NewRecorder()
		New(next, tc.opts...).ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/v1/AUTH_a/my%20site", nil))
		if rec.Code != 301 || rec.Header().Get("Location") != tc.want {
			t.Errorf("%v: %d %q", tc.opts, rec.Code, rec.Header().Get("Location"))
		}
		if rec.Body.String() != "<html><h1>Moved Permanently</h1><p>The resource has moved permanently.</p></html>" {
			t.Errorf("body %q", rec.Body.String())
		}
	}
}
