// Package compute is Nimbus's Nova: the Compute API v2.1 with
// microversions. This file holds the service's configuration and the
// rules every resource shares (policy, the caller); each resource has its
// own file: flavors, keypairs, quotas and limits, availability zones.
// State lives in the compute database; the store functions in store.go
// are its only SQL.
package compute

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the compute schema, for `nimbus db migrate`.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Config holds the compute API's options; nova.conf's names in comments.
type Config struct {
	PolicyFile string // [oslo_policy] policy_file
	// DefaultAvailabilityZone is the zone of hosts in no zone-bearing
	// aggregate ([DEFAULT] default_availability_zone).
	DefaultAvailabilityZone string
	// DefaultScheduleZone is the zone of a server created without one
	// ([DEFAULT] default_schedule_zone); "" lets the scheduler pick any.
	DefaultScheduleZone string
	// InternalAvailabilityZone holds the control services (scheduler,
	// conductor) and is hidden from the plain zone list
	// ([DEFAULT] internal_service_availability_zone).
	InternalAvailabilityZone string
	// MaxLimit caps the items of one page of a list ([api] max_limit).
	MaxLimit int
	// LinkPrefix replaces scheme, host and leading path of the links in
	// answers, for a proxy in front ([api] compute_link_prefix); "" uses
	// the request's own.
	LinkPrefix string
	// Quota holds the default quotas ([quota] section).
	Quota QuotaDefaults
	// AuthURI is the identity URL a 401 names in WWW-Authenticate
	// ([keystone_authtoken] www_authenticate_uri); "" leaves it out.
	AuthURI string
	// Console is where remote console URLs point and how long they work.
	Console ConsoleConfig
	// ForceConfigDrive gives every server a config drive ([DEFAULT]
	// force_config_drive): the only metadata source of guests while no
	// network routes them to the metadata API.
	ForceConfigDrive bool
}

// QuotaDefaults are the limits of a project no one has set limits for
// (Nova's [quota] options; -1 is unlimited).
type QuotaDefaults struct {
	Instances                int64 // [quota] instances
	Cores                    int64 // [quota] cores
	RAM                      int64 // [quota] ram, MiB
	MetadataItems            int64 // [quota] metadata_items
	InjectedFiles            int64 // [quota] injected_files
	InjectedFileContentBytes int64 // [quota] injected_file_content_bytes
	InjectedFilePathLength   int64 // [quota] injected_file_path_length
	KeyPairs                 int64 // [quota] key_pairs
	ServerGroups             int64 // [quota] server_groups
	ServerGroupMembers       int64 // [quota] server_group_members
}

// DefaultConfig is Nova's defaults.
func DefaultConfig() Config {
	return Config{
		DefaultAvailabilityZone:  "nova",
		InternalAvailabilityZone: "internal",
		MaxLimit:                 1000,
		Quota: QuotaDefaults{
			Instances: 10, Cores: 20, RAM: 50 * 1024, MetadataItems: 128, InjectedFiles: 5,
			InjectedFileContentBytes: 10 * 1024, InjectedFilePathLength: 255, KeyPairs: 100,
			ServerGroups: 10, ServerGroupMembers: 10,
		},
	}
}

// Projects tells whether a project exists, as Nova asks Keystone before
// granting flavor access or setting quotas. Nil skips the check.
type Projects interface {
	// ProjectExists reports whether id names a project. An error means
	// identity could not be asked; Nova then lets the request through.
	ProjectExists(ctx context.Context, id string) (bool, error)
}

// ImageAPI is the image service (Glance v2) as the compute API uses it,
// called with the caller's token as Nova does.
type ImageAPI interface {
	// GetImage returns an image the token may see; a missing or hidden
	// one is an error wrapping instances.ErrNotFound.
	GetImage(ctx context.Context, token, id string) (*ImageInfo, error)
	// CreateImage creates a queued image record for a snapshot with the
	// given fields (name, disk_format, container_format, visibility,
	// and string properties such as instance_uuid, image_type) and
	// returns its id.
	CreateImage(ctx context.Context, token string, fields map[string]any) (string, error)
	// DeleteImage deletes an image (a snapshot whose upload failed).
	DeleteImage(ctx context.Context, token, id string) error
}

// ImageInfo is the part of an image record the compute API checks.
type ImageInfo struct {
	instances.Image
	Status          string // "active", "queued", ...
	Visibility      string
	ContainerFormat string
	Owner           string
}

// Options are what New needs besides Config.
type Options struct {
	DB       *db.DB
	Log      *slog.Logger
	Projects Projects // optional
	// Images is the image service; only tests of other resources leave
	// it nil (then servers cannot be created).
	Images ImageAPI
	// Bus carries tasks to the conductor (tasks.Queue); nil: servers
	// cannot be created or acted on (tests of other resources).
	Bus *bus.Bus
}

// Service holds the compute API's rules.
type Service struct {
	db       *db.DB
	cfg      Config
	log      *slog.Logger
	policy   *policy.Enforcer
	projects Projects
	now      func() time.Time
	images   ImageAPI
	bus      *bus.Bus
	// instances is the servers' database (instances, services, nodes,
	// groups, aggregates), shared with the scheduler and conductor.
	instances *instances.Store

	// usage counts what a project (and a user in it) holds of quota
	// resources, for quota details, limits and checks; resources add
	// their counters in New (servers: instances, cores, ram; server
	// groups). Key pairs are counted where they are created, and shown
	// as 0 in use, as Nova does.
	usage []usageCounter
	// zones lists the compute services and their zones for
	// os-availability-zone; nil until a service registry exists, then
	// only the default zone is shown.
	zones ZoneSource
}

// New makes the compute API service and migrates its database.
func New(ctx context.Context, cfg Config, o Options) (*Service, error) {
	def := DefaultConfig()
	if cfg.DefaultAvailabilityZone == "" {
		cfg.DefaultAvailabilityZone = def.DefaultAvailabilityZone
	}
	if cfg.InternalAvailabilityZone == "" {
		cfg.InternalAvailabilityZone = def.InternalAvailabilityZone
	}
	if cfg.MaxLimit <= 0 {
		cfg.MaxLimit = def.MaxLimit
	}
	if cfg.Quota == (QuotaDefaults{}) {
		cfg.Quota = def.Quota
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.DB == nil {
		return nil, fmt.Errorf("compute: no database")
	}
	if err := o.DB.Migrate(ctx, Migrations()); err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	enf, err := policy.New(policyDefaults)
	if err != nil {
		return nil, fmt.Errorf("compute: policy defaults: %w", err)
	}
	if cfg.PolicyFile != "" {
		if err := enf.LoadFile(cfg.PolicyFile); err != nil {
			return nil, fmt.Errorf("compute: %w", err)
		}
	}
	s := &Service{db: o.DB, cfg: cfg, log: log, policy: enf, projects: o.Projects, now: time.Now,
		images: o.Images, bus: o.Bus, instances: instances.New(o.DB)}
	// Quota usage counts servers and server groups.
	s.RegisterServerQuota()
	s.RegisterServerGroupQuota()
	return s, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// SetZoneSource gives os-availability-zone the compute services to show;
// the service registry calls it once it exists.
func (s *Service) SetZoneSource(z ZoneSource) { s.zones = z }

// creds are the caller's policy credentials with is_admin set as Nova's
// context does: from the context_is_admin rule.
func (s *Service) creds(p *authn.Principal) map[string]any {
	c := maps.Clone(p.Creds())
	c["is_admin"] = s.policy.Enforce(ruleContextIsAdmin, map[string]any{}, p.Creds())
	return c
}

// isAdmin is Nova's context.is_admin.
func (s *Service) isAdmin(p *authn.Principal) bool {
	return p != nil && s.policy.Enforce(ruleContextIsAdmin, map[string]any{}, p.Creds())
}

// defaultTarget is the target Nova checks a rule against when the API
// gives none: the caller's own project and user.
func defaultTarget(p *authn.Principal) map[string]any {
	return map[string]any{"project_id": p.ProjectID, "user_id": p.UserID}
}

// authorize checks rule for the caller against target (nil = the
// caller's own project and user), with Nova's 403 message.
func (s *Service) authorize(p *authn.Principal, rule string, target map[string]any) error {
	if p == nil {
		return fault.Unauthorizedf("The request you have made requires authentication.")
	}
	if !s.allowed(p, rule, target) {
		return fault.Forbiddenf("Policy doesn't allow %s to be performed.", rule)
	}
	return nil
}

// allowed is authorize without an error, Nova's context.can(fatal=False).
func (s *Service) allowed(p *authn.Principal, rule string, target map[string]any) bool {
	if p == nil {
		return false
	}
	if target == nil {
		target = defaultTarget(p)
	}
	return s.policy.Enforce(rule, target, s.creds(p))
}

// checkProject is Nova's identity.verify_project_id: a project unknown to
// identity is a 400; identity being unreachable is not the caller's fault.
func (s *Service) checkProject(ctx context.Context, id string) error {
	if s.projects == nil {
		return nil
	}
	ok, err := s.projects.ProjectExists(ctx, id)
	if err != nil {
		s.log.WarnContext(ctx, "cannot verify project with identity", "project_id", id, "err", err)
		return nil
	}
	if !ok {
		return fault.BadRequestf("Project ID %s is not a valid project.", id)
	}
	return nil
}

// tx runs fn in one transaction of the compute database.
func (s *Service) tx(ctx context.Context, fn func(tx *sql.Tx) error) error { return s.db.Tx(ctx, fn) }
