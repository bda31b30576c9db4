package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// kvmCPUs are the CPU models tried under KVM, best first: the host's own
// (fails on some nested hypervisors, which refuse MSRs it sets), then
// QEMU's default model.
var kvmCPUs = []string{"host", ""}

// probeKVM tells whether KVM really runs guests here, and with which CPU
// model. /dev/kvm opening is not enough: under nested virtualisation QEMU
// may start and then a vCPU never run, or run so slowly (every exit
// costing a trip through the outer hypervisor) that the firmware alone
// takes seconds where TCG takes a tenth. So the probe boots the probe
// guest under KVM, through the whole firmware to a boot sector that
// prints a line and powers the machine off, and wants it done within
// timeout. Whatever else happens, guests use TCG.
func probeKVM(ctx context.Context, bin string, timeout time.Duration) (cpu string, ok bool, why string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "", false, err.Error()
	}
	f.Close()
	dir, err := os.MkdirTemp("", "nimbus-kvm-probe-")
	if err != nil {
		return "", false, err.Error()
	}
	defer os.RemoveAll(dir)
	disk := filepath.Join(dir, "disk")
	if err := os.WriteFile(disk, bootSector(true), 0o600); err != nil {
		return "", false, err.Error()
	}
	var whys []string
	for _, cpu := range kvmCPUs {
		err := bootProbe(ctx, bin, dir, disk, cpu, timeout)
		if err == nil {
			return cpu, true, fmt.Sprintf("the probe guest ran under kvm with cpu %q", cpuName(cpu))
		}
		whys = append(whys, fmt.Sprintf("cpu %s: %v", cpuName(cpu), err))
		if errors.Is(err, errProbeSlow) {
			break // KVM itself is the trouble, not the CPU model
		}
	}
	return "", false, strings.Join(whys, "; ")
}

func cpuName(cpu string) string {
	if cpu == "" {
		return "default"
	}
	return cpu
}

var errProbeSlow = errors.New("the guest did not finish")

// bootProbe boots the probe guest once under KVM and waits for it to
// power itself off.
func bootProbe(ctx context.Context, bin, dir, disk, cpu string, timeout time.Duration) error {
	console := filepath.Join(dir, "console-"+cpuName(cpu))
	args := []string{"-accel", "kvm", "-machine", "pc"}
	if cpu != "" {
		args = append(args, "-cpu", cpu)
	}
	args = append(args,
		"-nodefaults", "-no-user-config", "-display", "none", "-m", "32",
		"-drive", "file="+optEscape(disk)+",format=raw,if=virtio,readonly=on",
		"-chardev", "file,id=console,path="+optEscape(console),
		"-serial", "chardev:console")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("qemu: %v: %s", err, firstLine(stderr.Bytes()))
		}
		out, _ := os.ReadFile(console)
		if !bytes.Contains(out, []byte(bootedLine)) {
			return fmt.Errorf("the guest powered off without printing its line (console %q)", out)
		}
		return nil
	case <-t.C:
		err := fmt.Errorf("%w within %s", errProbeSlow, timeout)
		if out, _ := os.ReadFile(console); len(out) > 0 {
			err = fmt.Errorf("%w: it booted but did not power off within %s", errProbeSlow, timeout)
		}
		stop(cmd, exited)
		return err
	case <-ctx.Done():
		stop(cmd, exited)
		return ctx.Err()
	}
}

// stop kills a probe QEMU without waiting long: a vCPU stuck in the
// kernel may keep the process from dying at once.
func stop(cmd *exec.Cmd, exited <-chan error) {
	cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(2 * time.Second):
	}
}
