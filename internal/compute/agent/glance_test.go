package agent

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/image/imagetest"
)

const glanceToken = "service-token"

// glanceServer is Nimbus's image service on httptest, with one token: an
// admin of project "service".
type glanceServer struct {
	t   *testing.T
	URL string
}

func newGlance(t *testing.T) *glanceServer {
	t.Helper()
	url := imagetest.Start(t, imagetest.Tokens(map[string]*authn.Principal{glanceToken: {
		UserID: "nova", UserName: "nova", ProjectID: "service", ProjectName: "service",
		Roles: []string{"admin", "member", "reader"}}}))
	return &glanceServer{t: t, URL: url}
}

// create makes a queued image and returns its id.
func (g *glanceServer) create(diskFormat string) string {
	g.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "test", "disk_format": diskFormat, "container_format": "bare"})
	resp, out := g.do("POST", "/v2/images", "application/json", body)
	if resp.StatusCode != http.StatusCreated {
		g.t.Fatalf("create image: %d %s", resp.StatusCode, out)
	}
	var img struct{ ID string }
	json.Unmarshal(out, &img)
	return img.ID
}

func (g *glanceServer) upload(id string, data []byte) {
	g.t.Helper()
	resp, out := g.do("PUT", "/v2/images/"+id+"/file", "application/octet-stream", data)
	if resp.StatusCode != http.StatusNoContent {
		g.t.Fatalf("upload image: %d %s", resp.StatusCode, out)
	}
}

// get returns an image record.
func (g *glanceServer) get(id string) map[string]any {
	g.t.Helper()
	resp, out := g.do("GET", "/v2/images/"+id, "", nil)
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("get image: %d %s", resp.StatusCode, out)
	}
	var m map[string]any
	json.Unmarshal(out, &m)
	return m
}

func (g *glanceServer) do(method, path, ctype string, body []byte) (*http.Response, []byte) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.URL+path, bytes.NewReader(body))
	req.Header.Set("X-Auth-Token", glanceToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

func TestGlanceFetch(t *testing.T) {
	g := newGlance(t)
	data := qcow2Image(t)
	id := g.create("qcow2")
	g.upload(id, data)

	for _, base := range []string{g.URL, g.URL + "/", g.URL + "/v2"} {
		var buf bytes.Buffer
		format, err := (&Glance{URL: base, Token: glanceToken}).Fetch(t.Context(), id, &buf)
		if err != nil || format != "qcow2" || !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("Fetch from %s: %q, %d bytes, %v; want qcow2 and the image", base, format, buf.Len(), err)
		}
	}

	_, err := (&Glance{URL: g.URL, Token: glanceToken}).Fetch(t.Context(), "5a7c3d1e-0000-4000-8000-000000000000", io.Discard)
	if !errors.Is(err, ErrImageNotFound) {
		t.Errorf("Fetch of a missing image: %v, want ErrImageNotFound", err)
	}
	_, err = (&Glance{URL: g.URL, Token: "wrong"}).Fetch(t.Context(), id, io.Discard)
	if !unauthorized(err) {
		t.Errorf("Fetch with a bad token: %v, want 401", err)
	}
	queued := g.create("raw")
	_, err = (&Glance{URL: g.URL, Token: glanceToken}).Fetch(t.Context(), queued, io.Discard)
	if !errors.Is(err, ErrImageInvalid) {
		t.Errorf("Fetch of a queued image: %v, want ErrImageInvalid", err)
	}
}

// TestGlanceFetchChecksChecksum serves an image whose data is not what
// its record says.
func TestGlanceFetchChecksChecksum(t *testing.T) {
	data := []byte("the image")
	sum := md5.Sum([]byte("another image"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/images/img" {
			json.NewEncoder(w).Encode(map[string]any{"status": "active", "disk_format": "raw", "size": len(data), "checksum": hex.EncodeToString(sum[:])})
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	_, err := (&Glance{URL: srv.URL}).Fetch(t.Context(), "img", io.Discard)
	if !errors.Is(err, ErrImageInvalid) {
		t.Errorf("Fetch of corrupt data: %v, want ErrImageInvalid", err)
	}
}

// TestBuildAndSnapshotThroughGlance boots from an image of the real image
// service, named by URL and token in the request, and snapshots into it.
func TestBuildAndSnapshotThroughGlance(t *testing.T) {
	g := newGlance(t)
	e := newEnv(t)
	o := e.options(fake.New(fake.Config{}))
	o.Images = nil // everything comes from the request
	e.start(o)

	id := g.create("qcow2")
	g.upload(id, qcow2Image(t))
	rec := g.get(id)
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq(id), func(r *rpc.Request) {
		r.Image.URL, r.Image.Token = g.URL, glanceToken
		r.Image.DiskFormat = "qcow2"
		r.Image.Size = int64(rec["size"].(float64))
		r.Image.Checksum = rec["checksum"].(string)
		r.Image.HashAlgo, r.Image.HashValue = rec["os_hash_algo"].(string), rec["os_hash_value"].(string)
	})
	if _, err := os.Stat(filepath.Join(e.dir, "image-cache", id)); err != nil {
		t.Errorf("image not cached: %v", err)
	}

	snap := g.create("qcow2")
	e.mustCall(rpc.Snapshot, uuid1, hypervisor.Running, func(r *rpc.Request) {
		r.Snapshot = &rpc.SnapshotTarget{ImageID: snap, URL: g.URL, Token: glanceToken, DiskFormat: "qcow2"}
	})
	got := g.get(snap)
	if got["status"] != "active" || got["size"] == nil || got["size"].(float64) <= 0 {
		t.Errorf("snapshot image: status %v size %v, want active with data", got["status"], got["size"])
	}
	if vs, _ := got["virtual_size"].(float64); vs != fake.SnapshotSize {
		t.Errorf("snapshot virtual_size %v, want %d", got["virtual_size"], fake.SnapshotSize)
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "image-cache", snapshotDir))
	if len(entries) != 0 {
		t.Errorf("snapshot files left behind: %v", entries)
	}

	// An upload the image service refuses fails the snapshot, guest
	// untouched.
	_, err := e.call(rpc.Snapshot, uuid1, func(r *rpc.Request) {
		r.Snapshot = &rpc.SnapshotTarget{ImageID: snap, URL: g.URL, Token: glanceToken}
	})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.CodeFailed {
		t.Errorf("snapshot into an active image: %v, want failed", err)
	}
	e.mustCall(rpc.GetInfo, uuid1, hypervisor.Running)
}
