// Command bootcheck boots the Nimbus test guest image under QEMU with a
// config drive made by internal/compute/configdrive, checks its console
// line, powers it down over QMP and prints the times. test/guest/boot-test.sh
// runs it; see guestboot for the details.
//
//	go run ./test/guest/bootcheck -image nimbus-guest.qcow2 [-accel auto] [-bus ide,virtio-scsi,none]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/test/guest/guestboot"
)

func main() {
	image := flag.String("image", "", "the test image (qcow2) built by build-image.sh")
	accel := flag.String("accel", "tcg", `"tcg", "kvm", or "auto" (KVM if the guest boots with it within 5 s, else TCG)`)
	buses := flag.String("bus", "ide", `config drive buses to boot with, comma-separated: "ide", "virtio-scsi", "virtio-blk", "none" (no config drive)`)
	uuid := flag.String("uuid", "9d1f3c2a-5b6e-4f70-8a9b-0c1d2e3f4a5b", "instance UUID in the config drive")
	key := flag.String("key", "boot-test-key", `key pair name in the config drive ("" for none)`)
	flag.Parse()
	if *image == "" {
		fmt.Fprintln(os.Stderr, "bootcheck: -image is required")
		os.Exit(2)
	}
	ctx := context.Background()
	failed := false
	for _, bus := range strings.Split(*buses, ",") {
		opts := guestboot.Options{Image: *image, Bus: guestboot.Bus(bus), Accel: *accel}
		want := "nimbus-guest: instance none key none"
		if bus != "none" {
			d := &configdrive.Data{UUID: *uuid, Name: "boot-test", Hostname: "boot-test.novalocal"}
			keyName := "none"
			if *key != "" {
				d.Keys = []configdrive.Key{{Name: *key, Type: "ssh", Data: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBootTestKeyOnly boot-test\n"}}
				keyName = *key
			}
			opts.ConfigDrive = d
			want = "nimbus-guest: instance " + *uuid + " key " + keyName
		}
		fmt.Printf("bootcheck: config drive: %s\n", bus)
		if *accel == "auto" {
			// Probe once: nested KVM may fail or hang, so give it 5 s.
			opts.Accel = "kvm"
			opts.MarkerTimeout = 5 * time.Second
			res, err := boot(ctx, opts)
			if err == nil {
				*accel = "kvm"
				failed = !report(res, want, "kvm") || failed
				continue
			}
			fmt.Printf("bootcheck: KVM does not boot the guest here (%v); using TCG\n", firstLine(err.Error()))
			*accel = "tcg"
			opts.Accel, opts.MarkerTimeout = "tcg", 0
		}
		res, err := boot(ctx, opts)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bootcheck: FAIL: %v\nconsole:\n%s\n", err, res.Console)
			failed = true
			continue
		}
		failed = !report(res, want, opts.Accel) || failed
	}
	if failed {
		os.Exit(1)
	}
}

func boot(ctx context.Context, opts guestboot.Options) (guestboot.Result, error) {
	dir, err := os.MkdirTemp("", "bootcheck-")
	if err != nil {
		return guestboot.Result{}, err
	}
	defer os.RemoveAll(dir)
	opts.Dir = dir
	return guestboot.Boot(ctx, opts)
}

func report(res guestboot.Result, want, accel string) bool {
	fmt.Printf("bootcheck: console line: %s\n", res.Marker)
	fmt.Printf("bootcheck: %s: line %.2f s after starting QEMU; QEMU exited %.2f s after system_powerdown\n",
		accel, res.ToMarker.Seconds(), res.ToExit.Seconds())
	if res.Marker != want {
		fmt.Fprintf(os.Stderr, "bootcheck: FAIL: want %q\n", want)
		return false
	}
	fmt.Println("bootcheck: ok")
	return true
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
