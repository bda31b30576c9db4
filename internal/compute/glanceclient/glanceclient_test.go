package glanceclient

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/imagetest"
)

var callers = map[string]*authn.Principal{
	"admin": {UserID: "u-admin", ProjectID: "p-admin", Roles: []string{"admin", "member", "reader"}},
	"demo":  {UserID: "u-demo", ProjectID: "p-demo", Roles: []string{"member", "reader"}},
	"alt":   {UserID: "u-alt", ProjectID: "p-alt", Roles: []string{"member", "reader"}},
}

// newImageService runs the real image service on httptest.
func newImageService(t *testing.T) string {
	t.Helper()
	return imagetest.Start(t, imagetest.Tokens(callers))
}

func upload(t *testing.T, base, token, id string, data []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/v2/images/"+id+"/file", bytes.NewReader(data))
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d", res.StatusCode)
	}
}

func TestImageLifecycle(t *testing.T) {
	base := newImageService(t)
	ctx := context.Background()
	c := New(base+"/v2/", nil)

	id, err := c.CreateImage(ctx, "demo", map[string]any{
		"name": "snap", "disk_format": "raw", "container_format": "bare", "visibility": "private",
		"min_disk": 2, "min_ram": 128, "instance_uuid": "11111111-2222-3333-4444-555555555555", "image_type": "snapshot",
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.GetImage(ctx, "demo", id)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id || img.Status != "queued" || img.Name != "snap" || img.MinDiskGB != 2 || img.MinRAMMB != 128 ||
		img.DiskFormat != "raw" || img.ContainerFormat != "bare" || img.Visibility != "private" || img.Owner != "p-demo" {
		t.Fatalf("queued image = %+v", img)
	}
	if img.Properties["instance_uuid"] != "11111111-2222-3333-4444-555555555555" || img.Properties["image_type"] != "snapshot" {
		t.Fatalf("properties = %v", img.Properties)
	}
	if _, ok := img.Properties["status"]; ok {
		t.Fatalf("standard fields leaked into properties: %v", img.Properties)
	}

	data := bytes.Repeat([]byte("x"), 3000)
	upload(t, base, "demo", id, data)
	img, err = c.GetImage(ctx, "demo", id)
	if err != nil {
		t.Fatal(err)
	}
	if img.Status != "active" || img.Size != 3000 || img.Checksum == "" || img.HashAlgo != "sha512" || img.HashValue == "" {
		t.Fatalf("active image = %+v", img)
	}

	// Another project does not see a private image: not found, as Nova
	// needs it to answer "Can not find requested image".
	if _, err := c.GetImage(ctx, "alt", id); !errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("other project's GetImage err = %v, want ErrNotFound", err)
	}
	if _, err := c.GetImage(ctx, "demo", "00000000-0000-0000-0000-000000000000"); !errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("missing GetImage err = %v", err)
	}
	if _, err := c.GetImage(ctx, "nobody", id); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("bad token err = %v, want Unauthorized", err)
	}
	if err := c.DeleteImage(ctx, "alt", id); err != nil && !fault.Is(err, fault.Forbidden) {
		t.Fatalf("other project's delete err = %v", err)
	}
	if _, err := c.GetImage(ctx, "demo", id); err != nil {
		t.Fatalf("image gone after another project's delete: %v", err)
	}
	if err := c.DeleteImage(ctx, "demo", id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetImage(ctx, "demo", id); !errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("deleted GetImage err = %v", err)
	}
	if err := c.DeleteImage(ctx, "demo", id); err != nil {
		t.Fatalf("second delete err = %v, want nil", err)
	}
}

func TestCreateImageRefused(t *testing.T) {
	base := newImageService(t)
	c := New(base, nil)
	_, err := c.CreateImage(context.Background(), "demo", map[string]any{"name": "x", "disk_format": "nonsense"})
	if !fault.Is(err, fault.BadRequest) {
		t.Fatalf("err = %v, want BadRequest", err)
	}
	_, err = New("http://127.0.0.1:1", nil).GetImage(context.Background(), "demo", "x")
	if err == nil || errors.Is(err, instances.ErrNotFound) {
		t.Fatalf("unreachable service err = %v", err)
	}
}
