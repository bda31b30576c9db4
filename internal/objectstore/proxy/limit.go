package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
)

// errorSuppression is how long a device that could not be reached (or
// said it has no space) is avoided: reads ask it last, writes give its
// share to a handoff when there is one. Swift's error limiting does the
// same, so that a hung node does not cost every request a timeout.
const errorSuppression = 10 * time.Second

type limiter struct {
	n     atomic.Int32 // entries in until; 0 makes checks free
	mu    sync.Mutex
	until map[string]time.Time // device key -> end of suppression
}

func devKey(d ring.Device) string { return d.Addr() + "/" + d.Name }

// limit avoids d for errorSuppression; it tells whether d was in use
// until now.
func (l *limiter) limit(d ring.Device) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until == nil {
		l.until = map[string]time.Time{}
	}
	k := devKey(d)
	now := time.Now()
	t, was := l.until[k]
	l.until[k] = now.Add(errorSuppression)
	l.n.Store(int32(len(l.until)))
	return !was || now.After(t)
}

// nodeFailed records that a device could not be used, logging it when it
// starts to be avoided (not on every request while it is down).
func (s *Server) nodeFailed(d ring.Device, msg string, args ...any) {
	args = append(args, "device", d.Name, "addr", d.Addr())
	if s.limits.limit(d) {
		s.log.Warn(msg, args...)
		return
	}
	s.log.Debug(msg, args...)
}

// limited tells whether d is being avoided.
func (l *limiter) limited(d ring.Device) bool {
	if l.n.Load() == 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := devKey(d)
	t, ok := l.until[k]
	if !ok {
		return false
	}
	if time.Now().After(t) {
		delete(l.until, k)
		l.n.Store(int32(len(l.until)))
		return false
	}
	return true
}

// order puts the avoided devices last, keeping the order otherwise.
func (l *limiter) order(devs []ring.Device) []ring.Device {
	if l.n.Load() == 0 {
		return devs
	}
	out := make([]ring.Device, 0, len(devs))
	var later []ring.Device
	for _, d := range devs {
		if l.limited(d) {
			later = append(later, d)
		} else {
			out = append(out, d)
		}
	}
	return append(out, later...)
}
