package ring

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writtenRing(t *testing.T) (*Builder, string) {
	t.Helper()
	b := newBuilder(t, 8, 3, time.Hour, dev(1, 1, "d1", 100), dev(1, 2, "d1", 100), dev(1, 3, "d1", 100), dev(1, 4, "d1", 100))
	b.SetWeight(3, 0)
	rebalance(t, b, t0)
	path := filepath.Join(t.TempDir(), "object.ring")
	if err := b.WriteRing(path); err != nil {
		t.Fatal(err)
	}
	return b, path
}

func sameRing(t *testing.T, want, got *Ring) {
	t.Helper()
	if got.Version() != want.Version() || got.Replicas() != want.Replicas() || got.PartPower() != want.PartPower() {
		t.Errorf("ring: version %d, replicas %d, part power %d; want %d, %d, %d",
			got.Version(), got.Replicas(), got.PartPower(), want.Version(), want.Replicas(), want.PartPower())
	}
	if diff := cmp.Diff(want.Devices(), got.Devices()); diff != "" {
		t.Errorf("devices (-want +got):\n%s", diff)
	}
	if got.Hash("a", "c", "o") != want.Hash("a", "c", "o") {
		t.Error("hashes differ")
	}
	for p := range want.Partitions() {
		if diff := cmp.Diff(want.Primaries(p), got.Primaries(p)); diff != "" {
			t.Fatalf("partition %d primaries (-want +got):\n%s", p, diff)
		}
	}
}

func TestRingFileRoundTrip(t *testing.T) {
	b, path := writtenRing(t)
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sameRing(t, mustRing(t, b), got)
	if got.devs[3].Weight != 0 || len(got.Devices()) != 3 {
		t.Errorf("zero-weight device: file has %v, Devices() has %d", got.devs, len(got.Devices()))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("ring file mode %v", fi.Mode())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temp files left: %v", leftovers)
	}
}

func TestBuilderFileRoundTrip(t *testing.T) {
	b, _ := writtenRing(t)
	b.Add(Device{Region: 2, Zone: 1, IP: "10.1.0.1", Port: 6300, Name: "d9", Weight: 50, Meta: "rack 7"})
	b.Remove(1)
	path := filepath.Join(t.TempDir(), "object.builder")
	if err := b.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := LoadBuilder(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := cmp.Options{cmp.AllowUnexported(Builder{}, builderDevice{})}
	if diff := cmp.Diff(b, c, opts); diff != "" {
		t.Errorf("builder after a round trip (-saved +loaded):\n%s", diff)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "not a ring file") {
		t.Errorf("Load(builder file) = %v, want not a ring file", err)
	}
	if _, err := LoadBuilder(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadBuilder(missing) succeeded")
	}
}

func TestCorruptRingRefused(t *testing.T) {
	_, path := writtenRing(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	content := inflate(t, good)
	// Every flipped bit is caught, unless the content stays the same:
	// gzip's mtime and OS bytes and deflate's padding bits carry nothing.
	for i := range len(good) {
		for _, bit := range []byte{0x01, 0x20} {
			bad := bytes.Clone(good)
			bad[i] ^= bit
			os.WriteFile(path, bad, 0o644)
			if _, err := Load(path); err == nil && !bytes.Equal(inflate(t, bad), content) {
				t.Fatalf("Load with byte %d of %d changed by %#x succeeded", i, len(good), bit)
			}
		}
	}
	os.WriteFile(path, good[:len(good)/2], 0o644)
	if _, err := Load(path); err == nil {
		t.Error("Load of a truncated file succeeded")
	}
}

func inflate(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reframe rewrites the inflated content of a ring file.
func reframe(t *testing.T, path string, edit func(header, body, check string) (string, string, string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(zr)
	f.Close()
	lines := strings.Split(string(data), "\n")
	h, b, c := edit(lines[0], lines[1], lines[2])
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, h+"\n"+b+"\n"+c+"\n")
	zw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewriteBody changes the JSON body of a ring file and checksums it again.
func rewriteBody(t *testing.T, path string, edit func(*ringFile)) {
	t.Helper()
	body, err := readFile(path, ringMagic)
	if err != nil {
		t.Fatal(err)
	}
	var f ringFile
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	edit(&f)
	data, err := encode(ringMagic, f)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, data, 0o644)
}

func TestRingFileChecks(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantErr string
	}{
		{"body changed, checksum kept", func(t *testing.T, path string) {
			reframe(t, path, func(h, b, c string) (string, string, string) {
				return h, strings.Replace(b, `"version":1`, `"version":9`, 1), c
			})
		}, "checksum mismatch"},
		{"unknown format version", func(t *testing.T, path string) {
			reframe(t, path, func(h, b, c string) (string, string, string) { return "NIMBUSRING 2", b, c })
		}, "format version 2 is not supported"},
		{"other magic", func(t *testing.T, path string) {
			reframe(t, path, func(h, b, c string) (string, string, string) { return "SWIFTRING 1", b, c })
		}, "not a ring file"},
		{"extra line", func(t *testing.T, path string) {
			reframe(t, path, func(h, b, c string) (string, string, string) { return h, b, c + "\nmore" })
		}, "want 3 lines"},
		{"not gzip", func(t *testing.T, path string) { os.WriteFile(path, []byte("NIMBUSRING 1\n{}\n"), 0o644) }, "not a ring file"},
		{"unknown device", func(t *testing.T, path string) {
			rewriteBody(t, path, func(f *ringFile) { f.Assignment[0][7] = 42 })
		}, "partition 7 replica 0 is on device 42"},
		{"device twice in a partition", func(t *testing.T, path string) {
			rewriteBody(t, path, func(f *ringFile) { f.Assignment[1][3] = f.Assignment[0][3] })
		}, "partition 3 has device"},
		{"short row", func(t *testing.T, path string) {
			rewriteBody(t, path, func(f *ringFile) { f.Assignment[2] = f.Assignment[2][:100] })
		}, "replica 2 has 100 partitions, want 256"},
		{"missing replica row", func(t *testing.T, path string) {
			rewriteBody(t, path, func(f *ringFile) { f.Assignment = f.Assignment[:2] })
		}, "2 replica rows for 3 replicas"},
		{"duplicate device id", func(t *testing.T, path string) {
			rewriteBody(t, path, func(f *ringFile) { f.Devices[1].ID = 0 })
		}, "device id 0 appears twice"},
		{"bad part power", func(t *testing.T, path string) {
			rewriteBody(t, path, func(f *ringFile) { f.PartPower = 40 })
		}, "part power 40"},
		{"bad port", func(t *testing.T, path string) {
			rewriteBody(t, path, func(f *ringFile) { f.Devices[0].Port = -1 })
		}, "port -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path := writtenRing(t)
			tt.damage(t, path)
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}
