package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// Info reports the guest's power state: QEMU's run state while its
// process lives; Shutdown, or Suspended when its memory is saved, once
// the process is gone; ErrNotFound when it has no disk.
func (d *Driver) Info(ctx context.Context, inst hypervisor.Instance) (hypervisor.Info, error) {
	p, err := d.lookup(ctx, inst.UUID, inst.Dir)
	if err != nil {
		return hypervisor.Info{}, err
	}
	if p == nil {
		if err := d.haveDisk(inst); err != nil {
			return hypervisor.Info{}, err
		}
		info := hypervisor.Info{State: hypervisor.Shutdown, VCPUs: inst.VCPUs, MemoryMB: inst.MemoryMB}
		if exists(filepath.Join(inst.Dir, stateFile)) {
			info.State = hypervisor.Suspended
		}
		return info, nil
	}
	var st qmpStatus
	if err := p.mon.run(ctx, &st, "query-status", nil); err != nil {
		if !p.alive() {
			// Died while asked: the next look finds it stopped.
			return d.Info(ctx, inst)
		}
		return hypervisor.Info{}, fmt.Errorf("guest %s: %w", inst.UUID, err)
	}
	info := hypervisor.Info{State: st.state(), VCPUs: inst.VCPUs, MemoryMB: inst.MemoryMB, CPUTime: cpuTime(p.pid)}
	var cpus []struct{}
	if err := p.mon.run(ctx, &cpus, "query-cpus-fast", nil); err == nil {
		info.VCPUs = len(cpus)
	}
	var mem struct {
		BaseMemory int64 `json:"base-memory"`
	}
	if err := p.mon.run(ctx, &mem, "query-memory-size-summary", nil); err == nil {
		info.MemoryMB = int(mem.BaseMemory >> 20)
	}
	return info, nil
}

// Running lists the guests whose QEMU runs (paused ones included): those
// the driver watches and those in InstancesDir/<uuid> with a live QEMU
// for that UUID. Those it did not watch yet it takes over, so that their
// events are reported; one it cannot talk to is listed all the same.
func (d *Driver) Running(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	d.mu.Lock()
	for uuid, p := range d.procs {
		if p.alive() {
			seen[uuid] = true
		}
	}
	d.mu.Unlock()
	if d.o.InstancesDir != "" {
		entries, err := os.ReadDir(d.o.InstancesDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("list guests: %w", err)
		}
		for _, e := range entries {
			uuid := e.Name()
			if !e.IsDir() || seen[uuid] {
				continue
			}
			dir := filepath.Join(d.o.InstancesDir, uuid)
			if livePid(dir, uuid) == 0 {
				continue
			}
			seen[uuid] = true
			if _, err := d.lookup(ctx, uuid, dir); err != nil {
				d.log.Warn("running guest not taken over", "uuid", uuid, "err", err)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for uuid := range seen {
		out = append(out, uuid)
	}
	sort.Strings(out)
	return out, nil
}

// ConsoleOutput is the tail of what the guest wrote to its serial port,
// kept in console.log across restarts.
func (d *Driver) ConsoleOutput(ctx context.Context, inst hypervisor.Instance, maxBytes int) ([]byte, error) {
	if err := d.haveDisk(inst); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(inst.Dir, consoleLog))
	if errors.Is(err, fs.ErrNotExist) {
		return []byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console of guest %s: %w", inst.UUID, err)
	}
	defer f.Close()
	if maxBytes > 0 {
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if off := st.Size() - int64(maxBytes); off > 0 {
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				return nil, err
			}
		}
	}
	return io.ReadAll(f)
}

// SerialSocket is the unix socket of the guest's serial console, for a
// console proxy. QEMU serves one client at a time; what the guest writes
// goes to console.log as well, connected or not. The path may be too
// long to dial as it is (a socket address holds 107 bytes): DialSerial
// connects however long it is.
func (d *Driver) SerialSocket(inst hypervisor.Instance) string {
	return filepath.Join(inst.Dir, serialSock)
}

// DialSerial connects to the guest's serial console: what the guest
// writes comes out, what is written goes to the guest.
func (d *Driver) DialSerial(ctx context.Context, inst hypervisor.Instance) (net.Conn, error) {
	c, err := dialUnix(ctx, d.SerialSocket(inst))
	if err != nil {
		return nil, fmt.Errorf("serial console of guest %s: %w", inst.UUID, err)
	}
	return c, nil
}

// VNCAddr is the host:port of the running guest's VNC display, on
// Options.VNCAddress (Options.VNC).
func (d *Driver) VNCAddr(ctx context.Context, inst hypervisor.Instance) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if !d.o.VNC {
		return "", fmt.Errorf("VNC is off on this host's QEMU driver: %w", errors.ErrUnsupported)
	}
	p, err := d.running(ctx, inst, "VNC of")
	if err != nil {
		return "", err
	}
	var v struct {
		Enabled bool   `json:"enabled"`
		Host    string `json:"host"`
		Service string `json:"service"`
	}
	if err := p.mon.run(ctx, &v, "query-vnc", nil); err != nil {
		return "", fmt.Errorf("VNC of guest %s: %w", inst.UUID, err)
	}
	if !v.Enabled || v.Service == "" {
		return "", fmt.Errorf("VNC of guest %s: not enabled", inst.UUID)
	}
	return net.JoinHostPort(v.Host, v.Service), nil
}
