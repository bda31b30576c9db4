// Package image is Nimbus's Glance: the Image API v2 with visibility and
// sharing, JSON-patch updates, streaming uploads into a store with
// checksums and format inspection, and interoperable import.
package image

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the image schema, for `nimbus db migrate`.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Config holds the image service's options; Glance's names in comments.
type Config struct {
	ImageSizeCap   int64  // [DEFAULT] image_size_cap
	ListLimit      int    // [DEFAULT] limit_param_default
	MaxListLimit   int    // [DEFAULT] api_limit_max
	QuotaImages    int    // image_count_total per project; 0 = unlimited
	QuotaSizeTotal int64  // image_size_total per project in bytes; 0 = unlimited
	PolicyFile     string // operator's policy.yaml
	// WebDownloadAllowed lists the host names, IPs and CIDRs web-download
	// may fetch from; empty turns web-download off.
	WebDownloadAllowed []string
	// ConvertTo, if set, converts imported images to this disk format with
	// qemu-img (Glance's image_conversion plugin); off by default.
	ConvertTo      string
	ConvertDir     string        // scratch space for conversion; "" = the system temp dir
	ConvertTimeout time.Duration // limit of one conversion
}

// DefaultConfig is Glance's defaults.
func DefaultConfig() Config {
	return Config{ImageSizeCap: 1 << 40, ListLimit: 25, MaxListLimit: 1000, ConvertTimeout: defaultConvertTimeout}
}

// Service holds the image rules.
type Service struct {
	db           *db.DB
	stores       map[string]store.Store // by store id, as /v2/info/stores lists them
	defaultStore string
	staging      store.Store // glance-direct's staged data; nil = no import
	bus          *bus.Bus    // durable import tasks; nil = no import
	cfg          Config
	log          *slog.Logger
	policy       *policy.Enforcer
	now          func() time.Time
}

// Options are what New needs besides Config.
type Options struct {
	DB *db.DB
	// Stores are where image data goes, by store id; DefaultStore names
	// the one used when a request does not choose (X-Image-Meta-Store).
	// Store alone is the one-store case (its id is its Name()).
	Stores       map[string]store.Store
	DefaultStore string
	Store        store.Store
	Staging      store.Store // where glance-direct stages data (with Bus: enables import)
	Bus          *bus.Bus
	Log          *slog.Logger
}

// New makes the image service and migrates its database.
func New(ctx context.Context, cfg Config, o Options) (*Service, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := o.DB.Migrate(ctx, Migrations()); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	enf, err := policy.New(append(slices.Clone(policyDefaults), metadefDefaults()...))
	if err != nil {
		return nil, fmt.Errorf("image: policy defaults: %w", err)
	}
	if cfg.PolicyFile != "" {
		if err := enf.LoadFile(cfg.PolicyFile); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	stores, def := o.Stores, o.DefaultStore
	if len(stores) == 0 && o.Store != nil {
		stores, def = map[string]store.Store{o.Store.Name(): o.Store}, o.Store.Name()
	}
	if _, ok := stores[def]; !ok {
		return nil, fmt.Errorf("image: default store %q is not among the stores", def)
	}
	return &Service{db: o.DB, stores: stores, defaultStore: def, staging: o.Staging, bus: o.Bus, cfg: cfg, log: log, policy: enf, now: time.Now}, nil
}

// policyDefaults follow Glance's secure-RBAC defaults: readers read,
// members of the owning project write, admins do everything. Visibility
// (who may see an image at all) is decided in code, as Glance does.
var policyDefaults = []policy.Default{
	{Name: "context_is_admin", Check: "role:admin"},
	{Name: "member_of_owner", Check: "role:member and project_id:%(owner)s"},
	{Name: "add_image", Check: "rule:context_is_admin or (role:member and project_id:%(owner)s)"},
	{Name: "get_image", Check: "rule:context_is_admin or role:reader"},
	{Name: "get_images", Check: "rule:context_is_admin or role:reader"},
	{Name: "modify_image", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "delete_image", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "publicize_image", Check: "rule:context_is_admin"},
	{Name: "communitize_image", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "upload_image", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "download_image", Check: "rule:context_is_admin or role:reader"},
	{Name: "copy_image", Check: "rule:context_is_admin"},
	{Name: "deactivate", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "reactivate", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "add_member", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "delete_member", Check: "rule:context_is_admin or rule:member_of_owner"},
	{Name: "get_member", Check: "rule:context_is_admin or role:reader"},
	{Name: "get_members", Check: "rule:context_is_admin or role:reader"},
	{Name: "modify_member", Check: "rule:context_is_admin or (role:member and project_id:%(member_id)s)"},
}

// authorize checks rule with the image's attributes as target.
func (s *Service) authorize(p *authn.Principal, rule string, target map[string]any) error {
	if p == nil {
		return fault.Unauthorizedf("The request you have made requires authentication.")
	}
	if !s.policy.Enforce(rule, target, p.Creds()) {
		return fault.Forbiddenf("You are not authorized to complete %s action.", rule)
	}
	return nil
}

func isAdmin(s *Service, p *authn.Principal) bool {
	return p != nil && s.policy.Enforce("context_is_admin", nil, p.Creds())
}

func target(img *Image) map[string]any {
	return map[string]any{"owner": img.Owner, "visibility": img.Visibility, "id": img.ID}
}
