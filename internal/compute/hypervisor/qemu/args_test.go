package qemu

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestArgs checks QEMU command lines as text against testdata/*.args,
// one option and its value per line.
func TestArgs(t *testing.T) {
	inst := hypervisor.Instance{
		UUID:       "6f1c2b7e-0d3a-4b8e-9c55-2a1e7f9d0b34",
		Name:       "instance-0000002a",
		VCPUs:      2,
		MemoryMB:   512,
		BaseImage:  "/data/compute/image-cache/abc",
		BaseFormat: "qcow2",
		Dir:        "/data/compute/instances/6f1c2b7e-0d3a-4b8e-9c55-2a1e7f9d0b34",
	}
	full := inst
	full.ConfigDrive = full.Dir + "/config.iso"
	full.MACs = []string{"fa:16:3e:00:00:01", "fa:16:3e:00:00:02", "fa:16:3e:00:00:03"}
	full.Taps = []string{"tap0a1b2c3d-4e", "", "tap9f8e7d6c-5b"}
	comma := inst
	comma.Name = "a,b"
	comma.Dir = "/data/odd,dir/" + inst.UUID
	for name, l := range map[string]launch{
		"tcg":      {Inst: inst, Accel: "tcg", Cache: "none"},
		"kvm-full": {Inst: full, Accel: "kvm", CPU: "host", Cache: "writeback", VNCDisplays: 100},
		"restore":  {Inst: inst, Accel: "kvm", Cache: "none", Incoming: "fd:3"},
		"commas":   {Inst: comma, Accel: "tcg", Cache: "none"},
		"rescue": {Inst: full, Accel: "tcg", Cache: "none", VNCDisplays: 10, VNCAddress: "2001:db8::7",
			Rescue: full.Dir + "/disk.rescue"},
	} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, a := range l.args() {
				if strings.HasPrefix(a, "-") {
					if b.Len() > 0 {
						b.WriteByte('\n')
					}
				} else {
					b.WriteByte(' ')
				}
				b.WriteString(a)
			}
			b.WriteByte('\n')
			path := filepath.Join("testdata", name+".args")
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("args differ from %s (-want +got):\n%s", path, diff)
			}
		})
	}
}
