// Package bus is the message bus of every Nimbus service: NATS, either an
// embedded server (the all-in-one `nimbus up`) or an external cluster.
//
// It offers three patterns and nothing else: request/reply RPC with JSON
// bodies (conductors to agents), versioned notifications in the shape of
// oslo.messaging, and durable work queues on JetStream for long tasks that
// must survive a restart.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options for Open.
type Options struct {
	URL     string       // external server, e.g. "nats://10.0.0.1:4222"; "" starts an embedded server
	DataDir string       // embedded server: JetStream store directory (DATA/nats); "" keeps work in memory (tests)
	Log     *slog.Logger // nil discards
	Name    string       // client connection name shown by the server; "" is "nimbus"
	// Listen is the embedded server's client address, host:port, so that
	// processes of a split deployment can join it (`--bus nats://host:port`);
	// "" is a random port on 127.0.0.1.
	Listen string
}

// Limits of the embedded server. Idle memory of the whole cloud matters more
// than throughput, so JetStream gets small, explicit ceilings instead of a
// share of the machine.
const (
	embeddedMaxMemory = 64 << 20 // JetStream memory storage
	embeddedMaxStore  = 1 << 30  // JetStream file storage under DataDir
	startTimeout      = 10 * time.Second
	drainTimeout      = 10 * time.Second
)

// ErrClosed is returned by methods called after Close.
var ErrClosed = errors.New("bus closed")

// Bus is a connection to NATS and, when embedded, the server itself.
type Bus struct {
	nc      *nats.Conn
	srv     *server.Server // nil when external
	tmpDir  string         // embedded without DataDir: JetStream's private scratch dir
	url     string
	log     *slog.Logger
	storage jetstream.StorageType
	js      jetstream.JetStream
	closed  chan struct{} // closed by the conn's ClosedHandler

	mu     sync.Mutex
	stops  map[uint64]func() // running Serve, Subscribe and Work, stopped by Close
	nextID uint64
	done   bool

	streamMu sync.Mutex
	stream   bool // the WORK stream is known to exist
}

// Open connects to the bus, starting an embedded server when o.URL is "".
// The embedded server listens on o.Listen, else on 127.0.0.1 on a random
// port (see ClientURL), and this process talks to it in memory.
func Open(ctx context.Context, o Options) (*Bus, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := o.Name
	if name == "" {
		name = "nimbus"
	}
	b := &Bus{
		log:     log,
		url:     o.URL,
		storage: jetstream.FileStorage,
		closed:  make(chan struct{}),
		stops:   map[uint64]func(){},
	}
	copts := []nats.Option{
		nats.Name(name),
		nats.DrainTimeout(drainTimeout),
		nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("bus reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("bus error", "subject", subj, "err", err)
		}),
	}
	if d, ok := ctx.Deadline(); ok {
		copts = append(copts, nats.Timeout(time.Until(d)))
	}

	if o.URL == "" {
		if err := b.startServer(ctx, o.DataDir, o.Listen, name); err != nil {
			return nil, err
		}
		copts = append(copts, nats.InProcessServer(b.srv))
	}
	nc, err := nats.Connect(o.URL, copts...)
	if err != nil {
		b.stopServer()
		return nil, fmt.Errorf("connect to bus %s: %w", b.ClientURL(), err)
	}
	b.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		b.stopServer()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	b.js = js
	return b, nil
}

func (b *Bus) startServer(ctx context.Context, dataDir, listen, name string) error {
	host, port := "127.0.0.1", server.RANDOM_PORT
	if listen != "" {
		h, p, err := net.SplitHostPort(listen)
		if err != nil {
			return fmt.Errorf("embedded bus: listen address %q: %w", listen, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("embedded bus: listen address %q: bad port", listen)
		}
		if n == 0 {
			n = server.RANDOM_PORT
		}
		if h == "" {
			h = "0.0.0.0"
		}
		// The server only logs a failed listen and never becomes ready;
		// trying the address first names the problem at once.
		if n != server.RANDOM_PORT {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(n)))
			if err != nil {
				return fmt.Errorf("embedded bus: %w", err)
			}
			ln.Close()
		}
		host, port = h, n
	}
	dir := dataDir
	if dir == "" {
		// JetStream needs a store directory even when every stream lives in
		// memory; a private one keeps parallel tests apart.
		tmp, err := os.MkdirTemp("", "nimbus-nats-")
		if err != nil {
			return fmt.Errorf("embedded bus: %w", err)
		}
		b.tmpDir, dir = tmp, tmp
		b.storage = jetstream.MemoryStorage
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("embedded bus: %w", err)
	}
	opts := &server.Options{
		ServerName:             name,
		Host:                   host,
		Port:                   port,
		NoSigs:                 true,
		JetStream:              true,
		StoreDir:               dir,
		JetStreamMaxMemory:     embeddedMaxMemory,
		JetStreamMaxStore:      embeddedMaxStore,
		DisableJetStreamBanner: true,
		// An enqueued task is acknowledged only once it is on disk: every
		// acknowledged write survives a crash of the machine, not just of
		// the process.
		SyncAlways: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		b.removeTmp()
		return fmt.Errorf("embedded bus: %w", err)
	}
	srv.SetLoggerV2(serverLog{b.log.With("component", "nats-server")}, b.log.Enabled(ctx, slog.LevelDebug), false, false)
	b.srv = srv

	timeout := startTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = time.Until(d)
	}
	go srv.Start()
	if !srv.ReadyForConnections(timeout) {
		b.stopServer()
		return fmt.Errorf("embedded bus: not ready after %s", timeout)
	}
	return nil
}

// Conn is the underlying connection, for patterns this package does not cover.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// ClientURL is where other processes reach this bus: the embedded server's
// listener, or the URL given to Open.
func (b *Bus) ClientURL() string {
	if b.srv != nil {
		return b.srv.ClientURL()
	}
	return b.url
}

// Close stops every Serve, Subscribe and Work started on b (letting handlers
// in flight finish), drains the connection, and shuts an embedded server
// down, waiting for it.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return nil
	}
	b.done = true
	stops := make([]func(), 0, len(b.stops))
	for _, stop := range b.stops {
		stops = append(stops, stop)
	}
	b.mu.Unlock()

	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(stop)
	}
	wg.Wait()

	var err error
	if derr := b.nc.Drain(); derr != nil {
		b.nc.Close()
		err = fmt.Errorf("drain bus connection: %w", derr)
	}
	select {
	case <-b.closed:
	case <-time.After(drainTimeout + time.Second):
		b.nc.Close()
	}
	b.stopServer()
	return err
}

func (b *Bus) stopServer() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	b.removeTmp()
}

func (b *Bus) removeTmp() {
	if b.tmpDir != "" {
		if err := os.RemoveAll(b.tmpDir); err != nil {
			b.log.Warn("remove embedded bus scratch dir", "dir", b.tmpDir, "err", err)
		}
	}
}

// register records stop so that Close calls it, and returns an idempotent
// version for the caller.
func (b *Bus) register(stop func()) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		stop()
		return nil, ErrClosed
	}
	id := b.nextID
	b.nextID++
	var once sync.Once
	wrapped := func() {
		once.Do(func() {
			stop()
			b.mu.Lock()
			delete(b.stops, id)
			b.mu.Unlock()
		})
	}
	b.stops[id] = wrapped
	return wrapped, nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// gate lets handlers in until it is shut, then waits for those inside.
type gate struct {
	mu   sync.Mutex
	shut bool
	wg   sync.WaitGroup
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.shut {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *gate) leave() { g.wg.Done() }

func (g *gate) close() {
	g.mu.Lock()
	g.shut = true
	g.mu.Unlock()
	g.wg.Wait()
}

// serverLog routes the embedded server's log to slog. Its notices (startup
// banner, listen addresses) are debug detail for a component inside Nimbus.
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Tracef(string, ...any)           {}
