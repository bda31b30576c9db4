package slo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/dlo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

func TestManifestPutErrors(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	segs := segments(t, c, acct, 5, 7)
	for _, tc := range []struct {
		name, manifest string
		hdr            []string
		status         int
		body           string
	}{
		{"not JSON", `[{`, nil, 400, "Manifest must be valid JSON.\n"},
		{"not a list", `{"path": "/c/seg-0"}`, nil, 400, "Manifest must be a list.\n"},
		{"bad entries", `[1, {"x": 1}, {"path": "/c/seg-0", "foo": 1, "bar": 2}, {"path": 5}, {"path": "/c"},
			{"path": "/c/seg-0", "size_bytes": "x"}, {"path": "/c/seg-0", "range": "5"}, {"path": "/c/seg-0", "range": "0-1,3-4"},
			{"path": "/c/seg-0", "size_bytes": 5, "range": "7-"}, {"data": "!!"}, {"path": "/c/big"}, {"path": "/c/seg-0", "size_bytes": 0},
			{"path": "/c/seg-1", "etag": 7}]`, nil, 400,
			"Index 0: not a JSON object\n" +
				"Index 1: expected keys to include one of 'data' or 'path'\n" +
				"Index 2: extraneous keys \"bar\", \"foo\"\n" +
				"Index 3: \"path\" must be a string\n" +
				"Index 4: path does not refer to an object. Path must be of the form /container/object.\n" +
				"Index 5: invalid size_bytes\n" +
				"Index 6: invalid range\n" +
				"Index 7: multiple ranges (only one allowed)\n" +
				"Index 8: unsatisfiable range\n" +
				"Index 9: data must be valid base64\n" +
				"Index 10: manifest must not include itself as a segment\n" +
				"Index 11: too small; each segment must be at least 1 byte.\n" +
				"Index 12: \"etag\" must be a string or null (if provided)\n"},
		{"only data", `[{"data": "eHl6"}]`, nil, 400, "Inline data segments require at least one object-backed segment.\n"},
		{"bad segments", fmt.Sprintf(`[{"path": "/c/nope"}, {"path": "/c/seg-0", "etag": "bad", "size_bytes": 4},
			{"path": "/c/seg-1", "range": "10-"}, {"path": "/c/seg-1", "etag": %q}]`, md5hex(segs[1])), nil, 400,
			"Errors:\n/c/nope, 404 Not Found\n/c/seg-0, Size Mismatch\n/c/seg-0, Etag Mismatch\n/c/seg-1, Unsatisfiable Range\n"},
		{"bad segments as JSON", `[{"path": "/c/nope"}, {"path": "/c/seg-0"}]`, []string{"Accept", "application/json"}, 400,
			`{"Errors": [["/c/nope", "404 Not Found"]]}`},
		{"wrong etag", `[{"path": "/c/seg-0"}]`, []string{"Etag", "0123"}, 422,
			"<html><h1>Unprocessable Entity</h1><p>Unable to process the contained instructions</p></html>"},
		{"a copy", `[{"path": "/c/seg-0"}]`, []string{"X-Copy-From", "c/seg-0"}, 405, "Multipart Manifest PUTs cannot be COPY requests"},
		{"too large", "[" + strings.Repeat(" ", 8<<20) + "]", nil, 413, "Manifest File > 8388608 bytes"},
	} {
		resp, body := c.Do("PUT", acct+"/c/big?multipart-manifest=put", tok, []byte(tc.manifest), tc.hdr...)
		if resp.StatusCode != tc.status || string(body) != tc.body {
			t.Errorf("%s: %d %q\nwant %d %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	c.Must(http.StatusNotFound, "HEAD", acct+"/c/big", tok, nil)

	resp, body := c.Do("PUT", acct+"/c/plain", tok, []byte("x"), "X-Static-Large-Object", "True")
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(string(body), "X-Static-Large-Object is a reserved header.") {
		t.Errorf("reserved header = %d %q", resp.StatusCode, body)
	}

	// The segment limit.
	c2 := proxytest.Start(t, proxytest.Options{Middle: func(core http.Handler) http.Handler {
		return slo.New(core, slo.Options{MaxManifestSegments: 2})
	}})
	c2.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	resp, body = c2.Do("PUT", acct+"/c/big?multipart-manifest=put", tok, []byte(`[{"path": "/c/a"}, {"path": "/c/b"}, {"data": "eHl6"}, {"path": "/c/d"}]`))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != "Number of object-backed segments must be <= 2" {
		t.Errorf("too many segments = %d %q", resp.StatusCode, body)
	}
}

func TestManifestPutHeartbeat(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	segments(t, c, acct, 5)
	resp, body := c.Do("PUT", acct+"/c/big?multipart-manifest=put&heartbeat=on", tok, []byte(`[{"path": "/c/seg-0"}]`), "Accept", "application/json")
	if resp.StatusCode != http.StatusAccepted || !bytes.HasPrefix(body, []byte(" \r\n\r\n")) {
		t.Fatalf("heartbeat PUT = %d %q", resp.StatusCode, body)
	}
	var res map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(body), &res); err != nil {
		t.Fatal(err)
	}
	if res["Response Status"] != "201 Created" || res["Etag"] != `"`+md5hex([]byte(md5hex(bytes.Repeat([]byte("a"), 5))))+`"` {
		t.Errorf("heartbeat result = %v", res)
	}
	resp, body = c.Do("PUT", acct+"/c/bad?multipart-manifest=put&heartbeat=on", tok, []byte(`[{"path": "/c/nope"}]`))
	if resp.StatusCode != http.StatusAccepted || !strings.HasSuffix(string(body), "Response Status: 400 Bad Request\nErrors:\n/c/nope, 404 Not Found\n") {
		t.Errorf("failed heartbeat PUT = %d %q", resp.StatusCode, body)
	}
}

func TestNestedAndPartNumber(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	segs := segments(t, c, acct, 3, 4, 5)
	c.Must(http.StatusCreated, "PUT", acct+"/c/inner?multipart-manifest=put", tok,
		[]byte(`[{"path": "/c/seg-1"}, {"path": "/c/seg-2", "range": "1-"}]`))
	inner := string(segs[1]) + string(segs[2][1:])
	resp, _ := c.Do("HEAD", acct+"/c/inner", tok, nil)
	innerEtag := resp.Header.Get("Etag")
	c.Must(http.StatusCreated, "PUT", acct+"/c/outer?multipart-manifest=put", tok,
		[]byte(fmt.Sprintf(`[{"path": "/c/seg-0"}, {"path": "/c/inner", "etag": %q, "size_bytes": %d, "range": "2-6"}, {"data": "IQ=="}]`,
			strings.Trim(innerEtag, `"`), len(inner))))
	want := string(segs[0]) + inner[2:7] + "!"
	if body := c.Must(http.StatusOK, "GET", acct+"/c/outer", tok, nil); string(body) != want {
		t.Errorf("nested GET = %q, want %q", body, want)
	}
	resp, body := c.Do("GET", acct+"/c/outer", tok, nil, "Range", "bytes=4-7")
	if resp.StatusCode != http.StatusPartialContent || string(body) != want[4:8] {
		t.Errorf("nested range = %d %q, want %q", resp.StatusCode, body, want[4:8])
	}
	body = c.Must(http.StatusOK, "GET", acct+"/c/outer?multipart-manifest=get", tok, nil)
	if !strings.Contains(string(body), `"sub_slo": true`) {
		t.Errorf("outer manifest %s", body)
	}

	resp, body = c.Do("GET", acct+"/c/outer?part-number=2", tok, nil)
	if resp.StatusCode != http.StatusPartialContent || string(body) != inner[2:7] || resp.Header.Get("X-Parts-Count") != "3" ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 3-7/%d", len(want)) {
		t.Errorf("part 2 = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, _ = c.Do("HEAD", acct+"/c/outer?part-number=1", tok, nil)
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Length") != "3" {
		t.Errorf("HEAD part 1 = %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = c.Do("GET", acct+"/c/outer?part-number=4", tok, nil)
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable || string(body) != "The requested part number is not satisfiable" {
		t.Errorf("part 4 = %d %q", resp.StatusCode, body)
	}
	resp, _ = c.Do("GET", acct+"/c/outer?part-number=x", tok, nil)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("part x = %d", resp.StatusCode)
	}
	// A plain object ignores part-number.
	if body := c.Must(http.StatusOK, "GET", acct+"/c/seg-0?part-number=2", tok, nil); string(body) != string(segs[0]) {
		t.Errorf("plain object with part-number = %q", body)
	}

	// Too deep: a manifest including a manifest ... eleven levels down.
	prev := "seg-0"
	for i := range 11 {
		name := fmt.Sprintf("deep-%d", i)
		c.Must(http.StatusCreated, "PUT", acct+"/c/"+name+"?multipart-manifest=put", tok, []byte(`[{"path": "/c/`+prev+`"}]`))
		prev = name
	}
	if body := c.Must(http.StatusOK, "GET", acct+"/c/deep-8", tok, nil); string(body) != string(segs[0]) {
		t.Errorf("nine levels = %q", body)
	}
	resp, _ = c.Do("GET", acct+"/c/deep-10", tok, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("eleven levels = %d, want 409", resp.StatusCode)
	}
}

func TestBrokenSegments(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	segments(t, c, acct, 3, 4)
	c.Must(http.StatusCreated, "PUT", acct+"/c/big?multipart-manifest=put", tok, []byte(`[{"path": "/c/seg-0"}, {"path": "/c/seg-1"}]`))

	// The second segment changes: the answer starts, then breaks off.
	c.Must(http.StatusCreated, "PUT", acct+"/c/seg-1", tok, []byte("XXXX"))
	resp, err := c.Client.Do(c.Request("GET", acct+"/c/big", tok, nil))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err == nil || buf.String() != "aaa" {
		t.Errorf("changed second segment: %d %q %v, want the first segment then a broken body", resp.StatusCode, buf.String(), err)
	}
	// The first one is gone: 409 before anything is sent.
	c.Must(http.StatusNoContent, "DELETE", acct+"/c/seg-0", tok, nil)
	resp, _ = c.Do("GET", acct+"/c/big", tok, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("missing first segment = %d, want 409", resp.StatusCode)
	}
	// HEAD does not read segments.
	c.Must(http.StatusOK, "HEAD", acct+"/c/big", tok, nil)
}

func TestSegmentsReadAsTheCaller(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/private", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/public", tok, nil, "X-Container-Read", ".r:*")
	c.Must(http.StatusCreated, "PUT", acct+"/private/seg", tok, []byte("secret"))
	c.Must(http.StatusCreated, "PUT", acct+"/public/seg", tok, []byte("open"))
	c.Must(http.StatusCreated, "PUT", acct+"/public/leak?multipart-manifest=put", tok, []byte(`[{"path": "/private/seg"}]`))
	c.Must(http.StatusCreated, "PUT", acct+"/public/fine?multipart-manifest=put", tok, []byte(`[{"path": "/public/seg"}]`))

	if body := c.Must(http.StatusOK, "GET", acct+"/public/fine", "", nil); string(body) != "open" {
		t.Errorf("anonymous read of a public large object = %q", body)
	}
	resp, body := c.Do("GET", acct+"/public/leak", "", nil)
	if resp.StatusCode != http.StatusConflict || strings.Contains(string(body), "secret") {
		t.Errorf("anonymous read through a manifest of a private segment = %d %q", resp.StatusCode, body)
	}
	// Nor may a manifest be made of segments the caller cannot read.
	c.Must(http.StatusCreated, "PUT", acct+"/bobs", tok, nil, "X-Container-Write", "bob:*")
	resp, body = c.Do("PUT", acct+"/bobs/m?multipart-manifest=put", proxytest.Bob, []byte(`[{"path": "/private/seg"}]`))
	if resp.StatusCode != http.StatusBadRequest || string(body) != "Errors:\n/private/seg, 403 Forbidden\n" {
		t.Errorf("manifest of unreadable segments = %d %q", resp.StatusCode, body)
	}
}

func TestMultipartDelete(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/segs", tok, nil)
	for i := range 3 {
		c.Must(http.StatusCreated, "PUT", fmt.Sprintf("%s/segs/%d", acct, i), tok, []byte("x"))
	}
	c.Must(http.StatusCreated, "PUT", acct+"/segs/inner?multipart-manifest=put", tok, []byte(`[{"path": "/segs/1"}, {"path": "/segs/2"}]`))
	c.Must(http.StatusCreated, "PUT", acct+"/c/big?multipart-manifest=put", tok, []byte(`[{"path": "/segs/0"}, {"data": "eA=="}, {"path": "/segs/inner"}]`))
	c.Must(http.StatusCreated, "PUT", acct+"/c/keep", tok, []byte("x"))

	resp, body := c.Do("DELETE", acct+"/c/big?multipart-manifest=delete", tok, nil, "Accept", "application/json")
	want := `{"Response Status": "200 OK", "Response Body": "", "Number Deleted": 5, "Number Not Found": 0, "Errors": []}`
	if resp.StatusCode != http.StatusOK || string(body) != want {
		t.Errorf("multipart delete = %d %s\nwant %s", resp.StatusCode, body, want)
	}
	var rows []map[string]any
	json.Unmarshal(c.Must(http.StatusOK, "GET", acct+"/segs?format=json", tok, nil), &rows)
	if len(rows) != 0 {
		t.Errorf("segments left: %v", rows)
	}
	c.Must(http.StatusNotFound, "HEAD", acct+"/c/big", tok, nil)

	_, body = c.Do("DELETE", acct+"/c/keep?multipart-manifest=delete", tok, nil)
	if want := "Number Deleted: 0\nNumber Not Found: 0\nResponse Body: \nResponse Status: 400 Bad Request\nErrors:\n/c/keep, Not an SLO manifest\n"; string(body) != want {
		t.Errorf("multipart delete of a plain object = %q", body)
	}
	c.Must(http.StatusOK, "HEAD", acct+"/c/keep", tok, nil)
	_, body = c.Do("DELETE", acct+"/c/gone?multipart-manifest=delete", tok, nil)
	if !strings.Contains(string(body), "Number Not Found: 1\n") {
		t.Errorf("multipart delete of nothing = %q", body)
	}
	// A plain DELETE of a manifest leaves the segments.
	c.Must(http.StatusCreated, "PUT", acct+"/segs/3", tok, []byte("x"))
	c.Must(http.StatusCreated, "PUT", acct+"/c/m?multipart-manifest=put", tok, []byte(`[{"path": "/segs/3"}]`))
	c.Must(http.StatusNoContent, "DELETE", acct+"/c/m", tok, nil)
	c.Must(http.StatusOK, "HEAD", acct+"/segs/3", tok, nil)
}

// TestLegacyManifest serves a manifest stored without the large object's
// etag and size (as Swift before 2.24 wrote them): both are worked out
// from the segments.
func TestLegacyManifest(t *testing.T) {
	c := proxytest.Start(t, proxytest.Options{Middle: func(core http.Handler) http.Handler {
		s := slo.New(dlo.New(core))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-Raw") != "" {
				core.ServeHTTP(w, r) // as an old proxy stored it
				return
			}
			s.ServeHTTP(w, r)
		})
	}})
	acct := "/v1/" + c.Account(tok)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	segs := segments(t, c, acct, 3, 4)
	manifest := fmt.Sprintf(`[{"name": "/c/seg-0", "bytes": 3, "hash": %q}, {"name": "/c/seg-1", "bytes": "4", "hash": %q, "range": "1-2"}]`,
		md5hex(segs[0]), md5hex(segs[1]))
	c.Must(http.StatusCreated, "PUT", acct+"/c/old", tok, []byte(manifest), "X-Static-Large-Object", "True", "X-Test-Raw", "1")
	etag := `"` + md5hex([]byte(md5hex(segs[0])+md5hex(segs[1])+":1-2;")) + `"`
	resp, body := c.Do("GET", acct+"/c/old", tok, nil)
	if string(body) != "aaabb" || resp.Header.Get("Etag") != etag || resp.Header.Get("Content-Length") != "5" {
		t.Errorf("legacy GET = %q %v", body, resp.Header)
	}
	resp, _ = c.Do("HEAD", acct+"/c/old", tok, nil)
	if resp.Header.Get("Etag") != etag || resp.Header.Get("Content-Length") != "5" {
		t.Errorf("legacy HEAD = %v", resp.Header)
	}
	resp, _ = c.Do("GET", acct+"/c/old", tok, nil, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("legacy If-None-Match = %d", resp.StatusCode)
	}
}
