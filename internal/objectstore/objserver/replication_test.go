package objserver

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
)

func (c *cluster) replicateAll() {
	c.t.Helper()
	for _, n := range c.nodes {
		if err := n.s.ReplicateOnce(bg); err != nil {
			c.t.Logf("%s: %v", n.dev, err)
		}
	}
}

func TestReplicationFillsTheThirdReplica(t *testing.T) {
	c := newCluster(t, 3, 3)
	data := pattern(150 << 10)
	prim := c.ring.Primaries(c.ring.Partition("AUTH_a", "c", "o"))
	if len(prim) != 3 {
		t.Fatalf("%d primaries", len(prim))
	}
	// The write reached two of three replicas, the third was down.
	for _, d := range prim[:2] {
		n := c.node(d.Name)
		c.must(201, n, "PUT", c.path(n.dev, "AUTH_a", "c", "o"), data, "X-Timestamp", ts(1), "Content-Type", "a/b",
			"X-Object-Meta-M", "v")
	}
	third := c.node(prim[2].Name)
	p3 := c.path(third.dev, "AUTH_a", "c", "o")
	c.must(404, third, "GET", p3, nil)
	c.replicateAll()
	resp := c.must(200, third, "GET", p3, nil)
	if !bytes.Equal(body(resp), data) || resp.Header.Get("X-Timestamp") != ts(1) || resp.Header.Get("X-Object-Meta-M") != "v" {
		t.Fatalf("third replica after replication: %v", resp.Header)
	}

	// A delete on one replica reaches the others.
	first := c.node(prim[0].Name)
	c.must(204, first, "DELETE", c.path(first.dev, "AUTH_a", "c", "o"), nil, "X-Timestamp", ts(2))
	c.replicateAll()
	for _, n := range c.nodes {
		resp := c.must(404, n, "GET", c.path(n.dev, "AUTH_a", "c", "o"), nil)
		if resp.Header.Get("X-Backend-Timestamp") != ts(2) {
			t.Errorf("%s after replicated delete: X-Backend-Timestamp %q", n.dev, resp.Header.Get("X-Backend-Timestamp"))
		}
		if d := files(n.dir, "objects", ".data"); len(d) != 0 {
			t.Errorf("%s keeps %v", n.dev, d)
		}
	}

	// A POST on one replica reaches the others.
	for _, n := range c.nodes {
		c.must(201, n, "PUT", c.path(n.dev, "AUTH_a", "c", "p"), []byte("x"), "X-Timestamp", ts(3), "Content-Type", "a/b")
	}
	pn := c.node(c.ring.Primaries(c.ring.Partition("AUTH_a", "c", "p"))[1].Name)
	c.must(202, pn, "POST", c.path(pn.dev, "AUTH_a", "c", "p"), nil, "X-Timestamp", ts(4), "X-Object-Meta-Posted", "yes")
	c.replicateAll()
	for _, n := range c.nodes {
		if h := c.must(200, n, "HEAD", c.path(n.dev, "AUTH_a", "c", "p"), nil).Header; h.Get("X-Object-Meta-Posted") != "yes" {
			t.Errorf("%s misses the POST: %v", n.dev, h)
		}
	}
	// Now all agree: one more pass sends nothing and changes nothing.
	before := snapshotAll(c)
	c.replicateAll()
	if after := snapshotAll(c); after != before {
		t.Errorf("a pass over replicas in sync changed files:\n%s\n%s", before, after)
	}
}

func snapshotAll(c *cluster) string {
	var b bytes.Buffer
	for _, n := range c.nodes {
		for _, f := range files(n.dir, "objects", "") {
			b.WriteString(f[len(n.dir):] + "\n")
		}
	}
	return b.String()
}

func TestReplicationRestoresAQuarantinedCopy(t *testing.T) {
	c := newCluster(t, 3, 3)
	data := pattern(200 << 10)
	for _, n := range c.nodes {
		c.must(201, n, "PUT", c.path(n.dev, "AUTH_a", "c", "o"), data, "X-Timestamp", ts(1), "Content-Type", "a/b")
	}
	n := c.nodes[0]
	corrupt(t, n, -5)
	if err := n.s.AuditOnce(bg); err != nil {
		t.Fatal(err)
	}
	c.must(404, n, "GET", c.path(n.dev, "AUTH_a", "c", "o"), nil)
	c.replicateAll()
	if got := body(c.must(200, n, "GET", c.path(n.dev, "AUTH_a", "c", "o"), nil)); !bytes.Equal(got, data) {
		t.Fatal("restored copy differs")
	}
}

func TestHandoffDataMovesToPrimariesAndLeaves(t *testing.T) {
	c := newCluster(t, 4, 3)
	part := c.ring.Partition("AUTH_a", "c", "o")
	handoff := c.node(c.ring.Handoffs(part)[0].Name)
	prim := c.ring.Primaries(part)
	data := pattern(80 << 10)
	// The proxy wrote to the handoff while a primary was down.
	c.must(201, handoff, "PUT", c.path(handoff.dev, "AUTH_a", "c", "o"), data, "X-Timestamp", ts(1), "Content-Type", "a/b")

	// With a primary down, the handoff keeps its copy.
	down := c.node(prim[0].Name)
	down.srv.Close()
	if err := handoff.s.ReplicateOnce(bg); err == nil {
		t.Error("replication with a primary down reported no error")
	}
	if d := files(handoff.dir, "objects", ".data"); len(d) != 1 {
		t.Fatalf("handoff dropped its copy while a primary was down: %v", d)
	}

	// Back up (a new server on the same device and address).
	restart(t, c, down)
	if err := handoff.s.ReplicateOnce(bg); err != nil {
		t.Fatal(err)
	}
	for _, d := range prim {
		n := c.node(d.Name)
		if got := body(c.must(200, n, "GET", c.path(n.dev, "AUTH_a", "c", "o"), nil)); !bytes.Equal(got, data) {
			t.Fatalf("primary %s lacks the handoff's object", d.Name)
		}
	}
	if left := files(handoff.dir, "objects", ""); len(left) != 0 {
		t.Fatalf("handoff kept %v after handing over", left)
	}
	if _, err := os.Stat((&device{root: handoff.dir}).partDir(part)); !os.IsNotExist(err) {
		t.Fatalf("handoff partition directory still there: %v", err)
	}
}

// restart brings a closed node back on its address.
func restart(t *testing.T, c *cluster, n *node) {
	t.Helper()
	var err error
	n.s, err = New(Options{Devices: map[string]string{n.dev: n.dir}, Ring: ring.Fixed(c.ring), Addr: n.addr,
		Client: n.s.client, Log: n.s.log, AuditRate: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	n.srv = newServerOn(t, n.addr, n)
}

func TestReceiverRefusesBadFiles(t *testing.T) {
	c := newCluster(t, 3, 3)
	src, dst := c.nodes[0], c.nodes[1]
	c.must(201, src, "PUT", c.path(src.dev, "AUTH_a", "c", "o"), pattern(70<<10), "X-Timestamp", ts(1), "Content-Type", "a/b")
	path := files(src.dir, "objects", ".data")[0]
	raw, _ := os.ReadFile(path)
	part := c.ring.Partition("AUTH_a", "c", "o")
	hash := c.ring.Hash("AUTH_a", "c", "o")
	url := "/object/" + dst.dev + "/" + strconv.Itoa(part) + "/" + hash + "/" + ts(1) + ".data"
	bad := bytes.Clone(raw)
	bad[len(bad)-100] ^= 1
	c.must(422, dst, "REPLICATE", url, bad)
	otherHash := c.ring.Hash("AUTH_a", "c", "other")
	if p, _ := c.ring.PartitionOfHash(otherHash); p == part {
		c.must(422, dst, "REPLICATE", "/object/"+dst.dev+"/"+strconv.Itoa(part)+"/"+otherHash+"/"+ts(1)+".data", raw)
	}
	c.must(400, dst, "REPLICATE", "/object/"+dst.dev+"/"+strconv.Itoa(part)+"/"+hash+"/garbage", raw)
	if d := files(dst.dir, "objects", ".data"); len(d) != 0 {
		t.Fatalf("bad pushes stored %v", d)
	}
	c.must(201, dst, "REPLICATE", url, raw)
	c.must(409, dst, "REPLICATE", url, raw)
	c.must(200, dst, "GET", c.path(dst.dev, "AUTH_a", "c", "o"), nil)
}
