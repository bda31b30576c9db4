package image

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/db"
	filestore "github.com/nimbus-cloud/nimbus/internal/image/store/file"
)

// An import accepted before the service stops runs after it starts again:
// the task waits on the bus's disk, not in memory.
func TestImportSurvivesARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*Service, *bus.Bus, *db.DB) {
		d, err := db.Open(ctx, filepath.Join(dir, "image.sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := bus.Open(ctx, bus.Options{DataDir: filepath.Join(dir, "nats")})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := filestore.New(filepath.Join(dir, "images"))
		staging, _ := filestore.New(filepath.Join(dir, "staging"))
		svc, err := New(ctx, DefaultConfig(), Options{DB: d, Store: st, Staging: staging, Bus: b})
		if err != nil {
			t.Fatal(err)
		}
		return svc, b, d
	}
	p := &authn.Principal{UserID: "u1", ProjectID: "p1", Roles: []string{"member", "reader"}}

	svc, b, d := open()
	img, err := svc.CreateImage(ctx, p, map[string]any{"name": "x", "disk_format": "raw", "container_format": "bare"})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("nimbus"), 50000)
	if err := svc.Stage(ctx, p, img.ID, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Import(ctx, p, img.ID, importRequest{Method: &struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}{Name: "glance-direct"}}); err != nil {
		t.Fatal(err)
	}
	// Stop before any worker ran.
	b.Close()
	d.Close()

	svc, b, d = open()
	defer d.Close()
	defer b.Close()
	stop, err := svc.StartImportWorker(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := svc.GetImage(ctx, p, img.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == StatusActive {
			if *got.Size != int64(len(data)) {
				t.Fatalf("size = %d", *got.Size)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("image still %s after restart", got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
