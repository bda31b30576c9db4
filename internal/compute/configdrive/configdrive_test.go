package configdrive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kdomanski/iso9660"
)

func testData() Data {
	vlan := 42
	return Data{
		UUID:             "6f2cbd4e-1c1d-4a3b-9f0e-2b6d1e7c8a90",
		Name:             "web-1",
		Hostname:         "web-1.novalocal",
		AvailabilityZone: "nova",
		ProjectID:        "f7ac731cc11f40efbc03a9f9e1d1d21f",
		Keys:             []Key{{Name: "mykey", Type: "ssh", Data: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB demo@nimbus\n"}},
		Meta:             map[string]string{"role": "webserver", "note": "<a & b>"},
		UserData:         []byte("#!/bin/sh\necho hello\n"),
		NetworkData:      map[string]any{"links": []any{}, "networks": []any{}, "services": []any{}},
		LaunchIndex:      2,
		Devices: []Device{
			{Type: "nic", Bus: "pci", Address: "0000:00:02.0", MAC: "fa:16:3e:00:00:01", VLAN: &vlan, Tags: []string{"trusted"}},
			{Type: "disk", Serial: "vol-1"},
		},
		InstanceType: "m1.small",
		ImageID:      "0a1b2c3d-0000-0000-0000-000000000000",
	}
}

// readISO reads every regular file of the image at path with an
// independent ISO 9660 reader (kdomanski/iso9660, which follows Rock
// Ridge names), keyed by slash path.
func readISO(t *testing.T, path string) (label string, files map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := iso9660.OpenImage(f)
	if err != nil {
		t.Fatalf("OpenImage: %v", err)
	}
	label, err = img.Label()
	if err != nil {
		t.Fatalf("Label: %v", err)
	}
	root, err := img.RootDir()
	if err != nil {
		t.Fatalf("RootDir: %v", err)
	}
	files = map[string][]byte{}
	var walk func(dir *iso9660.File, prefix string)
	walk = func(dir *iso9660.File, prefix string) {
		children, err := dir.GetChildren()
		if err != nil {
			t.Fatalf("GetChildren(%q): %v", prefix, err)
		}
		for _, c := range children {
			p := prefix + c.Name()
			if c.IsDir() {
				walk(c, p+"/")
				continue
			}
			b, err := io.ReadAll(c.Reader())
			if err != nil {
				t.Fatalf("read %s: %v", p, err)
			}
			files[p] = b
		}
	}
	walk(root, "")
	return label, files
}

func TestBuildReadBack(t *testing.T) {
	d := testData()
	path := filepath.Join(t.TempDir(), "disk.config")
	if err := Build(path, d); err != nil {
		t.Fatalf("Build: %v", err)
	}
	label, files := readISO(t, path)
	if label != "config-2" {
		t.Errorf("label = %q, want config-2", label)
	}

	for _, v := range []string{"latest", "2012-08-10", "2025-04-04"} {
		for _, name := range []string{"meta_data.json", "user_data"} {
			if _, ok := files["openstack/"+v+"/"+name]; !ok {
				t.Errorf("openstack/%s/%s missing", v, name)
			}
		}
	}
	if got := string(files["openstack/latest/user_data"]); got != string(d.UserData) {
		t.Errorf("user_data = %q, want %q", got, d.UserData)
	}
	if got := string(files["ec2/latest/user-data"]); got != string(d.UserData) {
		t.Errorf("ec2 user-data = %q, want %q", got, d.UserData)
	}
	if got := string(files["openstack/latest/vendor_data.json"]); got != "{}" {
		t.Errorf("vendor_data.json = %s, want {}", got)
	}
	if got := string(files["openstack/latest/vendor_data2.json"]); got != `{"static":{}}` {
		t.Errorf(`vendor_data2.json = %s, want {"static":{}}`, got)
	}
	var nd map[string]any
	if err := json.Unmarshal(files["openstack/latest/network_data.json"], &nd); err != nil {
		t.Fatalf("network_data.json: %v", err)
	}
	if diff := cmp.Diff(d.NetworkData, nd); diff != "" {
		t.Errorf("network_data.json (-want +got):\n%s", diff)
	}

	var md map[string]any
	if err := json.Unmarshal(files["openstack/latest/meta_data.json"], &md); err != nil {
		t.Fatalf("meta_data.json: %v", err)
	}
	seed, _ := md["random_seed"].(string)
	if len(seed) != 684 { // base64 of 512 bytes
		t.Errorf("random_seed has %d characters, want 684", len(seed))
	}
	delete(md, "random_seed")
	want := map[string]any{
		"uuid":              d.UUID,
		"name":              "web-1",
		"hostname":          "web-1.novalocal",
		"launch_index":      2.0,
		"availability_zone": "nova",
		"project_id":        d.ProjectID,
		"meta":              map[string]any{"role": "webserver", "note": "<a & b>"},
		"public_keys":       map[string]any{"mykey": d.Keys[0].Data},
		"keys":              []any{map[string]any{"name": "mykey", "type": "ssh", "data": d.Keys[0].Data}},
		"devices": []any{
			map[string]any{"type": "nic", "bus": "pci", "address": "0000:00:02.0", "mac": "fa:16:3e:00:00:01", "vlan": 42.0, "tags": []any{"trusted"}},
			map[string]any{"type": "disk", "bus": "none", "address": "none", "serial": "vol-1"},
		},
		"dedicated_cpus": []any{},
	}
	if diff := cmp.Diff(want, md); diff != "" {
		t.Errorf("meta_data.json (-want +got):\n%s", diff)
	}
	// The guest's own parser (test/guest/init) takes the first "uuid".
	if !bytes.HasPrefix(files["openstack/latest/meta_data.json"], []byte(`{"uuid":"`+d.UUID+`"`)) {
		t.Errorf("meta_data.json does not start with the uuid: %.60s", files["openstack/latest/meta_data.json"])
	}

	var ec2 map[string]any
	if err := json.Unmarshal(files["ec2/latest/meta-data.json"], &ec2); err != nil {
		t.Fatalf("ec2 meta-data.json: %v", err)
	}
	for k, v := range map[string]any{
		"instance-id":   "i-6f2cbd4e",
		"ami-id":        "ami-0a1b2c3d",
		"hostname":      "web-1.novalocal",
		"instance-type": "m1.small",
		"placement":     map[string]any{"availability-zone": "nova"},
		"public-keys":   map[string]any{"0": map[string]any{"openssh-key": d.Keys[0].Data}},
	} {
		if diff := cmp.Diff(v, ec2[k]); diff != "" {
			t.Errorf("ec2 %s (-want +got):\n%s", k, diff)
		}
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size()%2048 != 0 {
		t.Errorf("image size %d is not a whole number of sectors", fi.Size())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".configdrive-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestFilesLayout checks which files each version has, as Nova's
// metadata_for_config_drive writes them.
func TestFilesLayout(t *testing.T) {
	d := testData()
	files, err := Files(d)
	if err != nil {
		t.Fatal(err)
	}
	byDir := map[string][]string{}
	for _, f := range files {
		dir, name := filepath.Split(f.Path)
		byDir[dir] = append(byDir[dir], name)
	}
	for _, names := range byDir {
		sort.Strings(names)
	}
	want := map[string][]string{
		"openstack/2012-08-10/": {"meta_data.json", "user_data"},
		"openstack/2013-04-04/": {"meta_data.json", "user_data"},
		"openstack/2013-10-17/": {"meta_data.json", "user_data", "vendor_data.json"},
		"openstack/2015-10-15/": {"meta_data.json", "network_data.json", "user_data", "vendor_data.json"},
		"openstack/2016-10-06/": {"meta_data.json", "network_data.json", "user_data", "vendor_data.json", "vendor_data2.json"},
		"openstack/latest/":     {"meta_data.json", "network_data.json", "user_data", "vendor_data.json", "vendor_data2.json"},
		"ec2/1.0/":              {"meta-data.json", "user-data"},
		"ec2/latest/":           {"meta-data.json", "user-data"},
	}
	for dir, names := range want {
		if diff := cmp.Diff(names, byDir[dir]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", dir, diff)
		}
	}
	if len(byDir) != 10+1+9+1 {
		t.Errorf("%d directories, want 21 (10 openstack versions, 9 ec2, 2 latest)", len(byDir))
	}

	// No user data: no user_data files.
	d.UserData = nil
	files, err = Files(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.Path, "user_data") || strings.HasSuffix(f.Path, "user-data") {
			t.Errorf("%s written without user data", f.Path)
		}
	}
}

func TestMetaDataVersions(t *testing.T) {
	d := testData()
	d.Keys = nil
	d.Meta = nil
	d.AvailabilityZone = ""
	tests := []struct {
		version string
		keys    []string
	}{
		{"2012-08-10", []string{"availability_zone", "hostname", "launch_index", "name", "uuid"}},
		{"2013-04-04", []string{"availability_zone", "hostname", "launch_index", "name", "random_seed", "uuid"}},
		{"2015-10-15", []string{"availability_zone", "hostname", "launch_index", "name", "project_id", "random_seed", "uuid"}},
		{"2016-06-30", []string{"availability_zone", "devices", "hostname", "launch_index", "name", "project_id", "random_seed", "uuid"}},
		{"latest", []string{"availability_zone", "dedicated_cpus", "devices", "hostname", "launch_index", "name", "project_id", "random_seed", "uuid"}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			b, err := MetaData(d, tt.version)
			if err != nil {
				t.Fatal(err)
			}
			var md map[string]any
			if err := json.Unmarshal(b, &md); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range md {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if diff := cmp.Diff(tt.keys, keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if v, ok := md["availability_zone"]; !ok || v != nil {
				t.Errorf("availability_zone = %v, want null", v)
			}
		})
	}
	// Before Ocata a nic shows no vlan.
	b, err := MetaData(testData(), "2016-06-30")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"vlan"`)) {
		t.Errorf("2016-06-30 shows a vlan: %s", b)
	}
	if _, err := MetaData(d, "2099-01-01"); err == nil {
		t.Error("MetaData(2099-01-01) succeeded, want an error")
	}
}

// TestImageTree writes a tree with a multi-sector file, an empty file, a
// path eight levels deep and names that need mangling, and reads it back.
// (kdomanski/iso9660 loses Rock Ridge names in directories of more than
// one sector, as it reuses its sector buffer; TestImageWithIsoinfo covers
// those.)
func TestImageTree(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16000 bytes, 8 sectors
	files := []File{
		{Path: "big.bin", Data: big},
		{Path: "empty", Data: nil},
		{Path: "a/b/c/d/e/f/g/deep.txt", Data: []byte("deep")},
		{Path: "Mixed Case-name.with.dots.tar.gz", Data: []byte("x")},
		{Path: "a-b", Data: []byte("1")}, // mangles to A_B like the next
		{Path: "a_b", Data: []byte("2")},
		{Path: "ünïcode-名前", Data: []byte("3")},
	}
	path := filepath.Join(t.TempDir(), "tree.iso")
	writeImage(t, path, Image{Label: "NIMBUSTEST", Files: files})

	label, got := readISO(t, path)
	if label != "NIMBUSTEST" {
		t.Errorf("label = %q", label)
	}
	checkFiles(t, files, got)
}

func writeImage(t *testing.T, path string, img Image) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := img.WriteTo(out); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
}

func checkFiles(t *testing.T, want []File, got map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("read %d files, wrote %d", len(got), len(want))
	}
	for _, f := range want {
		b, ok := got[f.Path]
		if !ok {
			t.Errorf("%s missing", f.Path)
			continue
		}
		if !bytes.Equal(b, f.Data) {
			t.Errorf("%s: read %q, wrote %q", f.Path, b, f.Data)
		}
	}
}

// TestImageWithIsoinfo checks the Joliet and plain ISO 9660 trees, which
// kdomanski/iso9660 does not read, with isoinfo (genisoimage) if present.
func TestImageWithIsoinfo(t *testing.T) {
	isoinfo, err := exec.LookPath("isoinfo")
	if err != nil {
		t.Skip("isoinfo (Debian package genisoimage) not installed")
	}
	path := filepath.Join(t.TempDir(), "disk.config")
	if err := Build(path, testData()); err != nil {
		t.Fatal(err)
	}
	list := func(args ...string) string {
		out, err := exec.Command(isoinfo, append(args, "-i", path)...).CombinedOutput()
		if err != nil {
			t.Fatalf("isoinfo %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	d := list("-d")
	for _, want := range []string{"Volume id: config-2", "Joliet with UCS level 3 found", "Rock Ridge signatures version 1 found"} {
		if !strings.Contains(d, want) {
			t.Errorf("isoinfo -d lacks %q:\n%s", want, d)
		}
	}
	for _, mode := range []string{"-R", "-J"} {
		f := list(mode, "-f")
		for _, want := range []string{"/openstack/latest/meta_data.json", "/openstack/2012-08-10/user_data", "/openstack/latest/network_data.json", "/ec2/latest/meta-data.json"} {
			if !strings.Contains(f, want+"\n") {
				t.Errorf("isoinfo %s -f lacks %s:\n%s", mode, want, f)
			}
		}
	}
	if f := list("-f"); !strings.Contains(f, "/OPENSTACK/2012_08_10/META_DATA.JSON;1") {
		t.Errorf("primary tree lacks /OPENSTACK/2012_08_10/META_DATA.JSON;1:\n%s", f)
	}
	if got := list("-J", "-x", "/openstack/latest/user_data"); got != string(testData().UserData) {
		t.Errorf("Joliet user_data = %q", got)
	}

	// A directory of many long names spans several sectors; every name
	// survives in both extensions' trees.
	var files []File
	for i := 0; i < 120; i++ {
		name := fmt.Sprintf("many/file-with-a-long-name-%s-%03d", strings.Repeat("x", i%20), i)
		files = append(files, File{Path: name, Data: []byte(name)})
	}
	path = filepath.Join(t.TempDir(), "many.iso")
	writeImage(t, path, Image{Label: "many", Files: files})
	for _, mode := range []string{"-R", "-J"} {
		f := list(mode, "-f")
		for _, want := range files {
			if !strings.Contains(f, "/"+want.Path+"\n") {
				t.Errorf("isoinfo %s -f lacks %s", mode, want.Path)
			}
		}
		for _, i := range []int{0, 119} {
			if got := list(mode, "-x", "/"+files[i].Path); got != string(files[i].Data) {
				t.Errorf("isoinfo %s -x %s = %q", mode, files[i].Path, got)
			}
		}
	}
	if n := strings.Count(list("-f"), "\n"); n != 121 {
		t.Errorf("primary tree has %d entries, want 121 (unique mangled names)", n)
	}
}

func TestImageBadInput(t *testing.T) {
	tests := []struct {
		name  string
		label string
		files []File
	}{
		{"label too long", "a-label-longer-than-16", nil},
		{"duplicate", "x", []File{{Path: "a"}, {Path: "a"}}},
		{"file and dir", "x", []File{{Path: "a"}, {Path: "a/b"}}},
		{"dir then file", "x", []File{{Path: "a/b"}, {Path: "a"}}},
		{"empty component", "x", []File{{Path: "a//b"}}},
		{"dot dot", "x", []File{{Path: "../b"}}},
		{"too deep", "x", []File{{Path: "1/2/3/4/5/6/7/8/9"}}},
		{"name too long", "x", []File{{Path: strings.Repeat("n", 65)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := Image{Label: tt.label, Files: tt.files}
			if _, err := img.WriteTo(io.Discard); err == nil {
				t.Error("WriteTo succeeded, want an error")
			}
		})
	}
}

func TestBuildFailsInMissingDirectory(t *testing.T) {
	err := Build(filepath.Join(t.TempDir(), "no", "such", "disk.config"), testData())
	if err == nil {
		t.Fatal("Build into a missing directory succeeded")
	}
}
