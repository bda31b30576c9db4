package httpx

import (
	"context"

	"github.com/google/uuid"
)

// RequestIDHeader carries the request id in responses and to downstream
// services, as oslo.middleware does.
const RequestIDHeader = "X-Openstack-Request-Id"

type requestIDKey struct{}

// NewRequestID makes an id in OpenStack's "req-<uuid>" form.
func NewRequestID() string { return "req-" + uuid.NewString() }

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID accepts a caller's id only in our own form, so clients
// cannot inject arbitrary text into our logs.
func validRequestID(id string) bool {
	if len(id) != len("req-")+36 || id[:4] != "req-" {
		return false
	}
	_, err := uuid.Parse(id[4:])
	return err == nil
}
