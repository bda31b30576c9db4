package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func objectNodes(c *fakeCluster, a, cont, o string) ([]*fakeNode, []*fakeNode) {
	part := c.ring.Partition(a, cont, o)
	var prim, hand []*fakeNode
	for _, d := range c.ring.Primaries(part) {
		prim = append(prim, c.node(d))
	}
	for _, d := range c.ring.Handoffs(part) {
		hand = append(hand, c.node(d))
	}
	return prim, hand
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestPutWritesEveryPrimaryAndUsesHandoffForAFailedOne(t *testing.T) {
	for _, size := range []int{10, 300 << 10} { // from memory and streamed
		c := newFakeCluster(t, 4, 2*time.Second)
		c.must(201, "PUT", "/v1/AUTH_alice/box", "alice", nil)
		prim, hand := objectNodes(c, "AUTH_alice", "box", "obj")
		prim[1].set(func(n *fakeNode) { n.status = http.StatusInsufficientStorage })
		data := pattern(size)
		c.must(201, "PUT", "/v1/AUTH_alice/box/obj", "alice", data)
		for i, n := range []*fakeNode{prim[0], prim[2], hand[0]} {
			n.mu.Lock()
			o, ok := n.objects["AUTH_alice/box/obj"]
			n.mu.Unlock()
			if !ok || !bytes.Equal(o.data, data) {
				t.Fatalf("size %d: node %d lacks the object", size, i)
			}
		}
		prim[1].set(func(n *fakeNode) { n.status = 0 })
		if got := c.must(200, "GET", "/v1/AUTH_alice/box/obj", "alice", nil); !bytes.Equal(got, data) {
			t.Fatalf("size %d: GET returned other bytes", size)
		}
	}
}

func TestPutWithoutQuorumIs503(t *testing.T) {
	c := newFakeCluster(t, 3, 2*time.Second)
	c.must(201, "PUT", "/v1/AUTH_alice/box", "alice", nil)
	prim, _ := objectNodes(c, "AUTH_alice", "box", "obj")
	prim[0].set(func(n *fakeNode) { n.status = 503 })
	prim[2].set(func(n *fakeNode) { n.status = 503 })
	c.must(503, "PUT", "/v1/AUTH_alice/box/obj", "alice", []byte("small"))
	c.must(503, "PUT", "/v1/AUTH_alice/box/obj", "alice", pattern(200<<10))
}

func TestSlowNodeDoesNotHoldAStreamedPut(t *testing.T) {
	c := newFakeCluster(t, 3, time.Second)
	c.must(201, "PUT", "/v1/AUTH_alice/box", "alice", nil)
	prim, _ := objectNodes(c, "AUTH_alice", "box", "big")
	prim[2].set(func(n *fakeNode) { n.slowBody = time.Minute })
	start := time.Now()
	// Larger than what the socket buffers absorb: the slow node stalls
	// the proxy's writes, and is dropped mid-body.
	data := pattern(16 << 20)
	c.must(201, "PUT", "/v1/AUTH_alice/box/big", "alice", data)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("PUT took %v with one slow node", d)
	}
	for _, n := range prim[:2] {
		n.mu.Lock()
		ok := bytes.Equal(n.objects["AUTH_alice/box/big"].data, data)
		n.mu.Unlock()
		if !ok {
			t.Fatal("a fast node lacks the object")
		}
	}
}

func TestChunkedPutAndETagMismatch(t *testing.T) {
	c := newFakeCluster(t, 3, 2*time.Second)
	c.must(201, "PUT", "/v1/AUTH_alice/box", "alice", nil)
	data := pattern(100 << 10)
	// An io.Reader of unknown length makes the client send chunked.
	resp, body := c.do("PUT", "/v1/AUTH_alice/box/chunked", "alice", io.MultiReader(bytes.NewReader(data)))
	if resp.StatusCode != 201 || resp.Header.Get("Etag") != md5hex(data) {
		t.Fatalf("chunked PUT: %d %q etag %q", resp.StatusCode, body, resp.Header.Get("Etag"))
	}
	if resp.Header.Get("Last-Modified") == "" || resp.Header.Get("Content-Type") == "" {
		t.Fatalf("PUT headers %v", resp.Header)
	}
	c.must(422, "PUT", "/v1/AUTH_alice/box/bad", "alice", []byte("data"), "Etag", strings.Repeat("0", 32))
	c.must(404, "GET", "/v1/AUTH_alice/box/bad", "alice", nil)
	c.must(412, "PUT", "/v1/AUTH_alice/box/chunked", "alice", []byte("again"), "If-None-Match", "*")
	c.must(412, "PUT", "/v1/AUTH_alice/box/chunked", "alice", pattern(100<<10), "If-None-Match", "*")
	c.must(400, "PUT", "/v1/AUTH_alice/box/chunked", "alice", []byte("again"), "If-None-Match", "abc")
}

func TestGetResumesFromAnotherNodeWhenABodyBreaks(t *testing.T) {
	c := newFakeCluster(t, 3, 2*time.Second)
	c.must(201, "PUT", "/v1/AUTH_alice/box", "alice", nil)
	data := pattern(500 << 10)
	c.must(201, "PUT", "/v1/AUTH_alice/box/obj", "alice", data)
	prim, _ := objectNodes(c, "AUTH_alice", "box", "obj")
	prim[0].set(func(n *fakeNode) { n.cutAfter = 100 << 10 })
	prim[1].set(func(n *fakeNode) { n.cutAfter = 50 << 10 })
	if got := c.must(200, "GET", "/v1/AUTH_alice/box/obj", "alice", nil); !bytes.Equal(got, data) {
		t.Fatalf("resumed GET: %d bytes, equal=%v", len(got), bytes.Equal(got, data))
	}
	got := c.must(206, "GET", "/v1/AUTH_alice/box/obj", "alice", nil, "Range", "bytes=1000-299999")
	if !bytes.Equal(got, data[1000:300000]) {
		t.Fatal("resumed range GET returned other bytes")
	}
	// When every node breaks off, the client must see a broken body, not a
	// short one that looks whole.
	prim[2].set(func(n *fakeNode) { n.cutAfter = 10 << 10 })
	req, _ := http.NewRequest("GET", c.proxy.URL+"/v1/AUTH_alice/box/obj", nil)
	req.Header.Set("X-Auth-Token", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Fatal("a body no node could finish was read without error")
	}
}

func TestGetSkipsDownNodesAnd404NeedsAgreement(t *testing.T) {
	c := newFakeCluster(t, 3, 500*time.Millisecond)
	c.must(201, "PUT", "/v1/AUTH_alice/box", "alice", nil)
	c.must(201, "PUT", "/v1/AUTH_alice/box/obj", "alice", []byte("hello"))
	prim, _ := objectNodes(c, "AUTH_alice", "box", "obj")
	prim[0].srv.CloseClientConnections()
	prim[0].set(func(n *fakeNode) { n.delay = time.Second })
	if got := c.must(200, "GET", "/v1/AUTH_alice/box/obj", "alice", nil); string(got) != "hello" {
		t.Fatalf("GET with a hung primary = %q", got)
	}
	c.must(404, "GET", "/v1/AUTH_alice/box/missing", "alice", nil)
	prim[1].set(func(n *fakeNode) { n.status = 503 })
	prim[2].set(func(n *fakeNode) { n.status = 503 })
	c.must(503, "GET", "/v1/AUTH_alice/box/obj", "alice", nil)
}

func TestDeleteCountsA404AsDoneWithoutQuorum(t *testing.T) {
	c := newFakeCluster(t, 3, 2*time.Second)
	c.must(201, "PUT", "/v1/AUTH_alice/box", "alice", nil)
	c.must(201, "PUT", "/v1/AUTH_alice/box/obj", "alice", []byte("x"))
	prim, _ := objectNodes(c, "AUTH_alice", "box", "obj")
	prim[0].set(func(n *fakeNode) { delete(n.objects, "AUTH_alice/box/obj") })
	prim[1].set(func(n *fakeNode) { n.status = 503 })
	c.must(204, "DELETE", "/v1/AUTH_alice/box/obj", "alice", nil)
	prim[1].set(func(n *fakeNode) { n.status = 0 })
	c.must(404, "DELETE", "/v1/AUTH_alice/box/never", "alice", nil)
}
