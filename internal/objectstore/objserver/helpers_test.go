package objserver

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// cluster is a set of object servers, each with one device, each behind
// its own HTTP server, sharing one ring whose devices are in zones of
// their own.
type cluster struct {
	t     *testing.T
	ring  *ring.Ring
	nodes []*node
}

type node struct {
	dev  string // device name in the ring
	dir  string
	addr string
	srv  *httptest.Server
	s    *Server
	// updates records the container updates the node's /container/
	// endpoint received, for the updater and expirer tests.
	mu      sync.Mutex
	updates []update
	failing bool // answer container updates with 503
}

type update struct {
	method, path string
	header       http.Header
}

func (n *node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/container/") {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.failing {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		n.updates = append(n.updates, update{r.Method, r.URL.Path, r.Header.Clone()})
		w.WriteHeader(http.StatusCreated)
		return
	}
	n.s.ServeHTTP(w, r)
}

func (n *node) received() []update {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]update(nil), n.updates...)
}

func newCluster(t *testing.T, devices, replicas int) *cluster {
	t.Helper()
	c := &cluster{t: t}
	b, err := ring.NewBuilder(4, replicas, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range devices {
		n := &node{dev: "d" + strconv.Itoa(i+1), dir: filepath.Join(t.TempDir(), "d"+strconv.Itoa(i+1))}
		n.srv = httptest.NewUnstartedServer(n)
		n.addr = n.srv.Listener.Addr().String()
		host, portS, _ := net.SplitHostPort(n.addr)
		port, _ := strconv.Atoi(portS)
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, IP: host, Port: port, Name: n.dev, Weight: 100}); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, n)
	}
	if _, _, err := b.Rebalance(time.Now()); err != nil {
		t.Fatal(err)
	}
	if c.ring, err = b.Ring(); err != nil {
		t.Fatal(err)
	}
	src := ring.Fixed(c.ring)
	for _, n := range c.nodes {
		n.s, err = New(Options{Devices: map[string]string{n.dev: n.dir}, Ring: src, Addr: n.addr,
			Client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, Log: slog.New(slog.DiscardHandler), AuditRate: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		n.srv.Start()
		t.Cleanup(n.srv.Close)
	}
	return c
}

// node returns the node of a device name.
func (c *cluster) node(dev string) *node {
	for _, n := range c.nodes {
		if n.dev == dev {
			return n
		}
	}
	c.t.Fatalf("no device %s", dev)
	return nil
}

// path is the backend path of object a/c/o on a device.
func (c *cluster) path(dev, a, cont, o string) string {
	return "/object/" + dev + "/" + strconv.Itoa(c.ring.Partition(a, cont, o)) + "/" + a + "/" + cont + "/" + o
}

// request sends a request to node n and reads the whole answer; readErr
// is what reading the body gave (a cut connection shows there).
func (c *cluster) request(n *node, method, path string, body io.Reader, hdr ...string) (resp *http.Response, data []byte, readErr error) {
	c.t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	data, readErr = io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, data, readErr
}

// must sends a request and insists on a status and a whole body.
func (c *cluster) must(want int, n *node, method, path string, body []byte, hdr ...string) *http.Response {
	c.t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, data, err := c.request(n, method, path, rd, hdr...)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp
}

func body(resp *http.Response) []byte {
	b, _ := io.ReadAll(resp.Body)
	return b
}

// ts is a timestamp n seconds after a fixed recent time.
func ts(n int) string {
	return swift.FromTime(tsBase.Add(time.Duration(n) * time.Second)).Internal()
}

var tsBase = time.Now().Add(-time.Hour).Truncate(time.Second)

// files lists the files under dir/sub with the given suffix.
func files(dir, sub, suffix string) []string {
	var out []string
	_ = filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, suffix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

var bg = context.Background()

func sleep() { time.Sleep(20 * time.Millisecond) }

// newServerOn serves h on addr again (a node coming back), retrying while
// the old listener's port is released.
func newServerOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		sleep()
	}
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// newNode starts one object server with devices devices, each in a zone of
// its own in a ring of three replicas: a storage node as `nimbus up` runs
// it, where the replicas of an object land on one server.
func newNode(t testing.TB, devices int) (*httptest.Server, *ring.Ring) {
	t.Helper()
	b, err := ring.NewBuilder(4, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	host, portS, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portS)
	devs := map[string]string{}
	for i := range devices {
		name := "d" + strconv.Itoa(i+1)
		devs[name] = filepath.Join(t.TempDir(), name)
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, IP: host, Port: port, Name: name, Weight: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Rebalance(time.Now()); err != nil {
		t.Fatal(err)
	}
	rg, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Devices: devs, Ring: ring.Fixed(rg), Addr: srv.Listener.Addr().String(),
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = s
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, rg
}
