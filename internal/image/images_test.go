package image

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"testing"
)

func TestCreateUploadDownloadRaw(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "disk", "disk_format": "raw", "container_format": "bare"})
	id := img["id"].(string)
	if img["status"] != "queued" || img["visibility"] != "shared" || img["owner"] != c.projectA {
		t.Fatalf("new image = %v", img)
	}
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	if code, body := c.upload(c.alice, id, data); code != 204 {
		t.Fatalf("upload = %d %s", code, body)
	}
	got := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)
	sum := md5.Sum(data)
	if got["status"] != "active" || got["checksum"] != hex.EncodeToString(sum[:]) || got["size"] != float64(len(data)) ||
		got["os_hash_algo"] != "sha512" || got["virtual_size"] != float64(len(data)) {
		t.Fatalf("after upload = %v", got)
	}
	resp, body := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.alice, "", nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || resp.Header.Get("Content-MD5") != got["checksum"] {
		t.Fatalf("download = %d, %d bytes, md5 header %q", resp.StatusCode, len(body), resp.Header.Get("Content-MD5"))
	}
	req := func(rng string) (int, []byte, string) {
		c.t.Helper()
		r, b := c.rawRange(id, rng)
		return r.StatusCode, b, r.Header.Get("Content-Range")
	}
	if code, b, cr := req("bytes=10-19"); code != 206 || !bytes.Equal(b, data[10:20]) || cr != "bytes 10-19/3145745" {
		t.Fatalf("range = %d %d %q", code, len(b), cr)
	}
	if code, _, _ := req("bytes=99999999-"); code != 416 {
		t.Fatalf("unsatisfiable range = %d, want 416", code)
	}
	if code, _ := c.upload(c.alice, id, data); code != 409 {
		t.Fatalf("second upload = %d, want 409", code)
	}
	c.must(204, "DELETE", "/v2/images/"+id, c.alice, nil)
	c.must(404, "GET", "/v2/images/"+id, c.alice, nil)
}
