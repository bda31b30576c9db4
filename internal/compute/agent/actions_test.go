package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// wantCode fails the test unless err is an rpc error with code.
func wantCode(t *testing.T, what string, err error, code string) *rpc.Error {
	t.Helper()
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("%s: %v, want code %s", what, err, code)
	}
	return re
}

func flavorIs(f rpc.Flavor) func(*rpc.Request) {
	return func(r *rpc.Request) { r.Instance.Flavor = &f }
}

func powerOn(on bool) func(*rpc.Request) {
	return func(r *rpc.Request) { r.PowerOn = &on }
}

// info asks the agent what the guest has.
func (e *env) info(uuid string) rpc.Info {
	e.t.Helper()
	rep, err := e.call(rpc.GetInfo, uuid)
	if err != nil || rep.Info == nil {
		e.t.Fatalf("get_info %s: %+v, %v", uuid, rep, err)
	}
	return *rep.Info
}

func TestResizeRevertConfirm(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	o := e.options(d)
	stop := e.start(o)
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros")) // 1 vCPU, 256 MB, 1 GB
	big := rpc.Flavor{VCPUs: 2, RAM: 512, Disk: 3}

	// A running guest is running again after its resize, on the new flavor.
	e.mustCall(rpc.Resize, uuid1, hypervisor.Running, flavorIs(big), func(r *rpc.Request) { r.Timeout = 5 })
	if u := e.waitUpdate("resize done", taskDone(uuid1, rpc.Resize)); !u.OK || u.PowerState != hypervisor.Running {
		t.Errorf("resize update = %+v", u)
	}
	if got := e.info(uuid1); got.VCPUs != 2 || got.MemoryMB != 512 || d.RootGB(uuid1) != 3 {
		t.Errorf("after resize: %+v, root %d GB; want 2 vCPUs, 512 MB, 3 GB", got, d.RootGB(uuid1))
	}
	// Shrinking the disk is refused and changes nothing.
	_, err := e.call(rpc.Resize, uuid1, flavorIs(rpc.Flavor{VCPUs: 1, RAM: 256, Disk: 2}))
	re := wantCode(t, "resize down", err, rpc.CodeRefused)
	if !strings.Contains(re.Message, "Unable to resize disk down") {
		t.Errorf("resize down: %q", re.Message)
	}
	if got := e.info(uuid1); got.PowerState != hypervisor.Running || got.VCPUs != 2 || d.RootGB(uuid1) != 3 {
		t.Errorf("after a refused resize: %+v, root %d GB; want it running as it was", got, d.RootGB(uuid1))
	}

	// The old flavor is recorded: a restarted agent reverts to it.
	stop()
	e.start(o)
	e.mustCall(rpc.RevertResize, uuid1, hypervisor.Running)
	if got := e.info(uuid1); got.VCPUs != 1 || got.MemoryMB != 256 || d.RootGB(uuid1) != 1 {
		t.Errorf("after revert: %+v, root %d GB; want 1 vCPU, 256 MB, 1 GB", got, d.RootGB(uuid1))
	}
	_, err = e.call(rpc.RevertResize, uuid1)
	wantCode(t, "revert without a resize", err, rpc.CodeRefused)
	e.mustCall(rpc.ConfirmResize, uuid1, hypervisor.Running)

	// Resize a stopped guest: it stays stopped (PowerOn unset); confirm
	// drops the backup, so there is nothing to revert.
	e.mustCall(rpc.PowerOff, uuid1, hypervisor.Shutdown)
	e.mustCall(rpc.Resize, uuid1, hypervisor.Shutdown, flavorIs(big))
	e.mustCall(rpc.ConfirmResize, uuid1, hypervisor.Shutdown)
	_, err = e.call(rpc.RevertResize, uuid1, flavorIs(rpc.Flavor{VCPUs: 1, RAM: 256, Disk: 1}))
	wantCode(t, "revert after confirm", err, rpc.CodeRefused)
	if got := e.info(uuid1); got.VCPUs != 2 || d.RootGB(uuid1) != 3 {
		t.Errorf("after confirm: %+v, root %d GB; want the new flavor kept", got, d.RootGB(uuid1))
	}
	// PowerOn says otherwise: started; then reverted and left stopped.
	e.mustCall(rpc.Resize, uuid1, hypervisor.Running, flavorIs(rpc.Flavor{VCPUs: 4, RAM: 1024, Disk: 3}), powerOn(true))
	e.mustCall(rpc.RevertResize, uuid1, hypervisor.Shutdown, flavorIs(big), powerOn(false))
	if got := e.info(uuid1); got.VCPUs != 2 || got.MemoryMB != 512 {
		t.Errorf("after the second revert: %+v, want 2 vCPUs, 512 MB", got)
	}

	_, err = e.call(rpc.Resize, uuid2, flavorIs(big))
	wantCode(t, "resize of an unknown guest", err, rpc.CodeNotFound)
}

func TestResizeKeepsGuestWhenDriverFails(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{Faults: fake.Faults{Fail: func(op fake.Op, _ hypervisor.Instance) error {
		if op == fake.OpResize {
			return errors.New("qemu-img: disk full")
		}
		return nil
	}}})
	e.start(e.options(d))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	rep, err := e.call(rpc.Resize, uuid1, flavorIs(rpc.Flavor{VCPUs: 2, RAM: 512, Disk: 3}))
	re := wantCode(t, "failed resize", err, rpc.CodeFailed)
	if !strings.Contains(re.Message, "disk full") || rep.PowerState != hypervisor.Running {
		t.Errorf("failed resize: %+v, %v; want the cause and the guest running again", rep, re)
	}
	u := e.waitUpdate("failed resize", taskDone(uuid1, rpc.Resize))
	if u.OK || u.Fault == nil || u.PowerState != hypervisor.Running {
		t.Errorf("failed resize update = %+v", u)
	}
	if got := e.info(uuid1); got.VCPUs != 1 {
		t.Errorf("after a failed resize: %+v, want the old flavor", got)
	}
	_, err = e.call(rpc.RevertResize, uuid1)
	wantCode(t, "revert of a failed resize", err, rpc.CodeRefused)
}

func TestRescueUnrescue(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	e.start(e.options(d))
	e.images.add("rescue-img", "raw", rawImage(32<<10))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	rescueImage := func(id string) func(*rpc.Request) {
		return func(r *rpc.Request) { r.Image = &rpc.Image{ID: id} }
	}

	_, err := e.call(rpc.Rescue, uuid1, rescueImage("missing"))
	wantCode(t, "rescue from a missing image", err, rpc.CodeImageNotFound)
	if d.Rescued(uuid1) {
		t.Error("rescued although the image is missing")
	}
	_, err = e.call(rpc.Unrescue, uuid1)
	wantCode(t, "unrescue of a guest not rescued", err, rpc.CodeRefused)

	e.mustCall(rpc.Rescue, uuid1, hypervisor.Running, rescueImage("rescue-img"))
	if !d.Rescued(uuid1) || e.images.count("rescue-img") != 1 {
		t.Errorf("rescued %v, image fetched %d times", d.Rescued(uuid1), e.images.count("rescue-img"))
	}
	u := e.waitUpdate("failed rescue", taskDone(uuid1, rpc.Rescue))
	if u.OK || u.Fault == nil || u.Fault.Code != rpc.CodeImageNotFound || u.PowerState != hypervisor.Running {
		t.Errorf("failed rescue update = %+v", u)
	}
	if u := e.waitUpdate("rescue", taskDone(uuid1, rpc.Rescue)); !u.OK || u.PowerState != hypervisor.Running {
		t.Errorf("rescue update = %+v", u)
	}
	// A power cycle keeps it rescued.
	e.mustCall(rpc.PowerOff, uuid1, hypervisor.Shutdown)
	e.mustCall(rpc.PowerOn, uuid1, hypervisor.Running)
	e.mustCall(rpc.Unrescue, uuid1, hypervisor.Running)
	if d.Rescued(uuid1) {
		t.Error("still rescued after unrescue")
	}
	// A stopped guest is rescued running; the image comes from the cache.
	e.mustCall(rpc.PowerOff, uuid1, hypervisor.Shutdown)
	e.mustCall(rpc.Rescue, uuid1, hypervisor.Running, rescueImage("rescue-img"))
	if n := e.images.count("rescue-img"); n != 1 {
		t.Errorf("rescue image fetched %d times, want once", n)
	}
	e.mustCall(rpc.Destroy, uuid1, hypervisor.NoState)

	_, err = e.call(rpc.Rescue, uuid2, rescueImage("rescue-img"))
	wantCode(t, "rescue of an unknown guest", err, rpc.CodeNotFound)
}

// plainDriver hides the fake's optional abilities.
type plainDriver struct{ hypervisor.Driver }

func TestUnsupportedAbilities(t *testing.T) {
	e := newEnv(t)
	e.start(e.options(plainDriver{fake.New(fake.Config{})}))
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	for _, tc := range []struct {
		op  rpc.Op
		mod func(*rpc.Request)
	}{
		{rpc.Resize, flavorIs(rpc.Flavor{VCPUs: 2, RAM: 512, Disk: 3})},
		{rpc.ConfirmResize, func(*rpc.Request) {}},
		{rpc.Rescue, func(r *rpc.Request) { r.Image = &rpc.Image{ID: "cirros"} }},
		{rpc.Unrescue, func(*rpc.Request) {}},
		{rpc.GetConsole, func(r *rpc.Request) { r.Console = &rpc.ConsoleRequest{Type: rpc.ConsoleNoVNC} }},
		{rpc.GetConsole, func(r *rpc.Request) { r.Console = &rpc.ConsoleRequest{Type: rpc.ConsoleSerial} }},
	} {
		rep, err := e.call(tc.op, uuid1, tc.mod)
		wantCode(t, string(tc.op), err, rpc.CodeUnsupported)
		if rep.PowerState != hypervisor.Running {
			t.Errorf("%s: power state %d, want the guest running", tc.op, rep.PowerState)
		}
	}
}

func consoleReq(typ string) func(*rpc.Request) {
	return func(r *rpc.Request) { r.Console = &rpc.ConsoleRequest{Type: typ} }
}

// dialEndpoint connects to a console endpoint.
func dialEndpoint(t *testing.T, ep *rpc.ConsoleEndpoint) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort(ep.Host, fmt.Sprint(ep.Port)), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s console: %v", ep.Kind, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestGetConsole(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{})
	t.Cleanup(func() { d.Close() })
	o := e.options(d)
	// Listening on every address, the endpoints name the host's IP.
	o.ConsoleAddress, o.HostIP = "0.0.0.0", "127.0.0.2"
	stop := e.start(o)
	e.mustCall(rpc.BuildAndRun, uuid1, hypervisor.Running, buildReq("cirros"))
	e.waitUpdate("build", taskDone(uuid1, rpc.BuildAndRun))

	// VNC: the driver's server.
	rep := e.mustCall(rpc.GetConsole, uuid1, hypervisor.Running, consoleReq(rpc.ConsoleNoVNC))
	if ep := rep.Console; ep == nil || ep.Kind != rpc.EndpointVNC || ep.Port == 0 {
		t.Fatalf("vnc endpoint = %+v", rep.Console)
	}
	c := dialEndpoint(t, rep.Console)
	if line, err := bufio.NewReader(c).ReadString('\n'); line != fake.VNCBanner {
		t.Errorf("vnc greets %q, %v", line, err)
	}

	// Serial: one connection through the agent, relayed both ways.
	rep = e.mustCall(rpc.GetConsole, uuid1, hypervisor.Running, consoleReq(rpc.ConsoleSerial))
	ep := rep.Console
	if ep == nil || ep.Kind != rpc.EndpointSerial || ep.Host != "127.0.0.2" || ep.Port == 0 {
		t.Fatalf("serial endpoint = %+v, want host 127.0.0.2", ep)
	}
	c = dialEndpoint(t, ep)
	want := fake.SerialBanner(uuid1) + "ls\r\n"
	if _, err := io.WriteString(c, "ls\r\n"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Errorf("serial console read %q, %v; want %q", got, err, want)
	}
	// The endpoint took its one connection.
	if c2, err := net.DialTimeout("tcp", net.JoinHostPort(ep.Host, fmt.Sprint(ep.Port)), time.Second); err == nil {
		c2.Close()
		t.Error("a serial endpoint took a second connection")
	}
	// Asking for a console changes nothing: no update.
	e.noUpdate(200*time.Millisecond, "get_console", taskDone(uuid1, rpc.GetConsole))

	// A stopped guest has no console; an unknown one is not found.
	e.mustCall(rpc.PowerOff, uuid1, hypervisor.Shutdown)
	_, err := e.call(rpc.GetConsole, uuid1, consoleReq(rpc.ConsoleSerial))
	wantCode(t, "console of a stopped guest", err, rpc.CodeRefused)
	_, err = e.call(rpc.GetConsole, uuid2, consoleReq(rpc.ConsoleNoVNC))
	wantCode(t, "console of an unknown guest", err, rpc.CodeNotFound)

	// A stopping agent ends the relays it runs.
	e.mustCall(rpc.PowerOn, uuid1, hypervisor.Running)
	rep = e.mustCall(rpc.GetConsole, uuid1, hypervisor.Running, consoleReq(rpc.ConsoleSerial))
	c = dialEndpoint(t, rep.Console)
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); line != fake.SerialBanner(uuid1) {
		t.Fatalf("serial banner %q, %v", line, err)
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	if _, err := io.ReadAll(r); err != nil {
		t.Errorf("serial console after the agent stopped: %v, want EOF", err)
	}
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop with a console connected")
	}
}

// TestRescheduleFault: a fake host told to fail builds answers a
// retryable error, so that the conductor tries another host.
func TestRescheduleFault(t *testing.T) {
	e := newEnv(t)
	d := fake.New(fake.Config{Faults: fake.Faults{FailSpawn: func(hypervisor.Instance) error {
		return errors.New("host on fire")
	}}})
	e.start(e.options(d))
	_, err := e.call(rpc.BuildAndRun, uuid1, buildReq("cirros"))
	if re := wantCode(t, "build on a failing host", err, rpc.CodeBuildFailed); !re.Retryable {
		t.Errorf("build failure %+v is not retryable", re)
	}
}
