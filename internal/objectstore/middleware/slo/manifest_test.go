package slo

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
)

func md5hex(s string) string {
	b := md5.Sum([]byte(s))
	return hex.EncodeToString(b[:])
}

func TestParseInput(t *testing.T) {
	segs, problems := parseInput([]byte(`[{"path": "c/o", "etag": null, "size_bytes": "12", "range": "-5"},
		{"data": "eHl6"}, {"path": "/c/p", "etag": "abc", "size_bytes": 1.9, "range": ""}, {"path": "/c/q", "size_bytes": 0}]`),
		"AUTH_a", "/AUTH_a/c/m")
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	abc := "abc"
	want := []inputSegment{
		{Path: "c/o", Size: 12, Range: &segment.RangeSpec{Start: -1, End: 5}},
		{IsData: true, Data: []byte("xyz")},
		{Path: "/c/p", Etag: &abc, Size: 1},
		{Path: "/c/q", Size: 0}, // the last segment may be empty
	}
	if d := cmp.Diff(want, segs); d != "" {
		t.Errorf("segments (-want +got):\n%s", d)
	}

	for _, tc := range []struct{ body, want string }{
		{`[{"path": "/c/o", "size_bytes": true}]`, ""},
		{`[{"path": "/c/o", "size_bytes": [1]}]`, "Index 0: invalid size_bytes"},
		{`[{"path": "/c/o", "size_bytes": 0}, {"path": "/c/p"}]`, "Index 0: too small; each segment must be at least 1 byte."},
		{`[{"path": "/c/o", "range": 5}]`, "Index 0: invalid range"},
		{`[{"path": "/c/o", "range": "3-1"}]`, "Index 0: invalid range"},
		{`[{"path": "/c/o", "size_bytes": 0, "range": "1-"}]`, "Index 0: unsatisfiable range"},
		{`[{"path": "/c/o", "size_bytes": 0, "range": "-1"}]`, ""},
		{`[{"path": "c/m"}]`, "Index 0: manifest must not include itself as a segment"},
		{`[{"path": "///c"}]`, "Index 0: path does not refer to an object. Path must be of the form /container/object."},
		{`[{"data": "", "path": "/c/o"}]`, "Index 0: extraneous keys \"path\"\nInline data segments require at least one object-backed segment."},
		{`[{"data": ""}, {"path": "/c/o"}]`, "Index 0: too small; each segment must be at least 1 byte."},
		{`[{"data": "eHl"}, {"path": "/c/o"}]`, "Index 0: data must be valid base64"},
		{`[{"data": "eH=l6"}, {"path": "/c/o"}]`, "Index 0: data must be valid base64"},
		{`[{"data": "eHk==="}, {"path": "/c/o"}]`, ""},
		{`[{"data": "eHl6"}, {"data": 5}]`, "Index 1: data must be valid base64\nInline data segments require at least one object-backed segment."},
		{`[{"path": "/c/o", "é": 1}]`, `Index 0: extraneous keys "\u00e9"`},
		{`[] []`, "Manifest must be valid JSON."},
		{`[]`, ""},
	} {
		_, problems := parseInput([]byte(tc.body), "AUTH_a", "/AUTH_a/c/m")
		if got := strings.Join(problems, "\n"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestCheckSegments(t *testing.T) {
	head := func(size, etag string, slo bool) headResult {
		h := http.Header{"Content-Length": {size}, "Etag": {etag}, "Content-Type": {"text/plain; charset=utf-8"},
			"Last-Modified": {"Tue, 14 Nov 2023 22:13:21 GMT"}}
		if slo {
			h.Set("X-Static-Large-Object", "True")
		}
		return headResult{http.StatusOK, h}
	}
	heads := map[string]headResult{
		"/c/a":   head("10", md5hex("a"), false),
		"c/sub":  head("20", `"`+md5hex("sub")+`"`, true),
		"/c/one": head("1", md5hex("one"), false),
		"/c/no":  {status: http.StatusNotFound},
	}
	sub := md5hex("sub")
	input := []inputSegment{
		{Path: "/c/a", Size: 10, Range: &segment.RangeSpec{Start: 0, End: 99}}, // all of it: not a range
		{IsData: true, Data: []byte("xyz")},
		{Path: "c/sub", Size: -1, Etag: &sub, Range: &segment.RangeSpec{Start: 5, End: -1}},
	}
	stored, total, failures := checkSegments(input, heads)
	if len(failures) > 0 {
		t.Fatal(failures)
	}
	want := []storedSegment{
		{Name: "/c/a", Bytes: 10, Hash: md5hex("a"), ContentType: "text/plain", LastModified: "2023-11-14T22:13:21.000000"},
		{IsData: true, Data: []byte("xyz")},
		{Name: "/c/sub", Bytes: 20, Hash: sub, ContentType: "text/plain", LastModified: "2023-11-14T22:13:21.000000", Range: "5-19", SubSLO: true},
	}
	if d := cmp.Diff(want, stored); d != "" || total != 10+3+15 {
		t.Errorf("stored (-want +got):\n%s\ntotal %d", d, total)
	}
	wantManifest := `[{"name": "/c/a", "bytes": 10, "hash": "` + md5hex("a") + `", "content_type": "text/plain", "last_modified": "2023-11-14T22:13:21.000000"}, ` +
		`{"data": "eHl6"}, {"name": "/c/sub", "bytes": 20, "hash": "` + sub + `", "content_type": "text/plain", "last_modified": "2023-11-14T22:13:21.000000", "range": "5-19", "sub_slo": true}]`
	if got := string(encodeManifest(stored)); got != wantManifest {
		t.Errorf("manifest\n%s\nwant\n%s", got, wantManifest)
	}
	back, err := decodeManifest([]byte(wantManifest))
	if err != nil || !cmp.Equal(back, stored) {
		t.Errorf("decode(encode) = %v, %v", back, err)
	}
	// The large object's etag as Swift's docs give it.
	if got, want := sloEtag(stored), md5hex(md5hex("a")+md5hex("xyz")+sub+":5-19;"); got != want {
		t.Errorf("etag %s, want %s", got, want)
	}
	if got := string(encodeRaw(stored)); got != `[{"etag": "`+md5hex("a")+`", "path": "/c/a", "size_bytes": 10}, {"data": "eHl6"}, {"etag": "`+sub+`", "path": "/c/sub", "range": "5-19", "size_bytes": 20}]` {
		t.Errorf("raw = %s", got)
	}

	bad := []inputSegment{
		{Path: "/c/no", Size: -1},
		{Path: "/c/one", Size: 2, Etag: new(string), Range: &segment.RangeSpec{Start: 3, End: -1}},
		{Path: "/c/one", Size: -1, Range: &segment.RangeSpec{Start: -1, End: 0}},
		{Path: "/c/a", Size: -1},
	}
	_, _, failures = checkSegments(bad, heads)
	wantFailures := []bulk.Failure{
		{Name: "/c/no", Status: "404 Not Found"},
		{Name: "/c/one", Status: "Unsatisfiable Range"},
		{Name: "/c/one", Status: "Size Mismatch"},
		{Name: "/c/one", Status: "Etag Mismatch"},
		{Name: "/c/one", Status: "Unsatisfiable Range"},
	}
	if d := cmp.Diff(wantFailures, failures); d != "" {
		t.Errorf("failures (-want +got):\n%s", d)
	}
}

func TestDecodeManifestRefusesNonsense(t *testing.T) {
	for _, body := range []string{`{}`, `[{"bytes": 1}]`, `[{"name": "/c/o"}]`, `[{"name": "/c/o", "bytes": 1, "range": "x"}]`, `[{"data": "!"}]`} {
		if _, err := decodeManifest([]byte(body)); err == nil {
			t.Errorf("%s decoded", body)
		}
	}
	segs, err := decodeManifest([]byte(`[{"name": "/c/o", "bytes": 3, "hash": "h", "sub_slo": "yes", "content_type": "a/b;swift_bytes=99"}]`))
	if err != nil || !segs[0].SubSLO || segs[0].Bytes != 99 || segs[0].ContentType != "a/b" {
		t.Errorf("old sub-manifest entry = %+v, %v", segs, err)
	}
}

func TestListingHashSplit(t *testing.T) {
	in := `[{"hash": "abc; slo_etag=def", "name": "m"}, {"hash":"x; a=b; slo_etag=y","name":"n"}, {"hash": "plain"}]`
	got := string(jsonHash.ReplaceAllFunc([]byte(in), splitJSONHash))
	want := `[{"hash": "abc", "slo_etag": "\"def\"", "name": "m"}, {"hash":"x; a=b","slo_etag":"\"y\"","name":"n"}, {"hash": "plain"}]`
	if got != want {
		t.Errorf("JSON\n%s\nwant\n%s", got, want)
	}
	xml := `<object><name>m</name><hash>abc; slo_etag=def</hash></object>`
	if got := string(xmlHash.ReplaceAllFunc([]byte(xml), splitXMLHash)); got != `<object><name>m</name><hash>abc</hash></object>` {
		t.Errorf("XML %s", got)
	}
}
