package hypervisortest

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// The optional abilities (hypervisor.Resizer, Rescuer, VNCConsole,
// SerialConsole): a driver without one skips its subtest.

func (s *suite) testResize(t *testing.T) {
	d := s.newDriver(t)
	r, ok := d.(hypervisor.Resizer)
	if !ok {
		t.Skip("driver is not a hypervisor.Resizer")
	}
	inst := s.spawn(t, d)
	bigger := inst
	bigger.VCPUs, bigger.MemoryMB, bigger.RootGB = inst.VCPUs+1, inst.MemoryMB*2, max(inst.RootGB, 1)+2
	if err := r.Resize(s.ctx(t), bigger); err == nil {
		t.Errorf("Resize(%s) of a running guest = nil, want an error", inst.UUID)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)

	if err := r.Resize(s.ctx(t), bigger); err != nil {
		t.Fatalf("Resize(%s) = %v", inst.UUID, err)
	}
	// Down again, but not below the resized disk: refused, nothing changes.
	smaller := bigger
	smaller.RootGB--
	if err := r.Resize(s.ctx(t), smaller); !errors.Is(err, hypervisor.ErrRefused) {
		t.Errorf("Resize(%s) to a smaller disk = %v, want ErrRefused", inst.UUID, err)
	}
	if err := d.PowerOn(s.ctx(t), bigger); err != nil {
		t.Fatalf("PowerOn(%s) after Resize = %v", inst.UUID, err)
	}
	info := s.waitState(t, d, bigger, hypervisor.Running)
	if info.VCPUs != bigger.VCPUs || info.MemoryMB != bigger.MemoryMB {
		t.Errorf("Info(%s) after Resize = %d VCPUs, %d MB; want %d, %d", inst.UUID, info.VCPUs, info.MemoryMB, bigger.VCPUs, bigger.MemoryMB)
	}
	s.waitMarker(t, d, bigger)

	if err := d.PowerOff(s.ctx(t), bigger, 0); err != nil {
		t.Fatalf("PowerOff(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, bigger, hypervisor.Shutdown)
	if err := r.RevertResize(s.ctx(t), inst); err != nil {
		t.Fatalf("RevertResize(%s) = %v", inst.UUID, err)
	}
	if err := d.PowerOn(s.ctx(t), inst); err != nil {
		t.Fatalf("PowerOn(%s) after RevertResize = %v", inst.UUID, err)
	}
	info = s.waitState(t, d, inst, hypervisor.Running)
	if info.VCPUs != inst.VCPUs || info.MemoryMB != inst.MemoryMB {
		t.Errorf("Info(%s) after RevertResize = %d VCPUs, %d MB; want %d, %d", inst.UUID, info.VCPUs, info.MemoryMB, inst.VCPUs, inst.MemoryMB)
	}
	if err := r.RevertResize(s.ctx(t), inst); !errors.Is(err, hypervisor.ErrRefused) {
		t.Errorf("RevertResize(%s) without a resize = %v, want ErrRefused", inst.UUID, err)
	}
	if err := r.ConfirmResize(s.ctx(t), inst); err != nil {
		t.Errorf("ConfirmResize(%s) without a resize = %v, want nil", inst.UUID, err)
	}

	// Resize, confirm: the backup is gone, so there is nothing to revert.
	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)
	if err := r.Resize(s.ctx(t), bigger); err != nil {
		t.Fatalf("Resize(%s) = %v", inst.UUID, err)
	}
	if err := r.ConfirmResize(s.ctx(t), bigger); err != nil {
		t.Fatalf("ConfirmResize(%s) = %v", inst.UUID, err)
	}
	if err := r.RevertResize(s.ctx(t), inst); !errors.Is(err, hypervisor.ErrRefused) {
		t.Errorf("RevertResize(%s) after ConfirmResize = %v, want ErrRefused", inst.UUID, err)
	}
	if err := d.PowerOn(s.ctx(t), bigger); err != nil {
		t.Fatalf("PowerOn(%s) after ConfirmResize = %v", inst.UUID, err)
	}
	s.waitState(t, d, bigger, hypervisor.Running)
}

func (s *suite) testRescue(t *testing.T) {
	d := s.newDriver(t)
	r, ok := d.(hypervisor.Rescuer)
	if !ok {
		t.Skip("driver is not a hypervisor.Rescuer")
	}
	inst := s.spawn(t, d)
	image, format := inst.BaseImage, inst.BaseFormat
	if image == "" {
		image, format = "rescue-image", "raw"
	}
	if err := r.Unrescue(s.ctx(t), inst); !errors.Is(err, hypervisor.ErrRefused) {
		t.Errorf("Unrescue(%s) of a guest not rescued = %v, want ErrRefused", inst.UUID, err)
	}
	if err := r.Rescue(s.ctx(t), inst, image, format); err != nil {
		t.Fatalf("Rescue(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	if err := r.Rescue(s.ctx(t), inst, image, format); err != nil {
		t.Errorf("Rescue(%s) of a rescued guest = %v, want nil", inst.UUID, err)
	}
	// Power actions keep it rescued: Unrescue still has work to do.
	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)
	if err := d.PowerOn(s.ctx(t), inst); err != nil {
		t.Fatalf("PowerOn(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	if err := r.Unrescue(s.ctx(t), inst); err != nil {
		t.Fatalf("Unrescue(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	s.waitMarker(t, d, inst)
	if err := r.Unrescue(s.ctx(t), inst); !errors.Is(err, hypervisor.ErrRefused) {
		t.Errorf("Unrescue(%s) twice = %v, want ErrRefused", inst.UUID, err)
	}
	// A stopped guest is started in rescue.
	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)
	if err := r.Rescue(s.ctx(t), inst, image, format); err != nil {
		t.Fatalf("Rescue(%s) of a stopped guest = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Running)
	// Destroy (the cleanup) takes the rescue disk with the guest.
	if err := d.Destroy(s.ctx(t), inst); err != nil {
		t.Fatalf("Destroy(%s) of a rescued guest = %v", inst.UUID, err)
	}
	if _, err := d.Info(s.ctx(t), inst); !errors.Is(err, hypervisor.ErrNotFound) {
		t.Errorf("Info(%s) after Destroy = %v, want ErrNotFound", inst.UUID, err)
	}
}

func (s *suite) testConsoles(t *testing.T) {
	d := s.newDriver(t)
	v, vnc := d.(hypervisor.VNCConsole)
	sc, serial := d.(hypervisor.SerialConsole)
	if !vnc && !serial {
		t.Skip("driver has no consoles")
	}
	inst := s.spawn(t, d)
	if vnc {
		addr, err := v.VNCAddr(s.ctx(t), inst)
		if err != nil {
			t.Fatalf("VNCAddr(%s) = %v", inst.UUID, err)
		}
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("dial VNC of %s at %s: %v", inst.UUID, addr, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "RFB ") {
			t.Errorf("VNC of %s greets %q, %v; want RFB", inst.UUID, line, err)
		}
	}
	if serial {
		c, err := sc.DialSerial(s.ctx(t), inst)
		if err != nil {
			t.Fatalf("DialSerial(%s) = %v", inst.UUID, err)
		}
		c.Close()
	}
	if err := d.PowerOff(s.ctx(t), inst, 0); err != nil {
		t.Fatalf("PowerOff(%s) = %v", inst.UUID, err)
	}
	s.waitState(t, d, inst, hypervisor.Shutdown)
	if vnc {
		if addr, err := v.VNCAddr(s.ctx(t), inst); err == nil {
			t.Errorf("VNCAddr(%s) of a stopped guest = %s, want an error", inst.UUID, addr)
		}
	}
	if serial {
		if c, err := sc.DialSerial(s.ctx(t), inst); err == nil {
			c.Close()
			t.Errorf("DialSerial(%s) of a stopped guest: nil error", inst.UUID)
		}
	}
}
