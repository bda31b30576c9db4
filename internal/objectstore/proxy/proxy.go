// Package proxy is the object store's proxy server core: the Swift v1
// public API in front of the storage nodes (Swift's proxy controllers for
// accounts, containers, objects and /info), and Keystone authorization as
// Swift's keystoneauth does it. Middlewares (large objects, tempurl, S3,
// ...) wrap the core as http.Handlers; Auth puts the caller in the request
// context and the core decides, once it knows the container's ACLs.
//
// The core speaks the backend protocol of package swift to the storage
// nodes of the ring: writes go to every primary (a handoff stands in for a
// primary that is down) and succeed on a quorum; reads try one node after
// another and resume from the next when a body breaks off.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Version is the Swift release whose API the core follows, shown in /info.
const Version = "2.35.0"

// Options configure the core.
type Options struct {
	Ring   *ring.Source
	Client *http.Client // to storage nodes; nil = a pooled default
	Log    *slog.Logger
	// Info holds extra /info sections from middlewares (name -> object).
	// The core adds "swift" itself. It is read once, by New.
	Info map[string]any
	// NodeTimeout bounds the wait for a storage node's response headers and
	// for each read of a body (default 10s).
	NodeTimeout time.Duration
	// ContainerInfoTTL is how long account and container HEADs are cached
	// for authorization and existence checks (default 5s); the core's own
	// writes drop the entries at once.
	ContainerInfoTTL time.Duration
	// PostQuorumTimeout is how long a write waits for the remaining nodes
	// once a quorum has answered (default 500ms, Swift's post_quorum_timeout).
	PostQuorumTimeout time.Duration
}

// Server is the proxy core, an http.Handler.
type Server struct {
	ring        *ring.Source
	client      *http.Client
	log         *slog.Logger
	info        []byte // /info body, rendered once
	nodeTimeout time.Duration
	postQuorum  time.Duration
	cache       *infoCache
	userAgent   string
	limits      limiter
}

// New builds the core.
func New(o Options) (*Server, error) {
	if o.Ring == nil {
		return nil, errors.New("proxy: no ring")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Client == nil {
		o.Client = defaultClient()
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = 10 * time.Second
	}
	if o.ContainerInfoTTL <= 0 {
		o.ContainerInfoTTL = 5 * time.Second
	}
	if o.PostQuorumTimeout <= 0 {
		o.PostQuorumTimeout = 500 * time.Millisecond
	}
	info, err := renderInfo(o.Info)
	if err != nil {
		return nil, fmt.Errorf("proxy: render /info: %w", err)
	}
	return &Server{
		ring:        o.Ring,
		client:      o.Client,
		log:         o.Log,
		info:        info,
		nodeTimeout: o.NodeTimeout,
		postQuorum:  o.PostQuorumTimeout,
		cache:       newInfoCache(o.ContainerInfoTTL),
		userAgent:   "proxy-server " + strconv.Itoa(os.Getpid()),
	}, nil
}

func renderInfo(extra map[string]any) ([]byte, error) {
	sw := swift.Constraints()
	sw["version"] = Version
	sw["policies"] = []map[string]any{{"name": "Policy-0", "default": true}}
	all := make(map[string]any, len(extra)+1)
	for k, v := range extra {
		all[k] = v
	}
	all["swift"] = sw
	return json.Marshal(all)
}

// Methods allowed per level, in the order Swift's Allow header shows them.
const (
	allowAccount = "POST, GET, OPTIONS, HEAD"
	allowBelow   = "DELETE, POST, GET, PUT, OPTIONS, HEAD"
	allowInfo    = "HEAD, GET, OPTIONS"
)

// ServeHTTP answers one request of the public API.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &respWriter{ResponseWriter: rw}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p,
				"trans_id", w.Header().Get("X-Trans-Id"))
			if w.wrote {
				// Too late for a status: cut the connection so the client
				// sees a broken response rather than a short one.
				panic(http.ErrAbortHandler)
			}
			writeStatus(w, r, http.StatusInternalServerError)
		}
	}()
	id := TransID(r.Context())
	if id == "" {
		id = NewTransID(r.Header.Get("X-Trans-Id-Extra"))
		r = r.WithContext(WithTransID(r.Context(), id))
	}
	h := w.Header()
	h.Set("X-Trans-Id", id)
	h.Set("X-Openstack-Request-Id", id)

	underscoresToHyphens(r.Header)
	if r.URL.Path == "/info" {
		s.serveInfo(w, r)
		return
	}
	t, status, msg := route(r.URL.Path)
	if status != 0 {
		writeError(w, r, status, msg)
		return
	}
	if r.ContentLength < -1 {
		writeError(w, r, http.StatusBadRequest, "Invalid Content-Length")
		return
	}
	req := s.newRequest(w, r, t)
	if req.ring == nil {
		s.log.Error("no ring loaded", "trans_id", id)
		writeStatus(w, r, http.StatusServiceUnavailable)
		return
	}
	switch {
	case t.Object != "":
		s.serveObject(req)
	case t.Container != "":
		s.serveContainer(req)
	default:
		s.serveAccount(req)
	}
}

// target is the account, container and object a request names.
type target struct {
	Account, Container, Object string
}

// route splits a decoded path as Swift's proxy does, with its statuses for
// paths it refuses: 404 when there is no account segment at all, 400 for an
// unknown API version, 412 for other malformed paths and for names that are
// not UTF-8 or contain NUL.
func route(path string) (target, int, string) {
	var t target
	if !utf8.ValidString(path) || strings.IndexByte(path, 0) >= 0 {
		return t, http.StatusPreconditionFailed, "Invalid UTF8 or contains NULL"
	}
	rest, ok := strings.CutPrefix(path, "/")
	if !ok || rest == "" {
		return t, http.StatusNotFound, ""
	}
	version, rest, _ := strings.Cut(rest, "/")
	if version == "" {
		return t, http.StatusNotFound, ""
	}
	t.Account, rest, _ = strings.Cut(rest, "/")
	t.Container, t.Object, _ = strings.Cut(rest, "/")
	switch {
	case t.Account == "":
		return t, http.StatusPreconditionFailed, "Bad URL"
	case version != "v1" && version != "v1.0":
		return t, http.StatusBadRequest, ""
	case t.Container == "" && t.Object != "":
		return t, http.StatusPreconditionFailed, "Bad URL"
	}
	return t, 0, ""
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.Header().Set("Allow", allowInfo)
		writeEmpty(w, http.StatusOK)
		return
	default:
		w.Header().Set("Allow", allowInfo)
		writeStatus(w, r, http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Expose-Headers", "x-trans-id")
	}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(s.info)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(s.info)
	}
}

// request is one client request on its way through the core.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	t      target
	id     string // transaction id
	ring   *ring.Ring
	policy *authPolicy
	// owner is Swift's swift_owner: the caller may see and change the
	// owner-only headers (ACLs, temp URL keys).
	owner bool
	// authorized: a middleware already allowed the request.
	authorized bool
}

func (s *Server) newRequest(w http.ResponseWriter, r *http.Request, t target) *request {
	ctx := r.Context()
	req := &request{w: w, r: r, ctx: ctx, t: t, id: TransID(ctx), ring: s.ring.Ring(), policy: policyFrom(ctx)}
	if swift.Authorized(ctx) {
		req.authorized = true
		// A middleware's own lookups (swift.HeadInfo) see everything, as
		// Swift's get_container_info does; a client request a middleware
		// allowed (tempurl) is not the owner's.
		req.owner = swift.Source(ctx) != ""
	}
	return req
}

// respWriter remembers whether the status went out, so that a panic can
// still be answered with a 500 when it did not.
type respWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *respWriter) WriteHeader(status int) {
	if !w.wrote && status >= 200 {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *respWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *respWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// underscoresToHyphens renames headers with underscores as a WSGI server
// does for Swift: "X-Object-Meta-a_b" arrives as "X-Object-Meta-A-B".
// Tempest counts on it.
func underscoresToHyphens(h http.Header) {
	for k, v := range h {
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		delete(h, k)
		nk := http.CanonicalHeaderKey(strings.ReplaceAll(k, "_", "-"))
		h[nk] = append(h[nk], v...)
	}
}
