package swift

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The proxy is a pipeline of middlewares in front of the core, as Swift's
// WSGI pipeline. They share per-request facts through the context.

type ctxKey int

const (
	keyAuthorized ctxKey = iota
	keySource
)

// WithAuthorized marks a request as already allowed: tempurl, formpost and
// staticweb set it after their own checks, and the proxy core then skips
// its ACL and role checks (Swift's swift.authorize_override).
func WithAuthorized(ctx context.Context) context.Context {
	return context.WithValue(ctx, keyAuthorized, true)
}

// Authorized reports whether a middleware already allowed the request.
func Authorized(ctx context.Context) bool {
	v, _ := ctx.Value(keyAuthorized).(bool)
	return v
}

// WithSource names the middleware that made a sub-request (Swift's
// swift.source), for logs.
func WithSource(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, keySource, name)
}

// Source is the middleware that made this request, "" for a client's.
func Source(ctx context.Context) string {
	v, _ := ctx.Value(keySource).(string)
	return v
}

// NewSubRequest makes a request a middleware sends down the pipeline on
// behalf of r: same context (caller, deadlines), the given method and
// unescaped path, no client headers unless the caller copies them.
func NewSubRequest(r *http.Request, source, method, path string, body io.Reader) *http.Request {
	ctx := WithSource(r.Context(), source)
	u := &url.URL{Path: path}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		u.Path, u.RawQuery = path[:i], path[i+1:]
	}
	sub, _ := http.NewRequestWithContext(ctx, method, "", body)
	sub.URL = u
	sub.RequestURI = u.RequestURI()
	sub.Host = r.Host
	sub.RemoteAddr = r.RemoteAddr
	sub.Proto, sub.ProtoMajor, sub.ProtoMinor = r.Proto, r.ProtoMajor, r.ProtoMinor
	if body == nil || body == http.NoBody {
		sub.ContentLength = 0
		sub.Body = http.NoBody
	} else {
		sub.ContentLength = -1
	}
	return sub
}

// HeadInfo asks the rest of the pipeline for the headers of an account or
// container (path "/v1/a" or "/v1/a/c") as a middleware needs them, with the
// caller's checks skipped (Swift's get_container_info). Sysmeta is included:
// only the gatekeeper at the front of the pipeline hides it from clients.
func HeadInfo(next http.Handler, r *http.Request, source, path string) (int, http.Header) {
	sub := NewSubRequest(r, source, http.MethodHead, path, nil)
	sub = sub.WithContext(WithAuthorized(sub.Context()))
	resp := Do(next, sub)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}
