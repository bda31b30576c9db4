package fake

import (
	"context"
	"encoding/binary"
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

// VNCBanner is what the fake VNC server of every guest sends first: the
// RFB protocol version, as a real server does. Then it goes through RFB
// 3.8's handshake as a server without authentication (security type
// None, then ServerInit of a 640x480 desktop), so that real VNC clients
// (Tempest's test_novnc, noVNC) get as far as a desktop; it then reads
// and drops what the client sends.
const VNCBanner = "RFB 003.008\n"

// SerialBanner is what the fake serial port of guest uuid sends when a
// client connects; then it echoes what it receives.
func SerialBanner(uuid string) string {
	return "nimbus fake serial console of instance " + uuid + "\r\n"
}

// VNCAddr starts (at its first call for the guest) a TCP listener on the
// driver's console address that plays a VNC server (see VNCBanner). Destroy or Close stops it. The guest must be running or
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
			go fakeRFB(c, inst.UUID)
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

// fakeRFB serves one VNC client: RFB 3.8 with security type None and a
// desktop named after the guest, then nothing but reading.
func fakeRFB(c net.Conn, uuid string) {
	defer c.Close()
	read := func(n int) bool {
		_, err := io.ReadFull(c, make([]byte, n))
		return err == nil
	}
	write := func(b []byte) bool {
		_, err := c.Write(b)
		return err == nil
	}
	if !write([]byte(VNCBanner)) || !read(len(VNCBanner)) || // versions
		!write([]byte{1, 1}) || !read(1) || // one security type, None; the client's pick
		!write([]byte{0, 0, 0, 0}) || !read(1) { // security result OK; ClientInit
		return
	}
	name := "fake guest " + uuid
	init := []byte{0x02, 0x80, 0x01, 0xe0, // 640x480
		32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0} // 32 bpp true colour, little endian
	init = binary.BigEndian.AppendUint32(init, uint32(len(name)))
	if !write(append(init, name...)) {
		return
	}
	io.Copy(io.Discard, c)
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
