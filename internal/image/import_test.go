package image

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// waitStatus polls an image until it reaches want (or fails the test).
func (c *testCloud) waitStatus(id, token, want string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		img := c.must(200, "GET", "/v2/images/"+id, token, nil)
		if img["status"] == want {
			return img
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("image %s status %v, want %s", id, img["status"], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGlanceDirectImport(t *testing.T) {
	t.Parallel()
	c := newTestCloudWith(t, true)
	info := c.must(200, "GET", "/v2/info/import", c.alice, nil)
	methods := info["import-methods"].(map[string]any)["value"].([]any)
	if len(methods) != 1 || methods[0] != "glance-direct" {
		t.Fatalf("import methods = %v, want glance-direct only (web-download not allowed anywhere)", methods)
	}
	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "gd", "disk_format": "raw", "container_format": "bare"})
	id := img["id"].(string)
	c.must(409, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "glance-direct"}})
	data := make([]byte, 1<<20)
	rand.Read(data)
	resp, body := c.raw(c.srv.URL, "PUT", "/v2/images/"+id+"/stage", c.alice, "application/octet-stream", data)
	if resp.StatusCode != 204 {
		t.Fatalf("stage = %d %s", resp.StatusCode, body)
	}
	if got := c.must(200, "GET", "/v2/images/"+id, c.alice, nil); got["status"] != "uploading" {
		t.Fatalf("staged image status = %v", got["status"])
	}
	c.must(202, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "glance-direct"}})
	got := c.waitStatus(id, c.alice, "active")
	if got["size"] != float64(len(data)) {
		t.Fatalf("imported size = %v", got["size"])
	}
	_, file := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.alice, "", nil)
	if !bytes.Equal(file, data) {
		t.Fatal("downloaded data differs from staged data")
	}
	tasks := c.must(200, "GET", "/v2/images/"+id+"/tasks", c.alice, nil)["tasks"].([]any)
	if len(tasks) != 1 || tasks[0].(map[string]any)["status"] != "success" {
		t.Fatalf("tasks = %v", tasks)
	}
	c.must(404, "GET", "/v2/images/"+id+"/tasks", c.bob, nil)
}

func TestImportOfWrongFormatKillsTheImage(t *testing.T) {
	t.Parallel()
	c := newTestCloudWith(t, true)
	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "bad", "disk_format": "qcow2", "container_format": "bare"})
	id := img["id"].(string)
	raw := bytes.Repeat([]byte{0}, 4096)
	if resp, body := c.raw(c.srv.URL, "PUT", "/v2/images/"+id+"/stage", c.alice, "application/octet-stream", raw); resp.StatusCode != 204 {
		t.Fatalf("stage = %d %s", resp.StatusCode, body)
	}
	c.must(202, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "glance-direct"}})
	killed := c.waitStatus(id, c.alice, "killed")
	if killed["os_glance_failed_import"] != "file" || killed["os_glance_importing_to_stores"] != nil {
		t.Fatalf("failed import properties = %v / %v", killed["os_glance_failed_import"], killed["os_glance_importing_to_stores"])
	}
	tasks := c.must(200, "GET", "/v2/images/"+id+"/tasks", c.alice, nil)["tasks"].([]any)
	if tasks[0].(map[string]any)["status"] != "failure" || tasks[0].(map[string]any)["message"] == "" {
		t.Fatalf("task = %v", tasks[0])
	}
	if resp, _ := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.alice, "", nil); resp.StatusCode != 204 {
		t.Fatalf("download of a killed image = %d, want 204 (no data)", resp.StatusCode)
	}
}

func TestWebDownloadOnlyFromAllowedHosts(t *testing.T) {
	t.Parallel()
	data := make([]byte, 300<<10)
	rand.Read(data)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
			return
		}
		w.Write(data)
	}))
	defer origin.Close()
	c := newTestCloudWith(t, true, func(cfg *Config) { cfg.WebDownloadAllowed = []string{"127.0.0.0/8"} })

	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "wd", "disk_format": "raw", "container_format": "bare"})
	id := img["id"].(string)
	c.must(403, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "web-download", "uri": "http://198.51.100.7/x.img"}})
	c.must(400, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "web-download", "uri": "file:///etc/passwd"}})
	c.must(202, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "web-download", "uri": origin.URL + "/disk.img"}})
	got := c.waitStatus(id, c.alice, "active")
	if got["size"] != float64(len(data)) {
		t.Fatalf("web-download size = %v", got["size"])
	}

	// A redirect to a host that is not allowed fails the import.
	img = c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "wd2", "disk_format": "raw", "container_format": "bare"})
	id = img["id"].(string)
	c.must(202, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "web-download", "uri": origin.URL + "/redirect"}})
	c.waitStatus(id, c.alice, "killed")
}

func TestWrongMediaTypesAre415(t *testing.T) {
	t.Parallel()
	c := newTestCloudWith(t, true)
	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "m", "disk_format": "raw", "container_format": "bare"})
	id := img["id"].(string)
	cases := []struct{ method, path, ctype, body string }{
		{"POST", "/v2/images", "text/plain", `{"name":"x"}`},
		{"PATCH", "/v2/images/" + id, "application/json", `[]`},
		{"PUT", "/v2/images/" + id + "/file", "application/json", `{}`},
		{"PUT", "/v2/images/" + id + "/stage", "text/plain", `x`},
		{"POST", "/v2/images/" + id + "/import", "text/plain", `{}`},
	}
	for _, tc := range cases {
		resp, body := c.raw(c.srv.URL, tc.method, tc.path, c.alice, tc.ctype, []byte(tc.body))
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s %s as %s = %d %s, want 415", tc.method, tc.path, tc.ctype, resp.StatusCode, body)
		}
	}
	if got := c.must(200, "GET", "/v2/images/"+id, c.alice, nil); got["status"] != "queued" {
		t.Fatalf("image changed to %v", got["status"])
	}
}
