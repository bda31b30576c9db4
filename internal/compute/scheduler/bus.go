package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/bus"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Subject is where schedulers answer Select requests (a queue group: any
// one of them answers). Not under "compute.", where agents serve hosts.
const Subject = "compute-scheduler.select"

// Binary is the scheduler's service binary in os-services.
const Binary = "nova-scheduler"

// noValidHostType marks a NoValidHost on the bus (fault.Error.Type).
const noValidHostType = "NoValidHost"

// Heartbeater records a service's heartbeat (*instances.Store).
type Heartbeater interface {
	Heartbeat(ctx context.Context, host, binary string, at time.Time, interval time.Duration) (*instances.Service, bool, error)
}

// Serve answers Select requests on b until ctx ends, and while it runs
// heartbeats as the nova-scheduler service of Options.Host when hb is not
// nil. It returns when ctx ends.
func (s *Scheduler) Serve(ctx context.Context, b *bus.Bus, hb Heartbeater) error {
	stop, err := b.Serve(Subject, func(ctx context.Context, body []byte) ([]byte, error) {
		var r Request
		if err := json.Unmarshal(body, &r); err != nil || r.UUID == "" {
			return nil, fault.BadRequestf("bad scheduler request")
		}
		sel, err := s.SelectRequest(ctx, r)
		var nvh *NoValidHost
		if errors.As(err, &nvh) {
			return nil, &fault.Error{Kind: fault.Conflict, Type: noValidHostType, Msg: nvh.Reason}
		}
		if err != nil {
			s.log.Error("select", "instance", r.UUID, "err", err)
			return nil, err
		}
		return json.Marshal(sel)
	})
	if err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	defer stop()
	if hb == nil {
		<-ctx.Done()
		return nil
	}
	Heartbeats(ctx, s.log, hb, s.o.Host, Binary)
	return nil
}

// HeartbeatInterval is how often the scheduler and conductor report
// themselves (Nova's report_interval).
const HeartbeatInterval = 10 * time.Second

// Heartbeats records host/binary's heartbeat now and every
// HeartbeatInterval until ctx ends.
func Heartbeats(ctx context.Context, log interface{ Warn(string, ...any) }, hb Heartbeater, host, binary string) {
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	for {
		if _, _, err := hb.Heartbeat(ctx, host, binary, time.Now(), HeartbeatInterval); err != nil && ctx.Err() == nil {
			log.Warn("heartbeat", "binary", binary, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Client is a Selector that asks a scheduler over the bus.
type Client struct {
	Bus *bus.Bus
	// Timeout bounds one Select; 0 is 60 seconds.
	Timeout time.Duration
}

var _ Selector = Client{}

// Select asks a scheduler for a host for inst; a NoValidHost comes back
// as one.
func (c Client) Select(ctx context.Context, inst *instances.Instance, flavor instances.Flavor, ignoreHosts []string) (Selection, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var sel Selection
	err := c.Bus.Call(ctx, Subject, RequestOf(inst, flavor, ignoreHosts), &sel)
	var re *bus.RPCError
	if errors.As(err, &re) && re.Type == noValidHostType {
		return Selection{}, &NoValidHost{Reason: re.Msg}
	}
	if err != nil {
		return Selection{}, fmt.Errorf("scheduler: %w", err)
	}
	return sel, nil
}
