package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func qemuImage(t *testing.T, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "img")
	full := append([]string{"create"}, args...)
	full = append(full[:len(full)-1], path, full[len(full)-1])
	if out, err := exec.Command("qemu-img", full...).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", full, err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestImportConvertsToTheOperatorsFormat(t *testing.T) {
	t.Parallel()
	qcow := qemuImage(t, "-f", "qcow2", "4M")
	c := newTestCloudWith(t, true, func(cfg *Config) { cfg.ConvertTo = "raw"; cfg.ConvertDir = t.TempDir() })
	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "conv", "disk_format": "qcow2", "container_format": "bare"})
	id := img["id"].(string)
	if resp, body := c.raw(c.srv.URL, "PUT", "/v2/images/"+id+"/stage", c.alice, "application/octet-stream", qcow); resp.StatusCode != 204 {
		t.Fatalf("stage = %d %s", resp.StatusCode, body)
	}
	c.must(202, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "glance-direct"}})
	got := c.waitStatus(id, c.alice, "active")
	if got["disk_format"] != "raw" || got["size"] != float64(4<<20) || got["virtual_size"] != float64(4<<20) {
		t.Fatalf("converted image = disk_format %v size %v virtual %v", got["disk_format"], got["size"], got["virtual_size"])
	}
}

func TestUnsafeImagesAreNeverConverted(t *testing.T) {
	t.Parallel()
	base := filepath.Join(t.TempDir(), "base")
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed")
	}
	if out, err := exec.Command("qemu-img", "create", "-f", "raw", base, "1M").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	withBacking := qemuImage(t, "-f", "qcow2", "-F", "raw", "-b", base, "1M")
	c := newTestCloudWith(t, true, func(cfg *Config) { cfg.ConvertTo = "raw"; cfg.ConvertDir = t.TempDir() })
	img := c.must(201, "POST", "/v2/images", c.alice, map[string]any{"name": "evil", "disk_format": "qcow2", "container_format": "bare"})
	id := img["id"].(string)
	c.raw(c.srv.URL, "PUT", "/v2/images/"+id+"/stage", c.alice, "application/octet-stream", withBacking)
	c.must(202, "POST", "/v2/images/"+id+"/import", c.alice, map[string]any{"method": map[string]any{"name": "glance-direct"}})
	c.waitStatus(id, c.alice, "killed")
}
