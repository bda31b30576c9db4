package compute

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// A hypervisor's uptime is asked of its host's agent (Nova's
// get_host_uptime), which answers what `uptime` prints there: on
// GET /os-hypervisors/{id}/uptime before 2.88, in the detail views from
// 2.88.

// uptimeTimeout bounds one host's answer: a host that does not answer
// in time has no uptime.
const uptimeTimeout = 5 * time.Second

// errNoUptime is a host that cannot tell its uptime: its agent predates
// the operation, or this API has no bus to ask it on.
var errNoUptime = errors.New("the host's agent does not report its uptime")

// HostUptime is what `uptime` prints on hv's host. A host whose service
// is down, or whose agent does not answer, is Nova's
// ComputeServiceUnavailable (400).
func (s *Service) HostUptime(ctx context.Context, hv *Hypervisor) (string, error) {
	unavailable := fault.BadRequestf("Compute service of %s is unavailable at this time.", hv.Host)
	if !hv.Up {
		return "", unavailable
	}
	if s.bus == nil {
		return "", errNoUptime // no way to ask a host
	}
	ctx, cancel := context.WithTimeout(ctx, uptimeTimeout)
	defer cancel()
	rep, err := rpc.Client{Bus: s.bus}.Call(ctx, hv.Host, rpc.Request{Op: rpc.HostUptime, RequestID: httpx.RequestID(ctx)})
	var re *rpc.Error
	switch {
	case errors.As(err, &re) && re.Code == rpc.CodeBadRequest:
		return "", fmt.Errorf("uptime of %s: %w (%v)", hv.Host, errNoUptime, err)
	case errors.Is(err, rpc.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded):
		unavailable.Err = err
		return "", unavailable
	case err != nil:
		return "", fmt.Errorf("uptime of %s: %w", hv.Host, err)
	case rep.Output == nil:
		return "", fmt.Errorf("uptime of %s: the agent answered none", hv.Host)
	}
	return *rep.Output, nil
}

// fillUptimes sets the uptime of each hypervisor whose host tells it,
// asking the hosts at once; the others keep none, as Nova's detail view.
func (s *Service) fillUptimes(ctx context.Context, list []*Hypervisor) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, hv := range list {
		if !hv.Up {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if up, err := s.HostUptime(ctx, hv); err == nil {
				hv.Uptime = &up
			}
		}()
	}
	wg.Wait()
}

// hypervisorUptime is GET /os-hypervisors/{id}/uptime (until 2.87).
func (h *handlers) hypervisorUptime(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.authorize(principal(r), policyHypervisorsUptime, map[string]any{}); err != nil {
		return err
	}
	id, err := hypervisorID(r)
	if err != nil {
		return err
	}
	hv, err := h.svc.GetHypervisor(r.Context(), principal(r), policyHypervisorsUptime, id, false)
	if err != nil {
		return err
	}
	up, err := h.svc.HostUptime(r.Context(), hv)
	if errors.Is(err, errNoUptime) {
		return fault.Wrap(fault.NotImplemented, err, "The requested functionality is not supported.")
	}
	if err != nil {
		return err
	}
	out := toHypervisor(r, hv, false, false)
	out["uptime"] = up
	return writeJSON(w, http.StatusOK, map[string]any{"hypervisor": out})
}
