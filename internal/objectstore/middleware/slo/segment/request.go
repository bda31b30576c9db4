package segment

import (
	"io"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// NewRequest is swift.NewSubRequest with the query apart from the path:
// object names may contain "?", which must stay in the name.
func NewRequest(r *http.Request, source, method, path, rawQuery string, body io.Reader) *http.Request {
	sub := swift.NewSubRequest(r, source, method, "/", body)
	sub.URL.Path = path
	sub.URL.RawQuery = rawQuery
	sub.RequestURI = sub.URL.RequestURI()
	return sub
}

// Drain closes a sub-request's response body.
func Drain(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
}

// ReadBody reads at most limit bytes of a response body and closes it;
// ok is false when the body is longer or breaks off.
func ReadBody(resp *http.Response, limit int64) (body []byte, ok bool) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil || int64(len(b)) > limit {
		return nil, false
	}
	return b, true
}

// Result is the answer to a sub-request made with Call.
type Result struct {
	Status int
	Header http.Header
	Body   []byte // the first bytes of the body, up to Call's limit
}

// Call runs a sub-request whose answer is small (PUT, DELETE, HEAD) in
// this goroutine, keeping its status, headers and at most limit bytes of
// body. Unlike swift.Do it returns only once the handler is done, so the
// request body (a tar member, a source object) is no longer read after.
// A panic in the handler is a 500.
func Call(next http.Handler, r *http.Request, limit int) (res Result) {
	rec := &recorder{header: http.Header{}, limit: limit}
	defer func() {
		if p := recover(); p != nil {
			res = Result{Status: http.StatusInternalServerError, Header: http.Header{}}
		}
	}()
	next.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	return Result{Status: rec.status, Header: rec.sent, Body: rec.body}
}

type recorder struct {
	header http.Header
	sent   http.Header
	status int
	body   []byte
	limit  int
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
		w.sent = w.header.Clone()
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if room := w.limit - len(w.body); room > 0 {
		w.body = append(w.body, b[:min(room, len(b))]...)
	}
	return len(b), nil
}
