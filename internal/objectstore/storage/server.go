// Package storage is a storage node: one HTTP server for the account,
// container and object data on this node's devices (the backend protocol
// of package swift), and the daemons that keep that data whole:
// replicators, auditor, updaters and the object expirer.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/dbserver"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/objserver"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure a node.
type Options struct {
	// Devices maps a device name (as in the ring) to its directory.
	Devices map[string]string
	Ring    *ring.Source
	// Addr is this node's ip:port as the ring names it; devices of the
	// ring with this address and a name in Devices are local.
	Addr   string
	Client *http.Client // to other nodes; nil = a pooled default
	Log    *slog.Logger
	// Daemons tunes the background work; zero values take defaults.
	Daemons Daemons
}

// Daemons are the intervals of the background work.
type Daemons struct {
	Replicate   time.Duration // replicator passes (default 30s)
	Update      time.Duration // updater passes (default 5s)
	Audit       time.Duration // auditor passes (default 1m)
	AuditRate   int64         // bytes per second the auditor reads (default 10 MiB/s)
	Expire      time.Duration // expirer passes (default 10s)
	ConnTimeout time.Duration // to other nodes (default 2s)
}

// Server is a storage node.
type Server struct {
	objects   *objserver.Server
	databases *dbserver.Server
	log       *slog.Logger
	wg        sync.WaitGroup
	cancel    context.CancelFunc
}

// New opens the node's devices.
func New(o Options) (*Server, error) {
	if len(o.Devices) == 0 {
		return nil, errors.New("storage: no devices")
	}
	if o.Ring == nil {
		return nil, errors.New("storage: no ring")
	}
	for name, dir := range o.Devices {
		if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			return nil, fmt.Errorf("storage: bad device name %q", name)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("storage: device %s: %w", name, err)
		}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	d := o.Daemons
	d.Replicate = orDefault(d.Replicate, 30*time.Second)
	d.Update = orDefault(d.Update, 5*time.Second)
	d.Audit = orDefault(d.Audit, time.Minute)
	d.Expire = orDefault(d.Expire, 10*time.Second)
	d.ConnTimeout = orDefault(d.ConnTimeout, 2*time.Second)
	if d.AuditRate <= 0 {
		d.AuditRate = 10 << 20
	}
	if o.Client == nil {
		o.Client = NewClient(d.ConnTimeout)
	}
	objs, err := objserver.New(objserver.Options{Devices: o.Devices, Ring: o.Ring, Addr: o.Addr, Client: o.Client,
		Log: o.Log.With("server", "object"), Replicate: d.Replicate, Update: d.Update, Audit: d.Audit,
		AuditRate: d.AuditRate, Expire: d.Expire})
	if err != nil {
		return nil, err
	}
	dbs, err := dbserver.New(dbserver.Options{Devices: o.Devices, Ring: o.Ring, Addr: o.Addr, Client: o.Client,
		Log: o.Log.With("server", "container"), Replicate: d.Replicate, Update: d.Update})
	if err != nil {
		objs.Close()
		return nil, err
	}
	return &Server{objects: objs, databases: dbs, log: o.Log}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// NewClient is an HTTP client for node-to-node and proxy-to-node traffic:
// many idle connections per host, short connect timeout.
func NewClient(connTimeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.DisableCompression = true
	t.ResponseHeaderTimeout = 60 * time.Second
	t.DialContext = (&net.Dialer{Timeout: connTimeout, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t}
}

// ServeHTTP routes by the first path segment.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
			swift.WriteStatus(w, r, http.StatusInternalServerError)
		}
	}()
	switch {
	case strings.HasPrefix(r.URL.Path, "/object/"):
		s.objects.ServeHTTP(w, r)
	case strings.HasPrefix(r.URL.Path, "/container/"), strings.HasPrefix(r.URL.Path, "/account/"):
		s.databases.ServeHTTP(w, r)
	case r.URL.Path == "/healthcheck":
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("OK"))
	default:
		swift.WriteStatus(w, r, http.StatusNotFound)
	}
}

// Start runs the daemons until Close.
func (s *Server) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.objects.Run(ctx) }()
	go func() { defer s.wg.Done(); s.databases.Run(ctx) }()
}

// Close stops the daemons and closes the databases.
func (s *Server) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	return errors.Join(s.objects.Close(), s.databases.Close())
}

// ReplicateOnce runs one pass of the object and database replicators.
func (s *Server) ReplicateOnce(ctx context.Context) error {
	return errors.Join(s.objects.ReplicateOnce(ctx), s.databases.ReplicateOnce(ctx))
}

// UpdateOnce delivers queued container and account updates once.
func (s *Server) UpdateOnce(ctx context.Context) error {
	return errors.Join(s.objects.UpdateOnce(ctx), s.databases.UpdateOnce(ctx))
}

// AuditOnce audits every object once (at the configured rate).
func (s *Server) AuditOnce(ctx context.Context) error { return s.objects.AuditOnce(ctx) }

// ExpireOnce deletes the objects whose X-Delete-At has passed.
func (s *Server) ExpireOnce(ctx context.Context) error { return s.objects.ExpireOnce(ctx) }
