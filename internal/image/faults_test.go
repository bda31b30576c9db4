package image

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Faults and bad input: what a broken client, a hostile project or a full
// disk can do to the upload path and the API, and what must be left behind.

// newQueued creates an image of alice's with the given disk format.
func (c *testCloud) newQueued(token, disk string, extra ...map[string]any) string {
	c.t.Helper()
	attrs := map[string]any{"name": "f", "disk_format": disk, "container_format": "bare"}
	for _, e := range extra {
		for k, v := range e {
			attrs[k] = v
		}
	}
	return c.must(201, "POST", "/v2/images", token, attrs)["id"].(string)
}

// sub is c reporting to a subtest's t.
func (c *testCloud) sub(t *testing.T) *testCloud {
	cc := *c
	cc.t = t
	return &cc
}

// status is an image's status as the admin sees it ("" if it is gone).
func (c *testCloud) adminStatus(id string) string {
	c.t.Helper()
	resp, m := c.do("GET", "/v2/images/"+id, c.admin, nil)
	if resp.StatusCode == 404 {
		return ""
	}
	s, _ := m["status"].(string)
	return s
}

// awaitStatus polls until the image has status want (the server may still
// be unwinding an upload the client gave up on).
func (c *testCloud) awaitStatus(id, want string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.adminStatus(id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("image %s status = %q, want %q", id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// storeFiles lists the store directory.
func (c *testCloud) storeFiles() []string {
	c.t.Helper()
	entries, err := os.ReadDir(c.storeDir)
	if err != nil {
		c.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() == "lost+found" {
			continue
		}
		names = append(names, e.Name())
	}
	return names
}

// wantStored checks that the store holds exactly the data of ids: no
// orphans, no temporary files.
func (c *testCloud) wantStored(ids ...string) {
	c.t.Helper()
	got := c.storeFiles()
	slices.Sort(got)
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		c.t.Fatalf("store holds %q, want %q", got, ids)
	}
}

// put uploads body; length < 0 sends it chunked. A server that answers
// before reading everything may make the client's write fail; then the
// error is returned with code 0.
func (c *testCloud) put(token, id string, body io.Reader, length int64) (int, string, error) {
	c.t.Helper()
	req, err := http.NewRequest("PUT", c.srv.URL+"/v2/images/"+id+"/file", body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.ContentLength = length
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out), nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// onlyReader hides a reader's type, so the client cannot learn its length.
type onlyReader struct{ io.Reader }

// qcow2Header is a minimal qcow2 v3 header, optionally with a backing file
// name, padded to a few clusters of zeros.
func qcow2Header(virtual uint64, backing string) []byte {
	h := make([]byte, 4096)
	be := binary.BigEndian
	copy(h, "QFI\xfb")
	be.PutUint32(h[4:], 3)   // version
	be.PutUint32(h[20:], 16) // cluster_bits
	be.PutUint64(h[24:], virtual)
	be.PutUint32(h[36:], 1)       // l1_size
	be.PutUint64(h[40:], 0x30000) // l1_table_offset
	be.PutUint64(h[48:], 0x10000) // refcount_table_offset
	be.PutUint32(h[56:], 1)       // refcount_table_clusters
	be.PutUint32(h[96:], 4)       // refcount_order
	be.PutUint32(h[100:], 104)    // header_length
	if backing != "" {
		be.PutUint64(h[8:], 512) // backing_file_offset
		be.PutUint32(h[16:], uint32(len(backing)))
		copy(h[512:], backing)
	}
	return append(h, make([]byte, 3*65536)...)
}

func TestUploadCutOffHalfWayLeavesNothing(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	data := randBytes(4 << 20)

	t.Run("raw conn closed", func(t *testing.T) {
		c := c.sub(t)
		id := c.newQueued(c.alice, "raw")
		conn, err := net.Dial("tcp", c.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "PUT /v2/images/%s/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n"+
			"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", id, c.alice, len(data))
		if _, err := conn.Write(data[:len(data)/2]); err != nil {
			t.Fatal(err)
		}
		c.awaitStatus(id, "saving")
		conn.Close()
		c.awaitStatus(id, "queued")
		c.wantStored()
		if code, body := c.upload(c.alice, id, data); code != 204 {
			t.Fatalf("retry = %d %s", code, body)
		}
		c.awaitStatus(id, "active")
		c.wantStored(id)
		c.must(204, "DELETE", "/v2/images/"+id, c.alice, nil)
		c.wantStored()
	})

	t.Run("pipe broken", func(t *testing.T) {
		c := c.sub(t)
		id := c.newQueued(c.alice, "raw")
		pr, pw := io.Pipe()
		go func() {
			pw.Write(data[:len(data)/2])
			c.awaitStatus(id, "saving")
			pw.CloseWithError(fmt.Errorf("client gave up"))
		}()
		if code, _, err := c.put(c.alice, id, pr, int64(len(data))); err == nil {
			t.Fatalf("cut-off upload = %d, want a client error", code)
		}
		c.awaitStatus(id, "queued")
		c.wantStored()
		if code, body := c.upload(c.alice, id, data); code != 204 {
			t.Fatalf("retry = %d %s", code, body)
		}
		c.wantStored(id)
	})
}

func TestDeleteWhileUploading(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	id := c.newQueued(c.alice, "raw")
	data := randBytes(3 << 20)
	pr, pw := io.Pipe()
	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, body, err := c.put(c.alice, id, pr, int64(len(data)))
		done <- result{code, body, err}
	}()
	if _, err := pw.Write(data[:1<<20]); err != nil {
		t.Fatal(err)
	}
	c.awaitStatus(id, "saving")
	c.must(204, "DELETE", "/v2/images/"+id, c.alice, nil)
	if _, err := pw.Write(data[1<<20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil || (r.code != 410 && r.code != 409) {
		t.Fatalf("upload after delete = %d %q %v, want 410 or 409", r.code, r.body, r.err)
	}
	c.must(404, "GET", "/v2/images/"+id, c.alice, nil)
	c.wantStored()
}

func TestImageSizeCap(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	c := newTestCloud(t, func(cfg *Config) { cfg.ImageSizeCap = limit })
	data := randBytes(2 * limit)

	t.Run("streaming", func(t *testing.T) {
		c := c.sub(t)
		id := c.newQueued(c.alice, "raw")
		code, body, err := c.put(c.alice, id, onlyReader{bytes.NewReader(data)}, -1)
		if err != nil || code != 413 {
			t.Fatalf("chunked upload over the cap = %d %q %v, want 413", code, body, err)
		}
		c.awaitStatus(id, "queued")
		c.wantStored()
	})
	t.Run("up front", func(t *testing.T) {
		c := c.sub(t)
		id := c.newQueued(c.alice, "raw")
		code, body, err := c.put(c.alice, id, bytes.NewReader(data), int64(len(data)))
		if err != nil || code != 413 {
			t.Fatalf("upload with Content-Length over the cap = %d %q %v, want 413", code, body, err)
		}
		c.awaitStatus(id, "queued")
		c.wantStored()
	})
	t.Run("exactly the cap", func(t *testing.T) {
		c := c.sub(t)
		id := c.newQueued(c.alice, "raw")
		if code, body, err := c.put(c.alice, id, onlyReader{bytes.NewReader(data[:limit])}, -1); err != nil || code != 204 {
			t.Fatalf("upload of the cap = %d %q %v", code, body, err)
		}
		c.wantStored(id)
	})
}

func TestQuotas(t *testing.T) {
	t.Parallel()
	t.Run("images", func(t *testing.T) {
		t.Parallel()
		c := newTestCloud(t, func(cfg *Config) { cfg.QuotaImages = 2 })
		c.newQueued(c.alice, "raw")
		c.newQueued(c.alice, "raw")
		c.must(413, "POST", "/v2/images", c.alice, map[string]any{"name": "third"})
		c.newQueued(c.bob, "raw") // per project
	})
	t.Run("size total", func(t *testing.T) {
		t.Parallel()
		const quota = 1 << 20
		c := newTestCloud(t, func(cfg *Config) { cfg.QuotaSizeTotal = quota })
		first := c.newQueued(c.alice, "raw")
		if code, body := c.upload(c.alice, first, randBytes(700<<10)); code != 204 {
			t.Fatalf("first upload = %d %s", code, body)
		}
		second := c.newQueued(c.alice, "raw")
		if code, body, err := c.put(c.alice, second, bytes.NewReader(randBytes(700<<10)), 700<<10); err != nil || code != 413 {
			t.Fatalf("upload over the quota = %d %q %v, want 413", code, body, err)
		}
		if code, body, err := c.put(c.alice, second, onlyReader{bytes.NewReader(randBytes(700 << 10))}, -1); err != nil || code != 413 {
			t.Fatalf("chunked upload over the quota = %d %q %v, want 413", code, body, err)
		}
		c.awaitStatus(second, "queued")
		c.wantStored(first)
		// What is left still fits; bob's quota is his own.
		if code, body := c.upload(c.alice, second, randBytes(300<<10)); code != 204 {
			t.Fatalf("upload within the quota = %d %s", code, body)
		}
		if code, body := c.upload(c.bob, c.newQueued(c.bob, "raw"), randBytes(700<<10)); code != 204 {
			t.Fatalf("bob's upload = %d %s", code, body)
		}
	})
}

func TestUploadFormatMismatch(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	plain := qcow2Header(1<<30, "")
	if _, err := exec.LookPath("qemu-img"); err == nil {
		f := t.TempDir() + "/q.qcow2"
		if out, err := exec.Command("qemu-img", "create", "-f", "qcow2", f, "1G").CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v %s", err, out)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		plain = b
	}
	for _, tc := range []struct {
		name, disk string
		data       []byte
	}{
		{"raw declared, qcow2 data", "raw", plain},
		{"qcow2 with a backing file", "qcow2", qcow2Header(1<<30, "/etc/shadow")},
		{"qcow2 declared, raw data", "qcow2", randBytes(256 << 10)},
		{"qcow2 declared, truncated header", "qcow2", []byte("QFI\xfb\x00\x00\x00\x03")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c.sub(t)
			id := c.newQueued(c.alice, tc.disk)
			if code, body := c.upload(c.alice, id, tc.data); code != 400 {
				t.Fatalf("upload = %d %s, want 400", code, body)
			}
			c.awaitStatus(id, "queued")
			c.wantStored()
		})
	}
	// The inspector does accept a good qcow2 declared as such.
	id := c.newQueued(c.alice, "qcow2")
	if code, body := c.upload(c.alice, id, plain); code != 204 {
		t.Fatalf("good qcow2 = %d %s", code, body)
	}
	if got := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)["virtual_size"]; got != float64(1<<30) {
		t.Fatalf("virtual_size = %v", got)
	}
}

func TestOtherProjectsPrivateImageIs404(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	id := c.newQueued(c.alice, "raw", map[string]any{"visibility": "private"})
	if code, body := c.upload(c.alice, id, randBytes(1024)); code != 204 {
		t.Fatalf("upload = %d %s", code, body)
	}
	before := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v2/images/" + id, nil},
		{"PATCH", "/v2/images/" + id, []map[string]any{{"op": "replace", "path": "/name", "value": "x"}}},
		{"DELETE", "/v2/images/" + id, nil},
		{"GET", "/v2/images/" + id + "/file", nil},
		{"GET", "/v2/images/" + id + "/members", nil},
		{"POST", "/v2/images/" + id + "/members", map[string]any{"member": c.projectB}},
		{"GET", "/v2/images/" + id + "/members/" + c.projectB, nil},
		{"PUT", "/v2/images/" + id + "/tags/t", nil},
		{"POST", "/v2/images/" + id + "/actions/deactivate", nil},
	} {
		if resp, m := c.do(r.method, r.path, c.bob, r.body); resp.StatusCode != 404 {
			t.Errorf("bob %s %s = %d %v, want 404", r.method, r.path, resp.StatusCode, m)
		}
	}
	if code, _ := c.upload(c.bob, id, []byte("x")); code != 404 {
		t.Errorf("bob upload = %d, want 404", code)
	}
	if resp, m := c.do("GET", "/v2/images", c.bob, nil); resp.StatusCode != 200 || strings.Contains(fmt.Sprint(m), id) {
		t.Errorf("bob's list = %d, shows alice's private image: %v", resp.StatusCode, m)
	}
	wantUnchanged(t, c, id, before)
}

// wantUnchanged checks that an image looks exactly as before.
func wantUnchanged(t *testing.T, c *testCloud, id string, before map[string]any) {
	t.Helper()
	after := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)
	a, _ := json.Marshal(before)
	b, _ := json.Marshal(after)
	if !bytes.Equal(a, b) {
		t.Fatalf("image changed:\nbefore %s\nafter  %s", a, b)
	}
}

// listed says whether the token's image list has id.
func (c *testCloud) listed(token, id string) bool {
	c.t.Helper()
	m := c.must(200, "GET", "/v2/images", token, nil)
	for _, img := range m["images"].([]any) {
		if img.(map[string]any)["id"] == id {
			return true
		}
	}
	return false
}

func TestSharedImageMember(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	id := c.newQueued(c.alice, "raw") // visibility shared by default
	data := randBytes(4096)
	if code, body := c.upload(c.alice, id, data); code != 204 {
		t.Fatalf("upload = %d %s", code, body)
	}
	c.must(404, "GET", "/v2/images/"+id, c.bob, nil)
	c.must(200, "POST", "/v2/images/"+id+"/members", c.alice, map[string]any{"member": c.projectB})

	// Pending: visible by id, not listed.
	c.must(200, "GET", "/v2/images/"+id, c.bob, nil)
	if c.listed(c.bob, id) {
		t.Fatal("a pending shared image is listed for the member")
	}
	c.must(200, "PUT", "/v2/images/"+id+"/members/"+c.projectB, c.bob, map[string]any{"status": "accepted"})
	if !c.listed(c.bob, id) {
		t.Fatal("an accepted shared image is not listed for the member")
	}
	resp, body := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.bob, "", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("member download = %d, %d bytes", resp.StatusCode, len(body))
	}

	before := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)
	for _, patch := range []map[string]any{
		{"op": "replace", "path": "/name", "value": "mine"},
		{"op": "replace", "path": "/visibility", "value": "private"},
		{"op": "replace", "path": "/owner", "value": c.projectB},
		{"op": "add", "path": "/protected", "value": true},
	} {
		if resp, m := c.do("PATCH", "/v2/images/"+id, c.bob, []map[string]any{patch}); resp.StatusCode != 403 && resp.StatusCode != 404 {
			t.Errorf("member PATCH %v = %d %v, want 403 or 404", patch, resp.StatusCode, m)
		}
	}
	for _, r := range []struct{ method, path string }{
		{"DELETE", "/v2/images/" + id},
		{"POST", "/v2/images/" + id + "/actions/deactivate"},
		{"PUT", "/v2/images/" + id + "/tags/t"},
		{"DELETE", "/v2/images/" + id + "/members/" + c.projectB},
	} {
		if resp, m := c.do(r.method, r.path, c.bob, nil); resp.StatusCode != 403 && resp.StatusCode != 404 {
			t.Errorf("member %s %s = %d %v, want 403 or 404", r.method, r.path, resp.StatusCode, m)
		}
	}
	if resp, m := c.do("POST", "/v2/images/"+id+"/members", c.bob, map[string]any{"member": c.projectA + "x"}); resp.StatusCode != 403 && resp.StatusCode != 404 {
		t.Errorf("member adds a member = %d %v, want 403 or 404", resp.StatusCode, m)
	}
	// A member may not accept for somebody else, nor the owner for the member.
	if resp, _ := c.do("PUT", "/v2/images/"+id+"/members/"+c.projectB, c.alice, map[string]any{"status": "rejected"}); resp.StatusCode != 403 {
		t.Errorf("owner sets the member's status = %d, want 403", resp.StatusCode)
	}
	if code, _ := c.upload(c.bob, id, []byte("x")); code != 403 && code != 404 {
		t.Errorf("member upload = %d, want 403 or 404", code)
	}
	wantUnchanged(t, c, id, before)
	if got := c.must(200, "GET", "/v2/images/"+id+"/members", c.alice, nil)["members"].([]any); len(got) != 1 {
		t.Fatalf("members = %v", got)
	}
}

func TestOwnerRules(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)

	t.Run("public needs admin", func(t *testing.T) {
		c := c.sub(t)
		c.must(403, "POST", "/v2/images", c.alice, map[string]any{"name": "p", "visibility": "public"})
		id := c.newQueued(c.alice, "raw")
		c.must(403, "PATCH", "/v2/images/"+id, c.alice, []map[string]any{{"op": "replace", "path": "/visibility", "value": "public"}})
		if v := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)["visibility"]; v != "shared" {
			t.Fatalf("visibility = %v", v)
		}
		c.must(200, "PATCH", "/v2/images/"+id, c.admin, []map[string]any{{"op": "replace", "path": "/visibility", "value": "public"}})
	})

	t.Run("protected", func(t *testing.T) {
		c := c.sub(t)
		id := c.newQueued(c.alice, "raw", map[string]any{"protected": true})
		c.must(403, "DELETE", "/v2/images/"+id, c.alice, nil)
		c.must(403, "DELETE", "/v2/images/"+id, c.admin, nil)
		c.must(200, "GET", "/v2/images/"+id, c.alice, nil)
		c.must(200, "PATCH", "/v2/images/"+id, c.alice, []map[string]any{{"op": "replace", "path": "/protected", "value": false}})
		c.must(204, "DELETE", "/v2/images/"+id, c.alice, nil)
	})

	t.Run("deactivated", func(t *testing.T) {
		c := c.sub(t)
		id := c.newQueued(c.alice, "raw")
		data := randBytes(8192)
		if code, body := c.upload(c.alice, id, data); code != 204 {
			t.Fatalf("upload = %d %s", code, body)
		}
		c.must(404, "POST", "/v2/images/"+id+"/actions/deactivate", c.bob, nil)
		c.must(204, "POST", "/v2/images/"+id+"/actions/deactivate", c.alice, nil) // owner members may, as in Glance
		c.must(204, "POST", "/v2/images/"+id+"/actions/deactivate", c.admin, nil)
		if resp, _ := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.alice, "", nil); resp.StatusCode != 403 {
			t.Fatalf("owner download of a deactivated image = %d, want 403", resp.StatusCode)
		}
		resp, body := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.admin, "", nil)
		if resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("admin download of a deactivated image = %d, %d bytes", resp.StatusCode, len(body))
		}
		c.must(204, "POST", "/v2/images/"+id+"/actions/reactivate", c.admin, nil)
		if resp, _ := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.alice, "", nil); resp.StatusCode != 200 {
			t.Fatalf("download after reactivate = %d", resp.StatusCode)
		}
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	id := c.newQueued(c.alice, "raw", map[string]any{"foo": "bar"})
	if code, body := c.upload(c.alice, id, randBytes(4096)); code != 204 {
		t.Fatalf("upload = %d %s", code, body)
	}
	before := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)
	count := func() int {
		return len(c.must(200, "GET", "/v2/images", c.alice, nil)["images"].([]any))
	}
	n := count()

	const bad = "0000000-0000-0000-0000-000000000000"
	for _, r := range []struct {
		name, method, path, ctype, body string
		want                            int // 0: any 4xx
	}{
		{"malformed JSON", "POST", "/v2/images", "application/json", `{"name": `, 400},
		{"JSON array", "POST", "/v2/images", "application/json", `[]`, 400},
		{"JSON null", "POST", "/v2/images", "application/json", `null`, 400},
		{"empty body", "POST", "/v2/images", "application/json", ``, 400},
		{"text body", "POST", "/v2/images", "text/plain", `{"name": "x"}`, 0},
		{"bad disk_format", "POST", "/v2/images", "application/json", `{"disk_format": "exe"}`, 400},
		{"bad min_ram", "POST", "/v2/images", "application/json", `{"min_ram": -1}`, 400},
		{"create with status", "POST", "/v2/images", "application/json", `{"status": "active"}`, 403},
		{"create with size", "POST", "/v2/images", "application/json", `{"size": 1}`, 403},
		{"create with a bad id", "POST", "/v2/images", "application/json", `{"id": "x"}`, 400},
		{"patch as JSON", "PATCH", "/v2/images/" + id, "application/json", `[{"op": "replace", "path": "/name", "value": "x"}]`, 0},
		{"patch not a list", "PATCH", "/v2/images/" + id, patchType, `{"op": "replace"}`, 400},
		{"patch malformed", "PATCH", "/v2/images/" + id, patchType, `[{"op": `, 400},
		{"patch bad op", "PATCH", "/v2/images/" + id, patchType, `[{"op": "move", "path": "/name", "value": "x"}]`, 400},
		{"patch no op", "PATCH", "/v2/images/" + id, patchType, `[{"path": "/name", "value": "x"}]`, 400},
		{"patch no path", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "value": "x"}]`, 400},
		{"patch path without slash", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "name", "value": "x"}]`, 400},
		{"patch deep path", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/a/b", "value": "x"}]`, 400},
		{"patch no value", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/name"}]`, 400},
		{"patch wrong type", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/min_ram", "value": "x"}]`, 400},
		{"patch status", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/status", "value": "queued"}]`, 403},
		{"patch size", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/size", "value": 1}]`, 403},
		{"patch checksum", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/checksum", "value": "0"}]`, 403},
		{"patch os_hash_value", "PATCH", "/v2/images/" + id, patchType, `[{"op": "add", "path": "/os_hash_value", "value": "0"}]`, 403},
		{"patch disk_format of active", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/disk_format", "value": "qcow2"}]`, 403},
		{"patch remove core", "PATCH", "/v2/images/" + id, patchType, `[{"op": "remove", "path": "/name"}]`, 403},
		{"patch remove missing", "PATCH", "/v2/images/" + id, patchType, `[{"op": "remove", "path": "/nope"}]`, 409},
		{"patch locations", "PATCH", "/v2/images/" + id, patchType, `[{"op": "add", "path": "/locations/-", "value": {"url": "file:///etc/passwd", "metadata": {}}}]`, 403},
		// The first op is fine, the second is not: neither applies.
		{"patch half good", "PATCH", "/v2/images/" + id, patchType, `[{"op": "replace", "path": "/foo", "value": "baz"}, {"op": "replace", "path": "/size", "value": 1}]`, 403},
		{"upload to active", "PUT", "/v2/images/" + id + "/file", "application/octet-stream", "x", 409},
		{"upload as JSON", "PUT", "/v2/images/" + id + "/file", "application/json", "{}", 0},
		{"bad uuid GET", "GET", "/v2/images/" + bad, "", "", 404},
		{"bad uuid GET upper", "GET", "/v2/images/" + strings.ToUpper(bad) + "Z", "", "", 404},
		{"bad uuid PATCH", "PATCH", "/v2/images/not-a-uuid", patchType, `[]`, 404},
		{"bad uuid DELETE", "DELETE", "/v2/images/..", "", "", 0},
		{"bad uuid file", "GET", "/v2/images/%2e%2e%2f%2e%2e%2fetc/file", "", "", 0},
		{"bad uuid upload", "PUT", "/v2/images/" + bad + "/file", "application/octet-stream", "x", 404},
		{"bad uuid members", "GET", "/v2/images/" + bad + "/members", "", "", 404},
		{"bad uuid tags", "PUT", "/v2/images/" + bad + "/tags/x", "", "", 404},
		{"member without body", "POST", "/v2/images/" + id + "/members", "application/json", `{}`, 400},
		{"member status bad", "PUT", "/v2/images/" + id + "/members/" + c.projectA, "application/json", `{"status": "maybe"}`, 400},
	} {
		var body []byte
		if r.body != "" || r.method == "POST" {
			body = []byte(r.body)
		}
		resp, out := c.raw(c.srv.URL, r.method, r.path, c.alice, r.ctype, body)
		if r.want != 0 && resp.StatusCode != r.want || resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: %s %s = %d %s, want %d", r.name, r.method, r.path, resp.StatusCode, out, r.want)
		} else if r.want == 0 {
			t.Logf("%s: %s %s = %d", r.name, r.method, r.path, resp.StatusCode)
		}
	}
	wantUnchanged(t, c, id, before)
	if got := count(); got != n {
		t.Fatalf("%d images after bad requests, want %d", got, n)
	}
	c.wantStored(id)
}

func TestUploadDiskFull(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	if err := syscall.Mount("tmpfs", c.storeDir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount a 1 MiB tmpfs on the store: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(c.storeDir, 0); err != nil {
			t.Errorf("unmount %s: %v", c.storeDir, err)
		}
	})
	id := c.newQueued(c.alice, "raw")
	for _, chunked := range []bool{false, true} {
		data := randBytes(2 << 20)
		var body io.Reader = bytes.NewReader(data)
		length := int64(len(data))
		if chunked {
			body, length = onlyReader{body}, -1
		}
		code, out, err := c.put(c.alice, id, body, length)
		if err != nil || code != 413 || !strings.Contains(out, "Image storage media is full") {
			t.Fatalf("upload of 2 MiB to a 1 MiB disk (chunked %v) = %d %q %v, want 413 media full", chunked, code, out, err)
		}
		c.awaitStatus(id, "queued")
		c.wantStored()
	}
	// Once there is room again, i.e. the image fits, it works.
	if code, body := c.upload(c.alice, id, randBytes(256<<10)); code != 204 {
		t.Fatalf("upload that fits = %d %s", code, body)
	}
	c.wantStored(id)
}
