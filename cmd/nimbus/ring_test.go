package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
)

// nimbusRing runs `nimbus ring --data-dir DIR ARGS...`.
func nimbusRing(t *testing.T, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(append([]string{"ring", "--data-dir", dir, "--config="}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

func mustRing(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := nimbusRing(t, dir, args...)
	if err != nil {
		t.Fatalf("nimbus ring %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func TestRingCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	builder := filepath.Join(dir, "objects", "rings", "object.builder")
	ringFile := filepath.Join(dir, "objects", "rings", "object.ring")

	if _, _, err := nimbusRing(t, dir, "add", "--ip", "127.0.0.1", "--device", "d1"); err == nil || !strings.Contains(err.Error(), "nimbus ring create") {
		t.Errorf("add before create: %v", err)
	}
	out := mustRing(t, dir, "create", "--part-power", "8", "--replicas", "3", "--min-part-hours", "1")
	if !strings.Contains(out, builder) {
		t.Errorf("create printed %q", out)
	}
	if _, _, err := nimbusRing(t, dir, "create", "--part-power", "8"); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second create: %v", err)
	}
	for i, zone := range []string{"1", "2", "3"} {
		out := mustRing(t, dir, "add", "--zone", zone, "--ip", "127.0.0.1", "--port", "6200", "--device", "d"+zone, "--weight", "100", "--meta", "disk "+zone)
		if strings.TrimSpace(out) != string(rune('0'+i)) {
			t.Errorf("add printed %q, want id %d", out, i)
		}
	}
	// Options may also come before the command and after arguments.
	if out := mustRing(t, dir, "add", "--ip", "127.0.0.1", "--device", "d4", "--zone", "4"); strings.TrimSpace(out) != "3" {
		t.Errorf("add with the default port printed %q", out)
	}
	if _, _, err := nimbusRing(t, dir, "add", "--ip", "127.0.0.1", "--device", "d4", "--zone", "4"); err == nil {
		t.Error("adding a device twice succeeded")
	}
	mustRing(t, dir, "set-weight", "3", "0")
	out = mustRing(t, dir, "rebalance")
	if !strings.Contains(out, "moved 768 partition-replicas") || !strings.Contains(out, "version 1") {
		t.Errorf("rebalance printed %q", out)
	}
	r, err := ring.Load(ringFile)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version() != 1 || len(r.Devices()) != 3 || r.Devices()[3-1].Port != 6200 {
		t.Errorf("ring: version %d, devices %v", r.Version(), r.Devices())
	}

	// Right after: every partition moved less than an hour ago.
	mustRing(t, dir, "set-weight", "3", "100")
	out, _, err = nimbusRing(t, dir, "rebalance")
	if err != nil {
		t.Fatalf("rebalance after a weight change: %v", err)
	}
	if !strings.Contains(out, "moved 0 partition-replicas") || !strings.Contains(out, "rebalance again after") {
		t.Errorf("rebalance within min part hours printed %q", out)
	}
	if _, _, err := nimbusRing(t, dir, "rebalance"); err == nil || !strings.Contains(err.Error(), "nothing can move yet") {
		t.Errorf("rebalance with nothing to do: %v", err)
	}

	out = mustRing(t, dir, "show")
	for _, want := range []string{"version 2", "256 partitions (part power 8)", "3 replicas", "min part hours 1h0m0s",
		"ring file " + ringFile + ": version 2, current"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if row := strings.Join(deviceRow(out, "1"), " "); row != "1 1 2 127.0.0.1:6200 d2 100.00 256 33.33 disk 2" {
		t.Errorf("show: device 1 is %q:\n%s", row, out)
	}
	if row := strings.Join(deviceRow(out, "3"), " "); row != "3 1 4 127.0.0.1:6200 d4 100.00 0 100.00" {
		t.Errorf("show: device 3 is %q:\n%s", row, out)
	}
	if out := mustRing(t, dir, "validate"); !strings.Contains(out, "valid") {
		t.Errorf("validate printed %q", out)
	}

	// A ring file behind the builder, then a damaged one.
	mustRing(t, dir, "remove", "0")
	_, errOut, err := nimbusRing(t, dir, "validate")
	if err == nil || !strings.Contains(errOut, "marked for removal") || !strings.Contains(errOut, "no rebalance has taken in") {
		t.Errorf("validate with a device to remove: %v\n%s", err, errOut)
	}
	mustRing(t, dir, "rebalance")
	if out := mustRing(t, dir, "show"); deviceRow(out, "0") != nil {
		t.Errorf("removed device still shown:\n%s", out)
	}
	data, _ := os.ReadFile(ringFile)
	data[len(data)/2] ^= 0xff
	os.WriteFile(ringFile, data, 0o644)
	_, errOut, err = nimbusRing(t, dir, "validate")
	if err == nil || !strings.Contains(errOut, ringFile) {
		t.Errorf("validate with a damaged ring: %v\n%s", err, errOut)
	}
	out = mustRing(t, dir, "write")
	if !strings.Contains(out, "version 3") {
		t.Errorf("write printed %q", out)
	}
	mustRing(t, dir, "validate")

	// --ring names another file; the builder follows it.
	other := filepath.Join(dir, "other.ring")
	mustRing(t, dir, "--ring", other, "create", "--part-power", "4")
	if _, err := os.Stat(filepath.Join(dir, "other.builder")); err != nil {
		t.Errorf("builder for --ring %s: %v", other, err)
	}
}

func TestRingUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, args := range [][]string{{}, {"frobnicate"}, {"remove"}, {"set-weight", "1"}, {"create"}, {"add", "--ip", "x"}} {
		if _, _, err := nimbusRing(t, dir, args...); err == nil {
			t.Errorf("nimbus ring %v succeeded", args)
		}
	}
	_, errOut, _ := nimbusRing(t, dir)
	if !strings.Contains(errOut, "Commands:") {
		t.Errorf("usage: %q", errOut)
	}
}

// deviceRow is the fields of the device's row in the output of show.
func deviceRow(show, id string) []string {
	rows := strings.SplitAfter(show, "devices:\n")
	for _, line := range strings.Split(rows[len(rows)-1], "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == id {
			return f
		}
	}
	return nil
}
