package dbserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// node is one storage node of a test cluster: a Server with one device
// behind its own HTTP server.
type node struct {
	dev, dir, addr string
	srv            *Server
	http           *httptest.Server
	sw             *switchHandler
}

// switchHandler lets a test take a node's servers (or only its account
// server) down: requests are then dropped as by a dead node.
type switchHandler struct {
	mu       sync.Mutex
	h        http.Handler
	downPath string // requests under this path fail; "/" = the whole node
	dropped  int    // requests failed so
}

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h, down := s.h, s.downPath
	s.mu.Unlock()
	if down != "" && strings.HasPrefix(r.URL.Path, down) {
		s.mu.Lock()
		s.dropped++
		s.mu.Unlock()
		panic(http.ErrAbortHandler) // the client sees a dropped connection
	}
	h.ServeHTTP(w, r)
}

func (s *switchHandler) set(h http.Handler, down string) {
	s.mu.Lock()
	s.h, s.downPath = h, down
	s.mu.Unlock()
}

type cluster struct {
	t     *testing.T
	ring  *ring.Ring
	nodes []*node
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newCluster starts n nodes, one device each in its own zone, and a ring
// of min(n, 3) replicas over them.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{t: t}
	b, err := ring.NewBuilder(6, min(n, 3), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		nd := &node{dev: "d" + strconv.Itoa(i), sw: &switchHandler{}}
		nd.dir = filepath.Join(t.TempDir(), nd.dev)
		nd.http = httptest.NewUnstartedServer(nd.sw)
		nd.addr = nd.http.Listener.Addr().String()
		c.nodes = append(c.nodes, nd)
	}
	for i, nd := range c.nodes {
		host, p, _ := net.SplitHostPort(nd.addr)
		portNum, _ := strconv.Atoi(p)
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, IP: host, Port: portNum, Name: nd.dev, Weight: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Rebalance(time.Now()); err != nil {
		t.Fatal(err)
	}
	if c.ring, err = b.Ring(); err != nil {
		t.Fatal(err)
	}
	for i, nd := range c.nodes {
		c.startServer(i)
		nd.http.Start()
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.http.Close()
			if nd.srv != nil {
				nd.srv.Close()
			}
		}
	})
	return c
}

// startServer (re)makes node i's Server on its directory.
func (c *cluster) startServer(i int) {
	c.t.Helper()
	nd := c.nodes[i]
	srv, err := New(Options{Devices: map[string]string{nd.dev: nd.dir}, Ring: ring.Fixed(c.ring), Addr: nd.addr,
		Client: &http.Client{Timeout: 5 * time.Second}, Log: testLog(c.t).With("node", i)})
	if err != nil {
		c.t.Fatal(err)
	}
	nd.srv = srv
	nd.sw.set(srv, "")
}

// restartServer closes node i's Server and makes a new one on the same
// directory, as a process restart would.
func (c *cluster) restartServer(i int) {
	c.t.Helper()
	if err := c.nodes[i].srv.Close(); err != nil {
		c.t.Fatal(err)
	}
	c.startServer(i)
}

func (c *cluster) down(i int, path string) { c.nodes[i].sw.set(c.nodes[i].srv, path) }
func (c *cluster) up(i int)                { c.nodes[i].sw.set(c.nodes[i].srv, "") }

// containerPath is the backend path of a container (and object) on node i.
func (c *cluster) containerPath(i int, a, cont string, obj ...string) string {
	p := fmt.Sprintf("/container/%s/%d/%s/%s", c.nodes[i].dev, c.ring.Partition(a, cont, ""), url.PathEscape(a), url.PathEscape(cont))
	if len(obj) > 0 {
		p += "/" + url.PathEscape(obj[0])
	}
	return p
}

func (c *cluster) accountPath(i int, a string, cont ...string) string {
	p := fmt.Sprintf("/account/%s/%d/%s", c.nodes[i].dev, c.ring.Partition(a, "", ""), url.PathEscape(a))
	if len(cont) > 0 {
		p += "/" + url.PathEscape(cont[0])
	}
	return p
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to node i; hdr is name, value pairs.
func (c *cluster) do(i int, method, path string, hdr ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.nodes[i].http.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	for k := 0; k+1 < len(hdr); k += 2 {
		req.Header.Set(hdr[k], hdr[k+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (c *cluster) must(want, i int, method, path string, hdr ...string) response {
	c.t.Helper()
	r := c.do(i, method, path, hdr...)
	if r.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

// baseTS is an hour ago; tsAt(n) is n seconds later, so that tests order
// their writes explicitly.
var baseTS = time.Now().Add(-time.Hour).Unix()

func tsAt(n int) string { return swift.Timestamp{Ticks: (baseTS + int64(n)) * 100000}.Internal() }

// putObject records an object row on node i.
func (c *cluster) putObject(i int, a, cont, obj string, at int, size int, etag string) {
	c.t.Helper()
	c.must(http.StatusCreated, i, "PUT", c.containerPath(i, a, cont, obj), "X-Timestamp", tsAt(at),
		"X-Size", strconv.Itoa(size), "X-Content-Type", "text/plain", "X-Etag", etag)
}

// names lists a container (or account) on node i with the query and
// returns the names and subdirs, subdirs prefixed "dir:".
func (c *cluster) names(i int, path, query string) []string {
	c.t.Helper()
	r := c.must(http.StatusOK, i, "GET", path+"?"+query)
	var entries []map[string]any
	if err := json.Unmarshal(r.body, &entries); err != nil {
		c.t.Fatalf("listing %s?%s: %v: %s", path, query, err, r.body)
	}
	out := []string{}
	for _, e := range entries {
		if s, ok := e["subdir"].(string); ok {
			out = append(out, "dir:"+s)
		} else {
			out = append(out, e["name"].(string))
		}
	}
	return out
}

func (c *cluster) replicate(i int) error {
	return c.nodes[i].srv.ReplicateOnce(context.Background())
}

func (c *cluster) updateOnce(i int) error {
	return c.nodes[i].srv.UpdateOnce(context.Background())
}
