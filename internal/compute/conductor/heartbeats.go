package conductor

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// hostTable is what this conductor last heard from each agent, to end a
// wait on an agent that died (its heartbeats stop, or it restarted).
type hostTable struct {
	mu sync.Mutex
	m  map[string]*hostSeen
}

type hostSeen struct {
	at       time.Time // local clock
	boot     string
	interval time.Duration
	stopping bool
}

func (t *hostTable) saw(hb rpc.Heartbeat, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	iv := time.Duration(hb.Interval * float64(time.Second))
	if iv <= 0 {
		iv = rpc.DefaultHeartbeatInterval
	}
	t.m[hb.Host] = &hostSeen{at: now, boot: hb.Boot, interval: iv, stopping: hb.Stopping}
}

// gone says why a host's agent can no longer answer a request sent when
// it was on boot (the boot seen then; "" when none was seen): it said it
// stops, it restarted, or it has been silent for three heartbeats (at
// most rpc.DownTime). "" while it seems alive or was never heard of.
func (t *hostTable) gone(host, boot string, now time.Time) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	h := t.m[host]
	switch {
	case h == nil:
		return ""
	case h.stopping:
		return "the compute agent stopped"
	case boot != "" && h.boot != boot:
		return "the compute agent restarted"
	case now.Sub(h.at) > min(max(3*h.interval, 5*time.Second), rpc.DownTime):
		return "the compute agent stopped reporting"
	}
	return ""
}

func (t *hostTable) boot(host string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.m[host]; h != nil {
		return h.boot
	}
	return ""
}

// heartbeat lanes: heartbeats are handled by a few workers, each host
// always by the same one so that its heartbeats apply in order, and a
// slow placement call holds up only its lane.
const heartbeatLanes = 8

type heartbeatLanesT struct {
	lanes [heartbeatLanes]chan rpc.Heartbeat
}

func (c *Conductor) onHeartbeatNotification(n bus.Notification) {
	hb, err := rpc.DecodeHeartbeat(n)
	if err != nil {
		c.log.Warn("drop heartbeat", "err", err)
		return
	}
	c.hosts.saw(hb, time.Now())
	h := fnv.New32a()
	h.Write([]byte(hb.Host))
	select {
	case c.lanes().lanes[h.Sum32()%heartbeatLanes] <- hb:
	default:
		// The lane is backed up: the next heartbeat says the same.
		c.log.Debug("heartbeat lane full, dropped one", "host", hb.Host)
	}
}

func (c *Conductor) lanes() *heartbeatLanesT {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hbLanes == nil {
		c.hbLanes = &heartbeatLanesT{}
		for i := range c.hbLanes.lanes {
			c.hbLanes.lanes[i] = make(chan rpc.Heartbeat, 256)
		}
	}
	return c.hbLanes
}

// startHeartbeatWorkers runs the lanes until ctx ends; the channel is
// closed when they have stopped.
func (c *Conductor) startHeartbeatWorkers(ctx context.Context) <-chan struct{} {
	l := c.lanes()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := range l.lanes {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case hb := <-l.lanes[i]:
					c.heartbeat(ctx, hb)
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

// nodeState is what the conductor last wrote of a host's node: skipped
// when a heartbeat says the same again.
type nodeState struct {
	res      rpc.Resources
	node     instances.ComputeNode
	synced   bool // placement matches
	disabled bool
}

// heartbeat records an agent's heartbeat: its nova-compute service's
// last_seen_up (long past when the agent says it stops, so that it shows
// down at once), its compute node, and the node's resource provider.
func (c *Conductor) heartbeat(ctx context.Context, hb rpc.Heartbeat) {
	log := c.log.With("host", hb.Host)
	at := time.Now()
	if hb.Stopping {
		at = at.Add(-rpc.DownTime - time.Second)
	}
	iv := time.Duration(hb.Interval * float64(time.Second))
	svc, _, err := c.store.Heartbeat(ctx, hb.Host, rpc.Binary, at, iv)
	if err != nil {
		log.Warn("record heartbeat", "err", err)
		return
	}
	if hb.Stopping || hb.Resources.HypervisorHostname == "" {
		return
	}
	c.mu.Lock()
	st, ok := c.nodeCache[hb.Host]
	c.mu.Unlock()
	if !ok || st.res != hb.Resources {
		n, err := c.store.PutComputeNode(ctx, instances.ComputeNode{
			Host: hb.Host, HypervisorHostname: hb.Resources.HypervisorHostname,
			HypervisorType: hb.Resources.HypervisorType, HypervisorVersion: hb.Resources.HypervisorVersion,
			VCPUs: hb.Resources.VCPUs, MemoryMB: hb.Resources.MemoryMB, LocalGB: hb.Resources.LocalGB,
			CPUInfo: hb.Resources.CPUInfo, HostIP: hb.Resources.HostIP,
		})
		if err != nil {
			log.Warn("record compute node", "err", err)
			return
		}
		st = nodeState{res: hb.Resources, node: *n}
	}
	if !st.synced || st.disabled != svc.Disabled {
		if err := c.syncProvider(ctx, hb.Host, st.node, svc.Disabled); err != nil {
			log.Warn("sync resource provider", "node", st.node.UUID, "err", err)
			st.synced = false
		} else {
			st.synced, st.disabled = true, svc.Disabled
		}
	}
	c.mu.Lock()
	c.nodeCache[hb.Host] = st
	c.mu.Unlock()
}

// syncProvider makes the node's resource provider match it. Its name is
// the node's hypervisor hostname (as Nova's); fake hosts on one machine
// share that name, so a name taken by another provider falls back to
// "host:node".
func (c *Conductor) syncProvider(ctx context.Context, host string, n instances.ComputeNode, disabled bool) error {
	spec := placementclient.ProviderSpec{
		UUID: n.UUID, Name: n.HypervisorHostname,
		Inventories: placementclient.ComputeInventories(int64(n.VCPUs), int64(n.MemoryMB), int64(n.LocalGB), c.o.Ratios),
		Traits:      placementclient.ComputeTraits(n.HypervisorType, disabled),
	}
	err := c.o.Placement.SyncProvider(ctx, spec)
	if isDuplicateName(err) {
		spec.Name = host + ":" + n.HypervisorHostname
		err = c.o.Placement.SyncProvider(ctx, spec)
	}
	return err
}

func isDuplicateName(err error) bool {
	var e *placementclient.Error
	return asPlacementError(err, &e) && e.Code == placementclient.CodeDuplicateName
}
