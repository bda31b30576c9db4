package qemu

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

// Files in a guest's directory.
const (
	diskFile    = "disk"         // qcow2 overlay on the base image
	pidFile     = "qemu.pid"     // written by QEMU, removed at its exit
	qmpSock     = "qmp.sock"     // QMP, held by the driver
	serialSock  = "serial.sock"  // the serial console, for a proxy
	consoleLog  = "console.log"  // everything the serial console printed
	stateFile   = "memory.state" // the memory of a suspended guest
	rootDriveID = "root"         // the root disk's drive id in QEMU
	// rescueFile is the overlay on a rescue image a rescued guest boots
	// from (its own disk second): there while the guest is rescued.
	rescueFile = "disk.rescue"
	// backupFile is the copy of the disk before an unconfirmed resize.
	backupFile = "disk.resize-backup"
)

// launch is everything that decides a guest's QEMU command line. args
// turns it into the argv with no side effects, so that it is tested as
// text.
type launch struct {
	Inst  hypervisor.Instance
	Accel string // "kvm" or "tcg"
	CPU   string // -cpu; "" for QEMU's default model
	// Cache is the root disk's cache mode: "none" (O_DIRECT) where the
	// file system has it, else "writeback".
	Cache string
	// VNCDisplays > 0 adds a VGA display served by VNC on 127.0.0.1,
	// on the first free display in [0, VNCDisplays).
	VNCDisplays int
	// VNCAddress is the IP address VNC listens on; "" is 127.0.0.1.
	VNCAddress string
	// Rescue, when set, is a rescue disk (qcow2) to boot from, attached
	// before the root disk.
	Rescue string
	// Incoming restores a saved guest: a migration URI such as "fd:3".
	Incoming string
}

// args is QEMU's argv (without the program) for l.
func (l launch) args() []string {
	in := l.Inst
	dir := in.Dir
	path := func(name string) string { return optEscape(filepath.Join(dir, name)) }
	name := in.Name
	if name == "" {
		name = in.UUID
	}
	a := []string{
		"-name", "guest=" + optEscape(name) + ",debug-threads=on",
		"-uuid", in.UUID,
		// pc rather than q35: an IDE CD-ROM (the config drive) works in
		// every guest, kernels without AHCI included; devices hot-plug
		// on the root bus; and guests boot faster under TCG.
		"-machine", "pc",
		"-accel", l.Accel,
	}
	if l.CPU != "" {
		a = append(a, "-cpu", l.CPU)
	}
	a = append(a,
		"-smp", strconv.Itoa(in.VCPUs),
		"-m", strconv.Itoa(in.MemoryMB),
		"-nodefaults", "-no-user-config",
		"-rtc", "base=utc,driftfix=slew",
	)
	if l.VNCDisplays > 0 {
		host := l.VNCAddress
		if host == "" {
			host = "127.0.0.1"
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		a = append(a, "-device", "VGA,id=video0",
			"-vnc", fmt.Sprintf("%s:0,to=%d", host, l.VNCDisplays-1))
	} else {
		a = append(a, "-display", "none")
	}
	if l.Rescue != "" {
		// First on the bus and first to boot: the guest's /dev/vda.
		a = append(a, "-drive", "file="+optEscape(l.Rescue)+",format=qcow2,if=none,id=rescue,cache="+l.Cache,
			"-device", "virtio-blk-pci,drive=rescue,bootindex=0")
	}
	a = append(a, "-drive", "file="+path(diskFile)+",format=qcow2,if=virtio,id="+rootDriveID+",cache="+l.Cache)
	if in.ConfigDrive != "" {
		a = append(a, "-drive", "file="+optEscape(in.ConfigDrive)+",format=raw,if=ide,media=cdrom,readonly=on,id=config")
	}
	nics := 0
	for i, tap := range in.Taps {
		if tap == "" {
			continue
		}
		dev := fmt.Sprintf("virtio-net-pci,netdev=net%d,id=nic%d", i, i)
		if i < len(in.MACs) && in.MACs[i] != "" {
			dev += ",mac=" + in.MACs[i]
		}
		a = append(a,
			"-netdev", fmt.Sprintf("tap,id=net%d,ifname=%s,script=no,downscript=no", i, optEscape(tap)),
			"-device", dev)
		nics++
	}
	if nics == 0 {
		a = append(a, "-nic", "none")
	}
	// The sockets are named relative to the guest's directory, where
	// QEMU starts and binds them before it daemonizes (and moves to /):
	// a unix socket's path holds 107 bytes, an instances directory may be
	// longer. The driver dials them through /proc/self/fd (dialUnix).
	a = append(a,
		"-chardev", "socket,id=serial0,path="+serialSock+",server=on,wait=off,logfile="+path(consoleLog)+",logappend=on",
		"-serial", "chardev:serial0",
		"-qmp", "unix:"+qmpSock+",server=on,wait=off",
		"-pidfile", filepath.Join(dir, pidFile),
		"-msg", "timestamp=on",
		"-daemonize",
	)
	if l.Incoming != "" {
		a = append(a, "-incoming", l.Incoming)
	}
	return a
}

// optEscape doubles commas, QEMU's escape inside an option value.
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }
