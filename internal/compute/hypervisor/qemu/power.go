package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// How long QEMU gets to exit after `quit` before it is killed.
const quitTimeout = 5 * time.Second

// Spawn creates the guest's disk, an overlay on the base image grown to
// RootGB, and starts it.
func (d *Driver) Spawn(ctx context.Context, inst hypervisor.Instance) error {
	if err := checkInstance(inst); err != nil {
		return err
	}
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	if p != nil {
		return fmt.Errorf("spawn guest %s: it is already running (pid %d)", inst.UUID, p.pid)
	}
	if err := os.MkdirAll(inst.Dir, 0o750); err != nil {
		return fmt.Errorf("spawn guest %s: %w", inst.UUID, err)
	}
	if err := d.createDisk(ctx, inst); err != nil {
		return err
	}
	os.Remove(filepath.Join(inst.Dir, stateFile))
	_, err = d.start(ctx, inst, nil)
	return err
}

// checkInstance rejects an Instance QEMU cannot run.
func checkInstance(inst hypervisor.Instance) error {
	switch {
	case inst.UUID == "":
		return errors.New("guest has no UUID")
	case !filepath.IsAbs(inst.Dir) || filepath.Clean(inst.Dir) == "/":
		return fmt.Errorf("guest %s: directory %q must be an absolute path below /", inst.UUID, inst.Dir)
	case inst.VCPUs <= 0 || inst.MemoryMB <= 0:
		return fmt.Errorf("guest %s: needs at least one vCPU and some memory (%d vCPUs, %d MB)", inst.UUID, inst.VCPUs, inst.MemoryMB)
	}
	for _, mac := range inst.MACs {
		if hw, err := net.ParseMAC(mac); mac != "" && (err != nil || len(hw) != 6) {
			return fmt.Errorf("guest %s: bad MAC address %q", inst.UUID, mac)
		}
	}
	return nil
}

// start runs QEMU for a guest whose disk exists, and watches it.
// incoming, when not nil, is a saved memory state to restore.
func (d *Driver) start(ctx context.Context, inst hypervisor.Instance, incoming *os.File) (*proc, error) {
	if err := checkInstance(inst); err != nil {
		return nil, err
	}
	l := launch{Inst: inst, Accel: d.accel, CPU: d.cpu, Cache: cacheMode(inst.Dir)}
	if d.o.VNC {
		l.VNCDisplays, l.VNCAddress = d.o.VNCDisplays, d.o.VNCAddress
	}
	if rescue := filepath.Join(inst.Dir, rescueFile); exists(rescue) {
		l.Rescue = rescue
	}
	var extra []*os.File
	if incoming != nil {
		extra = []*os.File{incoming}
		l.Incoming = "fd:3" // ExtraFiles[0]
	}
	// No QEMU runs for this guest (the caller checked), so these are
	// leftovers of one that died.
	for _, f := range []string{qmpSock, serialSock, pidFile} {
		os.Remove(filepath.Join(inst.Dir, f))
	}
	var out bytes.Buffer
	cmd := exec.Command(d.o.Binary, l.args()...)
	cmd.Dir = inst.Dir // where QEMU binds its sockets
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.ExtraFiles = extra
	// With -daemonize the command returns once the guest's QEMU is set
	// up (sockets listening, pid file written) and the daemon lives on
	// in its own session, out of the agent's process group.
	cmd.WaitDelay = 5 * time.Second
	begin := time.Now()
	if err := runBounded(ctx, cmd); err != nil {
		if pid := livePid(inst.Dir, inst.UUID); pid != 0 {
			kill(pid, inst.UUID)
		}
		return nil, fmt.Errorf("start guest %s: %w: %s", inst.UUID, err, bytes.TrimSpace(out.Bytes()))
	}
	pid, err := readPid(inst.Dir)
	if err != nil {
		return nil, fmt.Errorf("start guest %s: %w", inst.UUID, err)
	}
	want := hypervisor.Running
	p, err := d.adopt(ctx, inst.UUID, inst.Dir, pid, want)
	if err != nil {
		kill(pid, inst.UUID)
		return nil, err
	}
	d.log.Info("guest started", "uuid", inst.UUID, "pid", pid, "accel", d.accel, "restore", incoming != nil,
		"took", time.Since(begin).Round(time.Millisecond))
	return p, nil
}

// runBounded runs cmd, killing it if ctx ends first.
func runBounded(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// cacheMode is "none" (O_DIRECT, as Nova prefers) when dir's file system
// supports it, else "writeback" (tmpfs has no O_DIRECT).
func cacheMode(dir string) string {
	f, err := os.CreateTemp(dir, ".direct-io-")
	if err != nil {
		return "writeback"
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	g, err := os.OpenFile(name, os.O_RDWR|syscall.O_DIRECT, 0)
	if err != nil {
		return "writeback"
	}
	g.Close()
	return "none"
}

// PowerOn starts a stopped guest on its disk. A guest whose memory was
// saved by Suspend is restored from it, as libvirt starts a domain with a
// managed save image.
func (d *Driver) PowerOn(ctx context.Context, inst hypervisor.Instance) error {
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil || p != nil {
		return err
	}
	if err := d.haveDisk(inst); err != nil {
		return err
	}
	if exists(filepath.Join(inst.Dir, stateFile)) {
		return d.restore(ctx, inst)
	}
	_, err = d.start(ctx, inst, nil)
	return err
}

// haveDisk is ErrNotFound for a guest with no disk: the driver knows a
// guest from Spawn to Destroy by its disk (its directory may be there
// before, holding the config drive the agent made).
func (d *Driver) haveDisk(inst hypervisor.Instance) error {
	if inst.Dir == "" || !exists(filepath.Join(inst.Dir, diskFile)) {
		return fmt.Errorf("guest %s: %w", inst.UUID, hypervisor.ErrNotFound)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// PowerOff presses the guest's power button (ACPI) and waits up to
// timeout for it to shut down, then ends QEMU: `quit`, then SIGKILL.
func (d *Driver) PowerOff(ctx context.Context, inst hypervisor.Instance, timeout time.Duration) error {
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	if p == nil {
		return d.haveDisk(inst)
	}
	p.setWant(hypervisor.Shutdown)
	if timeout > 0 && d.shutdownACPI(ctx, p, timeout) {
		return nil
	}
	return d.forceOff(ctx, p)
}

// shutdownACPI asks a running guest to power down and tells whether it
// did within timeout. A paused guest cannot answer, so it is not asked.
func (d *Driver) shutdownACPI(ctx context.Context, p *proc, timeout time.Duration) bool {
	var st qmpStatus
	if err := p.mon.run(ctx, &st, "query-status", nil); err != nil || !st.Running {
		return false
	}
	// A guest still booting ignores the button (its OS does not listen
	// yet): press it again now and then, as Nova does.
	deadline := time.Now().Add(timeout)
	for {
		if err := p.mon.run(ctx, nil, "system_powerdown", nil); err != nil {
			if !p.alive() {
				return true
			}
			d.log.Warn("ACPI power down", "uuid", p.uuid, "err", err)
			return false
		}
		wait := min(time.Until(deadline), powerdownRetry)
		if p.waitGone(ctx, wait) {
			return true
		}
		if time.Until(deadline) <= 0 || ctx.Err() != nil {
			break
		}
	}
	d.log.Info("guest ignored ACPI power down; forcing it off", "uuid", p.uuid, "after", timeout)
	return false
}

// powerdownRetry is how often the power button is pressed again while a
// guest does not shut down.
const powerdownRetry = 2 * time.Second

// forceOff ends a guest's QEMU: `quit`, then SIGKILL.
func (d *Driver) forceOff(ctx context.Context, p *proc) error {
	qctx, cancel := context.WithTimeout(ctx, quitTimeout)
	err := p.mon.run(qctx, nil, "quit", nil)
	cancel()
	if err == nil || errors.Is(err, errMonitorClosed) {
		if p.waitGone(ctx, quitTimeout) {
			return nil
		}
	}
	if err := kill(p.pid, p.uuid); err != nil {
		return err
	}
	if !p.waitGone(ctx, quitTimeout) {
		return fmt.Errorf("guest %s: qemu (pid %d) survived SIGKILL", p.uuid, p.pid)
	}
	return nil
}

// Reboot restarts the guest. Hard is a reset (a stopped or suspended
// guest is started afresh). Soft is an ACPI shutdown and a new start;
// a guest that does not shut down within Options.SoftRebootTimeout is
// reset instead.
func (d *Driver) Reboot(ctx context.Context, inst hypervisor.Instance, hard bool) error {
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	if p == nil {
		if err := d.haveDisk(inst); err != nil {
			return err
		}
		os.Remove(filepath.Join(inst.Dir, stateFile))
		_, err := d.start(ctx, inst, nil)
		return err
	}
	if !hard {
		p.setWant(hypervisor.Shutdown)
		if d.shutdownACPI(ctx, p, d.o.SoftRebootTimeout) {
			_, err := d.start(ctx, inst, nil)
			return err
		}
		if !p.alive() {
			_, err := d.start(ctx, inst, nil)
			return err
		}
	}
	p.setWant(hypervisor.Running)
	if err := p.mon.run(ctx, nil, "system_reset", nil); err != nil {
		return fmt.Errorf("reboot guest %s: %w", inst.UUID, err)
	}
	var st qmpStatus
	if err := p.mon.run(ctx, &st, "query-status", nil); err != nil {
		return fmt.Errorf("reboot guest %s: %w", inst.UUID, err)
	}
	if !st.Running {
		if err := p.mon.run(ctx, nil, "cont", nil); err != nil {
			return fmt.Errorf("reboot guest %s: %w", inst.UUID, err)
		}
	}
	return nil
}

// running is the guest's process, or an error saying it does not run.
func (d *Driver) running(ctx context.Context, inst hypervisor.Instance, action string) (*proc, error) {
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return nil, err
	}
	if p == nil {
		if err := d.haveDisk(inst); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s guest %s: it is not running", action, inst.UUID)
	}
	return p, nil
}

// Pause stops the guest's vCPUs; it keeps its memory.
func (d *Driver) Pause(ctx context.Context, inst hypervisor.Instance) error {
	p, err := d.running(ctx, inst, "pause")
	if err != nil {
		return err
	}
	p.setWant(hypervisor.Paused)
	if err := p.mon.run(ctx, nil, "stop", nil); err != nil {
		return fmt.Errorf("pause guest %s: %w", inst.UUID, err)
	}
	return nil
}

// Unpause lets a paused guest run on.
func (d *Driver) Unpause(ctx context.Context, inst hypervisor.Instance) error {
	p, err := d.running(ctx, inst, "unpause")
	if err != nil {
		return err
	}
	p.setWant(hypervisor.Running)
	if err := p.mon.run(ctx, nil, "cont", nil); err != nil {
		return fmt.Errorf("unpause guest %s: %w", inst.UUID, err)
	}
	return nil
}

// Suspend saves the guest's memory and devices to its directory (a
// migration into a file) and ends its QEMU.
func (d *Driver) Suspend(ctx context.Context, inst hypervisor.Instance) (err error) {
	p, err := d.running(ctx, inst, "suspend")
	if err != nil {
		return err
	}
	before := p.wanted()
	p.setWant(hypervisor.Suspended)
	tmp := filepath.Join(inst.Dir, stateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("suspend guest %s: %w", inst.UUID, err)
	}
	defer func() {
		f.Close()
		if err != nil {
			os.Remove(tmp)
			// Let the guest go on as it was.
			if p.alive() {
				p.setWant(before)
				if before == hypervisor.Running {
					p.mon.run(context.WithoutCancel(ctx), nil, "cont", nil)
				}
			}
			err = fmt.Errorf("suspend guest %s: %w", inst.UUID, err)
		}
	}()
	// Stopped first, the state is written once, with no dirty pages to
	// chase; and at full speed rather than the migration default.
	if err := p.mon.run(ctx, nil, "stop", nil); err != nil {
		return err
	}
	if err := p.mon.run(ctx, nil, "migrate-set-parameters", map[string]any{"max-bandwidth": int64(1) << 40}); err != nil {
		return err
	}
	// The descriptor goes over the socket, so QEMU writes the file
	// itself: "completed" then means every byte is written, which an
	// exec: helper process would not promise.
	if err := p.mon.runWithFile(ctx, nil, "getfd", map[string]string{"fdname": "suspend"}, f); err != nil {
		return err
	}
	if err := p.mon.run(ctx, nil, "migrate", map[string]string{"uri": "fd:suspend"}); err != nil {
		return err
	}
	if err := waitMigration(ctx, p); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(inst.Dir, stateFile)); err != nil {
		return err
	}
	syncDir(inst.Dir)
	return d.forceOff(ctx, p)
}

// waitMigration polls an outgoing migration until it ends.
func waitMigration(ctx context.Context, p *proc) error {
	for {
		var m struct {
			Status    string `json:"status"`
			ErrorDesc string `json:"error-desc"`
		}
		if err := p.mon.run(ctx, &m, "query-migrate", nil); err != nil {
			return err
		}
		switch m.Status {
		case "completed":
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("saving memory %s: %s", m.Status, m.ErrorDesc)
		}
		select {
		case <-ctx.Done():
			p.mon.run(context.WithoutCancel(ctx), nil, "migrate_cancel", nil)
			return ctx.Err()
		case <-p.done:
			return errors.New("qemu ended while saving memory")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// Resume restores a suspended guest from its saved memory.
func (d *Driver) Resume(ctx context.Context, inst hypervisor.Instance) error {
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return err
	}
	if p != nil {
		return fmt.Errorf("resume guest %s: it is running, not suspended", inst.UUID)
	}
	if err := d.haveDisk(inst); err != nil {
		return err
	}
	if !exists(filepath.Join(inst.Dir, stateFile)) {
		return fmt.Errorf("resume guest %s: it is not suspended (no saved memory)", inst.UUID)
	}
	return d.restore(ctx, inst)
}

// restore starts QEMU loading the saved memory, lets the guest run and
// drops the saved state.
func (d *Driver) restore(ctx context.Context, inst hypervisor.Instance) (err error) {
	path := filepath.Join(inst.Dir, stateFile)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("resume guest %s: %w", inst.UUID, err)
	}
	p, err := d.start(ctx, inst, f)
	f.Close()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			p.setWant(hypervisor.Shutdown)
			d.forceOff(context.WithoutCancel(ctx), p)
			err = fmt.Errorf("resume guest %s: %w", inst.UUID, err)
		}
	}()
	for {
		var st qmpStatus
		if err := p.mon.run(ctx, &st, "query-status", nil); err != nil {
			return fmt.Errorf("loading saved memory: %w", err)
		}
		if st.Status != "inmigrate" {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return errors.New("qemu ended while loading saved memory")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := p.mon.run(ctx, nil, "cont", nil); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Destroy ends the guest's QEMU at once if it runs and removes its
// directory.
func (d *Driver) Destroy(ctx context.Context, inst hypervisor.Instance) error {
	if inst.UUID == "" || !filepath.IsAbs(inst.Dir) || filepath.Clean(inst.Dir) == "/" {
		return fmt.Errorf("destroy guest %q: refusing directory %q", inst.UUID, inst.Dir)
	}
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		// A QEMU we cannot talk to still has to go.
		if pid := livePid(inst.Dir, inst.UUID); pid != 0 {
			d.log.Warn("destroy: killing a guest without its monitor", "uuid", inst.UUID, "err", err)
			if err := kill(pid, inst.UUID); err != nil {
				return err
			}
		}
	} else if p != nil {
		p.setWant(hypervisor.Shutdown)
		if err := d.forceOff(ctx, p); err != nil {
			return fmt.Errorf("destroy guest %s: %w", inst.UUID, err)
		}
	}
	if err := os.RemoveAll(inst.Dir); err != nil {
		return fmt.Errorf("destroy guest %s: %w", inst.UUID, err)
	}
	return nil
}
