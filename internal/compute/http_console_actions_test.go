package compute

import (
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
)

// The 2.1-2.5 console actions give the console remote-consoles gives, in
// their own answer's shape, and are gone from 2.6.
func TestLegacyConsoleActions(t *testing.T) {
	e := newConsoleEnv(t)
	inst := e.server(demoProject, true, nil)
	path := "/v2.1/servers/" + inst.UUID + "/action"
	r := e.call("POST", path, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}, "token=member").must(t, 200)
	if r.str("console.type") != "novnc" {
		t.Fatalf("answer %s", r.raw)
	}
	c, _, err := wsOpen(t, wsURL(t, r.str("console.url"), e.novnc))
	if err != nil {
		t.Fatalf("open the console: %v", err)
	}
	wsExpect(t, c, fake.VNCBanner)

	if r := e.call("POST", path, map[string]any{"os-getSerialConsole": map[string]any{"type": "serial"}}, "token=member").
		must(t, 200); r.str("console.type") != "serial" {
		t.Fatalf("serial answer %s", r.raw)
	}
	e.call("POST", path, map[string]any{"os-getVNCConsole": map[string]any{"type": "spice-html5"}}, "token=member").must(t, 400)
	e.call("POST", path, map[string]any{"os-getVNCConsole": map[string]any{}}, "token=member").must(t, 400)
	e.call("POST", path, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}, "token=member", "2.6").must(t, 404)
	e.call("POST", path, map[string]any{"os-getVNCConsole": map[string]any{"type": "novnc"}}, "token=alt").must(t, 404)
}

// Console URLs name the proxies' configured ports.
func TestConsoleURLPorts(t *testing.T) {
	e := newConsoleEnv(t)
	e.svc.cfg.Console.NoVNCPort, e.svc.cfg.Console.SerialPort = 16080, 16083
	inst := e.server(demoProject, true, nil)
	path := "/v2.1/servers/" + inst.UUID + "/remote-consoles"
	if u := e.call("POST", path, consoleBody("vnc", "novnc"), "token=member", "2.6").must(t, 200).str("remote_console.url"); !strings.Contains(u, ":16080/vnc_lite.html?") {
		t.Errorf("noVNC url %s, want port 16080", u)
	}
	if u := e.call("POST", path, consoleBody("serial", "serial"), "token=member", "2.6").must(t, 200).str("remote_console.url"); !strings.Contains(u, ":16083/?token=") {
		t.Errorf("serial url %s, want port 16083", u)
	}
}
