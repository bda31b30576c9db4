package compute

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/tasks"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/image/imagetest"
)

// The server actions' tests run the compute API with the embedded bus
// (tasks are taken off tasks.Queue as the conductor would) and the real
// image service on httptest, reached with the caller's token as Nova
// reaches Glance.

// withToken is the test validator, with the token kept in the principal
// so that the API can forward it to the image service.
var withToken = authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
	p, ok := tokens[token]
	if !ok {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	c := *p
	c.Token = token
	return &c, nil
})

type actionsAPI struct {
	*api
	bus    *bus.Bus
	glance *glanceAPI
	tasks  chan tasks.Task
	image  string // an active image every test server boots from
}

func newActionsAPI(t *testing.T) *actionsAPI {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	g := newGlanceAPI(t)
	svc, err := New(ctx, DefaultConfig(), Options{DB: db.OpenTest(t, nil), Projects: knownProjects{}, Bus: b, Images: g})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.EnsureDefaultFlavors(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpx.Options{}, withToken))
	t.Cleanup(srv.Close)
	a := &actionsAPI{api: &api{t: t, svc: svc, srv: srv}, bus: b, glance: g, tasks: queuedTasks(t, b)}
	a.image = g.upload(t, "cirros", []byte("not really a disk"), map[string]any{"hw_disk_bus": "virtio", "min_ram": 64})
	if _, _, err := svc.instances.Heartbeat(ctx, "host1", "nova-compute", time.Now(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return a
}

// task waits for the next task the API queued.
func (a *actionsAPI) task(t *testing.T) tasks.Task { t.Helper(); return waitTask(t, a.tasks) }

// noTask checks that nothing was queued.
func (a *actionsAPI) noTask(t *testing.T) { t.Helper(); expectNoTask(t, a.tasks, 300*time.Millisecond) }

// server makes a server of token's project, launched on host1 with
// m1.tiny in vm state vm, changed by more.
func (a *actionsAPI) server(t *testing.T, token, vm string, more ...func(*instances.Instance)) *instances.Instance {
	t.Helper()
	p := tokens[token]
	f, err := a.svc.GetFlavor(context.Background(), tokens["admin"], "1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Minute)
	inst := &instances.Instance{UUID: uuid.NewString(), Name: "vm-" + vm, ProjectID: p.ProjectID, UserID: p.UserID,
		Hostname: "vm", Host: "host1", Node: "node1", LaunchedOn: "host1", AvailabilityZone: "nova",
		VMState: vm, PowerState: instances.PowerRunning, Flavor: instanceFlavorOf(f), ImageRef: a.image,
		Spec: instances.RequestSpec{Image: instances.Image{ID: a.image, DiskFormat: "qcow2", Size: 17, MinRAMMB: 64,
			Properties: map[string]string{"hw_disk_bus": "virtio"}}},
		Metadata: map[string]string{"k": "v"}, CreatedAt: now, LaunchedAt: now}
	for _, m := range more {
		m(inst)
	}
	err = a.svc.instances.DB().Tx(context.Background(), func(tx *sql.Tx) error {
		return a.svc.instances.CreateTx(context.Background(), tx, inst, instances.Action{RequestID: httpx.NewRequestID(),
			UserID: p.UserID, ProjectID: p.ProjectID})
	})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// get reads a server back from the database.
func (a *actionsAPI) get(t *testing.T, id string) *instances.Instance {
	t.Helper()
	inst, err := a.svc.instances.Get(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// act posts an action.
func (a *actionsAPI) act(id string, body any, opts ...string) *resp {
	a.t.Helper()
	return a.call("POST", "/v2.1/servers/"+id+"/action", body, opts...)
}

// glanceAPI is the image service on httptest, and a client of it that
// does what compute's ImageAPI asks, over HTTP with the caller's token.
type glanceAPI struct {
	url string
}

func newGlanceAPI(t *testing.T) *glanceAPI {
	t.Helper()
	return &glanceAPI{url: imagetest.Start(t, imagetest.Tokens(tokens))}
}

func (g *glanceAPI) do(ctx context.Context, token, method, path, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Auth-Token", token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

func (g *glanceAPI) GetImage(ctx context.Context, token, id string) (*ImageInfo, error) {
	code, out, err := g.do(ctx, token, "GET", "/v2/images/"+id, "", nil)
	if err != nil {
		return nil, err
	}
	if code == http.StatusNotFound {
		return nil, fmt.Errorf("image %s: %w", id, instances.ErrNotFound)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("get image %s: %d %s", id, code, out)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, err
	}
	info := &ImageInfo{Image: instances.Image{ID: id, Properties: map[string]string{}}}
	for k, v := range m {
		switch k {
		case "status":
			info.Status, _ = v.(string)
		case "name":
			info.Name, _ = v.(string)
		case "disk_format":
			info.DiskFormat, _ = v.(string)
		case "size":
			f, _ := v.(float64)
			info.Size = int64(f)
		case "min_disk":
			f, _ := v.(float64)
			info.MinDiskGB = int64(f)
		case "min_ram":
			f, _ := v.(float64)
			info.MinRAMMB = int64(f)
		default:
			if s, ok := v.(string); ok {
				info.Properties[k] = s
			}
		}
	}
	return info, nil
}

func (g *glanceAPI) CreateImage(ctx context.Context, token string, fields map[string]any) (string, error) {
	body, _ := json.Marshal(fields)
	code, out, err := g.do(ctx, token, "POST", "/v2/images", "application/json", body)
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated {
		return "", fault.New(fault.FromStatus(code), "image service: %s", out)
	}
	var img struct{ ID string }
	if err := json.Unmarshal(out, &img); err != nil {
		return "", err
	}
	return img.ID, nil
}

func (g *glanceAPI) DeleteImage(ctx context.Context, token, id string) error {
	code, out, err := g.do(ctx, token, "DELETE", "/v2/images/"+id, "", nil)
	if err != nil {
		return err
	}
	if code == http.StatusNotFound {
		return instances.ErrNotFound
	}
	if code != http.StatusNoContent {
		return fmt.Errorf("delete image %s: %d %s", id, code, out)
	}
	return nil
}

// upload makes an active public image as admin.
func (g *glanceAPI) upload(t *testing.T, name string, data []byte, props map[string]any) string {
	t.Helper()
	fields := map[string]any{"name": name, "disk_format": "raw", "container_format": "bare", "visibility": "public"}
	for k, v := range props {
		fields[k] = v
	}
	id, err := g.CreateImage(context.Background(), "admin", fields)
	if err != nil {
		t.Fatal(err)
	}
	code, out, err := g.do(context.Background(), "admin", "PUT", "/v2/images/"+id+"/file", "application/octet-stream", data)
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("upload image: %d %s %v", code, out, err)
	}
	return id
}

// record returns an image record as the admin sees it.
func (g *glanceAPI) record(t *testing.T, id string) map[string]any {
	t.Helper()
	code, out, err := g.do(context.Background(), "admin", "GET", "/v2/images/"+id, "", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("get image %s: %d %s %v", id, code, out, err)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}
