package fake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// maxBoots bounds the boots a console shows, as a real log is rotated.
const maxBoots = 64

// ConsoleOutput is a serial log made up from the guest's history: one
// boot's worth of lines per start, each with the line the test image
// prints once it has read its config drive. The fake knows no key names,
// so it prints "none". The same history always gives the same bytes.
func (d *Driver) ConsoleOutput(ctx context.Context, inst hypervisor.Instance, maxBytes int) ([]byte, error) {
	if err := d.exists(inst.UUID); err != nil {
		return nil, err
	}
	if err := d.begin(ctx, OpConsoleOutput, inst); err != nil {
		return nil, err
	}
	d.mu.Lock()
	g, ok := d.guests[inst.UUID]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("guest %s: %w", inst.UUID, hypervisor.ErrNotFound)
	}
	out := consoleLog(inst.UUID, g)
	if maxBytes > 0 && len(out) > maxBytes {
		out = out[len(out)-maxBytes:]
	}
	return out, nil
}

// Marker is the line the test guest image prints on its console once it
// booted, for an instance whose key name the driver does not know.
func Marker(uuid string) string {
	return "nimbus-guest: instance " + uuid + " key none"
}

func consoleLog(uuid string, g guest) []byte {
	var b []byte
	first := uint32(1)
	if g.boots > maxBoots {
		first = g.boots - maxBoots + 1
	}
	for boot := first; boot <= g.boots; boot++ {
		b = fmt.Appendf(b, "[    0.000000] Linux version 6.1.0-nimbus-fake (fake hypervisor) #%d\n", boot)
		b = fmt.Appendf(b, "[    0.000000] Command line: console=ttyS0\n")
		b = fmt.Appendf(b, "[    0.000000] Memory: %dK available, %d CPUs\n", int(g.memoryMB)*1024, g.vcpus)
		b = fmt.Appendf(b, "[    0.100000] Run /init as init process\n")
		b = fmt.Appendf(b, "%s\n", Marker(uuid))
	}
	if g.state == hypervisor.Shutdown || g.state == hypervisor.Crashed {
		b = fmt.Appendf(b, "reboot: Power down\n")
	}
	return b
}

// VNCBanner is what the fake VNC server of every guest sends first (the
// RFB protocol version, as a real server does); then it echoes what it
// receives.
const VNCBanner = "RFB 003.008\n"

// SerialBanner is what the fake serial port of guest uuid sends when a
// client connects; then it echoes what it receives.
func SerialBanner(uuid string) string {
	return "nimbus fake serial console of instance " + uuid + "\r\n"
}

// VNCAddr starts (at its first call for the guest) a TCP listener on the
// driver's console address that plays a VNC server: it sends VNCBanner,
// then echoes. Destroy or Close stops it. The guest must be running or
// paused.
func (d *Driver) VNCAddr(ctx context.Context, inst hypervisor.Instance) (string, error) {
	if err := d.liveGuest(ctx, inst); err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", errors.New("fake: driver closed")
	}
	if l := d.vnc[inst.UUID]; l != nil {
		return l.Addr().String(), nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(d.consoleAddr, "0"))
	if err != nil {
		return "", fmt.Errorf("VNC of guest %s: %w", inst.UUID, err)
	}
	d.vnc[inst.UUID] = l
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go echo(c, VNCBanner)
		}
	}()
	return l.Addr().String(), nil
}

// DialSerial connects to the guest's (simulated) serial port: it sends
// SerialBanner, then echoes. The guest must be running or paused.
func (d *Driver) DialSerial(ctx context.Context, inst hypervisor.Instance) (net.Conn, error) {
	if err := d.liveGuest(ctx, inst); err != nil {
		return nil, err
	}
	client, guest := net.Pipe()
	go echo(guest, SerialBanner(inst.UUID))
	return client, nil
}

// liveGuest runs OpConsole's fault and delay, and says why a guest has no
// console: it is not there, or not running.
func (d *Driver) liveGuest(ctx context.Context, inst hypervisor.Instance) error {
	if err := d.exists(inst.UUID); err != nil {
		return err
	}
	if err := d.begin(ctx, OpConsole, inst); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	g, ok := d.guests[inst.UUID]
	if !ok {
		return fmt.Errorf("guest %s: %w", inst.UUID, hypervisor.ErrNotFound)
	}
	if !g.live() {
		return fmt.Errorf("console of guest %s: %w", inst.UUID, stateErr("running", &g))
	}
	return nil
}

func echo(c net.Conn, banner string) {
	defer c.Close()
	if _, err := io.WriteString(c, banner); err != nil {
		return
	}
	io.Copy(c, c)
}

// Close stops the guests' VNC listeners. The driver's guests are kept,
// but VNCAddr fails from now on.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for uuid, l := range d.vnc {
		l.Close()
		delete(d.vnc, uuid)
	}
	return nil
}
