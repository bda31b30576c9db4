package qemu

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// subscriber is one Events channel. in is drained at once into a queue
// without bound, so that a slow reader never stalls the watchers.
type subscriber struct {
	in   chan hypervisor.Event
	done chan struct{}
}

// Events reports the power state changes nobody asked the driver for: a
// guest that shut itself down, a QEMU that was killed or died (Shutdown),
// a guest paused by QEMU itself (an I/O error) or resumed behind the
// driver's back. The channel closes when ctx ends.
func (d *Driver) Events(ctx context.Context) <-chan hypervisor.Event {
	s := &subscriber{in: make(chan hypervisor.Event, 16), done: make(chan struct{})}
	out := make(chan hypervisor.Event)
	d.mu.Lock()
	d.subs[s] = struct{}{}
	d.mu.Unlock()
	go func() {
		defer close(out)
		defer func() {
			d.mu.Lock()
			delete(d.subs, s)
			d.mu.Unlock()
			close(s.done)
		}()
		var queue []hypervisor.Event
		for {
			var send chan hypervisor.Event
			var next hypervisor.Event
			if len(queue) > 0 {
				send, next = out, queue[0]
			}
			select {
			case <-ctx.Done():
				return
			case e := <-s.in:
				queue = append(queue, e)
			case send <- next:
				queue = queue[1:]
			}
		}
	}()
	return out
}

func (d *Driver) publish(e hypervisor.Event) {
	d.log.Info("guest changed state by itself", "uuid", e.UUID, "state", e.State)
	d.mu.Lock()
	subs := make([]*subscriber, 0, len(d.subs))
	for s := range d.subs {
		subs = append(subs, s)
	}
	d.mu.Unlock()
	for _, s := range subs {
		select {
		case s.in <- e:
		case <-s.done:
		}
	}
}
