package proxy

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// fakeNode is a storage node that keeps objects and databases in memory
// and can be told to misbehave, for tests of the proxy's fan-out, quorum
// and resume logic that a real node will not reproduce on demand.
type fakeNode struct {
	mu      sync.Mutex
	objects map[string]fakeObject // path after the device and partition
	dbs     map[string]http.Header
	puts    int
	// misbehaviour
	cutAfter int           // GET bodies break off after this many bytes (0: never)
	delay    time.Duration // before answering
	slowBody time.Duration // per 64 KiB of a PUT body
	status   int           // answer every request with this status
	srv      *httptest.Server
	quit     chan struct{} // closed when the test ends
}

type fakeObject struct {
	data []byte
	hdr  http.Header
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	delay, status, cut, slow := n.delay, n.status, n.cutAfter, n.slowBody
	n.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	bp, err := swift.ParseBackendPath(r.URL.Path)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	key := bp.Account + "/" + bp.Container + "/" + bp.Object
	switch bp.Kind {
	case "object":
		n.object(w, r, key, cut, slow)
	default:
		n.db(w, r, bp.Kind+":"+strings.TrimSuffix(key, "/"))
	}
}

func (n *fakeNode) db(w http.ResponseWriter, r *http.Request, key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	hdr, ok := n.dbs[key]
	switch r.Method {
	case http.MethodPut:
		if ok {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		h := http.Header{}
		for k, v := range r.Header {
			if strings.Contains(k, "-Meta-") || strings.Contains(k, "-Sysmeta-") || k == "X-Container-Read" || k == "X-Container-Write" {
				h[k] = v
			}
		}
		h.Set("X-Timestamp", r.Header.Get("X-Timestamp"))
		h.Set("X-Put-Timestamp", r.Header.Get("X-Timestamp"))
		n.dbs[key] = h
		w.WriteHeader(http.StatusCreated)
	case http.MethodPost:
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		for k, v := range r.Header {
			if strings.Contains(k, "-Meta-") || strings.Contains(k, "-Sysmeta-") || k == "X-Container-Read" || k == "X-Container-Write" {
				if v[0] == "" {
					delete(hdr, k)
				} else {
					hdr[k] = v
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		delete(n.dbs, key)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet, http.MethodHead:
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		if strings.HasPrefix(key, "account:") {
			w.Header().Set("X-Account-Container-Count", "0")
			w.Header().Set("X-Account-Object-Count", "0")
			w.Header().Set("X-Account-Bytes-Used", "0")
		} else {
			w.Header().Set("X-Container-Object-Count", "0")
			w.Header().Set("X-Container-Bytes-Used", "0")
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "[]")
	}
}

func (n *fakeNode) object(w http.ResponseWriter, r *http.Request, key string, cut int, slow time.Duration) {
	switch r.Method {
	case http.MethodPut:
		n.mu.Lock()
		_, exists := n.objects[key]
		n.mu.Unlock()
		if exists && r.Header.Get("If-None-Match") == "*" {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength))
		}
		chunk := make([]byte, 64<<10)
		for first := true; ; first = false {
			if slow > 0 && !first {
				select {
				case <-time.After(slow):
				case <-r.Context().Done():
					return
				case <-n.quit:
					return
				}
			}
			k, err := r.Body.Read(chunk)
			buf.Write(chunk[:k])
			if err == io.EOF {
				break
			}
			if err != nil {
				return // an aborted upload stores nothing
			}
		}
		sum := md5.Sum(buf.Bytes())
		etag := hex.EncodeToString(sum[:])
		if e := r.Header.Get("Etag"); e != "" && e != etag {
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		h := http.Header{}
		for k, v := range r.Header {
			if strings.HasPrefix(k, "X-Object-Meta-") || k == "Content-Type" || k == "X-Delete-At" || k == "X-Timestamp" {
				h[k] = v
			}
		}
		h.Set("Etag", etag)
		n.mu.Lock()
		n.objects[key] = fakeObject{data: buf.Bytes(), hdr: h}
		n.puts++
		n.mu.Unlock()
		w.Header().Set("Etag", etag)
		w.WriteHeader(http.StatusCreated)
	case http.MethodGet, http.MethodHead:
		n.mu.Lock()
		o, ok := n.objects[key]
		n.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		for k, v := range o.hdr {
			w.Header()[k] = v
		}
		data, status := o.data, http.StatusOK
		if rg := r.Header.Get("Range"); rg != "" {
			spec := strings.TrimPrefix(rg, "bytes=")
			a, b, _ := strings.Cut(spec, "-")
			start, _ := strconv.Atoi(a)
			end := len(data) - 1
			if b != "" {
				end, _ = strconv.Atoi(b)
			}
			w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(end)+"/"+strconv.Itoa(len(data)))
			data, status = data[start:end+1], http.StatusPartialContent
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(status)
		if r.Method == http.MethodHead {
			return
		}
		if cut > 0 && cut < len(data) {
			w.Write(data[:cut])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // cut the connection mid-body
		}
		w.Write(data)
	case http.MethodDelete:
		n.mu.Lock()
		_, ok := n.objects[key]
		delete(n.objects, key)
		n.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		w.WriteHeader(http.StatusAccepted)
	}
}

func (n *fakeNode) set(f func(n *fakeNode)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

// fakeCluster is the proxy core behind Auth in front of fake nodes.
type fakeCluster struct {
	t     testing.TB
	nodes []*fakeNode
	ring  *ring.Ring
	proxy *httptest.Server
	core  *Server
}

var fakeTokens = map[string]*authn.Principal{
	"alice": {UserID: "u-alice", UserName: "alice", ProjectID: "alice", ProjectName: "alice", Roles: []string{"member"}},
	"bob":   {UserID: "u-bob", UserName: "bob", ProjectID: "bob", ProjectName: "bob", Roles: []string{"member"}},
}

func newFakeCluster(t testing.TB, devices int, nodeTimeout time.Duration) *fakeCluster {
	t.Helper()
	c := &fakeCluster{t: t}
	b, err := ring.NewBuilder(4, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range devices {
		n := &fakeNode{objects: map[string]fakeObject{}, dbs: map[string]http.Header{}, quit: make(chan struct{})}
		n.srv = httptest.NewServer(n)
		t.Cleanup(n.srv.Close)
		t.Cleanup(func() { close(n.quit) })
		host, port, _ := net.SplitHostPort(n.srv.Listener.Addr().String())
		p, _ := strconv.Atoi(port)
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, IP: host, Port: p, Name: "d" + strconv.Itoa(i), Weight: 100}); err != nil {
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
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	c.core, err = New(Options{Ring: ring.Fixed(c.ring), NodeTimeout: nodeTimeout, PostQuorumTimeout: 50 * time.Millisecond,
		Log: log})
	if err != nil {
		t.Fatal(err)
	}
	v := authn.ValidatorFunc(func(_ context.Context, tok string) (*authn.Principal, error) {
		if p, ok := fakeTokens[tok]; ok {
			return p, nil
		}
		return nil, fault.Unauthorizedf("bad token")
	})
	c.proxy = httptest.NewServer(Auth(c.core, v, AuthOptions{}))
	t.Cleanup(c.proxy.Close)
	return c
}

// node is the fake behind a ring device.
func (c *fakeCluster) node(d ring.Device) *fakeNode {
	for _, n := range c.nodes {
		if n.srv.Listener.Addr().String() == d.Addr() {
			return n
		}
	}
	c.t.Fatalf("no node for %s", d.Addr())
	return nil
}

func (c *fakeCluster) do(method, path, token string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.proxy.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
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
		c.t.Fatalf("%s %s: body: %v", method, path, err)
	}
	return resp, data
}

func (c *fakeCluster) must(want int, method, path, token string, body []byte, hdr ...string) []byte {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, data := c.do(method, path, token, rd, hdr...)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %q, want %d", method, path, resp.StatusCode, data, want)
	}
	return data
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }
