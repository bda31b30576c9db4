// Package s3 is the object store's S3 API, Swift's s3api idea: a middleware
// near the front of the proxy pipeline that takes requests signed the AWS
// way (SigV4 header or presigned URL, SigV2), checks the signature with
// identity's EC2 credentials, and serves them from the same accounts,
// containers and objects as the Swift API: a bucket is a container of the
// project's account AUTH_<project>, an object an object, a multipart upload
// a Static Large Object whose parts live in "<bucket>+segments". Each S3
// call becomes Swift sub-requests down the rest of the pipeline, as the
// authenticated user, so Swift's ACLs, quotas, SLO, copy and versioning
// apply unchanged. Requests that are not S3's pass through untouched.
package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Verifier checks an S3 signature: whether signature is the HMAC the secret
// of the EC2 credential named by access gives over stringToSign, and whom
// the credential acts as. Errors: fault NotFound for an unknown access key,
// Unauthorized for a wrong signature, Unavailable when it cannot tell.
// identity.Service (in-process) and authn.Remote (over /v3/s3tokens) are
// Verifiers.
type Verifier interface {
	VerifyS3(ctx context.Context, access, stringToSign, signature string) (*authn.Principal, error)
}

// Options configure the S3 API.
type Options struct {
	Verifier Verifier
	Log      *slog.Logger
	// Location is the region: what GetBucketLocation answers and what
	// SigV4 scopes must name; "us-east-1" by default, as s3api's.
	Location string
	// ResellerPrefix makes a project's account name; "AUTH_" by default.
	ResellerPrefix string
}

// Limits of the API, s3api's defaults; the parts limit is Swift's SLO
// segment limit.
const (
	maxBucketListing = 1000
	maxPartsListing  = 1000
	maxUploadParts   = swift.MaxManifestSegments
	maxMultiDelete   = 1000
	minPartSize      = 5 << 20
	segmentsSuffix   = "+segments"
	s3NS             = "http://s3.amazonaws.com/doc/2006-03-01/"
)

// Info is the "s3api" section of /info.
func Info() map[string]any {
	return map[string]any{
		"max_bucket_listing":       maxBucketListing,
		"max_parts_listing":        maxPartsListing,
		"max_upload_part_num":      maxUploadParts,
		"max_multi_delete_objects": maxMultiDelete,
		"allow_multipart_uploads":  true,
		"min_segment_size":         minPartSize,
		"s3_acl":                   false,
	}
}

type handler struct {
	next http.Handler
	o    Options
	now  func() time.Time
}

// New puts the S3 API in front of next, the rest of the Swift pipeline.
func New(next http.Handler, o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Location == "" {
		o.Location = "us-east-1"
	}
	if o.ResellerPrefix == "" {
		o.ResellerPrefix = "AUTH_"
	}
	return &handler{next: next, o: o, now: time.Now}
}

// request is one S3 call being served.
type request struct {
	r       *http.Request // with the principal in its context
	w       *trackingWriter
	id      string
	q       url.Values
	bucket  string
	key     string
	p       *authn.Principal
	sig     *signed
	account string
	log     *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !isS3(r) {
		if isContainerGET(r) {
			h.serveListing(w, r)
			return
		}
		h.next.ServeHTTP(w, r)
		return
	}
	// S3's request id is Swift's transaction id when the front of the
	// pipeline gave one, so logs and X-Trans-Id agree.
	id := proxy.TransID(r.Context())
	if id == "" {
		id = newRequestID()
	}
	req := &request{w: &trackingWriter{ResponseWriter: w}, id: id, r: r}
	req.log = h.o.Log.With("request_id", req.id)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			req.log.Error("s3: panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			if !req.w.wrote {
				writeError(req.w, r, req.id, errInternal)
			}
		}
	}()
	if err := h.serve(req); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			req.log.Error("s3: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			e = errInternal
		}
		if req.w.wrote {
			// Too late for an error body: cut the response short so the
			// client sees it fail.
			panic(http.ErrAbortHandler)
		}
		writeError(req.w, r, req.id, e)
	}
}

func (h *handler) serve(req *request) error {
	r := req.r
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errInvalidURI
	}
	req.q = q
	sig, e := h.authenticate(r.Context(), r, q)
	if e != nil {
		return e
	}
	req.sig, req.p = sig, sig.p
	req.account = h.o.ResellerPrefix + sig.p.ProjectID
	// Sub-requests act as this principal; a token sent alongside is ignored.
	ctx := authn.With(r.Context(), sig.p)
	req.r = r.WithContext(ctx)
	req.r.Header.Del(authn.HeaderAuthToken)
	req.w.Header().Set("x-amz-request-id", req.id)
	req.w.Header().Set("x-amz-id-2", req.id)
	if e := req.parsePath(); e != nil {
		return e
	}
	return h.route(req)
}

// parsePath splits the path-style "/bucket/key".
func (req *request) parsePath() *Error {
	p := strings.TrimPrefix(pathOf(req.r), "/")
	req.bucket, req.key, _ = strings.Cut(p, "/")
	if req.bucket == "" {
		if req.key != "" {
			return errInvalidURI
		}
		return nil
	}
	if !validBucketName(req.bucket, false) {
		return errInvalidBucketName.with("BucketName", req.bucket)
	}
	if !utf8.ValidString(req.key) || strings.ContainsRune(req.key, 0) {
		return errInvalidURI
	}
	if len(req.key) > swift.MaxObjectNameLength {
		return errKeyTooLong.with("Size", fmt.Sprint(len(req.key)), "MaxSizeAllowed", fmt.Sprint(swift.MaxObjectNameLength))
	}
	return nil
}

// owner is how S3 bodies name the caller, as s3api with Keystone does.
func (req *request) owner() string { return req.p.ProjectName + ":" + req.p.UserName }

// newRequestID is an id in Swift's transaction id form.
func newRequestID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return "tx" + hex.EncodeToString(b[:])[:21] + "-" + fmt.Sprintf("%010x", time.Now().Unix())
}

// trackingWriter remembers whether the response has started.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *trackingWriter) WriteHeader(status int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *trackingWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *trackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *trackingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		w.wrote = true
		f.Flush()
	}
}
