// Package identity is Nimbus's Keystone: the Identity API v3 with domains,
// projects, users, groups, roles and assignments, the service catalog,
// application credentials, credentials and Fernet tokens.
package identity

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
	"github.com/nimbus-cloud/nimbus/internal/identity/fernet"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations is identity's schema, for `nimbus db migrate`.
func Migrations() fs.FS {
	sub, _ := fs.Sub(migrationFiles, "migrations")
	return sub
}

// Config holds identity's options; Keystone's option names are in comments.
type Config struct {
	KeysDir            string        // [fernet_tokens] key_repository
	MaxActiveKeys      int           // [fernet_tokens] max_active_keys
	TokenExpiration    time.Duration // [token] expiration
	AllowExpiredWindow time.Duration // [token] allow_expired_window
	BcryptCost         int           // [identity] password_hash_rounds
	ListLimit          int           // [DEFAULT] list_limit; 0 = no limit

	// Keystone's [security_compliance] (PCI-DSS) options.
	LockoutFailureAttempts  int
	LockoutDuration         time.Duration
	PasswordExpiresDays     int
	UniqueLastPasswordCount int
	MinimumPasswordAge      time.Duration
	PasswordRegex           string
	PasswordRegexDesc       string
	ChangePasswordUponFirst bool

	// AdminProject marks tokens scoped to it is_admin_project ([resource]
	// admin_project_name/admin_project_domain_name); empty = unset.
	AdminProjectName, AdminProjectDomainName string

	// LDAP domains: domain name -> driver settings (domain-specific config).
	LDAP map[string]backend.LDAPConfig

	// PolicyFile, if set, overrides default rules ([oslo_policy] policy_file).
	PolicyFile string
}

// DefaultConfig is Keystone's defaults.
func DefaultConfig() Config {
	return Config{
		MaxActiveKeys:      3,
		TokenExpiration:    time.Hour,
		AllowExpiredWindow: 48 * time.Hour,
		BcryptCost:         12,
		LockoutDuration:    30 * time.Minute,
	}
}

// Service holds identity's rules. It is safe for concurrent use.
type Service struct {
	db     *db.DB
	cfg    Config
	log    *slog.Logger
	tokens *fernet.Codec
	policy *policy.Enforcer
	now    func() time.Time

	// gen changes on every write, so caches of derived state (validated
	// tokens, the catalog, revocations) know when to rebuild.
	gen      atomic.Uint64
	onChange func()

	mu          sync.Mutex
	ldap        map[string]backend.Reader // domain id -> read-only driver
	tokenCache  *tokenCache
	revocations *revocationCache
	catalog     catalogCache
}

// Options are what New needs besides Config.
type Options struct {
	DB  *db.DB
	Log *slog.Logger
	// OnChange, if set, is called after each committed write so other
	// processes can drop their caches (the app publishes it on the bus).
	OnChange func()
	// LDAPDrivers makes drivers for LDAP domains; nil means none.
	LDAPDriver func(backend.LDAPConfig) (backend.Reader, error)
}

// New makes the identity service: migrates its database, opens the Fernet
// keys and loads policy.
func New(ctx context.Context, cfg Config, o Options) (*Service, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := o.DB.Migrate(ctx, Migrations()); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := fernet.Setup(cfg.KeysDir); err != nil {
		return nil, fmt.Errorf("identity: fernet keys: %w", err)
	}
	codec, err := fernet.NewCodec(cfg.KeysDir)
	if err != nil {
		return nil, fmt.Errorf("identity: fernet keys: %w", err)
	}
	enf, err := policy.New(policyDefaults())
	if err != nil {
		return nil, fmt.Errorf("identity: policy defaults: %w", err)
	}
	if cfg.PolicyFile != "" {
		if err := enf.LoadFile(cfg.PolicyFile); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
	}
	s := &Service{
		db: o.DB, cfg: cfg, log: log, tokens: codec, policy: enf, now: time.Now,
		onChange: o.OnChange, ldap: map[string]backend.Reader{},
		tokenCache: newTokenCache(65536), revocations: &revocationCache{},
	}
	if err := s.setupLDAP(ctx, o.LDAPDriver); err != nil {
		return nil, err
	}
	return s, nil
}

// Invalidate drops derived caches; call it when another process changed
// identity's database.
func (s *Service) Invalidate() { s.gen.Add(1) }

// tx runs fn in one transaction and, when it commits, invalidates caches.
func (s *Service) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.db.Tx(ctx, fn); err != nil {
		return err
	}
	s.gen.Add(1)
	if s.onChange != nil {
		s.onChange()
	}
	return nil
}

// newID makes a Keystone-style id: 32 lower-case hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// queryer is what store functions need from *sql.DB or *sql.Tx.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := time.UnixMicro(n.Int64).UTC()
	return &t
}
