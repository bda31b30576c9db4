// Package app is the composition root: it builds the services a process
// runs from the configuration, wires them to the database, the bus and
// each other, serves their APIs and shuts them down in order.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend/ldap"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
	filestore "github.com/nimbus-cloud/nimbus/internal/image/store/file"
	swiftstore "github.com/nimbus-cloud/nimbus/internal/image/store/swift"
	"github.com/nimbus-cloud/nimbus/internal/placement"
)

// Services lists the services this build can run, in start order.
var Services = []string{"identity", "image", "placement", "compute-api", "compute-scheduler", "compute-conductor",
	"compute-agent", "compute-metadata", "compute-console", "object-storage", "object-proxy"}

// Options say what Run does besides serving.
type Options struct {
	Services  []string // which services; empty = all
	Bootstrap bool     // nimbus up: bootstrap and write clouds.yaml
	Log       *slog.Logger
	// Ready, if set, is called once every API listens.
	Ready func(endpoints map[string]string)
	// TestImage, if set, is the path of the test guest image
	// (test/guest/build-image.sh) to register in the image service
	// before Ready, for `nimbus up --test-image`.
	TestImage string
}

// Run serves until ctx is done.
func Run(ctx context.Context, cfg config.Config, o Options) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if len(o.Services) == 0 {
		o.Services = Services
	}
	for _, s := range o.Services {
		if !slices.Contains(Services, s) {
			return fmt.Errorf("unknown service %q (this build has %v)", s, Services)
		}
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}

	b, err := bus.Open(ctx, bus.Options{URL: cfg.Bus, Listen: cfg.BusListen, DataDir: cfg.Path("nats"), Log: log.With("component", "bus"), Name: "nimbus"})
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	defer b.Close()

	metrics := httpx.NewMetrics()
	var servers []*http.Server
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}()
	// serve listens first, so a taken port fails the start, then serves.
	serve := func(name string, port int, h http.Handler) error {
		addr := net.JoinHostPort(cfg.ListenHost, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: listen on %s: %w", name, addr, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("server stopped", "service", name, "err", err)
			}
		}()
		return nil
	}
	endpoints := map[string]string{}
	for _, name := range o.Services {
		if url := serviceURL(cfg, name); url != "" {
			endpoints[name] = url
		}
	}

	// Services other than identity check tokens with identity in this
	// process when it runs here, else over HTTP as keystonemiddleware.
	// Those that call other services' APIs (compute calls placement and
	// image) do so as the service user: [auth]'s, or in `nimbus up` one
	// that bootstrap makes with a new password each start.
	var validator authn.Validator
	var tokens authn.TokenSource
	if cfg.Auth.Username != "" || !slices.Contains(o.Services, "identity") {
		if needsIdentity(o.Services) {
			remote, err := authn.NewRemote(authn.RemoteOptions{AuthURL: cfg.Auth.URL, Username: cfg.Auth.Username,
				Password: cfg.Auth.Password, ProjectName: cfg.Auth.ProjectName, UserDomainName: cfg.Auth.UserDomainName,
				ProjectDomainName: cfg.Auth.ProjectDomainName})
			if err != nil {
				return fmt.Errorf("auth: %w (set [auth] auth_url, username and password)", err)
			}
			validator, tokens = remote, remote
		}
	}
	if slices.Contains(o.Services, "identity") {
		svc, closeID, err := openIdentity(ctx, cfg, b, log.With("service", "identity"))
		if err != nil {
			return err
		}
		closers = append(closers, closeID)
		if o.Bootstrap {
			servicePassword := ""
			if tokens == nil {
				servicePassword = newPassword()
			}
			if err := bootstrap(ctx, cfg, svc, endpoints, servicePassword, log); err != nil {
				return err
			}
			if servicePassword != "" {
				remote, err := authn.NewRemote(authn.RemoteOptions{AuthURL: endpoints["identity"], Username: serviceUser,
					Password: servicePassword, ProjectName: "service"})
				if err != nil {
					return err
				}
				tokens = remote
			}
		}
		validator = svc
		h := svc.Handler(httpx.Options{Log: log.With("service", "identity"), Metrics: metrics})
		if err := serve("identity", cfg.Identity.Port, h); err != nil {
			return err
		}
	}

	if slices.Contains(o.Services, "image") {
		svc, closeImage, err := openImage(ctx, cfg, b, log.With("service", "image"))
		if err != nil {
			return err
		}
		closers = append(closers, closeImage)
		stopImports, err := svc.StartImportWorker(ctx)
		if err != nil {
			return fmt.Errorf("image: import worker: %w", err)
		}
		closers = append(closers, func() error { stopImports(); return nil })
		h := svc.Handler(httpx.Options{Log: log.With("service", "image"), Metrics: metrics}, validator)
		if err := serve("image", cfg.Image.Port, h); err != nil {
			return err
		}
	}

	if slices.Contains(o.Services, "placement") {
		d, err := db.Open(ctx, cfg.PlacementDB())
		if err != nil {
			return fmt.Errorf("placement: %w", err)
		}
		closers = append(closers, d.Close)
		pc := placement.DefaultConfig()
		pc.PolicyFile = cfg.Placement.PolicyFile
		svc, err := placement.New(ctx, pc, placement.Options{DB: d, Log: log.With("service", "placement")})
		if err != nil {
			return fmt.Errorf("placement: %w", err)
		}
		h := svc.Handler(httpx.Options{Log: log.With("service", "placement"), Metrics: metrics, Service: "placement"}, validator)
		if err := serve("placement", cfg.Placement.Port, h); err != nil {
			return err
		}
	}

	var background sync.WaitGroup
	defer background.Wait() // before the bus closes: agents say goodbye on it
	if err := runCompute(ctx, cfg, computeEnv{services: o.Services, bus: b, validator: validator, tokens: tokens,
		log: log, metrics: metrics, serve: serve, closers: &closers, background: &background,
		agentOptional: o.Bootstrap}); err != nil {
		return err
	}

	if err := runObjectStore(ctx, cfg, o, validator, log, serve, &closers); err != nil {
		return err
	}

	if o.TestImage != "" {
		if tokens == nil || !slices.Contains(o.Services, "image") {
			return errors.New("--test-image needs the image service and service credentials in this process")
		}
		id, err := registerTestImage(ctx, serviceURL(cfg, "image"), tokens, o.TestImage)
		if err != nil {
			return err
		}
		log.Info("test guest image registered", "name", TestImageName, "id", id)
	}
	if o.Ready != nil {
		o.Ready(endpoints)
	}
	<-ctx.Done()
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
	return nil
}

// needsIdentity tells whether any of services checks tokens or calls
// another service's API; a storage node does neither.
func needsIdentity(services []string) bool {
	return slices.ContainsFunc(services, func(s string) bool {
		return s != "identity" && s != "object-storage"
	})
}

// openIdentity builds the identity service on its database, and keeps the
// caches of every identity process in step over the bus.
func openIdentity(ctx context.Context, cfg config.Config, b *bus.Bus, log *slog.Logger) (*identity.Service, func() error, error) {
	const subject = "identity.invalidate"
	d, err := db.Open(ctx, cfg.IdentityDB())
	if err != nil {
		return nil, nil, fmt.Errorf("identity: %w", err)
	}
	svc, err := newIdentity(ctx, cfg, d, log, func() { _ = b.Conn().Publish(subject, nil) })
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	sub, err := b.Conn().Subscribe(subject, func(*nats.Msg) { svc.Invalidate() })
	if err != nil {
		d.Close()
		return nil, nil, fmt.Errorf("identity: subscribe to invalidations: %w", err)
	}
	return svc, func() error { _ = sub.Unsubscribe(); return d.Close() }, nil
}

// serviceURL is the catalog URL of a service run by this process.
func serviceURL(cfg config.Config, name string) string {
	port := map[string]int{"identity": cfg.Identity.Port, "image": cfg.Image.Port, "placement": cfg.Placement.Port,
		"compute-api": cfg.Compute.Port, "compute-metadata": cfg.Compute.MetadataPort,
		"object-storage": cfg.ObjectStore.StoragePort, "object-proxy": cfg.ObjectStore.ProxyPort}[name]
	if port == 0 {
		return "" // no API of its own
	}
	url := "http://" + net.JoinHostPort(cfg.Host(), strconv.Itoa(port))
	switch name {
	case "identity":
		url += "/v3"
	case "object-proxy":
		url += "/v1/AUTH_%(project_id)s"
	case "compute-api":
		url += "/v2.1"
	}
	return url
}

// openImage builds the image service on its database and file store.
func openImage(ctx context.Context, cfg config.Config, b *bus.Bus, log *slog.Logger) (*image.Service, func() error, error) {
	d, err := db.Open(ctx, cfg.ImageDB())
	if err != nil {
		return nil, nil, fmt.Errorf("image: %w", err)
	}
	st, err := filestore.New(cfg.ImageStoreDir())
	if err != nil {
		d.Close()
		return nil, nil, fmt.Errorf("image: file store: %w", err)
	}
	staging, err := filestore.New(cfg.ImageStoreDir() + "-staging")
	if err != nil {
		d.Close()
		return nil, nil, fmt.Errorf("image: staging store: %w", err)
	}
	stores := map[string]store.Store{"file": st}
	if sc := cfg.Image.Swift; sc.AuthURL != "" {
		endpoint := swiftstore.KeystoneEndpoint(nil, swiftstore.KeystoneAuth{AuthURL: sc.AuthURL, Username: sc.User,
			Password: sc.Key, ProjectName: sc.ProjectName, UserDomainName: sc.UserDomainName,
			ProjectDomainName: sc.ProjectDomainName, Region: sc.Region})
		if sc.AuthVersion == "1" {
			endpoint = swiftstore.TempAuth(nil, sc.AuthURL, sc.User, sc.Key)
		}
		sw, err := swiftstore.New(swiftstore.Options{Endpoint: endpoint, Container: sc.Container,
			SegmentSize: sc.SegmentSize, Log: log})
		if err != nil {
			d.Close()
			return nil, nil, fmt.Errorf("image: swift store: %w", err)
		}
		stores["swift"] = sw
	}
	ic := image.DefaultConfig()
	ic.WebDownloadAllowed = cfg.Image.WebDownloadAllowed
	ic.ConvertTo = cfg.Image.ConvertTo
	ic.ConvertDir = cfg.ImageStoreDir() + "-staging"
	ic.ImageSizeCap = cfg.Image.ImageSizeCap
	ic.QuotaImages = cfg.Image.QuotaImages
	ic.QuotaSizeTotal = cfg.Image.QuotaSizeTotal
	ic.PolicyFile = cfg.Image.PolicyFile
	svc, err := image.New(ctx, ic, image.Options{DB: d, Stores: stores, DefaultStore: cfg.Image.DefaultStore,
		Staging: staging, Bus: b, Log: log})
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return svc, d.Close, nil
}

// OpenIdentity opens the identity service without a bus, for one-shot
// commands such as bootstrap.
func OpenIdentity(ctx context.Context, cfg config.Config, log *slog.Logger) (*identity.Service, func() error, error) {
	d, err := db.Open(ctx, cfg.IdentityDB())
	if err != nil {
		return nil, nil, fmt.Errorf("identity: %w", err)
	}
	svc, err := newIdentity(ctx, cfg, d, log, nil)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return svc, d.Close, nil
}

func newIdentity(ctx context.Context, cfg config.Config, d *db.DB, log *slog.Logger, onChange func()) (*identity.Service, error) {
	return identity.New(ctx, IdentityConfig(cfg), identity.Options{
		DB: d, Log: log, OnChange: onChange,
		LDAPDriver: func(c backend.LDAPConfig) (backend.Reader, error) { return ldap.New(c) },
	})
}

// IdentityConfig turns the file's identity section into the service's.
func IdentityConfig(cfg config.Config) identity.Config {
	ic := cfg.Identity
	out := identity.DefaultConfig()
	out.KeysDir = cfg.Path("identity", "fernet-keys")
	out.MaxActiveKeys = ic.MaxActiveKeys
	out.TokenExpiration = ic.TokenExpiration
	out.AllowExpiredWindow = ic.AllowExpiredWindow
	out.BcryptCost = ic.BcryptCost
	out.ListLimit = ic.ListLimit
	out.LockoutFailureAttempts = ic.LockoutFailureAttempts
	out.LockoutDuration = ic.LockoutDuration
	out.PasswordExpiresDays = ic.PasswordExpiresDays
	out.UniqueLastPasswordCount = ic.UniqueLastPasswordCount
	out.MinimumPasswordAge = ic.MinimumPasswordAge
	out.PasswordRegex = ic.PasswordRegex
	out.PasswordRegexDesc = ic.PasswordRegexDesc
	out.ChangePasswordUponFirst = ic.ChangePasswordUponFirst
	out.PolicyFile = ic.PolicyFile
	if len(ic.LDAP) > 0 {
		out.LDAP = map[string]backend.LDAPConfig{}
		for name, l := range ic.LDAP {
			out.LDAP[name] = backend.LDAPConfig{
				URL: l.URL, User: l.User, Password: l.Password, Suffix: l.Suffix,
				UserTreeDN: l.UserTreeDN, UserObjectClass: l.UserObjectClass, UserIDAttribute: l.UserIDAttribute,
				UserNameAttribute: l.UserNameAttribute, UserMailAttribute: l.UserMailAttribute,
				UserEnabledAttribute: l.UserEnabledAttribute, UserEnabledMask: l.UserEnabledMask,
				UserEnabledInvert: l.UserEnabledInvert, UserEnabledDefault: l.UserEnabledDefault, UserFilter: l.UserFilter,
				GroupTreeDN: l.GroupTreeDN, GroupObjectClass: l.GroupObjectClass, GroupIDAttribute: l.GroupIDAttribute,
				GroupNameAttribute: l.GroupNameAttribute, GroupMemberAttribute: l.GroupMemberAttribute,
				GroupFilter: l.GroupFilter, QueryScope: l.QueryScope, PageSize: l.PageSize,
			}
		}
	}
	return out
}

// newPassword makes a random admin password.
func newPassword() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
