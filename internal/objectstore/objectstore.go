// Package objectstore assembles the object store: the proxy pipeline
// (Swift's WSGI pipeline as http.Handler wrappers in Swift's order) and
// the ring a new cloud starts with. The pieces live in subpackages:
// swift (shared protocol), ring, storage (a node: objserver, dbserver),
// proxy (the core and Keystone auth), middleware/* and s3.
package objectstore

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/crossdomain"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/dlo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/formpost"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/objcopy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/quota"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/staticweb"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/tempurl"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/versioning"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/s3"
)

// ProxyOptions configure the public API.
type ProxyOptions struct {
	Ring      *ring.Source
	Client    *http.Client // to storage nodes
	Validator authn.Validator
	// S3 checks S3 signatures with identity; nil turns the S3 API off.
	S3                S3Verifier
	S3Location        string
	OperatorRoles     []string
	ResellerAdminRole string
	Log               *slog.Logger
}

// S3Verifier is identity's /v3/s3tokens.
type S3Verifier = s3.Verifier

// NewProxy builds the proxy pipeline, outermost first as in Swift's
// proxy-server.conf: gatekeeper, healthcheck, crossdomain, s3api, bulk,
// tempurl, formpost, auth, staticweb, copy, container and account quotas,
// slo, dlo, versioned writes, and the core.
func NewProxy(o ProxyOptions) (http.Handler, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	info := map[string]any{}
	for name, section := range map[string]map[string]any{
		"bulk_delete": bulk.Info(), "bulk_upload": bulk.UploadInfo(),
		"tempurl": tempurl.Info(), "formpost": formpost.Info(), "staticweb": staticweb.Info(),
		"container_quotas": quota.ContainerInfo(), "account_quotas": quota.AccountInfo(),
		"slo": slo.Info(), "versioned_writes": versioning.Info(), "crossdomain": crossdomain.Info(),
	} {
		if section != nil {
			info[name] = section
		}
	}
	if o.S3 != nil {
		info["s3api"] = s3.Info()
	}
	core, err := proxy.New(proxy.Options{Ring: o.Ring, Client: o.Client, Log: o.Log, Info: info})
	if err != nil {
		return nil, fmt.Errorf("object proxy: %w", err)
	}
	var h http.Handler = core
	h = versioning.New(h)
	h = dlo.New(h)
	h = slo.New(h)
	h = quota.NewAccount(h, quota.AccountOptions{ResellerAdminRole: o.ResellerAdminRole})
	h = quota.NewContainer(h)
	h = objcopy.New(h)
	h = staticweb.New(h)
	h = proxy.Auth(h, o.Validator, proxy.AuthOptions{ResellerPrefix: "AUTH_", OperatorRoles: o.OperatorRoles,
		ResellerAdminRole: o.ResellerAdminRole, Log: o.Log})
	h = formpost.New(h)
	h = tempurl.New(h)
	h = bulk.New(h)
	if o.S3 != nil {
		h = s3.New(h, s3.Options{Verifier: o.S3, Log: o.Log, Location: o.S3Location, ResellerPrefix: "AUTH_"})
	}
	h = crossdomain.New(h)
	h = healthcheck(h)
	return front(gatekeeper(h), o.Log), nil
}

// front gives every request its transaction id before anything else runs
// (Swift's catch_errors), so that answers made by middlewares carry
// X-Trans-Id too and sub-requests share it, and logs each request.
func front(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := proxy.NewTransID(r.Header.Get("X-Trans-Id-Extra"))
		w.Header().Set("X-Trans-Id", id)
		w.Header().Set("X-Openstack-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(proxy.WithTransID(r.Context(), id)))
		log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"ms", time.Since(start).Milliseconds(), "trans_id", id)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// healthcheck answers GET /healthcheck before anything else, as Swift's
// middleware.
func healthcheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthcheck" {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "2")
			if r.Method != http.MethodHead {
				_, _ = w.Write([]byte("OK"))
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// gatekeeper keeps system metadata and backend headers internal: a client
// may neither set nor see X-{Account,Container,Object}-Sysmeta-* or
// X-Backend-* headers (Swift's gatekeeper middleware).
func gatekeeper(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name := range r.Header {
			if internalHeader(name) {
				r.Header.Del(name)
			}
		}
		next.ServeHTTP(&hidingWriter{ResponseWriter: w}, r)
	})
}

func internalHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "x-backend-") || strings.HasPrefix(n, "x-object-transient-sysmeta-") ||
		(strings.HasPrefix(n, "x-account-sysmeta-") || strings.HasPrefix(n, "x-container-sysmeta-") ||
			strings.HasPrefix(n, "x-object-sysmeta-"))
}

type hidingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *hidingWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		for name := range w.ResponseWriter.Header() {
			if internalHeader(name) {
				w.ResponseWriter.Header().Del(name)
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *hidingWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *hidingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *hidingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// NewRing makes the ring of a one-machine cloud: one device per
// directory, all on addr, each in its own zone so replicas land on
// different devices. minPartHours is 1 as in Swift's SAIO.
func NewRing(path string, addr string, devices []string, partPower uint, replicas int) error {
	b, err := ring.NewBuilder(partPower, replicas, time.Hour)
	if err != nil {
		return err
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	for i, dir := range devices {
		if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, IP: host, Port: port, Name: DeviceName(dir), Weight: 100}); err != nil {
			return fmt.Errorf("ring: add %s: %w", dir, err)
		}
	}
	if _, _, err := b.Rebalance(time.Now()); err != nil {
		return fmt.Errorf("ring: rebalance: %w", err)
	}
	if err := b.Save(strings.TrimSuffix(path, ".ring") + ".builder"); err != nil {
		return err
	}
	return b.WriteRing(path)
}
