package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// InProcess is an http.RoundTripper that hands requests for some hosts to
// their handlers in this process, with the same requests and responses as
// over a socket but no socket: in `nimbus up` the object proxy reaches the
// storage node this way, which saves the kernel's copies of every byte
// through loopback. Other hosts go to Next.
//
// The handler runs in its own goroutine, as on a server; the response is
// returned once it has written its header, and its body streams through a
// pipe, so large bodies flow with backpressure and are never buffered. A
// handler that panics with http.ErrAbortHandler cuts the body short with
// an error, as a server cutting the connection would.
type InProcess struct {
	Next  http.RoundTripper
	Hosts map[string]http.Handler // by "host:port" as in request URLs
}

// RoundTrip implements http.RoundTripper.
func (t *InProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	h, ok := t.Hosts[req.URL.Host]
	if !ok {
		return t.Next.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	sreq := serverRequest(ctx, req)
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, body: pw, ready: make(chan struct{}), head: req.Method == http.MethodHead}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if req.Body != nil {
				req.Body.Close() // as a transport does once the request is sent
			}
		}()
		defer func() {
			if p := recover(); p != nil {
				err := io.ErrUnexpectedEOF // the connection cut, as a client sees it
				if p != http.ErrAbortHandler {
					err = errors.New("in-process handler panicked")
				}
				w.failed = w.status == 0
				w.markReady()
				pw.CloseWithError(err)
				return
			}
			w.markReady()
			pw.Close()
		}()
		h.ServeHTTP(w, sreq)
	}()
	select {
	case <-w.ready:
		if w.failed {
			cancel()
			return nil, errors.New("in-process handler aborted before answering")
		}
	case <-ctx.Done():
		pr.CloseWithError(ctx.Err())
		<-done
		cancel()
		return nil, ctx.Err()
	}
	resp := &http.Response{
		Status:     strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header.Clone(), ContentLength: -1, Request: req,
		Body: &pipeBody{r: pr, cancel: cancel},
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		resp.ContentLength = n
	}
	if req.Method == http.MethodHead || w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		resp.Body.Close()
		resp.Body = http.NoBody
	}
	return resp, nil
}

// serverRequest is req as a server's handler would see it.
func serverRequest(ctx context.Context, req *http.Request) *http.Request {
	s := req.Clone(ctx)
	s.URL = &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
	s.RequestURI = req.URL.RequestURI()
	s.Host = req.Host
	if s.Host == "" {
		s.Host = req.URL.Host
	}
	s.Proto, s.ProtoMajor, s.ProtoMinor = "HTTP/1.1", 1, 1
	s.RemoteAddr = "127.0.0.1:0"
	s.Body = req.Body
	if s.Body == nil {
		s.Body = http.NoBody
		s.ContentLength = 0
	}
	// The framing headers Go's transport would send.
	switch {
	case s.ContentLength > 0:
		s.Header.Set("Content-Length", strconv.FormatInt(s.ContentLength, 10))
	case s.ContentLength < 0:
		s.TransferEncoding = []string{"chunked"}
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		s.Header.Set("Content-Length", "0")
	}
	return s
}

// pipeResponse is the handler's ResponseWriter.
type pipeResponse struct {
	header    http.Header
	body      *io.PipeWriter
	head      bool
	status    int
	failed    bool // the handler aborted before writing a header
	readyOnce sync.Once
	ready     chan struct{} // closed once the header is written
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(code int) {
	if w.status != 0 || (code >= 100 && code < 200) {
		return // 1xx are informational; only the first final status counts
	}
	w.status = code
	w.markReady()
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.head {
		return len(p), nil
	}
	return w.body.Write(p)
}

// Flush does nothing: every Write is already handed to the reader.
func (w *pipeResponse) Flush() {}

func (w *pipeResponse) markReady() {
	w.readyOnce.Do(func() {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		close(w.ready)
	})
}

// pipeBody is the response body; closing it stops the handler's writes
// and cancels its request.
type pipeBody struct {
	r      *io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *pipeBody) Close() error {
	b.r.CloseWithError(errors.New("response body closed"))
	b.cancel()
	return nil
}
