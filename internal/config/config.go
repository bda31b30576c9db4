// Package config holds Nimbus's settings: defaults that run a whole cloud
// on one machine, a TOML file that overrides them, and NIMBUS_* environment
// variables that override the file.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is every option. Field tags give the TOML key; the environment
// variable is NIMBUS_ + section + _ + key in upper case, e.g.
// NIMBUS_IDENTITY_PORT.
type Config struct {
	DataDir    string `toml:"data_dir"`    // where state lives (DATA in ARCHITECTURE.md)
	ListenHost string `toml:"listen_host"` // address APIs bind to
	PublicHost string `toml:"public_host"` // host name put in the catalog; default ListenHost
	Region     string `toml:"region"`      // region of the catalog entries
	LogLevel   string `toml:"log_level"`   // debug, info, warn, error
	LogFormat  string `toml:"log_format"`  // text or json
	Bus        string `toml:"bus"`         // nats:// URL; empty starts an embedded server
	// BusListen is the embedded server's client address (host:port), for
	// the processes of a split deployment to join with --bus; "" is a
	// random port on 127.0.0.1, reachable by this process only.
	BusListen string `toml:"bus_listen"`

	Identity    IdentityConfig    `toml:"identity"`
	Image       ImageConfig       `toml:"image"`
	ObjectStore ObjectStoreConfig `toml:"objectstore"`
	Placement   PlacementConfig   `toml:"placement"`
	Compute     ComputeConfig     `toml:"compute"`
	Auth        AuthConfig        `toml:"auth"`
}

// ComputeConfig is the compute service's section.
type ComputeConfig struct {
	Port       int    `toml:"port"`        // API port (Nova's 8774)
	DB         string `toml:"db"`          // postgres:// URL or SQLite path; default DATA/db/compute.sqlite
	PolicyFile string `toml:"policy_file"` // operator's policy.yaml
	// DefaultFlavors makes devstack's m1.nano..m1.xlarge on first start.
	DefaultFlavors bool `toml:"default_flavors"`
	// Host is this machine's name as a compute host (Nova's [DEFAULT]
	// host); "" is the OS host name.
	Host string `toml:"host"`
	// Driver is the compute agent's hypervisor driver: "qemu" (KVM when
	// /dev/kvm works, else TCG) or "fake" (no guests; scale tests only).
	Driver string `toml:"driver"`
	// FakeHosts runs this many simulated hosts, named <host>-fake-<n>,
	// when Driver is "fake" (1,000 for the scale benchmark).
	FakeHosts int `toml:"fake_hosts"`
	// InstancesDir holds each guest's disk overlay, config drive and
	// console log; default DATA/compute/instances.
	InstancesDir string `toml:"instances_path"`
	// ImageCacheDir holds base images fetched from the image service;
	// default DATA/compute/image-cache.
	ImageCacheDir string `toml:"image_cache_path"`
	// Accel forces the qemu driver's accelerator ("kvm" or "tcg"); ""
	// probes /dev/kvm with a short timeout and falls back to TCG.
	Accel string `toml:"accel"`
	// ConsoleHost is the address the agents' guest consoles (VNC, serial)
	// listen on, reached by the console proxy ([vnc] server_listen).
	ConsoleHost string `toml:"console_host"`
	// PlacementURL and ImageURL are the placement and image APIs the
	// compute services call; "" is this machine's own ([placement] and
	// [glance] sections' endpoints in Nova).
	PlacementURL string `toml:"placement_url"`
	ImageURL     string `toml:"image_url"`
	// MetadataPort is the metadata API's port (Nova's 8775);
	// MetadataSecret is the secret shared with the network's metadata
	// proxy (metadata_proxy_shared_secret); "" refuses proxied requests.
	MetadataPort   int    `toml:"metadata_port"`
	MetadataSecret string `toml:"metadata_proxy_shared_secret"`
	// NoVNCProxyPort and SerialProxyPort are the console proxies' ports
	// (Nova's 6080 and 6083); the base URLs are what the API hands out
	// ([vnc] novncproxy_base_url, [serial_console] base_url), "" being
	// the proxies on the host the API was called at.
	NoVNCProxyPort     int    `toml:"novncproxy_port"`
	SerialProxyPort    int    `toml:"serialproxy_port"`
	NoVNCProxyBaseURL  string `toml:"novncproxy_base_url"`
	SerialProxyBaseURL string `toml:"serialproxy_base_url"`
	// CandidateCache shares one placement answer of allocation
	// candidates among the servers of one shape scheduled within it (the
	// scheduler counts its own claims; placement still refuses any that
	// do not fit); 0 asks placement for every server, as Nova does.
	CandidateCache time.Duration `toml:"scheduler_candidate_cache"`
	// ForceConfigDrive gives every server a config drive (Nova's
	// force_config_drive); on by default, since no network service routes
	// guests to the metadata API yet.
	ForceConfigDrive bool `toml:"force_config_drive"`
	// DefaultScheduleZone is the zone of a server created without one
	// (Nova's [DEFAULT] default_schedule_zone); "" lets it go to any zone.
	DefaultScheduleZone string `toml:"default_schedule_zone"`
}

// PlacementConfig is the placement service's section.
type PlacementConfig struct {
	Port       int    `toml:"port"`        // API port (placement's 8778)
	DB         string `toml:"db"`          // postgres:// URL or SQLite path; default DATA/db/placement.sqlite
	PolicyFile string `toml:"policy_file"` // operator's policy.yaml
}

// ObjectStoreConfig is the object store's section: the proxy (Swift API
// and S3) and this node's storage server.
type ObjectStoreConfig struct {
	ProxyPort   int `toml:"proxy_port"`   // public API port (Swift's 8080)
	StoragePort int `toml:"storage_port"` // storage server port (Swift's object server 6200)
	// StorageAddr is this node's ip:port as the ring names it; default
	// listen_host:storage_port.
	StorageAddr string `toml:"storage_addr"`
	// Ring is the ring file every node reads; default DATA/objects/rings/object.ring.
	// `nimbus up` makes one on first start when it is missing.
	Ring string `toml:"ring"`
	// Devices are this node's device directories; a device's ring name is
	// the directory's base name. Default DATA/objects/d1, d2, d3. In the
	// environment: comma-separated.
	Devices []string `toml:"devices"`
	// PartPower and Replicas shape the ring `nimbus up` makes.
	PartPower int `toml:"part_power"`
	Replicas  int `toml:"replicas"`
	// OperatorRoles own their project's account; ResellerAdminRole may
	// use any account (Swift's keystoneauth).
	OperatorRoles     []string `toml:"operator_roles"`
	ResellerAdminRole string   `toml:"reseller_admin_role"`
	// S3Location is what GetBucketLocation answers.
	S3Location string `toml:"s3_location"`
	// Daemon intervals.
	ReplicateInterval time.Duration `toml:"replicate_interval"`
	UpdateInterval    time.Duration `toml:"update_interval"`
	AuditInterval     time.Duration `toml:"audit_interval"`
	ExpireInterval    time.Duration `toml:"expire_interval"`
	AuditRate         int64         `toml:"audit_bytes_per_second"`
}

// ImageConfig is the image service's section.
type ImageConfig struct {
	Port           int    `toml:"port"`              // API port (Glance's 9292)
	DB             string `toml:"db"`                // postgres:// URL or SQLite path; default DATA/db/image.sqlite
	StoreDir       string `toml:"store_dir"`         // file store directory; default DATA/images
	ImageSizeCap   int64  `toml:"image_size_cap"`    // largest image in bytes
	QuotaImages    int    `toml:"image_count_total"` // images per project; 0 = unlimited
	QuotaSizeTotal int64  `toml:"image_size_total"`  // bytes per project; 0 = unlimited
	PolicyFile     string `toml:"policy_file"`       // operator's policy.yaml
	// WebDownloadAllowed lists host names, IPs and CIDRs that web-download
	// import may fetch from; empty turns web-download off. In the
	// environment: comma-separated.
	WebDownloadAllowed []string `toml:"web_download_allowed_hosts"`
	// ConvertTo converts imported images to this disk format with
	// qemu-img (Glance's image_conversion plugin); empty = off.
	ConvertTo string `toml:"convert_to_format"`
	// DefaultStore is where uploads go unless X-Image-Meta-Store says
	// otherwise: "file", or "swift" when [image.swift] is set.
	DefaultStore string `toml:"default_store"`
	// Swift, when AuthURL is set, adds a Swift store (glance_store's swift).
	Swift SwiftStoreConfig `toml:"swift"`
}

// SwiftStoreConfig reaches a Swift for image data: through a Keystone
// catalog (auth_version "3", default) or tempauth ("1").
type SwiftStoreConfig struct {
	AuthVersion       string `toml:"auth_version"`
	AuthURL           string `toml:"auth_url"`
	User              string `toml:"user"`
	Key               string `toml:"key"`
	ProjectName       string `toml:"project_name"`
	UserDomainName    string `toml:"user_domain_name"`
	ProjectDomainName string `toml:"project_domain_name"`
	Region            string `toml:"region"`
	Container         string `toml:"container"`    // default "glance"
	SegmentSize       int64  `toml:"segment_size"` // default 200 MiB
}

// AuthConfig is how services other than identity check tokens when
// identity runs elsewhere (keystonemiddleware's [keystone_authtoken]).
type AuthConfig struct {
	URL               string `toml:"auth_url"` // identity endpoint, e.g. http://keystone:5000
	Username          string `toml:"username"`
	Password          string `toml:"password"`
	ProjectName       string `toml:"project_name"`
	UserDomainName    string `toml:"user_domain_name"`
	ProjectDomainName string `toml:"project_domain_name"`
}

// IdentityConfig is the identity service's section.
type IdentityConfig struct {
	Port                    int           `toml:"port"`                       // API port (Keystone's 5000)
	DB                      string        `toml:"db"`                         // postgres:// URL or SQLite path; default DATA/db/identity.sqlite
	TokenExpiration         time.Duration `toml:"token_expiration"`           // lifetime of a token
	AllowExpiredWindow      time.Duration `toml:"allow_expired_window"`       // how long ?allow_expired accepts an expired token
	MaxActiveKeys           int           `toml:"max_active_keys"`            // Fernet keys kept by rotation
	BcryptCost              int           `toml:"password_hash_rounds"`       // bcrypt cost of new password hashes
	ListLimit               int           `toml:"list_limit"`                 // truncate lists; 0 = no limit
	LockoutFailureAttempts  int           `toml:"lockout_failure_attempts"`   // 0 = no lockout
	LockoutDuration         time.Duration `toml:"lockout_duration"`           // how long a lockout lasts
	PasswordExpiresDays     int           `toml:"password_expires_days"`      // 0 = passwords never expire
	UniqueLastPasswordCount int           `toml:"unique_last_password_count"` // history that may not be reused
	MinimumPasswordAge      time.Duration `toml:"minimum_password_age"`       // before a user may change it again
	PasswordRegex           string        `toml:"password_regex"`             // new passwords must match
	PasswordRegexDesc       string        `toml:"password_regex_description"` // shown when they do not
	ChangePasswordUponFirst bool          `toml:"change_password_upon_first_use"`
	PolicyFile              string        `toml:"policy_file"` // operator's policy.yaml

	// LDAP maps a domain name to its read-only LDAP settings, like
	// Keystone's domain-specific keystone.DOMAIN.conf files.
	LDAP map[string]LDAPDomain `toml:"ldap"`
}

// LDAPDomain is one LDAP-backed domain (Keystone's [ldap] options).
type LDAPDomain struct {
	URL                  string `toml:"url"`
	User                 string `toml:"user"`
	Password             string `toml:"password"`
	Suffix               string `toml:"suffix"`
	UserTreeDN           string `toml:"user_tree_dn"`
	UserObjectClass      string `toml:"user_objectclass"`
	UserIDAttribute      string `toml:"user_id_attribute"`
	UserNameAttribute    string `toml:"user_name_attribute"`
	UserMailAttribute    string `toml:"user_mail_attribute"`
	UserEnabledAttribute string `toml:"user_enabled_attribute"`
	UserEnabledMask      int    `toml:"user_enabled_mask"`
	UserEnabledInvert    bool   `toml:"user_enabled_invert"`
	UserEnabledDefault   string `toml:"user_enabled_default"`
	UserFilter           string `toml:"user_filter"`
	GroupTreeDN          string `toml:"group_tree_dn"`
	GroupObjectClass     string `toml:"group_objectclass"`
	GroupIDAttribute     string `toml:"group_id_attribute"`
	GroupNameAttribute   string `toml:"group_name_attribute"`
	GroupMemberAttribute string `toml:"group_member_attribute"`
	GroupFilter          string `toml:"group_filter"`
	QueryScope           string `toml:"query_scope"`
	PageSize             int    `toml:"page_size"`
}

// Default runs a whole cloud under dataDir on loopback.
func Default(dataDir string) Config {
	return Config{
		DataDir:    dataDir,
		ListenHost: "127.0.0.1",
		Region:     "RegionOne",
		LogLevel:   "info",
		LogFormat:  "text",
		Identity: IdentityConfig{
			Port:               5000,
			TokenExpiration:    time.Hour,
			AllowExpiredWindow: 48 * time.Hour,
			MaxActiveKeys:      3,
			BcryptCost:         12,
			LockoutDuration:    30 * time.Minute,
		},
		Image:     ImageConfig{Port: 9292, ImageSizeCap: 1 << 40, DefaultStore: "file"},
		Placement: PlacementConfig{Port: 8778},
		Compute: ComputeConfig{Port: 8774, DefaultFlavors: true, Driver: "qemu", MetadataPort: 8775,
			ConsoleHost: "127.0.0.1", NoVNCProxyPort: 6080, SerialProxyPort: 6083, CandidateCache: time.Second,
			ForceConfigDrive: true},
		ObjectStore: ObjectStoreConfig{ProxyPort: 8080, StoragePort: 6200, PartPower: 10, Replicas: 3,
			OperatorRoles: []string{"admin", "member"}, ResellerAdminRole: "ResellerAdmin", S3Location: "us-east-1",
			ReplicateInterval: 30 * time.Second, UpdateInterval: 5 * time.Second, AuditInterval: time.Minute,
			ExpireInterval: 10 * time.Second, AuditRate: 10 << 20},
		Auth: AuthConfig{UserDomainName: "Default", ProjectDomainName: "Default", ProjectName: "service"},
	}
}

// Load applies the TOML file at path (if not empty) and then the
// environment to c.
func (c *Config) Load(path string) error {
	if path != "" {
		md, err := toml.DecodeFile(path, c)
		if err != nil {
			return fmt.Errorf("read config %s: %w", path, err)
		}
		if un := md.Undecoded(); len(un) > 0 {
			return fmt.Errorf("config %s: unknown option %s", path, un[0])
		}
	}
	return applyEnv(reflect.ValueOf(c).Elem(), "NIMBUS")
}

// applyEnv sets scalar fields from NIMBUS_<SECTION>_<KEY> variables.
func applyEnv(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := strings.Split(f.Tag.Get("toml"), ",")[0]
		if key == "" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(key)
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv, name); err != nil {
				return err
			}
			continue
		}
		s, ok := os.LookupEnv(name)
		if !ok {
			continue
		}
		if err := setScalar(fv, s); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func setScalar(fv reflect.Value, s string) error {
	switch {
	case fv.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(s)
	case fv.Kind() == reflect.Int, fv.Kind() == reflect.Int64:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		fv.SetInt(int64(n))
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		var list []string
		for _, part := range strings.Split(s, ",") {
			if p := strings.TrimSpace(part); p != "" {
				list = append(list, p)
			}
		}
		fv.Set(reflect.ValueOf(list))
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	default:
		return errors.New("cannot be set from the environment")
	}
	return nil
}

// Validate rejects bad combinations before anything starts.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("data_dir must be set")
	}
	if c.Identity.Port <= 0 || c.Identity.Port > 65535 {
		return fmt.Errorf("identity.port %d is not a port", c.Identity.Port)
	}
	if c.Identity.TokenExpiration < time.Minute {
		return errors.New("identity.token_expiration must be at least 1m")
	}
	if c.Identity.MaxActiveKeys < 2 {
		return errors.New("identity.max_active_keys must be at least 2")
	}
	if c.Identity.BcryptCost < 4 || c.Identity.BcryptCost > 31 {
		return errors.New("identity.password_hash_rounds must be between 4 and 31")
	}
	if c.Image.Port <= 0 || c.Image.Port > 65535 {
		return fmt.Errorf("image.port %d is not a port", c.Image.Port)
	}
	if f := c.Image.ConvertTo; f != "" && f != "raw" && f != "qcow2" && f != "vmdk" && f != "vhd" && f != "vhdx" && f != "vdi" {
		return fmt.Errorf("image.convert_to_format %q is not a format qemu-img writes", f)
	}
	switch {
	case c.Image.DefaultStore == "file":
	case c.Image.DefaultStore == "swift" && c.Image.Swift.AuthURL != "":
	default:
		return fmt.Errorf("image.default_store %q: use \"file\", or \"swift\" with [image.swift] auth_url set", c.Image.DefaultStore)
	}
	if v := c.Image.Swift.AuthVersion; v != "" && v != "1" && v != "3" {
		return fmt.Errorf("image.swift.auth_version %q: use \"1\" (tempauth) or \"3\" (Keystone)", v)
	}
	if c.Image.ImageSizeCap <= 0 {
		return errors.New("image.image_size_cap must be positive")
	}
	for name, port := range map[string]int{"objectstore.proxy_port": c.ObjectStore.ProxyPort,
		"objectstore.storage_port": c.ObjectStore.StoragePort, "placement.port": c.Placement.Port,
		"compute.port": c.Compute.Port, "compute.metadata_port": c.Compute.MetadataPort,
		"compute.novncproxy_port": c.Compute.NoVNCProxyPort, "compute.serialproxy_port": c.Compute.SerialProxyPort} {
		if port <= 0 || port > 65535 {
			return fmt.Errorf("%s %d is not a port", name, port)
		}
	}
	if d := c.Compute.Driver; d != "qemu" && d != "fake" {
		return fmt.Errorf("compute.driver %q: use \"qemu\" or \"fake\"", d)
	}
	if c.Compute.FakeHosts < 0 || (c.Compute.FakeHosts > 0 && c.Compute.Driver != "fake") {
		return errors.New("compute.fake_hosts needs compute.driver \"fake\" and must not be negative")
	}
	if a := c.Compute.Accel; a != "" && a != "kvm" && a != "tcg" {
		return fmt.Errorf("compute.accel %q: use \"kvm\", \"tcg\" or nothing to probe", a)
	}
	if c.ObjectStore.PartPower < 1 || c.ObjectStore.PartPower > 24 {
		return errors.New("objectstore.part_power must be between 1 and 24")
	}
	if c.ObjectStore.Replicas < 1 || c.ObjectStore.Replicas > 10 {
		return errors.New("objectstore.replicas must be between 1 and 10")
	}
	if c.Bus != "" && !strings.HasPrefix(c.Bus, "nats://") && !strings.HasPrefix(c.Bus, "tls://") {
		return fmt.Errorf("bus %q must be a nats:// URL", c.Bus)
	}
	if c.BusListen != "" {
		if c.Bus != "" {
			return errors.New("bus_listen is for the embedded bus server: leave it empty when bus is set")
		}
		_, p, err := net.SplitHostPort(c.BusListen)
		if n, perr := strconv.Atoi(p); err != nil || perr != nil || n < 0 || n > 65535 {
			return fmt.Errorf("bus_listen %q must be host:port", c.BusListen)
		}
	}
	return nil
}

// Path returns a path under the data directory.
func (c *Config) Path(elem ...string) string {
	return filepath.Join(append([]string{c.DataDir}, elem...)...)
}

// IdentityDB is the identity database DSN.
func (c *Config) IdentityDB() string {
	if c.Identity.DB != "" {
		return c.Identity.DB
	}
	return c.Path("db", "identity.sqlite")
}

// ImageDB is the image database DSN.
func (c *Config) ImageDB() string {
	if c.Image.DB != "" {
		return c.Image.DB
	}
	return c.Path("db", "image.sqlite")
}

// ImageStoreDir is where the file store keeps image data.
func (c *Config) ImageStoreDir() string {
	if c.Image.StoreDir != "" {
		return c.Image.StoreDir
	}
	return c.Path("images")
}

// ComputeDB is the compute database DSN.
func (c *Config) ComputeDB() string {
	if c.Compute.DB != "" {
		return c.Compute.DB
	}
	return c.Path("db", "compute.sqlite")
}

// ComputeHost is this machine's compute host name.
func (c *Config) ComputeHost() string {
	if c.Compute.Host != "" {
		return c.Compute.Host
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// ComputeInstancesDir is where guests' files live.
func (c *Config) ComputeInstancesDir() string {
	if c.Compute.InstancesDir != "" {
		return c.Compute.InstancesDir
	}
	return c.Path("compute", "instances")
}

// ComputeImageCacheDir is where compute caches base images.
func (c *Config) ComputeImageCacheDir() string {
	if c.Compute.ImageCacheDir != "" {
		return c.Compute.ImageCacheDir
	}
	return c.Path("compute", "image-cache")
}

// PlacementDB is the placement database DSN.
func (c *Config) PlacementDB() string {
	if c.Placement.DB != "" {
		return c.Placement.DB
	}
	return c.Path("db", "placement.sqlite")
}

// ObjectRing is the object store's ring file.
func (c *Config) ObjectRing() string {
	if c.ObjectStore.Ring != "" {
		return c.ObjectStore.Ring
	}
	return c.Path("objects", "rings", "object.ring")
}

// ObjectDevices are this node's device directories.
func (c *Config) ObjectDevices() []string {
	if len(c.ObjectStore.Devices) > 0 {
		return c.ObjectStore.Devices
	}
	return []string{c.Path("objects", "d1"), c.Path("objects", "d2"), c.Path("objects", "d3")}
}

// ObjectStorageAddr is this node's storage address as the ring names it.
func (c *Config) ObjectStorageAddr() string {
	if c.ObjectStore.StorageAddr != "" {
		return c.ObjectStore.StorageAddr
	}
	host := c.ListenHost
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(c.ObjectStore.StoragePort))
}

// Host is the host name clients should use.
func (c *Config) Host() string {
	if c.PublicHost != "" {
		return c.PublicHost
	}
	if c.ListenHost == "0.0.0.0" || c.ListenHost == "" || c.ListenHost == "::" {
		return "127.0.0.1"
	}
	return c.ListenHost
}
