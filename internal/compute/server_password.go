package compute

import (
	"context"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/metadata"
)

// os-server-password: the password a guest posted to the metadata API
// (encrypted with the server's key), shown to its owner and cleared on
// request. Clearing does not change the guest's password; it lets the
// guest post a new one.

// ServerPassword returns the password the guest posted, "" if none.
func (s *Service) ServerPassword(ctx context.Context, p *authn.Principal, uuid string) (string, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return "", err
	}
	if err := s.authorize(p, policyServerPasswordShow, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return "", err
	}
	return metadata.Passwords{DB: s.db}.Get(ctx, inst.UUID)
}

// ClearServerPassword forgets the password the guest posted.
func (s *Service) ClearServerPassword(ctx context.Context, p *authn.Principal, uuid string) error {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return err
	}
	if err := s.authorize(p, policyServerPasswordClear, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return err
	}
	return metadata.Passwords{DB: s.db}.Clear(ctx, inst.UUID)
}

func (h *handlers) showServerPassword(w http.ResponseWriter, r *http.Request) error {
	pw, err := h.svc.ServerPassword(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"password": pw})
}

func (h *handlers) clearServerPassword(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.ClearServerPassword(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}
