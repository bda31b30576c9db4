// Package placement is Nimbus's Placement: the OpenStack Placement API up
// to microversion 1.39. It tracks resource providers (nested in trees,
// grouped in aggregates, tagged with traits), their inventories and the
// allocations consumers hold against them, and answers allocation
// candidate queries for the scheduler. Claims check capacity and bump
// provider generations in one transaction, so concurrent claims never
// over-commit an inventory.
package placement

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is the placement schema, for `nimbus db migrate`.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Config holds the placement service's options; placement.conf's names
// in comments.
type Config struct {
	PolicyFile string // [oslo_policy] policy_file
	// IncompleteConsumerProjectID and IncompleteConsumerUserID own the
	// allocations written before microversion 1.8, which carry neither
	// ([placement] incomplete_consumer_project_id / _user_id).
	IncompleteConsumerProjectID string
	IncompleteConsumerUserID    string
	// AllocationConflictRetries is how often a claim that lost a race on a
	// provider generation is retried before answering 409
	// ([placement] allocation_conflict_retry_count).
	AllocationConflictRetries int
	// MaxAllocationCandidates caps the candidates computed for one request;
	// -1 = no cap ([placement] max_allocation_candidates).
	MaxAllocationCandidates int
}

// DefaultConfig is placement's defaults.
func DefaultConfig() Config {
	return Config{
		IncompleteConsumerProjectID: "00000000-0000-0000-0000-000000000000",
		IncompleteConsumerUserID:    "00000000-0000-0000-0000-000000000000",
		AllocationConflictRetries:   10,
		MaxAllocationCandidates:     -1,
	}
}

// Options are what New needs besides Config.
type Options struct {
	DB  *db.DB
	Log *slog.Logger
}

// Service holds the placement rules.
type Service struct {
	db     *db.DB
	cfg    Config
	log    *slog.Logger
	policy *policy.Enforcer
	now    func() time.Time
}

// New makes the placement service, migrates its database and makes sure
// the standard traits and resource classes exist.
func New(ctx context.Context, cfg Config, o Options) (*Service, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.AllocationConflictRetries <= 0 {
		cfg.AllocationConflictRetries = 10
	}
	if cfg.MaxAllocationCandidates == 0 {
		cfg.MaxAllocationCandidates = -1
	}
	if cfg.IncompleteConsumerProjectID == "" {
		cfg.IncompleteConsumerProjectID = DefaultConfig().IncompleteConsumerProjectID
	}
	if cfg.IncompleteConsumerUserID == "" {
		cfg.IncompleteConsumerUserID = DefaultConfig().IncompleteConsumerUserID
	}
	if err := o.DB.Migrate(ctx, Migrations()); err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	enf, err := policy.New(policyDefaults)
	if err != nil {
		return nil, fmt.Errorf("placement: policy defaults: %w", err)
	}
	if cfg.PolicyFile != "" {
		if err := enf.LoadFile(cfg.PolicyFile); err != nil {
			return nil, fmt.Errorf("placement: %w", err)
		}
	}
	s := &Service{db: o.DB, cfg: cfg, log: log, policy: enf, now: time.Now}
	if err := s.syncStandards(ctx); err != nil {
		return nil, fmt.Errorf("placement: %w", err)
	}
	return s, nil
}

// syncStandards adds the standard traits and classes a previous release
// did not know, as placement does at start.
func (s *Service) syncStandards(ctx context.Context) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := s.now().UnixMicro()
		have := map[string]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT name FROM traits`)
		if err != nil {
			return fmt.Errorf("list traits: %w", err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have[n] = true
		}
		rows.Close()
		for _, t := range standardTraits {
			if have[t] {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO traits (name, created_at, updated_at) VALUES ($1, $2, $2)
				ON CONFLICT (name) DO NOTHING`, t, now); err != nil {
				return fmt.Errorf("add trait %s: %w", t, err)
			}
		}
		for _, c := range standardClasses {
			if _, err := tx.ExecContext(ctx, `INSERT INTO resource_classes (name, standard, created_at, updated_at)
				VALUES ($1, TRUE, $2, $2) ON CONFLICT (name) DO NOTHING`, c, now); err != nil {
				return fmt.Errorf("add resource class %s: %w", c, err)
			}
		}
		return nil
	})
}

// Policy rule names, as placement/policies/*.py name them.
const (
	rpList            = "placement:resource_providers:list"
	rpCreate          = "placement:resource_providers:create"
	rpShow            = "placement:resource_providers:show"
	rpUpdate          = "placement:resource_providers:update"
	rpDelete          = "placement:resource_providers:delete"
	invList           = "placement:resource_providers:inventories:list"
	invCreate         = "placement:resource_providers:inventories:create"
	invShow           = "placement:resource_providers:inventories:show"
	invUpdate         = "placement:resource_providers:inventories:update"
	invDelete         = "placement:resource_providers:inventories:delete"
	aggList           = "placement:resource_providers:aggregates:list"
	aggUpdate         = "placement:resource_providers:aggregates:update"
	rpTraitList       = "placement:resource_providers:traits:list"
	rpTraitUpdate     = "placement:resource_providers:traits:update"
	rpTraitDelete     = "placement:resource_providers:traits:delete"
	rpAllocList       = "placement:resource_providers:allocations:list"
	rpUsages          = "placement:resource_providers:usages"
	traitList         = "placement:traits:list"
	traitShow         = "placement:traits:show"
	traitUpdate       = "placement:traits:update"
	traitDelete       = "placement:traits:delete"
	rcList            = "placement:resource_classes:list"
	rcCreate          = "placement:resource_classes:create"
	rcShow            = "placement:resource_classes:show"
	rcUpdate          = "placement:resource_classes:update"
	rcDelete          = "placement:resource_classes:delete"
	allocList         = "placement:allocations:list"
	allocManage       = "placement:allocations:manage"
	allocUpdate       = "placement:allocations:update"
	allocDelete       = "placement:allocations:delete"
	candidatesList    = "placement:allocation_candidates:list"
	totalUsages       = "placement:usages"
	reshape           = "placement:reshaper:reshape"
	ruleAdminOrSvc    = "rule:admin_or_service_api"
	ruleReaderOrAdmin = "rule:admin_or_project_reader_or_service_api"
)

// policyDefaults are placement's secure-RBAC defaults: admins and other
// services (the service role) do everything; a project's readers may see
// their project's usages; only services reshape.
var policyDefaults = func() []policy.Default {
	ds := []policy.Default{
		{Name: "admin_api", Check: "role:admin", Description: "Default rule for most placement APIs."},
		{Name: "service_api", Check: "role:service", Description: "Default rule for service-to-service placement APIs."},
		{Name: "admin_or_service_api", Check: "role:admin or role:service", Description: "Default rule for most placement APIs."},
		{Name: "project_reader_api", Check: "role:reader and project_id:%(project_id)s", Description: "Default rule for Project level reader APIs."},
		{Name: "admin_or_project_reader_or_service_api", Check: "role:admin or rule:project_reader_api or role:service",
			Description: "Default rule for project level reader APIs."},
		{Name: totalUsages, Check: ruleReaderOrAdmin, Description: "List total resource usages for a given project."},
		{Name: reshape, Check: "rule:service_api", Description: "Reshape Inventory and Allocations."},
	}
	for _, n := range []string{rpList, rpCreate, rpShow, rpUpdate, rpDelete, invList, invCreate, invShow, invUpdate,
		invDelete, aggList, aggUpdate, rpTraitList, rpTraitUpdate, rpTraitDelete, rpAllocList, rpUsages, traitList,
		traitShow, traitUpdate, traitDelete, rcList, rcCreate, rcShow, rcUpdate, rcDelete, allocList, allocManage,
		allocUpdate, allocDelete, candidatesList} {
		ds = append(ds, policy.Default{Name: n, Check: ruleAdminOrSvc})
	}
	return ds
}()

// authorize checks rule for the caller, with target (nil for most rules).
func (s *Service) authorize(p *authn.Principal, rule string, target map[string]any) error {
	if p == nil {
		return fault.Unauthorizedf("The request you have made requires authentication.")
	}
	if target == nil {
		target = map[string]any{}
	}
	if !s.policy.Enforce(rule, target, p.Creds()) {
		return fault.Forbiddenf("Policy does not allow %s to be performed.", rule)
	}
	return nil
}
