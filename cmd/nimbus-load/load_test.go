package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, ms(i))
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{ms(7)}, 0.99, ms(7)},
		{"median of 100", hundred, 0.50, ms(50)},
		{"p99 of 100", hundred, 0.99, ms(99)},
		{"max", hundred, 1, ms(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestParseLevels(t *testing.T) {
	got, err := parseLevels("1, 8,32")
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 8 || got[2] != 32 {
		t.Errorf("parseLevels(1, 8,32) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "x", "4,-1"} {
		if _, err := parseLevels(bad); err == nil {
			t.Errorf("parseLevels(%q) succeeded, want an error", bad)
		}
	}
}

// fakeKeystone answers the three requests the identity scenarios send, and
// checks their shape the way Keystone would.
func fakeKeystone(t *testing.T, validateStatus int) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Auth struct {
				Identity struct {
					Methods  []string `json:"methods"`
					Password *struct {
						User struct {
							Name     string `json:"name"`
							Password string `json:"password"`
						} `json:"user"`
					} `json:"password"`
					Token *struct {
						ID string `json:"id"`
					} `json:"token"`
				} `json:"identity"`
				Scope json.RawMessage `json:"scope"`
			} `json:"auth"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		id := body.Auth.Identity
		switch {
		case len(id.Methods) == 1 && id.Methods[0] == "password" && id.Password != nil &&
			id.Password.User.Password == "pw" && body.Auth.Scope != nil:
		case len(id.Methods) == 1 && id.Methods[0] == "token" && id.Token != nil &&
			strings.HasPrefix(id.Token.ID, "tok-") && body.Auth.Scope == nil && r.URL.Query().Has("nocatalog"):
		default:
			http.Error(w, "bad auth request", http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Subject-Token", "tok-"+time.Now().String())
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"token":{}}`))
		n.Add(1)
	})
	mux.HandleFunc("GET /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("X-Auth-Token"), "tok-") || !strings.HasPrefix(r.Header.Get("X-Subject-Token"), "tok-") {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(validateStatus)
		_, _ = w.Write([]byte(`{"token":{}}`))
		n.Add(1)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestIdentityAgainstFake(t *testing.T) {
	srv, n := fakeKeystone(t, http.StatusOK)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"identity", "--auth-url", srv.URL + "/v3/", "--password", "pw",
		"--concurrency", "1,4", "--duration", "50ms", "--warmup", "0"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"token validate", "token issue (token)", "token issue (password)", "req/s", "p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// 1 header + header line, 3 scenarios x 2 levels
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2+6 {
		t.Errorf("got %d lines, want 8:\n%s", len(lines), out.String())
	}
	if n.Load() < 6 {
		t.Errorf("the fake saw %d requests, want many", n.Load())
	}
}

func TestIdentityCountsErrors(t *testing.T) {
	srv, _ := fakeKeystone(t, http.StatusNotFound)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"identity", "--auth-url", srv.URL, "--password", "pw",
		"--concurrency", "2", "--duration", "30ms", "--warmup", "0", "--scenarios", "validate"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "404 Not Found") {
		t.Errorf("output does not show the error:\n%s", out.String())
	}
}

func TestIdentityBadPassword(t *testing.T) {
	srv, _ := fakeKeystone(t, http.StatusOK)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"identity", "--auth-url", srv.URL, "--password", "wrong"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "401") {
		t.Errorf("exit %d, stderr %q; want 1 and the 401", code, errOut.String())
	}
}

func TestTableAligned(t *testing.T) {
	tbl := newResultTable()
	tbl.add(result{scenario: "a", concurrency: 1, ok: 10, elapsed: time.Second, p50: time.Millisecond, p99: 20 * time.Millisecond})
	tbl.add(result{scenario: "longer name", concurrency: 32, ok: 123456, elapsed: time.Second, p50: 150 * time.Microsecond, p99: 250 * time.Millisecond, errors: 3})
	var b bytes.Buffer
	tbl.write(&b)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	for _, l := range lines[1:] {
		if len(l) != len(lines[0]) {
			t.Errorf("rows of different widths:\n%s", b.String())
			break
		}
	}
}
