// Package proxytest starts a real object store in-process for tests: a
// proxy core (behind Keystone auth with fixed test tokens) in front of
// storage nodes, each a storage.Server with its own device directory and
// its own HTTP server, on a ring that puts every replica in its own zone.
// Middleware tests put their handlers into the pipeline with Options.
package proxytest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/storage"
)

// Options shape the cluster; the zero value is three nodes, three
// replicas, no middlewares.
type Options struct {
	Nodes     int  // storage nodes, one device each (default 3)
	Replicas  int  // default 3, at most Nodes
	PartPower uint // default 6
	// Middle wraps the core with the middlewares that sit between auth and
	// the core in Swift's pipeline (staticweb, copy, quotas, slo, dlo,
	// versioning), innermost first is up to the function.
	Middle func(core http.Handler) http.Handler
	// Front wraps Auth with the middlewares in front of it (tempurl,
	// formpost, bulk, s3).
	Front func(auth http.Handler) http.Handler
	// Info are extra /info sections.
	Info map[string]any
	// Principals adds test tokens (token -> principal) to the built-in ones.
	Principals map[string]*authn.Principal
	// NodeTimeout of the proxy (default 2s, short so that tests with a
	// node down stay fast).
	NodeTimeout time.Duration
	// Daemons starts the storage nodes' background daemons; by default
	// tests run passes themselves (Node(i).Server.ReplicateOnce ...).
	Daemons bool
	// Log receives the proxy's and nodes' logs; default the test's output.
	Log *slog.Logger
}

// The built-in test tokens. Each user's project is its name; the account
// of a project is "AUTH_" + project.
const (
	Alice    = "tok-alice"    // member (an operator role) of project "alice"
	Bob      = "tok-bob"      // member of project "bob"
	Reader   = "tok-reader"   // only role "reader" in project "alice": not an owner
	Reseller = "tok-reseller" // ResellerAdmin: may use every account
)

// Principals are the built-in tokens' callers.
func Principals() map[string]*authn.Principal {
	return map[string]*authn.Principal{
		Alice: {UserID: "u-alice", UserName: "alice", UserDomainID: "default", ProjectID: "alice",
			ProjectName: "alice", ProjectDomainID: "default", Roles: []string{"member"}},
		Bob: {UserID: "u-bob", UserName: "bob", UserDomainID: "default", ProjectID: "bob",
			ProjectName: "bob", ProjectDomainID: "default", Roles: []string{"member"}},
		Reader: {UserID: "u-reader", UserName: "reader", UserDomainID: "default", ProjectID: "alice",
			ProjectName: "alice", ProjectDomainID: "default", Roles: []string{"reader"}},
		Reseller: {UserID: "u-reseller", UserName: "reseller", UserDomainID: "default", ProjectID: "service",
			ProjectName: "service", ProjectDomainID: "default", Roles: []string{"ResellerAdmin", "admin"}},
	}
}

// Cluster is a running object store.
type Cluster struct {
	// URL is the proxy's base URL ("http://127.0.0.1:port"); the API is
	// under URL + "/v1/AUTH_<project>".
	URL string
	// Handler is the whole pipeline (what URL serves).
	Handler http.Handler
	// Core is the proxy core.
	Core *proxy.Server
	// Ring is the ring of the nodes.
	Ring *ring.Ring
	// Client talks to the proxy.
	Client *http.Client

	t      testing.TB
	log    *slog.Logger
	tokens map[string]*authn.Principal
	mu     sync.Mutex
	nodes  []*Node
	srv    *httptest.Server
	daemon bool
}

// Node is one storage node.
type Node struct {
	Dir    string // its device's directory
	Device string // the device's name in the ring
	Addr   string // ip:port
	// Server is the running node, nil while stopped.
	Server *storage.Server
	http   *http.Server
}

// Start brings up a cluster; everything stops when the test ends.
func Start(t testing.TB, opts ...Options) *Cluster {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Nodes <= 0 {
		o.Nodes = 3
	}
	if o.Replicas <= 0 {
		o.Replicas = min(3, o.Nodes)
	}
	if o.PartPower == 0 {
		o.PartPower = 6
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c := &Cluster{t: t, log: o.Log, tokens: Principals(), daemon: o.Daemons}
	for k, p := range o.Principals {
		c.tokens[k] = p
	}
	for _, p := range c.tokens {
		p.Seal()
	}
	b, err := ring.NewBuilder(o.PartPower, o.Replicas, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	for i := range o.Nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		name := "d" + strconv.Itoa(i+1)
		c.nodes = append(c.nodes, &Node{Dir: filepath.Join(base, name), Device: name, Addr: addr.String()})
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, IP: "127.0.0.1", Port: addr.Port, Name: name, Weight: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Rebalance(time.Now()); err != nil {
		t.Fatal(err)
	}
	if c.Ring, err = b.Ring(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stopAll)
	for i := range c.nodes {
		c.Start(i)
	}
	c.Core, err = proxy.New(proxy.Options{Ring: ring.Fixed(c.Ring), Client: storage.NewClient(time.Second),
		Log: o.Log.With("server", "proxy"), Info: o.Info, NodeTimeout: o.NodeTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = c.Core
	if o.Middle != nil {
		h = o.Middle(h)
	}
	h = proxy.Auth(h, authn.ValidatorFunc(c.validate), proxy.AuthOptions{Log: o.Log})
	if o.Front != nil {
		h = o.Front(h)
	}
	c.Handler = h
	c.srv = httptest.NewServer(h)
	c.URL = c.srv.URL
	c.Client = c.srv.Client()
	return c
}

func (c *Cluster) validate(_ context.Context, token string) (*authn.Principal, error) {
	if p, ok := c.tokens[token]; ok {
		return p, nil
	}
	return nil, fault.Unauthorizedf("The request you have made requires authentication.")
}

// Account is the account of a built-in token's project: "AUTH_alice".
func (c *Cluster) Account(token string) string {
	if p, ok := c.tokens[token]; ok {
		return "AUTH_" + p.ProjectID
	}
	c.t.Fatalf("proxytest: unknown token %q", token)
	return ""
}

// Nodes is the number of storage nodes.
func (c *Cluster) Nodes() int { return len(c.nodes) }

// Node is storage node i (from 0).
func (c *Cluster) Node(i int) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Start (re)starts storage node i on its address and directory.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.Server != nil {
		return
	}
	srv, err := storage.New(storage.Options{Devices: map[string]string{n.Device: n.Dir}, Ring: ring.Fixed(c.Ring),
		Addr: n.Addr, Log: c.log.With("node", n.Device),
		Daemons: storage.Daemons{ConnTimeout: 500 * time.Millisecond, AuditRate: 1 << 30,
			Replicate: time.Second, Update: time.Second, Audit: time.Second, Expire: time.Second}})
	if err != nil {
		c.t.Fatalf("proxytest: node %d: %v", i, err)
	}
	var ln net.Listener
	for try := 0; ; try++ {
		if ln, err = net.Listen("tcp", n.Addr); err == nil {
			break
		}
		if try == 100 {
			srv.Close()
			c.t.Fatalf("proxytest: node %d: listen again on %s: %v", i, n.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.Server = srv
	n.http = &http.Server{Handler: srv}
	go n.http.Serve(ln)
	if c.daemon {
		srv.Start(context.Background())
	}
}

// Stop takes storage node i down as a crash would: connections
// refused, daemons gone.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[i]
	if n.Server == nil {
		return
	}
	n.http.Close()
	n.Server.Close()
	n.http, n.Server = nil, nil
}

func (c *Cluster) stopAll() {
	if c.srv != nil {
		c.srv.Close()
	}
	for i := range c.nodes {
		c.Stop(i)
	}
}

// Each runs f on every running node (a daemon pass, say).
func (c *Cluster) Each(f func(*storage.Server) error) {
	c.t.Helper()
	c.mu.Lock()
	nodes := append([]*Node(nil), c.nodes...)
	c.mu.Unlock()
	for i, n := range nodes {
		if n.Server == nil {
			continue
		}
		if err := f(n.Server); err != nil {
			c.t.Logf("proxytest: node %d: %v", i, err)
		}
	}
}

// Request builds a request to the proxy: path is everything after the
// host ("/v1/AUTH_alice/c/o?x=y"), hdr are name/value pairs.
func (c *Cluster) Request(method, path, token string, body []byte, hdr ...string) *http.Request {
	c.t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// Send sends req and reads the whole answer.
func (c *Cluster) Send(req *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.Client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	return resp, data
}

// Do sends a request as the holder of token ("" for anonymous).
func (c *Cluster) Do(method, path, token string, body []byte, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	return c.Send(c.Request(method, path, token, body, hdr...))
}

// Must is Do that fails the test unless the status is want; it returns
// the body.
func (c *Cluster) Must(want int, method, path, token string, body []byte, hdr ...string) []byte {
	c.t.Helper()
	resp, data := c.Do(method, path, token, body, hdr...)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %q, want %d", method, path, resp.StatusCode, data, want)
	}
	return data
}
