package compute

import (
	"context"
	"errors"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// instance loads a server the caller may address: one of its project's,
// or any when it is an admin. Any other, like one that does not exist,
// is Nova's 404, so that a project cannot learn of another's servers.
// Each API then checks its own policy rule against the server's project.
func (s *Service) instance(ctx context.Context, p *authn.Principal, uuid string) (*instances.Instance, error) {
	if p == nil {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	inst, err := s.instances.Get(ctx, uuid, false)
	if errors.Is(err, instances.ErrNotFound) || (err == nil && inst.ProjectID != p.ProjectID && !s.isAdmin(p)) {
		return nil, fault.NotFoundf("Instance %s could not be found.", uuid)
	}
	if err != nil {
		return nil, err
	}
	return inst, nil
}

// instanceTarget is the policy target of a server: its project and user.
func instanceTarget(inst *instances.Instance) map[string]any {
	return map[string]any{"project_id": inst.ProjectID, "user_id": inst.UserID}
}
