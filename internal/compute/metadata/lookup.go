package metadata

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/compute/configdrive"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// Nova's metadata versions (nova/api/metadata/base.py), each list in
// order; "latest" is the last. configdrive knows the same lists (a test
// checks that it takes every one).
var (
	openstackVersions = []string{
		"2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
		"2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14", "2025-04-04",
	}
	ec2VersionList = []string{
		"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
		"2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04",
	}
)

// The versions that brought a file.
const (
	grizzly   = "2013-04-04" // password
	havana    = "2013-10-17" // vendor_data.json
	liberty   = "2015-10-15" // network_data.json
	newtonTwo = "2016-10-06" // vendor_data2.json
)

func ec2Versions() []string { return slices.Clone(ec2VersionList) }

func atLeast(list []string, version, required string) bool {
	return slices.Index(list, version) >= slices.Index(list, required)
}

// answer is a found item.
type answer struct {
	contentType string
	body        []byte
}

func text(s string) *answer { return &answer{contentType: "text/plain", body: []byte(s)} }

// lookup is Nova's InstanceMetadata.lookup: tokens name an item under
// /openstack or /ec2, paths starting otherwise being EC2's.
func (s *Service) lookup(r *http.Request, inst *instances.Instance, addr string, tokens []string) (*answer, error) {
	switch tokens[0] {
	case "openstack":
		return s.openstack(r, inst, tokens[1:])
	case "ec2":
		tokens = tokens[1:]
	}
	if len(tokens) == 0 {
		return text(strings.Join(append(ec2Versions(), "latest"), "\n")), nil
	}
	return s.ec2(inst, addr, tokens)
}

func (s *Service) openstack(r *http.Request, inst *instances.Instance, tokens []string) (*answer, error) {
	if len(tokens) == 0 {
		return text(strings.Join(append(slices.Clone(openstackVersions), "latest"), "\n")), nil
	}
	version := tokens[0]
	if version == "latest" {
		version = openstackVersions[len(openstackVersions)-1]
	}
	if !slices.Contains(openstackVersions, version) {
		return nil, errNotFound
	}
	if len(tokens) == 1 {
		files := []string{"meta_data.json"}
		if inst.UserData != nil {
			files = append(files, "user_data")
		}
		if atLeast(openstackVersions, version, grizzly) {
			files = append(files, "password")
		}
		if atLeast(openstackVersions, version, havana) {
			files = append(files, "vendor_data.json")
		}
		if atLeast(openstackVersions, version, liberty) {
			files = append(files, "network_data.json")
		}
		if atLeast(openstackVersions, version, newtonTwo) {
			files = append(files, "vendor_data2.json")
		}
		return text(strings.Join(files, "\n")), nil
	}
	d := Data(inst, s.o.DHCPDomain, s.o.VendorData)
	vendor := s.o.VendorData
	if vendor == nil {
		vendor = map[string]any{}
	}
	switch strings.Join(tokens[1:], "/") {
	case "meta_data.json":
		b, err := configdrive.MetaData(d, version)
		if err != nil {
			return nil, err
		}
		return &answer{contentType: "application/json", body: b}, nil
	case "user_data":
		if inst.UserData == nil {
			return nil, errNotFound
		}
		return &answer{contentType: "text/plain", body: inst.UserData}, nil
	case "network_data.json":
		// Nova leaves this one text/plain.
		if len(inst.Spec.NetworkData) > 0 {
			return text(string(inst.Spec.NetworkData)), nil
		}
		return text("{}"), nil
	case "vendor_data.json":
		if !atLeast(openstackVersions, version, havana) {
			return nil, errNotFound
		}
		return jsonAnswer(vendor)
	case "vendor_data2.json":
		if !atLeast(openstackVersions, version, newtonTwo) {
			return nil, errNotFound
		}
		return jsonAnswer(map[string]any{"static": vendor})
	case "password":
		if !atLeast(openstackVersions, version, grizzly) {
			return nil, errNotFound
		}
		return s.password(r, inst)
	}
	return nil, errNotFound
}

func jsonAnswer(v any) (*answer, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return &answer{contentType: "application/json", body: b}, nil
}

// Nova's limit of a posted password: four system metadata items of 255
// characters.
const maxPassword = 4 * 255

// password is Nova's handle_password: GET the password the guest
// posted, or POST it, once.
func (s *Service) password(r *http.Request, inst *instances.Instance) (*answer, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		pw, err := s.passwords.Get(r.Context(), inst.UUID)
		if err != nil {
			return nil, err
		}
		return text(pw), nil
	case http.MethodPost:
		if r.ContentLength > maxPassword {
			return nil, errorf(http.StatusBadRequest, "Request is too large.")
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPassword+1))
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "Request is too large.")
		}
		if len(body) > maxPassword {
			return nil, errorf(http.StatusBadRequest, "Request is too large.")
		}
		// Nova refuses a second password only once one is stored; an
		// empty post stores nothing it would see.
		pw, err := s.passwords.Get(r.Context(), inst.UUID)
		if err != nil {
			return nil, err
		}
		if pw != "" {
			return nil, errorf(http.StatusConflict, "There was a conflict when trying to complete your request.")
		}
		set, err := s.passwords.Set(r.Context(), inst.UUID, strings.ToValidUTF8(string(body), "\uFFFD"))
		if err != nil {
			return nil, err
		}
		if !set {
			return nil, errorf(http.StatusConflict, "There was a conflict when trying to complete your request.")
		}
		return text(""), nil
	}
	return nil, errorf(http.StatusBadRequest, "GET and POST only are supported.")
}

// ec2 is Nova's get_ec2_item: the EC2 tree of version tokens[0] from
// the config drive's ec2/<version>/meta-data.json.
func (s *Service) ec2(inst *instances.Instance, addr string, tokens []string) (*answer, error) {
	version := tokens[0]
	if version == "latest" {
		version = ec2VersionList[len(ec2VersionList)-1]
	}
	if !slices.Contains(ec2VersionList, version) {
		return nil, errNotFound
	}
	files, err := configdrive.Files(Data(inst, s.o.DHCPDomain, s.o.VendorData))
	if err != nil {
		return nil, err
	}
	var md map[string]any
	name := "ec2/" + version + "/meta-data.json"
	for _, f := range files {
		if f.Path == name {
			if err := json.Unmarshal(f.Data, &md); err != nil {
				return nil, fmt.Errorf("read %s: %w", name, err)
			}
		}
	}
	if md == nil {
		return nil, fmt.Errorf("config drive has no %s", name)
	}
	if md["local-ipv4"] == nil && addr != "" {
		md["local-ipv4"] = addr
	}
	// meta-data/public-keys/ lists "0=<key name>", as Nova's.
	if pk, ok := md["public-keys"].(map[string]any); ok {
		if k0, ok := pk["0"].(map[string]any); ok {
			k0["_name"] = "0=" + inst.KeyName
		}
	}
	tree := map[string]any{"meta-data": md}
	if inst.UserData != nil {
		tree["user-data"] = inst.UserData
	}
	var cur any = tree
	for _, tok := range tokens[1:] {
		m, ok := cur.(map[string]any)
		if !ok || tok == "_name" {
			return nil, errNotFound
		}
		if cur, ok = m[tok]; !ok {
			return nil, errNotFound
		}
	}
	return &answer{contentType: "text/plain", body: ec2Print(cur)}, nil
}

// ec2Print is Nova's ec2_md_print: a directory lists its keys (a
// subdirectory with a slash, or its "_name"), a list its items, a value
// itself as Python prints it.
func ec2Print(v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			if k != "_name" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		lines := make([]string, len(keys))
		for i, k := range keys {
			lines[i] = k
			if sub, ok := v[k].(map[string]any); ok {
				if n, ok := sub["_name"].(string); ok {
					lines[i] = n
				} else {
					lines[i] = k + "/"
				}
			}
		}
		return []byte(strings.Join(lines, "\n"))
	case []any:
		items := make([]string, len(v))
		for i, it := range v {
			items[i] = string(ec2Print(it))
		}
		return []byte(strings.Join(items, "\n"))
	case []byte:
		return v
	case string:
		return []byte(v)
	case nil:
		return []byte("None")
	case bool:
		if v {
			return []byte("True")
		}
		return []byte("False")
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64))
	}
	return fmt.Appendf(nil, "%v", v)
}
