package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func newTestRouter(t *testing.T, o Options) *httptest.Server {
	t.Helper()
	if o.Dialect == nil {
		o.Dialect = Nova
	}
	rt := NewRouter(o)
	rt.Public("GET /ok", func(w http.ResponseWriter, r *http.Request) error {
		return WriteJSON(w, 200, map[string]string{"id": RequestID(r.Context())})
	})
	rt.Public("GET /missing", func(w http.ResponseWriter, r *http.Request) error {
		return fault.NotFoundf("Instance x could not be found.")
	})
	rt.Public("GET /boom", func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("database password=hunter2 exploded")
	})
	rt.Public("GET /panic", func(w http.ResponseWriter, r *http.Request) error {
		panic("nil map")
	})
	rt.Public("POST /echo", func(w http.ResponseWriter, r *http.Request) error {
		var v struct {
			Name string `json:"name"`
		}
		if err := DecodeJSONStrict(r, &v); err != nil {
			return err
		}
		return WriteJSON(w, 200, v)
	})
	rt.Handle("GET /secret", func(w http.ResponseWriter, r *http.Request) error { return NoContent(w) })
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestErrorsUseTheDialectAndHideInternals(t *testing.T) {
	t.Parallel()
	srv := newTestRouter(t, Options{})
	cases := []struct {
		path, want string
		code       int
	}{
		{"/missing", `{"itemNotFound":{"code":404,"message":"Instance x could not be found."}}`, 404},
		{"/nowhere", `{"itemNotFound":{"code":404,"message":"The resource could not be found."}}`, 404},
		{"/boom", `{"computeFault":{"code":500,"message":"An unexpected error prevented the server from fulfilling your request."}}`, 500},
		{"/panic", `{"computeFault":{"code":500,"message":"An unexpected error prevented the server from fulfilling your request."}}`, 500},
	}
	for _, c := range cases {
		resp, body := get(t, srv.URL+c.path)
		if resp.StatusCode != c.code || body != c.want {
			t.Errorf("GET %s = %d %s, want %d %s", c.path, resp.StatusCode, body, c.code, c.want)
		}
		if resp.Header.Get(RequestIDHeader) == "" {
			t.Errorf("GET %s has no request id", c.path)
		}
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	t.Parallel()
	srv := newTestRouter(t, Options{Dialect: Keystone(func(*http.Request) string { return "http://x/v3" })})
	resp, err := http.Post(srv.URL+"/ok", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 405 || body["error"]["code"] != float64(405) || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Fatalf("POST /ok = %d %v Allow=%q", resp.StatusCode, body, resp.Header.Get("Allow"))
	}
}

func TestRequestIDIsKeptOnlyInOurForm(t *testing.T) {
	t.Parallel()
	srv := newTestRouter(t, Options{})
	req, _ := http.NewRequest("GET", srv.URL+"/ok", nil)
	good := NewRequestID()
	req.Header.Set(RequestIDHeader, good)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.Header.Get(RequestIDHeader) != good {
		t.Errorf("valid id replaced: %q", resp.Header.Get(RequestIDHeader))
	}
	req.Header.Set(RequestIDHeader, "req-<script>alert(1)</script>")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if got := resp.Header.Get(RequestIDHeader); !validRequestID(got) {
		t.Errorf("forged id kept: %q", got)
	}
}

func TestBodiesAreLimitedAndStrictlyDecoded(t *testing.T) {
	t.Parallel()
	srv := newTestRouter(t, Options{MaxBodyBytes: 64})
	post := func(body, ct string) int {
		resp, err := http.Post(srv.URL+"/echo", ct, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		body, ct string
		want     int
	}{
		{`{"name":"x"}`, "application/json", 200},
		{`{"name":"` + strings.Repeat("x", 100) + `"}`, "application/json", 413},
		{`{"name":`, "application/json", 400},
		{`{"name":"x","extra":1}`, "application/json", 400},
		{`{"name":"x"} {}`, "application/json", 400},
		{`{"name":7}`, "application/json", 400},
		{``, "application/json", 400},
		{`{"name":"x"}`, "text/plain", 400},
	}
	for _, c := range cases {
		if got := post(c.body, c.ct); got != c.want {
			t.Errorf("POST %q (%s) = %d, want %d", c.body, c.ct, got, c.want)
		}
	}
}

func TestProtectedRoutesNeedTheAuthenticator(t *testing.T) {
	t.Parallel()
	srv := newTestRouter(t, Options{Authenticate: func(r *http.Request) (context.Context, error) {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}})
	resp, _ := get(t, srv.URL+"/secret")
	if resp.StatusCode != 401 {
		t.Fatalf("GET /secret = %d, want 401", resp.StatusCode)
	}
	resp, _ = get(t, srv.URL+"/ok")
	if resp.StatusCode != 200 {
		t.Fatalf("public GET /ok = %d, want 200", resp.StatusCode)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	srv := newTestRouter(t, Options{Metrics: m, Service: "test"})
	get(t, srv.URL+"/ok")
	ms := httptest.NewServer(m.Handler())
	defer ms.Close()
	_, body := get(t, ms.URL)
	if !strings.Contains(body, `nimbus_http_requests_total{code="200",method="GET",route="/ok",service="test"} 1`) {
		t.Fatalf("metrics lack the request:\n%s", body)
	}
}
