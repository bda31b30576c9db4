package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/compute/agent"
	"github.com/nimbus-cloud/nimbus/internal/compute/conductor"
	"github.com/nimbus-cloud/nimbus/internal/compute/console"
	"github.com/nimbus-cloud/nimbus/internal/compute/glanceclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/qemu"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/metadata"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/scheduler"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// computeEnv is what the compute services of this process share with the
// rest of it.
type computeEnv struct {
	services   []string
	bus        *bus.Bus
	validator  authn.Validator
	tokens     authn.TokenSource // the service user's, for calls to placement and image
	log        *slog.Logger
	metrics    *httpx.Metrics
	serve      func(name string, port int, h http.Handler) error
	closers    *[]func() error
	background *sync.WaitGroup // loops that must end before the bus closes
	// agentOptional lets `nimbus up` start without this host's agent when
	// QEMU is not installed (a warning says what to install), rather than
	// not at all; `nimbus serve compute-agent` fails instead.
	agentOptional bool
}

// runCompute starts the compute services among env.services: the API, the
// scheduler, the conductor, this host's agent(s), the metadata API and the
// console proxies. Those of one process share one compute database.
func runCompute(ctx context.Context, cfg config.Config, env computeEnv) error {
	has := func(s string) bool { return slices.Contains(env.services, s) }
	var store *instances.Store
	var computeDB *db.DB
	openDB := func() (*db.DB, error) {
		if computeDB != nil {
			return computeDB, nil
		}
		d, err := db.Open(ctx, cfg.ComputeDB())
		if err != nil {
			return nil, fmt.Errorf("compute: %w", err)
		}
		*env.closers = append(*env.closers, d.Close)
		if err := d.Migrate(ctx, compute.Migrations()); err != nil {
			return nil, fmt.Errorf("compute: %w", err)
		}
		computeDB, store = d, instances.New(d)
		return d, nil
	}
	var api *compute.Service
	if has("compute-api") || has("compute-console") {
		d, err := openDB()
		if err != nil {
			return err
		}
		if api, err = newComputeAPI(ctx, cfg, env, d); err != nil {
			return err
		}
	}
	if has("compute-api") {
		h := api.Handler(httpx.Options{Log: env.log.With("service", "compute"), Metrics: env.metrics, Service: "compute"}, env.validator)
		if err := env.serve("compute-api", cfg.Compute.Port, h); err != nil {
			return err
		}
	}
	var placementClient *placementclient.Client
	if has("compute-scheduler") || has("compute-conductor") {
		if env.tokens == nil {
			return errors.New("compute: no service credentials to call placement with (set [auth] username and password)")
		}
		if _, err := openDB(); err != nil {
			return err
		}
		placementClient = placementclient.New(computePlacementURL(cfg), env.tokens, nil)
	}
	var sched *scheduler.Scheduler
	if has("compute-scheduler") {
		var err error
		sched, err = scheduler.New(scheduler.Options{Hosts: store, Placement: placementClient, Host: cfg.ComputeHost(),
			CandidateCacheTTL: cfg.Compute.CandidateCache, Log: env.log.With("service", "compute-scheduler")})
		if err != nil {
			return err
		}
		env.background.Go(func() {
			if err := sched.Serve(ctx, env.bus, store); err != nil {
				env.log.Error("compute scheduler stopped", "err", err)
			}
		})
	}
	if has("compute-conductor") {
		// A scheduler in this process is called directly; else any one
		// over the bus.
		var selector scheduler.Selector = scheduler.Client{Bus: env.bus}
		if sched != nil {
			selector = sched
		}
		c, err := conductor.New(conductor.Options{Store: store, Bus: env.bus, Scheduler: selector,
			Placement: placementClient, Host: cfg.ComputeHost(), Log: env.log.With("service", "compute-conductor"),
			Images: serviceImages{glanceclient.New(computeImageURL(cfg), nil), env.tokens}})
		if err != nil {
			return err
		}
		env.background.Go(func() {
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				env.log.Error("compute conductor stopped", "err", err)
			}
		})
	}
	if has("compute-agent") {
		if err := runComputeAgents(ctx, cfg, env); err != nil {
			return err
		}
	}
	if has("compute-metadata") {
		if _, err := openDB(); err != nil {
			return err
		}
		md, err := metadata.New(metadata.Options{Store: store, Secret: cfg.Compute.MetadataSecret, DHCPDomain: "novalocal",
			Log: env.log.With("service", "compute-metadata")})
		if err != nil {
			return fmt.Errorf("compute-metadata: %w", err)
		}
		if err := env.serve("compute-metadata", cfg.Compute.MetadataPort, md.Handler()); err != nil {
			return err
		}
	}
	if has("compute-console") {
		tokens := console.NewTokens(computeDB)
		for _, p := range []struct {
			name, typ string
			port      int
		}{{"compute-novncproxy", console.NoVNC, cfg.Compute.NoVNCProxyPort}, {"compute-serialproxy", console.Serial, cfg.Compute.SerialProxyPort}} {
			proxy := console.New(console.Options{Tokens: tokens, Types: []string{p.typ}, WebDir: console.DefaultWebDir,
				Locate: api.ConsoleEndpoint})
			*env.closers = append(*env.closers, func() error { proxy.Close(); return nil })
			if err := env.serve(p.name, p.port, proxy); err != nil {
				return err
			}
		}
	}
	return nil
}

// newComputeAPI makes the compute API's service on d.
func newComputeAPI(ctx context.Context, cfg config.Config, env computeEnv, d *db.DB) (*compute.Service, error) {
	cc := compute.DefaultConfig()
	cc.PolicyFile = cfg.Compute.PolicyFile
	cc.AuthURI = serviceURL(cfg, "identity")
	cc.ForceConfigDrive = cfg.Compute.ForceConfigDrive
	cc.DefaultScheduleZone = cfg.Compute.DefaultScheduleZone
	cc.Console = compute.ConsoleConfig{NoVNCBaseURL: cfg.Compute.NoVNCProxyBaseURL, SerialBaseURL: cfg.Compute.SerialProxyBaseURL,
		NoVNCPort: cfg.Compute.NoVNCProxyPort, SerialPort: cfg.Compute.SerialProxyPort}
	svc, err := compute.New(ctx, cc, compute.Options{DB: d, Log: env.log.With("service", "compute"), Bus: env.bus,
		Images: glanceclient.New(computeImageURL(cfg), nil)})
	if err != nil {
		return nil, fmt.Errorf("compute: %w", err)
	}
	if cfg.Compute.DefaultFlavors {
		if err := svc.EnsureDefaultFlavors(ctx); err != nil {
			return nil, fmt.Errorf("compute: default flavors: %w", err)
		}
	}
	return svc, nil
}

// runComputeAgents starts this machine's agent, or with the fake driver
// and fake_hosts set that many simulated hosts, each its own agent.
func runComputeAgents(ctx context.Context, cfg config.Config, env computeEnv) error {
	if env.tokens == nil {
		return errors.New("compute-agent: no service credentials to fetch images with (set [auth] username and password)")
	}
	host := cfg.ComputeHost()
	images := &imageClient{url: computeImageURL(cfg), tokens: env.tokens}
	log := env.log.With("service", "compute-agent")
	// One cache for every agent of this machine: fake hosts share it.
	cache, err := agent.NewImageCache(cfg.ComputeImageCacheDir(), log)
	if err != nil {
		return fmt.Errorf("compute-agent: %w", err)
	}
	type hostDriver struct {
		host, instancesDir string
		driver             hypervisor.Driver
	}
	var drivers []hostDriver
	switch cfg.Compute.Driver {
	case "fake":
		n := max(cfg.Compute.FakeHosts, 1)
		for i := range n {
			name := host
			if cfg.Compute.FakeHosts > 0 {
				name = host + "-fake-" + strconv.Itoa(i+1)
			}
			d := fake.New(fake.Config{Host: hypervisor.Host{Hostname: name}})
			*env.closers = append(*env.closers, d.Close)
			drivers = append(drivers, hostDriver{host: name, driver: d})
		}
	default:
		accel := cfg.Compute.Accel
		if accel == "" {
			accel = "auto"
		}
		dir := cfg.ComputeInstancesDir()
		d, err := qemu.New(qemu.Options{Accel: accel, Hostname: host, InstancesDir: dir, VNC: true,
			VNCAddress: cfg.Compute.ConsoleHost, Log: log.With("driver", "qemu")})
		if err != nil && env.agentOptional {
			log.Warn("no compute agent on this host: servers will not build until QEMU is installed "+
				"(apt install qemu-system-x86 qemu-utils) and nimbus restarted", "err", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("compute-agent: %w", err)
		}
		*env.closers = append(*env.closers, d.Close)
		drivers = append(drivers, hostDriver{host: host, instancesDir: dir, driver: d})
	}
	for _, hd := range drivers {
		a, err := agent.New(agent.Options{Host: hd.host, Bus: env.bus, Driver: hd.driver, InstancesDir: hd.instancesDir,
			ImageCache: cache, Images: images, ConsoleAddress: cfg.Compute.ConsoleHost, Log: log})
		if err != nil {
			return err
		}
		env.background.Go(func() {
			if err := a.Run(ctx); err != nil && ctx.Err() == nil {
				env.log.Error("compute agent stopped", "host", hd.host, "err", err)
			}
		})
	}
	return nil
}

// computeImageURL is the image API compute calls.
func computeImageURL(cfg config.Config) string {
	if cfg.Compute.ImageURL != "" {
		return cfg.Compute.ImageURL
	}
	return "http://" + net.JoinHostPort(cfg.Host(), strconv.Itoa(cfg.Image.Port))
}

// computePlacementURL is the placement API compute calls.
func computePlacementURL(cfg config.Config) string {
	if cfg.Compute.PlacementURL != "" {
		return cfg.Compute.PlacementURL
	}
	return "http://" + net.JoinHostPort(cfg.Host(), strconv.Itoa(cfg.Placement.Port))
}

// serviceImages deletes images as the service user, for the conductor.
type serviceImages struct {
	client *glanceclient.Client
	tokens authn.TokenSource
}

func (s serviceImages) DeleteImage(ctx context.Context, id string) error {
	tok, err := s.tokens.Token(ctx)
	if err != nil {
		return fmt.Errorf("service token: %w", err)
	}
	return s.client.DeleteImage(ctx, tok, id)
}

// imageClient is the agent's image fetcher and uploader as the service
// user, with a token fetched (and renewed after a 401) per call.
type imageClient struct {
	url    string
	tokens authn.TokenSource
}

var (
	_ agent.ImageFetcher  = (*imageClient)(nil)
	_ agent.ImageUploader = (*imageClient)(nil)
)

func (c *imageClient) glance(ctx context.Context) (*agent.Glance, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("service token: %w", err)
	}
	return &agent.Glance{URL: c.url, Token: tok}, nil
}

// The token source renews the token before it expires, so it is refused
// only when revoked; then the call fails (a build is rescheduled) and,
// as after any failure, the token is dropped so the next call issues a
// new one. Failures are rare enough for that to cost nothing.
func (c *imageClient) Fetch(ctx context.Context, id string, w io.Writer) (string, error) {
	g, err := c.glance(ctx)
	if err != nil {
		return "", err
	}
	format, err := g.Fetch(ctx, id, w)
	if err != nil {
		c.tokens.Invalidate(g.Token)
	}
	return format, err
}

func (c *imageClient) Upload(ctx context.Context, id string, r io.Reader, size int64) error {
	g, err := c.glance(ctx)
	if err != nil {
		return err
	}
	if err := g.Upload(ctx, id, r, size); err != nil {
		c.tokens.Invalidate(g.Token)
		return err
	}
	return nil
}
