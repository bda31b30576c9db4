package console

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Default ports of the proxies (Nova's [vnc] novncproxy_port and
// [serial_console] serialproxy_port).
const (
	NoVNCPort  = 6080
	SerialPort = 6083
)

// DefaultWebDir is where Debian's novnc package puts noVNC.
const DefaultWebDir = "/usr/share/novnc"

// Options configure a Proxy.
type Options struct {
	// Tokens checks the tokens browsers present. Required.
	Tokens *Tokens
	// Types are the console types whose tokens this proxy takes:
	// {NoVNC} for the noVNC proxy, {Serial} for the serial proxy; empty
	// takes any.
	Types []string
	// AllowedOrigins are host names, besides the proxy's own, that a
	// browser page opening a console may come from ([console]
	// allowed_origins).
	AllowedOrigins []string
	// WebDir is the directory of noVNC's files (vnc_lite.html, vnc.html
	// and their scripts) served to browsers; "" serves none. When it is
	// missing, pages answer 404 saying to install noVNC; the websocket
	// works regardless.
	WebDir string
	// EnforceSessionTimeout closes a console's connection when its token
	// expires ([consoleauth] enforce_session_timeout).
	EnforceSessionTimeout bool
	// Locate, when set, asks the instance's host where its console
	// listens now, for every connection, and the proxy dials that
	// instead of the address stored with the token (Nova's proxy checks
	// the port with the host likewise): a VNC port freed by a deleted
	// guest may be another guest's by the time a token is used, and a
	// serial endpoint takes one connection only. An error wrapping
	// ErrInvalidToken (the instance is gone or not running) refuses the
	// websocket as a bad token does. The compute API's
	// Service.ConsoleEndpoint does it; nil dials the stored address.
	Locate func(ctx context.Context, ci ConnectInfo) (host string, port int, err error)
	// DialTimeout bounds connecting to a console; 0 is 10 seconds.
	DialTimeout time.Duration
	Log         *slog.Logger
}

// Proxy relays websockets to consoles. It is an http.Handler: a websocket
// upgrade at any path opens a console (noVNC asks for "/?token=..." or
// "/websockify" with the token in a cookie); other GETs get noVNC's files.
type Proxy struct {
	o     Options
	log   *slog.Logger
	files http.Handler
	// done ends every relay: Close. An http.Server's Shutdown leaves
	// upgraded connections alone.
	done  context.Context
	close context.CancelFunc
}

// New makes a proxy.
func New(o Options) *Proxy {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	p := &Proxy{o: o, log: o.Log}
	p.done, p.close = context.WithCancel(context.Background())
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if o.WebDir != "" {
		p.files = http.FileServer(http.Dir(o.WebDir))
	}
	return p
}

// Close ends every console connection the proxy relays; new ones are
// refused after it.
func (p *Proxy) Close() { p.close() }

// Handler returns the proxy as a handler.
func (p *Proxy) Handler() http.Handler { return p }

// ServeHTTP opens a console for a websocket, or serves noVNC's files.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isWebsocket(r) {
		p.serveConsole(w, r)
		return
	}
	p.serveFiles(w, r)
}

func isWebsocket(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		if strings.EqualFold(strings.TrimSpace(v), "websocket") {
			return true
		}
	}
	return false
}

const noNoVNC = "noVNC is not installed on this console proxy: install Debian's novnc package " +
	"(its files go to " + DefaultWebDir + ") or point the proxy's web directory at a copy of noVNC.\n"

func (p *Proxy) serveFiles(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if p.files == nil {
		http.Error(w, noNoVNC, http.StatusNotFound)
		return
	}
	if fi, err := os.Stat(p.o.WebDir); err != nil || !fi.IsDir() {
		http.Error(w, noNoVNC, http.StatusNotFound)
		return
	}
	p.files.ServeHTTP(w, r)
}

// token is the token of a websocket request: the "token" query
// parameter, else (older noVNC) a "token" cookie.
func token(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if c, err := r.Cookie("token"); err == nil {
		return c.Value
	}
	return ""
}

// refuse ends a request before the upgrade. The body is empty and the
// connection closed, as a websocket client expects of a refusal (Nova's
// proxy just closes it; Tempest checks that nothing is read).
func refuse(w http.ResponseWriter, status int) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

func (p *Proxy) serveConsole(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if p.done.Err() != nil {
		refuse(w, http.StatusServiceUnavailable)
		return
	}
	ci, err := p.o.Tokens.Validate(ctx, token(r))
	if err == nil && len(p.o.Types) > 0 && !slices.Contains(p.o.Types, ci.ConsoleType) {
		err = ErrInvalidToken
	}
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			p.log.InfoContext(ctx, "console refused: invalid token", "remote", r.RemoteAddr)
			refuse(w, http.StatusUnauthorized)
			return
		}
		p.log.ErrorContext(ctx, "console token lookup failed", "err", err)
		refuse(w, http.StatusInternalServerError)
		return
	}
	log := p.log.With("instance_uuid", ci.InstanceUUID, "console_type", ci.ConsoleType, "remote", r.RemoteAddr)
	if msg := p.checkOrigin(r, ci); msg != "" {
		log.WarnContext(ctx, "console refused: "+msg, "origin", r.Header.Get("Origin"))
		w.Header().Set("Connection", "close")
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	host, port := ci.Host, ci.Port
	if p.o.Locate != nil {
		if host, port, err = p.o.Locate(ctx, *ci); err != nil {
			if errors.Is(err, ErrInvalidToken) {
				log.InfoContext(ctx, "console refused: the instance has no console now", "err", err)
				refuse(w, http.StatusUnauthorized)
				return
			}
			log.WarnContext(ctx, "console host unreachable", "err", err)
			refuse(w, http.StatusBadGateway)
			return
		}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	d := net.Dialer{Timeout: p.o.DialTimeout}
	target, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		log.WarnContext(ctx, "console unreachable", "addr", addr, "err", err)
		refuse(w, http.StatusBadGateway)
		return
	}
	if ci.InternalAccessPath != "" {
		if target, err = connect(target, ci.InternalAccessPath); err != nil {
			log.WarnContext(ctx, "console refused the connect request", "addr", addr, "err", err)
			refuse(w, http.StatusBadGateway)
			return
		}
	}
	defer target.Close()

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{"binary"},
		InsecureSkipVerify: true, // checkOrigin did Nova's check
	})
	if err != nil {
		log.InfoContext(ctx, "websocket handshake failed", "err", err)
		return
	}
	log.InfoContext(ctx, "console connected", "addr", addr)
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(p.done, cancel)
	defer stop()
	if p.o.EnforceSessionTimeout {
		t := time.AfterFunc(time.Until(ci.Expires), func() {
			log.InfoContext(ctx, "console session expired")
			cancel()
		})
		defer t.Stop()
	}
	// Cancelling ends the websocket's reads and writes; the console's
	// end needs closing.
	context.AfterFunc(ctx, func() { target.Close() })
	ws := websocket.NetConn(ctx, c, websocket.MessageBinary)
	relay(ws, target)
	c.Close(websocket.StatusNormalClosure, "")
	log.InfoContext(ctx, "console closed")
}

// relay copies both ways until either side ends, then closes both.
func relay(a, b net.Conn) {
	var once sync.Once
	done := make(chan struct{})
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
			close(done)
		})
	}
	go func() { _, _ = io.Copy(a, b); closeBoth() }()
	go func() { _, _ = io.Copy(b, a); closeBoth() }()
	<-done
}

// connect does Nova's internal_access_path handshake: an HTTP CONNECT
// the console must answer 200 before the stream starts.
func connect(c net.Conn, path string) (net.Conn, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\n\r\n", path); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	if !strings.Contains(status, "200") {
		c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", path, strings.TrimSpace(status))
	}
	_ = c.SetDeadline(time.Time{})
	if n := br.Buffered(); n > 0 {
		rest, _ := br.Peek(n)
		return &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(bytes.Clone(rest)), c)}, nil
	}
	return c, nil
}

// prefixConn is a connection with bytes already read put back in front.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// checkOrigin is Nova's origin check: a browser's Origin must name this
// proxy's host (or an allowed origin) with the scheme of the URL the
// token was issued for (ws and http, wss and https being alike). No
// Origin is a client other than a browser, and fine. It returns why the
// origin is refused, "" when it is not.
func (p *Proxy) checkOrigin(r *http.Request, ci *ConnectInfo) string {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	scheme := ""
	host := ""
	if err == nil {
		scheme, host = u.Scheme, u.Hostname()
	}
	if fp := r.Header.Get("X-Forwarded-Proto"); fp != "" {
		scheme = fp
	}
	if host == "" || scheme == "" {
		return "Origin header not valid."
	}
	own := r.Host
	if h, _, err := net.SplitHostPort(own); err == nil {
		own = h
	}
	own = strings.Trim(own, "[]")
	if !strings.EqualFold(host, own) && !slices.ContainsFunc(p.o.AllowedOrigins, func(a string) bool { return strings.EqualFold(a, host) }) {
		return "Origin header does not match this host."
	}
	base, err := url.Parse(ci.AccessURLBase)
	if err != nil {
		return "Origin header protocol does not match this host."
	}
	want := []string{base.Scheme}
	switch base.Scheme {
	case "ws":
		want = append(want, "http")
	case "wss":
		want = append(want, "https")
	}
	if !slices.Contains(want, strings.ToLower(scheme)) {
		return "Origin header protocol does not match this host."
	}
	return ""
}
