package fake

import (
	"context"
	"fmt"

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
