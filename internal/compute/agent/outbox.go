package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// outbox sends updates to the conductors' queue in the order they were
// made, retrying while the bus is away, so that reporting never holds up
// an operation on a guest.
type outbox struct {
	bus        *bus.Bus
	log        *slog.Logger
	host, boot string

	mu      sync.Mutex
	seq     uint64
	queue   [][]byte
	wake    chan struct{} // capacity 1: "the queue has something"
	closing bool
}

func newOutbox(b *bus.Bus, log *slog.Logger, host, boot string) *outbox {
	return &outbox{bus: b, log: log, host: host, boot: boot, wake: make(chan struct{}, 1)}
}

// add queues u, filling in who sent it and when.
func (o *outbox) add(u rpc.Update) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	u.V, u.Host, u.Boot, u.Seq, u.At = rpc.Version, o.host, o.boot, o.seq, time.Now().UTC()
	b, err := json.Marshal(u)
	if err != nil {
		o.log.Error("encode update", "uuid", u.UUID, "err", err)
		return
	}
	o.queue = append(o.queue, b)
	if n := len(o.queue); n%1000 == 0 {
		o.log.Warn("updates waiting for the bus", "count", n)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// close makes run return once the queue is empty.
func (o *outbox) close() {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run sends until close was called and the queue is empty, or ctx is
// done (updates still queued are then lost, and logged).
func (o *outbox) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		o.mu.Lock()
		var next []byte
		if len(o.queue) > 0 {
			next = o.queue[0]
		}
		closing := o.closing
		o.mu.Unlock()
		if next == nil {
			if closing {
				return
			}
			select {
			case <-o.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		err := o.bus.Enqueue(ctx, rpc.UpdatesQueue, next)
		if err == nil {
			o.mu.Lock()
			o.queue = o.queue[1:]
			o.mu.Unlock()
			backoff = 100 * time.Millisecond
			continue
		}
		if errors.Is(err, bus.ErrClosed) || ctx.Err() != nil {
			o.mu.Lock()
			lost := len(o.queue)
			o.mu.Unlock()
			o.log.Error("updates not sent", "count", lost, "err", err)
			return
		}
		o.log.Warn("send update, will retry", "retry_in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
