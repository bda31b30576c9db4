package compute

import (
	"context"
	"errors"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Server metadata (/servers/{id}/metadata), as Nova's server_metadata.py
// and compute API's update_instance_metadata.

// metadataStates are the vm states metadata may change in.
var metadataStates = []string{instances.Active, instances.Paused, instances.Suspended, instances.Stopped}

// serverFor loads a server and checks rule against its project.
func (s *Service) serverFor(ctx context.Context, p *authn.Principal, uuid, rule string) (*instances.Instance, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, rule, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	return inst, nil
}

// ServerMetadata returns a server's metadata.
func (s *Service) ServerMetadata(ctx context.Context, p *authn.Principal, uuid string) (map[string]string, error) {
	inst, err := s.serverFor(ctx, p, uuid, policyMetadataIndex)
	if err != nil {
		return nil, err
	}
	return orEmpty(inst.Metadata), nil
}

// ServerMetadataItem returns one item.
func (s *Service) ServerMetadataItem(ctx context.Context, p *authn.Principal, uuid, key string) (string, error) {
	inst, err := s.serverFor(ctx, p, uuid, policyMetadataShow)
	if err != nil {
		return "", err
	}
	v, ok := inst.Metadata[key]
	if !ok {
		return "", fault.NotFoundf("Metadata item was not found")
	}
	return v, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// checkMetadataChange is what Nova checks before changing metadata: the
// lock and the vm state.
func (s *Service) checkMetadataChange(p *authn.Principal, inst *instances.Instance, action string) error {
	if err := s.serverLocked(p, inst); err != nil {
		return err
	}
	if !contains(metadataStates, inst.VMState) {
		return serverConflict(action, inst.UUID, "vm_state", inst.VMState)
	}
	return nil
}

// SetServerMetadata merges md into the metadata, or replaces it, within
// the metadata_items quota; rule is the policy of the call (create,
// update, update_all).
func (s *Service) SetServerMetadata(ctx context.Context, p *authn.Principal, uuid, rule string, md map[string]string,
	replace bool) (map[string]string, error) {
	inst, err := s.serverFor(ctx, p, uuid, rule)
	if err != nil {
		return nil, err
	}
	if err := s.checkMetadataChange(p, inst, "update metadata"); err != nil {
		return nil, err
	}
	n := len(md)
	if !replace {
		merged := map[string]string{}
		for k, v := range inst.Metadata {
			merged[k] = v
		}
		for k, v := range md {
			merged[k] = v
		}
		n = len(merged)
	}
	if err := s.checkMetadataQuota(ctx, s.db, inst.ProjectID, n); err != nil {
		return nil, err
	}
	out, err := s.instances.SetMetadata(ctx, uuid, md, replace)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, serverNotFound(uuid)
	}
	return orEmpty(out), err
}

// DeleteServerMetadata removes one item.
func (s *Service) DeleteServerMetadata(ctx context.Context, p *authn.Principal, uuid, key string) error {
	inst, err := s.serverFor(ctx, p, uuid, policyMetadataDelete)
	if err != nil {
		return err
	}
	if _, ok := inst.Metadata[key]; !ok {
		return fault.NotFoundf("Metadata item was not found")
	}
	if err := s.checkMetadataChange(p, inst, "delete metadata"); err != nil {
		return err
	}
	err = s.instances.DeleteMetadataKey(ctx, uuid, key)
	if errors.Is(err, instances.ErrNotFound) {
		return fault.NotFoundf("Metadata item was not found")
	}
	return err
}

// readMetadataBody reads {"<member>": <metadata>}; one=true is the
// single-item form of PUT /metadata/{key}.
func readMetadataBody(r *http.Request, member string, one bool) (map[string]string, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return nil, err
	}
	if err := body.check("", raw, []string{member}, member); err != nil {
		return nil, err
	}
	md, err := metadataField(member, body[member])
	if err != nil {
		return nil, err
	}
	if one {
		switch {
		case len(md) == 0:
			return nil, invalidField(member, body[member], "{} does not have enough properties")
		case len(md) > 1:
			return nil, invalidField(member, body[member], pyRepr(body[member])+" has too many properties")
		}
	}
	return md, nil
}

func (h *handlers) listServerMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := h.svc.ServerMetadata(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"metadata": md})
}

func (h *handlers) createServerMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := readMetadataBody(r, "metadata", false)
	if err != nil {
		return err
	}
	out, err := h.svc.SetServerMetadata(r.Context(), principal(r), r.PathValue("id"), policyMetadataCreate, md, false)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"metadata": out})
}

func (h *handlers) replaceServerMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := readMetadataBody(r, "metadata", false)
	if err != nil {
		return err
	}
	out, err := h.svc.SetServerMetadata(r.Context(), principal(r), r.PathValue("id"), policyMetadataUpdateAll, md, true)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"metadata": out})
}

func (h *handlers) showServerMetadataItem(w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	v, err := h.svc.ServerMetadataItem(r.Context(), principal(r), r.PathValue("id"), key)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
}

func (h *handlers) updateServerMetadataItem(w http.ResponseWriter, r *http.Request) error {
	md, err := readMetadataBody(r, "meta", true)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	if _, ok := md[key]; !ok {
		return fault.BadRequestf("Request body and URI mismatch")
	}
	if _, err := h.svc.SetServerMetadata(r.Context(), principal(r), r.PathValue("id"), policyMetadataUpdate, md, false); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"meta": md})
}

func (h *handlers) deleteServerMetadataItem(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteServerMetadata(r.Context(), principal(r), r.PathValue("id"), r.PathValue("key")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}
