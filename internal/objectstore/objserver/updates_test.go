package objserver

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// containerHeaders names node n's /container/ endpoint as the listing to
// update.
func containerHeaders(n *node) []string {
	return []string{"X-Container-Host", n.addr, "X-Container-Device", n.dev, "X-Container-Partition", "3"}
}

func TestContainerUpdateSentAfterWrites(t *testing.T) {
	c := newCluster(t, 3, 3)
	n, cont := c.nodes[0], c.nodes[1]
	p := c.path(n.dev, "AUTH_a", "c", "dir/o b")
	data := pattern(1000)
	c.must(201, n, "PUT", p, data, append([]string{"X-Timestamp", ts(1), "Content-Type", "text/plain"}, containerHeaders(cont)...)...)
	c.must(204, n, "DELETE", p, nil, append([]string{"X-Timestamp", ts(2)}, containerHeaders(cont)...)...)
	// SLO: the proxy says what the listing shows.
	c.must(201, n, "PUT", p, data, append([]string{"X-Timestamp", ts(3), "Content-Type", "text/plain",
		"X-Backend-Container-Update-Override-Etag", "manifest-etag", "X-Backend-Container-Update-Override-Size", "12345"},
		containerHeaders(cont)...)...)
	// Replication traffic updates nothing.
	c.must(201, n, "PUT", p, data, append([]string{"X-Timestamp", ts(4), "Content-Type", "text/plain",
		"X-Backend-Replication", "true"}, containerHeaders(cont)...)...)
	got := cont.received()
	if len(got) != 3 {
		t.Fatalf("%d container updates, want 3: %+v", len(got), got)
	}
	wantPath := "/container/" + cont.dev + "/3/AUTH_a/c/dir/o b"
	for i, want := range []struct {
		method string
		hdr    map[string]string
	}{
		{"PUT", map[string]string{"X-Timestamp": ts(1), "X-Size": "1000", "X-Content-Type": "text/plain", "X-Etag": md5hex(data)}},
		{"DELETE", map[string]string{"X-Timestamp": ts(2)}},
		{"PUT", map[string]string{"X-Timestamp": ts(3), "X-Size": "12345", "X-Etag": "manifest-etag"}},
	} {
		u := got[i]
		if u.method != want.method || u.path != wantPath {
			t.Errorf("update %d: %s %s, want %s %s", i, u.method, u.path, want.method, wantPath)
		}
		for k, v := range want.hdr {
			if u.header.Get(k) != v {
				t.Errorf("update %d: %s = %q, want %q", i, k, u.header.Get(k), v)
			}
		}
	}
	if pend := files(n.dir, "async_pending", ""); len(pend) != 0 {
		t.Errorf("updates queued though delivered: %v", pend)
	}
}

func TestAsyncPendingDeliveredLater(t *testing.T) {
	c := newCluster(t, 3, 3)
	n, cont := c.nodes[0], c.nodes[1]
	cont.mu.Lock()
	cont.failing = true
	cont.mu.Unlock()
	p := c.path(n.dev, "AUTH_a", "c", "o")
	c.must(201, n, "PUT", p, []byte("data"), append([]string{"X-Timestamp", ts(1), "Content-Type", "a/b"}, containerHeaders(cont)...)...)
	if pend := files(n.dir, "async_pending", ""); len(pend) != 1 {
		t.Fatalf("%d queued updates, want 1", len(pend))
	}
	if err := n.s.UpdateOnce(bg); err == nil {
		t.Error("UpdateOnce with the container still failing reported no error")
	}
	if pend := files(n.dir, "async_pending", ""); len(pend) != 1 {
		t.Fatalf("the update was dropped while undeliverable: %v", pend)
	}
	cont.mu.Lock()
	cont.failing = false
	cont.mu.Unlock()
	if err := n.s.UpdateOnce(bg); err != nil {
		t.Fatal(err)
	}
	got := cont.received()
	if len(got) != 1 || got[0].method != "PUT" || got[0].header.Get("X-Timestamp") != ts(1) || got[0].header.Get("X-Size") != "4" {
		t.Fatalf("delivered updates: %+v", got)
	}
	if pend := files(n.dir, "async_pending", ""); len(pend) != 0 {
		t.Fatalf("delivered update still queued: %v", pend)
	}
}

func TestAsyncPendingFallsBackToRingPrimaries(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	// A container host that never answers.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	start := time.Now()
	c.must(201, n, "PUT", c.path(n.dev, "AUTH_a", "c", "o"), []byte("x"), "X-Timestamp", ts(1), "Content-Type", "a/b",
		"X-Container-Host", dead, "X-Container-Device", "gone", "X-Container-Partition", "1")
	if time.Since(start) > 3*time.Second {
		t.Errorf("PUT took %v with the container down", time.Since(start))
	}
	for i := range hostAttempts {
		if err := n.s.UpdateOnce(bg); i < hostAttempts-1 && err == nil {
			t.Fatalf("pass %d: no error with the host down", i)
		}
	}
	if pend := files(n.dir, "async_pending", ""); len(pend) != 0 {
		t.Fatalf("update not delivered to the ring's primaries: %v", pend)
	}
	part := strconv.Itoa(c.ring.Partition("AUTH_a", "c", ""))
	total := 0
	for _, cn := range c.nodes {
		for _, u := range cn.received() {
			if u.path != "/container/"+cn.dev+"/"+part+"/AUTH_a/c/o" {
				t.Errorf("%s got %s", cn.dev, u.path)
			}
			total++
		}
	}
	if total < 2 {
		t.Fatalf("%d primaries got the update, want a majority", total)
	}
}

func TestExpirer(t *testing.T) {
	c := newCluster(t, 3, 3)
	n := c.nodes[0]
	now := time.Now()
	at := now.Unix() + 100
	p := c.path(n.dev, "AUTH_a", "c", "o")
	keep := c.path(n.dev, "AUTH_a", "c", "keep")
	c.must(201, n, "PUT", p, []byte("short-lived"), "X-Timestamp", swift.Now().Internal(), "Content-Type", "a/b",
		"X-Delete-At", strconv.FormatInt(at, 10))
	// Re-POSTed to a later time: the first index entry must do nothing.
	c.must(201, n, "PUT", keep, []byte("k"), "X-Timestamp", swift.Now().Internal(), "Content-Type", "a/b",
		"X-Delete-At", strconv.FormatInt(at, 10))
	c.must(202, n, "POST", keep, nil, "X-Timestamp", swift.Now().Internal(), "X-Delete-At", strconv.FormatInt(at+1000, 10))
	if h := c.must(200, n, "HEAD", p, nil).Header; h.Get("X-Delete-At") != strconv.FormatInt(at, 10) {
		t.Fatalf("X-Delete-At = %q", h.Get("X-Delete-At"))
	}
	if err := n.s.ExpireOnce(bg); err != nil {
		t.Fatal(err)
	}
	c.must(200, n, "GET", p, nil)

	// Time passes: reads already answer 404, before the expirer runs.
	n.s.now = func() time.Time { return now.Add(200 * time.Second) }
	c.must(404, n, "GET", p, nil)
	c.must(404, n, "HEAD", p, nil)
	if d := files(n.dir, "objects", ".data"); len(d) != 2 {
		t.Fatalf("data removed before the expirer ran: %v", d)
	}
	if err := n.s.ExpireOnce(bg); err != nil {
		t.Fatal(err)
	}
	want := swift.Timestamp{Ticks: at * 100000}
	resp := c.must(404, n, "GET", p, nil)
	if resp.Header.Get("X-Backend-Timestamp") != want.Internal() {
		t.Fatalf("tombstone at %q, want X-Delete-At %s", resp.Header.Get("X-Backend-Timestamp"), want.Internal())
	}
	c.must(200, n, "GET", keep, nil)
	// The container primaries hear of the delete.
	deletes := 0
	for _, cn := range c.nodes {
		for _, u := range cn.received() {
			if u.method == "DELETE" && u.header.Get("X-Timestamp") == want.Internal() {
				deletes++
			}
		}
	}
	if deletes != len(c.ring.Primaries(c.ring.Partition("AUTH_a", "c", ""))) {
		t.Errorf("%d container DELETEs, want one per container primary", deletes)
	}
	if left := files(n.dir, "expiring", ""); len(left) != 1 {
		t.Errorf("expiring index after the pass: %v (want only keep's later entry)", left)
	}
}
