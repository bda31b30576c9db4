package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

const testHost = "host1"

// env is a bus with a conductor's ears on it: every update and heartbeat
// the agents send arrives on a channel.
type env struct {
	t          *testing.T
	bus        *bus.Bus
	client     rpc.Client
	dir        string
	images     *memImages
	updates    chan rpc.Update
	heartbeats chan rpc.Heartbeat
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	b, err := bus.Open(ctx, bus.Options{DataDir: filepath.Join(dir, "nats"), Log: testLog(t)})
	if err != nil {
		t.Fatalf("bus.Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	e := &env{
		t: t, bus: b, client: rpc.Client{Bus: b}, dir: dir,
		images:     newMemImages(),
		updates:    make(chan rpc.Update, 10000),
		heartbeats: make(chan rpc.Heartbeat, 1000),
	}
	if _, err := b.Work(t.Context(), rpc.UpdatesQueue, func(_ context.Context, body []byte) error {
		u, err := rpc.DecodeUpdate(body)
		if err != nil {
			t.Errorf("update: %v", err)
			return err
		}
		e.updates <- u
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(rpc.HeartbeatSubject, func(n bus.Notification) {
		hb, err := rpc.DecodeHeartbeat(n)
		if err != nil {
			t.Errorf("heartbeat: %v", err)
			return
		}
		e.heartbeats <- hb
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// options are an agent's on this env, on driver d.
func (e *env) options(d hypervisor.Driver) Options {
	return Options{
		Host:              testHost,
		Bus:               e.bus,
		Driver:            d,
		InstancesDir:      filepath.Join(e.dir, "instances"),
		ImageCacheDir:     filepath.Join(e.dir, "image-cache"),
		Images:            e.images,
		Log:               testLog(e.t),
		HeartbeatInterval: time.Hour,
	}
}

// start runs an agent until the returned stop (or the test's end) and
// returns once it serves.
func (e *env) start(o Options) (stop func()) {
	e.t.Helper()
	a, err := New(o)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				e.t.Errorf("Run did not return after its context ended")
			}
		})
	}
	e.t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.client.Call(e.t.Context(), o.Host, rpc.Request{Op: rpc.GetInfo, Instance: rpc.Instance{UUID: "probe"}})
		var re *rpc.Error
		if errors.As(err, &re) {
			return stop
		}
		select {
		case err := <-done:
			e.t.Fatalf("Run: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("agent does not serve: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call sends op for uuid, with the request changed by mods.
func (e *env) call(op rpc.Op, uuid string, mods ...func(*rpc.Request)) (rpc.Reply, error) {
	e.t.Helper()
	req := rpc.Request{Op: op, RequestID: "req-" + string(op), Instance: rpc.Instance{UUID: uuid}}
	for _, m := range mods {
		m(&req)
	}
	ctx, cancel := context.WithTimeout(e.t.Context(), 20*time.Second)
	defer cancel()
	return e.client.Call(ctx, testHost, req)
}

// mustCall is call that fails the test unless the operation succeeds
// leaving the guest in state want.
func (e *env) mustCall(op rpc.Op, uuid string, want hypervisor.PowerState, mods ...func(*rpc.Request)) rpc.Reply {
	e.t.Helper()
	rep, err := e.call(op, uuid, mods...)
	if err != nil {
		e.t.Fatalf("%s %s: %v", op, uuid, err)
	}
	if !rep.OK || rep.PowerState != want {
		e.t.Fatalf("%s %s: ok %v power_state %d, want ok and %d", op, uuid, rep.OK, rep.PowerState, want)
	}
	return rep
}

// buildReq makes a request a build of uuid from image.
func buildReq(image string) func(*rpc.Request) {
	return func(r *rpc.Request) {
		r.Instance.Name = "instance-00000001"
		r.Instance.Flavor = &rpc.Flavor{VCPUs: 1, RAM: 256, Disk: 1}
		r.Image = &rpc.Image{ID: image}
	}
}

// waitUpdate returns the first update (skipping others) that match
// accepts, failing the test after a few seconds.
func (e *env) waitUpdate(what string, match func(rpc.Update) bool) rpc.Update {
	e.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case u := <-e.updates:
			if match(u) {
				return u
			}
		case <-timeout:
			e.t.Fatalf("no update: %s", what)
		}
	}
}

// noUpdate fails the test if an update matching match arrives within d.
func (e *env) noUpdate(d time.Duration, what string, match func(rpc.Update) bool) {
	e.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case u := <-e.updates:
			if match(u) {
				e.t.Fatalf("unexpected update (%s): %+v", what, u)
			}
		case <-timeout:
			return
		}
	}
}

func taskDone(uuid string, op rpc.Op) func(rpc.Update) bool {
	return func(u rpc.Update) bool { return u.UUID == uuid && u.Event == rpc.EventTask && u.Task == op }
}

// memImages is an image service in memory that counts downloads and can
// hold them until released.
type memImages struct {
	mu      sync.Mutex
	data    map[string][]byte
	formats map[string]string
	fetches map[string]int
	hold    chan struct{} // when not nil, Fetch waits for it to close
	started chan string   // when not nil, Fetch says which image it starts
}

func newMemImages() *memImages {
	m := &memImages{data: map[string][]byte{}, formats: map[string]string{}, fetches: map[string]int{}}
	m.add("cirros", "raw", rawImage(64<<10))
	return m
}

func (m *memImages) add(id, format string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[id], m.formats[id] = data, format
}

func (m *memImages) count(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetches[id]
}

func (m *memImages) Fetch(ctx context.Context, id string, w io.Writer) (string, error) {
	m.mu.Lock()
	data, ok := m.data[id]
	format := m.formats[id]
	m.fetches[id]++
	hold, started := m.hold, m.started
	m.mu.Unlock()
	if started != nil {
		started <- id
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if !ok {
		return "", fmt.Errorf("image %s: %w", id, ErrImageNotFound)
	}
	_, err := w.Write(data)
	return format, err
}

// rawImage is a raw disk image of n bytes.
func rawImage(n int) []byte {
	b := make([]byte, n)
	copy(b, "nimbus test disk")
	return b
}
