package guestboot

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
)

// TestGuestBoot builds the test image (or takes NIMBUS_GUEST_IMAGE) and
// boots it under QEMU with TCG: with a config drive on each bus, without
// a key, and without a config drive. Each boot must print its line and
// power off on system_powerdown. A few seconds a boot, so opt-in:
// NIMBUS_TEST_GUEST=1.
func TestGuestBoot(t *testing.T) {
	if os.Getenv("NIMBUS_TEST_GUEST") != "1" {
		t.Skip("set NIMBUS_TEST_GUEST=1 to build and boot the test guest image")
	}
	for _, bin := range []string{"qemu-system-x86_64", "qemu-img", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (Debian packages qemu-system-x86, qemu-utils)", bin)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image, err := ImageFromEnv(ctx, "../build-image.sh", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	withKey := &configdrive.Data{
		UUID:     "3c1a6d2e-8f4b-4e5a-9d7c-0b2e4f6a8c1d",
		Name:     "guest-1",
		Hostname: "guest-1.novalocal",
		Keys:     []configdrive.Key{{Name: "nimbus-key", Type: "ssh", Data: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB test\n"}},
		Meta:     map[string]string{"uuid": "not-this-one", "keys": "nor this"},
		UserData: []byte("#cloud-config\n"),
	}
	noKey := &configdrive.Data{UUID: "7d9e0f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", Name: "guest-2", Hostname: "guest-2"}
	tests := []struct {
		name string
		cd   *configdrive.Data
		bus  Bus
		want string
	}{
		{"ide", withKey, IDE, "nimbus-guest: instance 3c1a6d2e-8f4b-4e5a-9d7c-0b2e4f6a8c1d key nimbus-key"},
		{"virtio-scsi", withKey, VirtioSCSI, "nimbus-guest: instance 3c1a6d2e-8f4b-4e5a-9d7c-0b2e4f6a8c1d key nimbus-key"},
		{"virtio-blk no key", noKey, VirtioBlk, "nimbus-guest: instance 7d9e0f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6 key none"},
		{"no config drive", nil, "", "nimbus-guest: instance none key none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Boot(ctx, Options{Image: image, ConfigDrive: tt.cd, Bus: tt.bus, Dir: t.TempDir()})
			if err != nil {
				t.Fatalf("Boot: %v\nconsole:\n%s", err, res.Console)
			}
			if res.Marker != tt.want {
				t.Errorf("console line = %q, want %q", res.Marker, tt.want)
			}
			if n := countLines(res.Console, "nimbus-guest:"); n != 1 {
				t.Errorf("%d nimbus-guest lines, want 1:\n%s", n, res.Console)
			}
			if res.ToExit > 5*time.Second {
				t.Errorf("QEMU exited %v after system_powerdown, want under 5s", res.ToExit)
			}
			t.Logf("%s: line after %v, off %v after system_powerdown", tt.name, res.ToMarker.Round(time.Millisecond), res.ToExit.Round(time.Millisecond))
		})
	}
}

func countLines(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}
