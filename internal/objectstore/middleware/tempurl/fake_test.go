package tempurl

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// fakeSwift stands in for the rest of the pipeline until the real proxy
// core can be composed in tests: accounts and containers with metadata,
// objects in memory, and the one rule that matters here, that a request
// neither authorized by a middleware nor carrying a principal is 401.
type fakeSwift struct {
	mu      sync.Mutex
	meta    map[string]http.Header // "/v1/a" and "/v1/a/c"
	objects map[string]fakeObject
	last    *http.Request // the last request not made by a middleware
	lastHdr http.Header
}

type fakeObject struct {
	header http.Header
	body   string
}

func newFake() *fakeSwift {
	return &fakeSwift{meta: map[string]http.Header{}, objects: map[string]fakeObject{}}
}

func (f *fakeSwift) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if swift.Source(r.Context()) == "" {
		f.last, f.lastHdr = r, r.Header.Clone()
	}
	if !swift.Authorized(r.Context()) && authn.From(r.Context()) == nil {
		swift.WriteStatus(w, r, http.StatusUnauthorized)
		return
	}
	if m, ok := f.meta[r.URL.Path]; ok {
		for k, v := range m {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		o, ok := f.objects[r.URL.Path]
		if !ok {
			swift.WriteStatus(w, r, http.StatusNotFound)
			return
		}
		for k, v := range o.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
		w.Header().Set("Etag", "x")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, o.body)
		}
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		h := http.Header{}
		for k, v := range r.Header {
			if strings.HasPrefix(k, "X-Object-Meta-") || k == "Content-Type" {
				h[k] = v
			}
		}
		f.objects[r.URL.Path] = fakeObject{h, string(b)}
		w.WriteHeader(http.StatusCreated)
	default:
		swift.WriteStatus(w, r, http.StatusMethodNotAllowed)
	}
}
