package fake

import (
	"context"
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// Resize gives a stopped guest inst's flavor, remembering the one before
// for RevertResize (the first one, while a resize is unconfirmed). A root
// disk smaller than the guest's is refused; 0 keeps the disk's size.
func (d *Driver) Resize(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpResize, inst, func(g *guest) error {
		if g.state != hypervisor.Shutdown {
			return stateErr("shut down", g)
		}
		root := int32(inst.RootGB)
		if root == 0 {
			root = g.rootGB
		}
		if root < g.rootGB {
			return fmt.Errorf("Unable to resize disk down (%d GB to %d GB): %w", g.rootGB, root, hypervisor.ErrRefused)
		}
		if !g.hasBackup {
			g.old, g.hasBackup = flavor{g.vcpus, g.memoryMB, g.rootGB}, true
		}
		g.vcpus, g.memoryMB, g.rootGB = int32(inst.VCPUs), int32(inst.MemoryMB), root
		return nil
	})
}

// ConfirmResize forgets the flavor before the resize.
func (d *Driver) ConfirmResize(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpConfirmResize, inst, func(g *guest) error {
		g.old, g.hasBackup = flavor{}, false
		return nil
	})
}

// RevertResize puts back the flavor (and disk size) before the resize, on
// a stopped guest.
func (d *Driver) RevertResize(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpRevertResize, inst, func(g *guest) error {
		if !g.hasBackup {
			return fmt.Errorf("no resize to revert: %w", hypervisor.ErrRefused)
		}
		if g.state != hypervisor.Shutdown {
			return stateErr("shut down", g)
		}
		g.vcpus, g.memoryMB, g.rootGB = g.old.vcpus, g.old.memoryMB, g.old.rootGB
		g.old, g.hasBackup = flavor{}, false
		return nil
	})
}

// Rescue boots the guest from a rescue disk (the image is not looked at):
// a running guest reboots into it, a stopped one starts.
func (d *Driver) Rescue(ctx context.Context, inst hypervisor.Instance, image, format string) error {
	if image == "" {
		return fmt.Errorf("rescue %s: no rescue image", inst.UUID)
	}
	return d.act(ctx, OpRescue, inst, func(g *guest) error {
		if g.state == hypervisor.Suspended {
			return fmt.Errorf("guest is suspended: %w", hypervisor.ErrRefused)
		}
		if g.rescued && g.live() {
			return nil
		}
		g.stop(d.now(), hypervisor.Shutdown)
		g.rescued = true
		g.boots++
		g.run(d.now())
		return nil
	})
}

// Unrescue boots the rescued guest from its own disk again.
func (d *Driver) Unrescue(ctx context.Context, inst hypervisor.Instance) error {
	return d.act(ctx, OpUnrescue, inst, func(g *guest) error {
		if !g.rescued {
			return fmt.Errorf("guest is not rescued: %w", hypervisor.ErrRefused)
		}
		g.stop(d.now(), hypervisor.Shutdown)
		g.rescued = false
		g.boots++
		g.run(d.now())
		return nil
	})
}

// Rescued tells whether the guest boots from a rescue disk, for tests.
func (d *Driver) Rescued(uuid string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.guests[uuid].rescued
}

// RootGB is the guest's root disk size as the fake knows it, for tests.
func (d *Driver) RootGB(uuid string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(d.guests[uuid].rootGB)
}
