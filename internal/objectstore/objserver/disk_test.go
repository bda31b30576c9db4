package objserver

import (
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

func TestTombstonesReclaimedAfterReclaimAge(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	old := swift.FromTime(time.Now().Add(-8 * 24 * time.Hour)).Internal()
	recent := swift.FromTime(time.Now().Add(-time.Hour)).Internal()
	c.must(404, n, "DELETE", c.path(n.dev, "AUTH_a", "c", "old"), nil, "X-Timestamp", old)
	c.must(404, n, "DELETE", c.path(n.dev, "AUTH_a", "c", "recent"), nil, "X-Timestamp", recent)
	if ts := files(n.dir, "objects", ".ts"); len(ts) != 2 {
		t.Fatalf("tombstones: %v", ts)
	}
	if err := n.s.ReplicateOnce(bg); err != nil {
		t.Fatal(err)
	}
	left := files(n.dir, "objects", ".ts")
	if len(left) != 1 || !strings.Contains(left[0], recent) {
		t.Fatalf("after the reclaim age, tombstones left: %v", left)
	}
	if _, err := os.Stat((&device{root: n.dir}).hashDir(c.ring.Partition("AUTH_a", "c", "old"), c.ring.Hash("AUTH_a", "c", "old"))); !os.IsNotExist(err) {
		t.Fatalf("reclaimed hash directory still there: %v", err)
	}
}

// A full disk answers 507 and leaves nothing behind. It needs a small
// tmpfs, so root.
func TestFullDiskIs507(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })

	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	n.s.Close()
	var err error
	n.dir = dir
	if n.s, err = New(Options{Devices: map[string]string{n.dev: dir}, Ring: ring.Fixed(c.ring), Addr: n.addr,
		Client: http.DefaultClient, Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	p := c.path(n.dev, "AUTH_a", "c", "huge")
	c.must(507, n, "PUT", p, pattern(2<<20), "X-Timestamp", ts(1), "Content-Type", "a/b")
	if left := files(dir, "tmp", ""); len(left) != 0 {
		t.Fatalf("temp files left on a full disk: %v", left)
	}
	if left := files(dir, "objects", ".data"); len(left) != 0 {
		t.Fatalf("objects stored on a full disk: %v", left)
	}
	c.must(404, n, "GET", p, nil)
	// Space for small objects remains usable.
	c.must(201, n, "PUT", c.path(n.dev, "AUTH_a", "c", "small"), pattern(1000), "X-Timestamp", ts(2), "Content-Type", "a/b")
}
