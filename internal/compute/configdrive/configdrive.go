// Package configdrive makes an instance's config drive: an ISO 9660 image
// labelled "config-2" holding the metadata Nova's config drive holds
// (openstack/<version>/meta_data.json, user_data, network_data.json,
// vendor_data.json, vendor_data2.json, and the EC2-style
// ec2/<version>/meta-data.json), in the same shapes, so that cloud-init,
// cloudbase-init and the Nimbus test guest read it as they read Nova's.
//
// Files gives the same tree without the image, for the metadata API.
package configdrive

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Label is the volume label guests look for.
const Label = "config-2"

// Data is what a config drive tells a guest.
type Data struct {
	UUID string
	Name string // the server's display name
	// Hostname as the guest should see it; Nova appends its dhcp_domain
	// ("vm1.novalocal").
	Hostname         string
	AvailabilityZone string // "" is shown as null
	ProjectID        string
	Keys             []Key             // the server's key pair; usually one
	Meta             map[string]string // server metadata
	UserData         []byte            // nil: no user_data file
	NetworkData      any               // network_data.json; nil: {}
	VendorData       any               // vendor_data.json (and vendor_data2's "static"); nil: {}
	LaunchIndex      int
	Devices          []Device

	// For the EC2-style metadata only.
	InstanceType  string // the flavor's name
	ImageID       string // the image's UUID; ami-id is derived from it
	ReservationID string // "" derives one from UUID
	RootDevice    string // "" means /dev/vda
}

// Key is a key pair, as meta_data.json's "keys" shows it.
type Key struct {
	Name string `json:"name"`
	Type string `json:"type"` // "ssh" or "x509"
	Data string `json:"data"` // the public key
}

// Device is a tagged device, as meta_data.json's "devices" shows it.
type Device struct {
	Type      string   `json:"type"`           // "nic", "disk", "share"
	Bus       string   `json:"bus"`            // "pci", "usb", "scsi", "ide", "xen"; "" shows "none"
	Address   string   `json:"address"`        // e.g. "0000:00:02.0"; "" shows "none"
	MAC       string   `json:"mac,omitempty"`  // nic
	VLAN      *int     `json:"vlan,omitempty"` // nic
	VFTrusted *bool    `json:"vf_trusted,omitempty"`
	Serial    string   `json:"serial,omitempty"`   // disk
	Path      string   `json:"path,omitempty"`     // disk
	ShareID   string   `json:"share_id,omitempty"` // share
	Tag       string   `json:"tag,omitempty"`      // share
	Tags      []string `json:"tags,omitempty"`
}

// Build writes d's config drive to path (replacing any file there,
// atomically). The file is its owner's alone (mode 0600): user data may
// hold secrets, and QEMU runs as the agent's user.
func Build(path string, d Data) error {
	files, err := Files(d)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".configdrive-*")
	if err != nil {
		return fmt.Errorf("config drive %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	img := Image{Label: Label, Files: files}
	if _, err := img.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write config drive %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write config drive %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config drive %s: %w", path, err)
	}
	return nil
}

// Nova's metadata versions (nova/api/metadata/base.py); "latest" is the
// last of each list.
var (
	openstackVersions = []string{
		"2012-08-10", // Folsom
		"2013-04-04", // Grizzly: random_seed
		"2013-10-17", // Havana: vendor_data.json
		"2015-10-15", // Liberty: project_id, network_data.json
		"2016-06-30", // Newton: devices
		"2016-10-06", // Newton: vendor_data2.json
		"2017-02-22", // Ocata: vlan in devices
		"2018-08-27", // Rocky: vf_trusted in devices
		"2020-10-14", // Victoria: dedicated_cpus
		"2025-04-04", // Epoxy: share devices
	}
	ec2Versions = []string{
		"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
		"2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04",
	}
)

// atLeast reports whether version (of list, or "latest") is at or after
// required.
func atLeast(list []string, version, required string) bool {
	if version == "latest" {
		return true
	}
	return index(list, version) >= index(list, required)
}

func index(list []string, v string) int {
	for i, s := range list {
		if s == v {
			return i
		}
	}
	return -1
}

// Files is every file of d's config drive, as Nova lays it out.
func Files(d Data) ([]File, error) {
	var out []File
	add := func(path string, v any) error {
		b, err := marshal(v)
		if err != nil {
			return fmt.Errorf("config drive %s: %w", path, err)
		}
		out = append(out, File{Path: path, Data: b})
		return nil
	}
	for _, v := range append(append([]string{}, ec2Versions...), "latest") {
		if d.UserData != nil {
			out = append(out, File{Path: "ec2/" + v + "/user-data", Data: d.UserData})
		}
		if err := add("ec2/"+v+"/meta-data.json", ec2MetaData(d, v)); err != nil {
			return nil, err
		}
	}
	for _, v := range append(append([]string{}, openstackVersions...), "latest") {
		dir := "openstack/" + v + "/"
		md, err := MetaData(d, v)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: dir + "meta_data.json", Data: md})
		if d.UserData != nil {
			out = append(out, File{Path: dir + "user_data", Data: d.UserData})
		}
		vendor := d.VendorData
		if vendor == nil {
			vendor = map[string]any{}
		}
		if atLeast(openstackVersions, v, "2013-10-17") {
			if err := add(dir+"vendor_data.json", vendor); err != nil {
				return nil, err
			}
		}
		if atLeast(openstackVersions, v, "2015-10-15") {
			nd := d.NetworkData
			if nd == nil {
				nd = map[string]any{}
			}
			if err := add(dir+"network_data.json", nd); err != nil {
				return nil, err
			}
		}
		if atLeast(openstackVersions, v, "2016-10-06") {
			if err := add(dir+"vendor_data2.json", map[string]any{"static": vendor}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// metaData is meta_data.json; the field order is Nova's.
type metaData struct {
	UUID             string            `json:"uuid"`
	Meta             map[string]string `json:"meta,omitempty"`
	PublicKeys       map[string]string `json:"public_keys,omitempty"`
	Keys             []Key             `json:"keys,omitempty"`
	Hostname         string            `json:"hostname"`
	Name             string            `json:"name"`
	LaunchIndex      int               `json:"launch_index"`
	AvailabilityZone *string           `json:"availability_zone"`
	RandomSeed       string            `json:"random_seed,omitempty"`
	ProjectID        *string           `json:"project_id,omitempty"`
	Devices          *[]Device         `json:"devices,omitempty"`
	DedicatedCPUs    *[]int            `json:"dedicated_cpus,omitempty"`
}

// MetaData is openstack/<version>/meta_data.json ("latest" or one of
// Nova's versions), with a fresh random_seed.
func MetaData(d Data, version string) ([]byte, error) {
	if version != "latest" && index(openstackVersions, version) < 0 {
		return nil, fmt.Errorf("config drive: unknown metadata version %q", version)
	}
	md := metaData{
		UUID:        d.UUID,
		Hostname:    d.Hostname,
		Name:        d.Name,
		LaunchIndex: d.LaunchIndex,
	}
	if len(d.Meta) > 0 {
		md.Meta = d.Meta
	}
	if len(d.Keys) > 0 {
		md.PublicKeys = map[string]string{}
		for _, k := range d.Keys {
			md.PublicKeys[k.Name] = k.Data
		}
		md.Keys = d.Keys
	}
	if d.AvailabilityZone != "" {
		md.AvailabilityZone = &d.AvailabilityZone
	}
	if atLeast(openstackVersions, version, "2013-04-04") {
		seed := make([]byte, 512)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("config drive random seed: %w", err)
		}
		md.RandomSeed = base64.StdEncoding.EncodeToString(seed)
	}
	if atLeast(openstackVersions, version, "2015-10-15") {
		md.ProjectID = &d.ProjectID
	}
	if atLeast(openstackVersions, version, "2016-06-30") {
		devs := []Device{}
		for _, dev := range d.Devices {
			if dev.Bus == "" {
				dev.Bus = "none"
			}
			if dev.Address == "" {
				dev.Address = "none"
			}
			if !atLeast(openstackVersions, version, "2017-02-22") {
				dev.VLAN = nil
			}
			if !atLeast(openstackVersions, version, "2018-08-27") {
				dev.VFTrusted = nil
			}
			if dev.Type == "share" && !atLeast(openstackVersions, version, "2025-04-04") {
				continue
			}
			devs = append(devs, dev)
		}
		md.Devices = &devs
	}
	if atLeast(openstackVersions, version, "2020-10-14") {
		md.DedicatedCPUs = &[]int{}
	}
	return marshal(md)
}

// ec2MetaData is ec2/<version>/meta-data.json (Nova's get_ec2_metadata
// without user-data), for the fields Nimbus knows.
func ec2MetaData(d Data, version string) map[string]any {
	root := d.RootDevice
	if root == "" {
		root = "/dev/vda"
	}
	reservation := d.ReservationID
	if reservation == "" {
		reservation = ec2ID("r", d.UUID)
	}
	var az any
	if d.AvailabilityZone != "" {
		az = d.AvailabilityZone
	}
	md := map[string]any{
		"ami-id":            ec2ID("ami", d.ImageID),
		"ami-launch-index":  d.LaunchIndex,
		"ami-manifest-path": "FIXME",
		"instance-id":       ec2ID("i", d.UUID),
		"hostname":          d.Hostname,
		"local-ipv4":        nil,
		"reservation-id":    reservation,
		"security-groups":   []string{},
	}
	if len(d.Keys) > 0 {
		md["public-keys"] = map[string]any{"0": map[string]string{"openssh-key": d.Keys[0].Data}}
	}
	if atLeast(ec2Versions, version, "2007-01-19") {
		md["local-hostname"] = d.Hostname
		md["public-hostname"] = d.Hostname
		md["public-ipv4"] = ""
	}
	if atLeast(ec2Versions, version, "2007-08-29") {
		md["instance-type"] = d.InstanceType
	}
	if atLeast(ec2Versions, version, "2007-12-15") {
		md["block-device-mapping"] = map[string]string{
			"ami":  strings.TrimPrefix(root, "/dev/"),
			"root": root,
		}
	}
	if atLeast(ec2Versions, version, "2008-02-01") {
		md["placement"] = map[string]any{"availability-zone": az}
	}
	if atLeast(ec2Versions, version, "2008-09-01") {
		md["instance-action"] = "none"
	}
	return md
}

// ec2ID makes an EC2-style id ("i-1a2b3c4d") from the first eight hex
// digits of a UUID; Nova numbers them from its database instead.
func ec2ID(prefix, uuid string) string {
	hex := strings.ReplaceAll(uuid, "-", "")
	if len(hex) < 8 {
		hex = "00000000"
	}
	return prefix + "-" + strings.ToLower(hex[:8])
}

// marshal is compact JSON without HTML escaping (Nova's json.dumps does
// not escape <, > or &).
func marshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}
