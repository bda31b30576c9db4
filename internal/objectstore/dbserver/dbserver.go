// Package dbserver is a storage node's account and container servers:
// one SQLite database per account and per container on the node's
// devices, served over the backend protocol of package swift, with the
// daemons that keep them consistent: the database replicator (rows newer
// than each peer's sync point are pushed to the other primaries; handoff
// copies move to the primaries) and the container updater (container
// stats reach the account servers, also after they were down).
//
// A database lives at <dev>/accounts|containers/<part>/<suffix>/<hash>/<hash>.db,
// hash being the ring's hash of the name and suffix its last three digits.
// Object row updates arrive for every object write on every replica, so
// writes to one database are group-committed: those that arrive while a
// transaction commits are applied together in the next one.
package dbserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure a Server.
type Options struct {
	Devices map[string]string // device name (as in the ring) -> directory
	Ring    *ring.Source
	Addr    string // this node's ip:port as the ring names it
	Client  *http.Client
	Log     *slog.Logger
	// Replicate and Update are the intervals of the replicator and the
	// container updater (defaults 30s and 5s).
	Replicate, Update time.Duration
}

// ReclaimAge is how long deleted rows, metadata deletions and deleted
// databases are kept so that every replica learns of the deletion.
const ReclaimAge = 7 * 24 * time.Hour

const (
	maxOpenDBs = 256
	idleDB     = 2 * time.Minute
	// nodeTimeout bounds one request to another node.
	nodeTimeout = 10 * time.Second
)

// Server is the account and container servers of one node.
type Server struct {
	devices    map[string]string
	ring       *ring.Source
	addr       string
	client     *http.Client
	log        *slog.Logger
	replicate  time.Duration
	update     time.Duration
	dbs        *handles
	dirty      *dirtySet
	updater    updaterState
	replicator replicatorState

	stop     chan struct{}
	stopOnce sync.Once
	sweeper  sync.WaitGroup
}

// New makes a server of the devices' databases.
func New(o Options) (*Server, error) {
	if len(o.Devices) == 0 {
		return nil, errors.New("dbserver: no devices")
	}
	if o.Ring == nil {
		return nil, errors.New("dbserver: no ring")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: time.Minute}
	}
	if o.Replicate <= 0 {
		o.Replicate = 30 * time.Second
	}
	if o.Update <= 0 {
		o.Update = 5 * time.Second
	}
	devices := make(map[string]string, len(o.Devices))
	for name, dir := range o.Devices {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\") {
			return nil, fmt.Errorf("dbserver: bad device name %q", name)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("dbserver: device %s: %w", name, err)
		}
		devices[name] = dir
	}
	s := &Server{devices: devices, ring: o.Ring, addr: o.Addr, client: o.Client, log: o.Log,
		replicate: o.Replicate, update: o.Update, dirty: newDirtySet(), stop: make(chan struct{})}
	s.dbs = newHandles(maxOpenDBs, idleDB, o.Log, s.changed)
	s.sweeper.Add(1)
	go func() {
		defer s.sweeper.Done()
		t := time.NewTicker(idleDB / 4)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.dbs.sweep()
			}
		}
	}()
	return s, nil
}

// changed notes a container whose stats may have changed, for the updater.
func (s *Server) changed(d *db) {
	if d.kind == kindContainer {
		s.dirty.add(d.path)
	}
}

// Close closes every open database.
func (s *Server) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.sweeper.Wait()
	return s.dbs.closeEvery()
}

// Run runs the replicator and the container updater until ctx is done.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	loop := func(every time.Duration, pass func(context.Context) error, what string) {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			case <-t.C:
				if err := pass(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn(what+" pass", "err", err)
				}
			}
		}
	}
	wg.Add(2)
	go loop(s.replicate, s.ReplicateOnce, "database replicator")
	go loop(s.update, s.UpdateOnce, "container updater")
	wg.Wait()
}

// dbPath is where a database of hash lives on a device.
func dbPath(devDir string, k kind, part int, hash string) string {
	return filepath.Join(devDir, k.dir(), strconv.Itoa(part), hash[len(hash)-3:], hash, hash+".db")
}

// ServeHTTP serves /container/... and /account/... of the backend protocol.
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
	// NUL is allowed: Swift's reserved namespace (names starting with it)
	// is for middlewares; the proxy keeps clients out of it.
	if !utf8.ValidString(r.URL.Path) {
		swift.WriteError(w, r, http.StatusPreconditionFailed, "Invalid UTF8 or contains NULL")
		return
	}
	bp, err := swift.ParseBackendPath(r.URL.Path)
	if err != nil || bp.Kind == "object" || bp.Account == "" {
		swift.WriteError(w, r, http.StatusBadRequest, "Invalid path: "+r.URL.Path)
		return
	}
	dev, ok := s.devices[bp.Device]
	if !ok {
		swift.WriteStatus(w, r, http.StatusInsufficientStorage)
		return
	}
	k := kindContainer
	if bp.Kind == "account" {
		k = kindAccount
	}
	if r.Method == "REPLICATE" {
		s.serveReplicate(w, r, k, dev, bp)
		return
	}
	if k == kindAccount {
		s.serveAccount(w, r, dev, bp)
		return
	}
	s.serveContainer(w, r, dev, bp)
}

// requestTimestamp is the X-Timestamp every write carries, or Swift's 400
// message.
func requestTimestamp(r *http.Request) (swift.Timestamp, string) {
	v := r.Header.Get("X-Timestamp")
	if v == "" {
		return swift.Timestamp{}, "Missing X-Timestamp header"
	}
	ts, err := swift.ParseTimestamp(v)
	if err != nil || ts.IsZero() {
		return swift.Timestamp{}, fmt.Sprintf("X-Timestamp should be a UNIX timestamp float value; was %q", v)
	}
	return ts, ""
}

// dbFor is the path of the database a request names.
func (s *Server) dbFor(dev string, k kind, bp swift.BackendPath) (string, error) {
	rg := s.ring.Ring()
	if rg == nil {
		return "", errors.New("no ring loaded")
	}
	container := ""
	if k == kindContainer {
		container = bp.Container
	}
	return dbPath(dev, k, bp.Partition, rg.Hash(bp.Account, container, "")), nil
}

// fail answers an unexpected error: logged here, a bare 500 to the client.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errClosed) || errors.Is(err, context.Canceled) {
		swift.WriteStatus(w, r, http.StatusServiceUnavailable)
		return
	}
	s.log.Error("database request", "method", r.Method, "path", r.URL.Path, "err", err)
	swift.WriteStatus(w, r, http.StatusInternalServerError)
}
