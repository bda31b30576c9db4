package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/storage"
)

// cluster is a proxy (the whole pipeline) in front of three storage nodes,
// each a server of its own with its own port and device directory.
type cluster struct {
	t      *testing.T
	proxy  *httptest.Server
	ring   *ring.Ring
	nodes  []*node
	tokens map[string]*authn.Principal
}

type node struct {
	dir    string
	addr   string
	server *storage.Server
	http   *http.Server
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, tokens: map[string]*authn.Principal{
		"tok-alice": {UserID: "u-alice", UserName: "alice", ProjectID: "alice", ProjectName: "alice", Roles: []string{"member"}},
		"tok-bob":   {UserID: "u-bob", UserName: "bob", ProjectID: "bob", ProjectName: "bob", Roles: []string{"member"}},
	}}
	for _, p := range c.tokens {
		p.Seal()
	}
	b, err := ring.NewBuilder(6, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		n := &node{dir: filepath.Join(t.TempDir(), "d"+strconv.Itoa(i+1)), addr: ln.Addr().String()}
		c.nodes = append(c.nodes, n)
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, IP: "127.0.0.1", Port: port, Name: "d" + strconv.Itoa(i+1), Weight: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Rebalance(time.Now()); err != nil {
		t.Fatal(err)
	}
	if c.ring, err = b.Ring(); err != nil {
		t.Fatal(err)
	}
	for i := range c.nodes {
		c.start(i)
	}
	h, err := NewProxy(ProxyOptions{Ring: ring.Fixed(c.ring), Client: storage.NewClient(time.Second),
		Validator: authn.ValidatorFunc(func(_ context.Context, tok string) (*authn.Principal, error) {
			if p, ok := c.tokens[tok]; ok {
				return p, nil
			}
			return nil, fault.Unauthorizedf("The request you have made requires authentication.")
		}), OperatorRoles: []string{"admin", "member"}, ResellerAdminRole: "ResellerAdmin"})
	if err != nil {
		t.Fatal(err)
	}
	c.proxy = httptest.NewServer(h)
	t.Cleanup(func() {
		c.proxy.Close()
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

// start (re)starts node i on its address.
func (c *cluster) start(i int) {
	c.t.Helper()
	n := c.nodes[i]
	name := filepath.Base(n.dir)
	srv, err := storage.New(storage.Options{Devices: map[string]string{name: n.dir}, Ring: ring.Fixed(c.ring), Addr: n.addr,
		Daemons: storage.Daemons{ConnTimeout: 500 * time.Millisecond, AuditRate: 1 << 30}})
	if err != nil {
		c.t.Fatal(err)
	}
	var ln net.Listener
	for try := 0; ; try++ {
		if ln, err = net.Listen("tcp", n.addr); err == nil {
			break
		}
		if try == 50 {
			c.t.Fatalf("node %d: listen again on %s: %v", i, n.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.server = srv
	n.http = &http.Server{Handler: srv}
	go n.http.Serve(ln)
}

// stop takes node i down as a crash would: connections refused, the
// daemons gone, nothing flushed on purpose.
func (c *cluster) stop(i int) {
	n := c.nodes[i]
	if n.http == nil {
		return
	}
	n.http.Close()
	n.server.Close()
	n.http, n.server = nil, nil
}

// do sends a request to the proxy as the holder of token.
func (c *cluster) do(method, path, token string, body []byte, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.proxy.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, data
}

func (c *cluster) must(want int, method, path, token string, body []byte, hdr ...string) []byte {
	c.t.Helper()
	resp, data := c.do(method, path, token, body, hdr...)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	return data
}

// dataFiles lists the .data files on node i.
func (c *cluster) dataFiles(i int) []string {
	var out []string
	_ = filepath.WalkDir(filepath.Join(c.nodes[i].dir, "objects"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".data") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func (c *cluster) passes(ctx context.Context, run func(*storage.Server, context.Context) error) {
	c.t.Helper()
	for i, n := range c.nodes {
		if n.server == nil {
			continue
		}
		if err := run(n.server, ctx); err != nil {
			c.t.Logf("node %d: %v", i, err)
		}
	}
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func TestClusterSurvivesANodeAndRepairsIt(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/box", "tok-alice", nil)
	first := bytes.Repeat([]byte("first "), 1000)
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/box/first", "tok-alice", first)

	c.stop(2)
	second := bytes.Repeat([]byte("second "), 3000)
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/box/second", "tok-alice", second)
	if got := c.must(http.StatusOK, "GET", "/v1/AUTH_alice/box/first", "tok-alice", nil); !bytes.Equal(got, first) {
		t.Fatal("first object changed while a node was down")
	}
	if got := c.must(http.StatusOK, "GET", "/v1/AUTH_alice/box/second", "tok-alice", nil); !bytes.Equal(got, second) {
		t.Fatal("second object wrong while a node was down")
	}
	listing := string(c.must(http.StatusOK, "GET", "/v1/AUTH_alice/box", "tok-alice", nil))
	if listing != "first\nsecond\n" {
		t.Fatalf("listing with a node down = %q", listing)
	}
	if n := len(c.dataFiles(2)); n != 1 {
		t.Fatalf("the stopped node has %d objects, want 1 (only the first)", n)
	}

	c.start(2)
	c.passes(ctx, (*storage.Server).UpdateOnce)
	c.passes(ctx, (*storage.Server).ReplicateOnce)
	for i := range c.nodes {
		if n := len(c.dataFiles(i)); n != 2 {
			t.Fatalf("after replication node %d has %d objects, want 2", i, n)
		}
	}
	// Every node's own container listing knows both objects.
	part := c.ring.Partition("AUTH_alice", "box", "")
	for i, n := range c.nodes {
		url := fmt.Sprintf("http://%s/container/d%d/%d/AUTH_alice/box", n.addr, i+1, part)
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"second"`) {
			t.Fatalf("node %d's container listing after repair: %d %s", i, resp.StatusCode, body)
		}
	}
}

func TestClusterNeverServesCorruptBytes(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/box", "tok-alice", nil)
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/box/obj", "tok-alice", data)

	files := c.dataFiles(0)
	if len(files) != 1 {
		t.Fatalf("node 0 has %d .data files", len(files))
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(files[0], raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		got := c.must(http.StatusOK, "GET", "/v1/AUTH_alice/box/obj", "tok-alice", nil)
		if md5hex(got) != md5hex(data) {
			t.Fatal("GET returned corrupt bytes")
		}
	}
	c.passes(ctx, (*storage.Server).AuditOnce)
	if _, err := os.Stat(files[0]); !os.IsNotExist(err) {
		t.Fatalf("the corrupt file is still in place after the audit (%v)", err)
	}
	c.passes(ctx, (*storage.Server).ReplicateOnce)
	files = c.dataFiles(0)
	if len(files) != 1 {
		t.Fatalf("after replication node 0 has %d .data files, want the restored one", len(files))
	}
	part := c.ring.Partition("AUTH_alice", "box", "obj")
	resp, err := http.Get(fmt.Sprintf("http://%s/object/d1/%d/AUTH_alice/box/obj", c.nodes[0].addr, part))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || md5hex(got) != md5hex(data) {
		t.Fatalf("restored copy on node 0: %d, %v, md5 ok=%v", resp.StatusCode, err, md5hex(got) == md5hex(data))
	}
}

func TestClusterKeepsProjectsApart(t *testing.T) {
	c := newCluster(t)
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/private", "tok-alice", nil)
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/private/secret", "tok-alice", []byte("s3cret"))
	c.must(http.StatusForbidden, "GET", "/v1/AUTH_alice/private/secret", "tok-bob", nil)
	c.must(http.StatusForbidden, "PUT", "/v1/AUTH_alice/private/planted", "tok-bob", []byte("x"))
	c.must(http.StatusUnauthorized, "GET", "/v1/AUTH_alice/private/secret", "", nil)
	c.must(http.StatusUnauthorized, "GET", "/v1/AUTH_alice/private/secret", "forged", nil)
	c.must(http.StatusNotFound, "GET", "/v1/AUTH_alice/private/planted", "tok-alice", nil)
	// A read ACL for bob's project opens reads, not writes.
	c.must(http.StatusNoContent, "POST", "/v1/AUTH_alice/private", "tok-alice", nil, "X-Container-Read", "bob:*")
	if got := c.must(http.StatusOK, "GET", "/v1/AUTH_alice/private/secret", "tok-bob", nil); string(got) != "s3cret" {
		t.Fatalf("bob read %q", got)
	}
	c.must(http.StatusForbidden, "PUT", "/v1/AUTH_alice/private/planted", "tok-bob", []byte("x"))
	// Clients never set or see system metadata.
	c.must(http.StatusCreated, "PUT", "/v1/AUTH_alice/private/meta", "tok-alice", []byte("m"), "X-Object-Sysmeta-Evil", "1")
	resp, _ := c.do("HEAD", "/v1/AUTH_alice/private/meta", "tok-alice", nil)
	for k := range resp.Header {
		if strings.Contains(strings.ToLower(k), "sysmeta") || strings.HasPrefix(strings.ToLower(k), "x-backend") {
			t.Fatalf("internal header %s reached the client", k)
		}
	}
}
