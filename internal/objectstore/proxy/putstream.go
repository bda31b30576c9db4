package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// A streamed PUT sends the client's body once, chunk by chunk, to one
// connection per primary (Swift's putters). Each chunk goes to all of
// them in parallel, and the next chunk is read from the client while they
// write; a node that takes longer than NodeTimeout for a chunk is dropped,
// so one slow node never holds the others up for longer. The write
// succeeds if a quorum of nodes took the whole body.

var (
	errPutterDone   = errors.New("object server answered")
	errPutterFailed = errors.New("object server dropped")
	errClientGone   = errors.New("client disconnected")
)

// putter is one object server's PUT in progress.
type putter struct {
	dev     ring.Device
	pw      *io.PipeWriter
	cancel  context.CancelCauseFunc
	started chan struct{} // closed when the transport first reads the body
	result  chan reply    // the answer, once
	chunks  chan []byte   // to the writer goroutine
	acks    chan error    // one per chunk
	res     *reply        // set once the answer is in
	dead    bool          // no more chunks for it
	closed  bool          // chunks channel closed
	pending bool          // a chunk was sent and not yet acknowledged
}

// startSignal closes started at the first read: the connection is up and,
// with Expect: 100-continue, the object server wants the body.
type startSignal struct {
	r       *io.PipeReader
	started chan struct{}
	once    bool
}

func (s *startSignal) Read(p []byte) (int, error) {
	if !s.once {
		s.once = true
		close(s.started)
	}
	return s.r.Read(p)
}

func (s *startSignal) Close() error { return s.r.Close() }

func (s *Server) startPutter(ctx context.Context, dev ring.Device, part int, t target, hdr http.Header, length int64) *putter {
	ctx, cancel := context.WithCancelCause(ctx)
	pr, pw := io.Pipe()
	p := &putter{dev: dev, pw: pw, cancel: cancel, started: make(chan struct{}), result: make(chan reply, 1),
		chunks: make(chan []byte, 1), acks: make(chan error, 1)}
	body := &startSignal{r: pr, started: p.started}
	go func() {
		rep := reply{dev: dev}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, backendURL(dev, kindObject, part, t, ""), body)
		if err == nil {
			req.Header = hdr
			req.ContentLength = length
			var resp *http.Response
			if resp, err = s.client.Do(req); err == nil {
				rep.status, rep.header = resp.StatusCode, resp.Header
				rep.body = drain(resp, 64<<10)
			}
		}
		if err != nil {
			rep.status, rep.err = http.StatusServiceUnavailable, err
		}
		// Whatever the transport did with the body, writes to it end now.
		pr.CloseWithError(errPutterDone)
		p.result <- rep
	}()
	go func() {
		for c := range p.chunks {
			_, err := pw.Write(c)
			p.acks <- err
		}
	}()
	return p
}

// drop stops sending to p and makes its request fail.
func (p *putter) drop(err error) {
	p.dead = true
	p.pw.CloseWithError(err)
	p.cancel(err)
	p.closeChunks()
}

func (p *putter) closeChunks() {
	if !p.closed {
		p.closed = true
		close(p.chunks)
	}
}

// connect starts the PUT of slot i on its primary, moving on to handoffs
// while nodes fail before they take the body. It returns the putter, with
// res set when the node answered without wanting the body (412, 409, or a
// failure no handoff could replace).
func (s *Server) connect(ctx context.Context, dev ring.Device, ho *handoffs, part int, t target, hdr http.Header,
	length int64) *putter {
	timer := time.NewTimer(s.nodeTimeout)
	defer timer.Stop()
	for {
		p := s.startPutter(ctx, dev, part, t, hdr, length)
		timer.Reset(s.nodeTimeout)
		select {
		case <-p.started:
			return p
		case rep := <-p.result:
			p.closeChunks()
			p.dead = true
			if rep.err == nil && usable(rep.status) {
				p.res = &rep
				return p
			}
			if rep.err != nil || rep.status == http.StatusInsufficientStorage {
				s.nodeFailed(dev, "object server refused PUT", "status", rep.status, "err", rep.err,
					"trans_id", hdr.Get("X-Trans-Id"))
			} else {
				s.log.Warn("object server refused PUT", "device", dev.Name, "addr", dev.Addr(), "status", rep.status,
					"trans_id", hdr.Get("X-Trans-Id"))
			}
			next, ok := ho.next()
			if !ok {
				p.res = &rep
				return p
			}
			dev = next
		case <-timer.C:
			p.drop(errNodeTimeout)
			s.nodeFailed(dev, "object server did not take PUT", "trans_id", hdr.Get("X-Trans-Id"))
			next, ok := ho.next()
			if !ok {
				p.res = &reply{status: http.StatusServiceUnavailable, dev: dev, err: errNodeTimeout}
				return p
			}
			dev = next
		}
	}
}

// putStream runs a streamed PUT; a status other than 0 answers the client
// at once, else the replies decide.
func (s *Server) putStream(req *request, part int, hdrs []http.Header, length int64) ([]reply, int) {
	ctx := context.WithoutCancel(req.ctx)
	primaries := req.ring.Primaries(part)
	n := len(primaries)
	ho := &handoffs{rg: req.ring, part: part}
	ch := make(chan *putter, n)
	for i, dev := range primaries {
		if s.limits.limited(dev) {
			if next, ok := ho.next(); ok {
				dev = next
			}
		}
		h := hdrs[i%len(hdrs)].Clone()
		h.Set("Expect", "100-continue")
		go func() { ch <- s.connect(ctx, dev, ho, part, req.t, h, length) }()
	}
	putters := make([]*putter, 0, n)
	for range n {
		putters = append(putters, <-ch)
	}
	abort := func(err error) { s.abortPutters(putters, err) }
	star := ifNoneMatchAny(req.r.Header["If-None-Match"])
	live := 0
	for _, p := range putters {
		switch {
		case p.res != nil && star && p.res.status == http.StatusPreconditionFailed:
			abort(errPutterFailed)
			return nil, http.StatusPreconditionFailed
		case p.res != nil && p.res.status == http.StatusConflict:
			abort(errPutterFailed)
			return nil, http.StatusAccepted
		case p.res == nil:
			live++
		}
	}
	if live < quorum(n) {
		abort(errPutterFailed)
		s.log.Error("object PUT: too few object servers", "path", req.r.URL.Path, "connected", live, "need", quorum(n),
			"trans_id", req.id)
		return nil, http.StatusServiceUnavailable
	}
	if status := s.sendBody(req, putters, length, n); status != 0 {
		return nil, status
	}
	return s.collect(putters, n), 0
}

// abortPutters drops every putter still sending and waits for their
// writers to let go of the chunk they were given.
func (s *Server) abortPutters(putters []*putter, err error) {
	for _, p := range putters {
		if !p.dead {
			p.drop(err)
		}
	}
	for _, p := range putters {
		p.awaitAck()
	}
}

// awaitAck waits for the writer of a dropped putter to return from the
// chunk it was given; with the pipe closed that is at once.
func (p *putter) awaitAck() {
	if !p.pending {
		return
	}
	select {
	case <-p.acks:
	case <-time.After(time.Second):
	}
	p.pending = false
}

// sendBody copies the client's body to the live putters. On failure it
// drops them all and returns the client's status.
func (s *Server) sendBody(req *request, putters []*putter, length int64, n int) (status int) {
	bufs := [2]*[]byte{bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)}
	defer func() {
		if status != 0 {
			s.abortPutters(putters, errClientGone)
		}
		bufPool.Put(bufs[0])
		bufPool.Put(bufs[1])
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var total int64
	cur := 0
	nr, rerr := readChunk(req.r.Body, *bufs[cur])
	for {
		if rerr != nil && rerr != io.EOF {
			s.log.Info("client disconnected during PUT", "path", req.r.URL.Path, "err", rerr, "trans_id", req.id)
			return statusClientDisconnect
		}
		total += int64(nr)
		if total > swift.MaxFileSize {
			return http.StatusRequestEntityTooLarge
		}
		if length >= 0 && total > length {
			return http.StatusBadRequest
		}
		sent := false
		if nr > 0 {
			chunk := (*bufs[cur])[:nr]
			for _, p := range putters {
				if !p.dead {
					p.chunks <- chunk
					p.pending = true
				}
			}
			sent = true
		}
		last := rerr == io.EOF
		if !last {
			// Read the next chunk while the object servers take this one.
			cur ^= 1
			nr, rerr = readChunk(req.r.Body, *bufs[cur])
		}
		if sent {
			s.awaitChunk(putters, timer)
			alive := 0
			for _, p := range putters {
				if !p.dead {
					alive++
				}
			}
			if alive < quorum(n) {
				s.log.Error("object PUT: too few object servers left", "path", req.r.URL.Path, "alive", alive,
					"trans_id", req.id)
				return http.StatusServiceUnavailable
			}
		}
		if last {
			break
		}
	}
	if length >= 0 && total < length {
		s.log.Info("client disconnected during PUT", "path", req.r.URL.Path, "sent", total, "length", length,
			"trans_id", req.id)
		return statusClientDisconnect
	}
	for _, p := range putters {
		if !p.dead {
			p.closeChunks()
			p.pw.Close()
		}
	}
	return 0
}

// readChunk fills buf from r; io.EOF comes with the last bytes.
func readChunk(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}

// awaitChunk waits until every live putter took the chunk, dropping those
// that answer early (they are done) or take longer than NodeTimeout.
func (s *Server) awaitChunk(putters []*putter, timer *time.Timer) {
	timer.Reset(s.nodeTimeout)
	expired := false
	for _, p := range putters {
		if p.dead {
			continue
		}
		if expired {
			select {
			case err := <-p.acks:
				p.pending = false
				if err != nil {
					s.dropPutter(p, err)
				}
			default:
				s.dropPutter(p, errNodeTimeout)
			}
			continue
		}
		select {
		case err := <-p.acks:
			p.pending = false
			if err != nil {
				s.dropPutter(p, err)
			}
		case rep := <-p.result:
			p.res = &rep
			s.dropPutter(p, errPutterDone)
		case <-timer.C:
			expired = true
			s.dropPutter(p, errNodeTimeout)
		}
	}
	if !expired {
		timer.Stop()
	}
}

// dropPutter gives up on p mid-body and waits for its writer to let go of
// the chunk, so the buffer can be reused.
func (s *Server) dropPutter(p *putter, err error) {
	if p.res == nil {
		s.log.Warn("object server dropped during PUT", "device", p.dev.Name, "addr", p.dev.Addr(), "err", err)
	}
	p.drop(err)
	p.awaitAck()
}

// collect waits for the object servers' answers once the body is sent:
// all of them, or a quorum and then PostQuorumTimeout for the rest.
func (s *Server) collect(putters []*putter, n int) []reply {
	replies := make([]reply, 0, n)
	ch := make(chan reply, n)
	waiting := 0
	for _, p := range putters {
		switch {
		case p.res != nil:
			replies = append(replies, *p.res)
		case p.dead:
			replies = append(replies, reply{status: http.StatusServiceUnavailable, dev: p.dev, err: errPutterFailed})
		default:
			waiting++
			go func() {
				t := time.NewTimer(s.nodeTimeout)
				defer t.Stop()
				select {
				case rep := <-p.result:
					ch <- rep
				case <-t.C:
					p.cancel(errNodeTimeout)
					ch <- reply{status: http.StatusServiceUnavailable, dev: p.dev, err: errNodeTimeout}
				}
			}()
		}
	}
	var late <-chan time.Time
	for waiting > 0 {
		select {
		case rep := <-ch:
			waiting--
			replies = append(replies, rep)
			if late == nil && waiting > 0 && haveQuorum(statuses(replies), n) {
				late = time.After(s.postQuorum)
			}
		case <-late:
			for ; waiting > 0; waiting-- {
				replies = append(replies, reply{status: http.StatusServiceUnavailable, err: errNodeTimeout})
			}
		}
	}
	return replies
}
