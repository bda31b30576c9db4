// Package fake is a hypervisor driver with no processes: a guest is a few
// dozen bytes of state in a map, so one process can simulate thousands of
// compute hosts (one Driver each) and tens of thousands of guests, for
// scale tests and for tests of the agent, scheduler and API that need no
// real virtual machine. Tests steer it: injected failures and delays,
// Crash to make a guest die behind the agent's back.
//
// It is never the default driver: an agent runs it only when configured
// to.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

var (
	_ hypervisor.Driver        = (*Driver)(nil)
	_ hypervisor.Resizer       = (*Driver)(nil)
	_ hypervisor.Rescuer       = (*Driver)(nil)
	_ hypervisor.VNCConsole    = (*Driver)(nil)
	_ hypervisor.SerialConsole = (*Driver)(nil)
)

// Op names a driver operation, for Faults.
type Op string

// The operations, one per hypervisor.Driver method that acts on a guest.
const (
	OpSpawn         Op = "spawn"
	OpDestroy       Op = "destroy"
	OpPowerOff      Op = "power-off"
	OpPowerOn       Op = "power-on"
	OpReboot        Op = "reboot"
	OpPause         Op = "pause"
	OpUnpause       Op = "unpause"
	OpSuspend       Op = "suspend"
	OpResume        Op = "resume"
	OpInfo          Op = "info"
	OpConsoleOutput Op = "console-output"
	OpSnapshot      Op = "snapshot"
	OpResize        Op = "resize"
	OpConfirmResize Op = "confirm-resize"
	OpRevertResize  Op = "revert-resize"
	OpRescue        Op = "rescue"
	OpUnrescue      Op = "unrescue"
	OpConsole       Op = "console" // VNCAddr and DialSerial
)

// Faults are failures and slowness a test injects. Functions are called
// concurrently, from the goroutine of the driver call.
type Faults struct {
	// FailSpawn, when set, is asked before each Spawn; an error fails the
	// spawn (wrapped, so errors.Is finds it) and leaves no guest behind.
	FailSpawn func(inst hypervisor.Instance) error
	// Fail, when set, is asked before every guest operation (after
	// FailSpawn for a spawn); an error fails the operation and changes
	// nothing.
	Fail func(op Op, inst hypervisor.Instance) error
	// Delay is how long an operation takes before it acts; the call's
	// context cuts it short (and then the operation does nothing).
	Delay map[Op]time.Duration
}

// Config makes a Driver.
type Config struct {
	// Host is what the fake host reports. Zero fields get Nova's fake
	// driver's values: 1000 VCPUs, 800000 MB, 600000 GB, the machine's
	// hostname, Type "fake", Version 1000.
	Host   hypervisor.Host
	Faults Faults
	// ConsoleAddress is the IP address the fake VNC server listens on
	// (VNCAddr), started at the first request; default 127.0.0.1.
	ConsoleAddress string
}

// ErrState is wrapped by errors of operations the guest's state does not
// allow (pausing a stopped guest, spawning one twice); a real hypervisor
// refuses them too.
var ErrState = errors.New("fake: not allowed in the guest's state")

// Driver is one fake compute host. The zero value is not usable; call New.
type Driver struct {
	host   hypervisor.Host
	faults atomic.Pointer[Faults]
	epoch  time.Time // guests keep times as offsets from it, on the monotonic clock

	mu     sync.Mutex
	guests map[string]guest
	subs   map[*subscriber]struct{}

	consoleAddr string
	vnc         map[string]net.Listener // by guest: started by VNCAddr, closed by Destroy
	closed      bool
}

// guest is all the fake keeps per guest: small, no pointers but the map
// key, so 10,000 guests cost a few hundred kilobytes and no goroutines.
type guest struct {
	vcpus    int32
	memoryMB int32
	rootGB   int32
	state    hypervisor.PowerState
	boots    uint32        // times started: the console shows one boot each
	since    time.Duration // when it last started running, from epoch
	cpu      time.Duration // running time before since
	// The flavor before an unconfirmed resize (hasBackup), and whether
	// the guest boots from a rescue disk.
	old       flavor
	hasBackup bool
	rescued   bool
}

type flavor struct{ vcpus, memoryMB, rootGB int32 }

// New returns a fake host with no guests.
func New(cfg Config) *Driver {
	h := cfg.Host
	if h.Hostname == "" {
		h.Hostname, _ = os.Hostname()
		if h.Hostname == "" {
			h.Hostname = "fake-host"
		}
	}
	if h.VCPUs == 0 {
		h.VCPUs = 1000
	}
	if h.MemoryMB == 0 {
		h.MemoryMB = 800000
	}
	if h.DiskGB == 0 {
		h.DiskGB = 600000
	}
	if h.Type == "" {
		h.Type = "fake"
	}
	if h.Version == 0 {
		h.Version = 1000
	}
	if h.CPUInfo == "" {
		info, _ := json.Marshal(map[string]any{
			"arch": "x86_64", "model": "fake", "vendor": "nimbus", "features": []string{},
			"topology": map[string]int{"cells": 1, "sockets": 1, "cores": h.VCPUs, "threads": 1},
		})
		h.CPUInfo = string(info)
	}
	d := &Driver{
		host:        h,
		epoch:       time.Now(),
		guests:      make(map[string]guest),
		subs:        make(map[*subscriber]struct{}),
		consoleAddr: cfg.ConsoleAddress,
		vnc:         make(map[string]net.Listener),
	}
	if d.consoleAddr == "" {
		d.consoleAddr = "127.0.0.1"
	}
	d.SetFaults(cfg.Faults)
	return d
}

// SetFaults replaces the injected faults; calls already under way keep
// the old ones.
func (d *Driver) SetFaults(f Faults) {
	f.Delay = maps.Clone(f.Delay)
	d.faults.Store(&f)
}

// Len is how many guests the host has, in any state.
func (d *Driver) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.guests)
}

func (d *Driver) now() time.Duration { return time.Since(d.epoch) }

// Host describes the fake machine.
func (d *Driver) Host(ctx context.Context) (hypervisor.Host, error) {
	return d.host, ctx.Err()
}

// begin runs the injected fault and delay of op. It is called without the
// lock, before the operation acts.
func (d *Driver) begin(ctx context.Context, op Op, inst hypervisor.Instance) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := d.faults.Load()
	if op == OpSpawn && f.FailSpawn != nil {
		if err := f.FailSpawn(inst); err != nil {
			return fmt.Errorf("spawn %s: %w", inst.UUID, err)
		}
	}
	if f.Fail != nil {
		if err := f.Fail(op, inst); err != nil {
			return fmt.Errorf("%s %s: %w", op, inst.UUID, err)
		}
	}
	if delay := f.Delay[op]; delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// exists answers ErrNotFound before an operation spends its delay.
func (d *Driver) exists(uuid string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.guests[uuid]; !ok {
		return fmt.Errorf("guest %s: %w", uuid, hypervisor.ErrNotFound)
	}
	return nil
}

// act runs op on an existing guest: the fault and delay, then change
// under the lock.
func (d *Driver) act(ctx context.Context, op Op, inst hypervisor.Instance, change func(g *guest) error) error {
	if err := d.exists(inst.UUID); err != nil {
		return err
	}
	if err := d.begin(ctx, op, inst); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.guests[inst.UUID]
	if !ok {
		return fmt.Errorf("guest %s: %w", inst.UUID, hypervisor.ErrNotFound)
	}
	if err := change(&g); err != nil {
		return fmt.Errorf("%s %s: %w", op, inst.UUID, err)
	}
	d.guests[inst.UUID] = g
	return nil
}

// run and stop move a guest in and out of running, keeping its CPU time.
func (g *guest) run(now time.Duration) {
	if g.state != hypervisor.Running {
		g.since = now
	}
	g.state = hypervisor.Running
}

func (g *guest) stop(now time.Duration, state hypervisor.PowerState) {
	if g.state == hypervisor.Running {
		g.cpu += now - g.since
	}
	g.state = state
}

// live is whether the guest has a (simulated) process: what a real
// driver's Running would list.
func (g *guest) live() bool {
	return g.state == hypervisor.Running || g.state == hypervisor.Paused
}

func stateErr(want string, g *guest) error {
	return fmt.Errorf("guest is %s, not %s: %w", stateName(g.state), want, ErrState)
}

// Spawn creates a running guest.
func (d *Driver) Spawn(ctx context.Context, inst hypervisor.Instance) error {
	if inst.UUID == "" {
		return errors.New("fake: spawn: instance has no UUID")
	}
	if err := d.begin(ctx, OpSpawn, inst); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.guests[inst.UUID]; ok {
		return fmt.Errorf("spawn %s: guest exists: %w", inst.UUID, ErrState)
	}
	g := guest{vcpus: int32(inst.VCPUs), memoryMB: int32(inst.MemoryMB), rootGB: int32(inst.RootGB), boots: 1}
	g.run(d.now())
	d.guests[inst.UUID] = g
	return nil
}

// Destroy forgets the guest.
func (d *Driver) Destroy(ctx context.Context, inst hypervisor.Instance) error {
	if err := d.exists(inst.UUID); err != nil {
		return err
	}
	if err := d.begin(ctx, OpDestroy, inst); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.guests[inst.UUID]; !ok {
		return fmt.Errorf("guest %s: %w", inst.UUID, hypervisor.ErrNotFound)
	}
	delete(d.guests, inst.UUID)
	if l := d.vnc[inst.UUID]; l != nil {
		l.Close()
		delete(d.vnc, inst.UUID)
	}
	return nil
}

// PowerOff stops the guest whatever its state; the timeout is not waited
// for, a fake guest always honours ACPI at once.
func (d *Driver) PowerOff(ctx context.Context, inst hypervisor.Instance, timeout time.Duration) error {
	return d.act(ctx, OpPowerOff, inst, func(g *guest) error {
		g.stop(d.now(), hypervisor.Shutdown)
		return nil
	})
}

// PowerOn boots a guest that is not running; a running one is left alone.
// Like QEMU's cold boot, it forgets a suspended guest's saved memory.
func (d *Driver) PowerOn(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpPowerOn, inst, func(g *guest) error {
		if g.state == hypervisor.Running {
			return nil
		}
		if g.state != hypervisor.Paused {
			g.boots++
		}
		g.run(d.now())
		return nil
	})
}

// Reboot restarts the guest: soft only from running (as Nova allows),
// hard from any state.
func (d *Driver) Reboot(ctx context.Context, inst hypervisor.Instance, hard bool) error {
	return d.act(ctx, OpReboot, inst, func(g *guest) error {
		if !hard && g.state != hypervisor.Running {
			return stateErr("running", g)
		}
		g.boots++
		g.run(d.now())
		return nil
	})
}

// Pause freezes a running guest.
func (d *Driver) Pause(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpPause, inst, func(g *guest) error {
		if g.state != hypervisor.Running {
			return stateErr("running", g)
		}
		g.stop(d.now(), hypervisor.Paused)
		return nil
	})
}

// Unpause thaws a paused guest.
func (d *Driver) Unpause(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpUnpause, inst, func(g *guest) error {
		if g.state != hypervisor.Paused {
			return stateErr("paused", g)
		}
		g.run(d.now())
		return nil
	})
}

// Suspend saves a running guest (there is nothing to save).
func (d *Driver) Suspend(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpSuspend, inst, func(g *guest) error {
		if g.state != hypervisor.Running {
			return stateErr("running", g)
		}
		g.stop(d.now(), hypervisor.Suspended)
		return nil
	})
}

// Resume restores a suspended guest, without a new boot.
func (d *Driver) Resume(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpResume, inst, func(g *guest) error {
		if g.state != hypervisor.Suspended {
			return stateErr("suspended", g)
		}
		g.run(d.now())
		return nil
	})
}

// Info reports the guest's state; CPU time is its time spent running.
func (d *Driver) Info(ctx context.Context, inst hypervisor.Instance) (hypervisor.Info, error) {
	if err := d.exists(inst.UUID); err != nil {
		return hypervisor.Info{}, err
	}
	if err := d.begin(ctx, OpInfo, inst); err != nil {
		return hypervisor.Info{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.guests[inst.UUID]
	if !ok {
		return hypervisor.Info{}, fmt.Errorf("guest %s: %w", inst.UUID, hypervisor.ErrNotFound)
	}
	cpu := g.cpu
	if g.state == hypervisor.Running {
		cpu += d.now() - g.since
	}
	return hypervisor.Info{State: g.state, VCPUs: int(g.vcpus), MemoryMB: int(g.memoryMB), CPUTime: cpu}, nil
}

// Running lists the guests that are running or paused (those a real
// host has a process for), sorted.
func (d *Driver) Running(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	uuids := make([]string, 0, len(d.guests))
	for uuid, g := range d.guests {
		if g.live() {
			uuids = append(uuids, uuid)
		}
	}
	d.mu.Unlock()
	slices.Sort(uuids)
	return uuids, nil
}

// Crash makes a running or paused guest die as if its process were
// killed: it is shut down, and Events reports it.
func (d *Driver) Crash(uuid string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.guests[uuid]
	if !ok {
		return fmt.Errorf("crash %s: %w", uuid, hypervisor.ErrNotFound)
	}
	if !g.live() {
		return fmt.Errorf("crash %s: %w", uuid, stateErr("running or paused", &g))
	}
	g.stop(d.now(), hypervisor.Shutdown)
	d.guests[uuid] = g
	d.publish(hypervisor.Event{UUID: uuid, State: hypervisor.Shutdown, At: time.Now()})
	return nil
}

func stateName(s hypervisor.PowerState) string {
	switch s {
	case hypervisor.Running:
		return "running"
	case hypervisor.Paused:
		return "paused"
	case hypervisor.Shutdown:
		return "shut down"
	case hypervisor.Crashed:
		return "crashed"
	case hypervisor.Suspended:
		return "suspended"
	}
	return "pending"
}
