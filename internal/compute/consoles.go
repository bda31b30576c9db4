package compute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/console"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// Remote consoles: POST /servers/{id}/remote-consoles (2.6), the older
// os-getVNCConsole and os-getSerialConsole actions (through
// remoteConsole), and GET /os-console-auth-tokens/{token}. The compute
// API asks the server's host where its console listens, stores a token
// for that address (package console) and answers the console proxy's
// URL with the token; the proxy (nova-novncproxy, nova-serialproxy)
// relays the browser's websocket there.

// ConsoleConfig configures remote consoles; nova.conf's names in
// comments.
type ConsoleConfig struct {
	// NoVNCBaseURL is the noVNC proxy's page ([vnc] novncproxy_base_url);
	// "" is http://<the host the API was called at>:6080/vnc_lite.html.
	NoVNCBaseURL string
	// SerialBaseURL is the serial proxy's URL ([serial_console]
	// base_url); "" is ws://<the API's host>:6083/.
	SerialBaseURL string
	// TokenTTL is how long a console URL works ([consoleauth]
	// token_ttl); 0 is 10 minutes.
	TokenTTL time.Duration
	// NoVNCPort and SerialPort are the proxies' ports in the URLs made
	// when the base URLs are ""; 0 is Nova's 6080 and 6083.
	NoVNCPort, SerialPort int
}

// consoleConfig is the console configuration in force for a request.
func (s *Service) consoleConfig(r *http.Request) ConsoleConfig {
	c := s.cfg.Console
	host := "127.0.0.1"
	if u, err := url.Parse(s.baseURL(r)); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	if c.NoVNCPort == 0 {
		c.NoVNCPort = console.NoVNCPort
	}
	if c.SerialPort == 0 {
		c.SerialPort = console.SerialPort
	}
	if c.NoVNCBaseURL == "" {
		c.NoVNCBaseURL = "http://" + net.JoinHostPort(host, strconv.Itoa(c.NoVNCPort)) + "/vnc_lite.html"
	}
	if c.SerialBaseURL == "" {
		c.SerialBaseURL = "ws://" + net.JoinHostPort(host, strconv.Itoa(c.SerialPort)) + "/"
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = console.DefaultTTL
	}
	return c
}

// Policy rules of consoles (nova/policies/remote_consoles.py,
// console_auth_tokens.py).
const (
	policyRemoteConsoles    = "os_compute_api:os-remote-consoles"
	policyConsoleAuthTokens = "os_compute_api:os-console-auth-tokens"
)

var consolePolicies = []policy.Default{
	{Name: policyRemoteConsoles, Check: projectMemberOrAdmin,
		Description: "Generate a URL to access remote server console (POST /servers/{server_id}/remote-consoles " +
			"and the os-getVNCConsole, os-getSerialConsole, os-getSPICEConsole actions)"},
	{Name: policyConsoleAuthTokens, Check: adminRule,
		Description: "Show console connection information for a given console authentication token"},
}

// remoteConsoleRequest is the body of POST /servers/{id}/remote-consoles.
func remoteConsoleRequest(r *http.Request) (protocol, typ string, err error) {
	raw, err := readBody(r)
	if err != nil {
		return "", "", err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return "", "", err
	}
	if err := body.check("", raw, []string{"remote_console"}, "remote_console"); err != nil {
		return "", "", err
	}
	rc, err := objectAt(body["remote_console"], "remote_console")
	if err != nil {
		return "", "", err
	}
	if err := rc.check("remote_console", body["remote_console"], []string{"protocol", "type"}, "protocol", "type"); err != nil {
		return "", "", err
	}
	protocols := []string{"vnc", "spice", "serial", "rdp"}
	types := []string{"novnc", "xvpvnc", "spice-html5", "serial", "rdp-html5"}
	if mv(r).AtLeast(8) {
		protocols = append(protocols, "mks")
		types = append(types, "webmks")
	}
	if mv(r).AtLeast(99) {
		types = append(types, "spice-direct")
	}
	if protocol, err = enumField("protocol", rc["protocol"], protocols); err != nil {
		return "", "", err
	}
	if typ, err = enumField("type", rc["type"], types); err != nil {
		return "", "", err
	}
	return protocol, typ, nil
}

// enumField reads a string that must be one of values, with
// jsonschema's message.
func enumField(field string, raw []byte, values []string) (string, error) {
	s, err := jsonString(field, raw)
	if err != nil {
		return "", err
	}
	if !slices.Contains(values, s) {
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = "'" + v + "'"
		}
		return "", invalidField(field, raw, fmt.Sprintf("%s is not one of [%s]", pyRepr(raw), strings.Join(quoted, ", ")))
	}
	return s, nil
}

// createRemoteConsole is POST /servers/{id}/remote-consoles (2.6).
func (h *handlers) createRemoteConsole(w http.ResponseWriter, r *http.Request) error {
	protocol, typ, err := remoteConsoleRequest(r)
	if err != nil {
		return err
	}
	p := principal(r)
	inst, err := h.svc.instance(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	u, err := h.svc.RemoteConsole(r.Context(), p, inst, protocol, typ, h.svc.consoleConfig(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"remote_console": map[string]any{
		"protocol": protocol, "type": typ, "url": u}})
}

// remoteConsole answers the older console actions on an instance the
// caller may address: os-getVNCConsole (protocol "vnc"),
// os-getSerialConsole ("serial"), os-getSPICEConsole ("spice") and
// os-getRDPConsole ("rdp"), with typ the body's "type" ("" when it has
// none), as {"console": {"type": ..., "url": ...}}. The caller checks the
// body against the action's schema.
func (h *handlers) remoteConsole(w http.ResponseWriter, r *http.Request, inst *instances.Instance, protocol, typ string) error {
	u, err := h.svc.RemoteConsole(r.Context(), principal(r), inst, protocol, typ, h.svc.consoleConfig(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"console": map[string]any{"type": typ, "url": u}})
}

// consoleStates are the vm states whose guest runs, so has a console:
// active, and paused and rescued (a rescue is for repairs at the
// console). Nova leaves the check to its driver; this one says 409
// before asking the host.
var consoleStates = map[string]bool{instances.Active: true, instances.Paused: true, instances.Rescued: true}

// consoleAction is the name Nova's conflict messages give the request
// of a console of protocol.
func consoleAction(protocol string) string {
	return "get_" + protocol + "_console"
}

// RemoteConsole makes a console URL for inst: it asks the instance's
// host where the console of type typ listens and returns the proxy's
// URL with a new token for it. Errors are Nova's: an unknown type is
// 400, an instance not running on a host 409.
func (s *Service) RemoteConsole(ctx context.Context, p *authn.Principal, inst *instances.Instance, protocol, typ string, cfg ConsoleConfig) (string, error) {
	if err := s.authorize(p, policyRemoteConsoles, instanceTarget(inst)); err != nil {
		return "", err
	}
	var base string
	switch protocol {
	case "vnc":
		if typ != console.NoVNC {
			return "", fault.BadRequestf("Invalid console type %s", typ)
		}
		base = cfg.NoVNCBaseURL
	case "serial":
		if typ != console.Serial {
			return "", fault.BadRequestf("Invalid console type %s", typ)
		}
		base = cfg.SerialBaseURL
	case "rdp":
		return "", fault.BadRequestf("Unavailable console type %s.", protocol)
	default:
		// SPICE and MKS consoles are disabled, as Nova's by default.
		return "", fault.BadRequestf("Unavailable console type %s.", typ)
	}
	if inst.Host == "" {
		return "", fault.Conflictf("Instance %s is not ready", inst.UUID)
	}
	if inst.TaskState == instances.TaskDeleting {
		return "", fault.Conflictf("Cannot '%s' instance %s while it is in task_state %s",
			consoleAction(protocol), inst.UUID, inst.TaskState)
	}
	if !consoleStates[inst.VMState] {
		return "", fault.Conflictf("Cannot '%s' instance %s while it is in vm_state %s",
			consoleAction(protocol), inst.UUID, inst.VMState)
	}
	ep, err := s.consoleEndpoint(ctx, inst, typ)
	if err != nil {
		return "", err
	}
	token, err := console.NewTokens(s.db).Authorize(ctx, console.ConnectInfo{
		InstanceUUID: inst.UUID, ConsoleType: typ, Host: ep.Host, Port: ep.Port, AccessURLBase: base,
	}, cfg.TokenTTL)
	if err != nil {
		return "", err
	}
	return console.AccessURL(typ, base, token), nil
}

// consoleEndpoint asks inst's host where its console of type typ
// listens.
func (s *Service) consoleEndpoint(ctx context.Context, inst *instances.Instance, typ string) (*rpc.ConsoleEndpoint, error) {
	if s.bus == nil {
		return nil, fault.New(fault.Unavailable, "Service is unavailable at this time.")
	}
	rep, err := rpc.Client{Bus: s.bus}.Call(ctx, inst.Host, rpc.Request{Op: rpc.GetConsole,
		RequestID: httpx.RequestID(ctx),
		Instance:  rpc.Instance{UUID: inst.UUID, Name: fmt.Sprintf("instance-%08x", inst.ID)},
		Console:   &rpc.ConsoleRequest{Type: typ}})
	var re *rpc.Error
	switch {
	case errors.As(err, &re) && re.Code == rpc.CodeUnsupported:
		return nil, fault.Wrap(fault.BadRequest, err, "Unavailable console type %s.", typ)
	case errors.As(err, &re) && (re.Code == rpc.CodeNotFound || re.Code == rpc.CodeRefused):
		return nil, fault.Wrap(fault.Conflict, err, "Instance %s is not ready", inst.UUID)
	case errors.Is(err, rpc.ErrUnreachable):
		return nil, fault.Wrap(fault.Conflict, err, "Instance %s is not ready", inst.UUID)
	case err != nil:
		return nil, fmt.Errorf("get %s console of %s on %s: %w", typ, inst.UUID, inst.Host, err)
	}
	ep := rep.Console
	if ep == nil || ep.Host == "" || ep.Port <= 0 {
		return nil, fmt.Errorf("get %s console of %s on %s: the agent answered no endpoint", typ, inst.UUID, inst.Host)
	}
	return ep, nil
}

// ConsoleEndpoint is where the console a token was issued for listens
// now, asked of the instance's host, for the console proxy
// (console.Options.Locate). An instance deleted, moved or not running has
// none: an error wrapping console.ErrInvalidToken.
func (s *Service) ConsoleEndpoint(ctx context.Context, ci console.ConnectInfo) (string, int, error) {
	inst, err := s.instances.Get(ctx, ci.InstanceUUID, false)
	if errors.Is(err, instances.ErrNotFound) {
		return "", 0, fmt.Errorf("console of %s: the instance is gone: %w", ci.InstanceUUID, console.ErrInvalidToken)
	}
	if err != nil {
		return "", 0, fmt.Errorf("console of %s: %w", ci.InstanceUUID, err)
	}
	if inst.Host == "" || !consoleStates[inst.VMState] || inst.TaskState == instances.TaskDeleting {
		return "", 0, fmt.Errorf("console of %s: instance is %s/%s on host %q: %w",
			inst.UUID, inst.VMState, inst.TaskState, inst.Host, console.ErrInvalidToken)
	}
	ep, err := s.consoleEndpoint(ctx, inst, ci.ConsoleType)
	var re *rpc.Error
	if errors.As(err, &re) && (re.Code == rpc.CodeNotFound || re.Code == rpc.CodeRefused || re.Code == rpc.CodeUnsupported) {
		return "", 0, fmt.Errorf("console of %s: %w: %w", inst.UUID, err, console.ErrInvalidToken)
	}
	if err != nil {
		return "", 0, err
	}
	return ep.Host, ep.Port, nil
}

// showConsoleAuthToken is GET /os-console-auth-tokens/{token}: what a
// token opens, for admins. Before 2.31 it served only RDP consoles, which
// Nova no longer has: 400.
func (h *handlers) showConsoleAuthToken(w http.ResponseWriter, r *http.Request) error {
	if !mv(r).AtLeast(31) {
		return fault.BadRequestf("The server could not comply with the request since it is either malformed or otherwise incorrect.")
	}
	p := principal(r)
	if err := h.svc.authorize(p, policyConsoleAuthTokens, nil); err != nil {
		return err
	}
	token := r.PathValue("token")
	if token == "" {
		return fault.BadRequestf("token not provided")
	}
	ci, err := console.NewTokens(h.svc.db).Validate(r.Context(), token)
	if errors.Is(err, console.ErrInvalidToken) {
		return fault.NotFoundf("Token not found")
	}
	if err != nil {
		return err
	}
	var path any
	if ci.InternalAccessPath != "" {
		path = ci.InternalAccessPath
	}
	return writeJSON(w, http.StatusOK, map[string]any{"console": map[string]any{
		"instance_uuid":        ci.InstanceUUID,
		"host":                 ci.Host,
		"port":                 ci.Port,
		"internal_access_path": path,
	}})
}
