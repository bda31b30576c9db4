package compute

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Server tags (/servers/{id}/tags, 2.26), as Nova's server_tags.py.

// tagStates are the vm states tags may change in.
var tagStates = []string{instances.Active, instances.Paused, instances.Suspended, instances.Stopped}

// taggable loads a server whose tags change, checking rule and state.
func (s *Service) taggable(ctx context.Context, p *authn.Principal, uuid, rule, action string) (*instances.Instance, error) {
	inst, err := s.serverFor(ctx, p, uuid, rule)
	if err != nil {
		return nil, err
	}
	if !contains(tagStates, inst.VMState) {
		return nil, serverConflict(action, uuid, "vm_state", inst.VMState)
	}
	return inst, nil
}

func noTag(uuid, tag string) error {
	return fault.NotFoundf("Server %s has no tag '%s'", uuid, tag)
}

// ServerTags returns a server's tags.
func (s *Service) ServerTags(ctx context.Context, p *authn.Principal, uuid string) ([]string, error) {
	inst, err := s.serverFor(ctx, p, uuid, policyTagsIndex)
	if err != nil {
		return nil, err
	}
	if inst.Tags == nil {
		return []string{}, nil
	}
	return inst.Tags, nil
}

// HasServerTag reports a tag's presence as a 404 when absent.
func (s *Service) HasServerTag(ctx context.Context, p *authn.Principal, uuid, tag string) error {
	inst, err := s.serverFor(ctx, p, uuid, policyTagsShow)
	if err != nil {
		return err
	}
	if !contains(inst.Tags, tag) {
		return noTag(uuid, tag)
	}
	return nil
}

// AddServerTag adds a tag; added is false when the server had it.
func (s *Service) AddServerTag(ctx context.Context, p *authn.Principal, uuid, tag string) (added bool, err error) {
	inst, err := s.taggable(ctx, p, uuid, policyTagsUpdate, "update tag")
	if err != nil {
		return false, err
	}
	if n := len([]rune(tag)); n < 1 || n > 60 || strings.ContainsAny(tag, ",/") {
		why := "'" + tag + "' does not match '^[^,/]*$'"
		switch {
		case n < 1:
			why = "'' should be non-empty"
		case n > 60:
			why = "'" + tag + "' is too long"
		}
		return false, fault.BadRequestf("Tag '%s' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: %s", tag, why)
	}
	if len(inst.Tags) >= maxTags {
		return false, fault.BadRequestf("The number of tags exceeded the per-server limit %d", maxTags)
	}
	if contains(inst.Tags, tag) {
		return false, nil
	}
	if err := s.instances.AddTag(ctx, uuid, tag); err != nil {
		if errors.Is(err, instances.ErrNotFound) {
			return false, serverNotFound(uuid)
		}
		return false, err
	}
	return true, nil
}

// ReplaceServerTags sets the tags.
func (s *Service) ReplaceServerTags(ctx context.Context, p *authn.Principal, uuid string, tags []string) ([]string, error) {
	if _, err := s.taggable(ctx, p, uuid, policyTagsUpdateAll, "update tags"); err != nil {
		return nil, err
	}
	out, err := s.instances.SetTags(ctx, uuid, sortedUnique(tags))
	if errors.Is(err, instances.ErrNotFound) {
		return nil, serverNotFound(uuid)
	}
	if out == nil {
		out = []string{}
	}
	return out, err
}

// DeleteServerTag removes one tag.
func (s *Service) DeleteServerTag(ctx context.Context, p *authn.Principal, uuid, tag string) error {
	if _, err := s.taggable(ctx, p, uuid, policyTagsDelete, "delete tag"); err != nil {
		return err
	}
	err := s.instances.DeleteTag(ctx, uuid, tag)
	if errors.Is(err, instances.ErrNotFound) {
		return noTag(uuid, tag)
	}
	return err
}

// DeleteServerTags removes every tag.
func (s *Service) DeleteServerTags(ctx context.Context, p *authn.Principal, uuid string) error {
	if _, err := s.taggable(ctx, p, uuid, policyTagsDeleteAll, "delete tags"); err != nil {
		return err
	}
	_, err := s.instances.SetTags(ctx, uuid, nil)
	if errors.Is(err, instances.ErrNotFound) {
		return serverNotFound(uuid)
	}
	return err
}

func (h *handlers) listServerTags(w http.ResponseWriter, r *http.Request) error {
	tags, err := h.svc.ServerTags(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tags": tags})
}

func (h *handlers) showServerTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.HasServerTag(r.Context(), principal(r), r.PathValue("id"), r.PathValue("tag")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}

func (h *handlers) addServerTag(w http.ResponseWriter, r *http.Request) error {
	id, tag := r.PathValue("id"), r.PathValue("tag")
	added, err := h.svc.AddServerTag(r.Context(), principal(r), id, tag)
	if err != nil {
		return err
	}
	if !added {
		return noBody(w, http.StatusNoContent)
	}
	w.Header().Set("Location", apiURL(r, "/servers/"+url.PathEscape(id)+"/tags/"+url.PathEscape(tag)))
	return noBody(w, http.StatusCreated)
}

func (h *handlers) replaceServerTags(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	body, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	if err := body.check("", raw, []string{"tags"}, "tags"); err != nil {
		return err
	}
	tags, err := tagsField("tags", body["tags"])
	if err != nil {
		return err
	}
	out, err := h.svc.ReplaceServerTags(r.Context(), principal(r), r.PathValue("id"), tags)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tags": out})
}

func (h *handlers) deleteServerTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteServerTag(r.Context(), principal(r), r.PathValue("id"), r.PathValue("tag")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}

func (h *handlers) deleteServerTags(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteServerTags(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}
