package compute

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/agent"
	"github.com/nimbus-cloud/nimbus/internal/compute/console"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

const consoleHost = "cons1"

// consoleEnv is the compute API with a bus, one agent on the fake driver
// serving consoleHost, and both console proxies on the compute database.
type consoleEnv struct {
	*api
	driver *fake.Driver
	novnc  *httptest.Server
	serial *httptest.Server
}

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	d := db.OpenTest(t, nil)
	svc, err := New(ctx, DefaultConfig(), Options{DB: d, Projects: knownProjects{}, Bus: b})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpx.Options{}, testValidator))
	t.Cleanup(srv.Close)
	e := &consoleEnv{api: &api{t: t, svc: svc, srv: srv}, driver: fake.New(fake.Config{})}
	t.Cleanup(func() { e.driver.Close() })

	ag, err := agent.New(agent.Options{Host: consoleHost, Bus: b, Driver: e.driver,
		ImageCacheDir: filepath.Join(t.TempDir(), "cache"), HeartbeatInterval: time.Hour, SyncInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ag.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := rpc.Client{Bus: b}.Call(ctx, consoleHost, rpc.Request{Op: rpc.GetInfo, Instance: rpc.Instance{UUID: "probe"}})
		var re *rpc.Error
		if errors.As(err, &re) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent does not serve: %v", err)
		}
	}

	tokens := console.NewTokens(d)
	e.novnc = httptest.NewServer(console.New(console.Options{Tokens: tokens, Types: []string{console.NoVNC},
		Locate: svc.ConsoleEndpoint}))
	t.Cleanup(e.novnc.Close)
	e.serial = httptest.NewServer(console.New(console.Options{Tokens: tokens, Types: []string{console.Serial},
		Locate: svc.ConsoleEndpoint}))
	t.Cleanup(e.serial.Close)
	return e
}

// server stores an instance of project on consoleHost and, when running,
// starts its guest on the fake driver.
func (e *consoleEnv) server(project string, running bool, change func(*instances.Instance)) *instances.Instance {
	e.t.Helper()
	inst := &instances.Instance{UUID: uuid.NewString(), Name: "vm", ProjectID: project, UserID: "u-demo",
		Hostname: "vm", Host: consoleHost, Node: consoleHost, VMState: instances.Active, PowerState: instances.PowerRunning,
		Flavor: instances.Flavor{FlavorID: "1", Name: "m1.tiny", VCPUs: 1, MemoryMB: 512, RootGB: 1}, ImageRef: "img",
		Metadata: map[string]string{}, Tags: []string{}, CreatedAt: time.Now()}
	if change != nil {
		change(inst)
	}
	ctx := context.Background()
	err := e.svc.db.Tx(ctx, func(tx *sql.Tx) error {
		return e.svc.instances.CreateTx(ctx, tx, inst, instances.Action{Action: "create", RequestID: "req-" + inst.UUID,
			UserID: inst.UserID, ProjectID: project, StartTime: time.Now()})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if running {
		if err := e.driver.Spawn(ctx, hypervisor.Instance{UUID: inst.UUID, VCPUs: 1, MemoryMB: 512, RootGB: 1}); err != nil {
			e.t.Fatal(err)
		}
	}
	return inst
}

func consoleBody(protocol, typ string) map[string]any {
	return map[string]any{"remote_console": map[string]any{"protocol": protocol, "type": typ}}
}

// wsURL turns a console URL the API gave into the websocket URL noVNC
// (or a serial client) opens, on the proxy srv.
func wsURL(t *testing.T, consoleURL string, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(consoleURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if p := q.Get("path"); p != "" { // noVNC: path=?token=...
		q, err = url.ParseQuery(strings.TrimPrefix(p, "?"))
		if err != nil {
			t.Fatal(err)
		}
	}
	return "ws://" + strings.TrimPrefix(srv.URL, "http://") + "/?token=" + url.QueryEscape(q.Get("token"))
}

func wsOpen(t *testing.T, u string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	if err == nil {
		t.Cleanup(func() { c.CloseNow() })
	}
	return c, res, err
}

// wsExpect reads binary messages until they make want.
func wsExpect(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var got []byte
	for len(got) < len(want) {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read after %q: %v; want %q", got, err, want)
		}
		got = append(got, data...)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

func TestRemoteConsoleVNC(t *testing.T) {
	e := newConsoleEnv(t)
	inst := e.server(demoProject, true, nil)
	r := e.call("POST", "/v2.1/servers/"+inst.UUID+"/remote-consoles", consoleBody("vnc", "novnc"), "token=member", "2.6").must(t, 200)
	if r.str("remote_console.protocol") != "vnc" || r.str("remote_console.type") != "novnc" {
		t.Fatalf("answer %s", r.raw)
	}
	u := r.str("remote_console.url")
	host := strings.TrimPrefix(e.srv.URL, "http://")
	host = host[:strings.LastIndex(host, ":")]
	if !strings.HasPrefix(u, "http://"+host+":6080/vnc_lite.html?path=%3Ftoken%3D") {
		t.Fatalf("url %s, want the noVNC page with the token in path", u)
	}

	c, _, err := wsOpen(t, wsURL(t, u, e.novnc))
	if err != nil {
		t.Fatalf("open the console: %v", err)
	}
	wsExpect(t, c, fake.VNCBanner)
	// RFB 3.8 through the proxy, as Tempest's test_novnc: versions, the
	// security type None, the security result, ClientInit and ServerInit.
	for _, step := range []struct{ send, want string }{
		{"RFB 003.008\n", "\x01\x01"}, {"\x01", "\x00\x00\x00\x00"},
	} {
		if err := c.Write(t.Context(), websocket.MessageBinary, []byte(step.send)); err != nil {
			t.Fatal(err)
		}
		wsExpect(t, c, step.want)
	}
	if err := c.Write(t.Context(), websocket.MessageBinary, []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, init, err := c.Read(t.Context()); err != nil || len(init) <= 24 || len(init) != 24+int(init[23]) {
		t.Fatalf("ServerInit %q, %v", init, err)
	}

	// The token may be used again until it expires, as Nova's.
	c2, _, err := wsOpen(t, wsURL(t, u, e.novnc))
	if err != nil {
		t.Fatalf("open the console again: %v", err)
	}
	wsExpect(t, c2, fake.VNCBanner)

	// Once the server is gone its token opens nothing, even should its
	// old port be another guest's by then.
	if _, err := e.svc.instances.Destroy(t.Context(), inst.UUID); err != nil {
		t.Fatal(err)
	}
	if _, res, err := wsOpen(t, wsURL(t, u, e.novnc)); err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("token of a deleted server: %v, want 401", err)
	}

	// Not at the serial proxy.
	if _, res, err := wsOpen(t, wsURL(t, u, e.serial)); err == nil || res == nil || res.StatusCode != 401 {
		t.Fatalf("noVNC token at the serial proxy: %v", err)
	}

	// What the token opens, for admins from 2.31.
	tok := tokenOf(t, u)
	a := e.call("GET", "/v2.1/os-console-auth-tokens/"+tok, nil, "2.31").must(t, 200)
	if a.str("console.instance_uuid") != inst.UUID || a.str("console.host") != "127.0.0.1" || a.num("console.port") == 0 ||
		!a.has("console.internal_access_path") || a.path("console.internal_access_path") != nil {
		t.Fatalf("console auth token: %s", a.raw)
	}
	e.call("GET", "/v2.1/os-console-auth-tokens/"+tok, nil, "token=member", "2.31").
		fault(t, 403, "forbidden", "Policy doesn't allow os_compute_api:os-console-auth-tokens to be performed.")
	e.call("GET", "/v2.1/os-console-auth-tokens/"+tok, nil, "2.30").must(t, 400)
	e.call("GET", "/v2.1/os-console-auth-tokens/bad"+tok, nil, "2.31").fault(t, 404, "itemNotFound", "Token not found")
}

func tokenOf(t *testing.T, consoleURL string) string {
	u, _ := url.Parse(wsURL(t, consoleURL, httptest.NewUnstartedServer(nil)))
	return u.Query().Get("token")
}

func TestRemoteConsoleSerial(t *testing.T) {
	e := newConsoleEnv(t)
	inst := e.server(demoProject, true, nil)
	r := e.call("POST", "/v2.1/servers/"+inst.UUID+"/remote-consoles", consoleBody("serial", "serial"), "token=member", "2.6").must(t, 200)
	u := r.str("remote_console.url")
	if !strings.HasPrefix(u, "ws://") || !strings.Contains(u, ":6083/?token=") {
		t.Fatalf("url %s, want ws://<host>:6083/?token=...", u)
	}
	c, _, err := wsOpen(t, wsURL(t, u, e.serial))
	if err != nil {
		t.Fatalf("open the serial console: %v", err)
	}
	wsExpect(t, c, fake.SerialBanner(inst.UUID))
	if err := c.Write(t.Context(), websocket.MessageBinary, []byte("ls\r")); err != nil {
		t.Fatal(err)
	}
	wsExpect(t, c, "ls\r")
	c.Close(websocket.StatusNormalClosure, "")

	// A serial endpoint serves one connection: the proxy asks the host
	// for one each time the token is used.
	c2, _, err := wsOpen(t, wsURL(t, u, e.serial))
	if err != nil {
		t.Fatalf("open the serial console again: %v", err)
	}
	wsExpect(t, c2, fake.SerialBanner(inst.UUID))
}

func TestRemoteConsoleRefusals(t *testing.T) {
	e := newConsoleEnv(t)
	inst := e.server(demoProject, true, nil)
	path := "/v2.1/servers/" + inst.UUID + "/remote-consoles"

	// Another project's server does not exist for the caller.
	e.call("POST", path, consoleBody("vnc", "novnc"), "token=alt", "2.6").
		fault(t, 404, "itemNotFound", "Instance "+inst.UUID+" could not be found.")
	e.call("POST", "/v2.1/servers/"+uuid.NewString()+"/remote-consoles", consoleBody("vnc", "novnc"), "token=member", "2.6").must(t, 404)
	// A reader may not open consoles.
	e.call("POST", path, consoleBody("vnc", "novnc"), "token=reader", "2.6").
		fault(t, 403, "forbidden", "Policy doesn't allow os_compute_api:os-remote-consoles to be performed.")
	// Before 2.6 there is no such resource.
	e.call("POST", path, consoleBody("vnc", "novnc"), "token=member", "2.5").must(t, 404)

	for _, tc := range []struct {
		body    any
		version string
		msg     string
	}{
		{consoleBody("vnc", "serial"), "2.6", "Invalid console type serial"},
		{consoleBody("serial", "novnc"), "2.6", "Invalid console type novnc"},
		{consoleBody("rdp", "rdp-html5"), "2.6", "Unavailable console type rdp."},
		{consoleBody("spice", "spice-html5"), "2.6", "Unavailable console type spice-html5."},
		{consoleBody("mks", "webmks"), "2.8", "Unavailable console type webmks."},
		// (How "Value: ..." shows a string is validate.go's concern.)
		{consoleBody("mks", "webmks"), "2.6", "*. 'mks' is not one of ['vnc', 'spice', 'serial', 'rdp']"},
		{consoleBody("vnc", "telnet"), "2.6", "*. 'telnet' is not one of ['novnc', 'xvpvnc', 'spice-html5', 'serial', 'rdp-html5']"},
		{map[string]any{"remote_console": map[string]any{"protocol": "vnc"}}, "2.6",
			"Invalid input for field/attribute remote_console. Value: {'protocol': 'vnc'}. 'type' is a required property"},
		{map[string]any{"remote_console": map[string]any{"protocol": "vnc", "type": "novnc", "x": 1}}, "2.6", ""},
		{map[string]any{}, "2.6", "'remote_console' is a required property"},
	} {
		r := e.call("POST", path, tc.body, "token=member", tc.version)
		if suffix, ok := strings.CutPrefix(tc.msg, "*"); ok {
			r.fault(t, 400, "badRequest", "")
			if msg := r.str("badRequest.message"); !strings.HasPrefix(msg, "Invalid input for field/attribute ") || !strings.HasSuffix(msg, suffix) {
				t.Errorf("message %q, want one ending %q", msg, suffix)
			}
			continue
		}
		r.fault(t, 400, "badRequest", tc.msg)
	}

	// A server that is not running on a host: 409.
	stopped := e.server(demoProject, false, func(i *instances.Instance) { i.VMState = instances.Stopped })
	e.call("POST", "/v2.1/servers/"+stopped.UUID+"/remote-consoles", consoleBody("vnc", "novnc"), "token=member", "2.6").
		fault(t, 409, "conflictingRequest", "Cannot 'get_vnc_console' instance "+stopped.UUID+" while it is in vm_state stopped")
	building := e.server(demoProject, false, func(i *instances.Instance) {
		i.VMState, i.TaskState, i.Host, i.Node = instances.Building, instances.TaskScheduling, "", ""
	})
	e.call("POST", "/v2.1/servers/"+building.UUID+"/remote-consoles", consoleBody("serial", "serial"), "token=member", "2.6").
		fault(t, 409, "conflictingRequest", "Instance "+building.UUID+" is not ready")
	// A rescued server's console is the rescue guest's.
	rescued := e.server(demoProject, true, func(i *instances.Instance) { i.VMState = instances.Rescued })
	e.call("POST", "/v2.1/servers/"+rescued.UUID+"/remote-consoles", consoleBody("vnc", "novnc"), "token=member", "2.6").must(t, 200)
	// Active in the database but gone from its host.
	gone := e.server(demoProject, false, nil)
	e.call("POST", "/v2.1/servers/"+gone.UUID+"/remote-consoles", consoleBody("vnc", "novnc"), "token=member", "2.6").
		fault(t, 409, "conflictingRequest", "Instance "+gone.UUID+" is not ready")
	// On a host no agent serves.
	lost := e.server(demoProject, false, func(i *instances.Instance) { i.Host, i.Node = "nowhere", "nowhere" })
	e.call("POST", "/v2.1/servers/"+lost.UUID+"/remote-consoles", consoleBody("vnc", "novnc"), "token=member", "2.6").
		fault(t, 409, "conflictingRequest", "Instance "+lost.UUID+" is not ready")

	var n int
	if err := e.svc.db.QueryRow(`SELECT COUNT(*) FROM console_auth_tokens WHERE instance_uuid <> $1`, rescued.UUID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d tokens stored after refusals (%v), want 0", n, err)
	}
}

func TestConsoleTokenExpires(t *testing.T) {
	e := newConsoleEnv(t)
	inst := e.server(demoProject, true, nil)
	u := e.call("POST", "/v2.1/servers/"+inst.UUID+"/remote-consoles", consoleBody("vnc", "novnc"), "token=member", "2.6").
		must(t, 200).str("remote_console.url")
	tok := tokenOf(t, u)
	// Ten minutes later the token opens nothing: the API says 404, the
	// proxy refuses the websocket with 401.
	later := func() time.Time { return time.Now().Add(10*time.Minute + time.Second) }
	tokens := console.NewTokens(e.svc.db)
	tokens.SetClock(later)
	if _, err := tokens.Validate(t.Context(), tok); !errors.Is(err, console.ErrInvalidToken) {
		t.Fatalf("Validate() ten minutes later = %v, want ErrInvalidToken", err)
	}
	if _, err := e.svc.db.Exec(`UPDATE console_auth_tokens SET expires = $1`, time.Now().Add(-time.Second).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	e.call("GET", "/v2.1/os-console-auth-tokens/"+tok, nil, "2.31").fault(t, 404, "itemNotFound", "Token not found")
	if _, res, err := wsOpen(t, wsURL(t, u, e.novnc)); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired token at the proxy: %v, want 401", err)
	}
}
