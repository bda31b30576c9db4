// Package bulk does many operations in one request, as Swift's bulk
// middleware: POST or DELETE with ?bulk-delete deletes the objects and
// containers the body lists, and PUT with ?extract-archive=tar|tar.gz|tar.bz2
// creates an object for each file of the archive the body streams. Each
// item is a sub-request down the pipeline carrying the caller's token (the
// middleware sits before auth), so every one is authorized as the caller.
// The answer is always a 200 whose body tells the real outcome, in the
// format the Accept header asks for.
//
// The static large object middleware deletes a manifest's segments with
// Delete.
package bulk

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Options configure the middleware; zero values are Swift's defaults.
type Options struct {
	MaxContainersPerExtraction int           // containers one archive may create (10000)
	MaxFailedExtractions       int           // failed files before an extraction stops (1000)
	MaxDeletesPerRequest       int           // names one bulk delete may list (10000)
	MaxFailedDeletes           int           // failed deletes before a bulk delete stops (1000)
	DeleteConcurrency          int           // deletes in flight at once (2)
	YieldFrequency             time.Duration // heartbeat interval of long answers (10s)
	Log                        *slog.Logger
}

// Swift's defaults.
const (
	DefaultMaxContainersPerExtraction = 10000
	DefaultMaxFailedExtractions       = 1000
	DefaultMaxDeletesPerRequest       = 10000
	DefaultMaxFailedDeletes           = 1000
	DefaultDeleteConcurrency          = 2
	DefaultYieldFrequency             = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.MaxContainersPerExtraction <= 0 {
		o.MaxContainersPerExtraction = DefaultMaxContainersPerExtraction
	}
	if o.MaxFailedExtractions <= 0 {
		o.MaxFailedExtractions = DefaultMaxFailedExtractions
	}
	if o.MaxDeletesPerRequest <= 0 {
		o.MaxDeletesPerRequest = DefaultMaxDeletesPerRequest
	}
	if o.MaxFailedDeletes <= 0 {
		o.MaxFailedDeletes = DefaultMaxFailedDeletes
	}
	if o.DeleteConcurrency <= 0 {
		o.DeleteConcurrency = DefaultDeleteConcurrency
	}
	o.DeleteConcurrency = min(o.DeleteConcurrency, 1000)
	if o.YieldFrequency <= 0 {
		o.YieldFrequency = DefaultYieldFrequency
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return o
}

// Info is the "bulk_delete" section of /info.
func Info() map[string]any {
	return map[string]any{
		"max_deletes_per_request": DefaultMaxDeletesPerRequest,
		"max_failed_deletes":      DefaultMaxFailedDeletes,
	}
}

// UploadInfo is the "bulk_upload" section of /info.
func UploadInfo() map[string]any {
	return map[string]any{
		"max_containers_per_extraction": DefaultMaxContainersPerExtraction,
		"max_failed_extractions":        DefaultMaxFailedExtractions,
	}
}

// New wraps next with bulk delete and archive extraction.
func New(next http.Handler, opts ...Options) http.Handler {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return &middleware{next: next, o: o.withDefaults()}
}

type middleware struct {
	next http.Handler
	o    Options
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if kind, ok := q["extract-archive"]; ok && r.Method == http.MethodPut {
		compress, known := archiveTypes[strings.Trim(strings.ToLower(first(kind)), ".")]
		if !known {
			swift.WriteError(w, r, http.StatusBadRequest, "Unsupported archive format")
			return
		}
		format, _ := BestMatch(r.Header.Get("Accept"), Formats)
		m.extract(w, r, compress, format)
		return
	}
	if _, ok := q["bulk-delete"]; ok && (r.Method == http.MethodPost || r.Method == http.MethodDelete) {
		format, _ := BestMatch(r.Header.Get("Accept"), Formats)
		m.bulkDelete(w, r, format)
		return
	}
	m.next.ServeHTTP(w, r)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// accountOf splits "/{version}/{account}[/...]" as Swift's split_path(2, 3):
// the version and account a bulk request works in, whatever its path says
// below them.
func accountOf(path string) (version, account string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return "", "", false
	}
	version, rest, _ = strings.Cut(rest, "/")
	account, _, _ = strings.Cut(rest, "/")
	return version, account, version != "" && account != ""
}

// hasLength reports whether the request says how long its body is: a
// Content-Length or chunked transfer (Swift answers 411 otherwise).
func hasLength(r *http.Request) bool {
	if _, ok := r.Header["Content-Length"]; ok || r.ContentLength > 0 {
		return true
	}
	for _, te := range r.TransferEncoding {
		if strings.EqualFold(te, "chunked") {
			return true
		}
	}
	return false
}

// fullDuplex lets the handler read r.Body while the answer (its
// heartbeat) is being written, and returns what the handler must defer:
// closing r.Body in its own goroutine before it returns.
//
// In full duplex, net/http leaves whatever of the body the handler did
// not read (a refused request's, the padding after an archive's end, a
// chunked body's last chunk) for after the handler. Reading that rest to
// its end then starts the connection's background read, which nothing
// stops, and the next request on the connection collides with it: the
// server panics with "invalid concurrent Body.Read call" and the client
// sees its connection reset (golang/go#68560). Closed by the handler,
// the rest is read (or, past net/http's limit, the connection marked to
// close) while the request is still in flight, and the server ends that
// background read before it reads the next request.
func fullDuplex(w http.ResponseWriter, r *http.Request) (closeBody func()) {
	_ = http.NewResponseController(w).EnableFullDuplex()
	return func() { _ = r.Body.Close() }
}

// authHeaders are the client headers carried by every sub-request: bulk
// runs before auth, which needs them to know the caller.
var authHeaders = []string{"X-Auth-Token", "X-Storage-Token", "X-Service-Token"}

func copyAuth(dst, src http.Header) {
	for _, k := range authHeaders {
		if v, ok := src[k]; ok {
			dst[k] = v
		}
	}
}

// httpError is a failure of the whole bulk request, shown as its
// Response Status and Response Body.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return Status(e.status) + ": " + e.body }
