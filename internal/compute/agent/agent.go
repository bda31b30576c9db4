// Package agent is the compute agent, one per host: it serves the
// conductor's requests (rpc.Subject(host)) by running them on the host's
// hypervisor driver, reports every change of a guest's power state to the
// conductors' update queue, and heartbeats the host's resources. It never
// opens the database: requests carry what a guest needs, and the agent
// keeps only its own record of each guest, next to the guest's files, to
// run it again after a restart.
//
// Operations on one guest run one at a time, in the order they take the
// guest's lock; guests are independent. A restarted agent re-adopts the
// guests it finds running without touching them, and reports what it
// found. Images are downloaded once per host into a cache that guests'
// disks are overlays on.
package agent

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// Options configure an Agent.
type Options struct {
	// Host is this compute host's name, as the scheduler and the API
	// know it (Nova's CONF.host); the agent serves rpc.Subject(Host).
	Host   string
	Bus    *bus.Bus
	Driver hypervisor.Driver
	// InstancesDir holds one directory per guest, named by its UUID
	// (DATA/compute/instances, the qemu driver's InstancesDir too): the
	// agent's record of the guest and its config drive, beside the
	// driver's files. "" keeps records in memory and builds no config
	// drives: for the fake driver at scale only.
	InstancesDir string
	// ImageCacheDir holds the cached base images (DATA/compute/image-cache).
	ImageCacheDir string
	// ImageCache, when set, is used instead of a cache of the agent's
	// own on ImageCacheDir (which may then be ""): agents of fake hosts
	// in one process share one.
	ImageCache *ImageCache
	// Images fetches an image a build request gives no URL for; nil
	// when requests always carry one. If it is also an ImageUploader,
	// snapshots without a URL upload through it.
	Images ImageFetcher
	Log    *slog.Logger // nil discards
	// HeartbeatInterval is the time between heartbeats; 0 is
	// rpc.DefaultHeartbeatInterval (10s).
	HeartbeatInterval time.Duration
	// HostIP is the address other hosts reach this one at (Nova's
	// my_ip), reported in heartbeats for os-hypervisors' host_ip and
	// given for console endpoints on an unspecified address; default the
	// first non-loopback IPv4 address of the host, else 127.0.0.1.
	HostIP string
	// ConsoleAddress is the IP address serial console endpoints listen
	// on (rpc.GetConsole), which console proxies must reach; give the
	// qemu driver's VNC the same. Default 127.0.0.1: proxies on this
	// host only.
	ConsoleAddress string
	// SyncInterval is the time between checks of every guest's power
	// state, which report what changed without the driver saying so
	// (Nova's sync_power_state_interval); 0 is 10 minutes, negative
	// never.
	SyncInterval time.Duration
}

// Agent is one host's compute agent. Make it with New, run it with Run.
type Agent struct {
	o     Options
	log   *slog.Logger
	boot  string
	cache *ImageCache
	locks locks
	out   *outbox
	life  context.Context // Run's: cancelled when the agent stops

	consoles sync.WaitGroup // serial console relays

	mu       sync.Mutex
	records  map[string]*record
	reported map[string]hypervisor.PowerState // last power state sent, by uuid
	running  bool
}

// New checks o and makes an Agent.
func New(o Options) (*Agent, error) {
	switch {
	case o.Host == "" || strings.ContainsAny(o.Host, "*> \t\r\n") || strings.Contains(o.Host, "..") ||
		strings.HasPrefix(o.Host, ".") || strings.HasSuffix(o.Host, "."):
		return nil, fmt.Errorf("compute agent: invalid host name %q", o.Host)
	case o.Bus == nil:
		return nil, errors.New("compute agent: no bus")
	case o.Driver == nil:
		return nil, errors.New("compute agent: no hypervisor driver")
	case o.ImageCacheDir == "" && o.ImageCache == nil:
		return nil, errors.New("compute agent: no image cache directory")
	}
	var err error
	if o.InstancesDir != "" {
		if o.InstancesDir, err = filepath.Abs(o.InstancesDir); err != nil {
			return nil, fmt.Errorf("compute agent: %w", err)
		}
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = rpc.DefaultHeartbeatInterval
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HostIP == "" {
		o.HostIP = defaultHostIP()
	}
	if o.ConsoleAddress == "" {
		o.ConsoleAddress = "127.0.0.1"
	}
	if net.ParseIP(o.HostIP) == nil || net.ParseIP(o.ConsoleAddress) == nil {
		return nil, fmt.Errorf("compute agent: host IP %q and console address %q must be IP addresses", o.HostIP, o.ConsoleAddress)
	}
	log := o.Log.With("host", o.Host)
	if o.ImageCache == nil {
		if o.ImageCache, err = NewImageCache(o.ImageCacheDir, log); err != nil {
			return nil, fmt.Errorf("compute agent: %w", err)
		}
	}
	o.ImageCacheDir = o.ImageCache.dir
	var id [8]byte
	crand.Read(id[:])
	boot := hex.EncodeToString(id[:])
	return &Agent{
		o:        o,
		log:      log,
		boot:     boot,
		cache:    o.ImageCache,
		out:      newOutbox(o.Bus, log, o.Host, boot),
		records:  map[string]*record{},
		reported: map[string]hypervisor.PowerState{},
	}, nil
}

// flushTimeout bounds how long a stopping agent tries to send the
// updates it still holds.
const flushTimeout = 5 * time.Second

// Run serves requests until ctx is done, then stops: it lets operations
// in flight finish (their contexts are cancelled), sends a last heartbeat
// saying it stops, and the updates it still holds. Guests keep running.
// It returns an error only if the agent could not start.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("compute agent: already running")
	}
	a.running = true
	a.mu.Unlock()

	if err := a.cache.prepare(); err != nil {
		return fmt.Errorf("compute agent: image cache: %w", err)
	}
	if a.o.InstancesDir != "" {
		if err := os.MkdirAll(a.o.InstancesDir, 0o750); err != nil {
			return fmt.Errorf("compute agent: %w", err)
		}
	}
	if err := a.loadRecords(); err != nil {
		return fmt.Errorf("compute agent: %w", err)
	}

	life, stopLife := context.WithCancel(ctx)
	defer stopLife()
	a.life = life
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSend()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		a.out.run(sendCtx)
	}()
	finish := func() {
		a.out.close()
		select {
		case <-sent:
		case <-time.After(flushTimeout):
			stopSend()
			<-sent
		}
	}

	var wg sync.WaitGroup
	// Events first, so that nothing happening during adoption is missed.
	events := a.o.Driver.Events(life)
	wg.Go(func() { a.forwardEvents(events) })
	a.adopt(life)

	stopServe, err := a.o.Bus.Serve(rpc.Subject(a.o.Host), a.handle)
	if err != nil {
		stopLife()
		wg.Wait()
		finish()
		return fmt.Errorf("compute agent: %w", err)
	}
	a.log.Info("compute agent serving", "subject", rpc.Subject(a.o.Host))
	wg.Go(func() { a.heartbeats(life) })
	if a.o.SyncInterval > 0 {
		wg.Go(func() { a.syncLoop(life) })
	}

	<-life.Done()
	stopServe() // cancelled through life, operations in flight end soon
	wg.Wait()
	a.consoles.Wait()
	a.heartbeat(context.Background(), true)
	finish()
	a.log.Info("compute agent stopped")
	return nil
}

// adopt reports every guest the host has: those the driver runs (which
// it now watches again, untouched) and those the agent has records of,
// running or not. A recorded guest the driver does not know is reported
// with power state 0, for the conductor to decide.
func (a *Agent) adopt(ctx context.Context) {
	for _, uuid := range a.knownUUIDs(ctx) {
		state := a.state(ctx, a.guest(rpc.Instance{UUID: uuid}))
		a.report(rpc.Update{UUID: uuid, PowerState: state, Event: rpc.EventSync})
		a.log.Info("guest found", "uuid", uuid, "power_state", state)
	}
}

// knownUUIDs lists the guests the agent has records of, has reported,
// or the driver runs.
func (a *Agent) knownUUIDs(ctx context.Context) []string {
	running, err := a.o.Driver.Running(ctx)
	if err != nil {
		a.log.Warn("list running guests", "err", err)
	}
	a.mu.Lock()
	set := map[string]bool{}
	for uuid := range a.records {
		set[uuid] = true
	}
	for uuid := range a.reported {
		set[uuid] = true
	}
	a.mu.Unlock()
	for _, uuid := range running {
		set[uuid] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// state asks the driver for a guest's power state: 0 when it has no such
// guest or cannot tell.
func (a *Agent) state(ctx context.Context, inst hypervisor.Instance) hypervisor.PowerState {
	if ctx.Err() != nil {
		// The operation was cut short; what happened still counts.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	info, err := a.o.Driver.Info(ctx, inst)
	if err != nil {
		if !errors.Is(err, hypervisor.ErrNotFound) {
			a.log.Warn("guest info", "uuid", inst.UUID, "err", err)
		}
		return hypervisor.NoState
	}
	return info.State
}

// report queues an update and remembers the state sent.
func (a *Agent) report(u rpc.Update) {
	a.mu.Lock()
	_, recorded := a.records[u.UUID]
	if u.PowerState == hypervisor.NoState && !recorded {
		// Destroyed, or never here: nothing to watch.
		delete(a.reported, u.UUID)
	} else {
		a.reported[u.UUID] = u.PowerState
	}
	a.mu.Unlock()
	a.out.add(u)
}

// forwardEvents reports the power state changes the driver saw on its own.
func (a *Agent) forwardEvents(events <-chan hypervisor.Event) {
	for ev := range events {
		a.log.Info("guest changed on its own", "uuid", ev.UUID, "power_state", ev.State)
		a.report(rpc.Update{UUID: ev.UUID, PowerState: ev.State, Event: rpc.EventLifecycle})
	}
}

// syncLoop checks every guest's state now and then and reports those not
// as last reported: events can be missed (a driver restarting its watch).
func (a *Agent) syncLoop(ctx context.Context) {
	t := time.NewTimer(jitter(a.o.SyncInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(jitter(a.o.SyncInterval))
		for _, uuid := range a.knownUUIDs(ctx) {
			unlock, ok := a.locks.tryLock(uuid)
			if !ok {
				continue // an operation runs and will report
			}
			state := a.state(ctx, a.guest(rpc.Instance{UUID: uuid}))
			a.mu.Lock()
			last, seen := a.reported[uuid]
			a.mu.Unlock()
			if ctx.Err() == nil && (!seen || last != state) {
				a.report(rpc.Update{UUID: uuid, PowerState: state, Event: rpc.EventSync})
			}
			unlock()
		}
	}
}

// heartbeats tells the conductors this host is alive: now, then after
// a random part of HeartbeatInterval, then every 80-100% of it, so that
// the heartbeats of many agents started at once (a thousand fake hosts in
// one process) spread out instead of arriving together; never later than
// the interval the heartbeat announces.
func (a *Agent) heartbeats(ctx context.Context) {
	t := time.NewTimer(rand.N(a.o.HeartbeatInterval) + 1)
	defer t.Stop()
	a.heartbeat(ctx, false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.heartbeat(ctx, false)
		t.Reset(jitter(a.o.HeartbeatInterval))
	}
}

// jitter is 80% of d plus a random part of the rest.
func jitter(d time.Duration) time.Duration {
	return d - rand.N(d/5+1)
}

func (a *Agent) heartbeat(ctx context.Context, stopping bool) {
	ctx, cancel := context.WithTimeout(ctx, a.o.HeartbeatInterval)
	defer cancel()
	hb := rpc.Heartbeat{
		V:        rpc.Version,
		Host:     a.o.Host,
		Binary:   rpc.Binary,
		At:       time.Now().UTC(),
		Boot:     a.boot,
		Interval: a.o.HeartbeatInterval.Seconds(),
		Stopping: stopping,
	}
	if h, err := a.o.Driver.Host(ctx); err != nil {
		a.log.Warn("host resources", "err", err)
	} else {
		hb.Resources = rpc.ResourcesOf(h)
	}
	hb.Resources.HostIP = a.o.HostIP
	if running, err := a.o.Driver.Running(ctx); err == nil {
		hb.RunningVMs = len(running)
	}
	err := a.o.Bus.Notify(rpc.HeartbeatService, bus.Notification{
		EventType:   rpc.HeartbeatEvent,
		PublisherID: rpc.Subject(a.o.Host),
		Timestamp:   hb.At,
		Payload:     hb,
	})
	if err != nil {
		a.log.Warn("heartbeat", "err", err)
	}
}

// defaultHostIP is the first non-loopback IPv4 address of the host's
// interfaces that are up, else 127.0.0.1.
func defaultHostIP() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, addr := range addrs {
			if n, ok := addr.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				return n.IP.To4().String()
			}
		}
	}
	return "127.0.0.1"
}
