package bulk_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

const tok = proxytest.Alice

func start(t *testing.T, o ...bulk.Options) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Front: func(auth http.Handler) http.Handler { return bulk.New(auth, o...) },
	})
	return c, "/v1/" + c.Account(tok)
}

func TestBulkDelete(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c1", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/c2", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/c1/a b", tok, []byte("x"))
	c.Must(http.StatusCreated, "PUT", acct+"/c1/é", tok, []byte("x"))
	c.Must(http.StatusCreated, "PUT", acct+"/c2/keep", tok, []byte("x"))

	body := "/c1/a%20b\n c1/%C3%A9 \n\n/c1/nope\n/c1\n/c2\n"
	resp, out := c.Do("POST", acct+"?bulk-delete", tok, []byte(body), "Content-Type", "text/plain", "Accept", "application/json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("bulk delete = %d %v", resp.StatusCode, resp.Header)
	}
	want := `{"Response Status": "400 Bad Request", "Response Body": "", "Number Deleted": 3, "Number Not Found": 1, "Errors": [["/c2", "409 Conflict"]]}`
	if string(out) != want {
		t.Errorf("body = %s\nwant   %s", out, want)
	}
	c.Must(http.StatusNotFound, "HEAD", acct+"/c1", tok, nil)
	c.Must(http.StatusNoContent, "HEAD", acct+"/c2", tok, nil)

	// Another's account: every delete is refused, and nothing goes.
	other := "/v1/" + c.Account(proxytest.Bob)
	c.Must(http.StatusCreated, "PUT", other+"/b", proxytest.Bob, nil)
	c.Must(http.StatusCreated, "PUT", other+"/b/o", proxytest.Bob, []byte("x"))
	_, out = c.Do("DELETE", other+"?bulk-delete", tok, []byte("/b/o\n/b"))
	if want := "Number Deleted: 0\nNumber Not Found: 0\nResponse Body: \nResponse Status: 400 Bad Request\nErrors:\n/b/o, 403 Forbidden\n/b, 403 Forbidden\n"; string(out) != want {
		t.Errorf("someone else's account: %q\nwant %q", out, want)
	}
	c.Must(http.StatusOK, "HEAD", other+"/b/o", proxytest.Bob, nil)

	// Request errors are told in the body of a 200.
	for _, tc := range []struct {
		name, body string
		hdr        []string
		want       string
	}{
		{"wrong content type", "/c2/keep", []string{"Content-Type", "application/json"}, "406 Not Acceptable"},
		{"empty", "\n\n", nil, "Response Body: Invalid bulk delete.\nResponse Status: 400 Bad Request"},
		{"long name", "/c2/" + strings.Repeat("x", 3000), nil, "Response Body: Invalid File Name\nResponse Status: 400 Bad Request"},
	} {
		resp, out := c.Do("DELETE", acct+"?bulk-delete", tok, []byte(tc.body), tc.hdr...)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: %d %q, want %q in it", tc.name, resp.StatusCode, out, tc.want)
		}
	}
	resp, out = c.Do("DELETE", acct+"?bulk-delete", tok, []byte("/c2/keep"), "Accept", "image/png")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), "Response Status: 406 Not Acceptable") {
		t.Errorf("unacceptable Accept: %d %q", resp.StatusCode, out)
	}
	c.Must(http.StatusOK, "HEAD", acct+"/c2/keep", tok, nil)
}

func TestBulkDeleteLimit(t *testing.T) {
	c, acct := start(t, bulk.Options{MaxDeletesPerRequest: 2})
	_, out := c.Do("DELETE", acct+"?bulk-delete", tok, []byte("/a/1\n/a/2\n/a/3\n"), "Accept", "text/xml")
	want := "<delete>\n<number_deleted>0</number_deleted>\n<number_not_found>0</number_not_found>\n" +
		"<response_body>Maximum Bulk Deletes: 2 per request</response_body>\n" +
		"<response_status>413 Request Entity Too Large</response_status>\n<errors>\n</errors>\n</delete>\n"
	if string(out) != want {
		t.Errorf("body = %q\nwant   %q", out, want)
	}
}

type member struct {
	name string
	body string
	typ  byte
	pax  map[string]string
}

func archive(t *testing.T, gz bool, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for _, m := range members {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: m.name, Typeflag: typ, Size: int64(len(m.body)), Mode: 0o644, PAXRecords: m.pax}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if typ == tar.TypeSymlink {
			h.Linkname = "/etc/passwd"
		}
		if m.pax != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

// renameMember gives a member of an uncompressed or gzipped archive a
// name Go's tar writer refuses to write, of the same length or shorter.
func renameMember(t *testing.T, archive []byte, from, to string) []byte {
	t.Helper()
	gz := bytes.HasPrefix(archive, []byte{0x1f, 0x8b})
	raw := archive
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(archive))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = io.ReadAll(zr)
	}
	raw = bytes.Clone(raw)
	for off := 0; off+512 <= len(raw); off += 512 {
		block := raw[off : off+512]
		if !bytes.Equal(bytes.TrimRight(block[:100], "\x00"), []byte(from)) {
			continue
		}
		clear(block[:100])
		copy(block, to)
		copy(block[148:156], "        ")
		sum := 0
		for _, b := range block {
			sum += int(b)
		}
		copy(block[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	if !gz {
		return raw
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

func TestExtractArchive(t *testing.T) {
	c, acct := start(t)
	tarball := archive(t, true,
		member{name: "cx/", typ: tar.TypeDir},
		member{name: "cx/a.txt", body: "hello", pax: map[string]string{
			"SCHILY.xattr.user.mime_type": "text/x-mine", "SCHILY.xattr.user.meta.color": "blue",
			"SCHILY.xattr.user.other": "ignored"}},
		member{name: "./cx/sub/../b", body: "dots are just names"},
		member{name: "/cy/c", body: "leading slash"},
		member{name: "top.txt", body: "no container: skipped"},
		member{name: "cx/link", typ: tar.TypeSymlink},
		member{name: "cz/" + strings.Repeat("n", 1025), body: "name too long"},
		member{name: strings.Repeat("c", 257) + "/o", body: "container name too long"},
		member{name: "cx/@", body: "empty object name"},
		member{name: "../up/x", body: "a container named .."},
	)
	tarball = renameMember(t, tarball, "cx/@", "cx/")
	resp, out := c.Do("PUT", acct+"?extract-archive=tar.gz", tok, tarball, "Accept", "application/json", "X-Object-Meta-Batch", "7")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("extract = %d %s", resp.StatusCode, out)
	}
	var res struct {
		Status  string     `json:"Response Status"`
		Body    string     `json:"Response Body"`
		Created int        `json:"Number Files Created"`
		Errors  [][]string `json:"Errors"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if res.Status != "400 Bad Request" || res.Created != 4 || len(res.Errors) != 3 {
		t.Errorf("result = %+v", res)
	}
	for _, e := range res.Errors {
		if e[1] != "400 Bad Request" {
			t.Errorf("error %q", e)
		}
	}
	resp, body := c.Do("GET", acct+"/cx/a.txt", tok, nil)
	if string(body) != "hello" || resp.Header.Get("Content-Type") != "text/x-mine" ||
		resp.Header.Get("X-Object-Meta-Color") != "blue" || resp.Header.Get("X-Object-Meta-Batch") != "7" ||
		resp.Header.Get("X-Object-Meta-Other") != "" {
		t.Errorf("cx/a.txt = %q %v", body, resp.Header)
	}
	if body := c.Must(http.StatusOK, "GET", acct+"/cx/sub/../b", tok, nil); string(body) != "dots are just names" {
		t.Errorf("cx/sub/../b = %q", body)
	}
	c.Must(http.StatusOK, "HEAD", acct+"/cy/c", tok, nil)
	if body := c.Must(http.StatusOK, "GET", acct+"/../up/x", tok, nil); string(body) != "a container named .." {
		t.Errorf("../up/x = %q", body)
	}
	c.Must(http.StatusNotFound, "HEAD", acct+"/cx/link", tok, nil)
	c.Must(http.StatusNotFound, "HEAD", acct+"/top.txt", tok, nil)

	// Under a path: container and prefix.
	plain := archive(t, false, member{name: "d/e", body: "deep"})
	_, out = c.Do("PUT", acct+"/cw/pre/?extract-archive=tar", tok, plain)
	if !strings.Contains(string(out), "Number Files Created: 1\n") {
		t.Errorf("extract under a path: %q", out)
	}
	if body := c.Must(http.StatusOK, "GET", acct+"/cw/pre/d/e", tok, nil); string(body) != "deep" {
		t.Errorf("cw/pre/d/e = %q", body)
	}

	for _, tc := range []struct{ query, body, want string }{
		{"tar", "garbage", "Response Body: Invalid Tar File: truncated header"},
		{"tar.bz2", string(plain), "Response Status: 400 Bad Request"},
		{"tar.gz", string(plain), "Response Body: Invalid Tar File: not a gzip file"},
		{"tar", string(archive(t, false)), "Invalid Tar File: No Valid Files"},
	} {
		_, out := c.Do("PUT", acct+"?extract-archive="+tc.query, tok, []byte(tc.body))
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s of %.20q: %q, want %q in it", tc.query, tc.body, out, tc.want)
		}
	}
	resp, out = c.Do("PUT", acct+"?extract-archive=zip", tok, plain)
	if resp.StatusCode != http.StatusBadRequest || string(out) != "Unsupported archive format" {
		t.Errorf("zip = %d %q", resp.StatusCode, out)
	}
	// Without a token: 401 in the body, nothing created.
	_, out = c.Do("PUT", acct+"?extract-archive=tar", "", archive(t, false, member{name: "anon/x", body: "x"}))
	if !strings.Contains(string(out), "Response Status: 401 Unauthorized") {
		t.Errorf("anonymous: %q", out)
	}
	c.Must(http.StatusNotFound, "HEAD", acct+"/anon", tok, nil)
}

// TestExtractBzip2AndGNUTar extracts what GNU tar writes, compressed
// with bzip2 (the standard library reads bzip2 but cannot write it).
func TestExtractBzip2AndGNUTar(t *testing.T) {
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar")
	}
	if _, err := exec.LookPath("bzip2"); err != nil {
		t.Skip("no bzip2")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src", "box", "deep", "er"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"box/a": "A", "box/deep/er/b": "B", "box/" + strings.Repeat("l", 150): "long name"} {
		if err := os.WriteFile(filepath.Join(dir, "src", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "a.tar.bz2")
	if b, err := exec.Command(tarBin, "-cjf", out, "-C", filepath.Join(dir, "src"), "box").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	c, acct := start(t)
	_, body := c.Do("PUT", acct+"?extract-archive=tar.bz2", tok, data)
	if !strings.Contains(string(body), "Number Files Created: 3\n") || !strings.Contains(string(body), "201 Created") {
		t.Fatalf("extract: %q", body)
	}
	for name, want := range map[string]string{"box/a": "A", "box/deep/er/b": "B", "box/" + strings.Repeat("l", 150): "long name"} {
		if got := c.Must(http.StatusOK, "GET", acct+"/"+name, tok, nil); string(got) != want {
			t.Errorf("%s = %q", name, got)
		}
	}
}

// slowReader hands out its data a few bytes at a time with pauses, as a
// slow client uploads.
type slowReader struct {
	data  []byte
	pause time.Duration
}

func (s *slowReader) Read(b []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(b[:min(len(b), 700)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestExtractHeartbeat: while a slow archive arrives, the answer starts
// with whitespace; the archive is still read to its end.
func TestExtractHeartbeat(t *testing.T) {
	c, acct := start(t, bulk.Options{YieldFrequency: 5 * time.Millisecond})
	var members []member
	for i := range 5 {
		members = append(members, member{name: fmt.Sprintf("hb/%d", i), body: strings.Repeat("x", 1000)})
	}
	data := archive(t, false, members...)
	req, err := http.NewRequest("PUT", c.URL+acct+"?extract-archive=tar", &slowReader{data: data, pause: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	req.Header.Set("X-Auth-Token", tok)
	resp, body := c.Send(req)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), " ") ||
		!strings.HasSuffix(string(body), "\r\n\r\nNumber Files Created: 5\nResponse Body: \nResponse Status: 201 Created\nErrors:\n") {
		t.Fatalf("slow extract = %d %q", resp.StatusCode, body)
	}
	for i := range 5 {
		c.Must(http.StatusOK, "HEAD", fmt.Sprintf("%s/hb/%d", acct, i), tok, nil)
	}
}

// TestUnreadBodyKeepAlive: a bulk request whose body is not read to its
// end (refused before reading, stopped at the archive's end with padding
// after it, a chunked body whose last chunk is never asked for) leaves
// the connection fit for the next request. With full duplex on, the
// server used to finish reading such a body after the handler returned,
// which set off a read of the connection that the next request then
// collided with ("invalid concurrent Body.Read call", golang/go#68560).
func TestUnreadBodyKeepAlive(t *testing.T) {
	c, acct := start(t, bulk.Options{YieldFrequency: time.Millisecond})
	c.Must(http.StatusCreated, "PUT", acct+"/ka", tok, nil)
	c.Must(http.StatusCreated, "PUT", acct+"/ka/keep", tok, []byte("x"))
	padded := append(archive(t, false, member{name: "ka/x", body: "x"}), make([]byte, 10240)...)
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(name, head string, body []byte) string {
		t.Helper()
		msg := head + "Host: nimbus\r\nX-Auth-Token: " + tok + "\r\n"
		if !strings.Contains(head, "Transfer-Encoding") {
			msg += fmt.Sprintf("Content-Length: %d\r\n", len(body))
		}
		if _, err := io.WriteString(conn, msg+"\r\n"+string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(out)
	}
	for _, tc := range []struct {
		name, head string
		body       []byte
		want       string
	}{
		{"wrong content type", "DELETE " + acct + "?bulk-delete HTTP/1.1\r\nContent-Type: application/json\r\n",
			[]byte("/ka/keep\n"), "406 Not Acceptable"},
		{"unacceptable answer", "POST " + acct + "?bulk-delete HTTP/1.1\r\nAccept: image/png\r\n",
			[]byte("/ka/keep\n"), "406 Not Acceptable"},
		{"long name", "DELETE " + acct + "?bulk-delete HTTP/1.1\r\n",
			[]byte("/ka/" + strings.Repeat("x", 3000) + "\n" + strings.Repeat("/ka/keep\n", 2000)), "Invalid File Name"},
		{"padded archive", "PUT " + acct + "?extract-archive=tar HTTP/1.1\r\n", padded, "201 Created"},
		{"chunked archive", "PUT " + acct + "?extract-archive=tar HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
			fmt.Appendf(nil, "%x\r\n%s\r\n0\r\n\r\n", len(padded), padded), "201 Created"},
		{"unsupported archive", "PUT " + acct + "?extract-archive=zip HTTP/1.1\r\n", padded, "Unsupported archive format"},
		{"unacceptable archive", "PUT " + acct + "?extract-archive=tar HTTP/1.1\r\nAccept: image/png\r\n", padded, "406 Not Acceptable"},
	} {
		if out := send(tc.name, tc.head, tc.body); !strings.Contains(out, tc.want) {
			t.Errorf("%s: %q, want %q in it", tc.name, out, tc.want)
		}
		// The next request on the same connection.
		if out := send(tc.name+", then a GET", "GET "+acct+"/ka/keep HTTP/1.1\r\n", nil); out != "x" {
			t.Errorf("%s, then a GET: %q", tc.name, out)
		}
	}
}
