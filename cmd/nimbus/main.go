// Command nimbus runs an OpenStack-compatible cloud: all of it on one
// machine with `nimbus up`, or chosen services with `nimbus serve`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when NIMBUS_PPROF names an address
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/app"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/identity"
	"github.com/nimbus-cloud/nimbus/internal/identity/fernet"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/placement"
)

const usage = `nimbus runs an OpenStack-compatible cloud.

Usage:
  nimbus up [--data-dir DIR] [--config FILE]     the whole cloud in one process
  nimbus serve SERVICE... [--config FILE]        chosen services (split deployment)
  nimbus bootstrap [--data-dir DIR] [--config FILE] --password PW
                                                 first admin, region and catalog
  nimbus db migrate [SERVICE] [--data-dir DIR] [--config FILE]
  nimbus identity fernet-rotate [--data-dir DIR] [--config FILE]
  nimbus ring [--data-dir DIR] [--config FILE] COMMAND ...
                                                 the object store's ring (create, add, rebalance, ...)
  nimbus version

Run "nimbus COMMAND --help" for a command's options.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "nimbus:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if addr := os.Getenv("NIMBUS_PPROF"); addr != "" {
		// Profiling for benchmarks (go tool pprof http://ADDR/debug/pprof/profile);
		// never on unless asked for, and meant for loopback.
		go func() { fmt.Fprintln(stderr, "nimbus: pprof:", http.ListenAndServe(addr, nil)) }()
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "up":
		return cmdUp(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "bootstrap":
		return cmdBootstrap(args[1:], stdout, stderr)
	case "db":
		if len(args) < 2 || args[1] != "migrate" {
			fmt.Fprint(stderr, "usage: nimbus db migrate [SERVICE] [--data-dir DIR] [--config FILE]\n")
			return flag.ErrHelp
		}
		return cmdMigrate(args[2:], stdout, stderr)
	case "identity":
		if len(args) < 2 || args[1] != "fernet-rotate" {
			fmt.Fprint(stderr, "usage: nimbus identity fernet-rotate [--data-dir DIR] [--config FILE]\n")
			return flag.ErrHelp
		}
		return cmdRotate(args[2:], stdout, stderr)
	case "ring":
		return cmdRing(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "nimbus", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// common are the flags every command shares.
type common struct {
	dataDir, configFile, logLevel, db, bus string
}

func newFlags(name, summary string, stderr io.Writer) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &common{}
	fs.StringVar(&c.dataDir, "data-dir", envOr("NIMBUS_DATA_DIR", "./data"), "directory for all state")
	fs.StringVar(&c.configFile, "config", os.Getenv("NIMBUS_CONFIG"), "TOML configuration file")
	fs.StringVar(&c.logLevel, "log-level", "", "debug, info, warn or error (default from config: info)")
	fs.StringVar(&c.db, "db", "", "identity's database: postgres://... or a SQLite path (default DATA/db/identity.sqlite; other services: NIMBUS_<SERVICE>_DB)")
	fs.StringVar(&c.bus, "bus", "", "NATS server URL, nats://... (default: an embedded server)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: nimbus %s\n\n%s\n\nOptions:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs, c
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *common) load() (config.Config, error) {
	cfg := config.Default(c.dataDir)
	if err := cfg.Load(c.configFile); err != nil {
		return cfg, err
	}
	if c.logLevel != "" {
		cfg.LogLevel = c.logLevel
	}
	if c.db != "" {
		cfg.Identity.DB = c.db
	}
	if c.bus != "" {
		cfg.Bus = c.bus
	}
	return cfg, cfg.Validate()
}

func logger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdUp(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("up", "Start every service in one process, bootstrapping on the first start.\nWrites DATA/clouds.yaml (cloud \"nimbus\") and DATA/admin-openrc.", stderr)
	host := fs.String("listen-host", "", "address to listen on (default 127.0.0.1)")
	testImage := fs.String("test-image", "", "register this test guest image (test/guest/build-image.sh) as public image \""+app.TestImageName+"\"")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if *host != "" {
		cfg.ListenHost = *host
	}
	start := time.Now()
	ctx, stop := signalContext()
	defer stop()
	log := logger(cfg, stderr)
	return app.Run(ctx, cfg, app.Options{Bootstrap: true, Log: log, TestImage: *testImage, Ready: func(eps map[string]string) {
		printEndpoints(stdout, eps)
		fmt.Fprintf(stdout, "credentials: %s and %s\n", cfg.Path("clouds.yaml"), cfg.Path("admin-openrc"))
		fmt.Fprintf(stdout, "try: OS_CLIENT_CONFIG_FILE=%s openstack --os-cloud nimbus token issue\n", cfg.Path("clouds.yaml"))
		fmt.Fprintf(stdout, "nimbus is ready (%d ms)\n", time.Since(start).Milliseconds())
	}})
}

func printEndpoints(w io.Writer, eps map[string]string) {
	names := make([]string, 0, len(eps))
	for n := range eps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "%-10s %s\n", n, eps[n])
	}
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("serve SERVICE...", "Run the named services ("+strings.Join(app.Services, ", ")+") against the configured database and bus.", stderr)
	devices := fs.String("devices", "", "object-storage: comma-separated device directories (default from config)")
	var services []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		services, args = append(services, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	services = append(services, fs.Args()...)
	if len(services) == 0 {
		fs.Usage()
		return errors.New("name at least one service")
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if *devices != "" {
		cfg.ObjectStore.Devices = strings.Split(*devices, ",")
	}
	ctx, stop := signalContext()
	defer stop()
	return app.Run(ctx, cfg, app.Options{Services: services, Log: logger(cfg, stderr), Ready: func(eps map[string]string) {
		printEndpoints(stdout, eps)
		fmt.Fprintln(stdout, "nimbus is ready")
	}})
}

func cmdBootstrap(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("bootstrap", "Create the Default domain, roles, admin project and user, region and identity endpoint\n(like keystone-manage bootstrap). Safe to run again.", stderr)
	password := fs.String("password", os.Getenv("NIMBUS_BOOTSTRAP_PASSWORD"), "admin password, used if the admin user does not exist yet")
	publicURL := fs.String("public-url", "", "identity URL for the catalog (default http://HOST:PORT/v3)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	svc, closeDB, err := app.OpenIdentity(ctx, cfg, logger(cfg, stderr))
	if err != nil {
		return err
	}
	defer closeDB()
	url := *publicURL
	if url == "" {
		url = fmt.Sprintf("http://%s:%d/v3", cfg.Host(), cfg.Identity.Port)
	}
	res, err := svc.Bootstrap(ctx, identity.BootstrapOptions{AdminUser: "admin", AdminPassword: *password, AdminProject: "admin",
		Region: cfg.Region, Services: []identity.BootstrapService{{Type: "identity", Name: "keystone",
			URLs: map[string]string{"public": url, "internal": url, "admin": url}}}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admin user %s, admin project %s (created: %v)\n", res.AdminUserID, res.AdminProjectID, res.Created)
	return nil
}

func cmdMigrate(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("db migrate [SERVICE]", "Apply database migrations (they also run at start).", stderr)
	var services []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		services, args = append(services, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	// The services with a database of their own.
	databases := map[string]struct {
		dsn        string
		migrations iofs.FS
	}{
		"identity":  {cfg.IdentityDB(), identity.Migrations()},
		"image":     {cfg.ImageDB(), image.Migrations()},
		"placement": {cfg.PlacementDB(), placement.Migrations()},
		"compute":   {cfg.ComputeDB(), compute.Migrations()},
	}
	if len(services) == 0 {
		services = []string{"identity", "image", "placement", "compute"}
	}
	for _, s := range services {
		target, ok := databases[s]
		if !ok {
			return fmt.Errorf("unknown service %q (with a database: identity, image, placement, compute)", s)
		}
		d, err := db.Open(context.Background(), target.dsn)
		if err != nil {
			return err
		}
		err = d.Migrate(context.Background(), target.migrations)
		d.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: migrated\n", s)
	}
	return nil
}

func cmdRotate(args []string, stdout, stderr io.Writer) error {
	fs, c := newFlags("identity fernet-rotate", "Rotate the Fernet keys: the staged key becomes primary, a new staged key is made,\nand keys beyond max_active_keys are removed.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	dir := app.IdentityConfig(cfg).KeysDir
	if err := fernet.Setup(dir); err != nil {
		return err
	}
	if err := fernet.Rotate(dir, cfg.Identity.MaxActiveKeys); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated keys in %s\n", dir)
	return nil
}
