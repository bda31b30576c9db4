// Package objserver is the object server of a storage node: it keeps
// objects as timestamped, self-checking files in hashed partition
// directories on the node's devices, serves them over the backend
// protocol of package swift, and runs the daemons that keep them whole:
// the replicator (pushes what peers lack, moves handoff data home), the
// auditor (re-reads files, quarantines bad ones), the updater (delivers
// container updates that could not be sent at once) and the expirer
// (deletes objects whose X-Delete-At has passed).
//
// Every acknowledged write is on disk: files are written in the device's
// tmp directory, fsynced, renamed into place and their directory fsynced
// before the answer.
package objserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure the object server.
type Options struct {
	Devices   map[string]string // device name (as in the ring) -> directory
	Ring      *ring.Source
	Addr      string       // this node's ip:port as the ring names it
	Client    *http.Client // to other nodes
	Log       *slog.Logger
	Replicate time.Duration // interval of replicator passes
	Update    time.Duration // interval of updater passes
	Audit     time.Duration // interval of auditor passes
	AuditRate int64         // bytes/s the auditor may read
	Expire    time.Duration // interval of expirer passes
}

// Defaults of what Options leave zero, and fixed policy.
const (
	defaultReclaimAge = 7 * 24 * time.Hour
	// updateTimeout bounds a container update made while the client waits
	// (Swift's container_update_timeout).
	updateTimeout = time.Second
	// staleTmp is the age after which a file left in tmp/ by a crash is
	// removed.
	staleTmp = time.Hour
)

// Server is the object server of one node.
type Server struct {
	devs   map[string]*device
	ring   *ring.Source
	addr   string
	client *http.Client
	log    *slog.Logger
	o      Options

	// hashLocks serialize the commit of files into a hash directory, so
	// "newer than what is there" is decided and acted on atomically.
	hashLocks [256]sync.Mutex
	parts     sync.Map // partKey -> *partLock
	// sums lets the replicas of a PUT on several devices share MD5 work.
	sums sumShare

	// Test hooks.
	now        func() time.Time
	reclaimAge time.Duration

	// One pass of each daemon at a time.
	replicating, updating, auditing, expiring sync.Mutex
}

// New opens the devices, creating their directories.
func New(o Options) (*Server, error) {
	if len(o.Devices) == 0 {
		return nil, errors.New("object server: no devices")
	}
	if o.Ring == nil || o.Ring.Ring() == nil {
		return nil, errors.New("object server: no ring")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		o.Client = &http.Client{Transport: t}
	}
	if o.Replicate <= 0 {
		o.Replicate = 30 * time.Second
	}
	if o.Update <= 0 {
		o.Update = 5 * time.Second
	}
	if o.Audit <= 0 {
		o.Audit = time.Minute
	}
	if o.Expire <= 0 {
		o.Expire = 10 * time.Second
	}
	if o.AuditRate <= 0 {
		o.AuditRate = 10 << 20
	}
	s := &Server{devs: map[string]*device{}, ring: o.Ring, addr: o.Addr, client: o.Client, log: o.Log, o: o,
		now: time.Now, reclaimAge: defaultReclaimAge}
	for name, dir := range o.Devices {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") {
			return nil, fmt.Errorf("object server: bad device name %q", name)
		}
		d := &device{name: name, root: dir}
		for _, sub := range []string{d.objects(), d.tmp(), d.pendingDir(), d.expiringDir()} {
			if err := os.MkdirAll(sub, 0o700); err != nil {
				return nil, fmt.Errorf("object server: device %s: %w", name, err)
			}
		}
		s.cleanTmp(d)
		s.devs[name] = d
	}
	return s, nil
}

// Close releases the server. The daemons stop with Run's context.
func (s *Server) Close() error { return nil }

// Run runs the replicator, updater, auditor and expirer until ctx is done.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	loop := func(name string, every time.Duration, pass func(context.Context) error) {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := pass(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("object "+name+" pass", "err", err)
			}
		}
	}
	wg.Add(4)
	go loop("replicator", s.o.Replicate, s.ReplicateOnce)
	go loop("updater", s.o.Update, s.UpdateOnce)
	go loop("auditor", s.o.Audit, s.AuditOnce)
	go loop("expirer", s.o.Expire, s.ExpireOnce)
	wg.Wait()
}

// ServeHTTP serves /object/{dev}/{part}/{a}/{c}/{o...} and REPLICATE.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving object request", "method", r.Method, "path", r.URL.Path, "panic", p)
			swift.WriteStatus(w, r, http.StatusInternalServerError)
		}
	}()
	bp, err := swift.ParseBackendPath(r.URL.Path)
	if err != nil || bp.Kind != "object" {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
		return
	}
	d := s.devs[bp.Device]
	if d == nil {
		// Swift's answer for a device that is not mounted.
		swift.WriteStatus(w, r, http.StatusInsufficientStorage)
		return
	}
	rg := s.ring.Ring()
	if bp.Partition >= rg.Partitions() {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid partition: "+r.URL.Path)
		return
	}
	if r.Method == "REPLICATE" {
		s.serveReplicate(w, r, d, bp)
		return
	}
	if bp.Account == "" || bp.Container == "" || bp.Object == "" {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
		return
	}
	req := &objRequest{d: d, part: bp.Partition, account: bp.Account, container: bp.Container, object: bp.Object,
		hash: rg.Hash(bp.Account, bp.Container, bp.Object)}
	if p, _ := rg.PartitionOfHash(req.hash); p != bp.Partition {
		// A name filed under the wrong partition would never be found
		// by replication; refuse it.
		swift.WriteError(w, r, http.StatusBadRequest, "Partition mismatch: "+r.URL.Path)
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.put(w, r, req)
	case http.MethodGet, http.MethodHead:
		s.get(w, r, req)
	case http.MethodPost:
		s.post(w, r, req)
	case http.MethodDelete:
		s.delete(w, r, req)
	default:
		w.Header().Set("Allow", "DELETE, GET, HEAD, POST, PUT, REPLICATE")
		swift.WriteStatus(w, r, http.StatusMethodNotAllowed)
	}
}

// objRequest is a parsed object request.
type objRequest struct {
	d                          *device
	part                       int
	account, container, object string
	hash                       string
}

func (q *objRequest) name() string { return "/" + q.account + "/" + q.container + "/" + q.object }
func (q *objRequest) dir() string  { return q.d.hashDir(q.part, q.hash) }

// hashLock is the commit lock of a hash directory.
func (s *Server) hashLock(hash string) *sync.Mutex {
	var i byte
	if len(hash) >= 2 {
		i = hexVal(hash[0])<<4 | hexVal(hash[1])
	}
	return &s.hashLocks[i]
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return 0
}

// localDevice is the ring's entry for one of our devices, if it has one.
func (s *Server) localDevice(r *ring.Ring, d *device) (ring.Device, bool) {
	for _, rd := range r.Devices() {
		if rd.Name == d.name && rd.Addr() == s.addr {
			return rd, true
		}
	}
	return ring.Device{}, false
}

// cleanTmp removes files a crash left in tmp/.
func (s *Server) cleanTmp(d *device) {
	names, _ := listDir(d.tmp())
	cutoff := s.now().Add(-staleTmp)
	for _, n := range names {
		p := filepath.Join(d.tmp(), n)
		if fi, err := os.Lstat(p); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.RemoveAll(p)
		}
	}
}

// devices lists the devices in a stable order.
func (s *Server) devices() []*device {
	out := make([]*device, 0, len(s.devs))
	for _, d := range s.devs {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *device) int { return strings.Compare(a.name, b.name) })
	return out
}
