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
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/fake"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor/qemu"
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
}

// runCompute starts the compute services among env.services: the API, the
// scheduler, the conductor and this host's agent.
func runCompute(ctx context.Context, cfg config.Config, env computeEnv) error {
	has := func(s string) bool { return slices.Contains(env.services, s) }
	if has("compute-api") {
		if err := runComputeAPI(ctx, cfg, env); err != nil {
			return err
		}
	}
	if has("compute-agent") {
		if err := runComputeAgents(ctx, cfg, env); err != nil {
			return err
		}
	}
	return nil
}

func runComputeAPI(ctx context.Context, cfg config.Config, env computeEnv) error {
	d, err := db.Open(ctx, cfg.ComputeDB())
	if err != nil {
		return fmt.Errorf("compute: %w", err)
	}
	*env.closers = append(*env.closers, d.Close)
	cc := compute.DefaultConfig()
	cc.PolicyFile = cfg.Compute.PolicyFile
	cc.AuthURI = serviceURL(cfg, "identity")
	log := env.log.With("service", "compute")
	svc, err := compute.New(ctx, cc, compute.Options{DB: d, Log: log, Bus: env.bus})
	if err != nil {
		return fmt.Errorf("compute: %w", err)
	}
	if cfg.Compute.DefaultFlavors {
		if err := svc.EnsureDefaultFlavors(ctx); err != nil {
			return fmt.Errorf("compute: default flavors: %w", err)
		}
	}
	h := svc.Handler(httpx.Options{Log: log, Metrics: env.metrics, Service: "compute"}, env.validator)
	return env.serve("compute-api", cfg.Compute.Port, h)
}

// runComputeAgents starts this machine's agent, or with the fake driver
// and fake_hosts set that many simulated hosts, each its own agent.
func runComputeAgents(ctx context.Context, cfg config.Config, env computeEnv) error {
	if env.tokens == nil {
		return errors.New("compute-agent: no service credentials to fetch images with (set [auth] username and password)")
	}
	host := cfg.ComputeHost()
	images := &imageClient{url: computeImageURL(cfg), tokens: env.tokens}
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
			drivers = append(drivers, hostDriver{host: name,
				driver: fake.New(fake.Config{Host: hypervisor.Host{Hostname: name}})})
		}
	default:
		accel := cfg.Compute.Accel
		if accel == "" {
			accel = "auto"
		}
		dir := cfg.ComputeInstancesDir()
		d, err := qemu.New(qemu.Options{Accel: accel, Hostname: host, InstancesDir: dir, VNC: true,
			Log: env.log.With("service", "compute-agent", "driver", "qemu")})
		if err != nil {
			return fmt.Errorf("compute-agent: %w", err)
		}
		*env.closers = append(*env.closers, d.Close)
		drivers = append(drivers, hostDriver{host: host, instancesDir: dir, driver: d})
	}
	for _, hd := range drivers {
		a, err := agent.New(agent.Options{Host: hd.host, Bus: env.bus, Driver: hd.driver, InstancesDir: hd.instancesDir,
			ImageCacheDir: cfg.ComputeImageCacheDir(), Images: images,
			Log: env.log.With("service", "compute-agent")})
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
