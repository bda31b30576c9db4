package versioning

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// fakeCore stands in for the proxy core until it can be composed in
// tests: containers with metadata, objects with timestamps, JSON
// listings with prefix, marker, limit and reverse, and the core's
// authorization reduced to: anonymous is 401, a caller with the role
// "reader" may not write (403).
type fakeCore struct {
	mu         sync.Mutex
	containers map[string]http.Header
	objects    map[string]fakeObject // "account/container/object"
	ticks      int64
}

type fakeObject struct {
	header http.Header
	body   string
	ts     swift.Timestamp
}

func newFakeCore() *fakeCore {
	return &fakeCore{containers: map[string]http.Header{}, objects: map[string]fakeObject{}, ticks: 170000000000000}
}

func (f *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Bodies are read before the lock and written after it: a middleware
	// streams one request's body into another.
	var body []byte
	if r.Method == http.MethodPut {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(499)
			return
		}
		body = b
	}
	rec := httptest.NewRecorder()
	f.mu.Lock()
	out := f.serve(rec, r, body)
	f.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	if out != "" {
		_, _ = io.WriteString(w, out)
	}
}

// serve answers under the lock; what it returns is the body to write.
func (f *fakeCore) serve(w http.ResponseWriter, r *http.Request, body []byte) string {
	p, err := swift.ParsePath(r.URL.Path)
	if err != nil || p.Container == "" {
		w.WriteHeader(http.StatusBadRequest)
		return ""
	}
	caller := authn.From(r.Context())
	if !swift.Authorized(r.Context()) {
		write := r.Method == http.MethodPut || r.Method == http.MethodDelete || r.Method == http.MethodPost
		switch {
		case caller == nil:
			swift.WriteStatus(w, r, http.StatusUnauthorized)
			return ""
		case write && caller.HasRole("reader"):
			swift.WriteStatus(w, r, http.StatusForbidden)
			return ""
		}
	}
	ckey := p.Account + "/" + p.Container
	if p.Object == "" {
		return f.container(w, r, ckey)
	}
	if _, ok := f.containers[ckey]; !ok {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return ""
	}
	key := ckey + "/" + p.Object
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		o, ok := f.objects[key]
		if !ok {
			swift.WriteStatus(w, r, http.StatusNotFound)
			return ""
		}
		for k, v := range o.header {
			w.Header()[k] = v
		}
		w.Header().Set("X-Timestamp", o.ts.Normal())
		w.Header().Set("Content-Length", strconv.Itoa(len(o.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			return o.body
		}
	case http.MethodPut:
		h := http.Header{"Content-Type": {"application/octet-stream"}}
		for k, v := range r.Header {
			if k == "Content-Type" || strings.HasPrefix(k, "X-Object-Meta-") || strings.HasPrefix(k, "X-Object-Sysmeta-") {
				h[k] = v
			}
			if k == "X-Timestamp" || strings.HasPrefix(k, "X-Backend-") {
				h["Bad-"+k] = v // the middleware must not send these
			}
		}
		f.ticks += 100000
		f.objects[key] = fakeObject{h, string(body), swift.Timestamp{Ticks: f.ticks}}
		w.WriteHeader(http.StatusCreated)
	case http.MethodDelete:
		if _, ok := f.objects[key]; !ok {
			swift.WriteStatus(w, r, http.StatusNotFound)
			return ""
		}
		delete(f.objects, key)
		w.WriteHeader(http.StatusNoContent)
	}
	return ""
}

func (f *fakeCore) container(w http.ResponseWriter, r *http.Request, ckey string) string {
	c, exists := f.containers[ckey]
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		if !exists {
			if r.Method == http.MethodPost {
				swift.WriteStatus(w, r, http.StatusNotFound)
				return ""
			}
			c = http.Header{}
			f.containers[ckey] = c
		}
		for k, v := range r.Header {
			if strings.HasPrefix(k, "X-Container-Meta-") || strings.HasPrefix(k, "X-Container-Sysmeta-") ||
				k == "X-Versions-Location" || k == "X-History-Location" {
				if v[0] == "" {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
		}
		for k, v := range c {
			w.Header()[k] = v
		}
		w.WriteHeader(http.StatusCreated)
		return ""
	}
	if !exists {
		swift.WriteStatus(w, r, http.StatusNotFound)
		return ""
	}
	for k, v := range c {
		w.Header()[k] = v
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusNoContent)
		return ""
	}
	q := r.URL.Query()
	var names []string
	for key := range f.objects {
		if name, ok := strings.CutPrefix(key, ckey+"/"); ok && strings.HasPrefix(name, q.Get("prefix")) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if q.Get("reverse") == "on" {
		slices.Reverse(names)
	}
	type item struct {
		Name        string `json:"name"`
		ContentType string `json:"content_type"`
		Bytes       int    `json:"bytes"`
	}
	items := []item{}
	limit, _ := strconv.Atoi(q.Get("limit"))
	for _, n := range names {
		if m := q.Get("marker"); m != "" && (q.Get("reverse") == "on" && n >= m || q.Get("reverse") != "on" && n <= m) {
			continue
		}
		if limit > 0 && len(items) == limit {
			break
		}
		items = append(items, item{n, f.objects[ckey+"/"+n].listedType(), len(f.objects[ckey+"/"+n].body)})
	}
	b, _ := json.Marshal(items)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	return string(b)
}

// listedType is the content type the listing shows, an update override
// first, as the object servers send it.
func (o fakeObject) listedType() string {
	if t := o.header.Get("X-Object-Sysmeta-Container-Update-Override-Content-Type"); t != "" {
		return t
	}
	return o.header.Get("Content-Type")
}

// versions lists the archive objects of one container, oldest first.
func (f *fakeCore) versions(ckey string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for key := range f.objects {
		if name, ok := strings.CutPrefix(key, ckey+"/"); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}
