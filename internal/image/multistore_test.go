package image

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
	filestore "github.com/nimbus-cloud/nimbus/internal/image/store/file"
)

// withStores replaces the cloud's image service by one with two file
// stores, "fast" (default) and "slow", in their own directories.
func (c *testCloud) withStores(t *testing.T) (fastDir, slowDir string) {
	t.Helper()
	return c.stores(t, false)
}

// withStoresImporting is withStores with import running (bus, staging, worker).
func (c *testCloud) withStoresImporting(t *testing.T) (fastDir, slowDir string) {
	t.Helper()
	return c.stores(t, true)
}

func (c *testCloud) stores(t *testing.T, importing bool) (fastDir, slowDir string) {
	t.Helper()
	dir := t.TempDir()
	fastDir, slowDir = filepath.Join(dir, "fast"), filepath.Join(dir, "slow")
	fast, err := filestore.New(fastDir)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := filestore.New(slowDir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(context.Background(), filepath.Join(dir, "image.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	opts := Options{DB: d, Stores: map[string]store.Store{"fast": fast, "slow": slow}, DefaultStore: "fast"}
	if importing {
		b, err := bus.Open(context.Background(), bus.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		staging, err := filestore.New(filepath.Join(dir, "staging"))
		if err != nil {
			t.Fatal(err)
		}
		opts.Bus, opts.Staging = b, staging
	}
	c.svc, err = New(context.Background(), DefaultConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if importing {
		stop, err := c.svc.StartImportWorker(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	srv := httptest.NewServer(c.svc.Handler(httpx.Options{}, c.id))
	t.Cleanup(srv.Close)
	c.srv = srv
	return fastDir, slowDir
}

func entries(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestUploadChoosesTheStoreByHeader(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	fastDir, slowDir := c.withStores(t)
	info := c.must(200, "GET", "/v2/info/stores", c.alice, nil)["stores"].([]any)
	if len(info) != 2 || info[0].(map[string]any)["id"] != "fast" || info[0].(map[string]any)["default"] != true {
		t.Fatalf("stores = %v", info)
	}
	data := make([]byte, 64<<10)
	rand.Read(data)
	upload := func(storeHeader string) (string, int) {
		img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "s", "disk_format": "raw", "container_format": "bare"})
		id := img["id"].(string)
		req := c.newRequest("PUT", "/v2/images/"+id+"/file", c.alice, data)
		req.Header.Set("Content-Type", "application/octet-stream")
		if storeHeader != "" {
			req.Header.Set("X-Image-Meta-Store", storeHeader)
		}
		return id, c.send(req)
	}
	id, code := upload("slow")
	if code != 204 {
		t.Fatalf("upload to slow = %d", code)
	}
	got := c.must(200, "GET", "/v2/images/"+id, c.alice, nil)
	if got["stores"] != "slow" || entries(t, slowDir) != 1 || entries(t, fastDir) != 0 {
		t.Fatalf("stores = %v; files fast %d slow %d", got["stores"], entries(t, fastDir), entries(t, slowDir))
	}
	if _, body := c.raw(c.srv.URL, "GET", "/v2/images/"+id+"/file", c.alice, "", nil); !bytes.Equal(body, data) {
		t.Fatal("download from the slow store differs")
	}
	c.must(204, "DELETE", "/v2/images/"+id, c.alice, nil)
	if entries(t, slowDir) != 0 {
		t.Fatal("delete left data in the slow store")
	}
	id, code = upload("")
	if code != 204 || c.must(200, "GET", "/v2/images/"+id, c.alice, nil)["stores"] != "fast" {
		t.Fatalf("default-store upload = %d", code)
	}
	id, code = upload("nowhere")
	if code != 400 || c.must(200, "GET", "/v2/images/"+id, c.alice, nil)["status"] != "queued" {
		t.Fatalf("unknown store upload = %d", code)
	}
}

func TestCopyImageSpreadsDataToMoreStores(t *testing.T) {
	t.Parallel()
	c := newTestCloudWith(t, true)
	fastDir, slowDir := c.withStoresImporting(t)
	info := c.must(200, "GET", "/v2/info/import", c.admin, nil)["import-methods"].(map[string]any)["value"].([]any)
	if !slices.Contains(info, any("copy-image")) {
		t.Fatalf("import methods = %v, want copy-image with two stores", info)
	}
	img := c.must(201, "POST", "/v2/images", c.admin, map[string]any{"name": "cp", "disk_format": "raw", "container_format": "bare", "visibility": "public"})
	id := img["id"].(string)
	data := make([]byte, 200<<10)
	rand.Read(data)
	if code, body := c.upload(c.admin, id, data); code != 204 {
		t.Fatalf("upload = %d %s", code, body)
	}
	copyReq := map[string]any{"method": map[string]any{"name": "copy-image"}, "stores": []string{"slow"}}
	c.must(403, "POST", "/v2/images/"+id+"/import", c.alice, copyReq) // admin only, as Glance
	c.must(202, "POST", "/v2/images/"+id+"/import", c.admin, copyReq)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := c.must(200, "GET", "/v2/images/"+id, c.admin, nil)
		if got["stores"] == "fast,slow" && got["os_glance_importing_to_stores"] == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after copy: stores %v importing %v", got["stores"], got["os_glance_importing_to_stores"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if entries(t, fastDir) != 1 || entries(t, slowDir) != 1 {
		t.Fatalf("files fast %d slow %d", entries(t, fastDir), entries(t, slowDir))
	}
	c.must(409, "POST", "/v2/images/"+id+"/import", c.admin, copyReq)
	c.must(204, "DELETE", "/v2/images/"+id, c.admin, nil)
	if entries(t, fastDir) != 0 || entries(t, slowDir) != 0 {
		t.Fatalf("delete left files: fast %d slow %d", entries(t, fastDir), entries(t, slowDir))
	}
}
