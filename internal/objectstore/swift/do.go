package swift

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Do runs h for r in a goroutine and returns its response as soon as the
// handler has written its status, with the body streaming through a pipe.
// Closing the body early makes the handler's writes fail, so it stops.
// Middlewares use it to read what the rest of the pipeline answers
// (segments of a large object, a container's listing) without buffering.
func Do(h http.Handler, r *http.Request) *http.Response {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				err := fmt.Errorf("panic in sub-request %s %s: %v", r.Method, r.URL.Path, p)
				if !w.sent() {
					w.status = http.StatusInternalServerError
					w.header = http.Header{}
				}
				w.WriteHeader(w.status)
				pw.CloseWithError(err)
				return
			}
			w.WriteHeader(http.StatusOK) // no-op if already sent
			pw.Close()
		}()
		h.ServeHTTP(w, r)
	}()
	<-w.ready
	resp := &http.Response{
		Status:        fmt.Sprintf("%d %s", w.status, Title(w.status)),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sentHeader,
		Body:          pr,
		ContentLength: -1,
		Request:       r,
	}
	if r.Method == http.MethodHead {
		pr.Close()
		resp.Body = http.NoBody
	}
	return resp
}

type pipeWriter struct {
	header     http.Header
	sentHeader http.Header
	status     int
	pw         *io.PipeWriter
	once       sync.Once
	ready      chan struct{}
	done       bool
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) sent() bool { return w.done }

func (w *pipeWriter) WriteHeader(status int) {
	w.once.Do(func() {
		if w.status == 0 {
			w.status = status
		}
		w.sentHeader = w.header.Clone()
		w.done = true
		close(w.ready)
	})
}

func (w *pipeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.pw.Write(b)
}
