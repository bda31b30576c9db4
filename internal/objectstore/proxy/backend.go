package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
)

// errNodeTimeout cancels a backend request whose node took longer than
// NodeTimeout to answer or to deliver the next bytes of a body.
var errNodeTimeout = errors.New("storage node timed out")

func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.DisableCompression = true
	t.DialContext = (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t}
}

// Kinds of data in the backend protocol.
const (
	kindAccount   = "account"
	kindContainer = "container"
	kindObject    = "object"
)

// backendURL is a storage node's URL for the target: names path-escaped
// segment by segment, an object name keeping its slashes.
func backendURL(dev ring.Device, kind string, part int, t target, query string) string {
	var b strings.Builder
	b.Grow(len(dev.Name) + len(t.Account) + len(t.Container) + len(t.Object) + len(query) + 48)
	b.WriteString("http://")
	b.WriteString(dev.Addr())
	b.WriteByte('/')
	b.WriteString(kind)
	b.WriteByte('/')
	b.WriteString(url.PathEscape(dev.Name))
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(part))
	b.WriteByte('/')
	b.WriteString(url.PathEscape(t.Account))
	if t.Container != "" {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(t.Container))
		if t.Object != "" {
			b.WriteByte('/')
			for i, seg := range strings.Split(t.Object, "/") {
				if i > 0 {
					b.WriteByte('/')
				}
				b.WriteString(url.PathEscape(seg))
			}
		}
	}
	if query != "" {
		b.WriteByte('?')
		b.WriteString(query)
	}
	return b.String()
}

// send makes one backend request. The response headers must come within
// NodeTimeout; each later Read of the body gets NodeTimeout too. Closing
// the body releases everything.
func (s *Server) send(ctx context.Context, method, u string, hdr http.Header, body io.Reader, length int64) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		if c, ok := body.(io.Closer); ok {
			c.Close()
		}
		cancel(err)
		return nil, err
	}
	req.Header = hdr
	if body != nil {
		req.ContentLength = length
	}
	timer := time.AfterFunc(s.nodeTimeout, func() { cancel(errNodeTimeout) })
	resp, err := s.client.Do(req)
	if !timer.Stop() && err == nil {
		err = errNodeTimeout
		resp.Body.Close()
	}
	if err != nil {
		cancel(err)
		if c := context.Cause(ctx); errors.Is(c, errNodeTimeout) {
			err = errNodeTimeout
		}
		return nil, err
	}
	resp.Body = &timedBody{rc: resp.Body, timer: timer, timeout: s.nodeTimeout, cancel: cancel}
	return resp, nil
}

// timedBody bounds each Read of a backend body by the node timeout; the
// clock only runs while a Read waits, so a slow client does not count
// against the node.
type timedBody struct {
	rc      io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	cancel  context.CancelCauseFunc
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.timeout)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	return n, err
}

func (b *timedBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(context.Canceled)
	return err
}

// drain reads what is left of a small backend body so that the connection
// can be reused, then closes it; the body is returned (up to max bytes).
func drain(resp *http.Response, max int64) []byte {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, max))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return b
}

// reply is one node's answer to a write. err is set when the node could
// not be reached; status is then 503.
type reply struct {
	status int
	header http.Header
	body   []byte
	dev    ring.Device
	err    error
}

// handoffs hands out a partition's handoff devices to the requests whose
// primary failed, each device once. They are only computed when a primary
// fails.
type handoffs struct {
	mu     sync.Mutex
	rg     *ring.Ring
	part   int
	loaded bool
	devs   []ring.Device
}

func (h *handoffs) next() (ring.Device, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.loaded {
		h.loaded = true
		h.devs = h.rg.Handoffs(h.part)
	}
	if len(h.devs) == 0 {
		return ring.Device{}, false
	}
	d := h.devs[0]
	h.devs = h.devs[1:]
	return d, true
}

// usable tells whether a write's answer settles the node: a node that
// cannot be reached, has no space or fails gives way to a handoff.
func usable(status int) bool {
	return status < 500
}

// fanout sends method to every primary of part, with hdrs[i] to the i-th
// (a failing one is replaced by the next handoff), and collects the
// answers. It returns once all answered, or PostQuorumTimeout after a
// quorum agreed; missing answers are 503s. The requests go on without
// the client: a write the client gave up on still reaches every node.
//
// release, when not nil, is called once nothing reads body any more (the
// transport may still be sending it after an answer came): the caller
// may then reuse the buffer.
func (s *Server) fanout(ctx context.Context, rg *ring.Ring, kind string, part int, method string, t target,
	query string, hdrs []http.Header, body []byte, release func()) []reply {
	ctx = context.WithoutCancel(ctx)
	primaries := rg.Primaries(part)
	n := len(primaries)
	if n == 0 {
		if release != nil {
			release()
		}
		return nil
	}
	ho := &handoffs{rg: rg, part: part}
	ch := make(chan reply, n)
	var inflight sync.WaitGroup
	inflight.Add(n)
	if release != nil {
		defer func() {
			go func() {
				inflight.Wait()
				release()
			}()
		}()
	}
	for i, dev := range primaries {
		h := hdrs[i%len(hdrs)]
		if s.limits.limited(dev) {
			if next, ok := ho.next(); ok {
				dev = next
			}
		}
		go func() {
			defer inflight.Done()
			for {
				rep := s.writeOnce(ctx, dev, kind, part, method, t, query, h, body, &inflight)
				if rep.err == nil && usable(rep.status) {
					ch <- rep
					return
				}
				next, ok := ho.next()
				if !ok {
					ch <- rep
					return
				}
				dev = next
			}
		}()
	}
	replies := make([]reply, 0, n)
	var statuses []int
	var late <-chan time.Time
	for len(replies) < n {
		select {
		case rep := <-ch:
			replies = append(replies, rep)
			statuses = append(statuses, rep.status)
			if late == nil && haveQuorum(statuses, n) && len(replies) < n {
				late = time.After(s.postQuorum)
			}
		case <-late:
			for len(replies) < n {
				replies = append(replies, reply{status: http.StatusServiceUnavailable, err: errNodeTimeout})
			}
		}
	}
	return replies
}

func (s *Server) writeOnce(ctx context.Context, dev ring.Device, kind string, part int, method string, t target,
	query string, h http.Header, body []byte, inflight *sync.WaitGroup) reply {
	var rd io.Reader
	if body != nil {
		rd = http.NoBody
		if len(body) > 0 {
			inflight.Add(1)
			rd = &sharedBody{Reader: bytes.NewReader(body), done: inflight.Done}
		}
	}
	resp, err := s.send(ctx, method, backendURL(dev, kind, part, t, query), h, rd, int64(len(body)))
	if err != nil {
		s.nodeFailed(dev, "storage node request failed", "method", method, "kind", kind, "err", err,
			"trans_id", h.Get("X-Trans-Id"))
		return reply{status: http.StatusServiceUnavailable, dev: dev, err: err}
	}
	b := drain(resp, 1<<20)
	if resp.StatusCode == http.StatusInsufficientStorage {
		s.nodeFailed(dev, "storage device full or unmounted", "kind", kind, "trans_id", h.Get("X-Trans-Id"))
	} else if resp.StatusCode >= 500 {
		s.log.Warn("storage node error", "method", method, "kind", kind, "device", dev.Name,
			"addr", dev.Addr(), "status", resp.StatusCode, "trans_id", h.Get("X-Trans-Id"))
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b, dev: dev}
}

// sharedBody sends a buffer that several requests read; Close (which the
// transport always calls, maybe after the answer) tells that this request
// is done with it.
type sharedBody struct {
	*bytes.Reader
	once sync.Once
	done func()
}

func (b *sharedBody) Close() error {
	b.once.Do(b.done)
	return nil
}

// quorum is the number of agreeing nodes a write needs.
func quorum(n int) int { return n/2 + 1 }

// haveQuorum tells whether enough answers of one class (2xx, 3xx, 4xx)
// are in to decide, as Swift's have_quorum.
func haveQuorum(statuses []int, n int) bool {
	q := quorum(n)
	if len(statuses) < q {
		return false
	}
	for _, class := range []int{100, 200, 300, 400} {
		c := 0
		for _, st := range statuses {
			if st >= class && st < class+100 {
				c++
			}
		}
		if c >= q {
			return true
		}
	}
	return false
}

// best picks the answer to give the client, as Swift's best_response:
// the highest status of the first class (2xx, 3xx, 4xx) that has a quorum
// of the n nodes. overrides maps statuses to others when no class has a
// quorum as they are (an object DELETE counts a 404 as done). ok is false
// when no class has a quorum: the client gets a 503.
func best(replies []reply, n int, overrides map[int]int) (reply, bool) {
	if r, ok := pick(replies, n, nil); ok {
		return r, true
	}
	if overrides != nil {
		return pick(replies, n, overrides)
	}
	return reply{}, false
}

func pick(replies []reply, n int, overrides map[int]int) (reply, bool) {
	q := quorum(n)
	for _, class := range []int{200, 300, 400} {
		count, bestIdx, bestStatus := 0, -1, 0
		for i, r := range replies {
			st, faked := r.status, false
			if o, ok := overrides[st]; ok {
				st, faked = o, true
			}
			if st < class || st >= class+100 {
				continue
			}
			count++
			if !faked && st > bestStatus {
				bestIdx, bestStatus = i, st
			}
		}
		if count >= q && bestIdx >= 0 {
			return replies[bestIdx], true
		}
	}
	return reply{}, false
}
