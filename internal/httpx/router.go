// Package httpx is the HTTP kit every Nimbus API is built on: handlers that
// return errors, a router on net/http's ServeMux, JSON in and out, request
// ids, access logs, panic recovery, body limits and metrics. Each service
// picks the Dialect its OpenStack peer speaks, and every error a handler
// returns is written by that one dialect.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// HandlerFunc is an HTTP handler that may fail; the router writes the error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Authenticator checks the caller of a protected route and returns the
// request context carrying who it is, or an error (a fault, usually
// Unauthorized).
type Authenticator func(r *http.Request) (context.Context, error)

// Options configure a Router.
type Options struct {
	Dialect      Dialect       // how errors are written; required
	Log          *slog.Logger  // access and error logs; nil discards
	Authenticate Authenticator // for routes added with Handle; nil = none required
	MaxBodyBytes int64         // request body limit; 0 = 1 MiB
	Metrics      *Metrics      // nil = none
	Service      string        // label on metrics and logs
}

// Router dispatches requests to handlers and owns the request pipeline.
type Router struct {
	mux       *http.ServeMux
	opts      Options
	log       *slog.Logger
	streaming map[string]bool // patterns whose bodies are not size-limited
}

// NewRouter makes a Router.
func NewRouter(o Options) *Router {
	if o.Dialect == nil {
		panic("httpx: Options.Dialect is required")
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{mux: http.NewServeMux(), opts: o, log: log, streaming: map[string]bool{}}
}

// Handle adds a route that requires an authenticated caller.
func (rt *Router) Handle(pattern string, h HandlerFunc) {
	rt.mux.Handle(pattern, rt.wrap(h, true))
}

// Public adds a route anyone may call, such as version discovery.
func (rt *Router) Public(pattern string, h HandlerFunc) {
	rt.mux.Handle(pattern, rt.wrap(h, false))
}

// Stream adds an authenticated route whose request body is data to
// stream (an image upload), exempt from MaxBodyBytes; the handler limits
// it itself.
func (rt *Router) Stream(pattern string, h HandlerFunc) {
	rt.streaming[pattern] = true
	rt.mux.Handle(pattern, rt.wrap(h, true))
}

// Raw adds a plain http.Handler, e.g. /metrics.
func (rt *Router) Raw(pattern string, h http.Handler) { rt.mux.Handle(pattern, h) }

func (rt *Router) wrap(h HandlerFunc, protected bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if protected && rt.opts.Authenticate != nil {
			ctx, err := rt.opts.Authenticate(r)
			if err != nil {
				rt.WriteError(w, r, err)
				return
			}
			r = r.WithContext(ctx)
		}
		if err := h(w, r); err != nil {
			rt.WriteError(w, r, err)
		}
	})
}

// WriteError writes err in the router's dialect. Plain errors are logged and
// become a generic 500; faults show their message.
func (rt *Router) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fault.Error
	if !errors.As(err, &fe) {
		rt.log.ErrorContext(r.Context(), "internal error", "err", err, "request_id", RequestID(r.Context()))
		fe = &fault.Error{Kind: fault.Internal}
	} else if fe.Err != nil {
		rt.log.DebugContext(r.Context(), "request failed", "err", err, "request_id", RequestID(r.Context()))
	}
	if fe.Kind == fault.Internal {
		fe = &fault.Error{Kind: fault.Internal, Msg: "An unexpected error prevented the server from fulfilling your request."}
	}
	if lw, ok := w.(*logWriter); ok && lw.wrote {
		return // headers already sent; nothing sane to add
	}
	rt.opts.Dialect(w, r, fe.Kind.Status(), fe)
}

// ServeHTTP runs the pipeline: request id, recovery, body limit, logging,
// metrics, then the route. Unmatched paths and methods get dialect errors.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(RequestIDHeader)
	if !validRequestID(id) {
		id = NewRequestID()
	}
	ctx := context.WithValue(r.Context(), requestIDKey{}, id)
	r = r.WithContext(ctx)
	w.Header().Set(RequestIDHeader, id)
	lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
	_, pattern := rt.mux.Handler(r)
	if r.Body != nil && !rt.streaming[pattern] {
		r.Body = http.MaxBytesReader(lw, r.Body, rt.opts.MaxBodyBytes)
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			rt.log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()), "request_id", id)
			rt.WriteError(lw, r, errors.New("panic"))
		}
		d := time.Since(start)
		if rt.opts.Metrics != nil {
			rt.opts.Metrics.observe(rt.opts.Service, r.Method, routeLabel(pattern), lw.status, d)
		}
		rt.log.InfoContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "status", lw.status,
			"bytes", lw.bytes, "duration_ms", float64(d.Microseconds())/1000, "request_id", id,
			"remote", r.RemoteAddr)
	}()
	if pattern == "" {
		rt.unmatched(lw, r)
		return
	}
	rt.mux.ServeHTTP(lw, r)
}

// unmatched turns ServeMux's plain-text 404/405 into dialect errors,
// keeping its Allow header.
func (rt *Router) unmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := rt.mux.Handler(r)
	rec := &statusOnly{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	switch rec.status {
	case http.StatusMethodNotAllowed:
		rt.WriteError(w, r, fault.New(fault.MethodNotAllowed, "The method %s is not supported for this resource.", r.Method))
	default:
		rt.WriteError(w, r, fault.New(fault.NotFound, "The resource could not be found."))
	}
}

func routeLabel(pattern string) string {
	if pattern == "" {
		return "unmatched"
	}
	if _, path, ok := strings.Cut(pattern, " "); ok {
		return path
	}
	return pattern
}

// statusOnly records what ServeMux's fallback handlers would write.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(code int)        { s.status = code }

// logWriter remembers the status and size for the access log.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *logWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom keeps the connection's sendfile path for streamed downloads.
func (w *logWriter) ReadFrom(r io.Reader) (int64, error) {
	w.wrote = true
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.bytes += n
	return n, err
}

// Flush lets streaming handlers push bytes through the wrapper.
func (w *logWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		w.wrote = true
		f.Flush()
	}
}
