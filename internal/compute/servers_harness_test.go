package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/image/imagetest"
)

// The servers' tests run the compute API with the embedded bus (build and
// delete tasks are read off tasks.Queue, as the conductor would) and the
// real image service on httptest, reached with the caller's token.

// srvImages is the image service as the compute API calls it. Package
// glanceclient is the product's client; it imports this package, so the
// tests here speak Glance v2 with this small stand-in.
type srvImages struct{ url string }

func (g *srvImages) req(ctx context.Context, token, method, path, ctype string, body []byte) (int, []byte, error) {
	r, err := http.NewRequestWithContext(ctx, method, g.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	r.Header.Set("X-Auth-Token", token)
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

func (g *srvImages) GetImage(ctx context.Context, token, id string) (*ImageInfo, error) {
	code, data, err := g.req(ctx, token, http.MethodGet, "/v2/images/"+id, "", nil)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNotFound {
		return nil, fmt.Errorf("image %s: %w", id, instances.ErrNotFound)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("get image: %d %s", code, data)
	}
	var rec struct {
		ID, Name, Status, Visibility, Owner string
		DiskFormat                          string `json:"disk_format"`
		Size                                *int64
		MinDisk                             int64 `json:"min_disk"`
		MinRAM                              int64 `json:"min_ram"`
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	img := &ImageInfo{Status: rec.Status, Visibility: rec.Visibility, Owner: rec.Owner,
		Image: instances.Image{ID: rec.ID, Name: rec.Name, DiskFormat: rec.DiskFormat, MinDiskGB: rec.MinDisk, MinRAMMB: rec.MinRAM}}
	if rec.Size != nil {
		img.Size = *rec.Size
	}
	return img, nil
}

func (g *srvImages) CreateImage(ctx context.Context, token string, fields map[string]any) (string, error) {
	body, _ := json.Marshal(fields)
	code, data, err := g.req(ctx, token, http.MethodPost, "/v2/images", "application/json", body)
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated {
		return "", fmt.Errorf("create image: %d %s", code, data)
	}
	var rec struct{ ID string }
	err = json.Unmarshal(data, &rec)
	return rec.ID, err
}

func (g *srvImages) DeleteImage(ctx context.Context, token, id string) error {
	_, _, err := g.req(ctx, token, http.MethodDelete, "/v2/images/"+id, "", nil)
	return err
}

// put makes an active image of token's project with data.
func (g *srvImages) put(t *testing.T, token, name string, data []byte, fields map[string]any) string {
	t.Helper()
	f := map[string]any{"name": name, "disk_format": "raw", "container_format": "bare"}
	for k, v := range fields {
		f[k] = v
	}
	id, err := g.CreateImage(context.Background(), token, f)
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := g.req(context.Background(), token, http.MethodPut, "/v2/images/"+id+"/file", "application/octet-stream", data)
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("upload image: %d %s %v", code, body, err)
	}
	return id
}

func newSrvImages(t *testing.T) *srvImages {
	t.Helper()
	return &srvImages{url: imagetest.Start(t, imagetest.Tokens(tokens))}
}

// srvAPI is the compute API with a bus and an image service.
type srvAPI struct {
	*api
	images *srvImages
	tasks  chan tasks.Task
	image  string // a public active image of 1 KiB
	big    string // a public image of 2 GiB and a bit (by min_disk 2)
}

func newSrvAPI(t *testing.T) *srvAPI {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	g := newSrvImages(t)
	svc, err := New(ctx, DefaultConfig(), Options{DB: db.OpenTest(t, nil), Projects: knownProjects{}, Bus: b, Images: g})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.EnsureDefaultFlavors(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpx.Options{}, testValidator))
	t.Cleanup(srv.Close)
	a := &srvAPI{api: &api{t: t, svc: svc, srv: srv}, images: g, tasks: queuedTasks(t, b)}
	a.image = g.put(t, "admin", "cirros", bytes.Repeat([]byte{1}, 1024), map[string]any{"visibility": "public"})
	a.big = g.put(t, "admin", "big", []byte("x"), map[string]any{"visibility": "public", "min_disk": 2})
	return a
}

// nextTask waits for the next queued task.
func (a *srvAPI) nextTask(t *testing.T) tasks.Task { t.Helper(); return waitTask(t, a.tasks) }

// noMoreTasks checks that nothing else was queued.
func (a *srvAPI) noMoreTasks(t *testing.T) {
	t.Helper()
	expectNoTask(t, a.tasks, 200*time.Millisecond)
}

// serverBody is a create request; extra members override.
func (a *srvAPI) serverBody(name string, extra map[string]any) map[string]any {
	s := map[string]any{"name": name, "imageRef": a.image, "flavorRef": "1", "networks": "none"}
	for k, v := range extra {
		if v == nil {
			delete(s, k)
			continue
		}
		s[k] = v
	}
	return map[string]any{"server": s}
}

// create makes a server as token and returns its id, taking its build task.
func (a *srvAPI) create(t *testing.T, token, name string, extra map[string]any) string {
	t.Helper()
	r := a.call("POST", "/v2.1/servers", a.serverBody(name, extra), "latest", "token="+token)
	r.must(t, http.StatusAccepted)
	id := r.str("server.id")
	if task := a.nextTask(t); task.Kind != tasks.Build || task.UUID != id {
		t.Fatalf("task %+v, want build of %s", task, id)
	}
	return id
}

// set changes a server's record as the conductor would.
func (a *srvAPI) set(t *testing.T, id string, change func(*instances.Instance)) {
	t.Helper()
	_, err := a.svc.instances.Update(context.Background(), id, instances.Guard{}, func(i *instances.Instance) error {
		change(i)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// active makes a server ACTIVE on host1.
func (a *srvAPI) active(t *testing.T, id string) {
	t.Helper()
	a.set(t, id, func(i *instances.Instance) {
		i.VMState, i.TaskState, i.PowerState = instances.Active, "", instances.PowerRunning
		i.Host, i.Node, i.LaunchedAt = "host1", "host1", time.Now()
	})
}
