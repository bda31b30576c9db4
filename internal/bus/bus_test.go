package bus

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// open starts an embedded bus that the test closes.
func open(t *testing.T, o Options) *Bus {
	t.Helper()
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	b, err := Open(ctx, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

type sum struct {
	A, B int
}

func serveSum(t *testing.T, b *Bus, subject string, count *atomic.Int64) {
	t.Helper()
	_, err := b.Serve(subject, func(ctx context.Context, req []byte) ([]byte, error) {
		if count != nil {
			count.Add(1)
		}
		var s sum
		if err := json.Unmarshal(req, &s); err != nil {
			return nil, err
		}
		return json.Marshal(s.A + s.B)
	})
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestCall(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})
	serveSum(t, b, "compute.host1", nil)

	var got int
	if err := b.Call(t.Context(), "compute.host1", sum{2, 3}, &got); err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got != 5 {
		t.Errorf("Call(2+3) = %d, want 5", got)
	}
}

func TestCallErrors(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})
	_, err := b.Serve("agent.fail", func(ctx context.Context, req []byte) ([]byte, error) {
		var kind string
		json.Unmarshal(req, &kind)
		switch kind {
		case "notfound":
			return nil, &fault.Error{Kind: fault.NotFound, Type: "InstanceNotFound",
				Msg: "Instance x could not be found.", Err: errors.New("secret cause")}
		case "panic":
			panic("boom")
		}
		return nil, errors.New("disk on fire")
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		req      string
		wantKind fault.Kind
		wantType string
		wantMsg  string
	}{
		{"notfound", fault.NotFound, "InstanceNotFound", "Instance x could not be found."},
		{"plain", fault.Internal, "", "disk on fire"},
		{"panic", fault.Internal, "", "panic: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.req, func(t *testing.T) {
			err := b.Call(t.Context(), "agent.fail", tt.req, nil)
			var re *RPCError
			if !errors.As(err, &re) {
				t.Fatalf("Call err = %v (%T), want *RPCError", err, err)
			}
			if re.Msg != tt.wantMsg || re.Type != tt.wantType || re.Subject != "agent.fail" {
				t.Errorf("RPCError = %+v, want Msg %q Type %q", re, tt.wantMsg, tt.wantType)
			}
			if k := fault.KindOf(err); k != tt.wantKind {
				t.Errorf("fault.KindOf = %v, want %v", k, tt.wantKind)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})
	handlerDeadline := make(chan time.Duration, 1)
	_, err := b.Serve("agent.slow", func(ctx context.Context, req []byte) ([]byte, error) {
		d, _ := ctx.Deadline()
		handlerDeadline <- time.Until(d)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = b.Call(ctx, "agent.slow", nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Call err = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Call took %s, want about 200ms", el)
	}
	if d := <-handlerDeadline; d <= 0 || d > 200*time.Millisecond {
		t.Errorf("handler deadline in %s, want the caller's (<= 200ms)", d)
	}

	err = b.Call(t.Context(), "agent.nobody", nil, nil)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("Call(no server) err = %v, want ErrNoResponders", err)
	}
}

func TestServeSharesLoad(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})
	var n1, n2 atomic.Int64
	serveSum(t, b, "compute.shared", &n1)
	serveSum(t, b, "compute.shared", &n2)

	const calls = 60
	for i := range calls {
		var got int
		if err := b.Call(t.Context(), "compute.shared", sum{i, 1}, &got); err != nil {
			t.Fatalf("Call %d: %v", i, err)
		}
		if got != i+1 {
			t.Fatalf("Call %d = %d, want %d", i, got, i+1)
		}
	}
	if n1.Load()+n2.Load() != calls || n1.Load() == 0 || n2.Load() == 0 {
		t.Errorf("servers handled %d and %d of %d requests, want each some and %d in all",
			n1.Load(), n2.Load(), calls, calls)
	}
}

func TestServeStop(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})
	stop, err := b.Serve("agent.stop", func(ctx context.Context, req []byte) ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Call(t.Context(), "agent.stop", nil, nil); err != nil {
		t.Fatalf("Call before stop: %v", err)
	}
	stop()
	stop() // idempotent
	if err := b.Call(t.Context(), "agent.stop", nil, nil); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("Call after stop err = %v, want ErrNoResponders", err)
	}
}

func TestNotify(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})

	raw, err := b.Conn().SubscribeSync("notifications.>")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan Notification, 4)
	if _, err := b.Subscribe("notifications.compute.>", func(n Notification) { got <- n }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe("notifications.image.>", func(n Notification) {
		t.Errorf("image subscriber got %+v", n)
	}); err != nil {
		t.Fatal(err)
	}

	type payload struct {
		InstanceID string `json:"instance_id"`
	}
	err = b.Notify("compute", Notification{
		EventType: "instance.create.end",
		Payload:   payload{"abc"},
	})
	if err != nil {
		t.Fatalf("Notify: %v", err)
	}

	m, err := raw.NextMsg(2 * time.Second)
	if err != nil {
		t.Fatalf("raw subscriber: %v", err)
	}
	if want := "notifications.compute.instance.create.end"; m.Subject != want {
		t.Errorf("subject = %q, want %q", m.Subject, want)
	}
	var env map[string]string
	if err := json.Unmarshal(m.Data, &env); err != nil || env["oslo.version"] != "2.0" {
		t.Errorf("envelope = %s (%v), want oslo.version 2.0", m.Data, err)
	}

	select {
	case n := <-got:
		if n.EventType != "instance.create.end" || n.PublisherID != "compute" || n.Priority != "INFO" ||
			n.MessageID == "" || time.Since(n.Timestamp) > time.Minute {
			t.Errorf("notification = %+v", n)
		}
		var p payload
		if err := n.DecodePayload(&p); err != nil || p.InstanceID != "abc" {
			t.Errorf("payload = %+v (%v), want instance_id abc", p, err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no notification")
	}

	if err := b.Notify("compute", Notification{EventType: "bad.*"}); err == nil {
		t.Error("Notify(wildcard event type) succeeded")
	}
}

func TestWorkRetriesFailure(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})
	if err := b.Enqueue(t.Context(), "build", []byte("vm1")); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	var attempts atomic.Int64
	done := make(chan string, 1)
	_, err := b.Work(t.Context(), "build", func(ctx context.Context, body []byte) error {
		if attempts.Add(1) == 1 {
			return errors.New("transient")
		}
		done <- string(body)
		return nil
	})
	if err != nil {
		t.Fatalf("Work: %v", err)
	}
	select {
	case body := <-done:
		if body != "vm1" || attempts.Load() != 2 {
			t.Errorf("processed %q after %d attempts, want vm1 after 2", body, attempts.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("task not redelivered after %d attempts", attempts.Load())
	}
	waitQueueEmpty(t, b)
}

func TestWorkPermanentFailure(t *testing.T) {
	t.Parallel()
	b := open(t, Options{})
	var attempts atomic.Int64
	if _, err := b.Work(t.Context(), "doomed", func(ctx context.Context, body []byte) error {
		attempts.Add(1)
		return Permanent(errors.New("no such flavor"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(t.Context(), "doomed", []byte("x")); err != nil {
		t.Fatal(err)
	}
	waitQueueEmpty(t, b)
	time.Sleep(3 * retryFirst)
	if n := attempts.Load(); n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
}

func TestWorkSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()

	first, err := Open(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A worker that stops before the task comes, so its consumer exists too.
	stop, err := first.Work(ctx, "resize", func(context.Context, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if err := first.Enqueue(ctx, "resize", []byte("vm2")); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := open(t, Options{DataDir: dir})
	done := make(chan string, 1)
	if _, err := second.Work(ctx, "resize", func(ctx context.Context, body []byte) error {
		done <- string(body)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-done:
		if body != "vm2" {
			t.Errorf("body = %q, want vm2", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued task lost across restart")
	}
}

func TestOpenURL(t *testing.T) {
	t.Parallel()
	server := open(t, Options{Name: "conductor"})
	if server.ClientURL() == "" {
		t.Fatal("embedded bus has no ClientURL")
	}
	agent := open(t, Options{URL: server.ClientURL(), Name: "agent"})
	if agent.ClientURL() != server.ClientURL() {
		t.Errorf("external ClientURL = %q, want %q", agent.ClientURL(), server.ClientURL())
	}

	serveSum(t, agent, "compute.remote", nil)
	var got int
	if err := server.Call(t.Context(), "compute.remote", sum{40, 2}, &got); err != nil || got != 42 {
		t.Errorf("Call across processes = %d, %v; want 42", got, err)
	}

	done := make(chan string, 1)
	if _, err := server.Work(t.Context(), "remote", func(ctx context.Context, body []byte) error {
		done <- string(body)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := agent.Enqueue(t.Context(), "remote", []byte("task")); err != nil {
		t.Fatal(err)
	}
	select {
	case body := <-done:
		if body != "task" {
			t.Errorf("body = %q, want task", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("task enqueued by the external client was not processed")
	}
}

func TestCloseStopsWorkers(t *testing.T) {
	t.Parallel()
	b, err := Open(t.Context(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	if _, err := b.Work(t.Context(), "long", func(ctx context.Context, body []byte) error {
		defer wg.Done()
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Enqueue(t.Context(), "long", nil); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if _, err := b.Serve("x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close err = %v, want ErrClosed", err)
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		attempt uint64
		want    time.Duration
	}{{0, retryFirst}, {1, retryFirst}, {2, 2 * retryFirst}, {4, 8 * retryFirst}, {100, retryMax}} {
		if got := retryDelay(tt.attempt); got != tt.want {
			t.Errorf("retryDelay(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}
}

// waitQueueEmpty waits until every task in the WORK stream has been settled.
func waitQueueEmpty(t *testing.T, b *Bus) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := b.js.Stream(t.Context(), workStream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d tasks still queued", info.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpenListen(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	server := open(t, Options{Listen: addr, Name: "nimbus-up"})
	if want := "nats://" + addr; server.ClientURL() != want {
		t.Errorf("ClientURL = %q, want %q", server.ClientURL(), want)
	}
	// Another process joins at the configured address, not a random one.
	agent := open(t, Options{URL: "nats://" + addr, Name: "agent"})
	serveSum(t, agent, "compute.node1", nil)
	var got int
	if err := server.Call(t.Context(), "compute.node1", sum{40, 2}, &got); err != nil || got != 42 {
		t.Errorf("Call to the joined agent = %d, %v; want 42", got, err)
	}

	// A taken address fails the start quickly, with the address named.
	start := time.Now()
	_, err = Open(t.Context(), Options{Listen: addr})
	if err == nil || !strings.Contains(err.Error(), "embedded bus") {
		t.Errorf("Open on a taken address: err = %v, want an embedded bus error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open on a taken address took %s", d)
	}
	for _, bad := range []string{"4222", "127.0.0.1:port", "127.0.0.1:70000"} {
		if _, err := Open(t.Context(), Options{Listen: bad}); err == nil {
			t.Errorf("Open(Listen %q) succeeded", bad)
		}
	}
}
