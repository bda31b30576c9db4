package console

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

const uuid1 = "6f1e8a4c-1d2b-4c3d-8e9f-0a1b2c3d4e5f"

// newTokens is a token store on a fresh database with the compute
// migration that makes its table.
func newTokens(t *testing.T) *Tokens {
	t.Helper()
	sql, err := os.ReadFile("../migrations/0003_consoles.sql")
	if err != nil {
		t.Fatal(err)
	}
	d := db.OpenTest(t, fstest.MapFS{"0003_consoles.sql": {Data: sql}})
	return NewTokens(d)
}

// echo is a console that answers every byte it gets back, prefixed by a
// greeting the way a VNC server starts with its version.
func echo(t *testing.T, greeting string) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.WriteString(c, greeting)
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	a := l.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

type env struct {
	tokens *Tokens
	srv    *httptest.Server
	host   string
	port   int
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	e := &env{tokens: newTokens(t)}
	e.host, e.port = echo(t, "RFB 003.008\n")
	o.Tokens = e.tokens
	e.srv = httptest.NewServer(New(o))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) token(t *testing.T, typ string, ttl time.Duration) string {
	t.Helper()
	base := "http://" + strings.TrimPrefix(e.srv.URL, "http://") + "/vnc_lite.html"
	if typ == Serial {
		base = "ws://" + strings.TrimPrefix(e.srv.URL, "http://") + "/"
	}
	tok, err := e.tokens.Authorize(t.Context(), ConnectInfo{InstanceUUID: uuid1, ConsoleType: typ,
		Host: e.host, Port: e.port, AccessURLBase: base}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (e *env) wsURL(query string) string {
	return "ws://" + strings.TrimPrefix(e.srv.URL, "http://") + "/?" + query
}

// dial opens a websocket through the proxy; status is the HTTP status of
// a refused handshake.
func dial(t *testing.T, u string, h http.Header) (*websocket.Conn, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"binary"}, HTTPHeader: h})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		return nil, status, err
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, http.StatusSwitchingProtocols, nil
}

func read(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var got []byte
	for len(got) < len(want) {
		typ, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read after %q: %v, want %q", got, err, want)
		}
		if typ != websocket.MessageBinary {
			t.Fatalf("message type %v, want binary", typ)
		}
		got = append(got, data...)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestRelaysBothWays(t *testing.T) {
	e := newEnv(t, Options{Types: []string{NoVNC}})
	tok := e.token(t, NoVNC, 0)
	c, _, err := dial(t, e.wsURL("token="+url.QueryEscape(tok)), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if c.Subprotocol() != "binary" {
		t.Errorf("subprotocol %q, want binary", c.Subprotocol())
	}
	read(t, c, "RFB 003.008\n")
	for _, msg := range []string{"RFB 003.008\n", "\x01", strings.Repeat("x", 100000)} {
		if err := c.Write(t.Context(), websocket.MessageBinary, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		read(t, c, msg)
	}
	// A token may be used again until it expires, as Nova's.
	c2, _, err := dial(t, e.wsURL("token="+url.QueryEscape(tok)), nil)
	if err != nil {
		t.Fatalf("second dial with the same token: %v", err)
	}
	read(t, c2, "RFB 003.008\n")
}

func TestTokenInCookie(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t, NoVNC, 0)
	c, _, err := dial(t, "ws://"+strings.TrimPrefix(e.srv.URL, "http://")+"/websockify",
		http.Header{"Cookie": {"token=" + tok}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	read(t, c, "RFB 003.008\n")
}

func TestRefusesBadTokens(t *testing.T) {
	e := newEnv(t, Options{Types: []string{Serial}})
	now := time.Now()
	e.tokens.SetClock(func() time.Time { return now })
	serial := e.token(t, Serial, time.Minute)
	vnc := e.token(t, NoVNC, time.Minute)

	for name, query := range map[string]string{
		"none":           "",
		"unknown":        "token=bad" + serial,
		"other type":     "token=" + vnc,
		"empty":          "token=",
		"hash of itself": "token=" + hash(serial),
	} {
		t.Run(name, func(t *testing.T) {
			_, status, err := dial(t, e.wsURL(query), nil)
			if err == nil || status != http.StatusUnauthorized {
				t.Fatalf("dial = %v, status %d; want a refusal with 401", err, status)
			}
		})
	}
	if _, _, err := dial(t, e.wsURL("token="+serial), nil); err != nil {
		t.Fatalf("dial with the good token: %v", err)
	}
	now = now.Add(time.Minute)
	if _, status, err := dial(t, e.wsURL("token="+serial), nil); err == nil || status != http.StatusUnauthorized {
		t.Fatalf("dial with an expired token = %v, status %d; want 401", err, status)
	}
	if n, err := e.tokens.DeleteExpired(t.Context()); err != nil || n != 2 {
		t.Fatalf("DeleteExpired() = %d, %v; want 2", n, err)
	}
	// A new token takes the expired ones away with it.
	e.token(t, Serial, time.Minute)
	now = now.Add(2 * time.Minute)
	e.token(t, Serial, time.Minute)
	var n int
	if err := e.tokens.db.QueryRow(`SELECT COUNT(*) FROM console_auth_tokens`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d tokens stored (%v), want the new one only", n, err)
	}
}

// TestRefusalReadsNothing is what Tempest's test_novnc_bad_token checks
// with its own raw client: after a bad token, the connection closes
// without a byte a client could take for a frame.
func TestRefusalReadsNothing(t *testing.T) {
	e := newEnv(t, Options{})
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /?token=bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (the proxy should close the connection)", err)
	}
	head, body, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 401")) || len(body) != 0 {
		t.Fatalf("answer %q, want a 401 with nothing after the headers", all)
	}
}

func TestOrigin(t *testing.T) {
	e := newEnv(t, Options{AllowedOrigins: []string{"console.example.org"}})
	tok := e.token(t, NoVNC, 0)
	u := e.wsURL("token=" + tok)
	for _, tc := range []struct {
		origin, proto string
		ok            bool
	}{
		{"", "", true},
		{"http://127.0.0.1:1234", "", true},
		{"http://console.example.org", "", true},
		{"https://127.0.0.1", "", false}, // issued for http
		{"http://127.0.0.1", "https", false},
		{"http://evil.example.com", "", false},
		{"null", "", false},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		if tc.proto != "" {
			h.Set("X-Forwarded-Proto", tc.proto)
		}
		_, status, err := dial(t, u, h)
		if tc.ok && err != nil {
			t.Errorf("origin %q proto %q: %v, want a console", tc.origin, tc.proto, err)
		}
		if !tc.ok && (err == nil || status != http.StatusForbidden) {
			t.Errorf("origin %q proto %q: err %v status %d, want 403", tc.origin, tc.proto, err, status)
		}
	}
	// A serial token is issued for ws://: an http:// page may use it.
	serial := e.token(t, Serial, 0)
	if _, _, err := dial(t, e.wsURL("token="+serial), http.Header{"Origin": {"http://127.0.0.1"}}); err != nil {
		t.Errorf("serial console from an http page: %v", err)
	}
}

func TestConsoleGone(t *testing.T) {
	e := newEnv(t, Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	tok, err := e.tokens.Authorize(t.Context(), ConnectInfo{InstanceUUID: uuid1, ConsoleType: NoVNC,
		Host: "127.0.0.1", Port: port, AccessURLBase: "http://x/vnc_lite.html"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, status, err := dial(t, e.wsURL("token="+tok), nil); err == nil || status != http.StatusBadGateway {
		t.Fatalf("dial = %v, status %d; want 502", err, status)
	}
}

func TestConsoleClosesWebsocket(t *testing.T) {
	e := &env{tokens: newTokens(t)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = io.WriteString(c, "bye")
			c.Close()
		}
	}()
	e.srv = httptest.NewServer(New(Options{Tokens: e.tokens}))
	defer e.srv.Close()
	tok, _ := e.tokens.Authorize(t.Context(), ConnectInfo{InstanceUUID: uuid1, ConsoleType: Serial,
		Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, AccessURLBase: "ws://x/"}, 0)
	c, _, err := dial(t, e.wsURL("token="+tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	read(t, c, "bye")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, _, err = c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("read after the console closed: %v, want a normal closure", err)
	}
}

func TestInternalAccessPath(t *testing.T) {
	e := &env{tokens: newTokens(t)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		line, _ := br.ReadString('\n')
		got <- line
		_, _ = br.ReadString('\n')
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nhello")
		_, _ = io.Copy(c, br)
	}()
	e.srv = httptest.NewServer(New(Options{Tokens: e.tokens}))
	defer e.srv.Close()
	tok, _ := e.tokens.Authorize(t.Context(), ConnectInfo{InstanceUUID: uuid1, ConsoleType: Serial,
		Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, InternalAccessPath: "/console/1", AccessURLBase: "ws://x/"}, 0)
	c, _, err := dial(t, e.wsURL("token="+tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	read(t, c, "hello")
	if line := <-got; line != "CONNECT /console/1 HTTP/1.1\r\n" {
		t.Errorf("console got %q", line)
	}
}

func TestNoVNCFiles(t *testing.T) {
	dir := t.TempDir()
	page := "<html><script>noVNC</script></html>"
	if err := os.WriteFile(filepath.Join(dir, "vnc_lite.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		dir    string
		status int
		body   string
	}{
		"installed":    {dir, http.StatusOK, page},
		"missing":      {filepath.Join(dir, "nope"), http.StatusNotFound, "install Debian's novnc package"},
		"not set":      {"", http.StatusNotFound, "install Debian's novnc package"},
		"no such file": {dir, http.StatusNotFound, "404 page not found"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Options{WebDir: tc.dir})
			path := "/vnc_lite.html?path=%3Ftoken%3Dabc"
			if name == "no such file" {
				path = "/vnc.html"
			}
			res, err := http.Get(e.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status || !strings.Contains(string(data), tc.body) {
				t.Fatalf("GET %s = %d %q, want %d with %q", path, res.StatusCode, data, tc.status, tc.body)
			}
		})
	}
}

func TestAccessURL(t *testing.T) {
	for _, tc := range []struct{ typ, base, want string }{
		{NoVNC, "http://ctl:6080/vnc_lite.html", "http://ctl:6080/vnc_lite.html?path=%3Ftoken%3DT"},
		{NoVNC, "https://ctl/vnc.html?path=console", "https://ctl/vnc.html?path=console%3Ftoken%3DT"},
		{Serial, "ws://ctl:6083/", "ws://ctl:6083/?token=T"},
	} {
		if got := AccessURL(tc.typ, tc.base, "T"); got != tc.want {
			t.Errorf("AccessURL(%s, %s) = %s, want %s", tc.typ, tc.base, got, tc.want)
		}
	}
}

func TestTokensStoredHashed(t *testing.T) {
	tokens := newTokens(t)
	tok, err := tokens.Authorize(t.Context(), ConnectInfo{InstanceUUID: uuid1, ConsoleType: NoVNC,
		Host: "10.0.0.5", Port: 5900, AccessURLBase: "http://x/vnc_lite.html"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := tokens.db.QueryRow(`SELECT token_hash FROM console_auth_tokens`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, tok) || len(tok) < 20 {
		t.Fatalf("stored %q for token %q", stored, tok)
	}
	ci, err := tokens.Validate(t.Context(), tok)
	if err != nil || ci.Host != "10.0.0.5" || ci.Port != 5900 || ci.InstanceUUID != uuid1 {
		t.Fatalf("Validate() = %+v, %v", ci, err)
	}
	if until := time.Until(ci.Expires); until < 9*time.Minute || until > 10*time.Minute {
		t.Errorf("expires in %v, want 10 minutes", until)
	}
	if err := tokens.DeleteInstance(t.Context(), uuid1); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Validate(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Validate() after DeleteInstance = %v, want ErrInvalidToken", err)
	}
}

// TestDebianNoVNC serves Debian's novnc package as Tempest's test_novnc
// checks the page (HTML naming noVNC, with scripts), and its scripts.
func TestDebianNoVNC(t *testing.T) {
	if _, err := os.Stat(filepath.Join(DefaultWebDir, "vnc_lite.html")); err != nil {
		t.Skipf("Debian's novnc package is not installed: %v", err)
	}
	e := newEnv(t, Options{WebDir: DefaultWebDir})
	for path, want := range map[string][]string{
		"/vnc_lite.html?path=%3Ftoken%3Dabc": {"<html", "</html>", "noVNC", "<script"},
		"/core/rfb.js":                       {"RFB"},
	} {
		res, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, res.StatusCode)
		}
		for _, w := range want {
			if !strings.Contains(string(data), w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
	}
}

// TestTempestClient speaks as Tempest's own websocket client does
// (tempest/common/compute.py): a hand-written upgrade with the token in
// the path, no Origin, then small binary frames.
func TestTempestClient(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token(t, NoVNC, 0)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /?token="+tok+" HTTP/1.1\r\nHost: 127.0.0.1:6080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Cookie: path=%3Ftoken%3D"+tok+"\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Protocol: binary\r\n\r\n")
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read the upgrade answer: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	if !strings.HasPrefix(head.String(), "HTTP/1.1 101 Switching Protocols") ||
		!strings.Contains(strings.ToLower(head.String()), "upgrade: websocket") {
		t.Fatalf("upgrade answer %q", head.String())
	}
	frame := func() string {
		h := make([]byte, 2)
		if _, err := io.ReadFull(br, h); err != nil {
			t.Fatalf("read a frame: %v", err)
		}
		if h[0] != 0x82 || h[1]&0x80 != 0 || h[1]&127 >= 126 {
			t.Fatalf("frame header % x: want an unmasked binary frame under 126 bytes", h)
		}
		p := make([]byte, h[1]&127)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	if got := frame(); got != "RFB 003.008\n" {
		t.Fatalf("first frame %q", got)
	}
	mask := []byte{7, 2, 1, 9}
	msg := []byte("RFB 003.008\n")
	out := append([]byte{130, byte(len(msg)) | 128}, mask...)
	for i, b := range msg {
		out = append(out, b^mask[i%4])
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	if got := frame(); got != string(msg) {
		t.Fatalf("echo %q", got)
	}
}

// readEnd reads until the connection ends and says how.
func readEnd(t *testing.T, c *websocket.Conn) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("the connection is still open")
			}
			return err
		}
	}
}

func TestSessionTimeout(t *testing.T) {
	e := newEnv(t, Options{EnforceSessionTimeout: true})
	tok := e.token(t, NoVNC, 500*time.Millisecond)
	c, _, err := dial(t, e.wsURL("token="+tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	read(t, c, "RFB 003.008\n")
	start := time.Now()
	readEnd(t, c)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed %v after the token expired", d)
	}
}

func TestClose(t *testing.T) {
	e := &env{tokens: newTokens(t)}
	e.host, e.port = echo(t, "RFB 003.008\n")
	p := New(Options{Tokens: e.tokens})
	e.srv = httptest.NewServer(p)
	defer e.srv.Close()
	tok := e.token(t, NoVNC, 0)
	c, _, err := dial(t, e.wsURL("token="+tok), nil)
	if err != nil {
		t.Fatal(err)
	}
	read(t, c, "RFB 003.008\n")
	p.Close()
	readEnd(t, c)
	if _, status, err := dial(t, e.wsURL("token="+tok), nil); err == nil || status != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close = %v, status %d; want 503", err, status)
	}
}

func TestLocate(t *testing.T) {
	tokens := newTokens(t)
	host, port := echo(t, "RFB 003.008\n")
	var locate func() (string, int, error)
	srv := httptest.NewServer(New(Options{Tokens: tokens, Locate: func(ctx context.Context, ci ConnectInfo) (string, int, error) {
		if ci.InstanceUUID != uuid1 || ci.ConsoleType != NoVNC {
			t.Errorf("Locate(%+v)", ci)
		}
		return locate()
	}}))
	defer srv.Close()
	// The stored address is dead: the located one is dialled.
	tok, err := tokens.Authorize(t.Context(), ConnectInfo{InstanceUUID: uuid1, ConsoleType: NoVNC,
		Host: "127.0.0.1", Port: 1, AccessURLBase: "http://x/vnc_lite.html"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	u := "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/?token=" + tok
	locate = func() (string, int, error) { return host, port, nil }
	c, _, err := dial(t, u, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	read(t, c, "RFB 003.008\n")
	locate = func() (string, int, error) { return "", 0, fmt.Errorf("instance deleted: %w", ErrInvalidToken) }
	if _, status, err := dial(t, u, nil); err == nil || status != http.StatusUnauthorized {
		t.Errorf("console of a deleted instance: %v, status %d; want 401", err, status)
	}
	locate = func() (string, int, error) { return "", 0, errors.New("host unreachable") }
	if _, status, err := dial(t, u, nil); err == nil || status != http.StatusBadGateway {
		t.Errorf("console on an unreachable host: %v, status %d; want 502", err, status)
	}
}
