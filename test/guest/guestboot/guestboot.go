// Package guestboot boots the Nimbus test guest (test/guest/build-image.sh)
// under QEMU with a config drive made by internal/compute/configdrive,
// waits for its console line, powers it down through QMP and times both.
// It is the harness of test/guest/boot-test.sh and of this package's
// opt-in test; the QEMU driver does the same things for real servers.
package guestboot

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
)

// MarkerRE matches the guest's console line; group 1 is the instance
// UUID, group 2 the key name ("none" for either when missing).
var MarkerRE = regexp.MustCompile(`nimbus-guest: instance (\S+) key (\S+)`)

// Bus is how the config drive is attached.
type Bus string

const (
	IDE        Bus = "ide"         // a CD-ROM on the pc machine's IDE (as -cdrom)
	VirtioSCSI Bus = "virtio-scsi" // a CD-ROM on a virtio-scsi controller
	VirtioBlk  Bus = "virtio-blk"  // a read-only virtio disk
)

// Options says what to boot.
type Options struct {
	Image       string            // the test image (qcow2); it is not written to
	ConfigDrive *configdrive.Data // nil boots without a config drive
	Bus         Bus               // "" is IDE
	Accel       string            // "tcg" (default) or "kvm"
	MemoryMB    int               // 0 is 256
	Dir         string            // for the overlay, config drive and QMP socket
	// MarkerTimeout bounds the wait for the console line (0: 60 s);
	// ExitTimeout the wait for QEMU to exit after system_powerdown (0: 10 s).
	MarkerTimeout time.Duration
	ExitTimeout   time.Duration
	// QEMU is the emulator binary (default qemu-system-x86_64 from PATH).
	QEMU string
}

// Result is what a boot showed.
type Result struct {
	Marker   string        // the console line, e.g. "nimbus-guest: instance <uuid> key mykey"
	UUID     string        // from the line
	Key      string        // from the line
	ToMarker time.Duration // from starting QEMU to the line
	ToExit   time.Duration // from system_powerdown to QEMU's exit
	Console  string        // everything the serial console printed
}

// Boot boots the image, waits for the console line, sends
// system_powerdown over QMP and waits for QEMU to exit. A guest that
// never prints its line, or does not power off, is an error; the result
// holds the console so far.
func Boot(ctx context.Context, o Options) (Result, error) {
	var res Result
	if o.Accel == "" {
		o.Accel = "tcg"
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 256
	}
	if o.MarkerTimeout == 0 {
		o.MarkerTimeout = 60 * time.Second
	}
	if o.ExitTimeout == 0 {
		o.ExitTimeout = 10 * time.Second
	}
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	image, err := filepath.Abs(o.Image)
	if err != nil {
		return res, err
	}
	disk := filepath.Join(o.Dir, "disk.qcow2")
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2",
		"-b", image, "-F", "qcow2", disk).CombinedOutput(); err != nil {
		return res, fmt.Errorf("overlay on %s: %v: %s", image, err, out)
	}
	args := []string{
		"-accel", o.Accel, "-machine", "pc", "-m", fmt.Sprint(o.MemoryMB),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "stdio",
		"-qmp", "unix:" + filepath.Join(o.Dir, "qmp.sock") + ",server=on,wait=off",
		"-drive", "file=" + disk + ",if=virtio,format=qcow2",
	}
	if o.ConfigDrive != nil {
		iso := filepath.Join(o.Dir, "disk.config")
		if err := configdrive.Build(iso, *o.ConfigDrive); err != nil {
			return res, err
		}
		args = append(args, driveArgs(o.Bus, iso)...)
	}

	cmd := exec.Command(o.QEMU, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start %s: %w", o.QEMU, err)
	}
	exited := make(chan error, 1)
	var console consoleBuf
	copied := make(chan struct{})
	marker := make(chan string, 1)
	go func() {
		defer close(copied)
		console.copyLines(stdout, func(line string) {
			if MarkerRE.MatchString(line) {
				select {
				case marker <- line:
				default:
				}
			}
		})
	}()
	go func() {
		<-copied // Wait must not close the pipe before it is drained
		exited <- cmd.Wait()
	}()
	kill := func() {
		cmd.Process.Kill()
		<-exited
	}
	fail := func(format string, a ...any) (Result, error) {
		res.Console = console.String()
		msg := fmt.Sprintf(format, a...)
		if s := strings.TrimSpace(stderr.String()); s != "" {
			msg += "; qemu: " + s
		}
		return res, errors.New(msg)
	}

	timer := time.NewTimer(o.MarkerTimeout)
	defer timer.Stop()
	select {
	case line := <-marker:
		res.ToMarker = time.Since(start)
		res.Marker = strings.TrimSpace(line[strings.Index(line, "nimbus-guest:"):])
		m := MarkerRE.FindStringSubmatch(line)
		res.UUID, res.Key = m[1], m[2]
	case err := <-exited:
		return fail("qemu exited before the guest printed its line: %v", err)
	case <-timer.C:
		kill()
		return fail("no console line within %v", o.MarkerTimeout)
	case <-ctx.Done():
		kill()
		return fail("%v", ctx.Err())
	}

	powerdown := time.Now()
	if err := qmpPowerdown(filepath.Join(o.Dir, "qmp.sock")); err != nil {
		kill()
		return fail("system_powerdown: %v", err)
	}
	timer.Reset(o.ExitTimeout)
	select {
	case err := <-exited:
		res.ToExit = time.Since(powerdown)
		if err != nil {
			return fail("qemu exited with %v after system_powerdown", err)
		}
	case <-timer.C:
		kill()
		return fail("qemu still running %v after system_powerdown", o.ExitTimeout)
	}
	res.Console = console.String()
	return res, nil
}

func driveArgs(bus Bus, iso string) []string {
	switch bus {
	case VirtioSCSI:
		return []string{
			"-device", "virtio-scsi-pci,id=scsi0",
			"-drive", "file=" + iso + ",if=none,id=cd0,format=raw,media=cdrom,readonly=on",
			"-device", "scsi-cd,drive=cd0,bus=scsi0.0",
		}
	case VirtioBlk:
		return []string{"-drive", "file=" + iso + ",if=virtio,format=raw,readonly=on"}
	default:
		return []string{"-drive", "file=" + iso + ",if=ide,index=2,media=cdrom,format=raw,readonly=on"}
	}
}

// qmpPowerdown presses the guest's ACPI power button.
func qmpPowerdown(sock string) error {
	var conn net.Conn
	var err error
	for i := 0; i < 50; i++ { // the socket exists once QEMU is up; it is by now
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return fmt.Errorf("QMP greeting: %w", err)
	}
	for _, c := range []string{"qmp_capabilities", "system_powerdown"} {
		if _, err := fmt.Fprintf(conn, `{"execute":%q}`+"\n", c); err != nil {
			return err
		}
		for { // skip events until the reply
			line, err := r.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("QMP %s: %w", c, err)
			}
			var reply struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if err := json.Unmarshal(line, &reply); err != nil {
				return fmt.Errorf("QMP %s: %w", c, err)
			}
			if reply.Error != nil {
				return fmt.Errorf("QMP %s: %s", c, reply.Error.Desc)
			}
			if reply.Return != nil {
				break
			}
		}
	}
	return nil
}

// consoleBuf collects the serial console while it is read.
type consoleBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (c *consoleBuf) copyLines(r io.Reader, each func(string)) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			c.mu.Lock()
			c.b.WriteString(line)
			c.mu.Unlock()
			each(line)
		}
		if err != nil {
			return
		}
	}
}

func (c *consoleBuf) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

// ImageFromEnv returns the test image: the file NIMBUS_GUEST_IMAGE names,
// else ${XDG_CACHE_HOME:-~/.cache}/nimbus-guest/nimbus-guest.qcow2 (as
// boot-test.sh), else one in dir. It runs script (build-image.sh) to build
// the image when the file is missing or older than the script or the
// guest's init beside it.
func ImageFromEnv(ctx context.Context, script, dir string) (string, error) {
	out := os.Getenv("NIMBUS_GUEST_IMAGE")
	if out == "" {
		out = filepath.Join(dir, "nimbus-guest.qcow2")
		if cache, err := os.UserCacheDir(); err == nil {
			if err := os.MkdirAll(filepath.Join(cache, "nimbus-guest"), 0o755); err == nil {
				out = filepath.Join(cache, "nimbus-guest", "nimbus-guest.qcow2")
			}
		}
	}
	if fresh(out, script, filepath.Join(filepath.Dir(script), "init")) {
		return out, nil
	}
	b, err := exec.CommandContext(ctx, script, out).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %v\n%s", script, err, b)
	}
	return out, nil
}

// fresh reports whether file exists and is newer than all of sources.
func fresh(file string, sources ...string) bool {
	fi, err := os.Stat(file)
	if err != nil || fi.Size() == 0 {
		return false
	}
	for _, s := range sources {
		si, err := os.Stat(s)
		if err != nil || si.ModTime().After(fi.ModTime()) {
			return false
		}
	}
	return true
}
