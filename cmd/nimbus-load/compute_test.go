package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNova is a compute cloud in miniature: Keystone's token with a
// catalog, Glance's image list, and servers that leave BUILD after a delay.
type fakeNova struct {
	t           *testing.T
	buildTime   time.Duration // BUILD -> ACTIVE
	failEvery   int           // every n-th server goes to ERROR (0: none)
	ignoreQuery bool          // lists ignore ?status= (a broken filter)
	markerAfter time.Duration // after ACTIVE, the console shows the line

	mu      sync.Mutex
	servers map[string]*fakeServer
	made    int
	quota   string // project whose quota was lifted
	bad     []string
}

type fakeServer struct {
	id      string
	created time.Time
	fail    bool
	drive   bool // has a config drive: the guest can print its id
}

func (f *fakeNova) status(s *fakeServer) string {
	switch {
	case time.Since(s.created) < f.buildTime:
		return "BUILD"
	case s.fail:
		return "ERROR"
	}
	return "ACTIVE"
}

func (f *fakeNova) badRequest(w http.ResponseWriter, format string, args ...any) {
	f.mu.Lock()
	f.bad = append(f.bad, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

func (f *fakeNova) live() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.servers)
}

func (f *fakeNova) start() string {
	f.servers = map[string]*fakeServer{}
	mux := http.NewServeMux()
	var base string
	mux.HandleFunc("POST /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Subject-Token", "tok-1")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token":{"project":{"id":"p1"},"catalog":[
			{"type":"compute","endpoints":[{"interface":"internal","url":"http://wrong"},{"interface":"public","url":%q}]},
			{"type":"image","endpoints":[{"interface":"public","url":%q}]}]}}`, base+"/v2.1", base)
	})
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Auth-Token") != "tok-1" {
				http.Error(w, "no token", http.StatusUnauthorized)
				return
			}
			if strings.HasPrefix(r.URL.Path, "/v2.1/") && r.Header.Get("OpenStack-API-Version") != "compute 2.37" {
				f.badRequest(w, "microversion header %q", r.Header.Get("OpenStack-API-Version"))
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /v2/images", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("status") != "active" {
			f.badRequest(w, "images without status=active")
			return
		}
		_, _ = w.Write([]byte(`{"images":[{"id":"big","name":"big","size":900},{"id":"img-1","name":"tiny","size":100}]}`))
	}))
	mux.HandleFunc("GET /v2.1/flavors/detail", auth(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"flavors":[{"id":"2","name":"m1.small","ram":2048,"vcpus":1,"disk":20},{"id":"42","name":"m1.nano","ram":128,"vcpus":1,"disk":1}]}`))
	}))
	mux.HandleFunc("PUT /v2.1/os-quota-sets/{project}", auth(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			QuotaSet map[string]int `json:"quota_set"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.QuotaSet["instances"] != -1 {
			f.badRequest(w, "quota body")
			return
		}
		f.mu.Lock()
		f.quota = r.PathValue("project")
		f.mu.Unlock()
		_, _ = w.Write([]byte(`{"quota_set":{}}`))
	}))
	mux.HandleFunc("POST /v2.1/servers", auth(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Server struct {
				Name, ImageRef, FlavorRef, Networks string
				ConfigDrive                         bool `json:"config_drive"`
			} `json:"server"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			f.badRequest(w, "create body: %v", err)
			return
		}
		s := body.Server
		if s.Name == "" || s.ImageRef != "img-1" || s.FlavorRef != "42" || s.Networks != "none" {
			f.badRequest(w, "create %+v: want the smallest image and flavor, networks none", s)
			return
		}
		f.mu.Lock()
		f.made++
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", f.made)
		f.servers[id] = &fakeServer{id: id, created: time.Now(), fail: f.failEvery > 0 && f.made%f.failEvery == 0, drive: s.ConfigDrive}
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"server":{"id":%q,"adminPass":"x"}}`, id)
	}))
	view := func(s *fakeServer, status string) map[string]any {
		v := map[string]any{"id": s.id, "status": status}
		if v["status"] == "ERROR" {
			v["fault"] = map[string]any{"message": "No valid host was found."}
		}
		return v
	}
	// list answers GET /servers (ids only) and /servers/detail.
	list := func(w http.ResponseWriter, r *http.Request, detail bool) {
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		var ids []string
		status := map[string]string{} // one answer, one moment
		for id, s := range f.servers {
			status[id] = f.status(s)
			if f.ignoreQuery || q.Get("status") == "" || q.Get("status") == status[id] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		if m := q.Get("marker"); m != "" {
			i, _ := slices.BinarySearch(ids, m)
			ids = ids[min(i+1, len(ids)):]
		}
		if limit > 0 && len(ids) > limit {
			ids = ids[:limit]
		}
		out := []map[string]any{}
		for _, id := range ids {
			if detail {
				out = append(out, view(f.servers[id], status[id]))
			} else {
				out = append(out, map[string]any{"id": id, "name": "server"})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"servers": out})
	}
	mux.HandleFunc("GET /v2.1/servers", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		list(w, r, false)
	}))
	mux.HandleFunc("GET /v2.1/servers/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.PathValue("id") == "detail" {
			list(w, r, true)
			return
		}
		s, ok := f.servers[r.PathValue("id")]
		if !ok {
			http.Error(w, `{"itemNotFound":{}}`, http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"server": view(s, f.status(s))})
	}))
	mux.HandleFunc("DELETE /v2.1/servers/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.servers[r.PathValue("id")]; !ok {
			http.Error(w, `{"itemNotFound":{}}`, http.StatusNotFound)
			return
		}
		delete(f.servers, r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /v2.1/servers/{id}/action", auth(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		s, ok := f.servers[r.PathValue("id")]
		if !ok {
			http.Error(w, `{"itemNotFound":{}}`, http.StatusNotFound)
			return
		}
		out := "SeaBIOS\nLinux version 6.1\n"
		if s.drive && time.Since(s.created) >= f.buildTime+f.markerAfter {
			out += "nimbus-guest: instance " + s.id + " key none\n"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"output": out})
	}))
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	base = srv.URL
	return srv.URL
}

func runLoad(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// resultField is NAME=value from the RESULT line that starts with prefix.
func resultField(t *testing.T, out, prefix, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^RESULT ` + prefix + `.* ` + name + `=([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s= in a RESULT %s line:\n%s", name, prefix, out)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func (f *fakeNova) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 {
		t.Errorf("the fake refused requests: %q", f.bad[:min(3, len(f.bad))])
	}
	if f.quota != "p1" {
		t.Errorf("quota lifted for %q, want the token's project p1", f.quota)
	}
}

func TestComputeScale(t *testing.T) {
	f := &fakeNova{t: t, buildTime: 30 * time.Millisecond}
	url := f.start()
	code, out, errOut := runLoad(t, "compute", "scale", "--auth-url", url, "--password", "pw",
		"--servers", "300", "--concurrency", "16", "--poll", "5ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	f.check(t)
	if got := resultField(t, out, "scale", "active"); got != 300 {
		t.Errorf("active = %v, want 300:\n%s", got, out)
	}
	// Each server took 30 ms to leave BUILD: no time may be shorter.
	if p50 := resultField(t, out, "scale", "p50_ms"); p50 < 30 || p50 > 2000 {
		t.Errorf("p50 POST->ACTIVE = %v ms, want >= 30 ms (the build time):\n%s", p50, out)
	}
	if rate := resultField(t, out, "scale", "servers_per_s"); rate <= 0 {
		t.Errorf("servers/s = %v", rate)
	}
	if n := f.live(); n != 0 {
		t.Errorf("%d servers left behind, want all deleted", n)
	}
}

func TestComputeScaleCountsErrors(t *testing.T) {
	f := &fakeNova{t: t, buildTime: 5 * time.Millisecond, failEvery: 10}
	url := f.start()
	code, out, _ := runLoad(t, "compute", "scale", "--auth-url", url, "--password", "pw",
		"--servers", "100", "--concurrency", "4", "--poll", "2ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (servers in ERROR)\n%s", code, out)
	}
	if got := resultField(t, out, "scale", "error"); got != 10 {
		t.Errorf("error = %v, want 10:\n%s", got, out)
	}
	if got := resultField(t, out, "scale", "active"); got != 90 {
		t.Errorf("active = %v, want 90:\n%s", got, out)
	}
	if !strings.Contains(out, "No valid host was found.") {
		t.Errorf("output does not show a fault:\n%s", out)
	}
	if n := f.live(); n != 0 {
		t.Errorf("%d servers left behind", n)
	}
}

func TestComputeScaleNoticesIgnoredFilter(t *testing.T) {
	f := &fakeNova{t: t, buildTime: 200 * time.Millisecond, ignoreQuery: true}
	url := f.start()
	code, out, errOut := runLoad(t, "compute", "scale", "--auth-url", url, "--password", "pw",
		"--servers", "5", "--concurrency", "1", "--poll", "1ms", "--timeout", "2s")
	if code != 1 || !strings.Contains(errOut, "status filter is not applied") {
		t.Errorf("exit %d, stderr %q; want 1 and the status filter named\n%s", code, errOut, out)
	}
}

func TestComputePost(t *testing.T) {
	f := &fakeNova{t: t, buildTime: 10 * time.Millisecond}
	url := f.start()
	code, out, errOut := runLoad(t, "compute", "post", "--auth-url", url, "--password", "pw",
		"--servers", "40", "--concurrency", "1,8", "--poll", "2ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	f.check(t)
	for _, c := range []string{"1", "8"} {
		if n := resultField(t, out, "post concurrency="+c, "servers"); n != 40 {
			t.Errorf("concurrency %s: %v servers, want 40:\n%s", c, n, out)
		}
		resultField(t, out, "post concurrency="+c, "p99_ms")
	}
	if !strings.Contains(out, "40 ACTIVE, 0 ERROR") {
		t.Errorf("output does not say the servers settled:\n%s", out)
	}
	if f.made != 80 || f.live() != 0 {
		t.Errorf("made %d servers, %d left; want 80 made, none left", f.made, f.live())
	}
}

func TestComputeActiveWithMarker(t *testing.T) {
	f := &fakeNova{t: t, buildTime: 20 * time.Millisecond, markerAfter: 30 * time.Millisecond}
	url := f.start()
	code, out, errOut := runLoad(t, "compute", "active", "--auth-url", url, "--password", "pw",
		"--servers", "3", "--warmup", "1", "--poll", "2ms", "--console-poll", "2ms", "--config-drive", "--marker", "nimbus-guest: instance {id}")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := resultField(t, out, "active", "servers"); n != 3 {
		t.Errorf("servers = %v, want 3 (the warm-up not counted)", n)
	}
	if f.made != 4 || f.live() != 0 {
		t.Errorf("made %d, %d left; want 4 made, none left", f.made, f.live())
	}
	act, mark := resultField(t, out, "active", "min_ms"), resultField(t, out, "active", "marker_min_ms")
	// The marker's time is the midpoint of a 2 ms poll: within a few ms of 50.
	if act < 20 || mark < 46 || mark > 200 {
		t.Errorf("ACTIVE after %v ms, marker after %v ms; want >= 20 and about 50:\n%s", act, mark, out)
	}
}

func TestComputeActiveError(t *testing.T) {
	f := &fakeNova{t: t, buildTime: 5 * time.Millisecond, failEvery: 1}
	url := f.start()
	code, _, errOut := runLoad(t, "compute", "active", "--auth-url", url, "--password", "pw", "--servers", "1", "--warmup", "0", "--poll", "1ms")
	if code != 1 || !strings.Contains(errOut, "went to ERROR: No valid host was found.") {
		t.Errorf("exit %d, stderr %q; want 1 and the fault", code, errOut)
	}
	if f.live() != 0 {
		t.Errorf("the server in ERROR was not deleted")
	}
}

func TestComputeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"compute"},
		{"compute", "boot"},
		{"compute", "scale", "--password", "pw", "--concurrency", "1,2"},
		{"compute", "post", "--password", "pw", "--servers", "0"},
		{"compute", "active", "--password", "pw", "extra"},
	} {
		if code, _, _ := runLoad(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestComputeActiveMarkerMissing(t *testing.T) {
	f := &fakeNova{t: t, buildTime: 5 * time.Millisecond}
	url := f.start()
	// No config drive: the guest cannot print its id.
	code, _, errOut := runLoad(t, "compute", "active", "--auth-url", url, "--password", "pw", "--servers", "1",
		"--warmup", "0", "--poll", "5ms", "--timeout", "300ms", "--marker", "nimbus-guest: instance {id}")
	if code != 1 || !strings.Contains(errOut, "no console line") || !strings.Contains(errOut, "Linux version") {
		t.Errorf("exit %d, stderr %q; want 1, the missing line and the console's tail", code, errOut)
	}
	if f.live() != 0 {
		t.Errorf("the server was not deleted")
	}
}
