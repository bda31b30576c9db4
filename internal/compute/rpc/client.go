package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/nimbus-cloud/nimbus/internal/bus"
)

// ErrUnreachable means no agent serves the host: it is down, or was never
// started. The request was not delivered.
var ErrUnreachable = errors.New("compute agent unreachable")

// Client calls agents, for the conductor.
type Client struct {
	Bus *bus.Bus
}

// Call sends req (with V set to Version when 0) to the agent of host and
// waits for its reply, at most until ctx's deadline (bus.DefaultCallTimeout
// without one; a build needs more). A failed operation returns the reply
// and its *Error; a request that got no answer returns an error wrapping
// ErrUnreachable or the context's error, and then the operation may or
// may not have happened: its Update tells.
func (c Client) Call(ctx context.Context, host string, req Request) (Reply, error) {
	if req.V == 0 {
		req.V = Version
	}
	var rep Reply
	if err := c.Bus.Call(ctx, Subject(host), req, &rep); err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return Reply{}, fmt.Errorf("%s %s on %s: %w", req.Op, req.Instance.UUID, host, ErrUnreachable)
		}
		return Reply{}, fmt.Errorf("%s %s on %s: %w", req.Op, req.Instance.UUID, host, err)
	}
	if !rep.OK {
		if rep.Error == nil {
			rep.Error = Errorf(CodeFailed, false, "%s failed without a reason", req.Op)
		}
		return rep, rep.Error
	}
	return rep, nil
}
