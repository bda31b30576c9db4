package agent

import (
	"context"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// rescue boots the guest from the request's image, cached as for a
// build, with its own disk second. The guest's lock is held.
func (a *Agent) rescue(ctx context.Context, req *rpc.Request) rpc.Reply {
	inst := a.guest(req.Instance)
	rs, ok := a.o.Driver.(hypervisor.Rescuer)
	if !ok {
		return fail(a.state(ctx, inst), rpc.Errorf(rpc.CodeUnsupported, false,
			"The %s hypervisor cannot rescue instances.", a.hypervisorType(ctx)))
	}
	if _, err := a.o.Driver.Info(ctx, inst); err != nil {
		return fail(hypervisor.NoState, a.opError(ctx, req, err))
	}
	img := *req.Image
	var fetcher ImageFetcher = a.o.Images
	if img.URL != "" {
		fetcher = &Glance{URL: img.URL, Token: img.Token}
	}
	base, format, err := a.cache.get(ctx, a.life, img, fetcher)
	if err != nil {
		e := imageError(ctx, req.Instance.UUID, img.ID, err)
		// Not a build: the guest is as it was, nothing to reschedule.
		e.Retryable = false
		if e.Code == rpc.CodeImageInvalid || e.Code == rpc.CodeImageFailed {
			e.Message = "Rescue of instance " + req.Instance.UUID + " failed: " + err.Error()
		}
		return fail(a.state(ctx, inst), e)
	}
	if err := rs.Rescue(ctx, inst, base, format); err != nil {
		return fail(a.state(ctx, inst), a.refusedOr(ctx, req, err, "Instance %s cannot be rescued: %v"))
	}
	return rpc.Reply{OK: true, PowerState: a.state(ctx, inst)}
}

// unrescue boots the guest from its own disk again.
func (a *Agent) unrescue(ctx context.Context, req *rpc.Request) rpc.Reply {
	inst := a.guest(req.Instance)
	rs, ok := a.o.Driver.(hypervisor.Rescuer)
	if !ok {
		return fail(a.state(ctx, inst), rpc.Errorf(rpc.CodeUnsupported, false,
			"The %s hypervisor cannot rescue instances.", a.hypervisorType(ctx)))
	}
	if err := rs.Unrescue(ctx, inst); err != nil {
		return fail(a.state(ctx, inst), a.refusedOr(ctx, req, err, "Instance %s is not rescued: %v"))
	}
	return rpc.Reply{OK: true, PowerState: a.state(ctx, inst)}
}

// refusedOr is opError, with a refused operation said in format (the
// uuid, the error).
func (a *Agent) refusedOr(ctx context.Context, req *rpc.Request, err error, format string) *rpc.Error {
	if errors.Is(err, hypervisor.ErrRefused) {
		return rpc.Errorf(rpc.CodeRefused, false, format, req.Instance.UUID, err)
	}
	return a.opError(ctx, req, err)
}
