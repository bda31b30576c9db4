package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// proc is one running QEMU process of a guest and the driver's watch on
// it. It ends (done closes) when the process is gone or the driver lets
// go of it; a guest started again gets a new proc.
type proc struct {
	uuid string
	dir  string
	pid  int
	mon  *monitor
	done chan struct{}

	mu sync.Mutex
	// wants are the states the driver asked for, latest last, with when
	// it did. A change QEMU reports that is not the one wanted at the
	// time did not come from the driver, and is reported on Events: the
	// guest powered itself off, QEMU was killed, paused on an I/O error.
	// An event is judged against the wish in force when QEMU sent it (its
	// timestamp is the same clock), not when the watcher gets to it: by
	// then the next action may have begun.
	wants    []wantAt
	detached bool // the driver let go (Close); nothing to report
	// reported is the last state sent on Events (watcher only).
	reported hypervisor.PowerState
}

type wantAt struct {
	at    int64 // Unix microseconds
	state hypervisor.PowerState
}

func (p *proc) setWant(s hypervisor.PowerState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.wants) >= 16 {
		p.wants = append(p.wants[:0], p.wants[len(p.wants)-8:]...)
	}
	p.wants = append(p.wants, wantAt{time.Now().UnixMicro(), s})
}

// wanted is the state last asked for.
func (p *proc) wanted() hypervisor.PowerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.wants) == 0 {
		return hypervisor.NoState
	}
	return p.wants[len(p.wants)-1].state
}

// wantedAt is the state asked for at the time t.
func (p *proc) wantedAt(t time.Time) hypervisor.PowerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	us := t.UnixMicro()
	for i := len(p.wants) - 1; i > 0; i-- {
		if p.wants[i].at <= us {
			return p.wants[i].state
		}
	}
	if len(p.wants) == 0 {
		return hypervisor.NoState
	}
	return p.wants[0].state
}

func (p *proc) detach() {
	p.mu.Lock()
	p.detached = true
	p.mu.Unlock()
	p.mon.close()
}

// alive tells whether the process still runs.
func (p *proc) alive() bool { return procAlive(p.pid, p.uuid) }

// waitGone waits up to timeout (or ctx) for the process to end and tells
// whether it did.
func (p *proc) waitGone(ctx context.Context, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	case <-ctx.Done():
	}
	return !p.alive()
}

// procAlive tells whether pid is a live QEMU of the guest uuid: a pid
// file may outlive its process (kill -9) and the pid be reused, so the
// command line must name the guest, and a zombie counts as dead.
func procAlive(pid int, uuid string) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00-uuid\x00"+uuid+"\x00")) {
		return false
	}
	st, err := procStat(pid)
	return err == nil && st[0] != "Z" && st[0] != "X"
}

// procStat is /proc/pid/stat's fields from the state on (field 3), the
// command name skipped as it may hold spaces.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	return f, nil
}

// cpuTime is the user and system time a process has used.
func cpuTime(pid int) time.Duration {
	f, err := procStat(pid)
	if err != nil {
		return 0
	}
	// utime and stime, fields 14 and 15, in clock ticks; USER_HZ is 100
	// on every Linux architecture.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * (time.Second / 100)
}

// readPid reads a guest's pid file.
func readPid(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", filepath.Join(dir, pidFile), err)
	}
	return pid, nil
}

// livePid is the pid of the guest's running QEMU, 0 when none runs.
func livePid(dir, uuid string) int {
	pid, err := readPid(dir)
	if err != nil || !procAlive(pid, uuid) {
		return 0
	}
	return pid
}

// lookup returns the watched process of a running guest, taking over a
// QEMU that another agent started (re-adoption) when the driver does not
// watch it yet; nil when the guest does not run.
func (d *Driver) lookup(ctx context.Context, uuid, dir string) (*proc, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("qemu driver closed")
	}
	p := d.procs[uuid]
	d.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
		default:
			if p.alive() {
				return p, nil
			}
			// Dead, the watcher has not noticed yet: let it.
			p.waitGone(ctx, 5*time.Second)
		}
	}
	pid := livePid(dir, uuid)
	if pid == 0 {
		return nil, nil
	}
	return d.adopt(ctx, uuid, dir, pid, hypervisor.NoState)
}

// adopt connects to the QMP socket of a running QEMU and watches it.
// want is the state the driver expects; NoState takes QEMU's own.
func (d *Driver) adopt(ctx context.Context, uuid, dir string, pid int, want hypervisor.PowerState) (*proc, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	mon, err := dialMonitor(cctx, filepath.Join(dir, qmpSock))
	if err != nil {
		return nil, fmt.Errorf("take over guest %s (pid %d): %w", uuid, pid, err)
	}
	p := &proc{uuid: uuid, dir: dir, pid: pid, mon: mon, done: make(chan struct{})}
	if want == hypervisor.NoState {
		var st qmpStatus
		if err := mon.run(cctx, &st, "query-status", nil); err != nil {
			mon.close()
			return nil, fmt.Errorf("take over guest %s: %w", uuid, err)
		}
		want = hypervisor.Running
		if st.state() == hypervisor.Paused {
			want = hypervisor.Paused
		}
	}
	p.setWant(want)
	d.mu.Lock()
	if old := d.procs[uuid]; old != nil && old.alive() {
		select {
		case <-old.done:
		default:
			// Someone adopted it meanwhile.
			d.mu.Unlock()
			mon.close()
			return old, nil
		}
	}
	if d.closed {
		d.mu.Unlock()
		mon.close()
		return nil, errors.New("qemu driver closed")
	}
	d.procs[uuid] = p
	d.wg.Add(1)
	d.mu.Unlock()
	go d.watch(p)
	if want == hypervisor.NoState {
		d.log.Info("took over running guest", "uuid", uuid, "pid", pid)
	}
	return p, nil
}

// watch follows a QEMU's events until its QMP connection ends, then
// settles whether the process is gone.
func (d *Driver) watch(p *proc) {
	defer d.wg.Done()
	defer close(p.done)
	for ev := range p.mon.events {
		d.onEvent(p, ev)
	}
	p.mu.Lock()
	detached := p.detached
	p.mu.Unlock()
	if detached {
		return
	}
	// QEMU closes its monitor as it exits; give it a moment to be gone.
	gone := false
	for i := 0; i < 500 && !gone; i++ {
		if gone = !p.alive(); !gone {
			time.Sleep(10 * time.Millisecond)
		}
	}
	d.mu.Lock()
	if d.procs[p.uuid] == p {
		delete(d.procs, p.uuid)
	}
	d.mu.Unlock()
	p.mon.close()
	if !gone {
		// The connection broke under a live QEMU; the next call on the
		// guest connects again.
		d.log.Warn("lost the QMP connection of a running guest", "uuid", p.uuid, "pid", p.pid)
		return
	}
	want := p.wanted()
	d.log.Info("guest process ended", "uuid", p.uuid, "pid", p.pid, "wanted", want)
	if want == hypervisor.Running || want == hypervisor.Paused {
		d.publish(hypervisor.Event{UUID: p.uuid, State: hypervisor.Shutdown, At: time.Now()})
	}
}

func (d *Driver) onEvent(p *proc, ev qmp.Event) {
	at := eventTime(ev)
	want := p.wantedAt(at)
	d.log.Debug("qmp event", "uuid", p.uuid, "event", ev.Event, "data", ev.Data, "wanted", want)
	switch ev.Event {
	case "STOP":
		if want == hypervisor.Running {
			p.reported = hypervisor.Paused
			d.publish(hypervisor.Event{UUID: p.uuid, State: hypervisor.Paused, At: at})
		}
	case "RESUME":
		// Also after an unrequested pause was reported: the agent
		// believes the guest paused.
		if want == hypervisor.Paused || p.reported == hypervisor.Paused {
			p.reported = hypervisor.Running
			d.publish(hypervisor.Event{UUID: p.uuid, State: hypervisor.Running, At: at})
		}
	case "GUEST_PANICKED":
		d.publish(hypervisor.Event{UUID: p.uuid, State: hypervisor.Crashed, At: at})
	case "SHUTDOWN", "RESET", "POWERDOWN":
		d.log.Info("guest event", "uuid", p.uuid, "event", ev.Event, "data", ev.Data)
	}
}

func eventTime(ev qmp.Event) time.Time {
	if ev.Timestamp.Seconds == 0 {
		return time.Now()
	}
	return time.Unix(ev.Timestamp.Seconds, ev.Timestamp.Microseconds*1000)
}

// kill ends a process by signal, checking first that pid is still the
// guest's QEMU.
func kill(pid int, uuid string) error {
	if !procAlive(pid, uuid) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill qemu %d: %w", pid, err)
	}
	return nil
}

// qmpStatus is query-status's answer.
type qmpStatus struct {
	Status  string `json:"status"`
	Running bool   `json:"running"`
}

// state maps QEMU's run state to Nova's power state, as libvirt's does.
func (s qmpStatus) state() hypervisor.PowerState {
	switch s.Status {
	case "running", "colo":
		return hypervisor.Running
	case "shutdown":
		return hypervisor.Shutdown
	case "guest-panicked", "internal-error":
		return hypervisor.Crashed
	case "suspended": // the guest's own ACPI S3
		return hypervisor.Suspended
	default: // paused, io-error, watchdog, debug, inmigrate, postmigrate, ...
		return hypervisor.Paused
	}
}
