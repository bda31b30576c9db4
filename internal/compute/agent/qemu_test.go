package agent

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/qemu"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/test/guest/guestboot"
)

// TestQEMUGuestActions drives the real test guest through the agent and
// the qemu driver: a build with a config drive, its serial console
// through the agent's relay, a resize (ACPI power off, bigger disk and
// memory, started again), a rescue from the image and back, VNC.
// Opt-in, as the guest boots take seconds: NIMBUS_TEST_GUEST=1.
func TestQEMUGuestActions(t *testing.T) {
	for _, bin := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: %v", bin, err)
		}
	}
	if os.Getenv("NIMBUS_TEST_GUEST") != "1" {
		t.Skip("set NIMBUS_TEST_GUEST=1 to boot the test guest image")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	img, err := guestboot.ImageFromEnv(ctx, "../../../test/guest/build-image.sh", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.images.add("guest", "qcow2", data)
	// Short paths: QEMU's sockets live in the guests' directories.
	dirs, err := os.MkdirTemp("", "agentq-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dirs) })
	d, err := qemu.New(qemu.Options{InstancesDir: filepath.Join(dirs, "i"), VNC: true, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	o := e.options(d)
	o.InstancesDir = filepath.Join(dirs, "i")
	e.start(o)
	t.Cleanup(func() { e.call(rpc.Destroy, uuid1) })

	marker := "nimbus-guest: instance " + uuid1 + " key mykey"
	markers := func() int {
		rep, err := e.call(rpc.ConsoleOutput, uuid1)
		if err != nil || rep.Output == nil {
			t.Fatalf("console output: %v", err)
		}
		return strings.Count(*rep.Output, marker)
	}
	waitMarkers := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); markers() < n; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("console shows the guest's line %d times, want %d", markers(), n)
			}
		}
	}
	call := func(op rpc.Op, want hypervisor.PowerState, mods ...func(*rpc.Request)) rpc.Reply {
		t.Helper()
		rctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		req := rpc.Request{Op: op, Instance: rpc.Instance{UUID: uuid1}}
		for _, m := range mods {
			m(&req)
		}
		rep, err := e.client.Call(rctx, testHost, req)
		if err != nil || rep.PowerState != want {
			t.Fatalf("%s: %+v, %v; want power state %d", op, rep, err, want)
		}
		return rep
	}

	call(rpc.BuildAndRun, hypervisor.Running, func(r *rpc.Request) {
		r.Instance.Name = "instance-00000001"
		r.Instance.Flavor = &rpc.Flavor{VCPUs: 1, RAM: 256, Disk: 1}
		r.Image = &rpc.Image{ID: "guest", DiskFormat: "qcow2"}
		r.ConfigDrive = &rpc.ConfigDrive{Name: "vm1", Hostname: "vm1.novalocal",
			Keys: []configdrive.Key{{Name: "mykey", Type: "ssh", Data: "ssh-ed25519 AAAAC3Nz mykey"}}}
	})
	waitMarkers(1)

	// The serial console, relayed by the agent, shows the next boot.
	rep := call(rpc.GetConsole, hypervisor.Running, consoleReq(rpc.ConsoleSerial))
	c := dialEndpoint(t, rep.Console)
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	call(rpc.Reboot, hypervisor.Running, func(r *rpc.Request) { r.Hard = true })
	sc := bufio.NewScanner(c)
	for sc.Scan() && !strings.Contains(sc.Text(), marker) {
	}
	if !strings.Contains(sc.Text(), marker) {
		t.Errorf("serial console ended without the guest's line: %v", sc.Err())
	}
	c.Close()

	rep = call(rpc.GetConsole, hypervisor.Running, consoleReq(rpc.ConsoleNoVNC))
	v := dialEndpoint(t, rep.Console)
	if line, err := bufio.NewReader(v).ReadString('\n'); !strings.HasPrefix(line, "RFB ") {
		t.Errorf("VNC greets %q, %v", line, err)
	}
	v.Close()

	call(rpc.Resize, hypervisor.Running, flavorIs(rpc.Flavor{VCPUs: 2, RAM: 384, Disk: 2}), func(r *rpc.Request) { r.Timeout = 60 })
	waitMarkers(3)
	if info := call(rpc.GetInfo, hypervisor.Running).Info; info.VCPUs != 2 || info.MemoryMB != 384 {
		t.Errorf("after resize: %+v", info)
	}
	call(rpc.ConfirmResize, hypervisor.Running)
	call(rpc.Rescue, hypervisor.Running, func(r *rpc.Request) { r.Image = &rpc.Image{ID: "guest"} })
	waitMarkers(4)
	call(rpc.Unrescue, hypervisor.Running)
	waitMarkers(5)
	if n := e.images.count("guest"); n != 1 {
		t.Errorf("image downloaded %d times, want once", n)
	}
}
