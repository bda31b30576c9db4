package placement

import (
	"net/http"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func providerURL(id string) string { return "/resource_providers/" + id }

// providerWire is a provider as each microversion shows it.
func providerWire(p *Provider, v version) map[string]any {
	self := providerURL(p.UUID)
	links := []any{map[string]any{"rel": "self", "href": self}}
	rels := []string{"inventories", "usages"}
	if v.atLeast(1) {
		rels = append(rels, "aggregates")
	}
	if v.atLeast(6) {
		rels = append(rels, "traits")
	}
	if v.atLeast(11) {
		rels = append(rels, "allocations")
	}
	for _, rel := range rels {
		links = append(links, map[string]any{"rel": rel, "href": self + "/" + rel})
	}
	m := map[string]any{"uuid": p.UUID, "name": p.Name, "generation": p.Generation, "links": links}
	if v.atLeast(14) {
		m["parent_provider_uuid"] = nullable(p.ParentUUID)
		m["root_provider_uuid"] = p.RootUUID
	}
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (h *handlers) createProvider(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	allowed := []string{"name", "uuid"}
	if v.atLeast(14) {
		allowed = append(allowed, "parent_provider_uuid")
	}
	o, err := readObject(r, allowed, "name")
	if err != nil {
		return err
	}
	name, err := o.str("name", 0, 200)
	if err != nil {
		return err
	}
	var id, parent string
	if o.has("uuid") {
		if id, err = o.uuidField("uuid"); err != nil {
			return err
		}
	}
	if o.has("parent_provider_uuid") && !o.isNull("parent_provider_uuid") {
		if parent, err = o.uuidField("parent_provider_uuid"); err != nil {
			return err
		}
	}
	if name == "" {
		return fault.BadRequestf("Unable to create resource provider \"\", %s: Object action create failed because: name is required", id)
	}
	p, err := h.svc.CreateProvider(r.Context(), principal(r), name, id, parent)
	if err != nil {
		return err
	}
	w.Header().Set("Location", providerURL(p.UUID))
	if v.atLeast(20) {
		lastModified(w, r, p.UpdatedAt)
		return writeJSON(w, http.StatusOK, providerWire(p, v))
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (h *handlers) getProvider(w http.ResponseWriter, r *http.Request) error {
	p, err := h.svc.GetProvider(r.Context(), principal(r), r.PathValue("uuid"))
	if err != nil {
		return err
	}
	lastModified(w, r, latest(p.CreatedAt, p.UpdatedAt))
	return writeJSON(w, http.StatusOK, providerWire(p, mv(r)))
}

func (h *handlers) updateProvider(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	id := r.PathValue("uuid")
	if err := wantJSON(r); err != nil {
		return err
	}
	if _, err := h.svc.GetProvider(r.Context(), principal(r), id); err != nil {
		return err
	}
	allowed := []string{"name"}
	if v.atLeast(14) {
		allowed = append(allowed, "parent_provider_uuid")
	}
	o, err := readObject(r, allowed, "name")
	if err != nil {
		return err
	}
	u := ProviderUpdate{AllowReparent: v.atLeast(37)}
	if u.Name, err = o.str("name", 0, 200); err != nil {
		return err
	}
	if o.has("parent_provider_uuid") {
		u.SetParent = true
		if !o.isNull("parent_provider_uuid") {
			if u.Parent, err = o.uuidField("parent_provider_uuid"); err != nil {
				return err
			}
		}
	}
	p, err := h.svc.UpdateProvider(r.Context(), principal(r), id, u)
	if err != nil {
		return err
	}
	lastModified(w, r, p.UpdatedAt)
	return writeJSON(w, http.StatusOK, providerWire(p, v))
}

func (h *handlers) deleteProvider(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteProvider(r.Context(), principal(r), r.PathValue("uuid")); err != nil {
		return err
	}
	return noContent(w)
}

func (h *handlers) listProviders(w http.ResponseWriter, r *http.Request) error {
	v := mv(r)
	q := r.URL.Query()
	allowed := map[string]int{"name": 0, "uuid": 0, "member_of": 3, "resources": 4, "in_tree": 14, "required": 18}
	if err := checkQueryKeys(q, func(k string) bool { min, ok := allowed[k]; return ok && v.atLeast(min) }); err != nil {
		return err
	}
	var f ProviderFilter
	var err error
	f.Name = q.Get("name")
	if q.Has("uuid") {
		if f.UUID, err = uuidQuery("uuid", q.Get("uuid")); err != nil {
			return err
		}
	}
	if q.Has("in_tree") {
		if f.InTree, err = uuidQuery("in_tree", q.Get("in_tree")); err != nil {
			return err
		}
	}
	if q.Has("member_of") {
		mq, err := parseMemberOf(q["member_of"], "", v)
		if err != nil {
			return err
		}
		f.MemberOf, f.ForbiddenAggs = mq.required, mq.forbidden
	}
	if q.Has("required") {
		tq, err := parseRequired(q["required"], v)
		if err != nil {
			return err
		}
		f.Required, f.Forbidden = tq.required, tq.forbidden
	}
	if q.Has("resources") {
		if f.Resources, err = parseResources(q.Get("resources")); err != nil {
			return err
		}
	}
	ps, err := h.svc.ListProviders(r.Context(), principal(r), f)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ps))
	var lm time.Time
	for _, p := range ps {
		out = append(out, providerWire(p, v))
		lm = latest(lm, p.CreatedAt, p.UpdatedAt)
	}
	lastModified(w, r, lm)
	return writeJSON(w, http.StatusOK, map[string]any{"resource_providers": out})
}
