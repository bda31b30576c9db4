package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json")

const uuid = "6f2b1d7e-2c1a-4b8e-9d1e-0a1b2c3d4e01"

// TestWireShapes pins the protocol: the conductor and agents of different
// builds must agree on these bytes.
func TestWireShapes(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)
	ten := 10
	out := "[    0.000000] Linux version 6.1.0\n"
	uptime := " 08:32:11 up 93 days, 18:25,  1 user,  load average: 0.20, 0.12, 0.14"
	yes, no := true, false
	msgs := map[string]any{
		"build_request": Request{
			V: 1, Op: BuildAndRun, RequestID: "req-4f2a",
			Instance: Instance{UUID: uuid, Name: "instance-0000002a", Flavor: &Flavor{VCPUs: 2, RAM: 2048, Disk: 20}},
			Image: &Image{
				ID: "a1b2c3d4-0000-4000-8000-000000000001", URL: "http://controller:9292", Token: "gAAAA...",
				DiskFormat: "qcow2", Size: 21430272, Checksum: "443b7623e27ecf03dc9e01ee93f67afe",
				HashAlgo: "sha512", HashValue: "6513f21e44aa3da349f248188a44bc304a3653a04122d8fb4535423c8e1d14cd6a153f735bb0982e2161b5b5186106570c17a9e58b64dd39390617cd5a350f78",
			},
			ConfigDrive: &ConfigDrive{
				Name: "vm1", Hostname: "vm1.novalocal", AvailabilityZone: "nova", ProjectID: "p1",
				Keys:         []configdrive.Key{{Name: "mykey", Type: "ssh", Data: "ssh-ed25519 AAAAC3Nz mykey"}},
				Meta:         map[string]string{"role": "web"},
				UserData:     []byte("#!/bin/sh\necho hello\n"),
				NetworkData:  json.RawMessage(`{"links":[],"networks":[],"services":[]}`),
				InstanceType: "m1.small",
			},
		},
		"power_off_request": Request{V: 1, Op: PowerOff, Instance: Instance{UUID: uuid}, Timeout: 60},
		"reboot_request":    Request{V: 1, Op: Reboot, Instance: Instance{UUID: uuid}, Hard: true},
		"console_request":   Request{V: 1, Op: ConsoleOutput, Instance: Instance{UUID: uuid}, Length: &ten},
		"snapshot_request": Request{V: 1, Op: Snapshot, Instance: Instance{UUID: uuid},
			Snapshot: &SnapshotTarget{ImageID: "a1b2c3d4-0000-4000-8000-000000000002", URL: "http://controller:9292", Token: "gAAAA...", DiskFormat: "qcow2"}},
		"resize_request": Request{V: 1, Op: Resize, RequestID: "req-5b3c",
			Instance: Instance{UUID: uuid, Name: "instance-0000002a", Flavor: &Flavor{VCPUs: 4, RAM: 4096, Disk: 40}},
			Timeout:  60, PowerOn: &yes},
		"revert_resize_request": Request{V: 1, Op: RevertResize,
			Instance: Instance{UUID: uuid, Flavor: &Flavor{VCPUs: 2, RAM: 2048, Disk: 20}}, Timeout: 60, PowerOn: &no},
		"rescue_request": Request{V: 1, Op: Rescue, Instance: Instance{UUID: uuid},
			Image: &Image{ID: "a1b2c3d4-0000-4000-8000-000000000003", URL: "http://controller:9292", Token: "gAAAA...", DiskFormat: "qcow2"}},
		"get_console_request": Request{V: 1, Op: GetConsole, Instance: Instance{UUID: uuid}, Console: &ConsoleRequest{Type: ConsoleNoVNC}},
		"reply_get_console": Reply{V: 1, OK: true, PowerState: hypervisor.Running,
			Console: &ConsoleEndpoint{Kind: EndpointVNC, Host: "192.0.2.10", Port: 5901}},
		"host_uptime_request": Request{V: 1, Op: HostUptime, RequestID: "req-6c4d"},
		"reply_host_uptime":   Reply{V: 1, OK: true, Output: &uptime},
		"reply_ok":            Reply{V: 1, OK: true, PowerState: hypervisor.Running},
		"reply_console":       Reply{V: 1, OK: true, PowerState: hypervisor.Running, Output: &out},
		"reply_info":          Reply{V: 1, OK: true, PowerState: hypervisor.Paused, Info: &Info{PowerState: hypervisor.Paused, VCPUs: 2, MemoryMB: 2048, CPUTimeNS: 1500000000}},
		"reply_error": Reply{V: 1, PowerState: hypervisor.NoState,
			Error: Errorf(CodeBuildFailed, true, "Build of instance %s aborted: no space left on device", uuid)},
		"update_task": Update{V: 1, Host: "compute1", Boot: "9f86d081884c7d65", Seq: 7, At: at, UUID: uuid,
			PowerState: hypervisor.Shutdown, Event: EventTask, Task: PowerOff, RequestID: "req-4f2a", OK: true},
		"update_lifecycle": Update{V: 1, Host: "compute1", Boot: "9f86d081884c7d65", Seq: 8, At: at, UUID: uuid,
			PowerState: hypervisor.Shutdown, Event: EventLifecycle},
		"heartbeat": Heartbeat{V: 1, Host: "compute1", Binary: Binary, At: at, Boot: "9f86d081884c7d65", Interval: 10, RunningVMs: 3,
			Resources: Resources{HypervisorHostname: "compute1.example.com", HypervisorType: "QEMU", HypervisorVersion: 7002000,
				VCPUs: 8, MemoryMB: 15890, LocalGB: 450, CPUInfo: `{"arch":"x86_64"}`, Accel: "kvm", HostIP: "192.0.2.10"}},
	}
	for name, msg := range msgs {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s changed (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	flavor := &Flavor{VCPUs: 1, RAM: 64}
	tests := []struct {
		name string
		req  Request
		code string // "" for valid
	}{
		{"valid build", Request{V: 1, Op: BuildAndRun, Instance: Instance{UUID: uuid, Flavor: flavor}, Image: &Image{ID: "img"}}, ""},
		{"valid info", Request{V: 1, Op: GetInfo, Instance: Instance{UUID: uuid}}, ""},
		{"no version", Request{Op: GetInfo, Instance: Instance{UUID: uuid}}, CodeBadRequest},
		{"newer version", Request{V: Version + 1, Op: GetInfo, Instance: Instance{UUID: uuid}}, CodeUnsupportedVersion},
		{"unknown op", Request{V: 1, Op: "live_migrate", Instance: Instance{UUID: uuid}}, CodeBadRequest},
		{"uuid with a slash", Request{V: 1, Op: GetInfo, Instance: Instance{UUID: "a/b"}}, CodeBadRequest},
		{"uuid of dots", Request{V: 1, Op: GetInfo, Instance: Instance{UUID: ".."}}, CodeBadRequest},
		{"build without RAM", Request{V: 1, Op: BuildAndRun, Instance: Instance{UUID: uuid, Flavor: &Flavor{VCPUs: 1}}, Image: &Image{ID: "img"}}, CodeBadRequest},
		{"build with a bad image id", Request{V: 1, Op: BuildAndRun, Instance: Instance{UUID: uuid, Flavor: flavor}, Image: &Image{ID: "../x"}}, CodeBadRequest},
		{"build with bad network data", Request{V: 1, Op: BuildAndRun, Instance: Instance{UUID: uuid, Flavor: flavor}, Image: &Image{ID: "img"},
			ConfigDrive: &ConfigDrive{NetworkData: json.RawMessage("{")}}, CodeBadRequest},
		{"negative timeout", Request{V: 1, Op: PowerOff, Instance: Instance{UUID: uuid}, Timeout: -1}, CodeBadRequest},
		{"valid resize", Request{V: 1, Op: Resize, Instance: Instance{UUID: uuid, Flavor: flavor}}, ""},
		{"resize without a flavor", Request{V: 1, Op: Resize, Instance: Instance{UUID: uuid}}, CodeBadRequest},
		{"resize to no RAM", Request{V: 1, Op: Resize, Instance: Instance{UUID: uuid, Flavor: &Flavor{VCPUs: 1}}}, CodeBadRequest},
		{"resize with a negative timeout", Request{V: 1, Op: Resize, Instance: Instance{UUID: uuid, Flavor: flavor}, Timeout: -1}, CodeBadRequest},
		{"revert to the recorded flavor", Request{V: 1, Op: RevertResize, Instance: Instance{UUID: uuid}}, ""},
		{"revert to a flavor of no vCPUs", Request{V: 1, Op: RevertResize, Instance: Instance{UUID: uuid, Flavor: &Flavor{RAM: 64}}}, CodeBadRequest},
		{"valid confirm", Request{V: 1, Op: ConfirmResize, Instance: Instance{UUID: uuid}}, ""},
		{"valid rescue", Request{V: 1, Op: Rescue, Instance: Instance{UUID: uuid}, Image: &Image{ID: "img"}}, ""},
		{"rescue without an image", Request{V: 1, Op: Rescue, Instance: Instance{UUID: uuid}}, CodeBadRequest},
		{"valid unrescue", Request{V: 1, Op: Unrescue, Instance: Instance{UUID: uuid}}, ""},
		{"valid vnc console", Request{V: 1, Op: GetConsole, Instance: Instance{UUID: uuid}, Console: &ConsoleRequest{Type: "novnc"}}, ""},
		{"valid serial console", Request{V: 1, Op: GetConsole, Instance: Instance{UUID: uuid}, Console: &ConsoleRequest{Type: "serial"}}, ""},
		{"spice console", Request{V: 1, Op: GetConsole, Instance: Instance{UUID: uuid}, Console: &ConsoleRequest{Type: "spice-html5"}}, CodeBadRequest},
		{"console without a type", Request{V: 1, Op: GetConsole, Instance: Instance{UUID: uuid}}, CodeBadRequest},
		{"host uptime needs no instance", Request{V: 1, Op: HostUptime}, ""},
		{"host uptime of a newer version", Request{V: Version + 1, Op: HostUptime}, CodeUnsupportedVersion},
		{"snapshot to vmdk", Request{V: 1, Op: Snapshot, Instance: Instance{UUID: uuid}, Snapshot: &SnapshotTarget{ImageID: "img", DiskFormat: "vmdk"}}, CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.req.Check()
			switch {
			case tc.code == "" && e != nil:
				t.Errorf("Check: %v, want valid", e)
			case tc.code != "" && (e == nil || e.Code != tc.code):
				t.Errorf("Check: %v, want code %s", e, tc.code)
			}
		})
	}
}

func TestConfigDriveData(t *testing.T) {
	cd := ConfigDrive{
		Name: "vm1", Hostname: "vm1.novalocal", Keys: []configdrive.Key{{Name: "k", Type: "ssh", Data: "ssh-ed25519 AAAA"}},
		UserData: []byte("hi"), NetworkData: json.RawMessage(`{"links":[]}`),
	}
	files, err := configdrive.Files(cd.Data(uuid, "img-1"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = string(f.Data)
	}
	if got["openstack/latest/network_data.json"] != `{"links":[]}` {
		t.Errorf("network_data.json = %s", got["openstack/latest/network_data.json"])
	}
	if got["openstack/latest/user_data"] != "hi" {
		t.Errorf("user_data = %q", got["openstack/latest/user_data"])
	}
	var md struct {
		UUID     string `json:"uuid"`
		Hostname string `json:"hostname"`
		Keys     []configdrive.Key
	}
	if err := json.Unmarshal([]byte(got["openstack/latest/meta_data.json"]), &md); err != nil {
		t.Fatal(err)
	}
	if md.UUID != uuid || md.Hostname != "vm1.novalocal" || len(md.Keys) != 1 || md.Keys[0].Name != "k" {
		t.Errorf("meta_data.json = %+v", md)
	}
	if !bytes.Contains([]byte(got["ec2/latest/meta-data.json"]), []byte("ami-")) {
		t.Errorf("ec2 meta-data has no ami id from the image")
	}
}

func TestClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := Client{Bus: b}

	_, err = c.Call(ctx, "nowhere", Request{Op: GetInfo, Instance: Instance{UUID: uuid}})
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("call to a host without agent: %v, want ErrUnreachable", err)
	}

	var seen Request
	if _, err := b.Serve(Subject("h1"), func(_ context.Context, body []byte) ([]byte, error) {
		json.Unmarshal(body, &seen)
		if seen.Op == PowerOn {
			return json.Marshal(Reply{V: 1, PowerState: hypervisor.Shutdown, Error: Errorf(CodeFailed, false, "no")})
		}
		return json.Marshal(Reply{V: 1, OK: true, PowerState: hypervisor.Running})
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Call(ctx, "h1", Request{Op: Reboot, Instance: Instance{UUID: uuid}})
	if err != nil || !rep.OK || rep.PowerState != hypervisor.Running || seen.V != Version {
		t.Errorf("reboot: %+v, %v (sent v %d)", rep, err, seen.V)
	}
	rep, err = c.Call(ctx, "h1", Request{Op: PowerOn, Instance: Instance{UUID: uuid}})
	var re *Error
	if !errors.As(err, &re) || re.Code != CodeFailed || rep.PowerState != hypervisor.Shutdown {
		t.Errorf("failed power_on: %+v, %v; want the reply's error and state", rep, err)
	}
}

func TestDecodeUpdate(t *testing.T) {
	u, err := DecodeUpdate([]byte(`{"v":1,"host":"h","uuid":"x","power_state":4,"event":"lifecycle"}`))
	if err != nil || u.PowerState != hypervisor.Shutdown || u.Event != EventLifecycle {
		t.Errorf("DecodeUpdate: %+v, %v", u, err)
	}
	for _, bad := range []string{`{"v":2}`, `{"v":0}`, `{`} {
		if _, err := DecodeUpdate([]byte(bad)); err == nil {
			t.Errorf("DecodeUpdate(%s) accepted", bad)
		}
	}
}
