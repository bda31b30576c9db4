// Package qemu is the default hypervisor driver: every guest is a real
// qemu-system-x86_64 process, accelerated by KVM when /dev/kvm really
// works and emulated by TCG otherwise.
//
// QEMU runs daemonized so that stopping or restarting the agent leaves
// guests running; everything about a guest lives in its directory
// (Instance.Dir): the qcow2 overlay "disk" on the cached base image, the
// pid file, the QMP socket the driver controls it through, the serial
// console socket and its log, and the memory of a suspended guest. A
// restarted agent finds running guests again from those files alone
// (Running), and takes over their QMP sockets.
//
// A guest that powers itself off ends its QEMU process (there is no
// -no-shutdown), so "stopped" always means "no process": power state is
// what QMP says while QEMU lives, and Shutdown (or Suspended when its
// memory was saved) once it is gone.
package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// Options configure a Driver. The zero value of each field is a working
// default.
type Options struct {
	// Binary is the QEMU emulator; default qemu-system-x86_64 from PATH.
	Binary string
	// ImgBinary is qemu-img; default from PATH.
	ImgBinary string
	// Accel is "auto" (the default: KVM when a probe guest really runs
	// under it, else TCG), "kvm" or "tcg".
	Accel string
	// ProbeTimeout is how long the probe guest may take to boot and
	// power off under KVM (a few hundred milliseconds where KVM works;
	// nested KVM can hang or crawl); default 2s.
	ProbeTimeout time.Duration
	// Hostname is reported by Host; default os.Hostname().
	Hostname string
	// InstancesDir holds one directory per guest named by its UUID
	// (DATA/compute/instances); Running finds guests there and Host
	// reports its file system's size. Instance.Dir should be
	// InstancesDir/<UUID> for a restarted agent to find the guest.
	InstancesDir string
	// VNC gives each guest a VGA display served by VNC on 127.0.0.1, on
	// the first free display of VNCDisplays (default 100) from :0
	// (port 5900); VNCAddr tells which. Without it guests have no display.
	VNC         bool
	VNCDisplays int
	// VNCAddress is the IP address guests' VNC servers listen on, where
	// console proxies reach them (the agent's console address); default
	// 127.0.0.1.
	VNCAddress string
	// SoftRebootTimeout is how long a soft reboot waits for the guest to
	// shut down through ACPI before resetting it; default 2 minutes
	// (Nova's wait_soft_reboot_seconds).
	SoftRebootTimeout time.Duration
	Log               *slog.Logger
}

// Driver runs guests as QEMU processes. Make one with New.
type Driver struct {
	o       Options
	log     *slog.Logger
	accel   string
	cpu     string // -cpu under KVM; "" for QEMU's default model
	version int    // as Nova reports it: 7002022 for 7.2.22

	mu     sync.Mutex
	procs  map[string]*proc // by UUID: the QEMU processes being watched
	subs   map[*subscriber]struct{}
	closed bool
	wg     sync.WaitGroup // watchers
}

// New checks that QEMU is there, settles the accelerator (probing KVM
// when Options.Accel is "auto") and returns a Driver. It starts nothing;
// call Running to re-adopt the guests a previous agent left running.
func New(o Options) (*Driver, error) {
	if o.Binary == "" {
		o.Binary = "qemu-system-x86_64"
	}
	if o.ImgBinary == "" {
		o.ImgBinary = "qemu-img"
	}
	if o.Accel == "" {
		o.Accel = "auto"
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 2 * time.Second
	}
	if o.VNCDisplays <= 0 {
		o.VNCDisplays = 100
	}
	if o.VNCAddress == "" {
		o.VNCAddress = "127.0.0.1"
	}
	if net.ParseIP(o.VNCAddress) == nil {
		return nil, fmt.Errorf("qemu driver: VNC address %q is not an IP address", o.VNCAddress)
	}
	if o.SoftRebootTimeout <= 0 {
		o.SoftRebootTimeout = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostname: %w", err)
		}
		o.Hostname = h
	}
	bin, err := exec.LookPath(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("qemu driver: %w", err)
	}
	o.Binary = bin
	if o.ImgBinary, err = exec.LookPath(o.ImgBinary); err != nil {
		return nil, fmt.Errorf("qemu driver: %w", err)
	}
	d := &Driver{
		o:     o,
		log:   o.Log,
		procs: make(map[string]*proc),
		subs:  make(map[*subscriber]struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d.version, err = qemuVersion(ctx, bin); err != nil {
		return nil, err
	}
	switch o.Accel {
	case "kvm":
		d.accel, d.cpu = "kvm", "host"
	case "tcg":
		d.accel = "tcg"
	case "auto":
		start := time.Now()
		cpu, ok, why := probeKVM(ctx, bin, o.ProbeTimeout)
		d.accel = "tcg"
		if ok {
			d.accel, d.cpu = "kvm", cpu
		}
		d.log.Info("qemu accelerator", "accel", d.accel, "probe", why, "took", time.Since(start).Round(time.Millisecond))
	default:
		return nil, fmt.Errorf("qemu driver: unknown accelerator %q (auto, kvm or tcg)", o.Accel)
	}
	return d, nil
}

// Accel is the accelerator guests start with: "kvm" or "tcg".
func (d *Driver) Accel() string { return d.accel }

// Close lets go of every guest's monitor without stopping any guest, as
// an agent does when it exits; another Driver (the restarted agent) can
// then take them over. The Driver must not be used afterwards.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	procs := make([]*proc, 0, len(d.procs))
	for _, p := range d.procs {
		procs = append(procs, p)
	}
	d.procs = map[string]*proc{}
	d.mu.Unlock()
	for _, p := range procs {
		p.detach()
	}
	d.wg.Wait()
	return nil
}

var versionRE = regexp.MustCompile(`version (\d+)\.(\d+)(?:\.(\d+))?`)

// qemuVersion runs QEMU --version and encodes it as Nova does
// (major*1000000 + minor*1000 + micro).
func qemuVersion(ctx context.Context, bin string) (int, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w", bin, err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("%s --version: no version in %q", bin, firstLine(out))
	}
	v := 0
	for i, mul := range []int{1000000, 1000, 1} {
		n, _ := strconv.Atoi(string(m[i+1]))
		v += n * mul
	}
	return v, nil
}

// Host describes this machine for placement and os-hypervisors.
func (d *Driver) Host(ctx context.Context) (hypervisor.Host, error) {
	h := hypervisor.Host{
		Hostname: d.o.Hostname,
		VCPUs:    runtime.NumCPU(),
		Type:     "QEMU",
		Version:  d.version,
		Accel:    d.accel,
	}
	mem, err := memTotalMB()
	if err != nil {
		return h, err
	}
	h.MemoryMB = mem
	// The file system guests' disks will be on; before the first guest
	// the directory may not exist yet.
	dir := filepath.Clean(d.o.InstancesDir)
	if d.o.InstancesDir == "" {
		dir = "/"
	}
	for dir != "/" && !exists(dir) {
		dir = filepath.Dir(dir)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return h, fmt.Errorf("size of %s: %w", dir, err)
	}
	h.DiskGB = int(st.Blocks * uint64(st.Bsize) >> 30)
	h.CPUInfo, err = cpuInfo(h.VCPUs)
	return h, err
}

func memTotalMB() (int, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

// cpuInfo is Nova's cpu_info JSON (arch, model, vendor, topology,
// features) read from /proc/cpuinfo.
func cpuInfo(cpus int) (string, error) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", err
	}
	field := func(name string) string {
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.TrimSpace(k) == name {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	vendor := field("vendor_id")
	switch vendor {
	case "AuthenticAMD":
		vendor = "AMD"
	case "GenuineIntel":
		vendor = "Intel"
	}
	features := strings.Fields(field("flags"))
	sort.Strings(features)
	if features == nil {
		features = []string{}
	}
	type topology struct {
		Cells   int `json:"cells"`
		Sockets int `json:"sockets"`
		Cores   int `json:"cores"`
		Threads int `json:"threads"`
	}
	out, err := json.Marshal(struct {
		Arch     string   `json:"arch"`
		Model    string   `json:"model"`
		Vendor   string   `json:"vendor"`
		Topology topology `json:"topology"`
		Features []string `json:"features"`
	}{"x86_64", field("model name"), vendor, topology{1, 1, cpus, 1}, features})
	return string(out), err
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
