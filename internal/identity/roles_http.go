package identity

import (
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func roleWire(r *http.Request, role *Role) map[string]any {
	opts := role.Options
	if opts == nil {
		opts = map[string]any{}
	}
	return withExtra(map[string]any{"id": role.ID, "name": role.Name, "domain_id": nilIfEmpty(role.DomainID),
		"description": role.Description, "options": opts, "links": selfLink(r, "roles/"+role.ID)}, role.Extra)
}

func rolesWire(r *http.Request, rs []Role) []any {
	out := make([]any, 0, len(rs))
	for i := range rs {
		out = append(out, roleWire(r, &rs[i]))
	}
	return out
}

// roleRefWire is the short role form inference rules show.
func roleRefWire(r *http.Request, role *Role, description bool) map[string]any {
	m := map[string]any{"id": role.ID, "name": role.Name, "links": selfLink(r, "roles/"+role.ID)}
	if description {
		m["description"] = nilIfEmpty(role.Description)
	}
	return m
}

func (h *handlers) listRoles(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rs, err := h.svc.ListRoles(r.Context(), principal(r), RoleFilter{Name: q.Get("name"), DomainID: q.Get("domain_id")})
	if err != nil {
		return err
	}
	n, trunc := h.truncate(len(rs))
	body := map[string]any{"roles": rolesWire(r, rs[:n]), "links": listLinks(r)}
	if trunc {
		body["truncated"] = true
	}
	return writeOK(w, body)
}

func (h *handlers) getRole(w http.ResponseWriter, r *http.Request) error {
	role, err := h.svc.GetRole(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"role": roleWire(r, role)})
}

var roleFields = []string{"id", "name", "domain_id", "description", "options", "links"}

func reqOptions(m map[string]any) (map[string]any, error) {
	v, ok := m["options"]
	if !ok || v == nil {
		return nil, nil
	}
	opts, ok := v.(map[string]any)
	if !ok {
		return nil, fault.BadRequestf("Invalid input for field 'options': %v is not of type 'object'.", v)
	}
	return opts, nil
}

func (h *handlers) createRole(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "role")
	if err != nil {
		return err
	}
	role := Role{Name: f.name(), Extra: extraFields(f.m, roleFields...)}
	f.setStr(&role.DomainID, "domain_id")
	f.setStr(&role.Description, "description")
	role.Options = f.options()
	if f.err != nil {
		return f.err
	}
	out, err := h.svc.CreateRole(r.Context(), principal(r), role)
	if err != nil {
		return err
	}
	return writeCreated(w, map[string]any{"role": roleWire(r, out)})
}

func (h *handlers) updateRole(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFields(r, "role")
	if err != nil {
		return err
	}
	patch := RolePatch{Name: f.str("name"), Description: f.str("description"), DomainID: f.str("domain_id"),
		Options: f.options(), Extra: extraFields(f.m, roleFields...)}
	if err := f.done(r, "Role"); err != nil {
		return err
	}
	role, err := h.svc.UpdateRole(r.Context(), principal(r), r.PathValue("id"), patch)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"role": roleWire(r, role)})
}

func (h *handlers) deleteRole(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteRole(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeNoContent(w)
}

// Implied roles.

func inferenceWire(r *http.Request, prior, implied *Role) map[string]any {
	return map[string]any{
		"role_inference": map[string]any{"prior_role": roleRefWire(r, prior, false), "implies": roleRefWire(r, implied, false)},
		"links":          selfLink(r, "roles/"+prior.ID+"/implies/"+implied.ID),
	}
}

func (h *handlers) createImpliedRole(w http.ResponseWriter, r *http.Request) error {
	prior, implied, err := h.svc.CreateImpliedRole(r.Context(), principal(r), r.PathValue("prior"), r.PathValue("implied"))
	if err != nil {
		return err
	}
	return writeCreated(w, inferenceWire(r, prior, implied))
}

func (h *handlers) getImpliedRole(w http.ResponseWriter, r *http.Request) error {
	prior, implied, err := h.svc.GetImpliedRole(r.Context(), principal(r), "identity:get_implied_role", r.PathValue("prior"), r.PathValue("implied"))
	if err != nil {
		return err
	}
	return writeOK(w, inferenceWire(r, prior, implied))
}

func (h *handlers) checkImpliedRole(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := h.svc.GetImpliedRole(r.Context(), principal(r), "identity:check_implied_role", r.PathValue("prior"), r.PathValue("implied")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) deleteImpliedRole(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteImpliedRole(r.Context(), principal(r), r.PathValue("prior"), r.PathValue("implied")); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (h *handlers) listImpliedRoles(w http.ResponseWriter, r *http.Request) error {
	inf, err := h.svc.ListImpliedRoles(r.Context(), principal(r), r.PathValue("prior"))
	if err != nil {
		return err
	}
	implies := make([]any, 0, len(inf.Implies))
	for i := range inf.Implies {
		implies = append(implies, roleRefWire(r, &inf.Implies[i], false))
	}
	return writeOK(w, map[string]any{
		"role_inference": map[string]any{"prior_role": roleRefWire(r, &inf.Prior, false), "implies": implies},
		"links":          selfLink(r, "roles/"+inf.Prior.ID+"/implies"),
	})
}

func (h *handlers) listRoleInferences(w http.ResponseWriter, r *http.Request) error {
	infs, err := h.svc.ListRoleInferences(r.Context(), principal(r))
	if err != nil {
		return err
	}
	list := make([]any, 0, len(infs))
	for i := range infs {
		implies := make([]any, 0, len(infs[i].Implies))
		for j := range infs[i].Implies {
			implies = append(implies, roleRefWire(r, &infs[i].Implies[j], true))
		}
		list = append(list, map[string]any{"prior_role": roleRefWire(r, &infs[i].Prior, true), "implies": implies})
	}
	return writeOK(w, map[string]any{"role_inferences": list, "links": selfLink(r, "role_inferences")})
}
