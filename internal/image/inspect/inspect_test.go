package inspect

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzInspect seeds from generated images")

// need skips the test when a tool is missing.
func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not installed", tool)
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// qemuImg makes an image with qemu-img create and returns its path.
func qemuImg(t *testing.T, format, size string, opts ...string) string {
	t.Helper()
	need(t, "qemu-img")
	dir := t.TempDir()
	path := filepath.Join(dir, "disk."+format)
	args := append([]string{"create", "-q", "-f", format}, opts...)
	args = append(args, path, size)
	cmd := exec.Command("qemu-img", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
	}
	return path
}

// streamed writes data in random chunks of 1 byte to 1 MiB.
func streamed(data []byte, seed uint64) Result {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	i := New()
	for len(data) > 0 {
		var n int
		switch rng.IntN(3) {
		case 0:
			n = 1 + rng.IntN(16)
		case 1:
			n = 1 + rng.IntN(4096)
		default:
			n = 1 + rng.IntN(1<<20)
		}
		n = min(n, len(data))
		i.Write(data[:n])
		data = data[n:]
	}
	return i.Result()
}

// check inspects data whole, in random chunks and through Detect, and
// requires all three to agree.
func check(t *testing.T, data []byte) Result {
	t.Helper()
	whole := New()
	whole.Write(data)
	want := whole.Result()
	for seed := range uint64(4) {
		if diff := cmp.Diff(want, streamed(data, seed)); diff != "" {
			t.Fatalf("chunked (seed %d) differs from one write (-whole +chunked):\n%s", seed, diff)
		}
	}
	got, err := Detect(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Detect differs from streaming (-stream +detect):\n%s", diff)
	}
	return want
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const mib = 1 << 20

func TestQemuImages(t *testing.T) {
	tests := []struct {
		name   string
		format string
		size   string
		opts   []string
		want   Result // ActualSize filled in from the file
	}{
		{"qcow2 v3", "qcow2", "64M", nil, Result{Format: "qcow2", VirtualSize: 64 * mib}},
		{"qcow2 v2", "qcow2", "10M", []string{"-o", "compat=0.10"}, Result{Format: "qcow2", VirtualSize: 10 * mib}},
		{"qcow2 backing file", "qcow2", "1M", []string{"-b", "base.raw", "-F", "raw", "-u"}, Result{Format: "qcow2", VirtualSize: 1 * mib, Unsafe: "qcow2 has a backing file"}},
		{"qcow2 data file", "qcow2", "1M", []string{"-o", "data_file=data.raw"}, Result{Format: "qcow2", VirtualSize: 1 * mib, Unsafe: "qcow2 has an external data file"}},
		{"vmdk monolithicSparse", "vmdk", "100M", []string{"-o", "subformat=monolithicSparse"}, Result{Format: "vmdk", VirtualSize: 100 * mib}},
		{"vmdk streamOptimized", "vmdk", "100M", []string{"-o", "subformat=streamOptimized"}, Result{Format: "vmdk", VirtualSize: 100 * mib}},
		{"vmdk monolithicFlat", "vmdk", "1M", []string{"-o", "subformat=monolithicFlat"}, Result{Format: "vmdk", VirtualSize: 1 * mib, Unsafe: "vmdk create type monolithicFlat is not allowed"}},
		{"vhd dynamic", "vpc", "64M", nil, Result{Format: "vhd"}},
		{"vhd fixed", "vpc", "8M", []string{"-o", "subformat=fixed"}, Result{Format: "vhd"}},
		{"vhdx", "vhdx", "100M", nil, Result{Format: "vhdx", VirtualSize: 100 * mib}},
		{"vdi", "vdi", "32M", nil, Result{Format: "vdi", VirtualSize: 32 * mib}},
		{"raw", "raw", "1M", nil, Result{Format: "raw", VirtualSize: 1 * mib}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := qemuImg(t, tt.format, tt.size, tt.opts...)
			data := readFile(t, path)
			got := check(t, data)
			want := tt.want
			want.ActualSize = int64(len(data))
			if tt.format == "vpc" {
				want.VirtualSize = qemuVirtualSize(t, path, "vpc")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Result mismatch (-want +got):\n%s", diff)
			}
			if tt.format != "raw" && *updateSeeds {
				writeSeed(t, strings.ReplaceAll(tt.name, " ", "-"), data[:min(len(data), 4096)])
			}
		})
	}
}

func qemuVirtualSize(t *testing.T, path, format string) int64 {
	t.Helper()
	out, err := exec.Command("qemu-img", "info", "-f", format, "--output=json", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	k := strings.Index(s, `"virtual-size":`)
	var n int64
	fmt.Sscanf(strings.TrimSpace(s[k+len(`"virtual-size":`):]), "%d", &n)
	return n
}

func TestVMDKExternalExtent(t *testing.T) {
	for _, tt := range []struct{ name, desc, unsafe string }{
		{"flat extent elsewhere", `# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicSparse"

# Extent description
RW 2048 SPARSE "/etc/shadow"

ddb.adapterType = "ide"
`, "vmdk extent refers outside the file"},
		{"vmfs", "version=1\ncreateType=\"vmfs\"\nRW 2048 VMFS \"disk-flat.vmdk\"\n", "vmdk create type vmfs is not allowed"},
		{"parent", "version=1\ncreateType=\"monolithicSparse\"\nparentFileNameHint=\"base.vmdk\"\nRW 2048 SPARSE \"x.vmdk\"\n", "vmdk has a parent disk"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := check(t, []byte(tt.desc))
			want := Result{Format: "vmdk", VirtualSize: 2048 * 512, ActualSize: int64(len(tt.desc)), Unsafe: tt.unsafe}
			if tt.unsafe == "vmdk has a parent disk" {
				want.VirtualSize = 0
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// A sparse file whose embedded descriptor names a second extent.
	need(t, "qemu-img")
	data := readFile(t, qemuImg(t, "vmdk", "1M"))
	desc := binary.LittleEndian.Uint64(data[28:]) * 512
	end := bytes.IndexByte(data[desc:], 0)
	text := string(data[desc : desc+uint64(end)])
	k := strings.Index(text, "\n# The Disk Data Base")
	extra := "RW 2048 FLAT \"other.raw\" 0\n"
	text = text[:k] + "\n" + extra + text[k:]
	copy(data[desc:], text)
	got := check(t, data)
	if got.Format != "vmdk" || got.Unsafe != "vmdk extent refers outside the file" {
		t.Errorf("sparse with a second extent: %+v", got)
	}
}

func TestRawGPTAndMBR(t *testing.T) {
	t.Run("gpt", func(t *testing.T) {
		need(t, "sgdisk")
		path := filepath.Join(t.TempDir(), "disk.raw")
		if err := os.WriteFile(path, make([]byte, 8*mib), 0o600); err != nil {
			t.Fatal(err)
		}
		run(t, "sgdisk", "-n", "1:2048:+2M", "-t", "1:8300", path)
		data := readFile(t, path)
		got := check(t, data)
		want := Result{Format: "raw", Partition: "gpt", VirtualSize: 8 * mib, ActualSize: 8 * mib}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if *updateSeeds {
			writeSeed(t, "raw-gpt", data[:17408])
		}
		data[1024+10] ^= 0xff // break the entries checksum
		if got := check(t, data); got.Unsafe != "gpt partition entries checksum mismatch" {
			t.Errorf("garbled entries: %+v", got)
		}
	})
	t.Run("mbr", func(t *testing.T) {
		data := make([]byte, 1*mib)
		e := data[446:]
		e[4] = 0x83
		binary.LittleEndian.PutUint32(e[8:], 2048)
		binary.LittleEndian.PutUint32(e[12:], 100)
		data[510], data[511] = 0x55, 0xaa
		got := check(t, data)
		want := Result{Format: "raw", Partition: "mbr", VirtualSize: mib, ActualSize: mib}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if *updateSeeds {
			writeSeed(t, "raw-mbr", data[:512])
		}
	})
	t.Run("none", func(t *testing.T) {
		got := check(t, bytes.Repeat([]byte("nimbus"), 1000))
		if got.Format != "raw" || got.Partition != "" || got.Unsafe != "" {
			t.Errorf("plain bytes: %+v", got)
		}
	})
}

func TestISO(t *testing.T) {
	var data []byte
	if _, err := exec.LookPath("genisoimage"); err == nil {
		dir := t.TempDir()
		src := filepath.Join(dir, "src")
		os.Mkdir(src, 0o755)
		os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello"), 0o644)
		out := filepath.Join(dir, "cd.iso")
		run(t, "genisoimage", "-quiet", "-o", out, src)
		data = readFile(t, out)
	} else {
		data = make([]byte, 40*2048)
		pvd := data[32768:]
		pvd[0] = 1
		copy(pvd[1:], "CD001")
		pvd[6] = 1
		binary.LittleEndian.PutUint32(pvd[80:], 40)
		binary.BigEndian.PutUint32(pvd[84:], 40)
		binary.LittleEndian.PutUint16(pvd[128:], 2048)
		binary.BigEndian.PutUint16(pvd[130:], 2048)
	}
	got := check(t, data)
	want := Result{Format: "iso", VirtualSize: int64(len(data)), ActualSize: int64(len(data))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if *updateSeeds {
		writeSeed(t, "iso", data[:34816])
	}
}

func TestTruncatedAndGarbled(t *testing.T) {
	need(t, "qemu-img")
	// Cuts inside the regions each format needs.
	for format, cuts := range map[string][]int{
		"qcow2": {4, 16, 100},
		"vmdk":  {4, 100, 511, 600},
		"vhdx":  {8, 100, 600, 200 << 10, 1 << 20},
		"vdi":   {0x44, 0x100},
	} {
		data := readFile(t, qemuImg(t, format, "4M"))
		for _, n := range cuts {
			got := check(t, data[:n])
			if got.Format != format {
				t.Errorf("%s cut at %d: format %q", format, n, got.Format)
			}
			if got.Format == format && got.Unsafe == "" {
				t.Errorf("%s cut at %d: safe, want unsafe", format, n)
			}
		}
	}
	qcow := readFile(t, qemuImg(t, "qcow2", "1M"))
	qcow[72] = 0x80 // an incompatible feature nobody knows
	if got := check(t, qcow[:4096]); got.Unsafe != "qcow2 has unknown incompatible features" {
		t.Errorf("unknown feature: %+v", got)
	}
	binary.BigEndian.PutUint64(qcow[72:], 0)
	binary.BigEndian.PutUint64(qcow[24:], 1<<62)
	if got := check(t, qcow[:4096]); got.Unsafe != "virtual size out of range" {
		t.Errorf("huge size: %+v", got)
	}
}

func TestVHDXDifferencing(t *testing.T) {
	// A hand-edited metadata table: turn the virtual disk size item into a
	// parent locator, and the region table checksum must still hold.
	need(t, "qemu-img")
	data := readFile(t, qemuImg(t, "vhdx", "8M"))
	rt := data[vhdxRegionTable : vhdxRegionTable+vhdxTableSize]
	var meta uint64
	for k := range int(binary.LittleEndian.Uint32(rt[8:])) {
		if e := rt[16+32*k:]; string(e[:16]) == vhdxMetadataRegion {
			meta = binary.LittleEndian.Uint64(e[16:])
		}
	}
	mt := data[meta : meta+vhdxTableSize]
	for k := range int(binary.LittleEndian.Uint16(mt[10:])) {
		if e := mt[32+32*k:]; string(e[:16]) == vhdxVirtualSize {
			// Add a parent locator entry after the last one.
			n := binary.LittleEndian.Uint16(mt[10:])
			last := mt[32+32*int(n):]
			copy(last, vhdxParentLocator)
			binary.LittleEndian.PutUint32(last[16:], binary.LittleEndian.Uint32(e[16:]))
			binary.LittleEndian.PutUint32(last[20:], 8)
			binary.LittleEndian.PutUint16(mt[10:], n+1)
			break
		}
	}
	if got := check(t, data); got.Format != "vhdx" || got.Unsafe != "vhdx is a differencing disk" {
		t.Errorf("got %+v", got)
	}
	// Break the region table checksum.
	rt[100] ^= 1
	if got := check(t, data); got.Unsafe != "vhdx region table checksum mismatch" {
		t.Errorf("got %+v", got)
	}
}

func TestVerify(t *testing.T) {
	raw := Result{Format: "raw", VirtualSize: 10, ActualSize: 10}
	qcow := Result{Format: "qcow2", VirtualSize: 1 << 30, ActualSize: 200000}
	for _, tt := range []struct {
		declared string
		r        Result
		want     string // "" for no error
	}{
		{"raw", raw, ""},
		{"ami", raw, ""},
		{"qcow2", qcow, ""},
		{"raw", qcow, "Image format qcow2 does not match the declared disk_format raw."},
		{"aki", qcow, "Image format qcow2 does not match the declared disk_format aki."},
		{"qcow2", raw, "Image format raw does not match the declared disk_format qcow2."},
		{"iso", raw, "Image format raw does not match the declared disk_format iso."},
		{"raw", Result{Format: "iso"}, "Image format iso does not match the declared disk_format raw."},
		{"qcow2", Result{Format: "qcow2", Unsafe: "qcow2 has a backing file"}, "Image is not safe to use as qcow2: qcow2 has a backing file."},
		{"raw", Result{Format: "raw", Unsafe: "gpt header checksum mismatch"}, "Image is not safe to use as raw: gpt header checksum mismatch."},
		{"ploop", raw, "Image disk_format ploop is not supported."},
		{"bogus", raw, `Image disk_format "bogus" is not known.`},
	} {
		err := Verify(tt.declared, tt.r)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Verify(%s, %s) = %v, want nil", tt.declared, tt.r.Format, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("Verify(%s, %s) = %v, want %q", tt.declared, tt.r.Format, err, tt.want)
		case err != nil && !fault.Is(err, fault.BadRequest):
			t.Errorf("Verify(%s, %s) kind = %v, want BadRequest", tt.declared, tt.r.Format, fault.KindOf(err))
		}
	}
}

// zeros is an endless reader of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestMemoryFlat(t *testing.T) {
	const size = 1 << 30
	i := New()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := io.CopyBuffer(i, io.LimitReader(zeros{}, size), make([]byte, 1<<20))
	if err != nil || n != size {
		t.Fatalf("copy: %d, %v", n, err)
	}
	r := i.Result()
	runtime.ReadMemStats(&after)
	if r.Format != "raw" || r.VirtualSize != size || r.ActualSize != size {
		t.Errorf("Result = %+v", r)
	}
	// TotalAlloc counts every allocation, freed or not: the stream must not
	// make garbage proportional to its size either.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("allocated %d bytes for a 1 GiB stream", grew)
	}
	if h := i.held(); h > 256<<10 {
		t.Errorf("holds %d bytes", h)
	}
}

func writeSeed(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzInspect")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint64(%d)\n", data, len(name))
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzInspect(f *testing.F) {
	f.Add([]byte("QFI\xfb\x00\x00\x00\x03"), uint64(1))
	f.Add([]byte("KDMV\x01\x00\x00\x00"), uint64(2))
	f.Add([]byte("conectix"), uint64(3))
	f.Add([]byte("vhdxfile"), uint64(4))
	f.Add([]byte("version=1\ncreateType=\"monolithicSparse\"\nRW 1 SPARSE \"a\"\n"), uint64(5))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole := New()
		whole.Write(data)
		want := whole.Result()
		if want.ActualSize != int64(len(data)) {
			t.Fatalf("ActualSize %d, wrote %d", want.ActualSize, len(data))
		}
		if want.VirtualSize < 0 || want.VirtualSize > maxVirtualSize {
			t.Fatalf("VirtualSize %d", want.VirtualSize)
		}
		if want.Format == "" {
			t.Fatal("no format")
		}
		if h := whole.held(); h > 2<<20 {
			t.Fatalf("holds %d bytes", h)
		}
		if diff := cmp.Diff(want, streamed(data, seed)); diff != "" {
			t.Fatalf("chunking changed the result:\n%s", diff)
		}
		got, err := Detect(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Detect differs:\n%s", diff)
		}
		_ = Verify("raw", want)
	})
}
