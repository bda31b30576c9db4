package fake

import (
	"context"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// subscriber queues events for one Events channel without bound, so that
// Crash never waits on a slow reader while holding the driver's lock.
type subscriber struct {
	mu    sync.Mutex
	queue []hypervisor.Event
	wake  chan struct{} // capacity 1: "the queue has something"
}

// Events reports guests that Crash killed, until ctx is done; then the
// channel is closed. Each call has its own channel and one goroutine.
func (d *Driver) Events(ctx context.Context) <-chan hypervisor.Event {
	out := make(chan hypervisor.Event)
	s := &subscriber{wake: make(chan struct{}, 1)}
	d.mu.Lock()
	d.subs[s] = struct{}{}
	d.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			d.mu.Lock()
			delete(d.subs, s)
			d.mu.Unlock()
		}()
		for {
			s.mu.Lock()
			queue := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, ev := range queue {
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-s.wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// publish queues ev for every subscriber; d.mu is held.
func (d *Driver) publish(ev hypervisor.Event) {
	for s := range d.subs {
		s.mu.Lock()
		s.queue = append(s.queue, ev)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}
