package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

func (h *handlers) metadefRoutes(rt *httpx.Router) {
	const ns = "/v2/metadefs/namespaces/{ns}"
	rt.Handle("GET /v2/metadefs/namespaces", h.listNamespaces)
	rt.Handle("POST /v2/metadefs/namespaces", h.createNamespace)
	rt.Handle("GET "+ns, h.getNamespace)
	rt.Handle("PUT "+ns, h.updateNamespace)
	rt.Handle("DELETE "+ns, h.deleteNamespace)
	rt.Handle("GET "+ns+"/objects", h.listObjects)
	rt.Handle("POST "+ns+"/objects", h.createObject)
	rt.Handle("GET "+ns+"/objects/{name}", h.getObject)
	rt.Handle("PUT "+ns+"/objects/{name}", h.updateObject)
	rt.Handle("DELETE "+ns+"/objects/{name}", h.deleteObject)
	rt.Handle("GET "+ns+"/properties", h.listProperties)
	rt.Handle("POST "+ns+"/properties", h.createProperty)
	rt.Handle("GET "+ns+"/properties/{name}", h.getProperty)
	rt.Handle("PUT "+ns+"/properties/{name}", h.updateProperty)
	rt.Handle("DELETE "+ns+"/properties/{name}", h.deleteProperty)
	rt.Handle("GET "+ns+"/tags", h.listMetadefTags)
	rt.Handle("POST "+ns+"/tags", h.createMetadefTags)
	rt.Handle("DELETE "+ns+"/tags", h.deleteMetadefTags)
	rt.Handle("POST "+ns+"/tags/{name}", h.createMetadefTag)
	rt.Handle("GET "+ns+"/tags/{name}", h.getMetadefTag)
	rt.Handle("PUT "+ns+"/tags/{name}", h.updateMetadefTag)
	rt.Handle("DELETE "+ns+"/tags/{name}", h.deleteMetadefTag)
	rt.Handle("GET /v2/metadefs/resource_types", h.listResourceTypes)
	rt.Handle("GET "+ns+"/resource_types", h.listAssociations)
	rt.Handle("POST "+ns+"/resource_types", h.createAssociation)
	rt.Handle("DELETE "+ns+"/resource_types/{name}", h.deleteAssociation)
}

// Request bodies, as the api-ref names their fields.

type namespaceRequest struct {
	Namespace                *string                   `json:"namespace"`
	DisplayName              *string                   `json:"display_name"`
	Description              *string                   `json:"description"`
	Visibility               *string                   `json:"visibility"`
	Protected                *bool                     `json:"protected"`
	Owner                    *string                   `json:"owner"`
	ResourceTypeAssociations []associationRequest      `json:"resource_type_associations"`
	Properties               map[string]PropertySchema `json:"properties"`
	Objects                  []objectRequest           `json:"objects"`
	Tags                     []tagRequest              `json:"tags"`
}

type objectRequest struct {
	Name        *string                   `json:"name"`
	Description *string                   `json:"description"`
	Required    []string                  `json:"required"`
	Properties  map[string]PropertySchema `json:"properties"`
}

type tagRequest struct {
	Name *string `json:"name"`
}

type associationRequest struct {
	Name             *string `json:"name"`
	Prefix           *string `json:"prefix"`
	PropertiesTarget *string `json:"properties_target"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (o objectRequest) toModel() (MetadefObject, error) {
	if o.Name == nil {
		return MetadefObject{}, fault.BadRequestf("'name' is a required property")
	}
	return MetadefObject{Name: *o.Name, Description: deref(o.Description), Required: o.Required, Properties: o.Properties}, nil
}

func (a associationRequest) toModel() (ResourceTypeAssociation, error) {
	if a.Name == nil {
		return ResourceTypeAssociation{}, fault.BadRequestf("'name' is a required property")
	}
	return ResourceTypeAssociation{Name: *a.Name, Prefix: deref(a.Prefix), PropertiesTarget: deref(a.PropertiesTarget)}, nil
}

func (n namespaceRequest) toArgs() (NamespaceArgs, error) {
	if n.Namespace == nil {
		return NamespaceArgs{}, fault.BadRequestf("'namespace' is a required property")
	}
	a := NamespaceArgs{Namespace: *n.Namespace, DisplayName: deref(n.DisplayName), Description: deref(n.Description),
		Visibility: deref(n.Visibility), Owner: deref(n.Owner), Protected: n.Protected != nil && *n.Protected}
	for _, r := range n.ResourceTypeAssociations {
		as, err := r.toModel()
		if err != nil {
			return a, err
		}
		a.Associations = append(a.Associations, as)
	}
	names := make([]string, 0, len(n.Properties))
	for name := range n.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a.Properties = append(a.Properties, MetadefProperty{Name: name, Schema: n.Properties[name]})
	}
	for _, o := range n.Objects {
		obj, err := o.toModel()
		if err != nil {
			return a, err
		}
		a.Objects = append(a.Objects, obj)
	}
	for _, t := range n.Tags {
		if t.Name == nil {
			return a, fault.BadRequestf("'name' is a required property")
		}
		a.Tags = append(a.Tags, *t.Name)
	}
	return a, nil
}

// metadefReadOnly are fields Glance refuses in requests with 403.
var metadefReadOnly = []string{"self", "schema", "created_at", "updated_at"}

// decodeMetadef decodes a request body as Glance's schema validation
// would: read-only fields are 403, fields the schema lacks are 400.
func decodeMetadef(r *http.Request, v any) error {
	var raw map[string]json.RawMessage
	if err := httpx.DecodeJSON(r, &raw); err != nil {
		return err
	}
	if raw == nil {
		return fault.BadRequestf("Request body must be a JSON object.")
	}
	for _, k := range metadefReadOnly {
		if _, ok := raw[k]; ok {
			return fault.Forbiddenf("Attribute '%s' is read-only.", k)
		}
	}
	data, _ := json.Marshal(raw)
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fault.BadRequestf("Invalid value for %s: expected %s.", te.Field, te.Type)
		}
		return fault.BadRequestf("Invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// Responses.

func nsPath(name string) string { return "/v2/metadefs/namespaces/" + name }

func associationWire(a *ResourceTypeAssociation) map[string]any {
	m := map[string]any{"name": a.Name, "created_at": a.CreatedAt.Format(timeFormat),
		"updated_at": a.UpdatedAt.Format(timeFormat)}
	if a.Prefix != "" {
		m["prefix"] = a.Prefix
	}
	if a.PropertiesTarget != "" {
		m["properties_target"] = a.PropertiesTarget
	}
	return m
}

func propertyWire(pr *MetadefProperty, withName bool) map[string]any {
	m := make(map[string]any, len(pr.Schema)+1)
	for k, v := range pr.Schema {
		m[k] = v
	}
	if withName {
		m["name"] = pr.Name
	}
	return m
}

func objectWire(ns string, o *MetadefObject) map[string]any {
	req := o.Required
	if req == nil {
		req = []string{}
	}
	props := o.Properties
	if props == nil {
		props = map[string]PropertySchema{}
	}
	m := map[string]any{"name": o.Name, "required": req, "properties": props,
		"created_at": o.CreatedAt.Format(timeFormat), "updated_at": o.UpdatedAt.Format(timeFormat),
		"schema": "/v2/schemas/metadefs/object", "self": nsPath(ns) + "/objects/" + o.Name}
	if o.Description != "" {
		m["description"] = o.Description
	}
	return m
}

func tagWire(t *MetadefTag) map[string]any {
	return map[string]any{"name": t.Name, "created_at": t.CreatedAt.Format(timeFormat),
		"updated_at": t.UpdatedAt.Format(timeFormat)}
}

// namespaceWire renders a namespace; with children, also its definitions
// (each list left out when empty, as Glance does).
func namespaceWire(ns *Namespace, children bool) map[string]any {
	m := map[string]any{"namespace": ns.Namespace, "visibility": ns.Visibility, "protected": ns.Protected,
		"owner": ns.Owner, "created_at": ns.CreatedAt.Format(timeFormat), "updated_at": ns.UpdatedAt.Format(timeFormat),
		"schema": "/v2/schemas/metadefs/namespace", "self": nsPath(ns.Namespace)}
	if ns.DisplayName != "" {
		m["display_name"] = ns.DisplayName
	}
	if ns.Description != "" {
		m["description"] = ns.Description
	}
	if len(ns.Associations) > 0 {
		as := make([]any, 0, len(ns.Associations))
		for i := range ns.Associations {
			as = append(as, associationWire(&ns.Associations[i]))
		}
		m["resource_type_associations"] = as
	}
	if !children {
		return m
	}
	if len(ns.Properties) > 0 {
		props := map[string]any{}
		for i := range ns.Properties {
			props[ns.Properties[i].Name] = propertyWire(&ns.Properties[i], false)
		}
		m["properties"] = props
	}
	if len(ns.Objects) > 0 {
		objs := make([]any, 0, len(ns.Objects))
		for i := range ns.Objects {
			objs = append(objs, objectWire(ns.Namespace, &ns.Objects[i]))
		}
		m["objects"] = objs
	}
	if len(ns.Tags) > 0 {
		tags := make([]any, 0, len(ns.Tags))
		for i := range ns.Tags {
			tags = append(tags, map[string]any{"name": ns.Tags[i].Name})
		}
		m["tags"] = tags
	}
	return m
}

// Namespaces.

func (h *handlers) listNamespaces(w http.ResponseWriter, r *http.Request) error {
	qv := r.URL.Query()
	q := NamespaceQuery{Visibility: qv.Get("visibility"), Marker: qv.Get("marker"),
		SortKey: qv.Get("sort_key"), SortDir: qv.Get("sort_dir")}
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fault.BadRequestf("limit param must be positive")
		}
		q.Limit = n
	}
	if q.Limit == 0 {
		q.Limit = h.svc.cfg.ListLimit
	}
	for _, rt := range strings.Split(qv.Get("resource_types"), ",") {
		if rt = strings.TrimSpace(rt); rt != "" {
			q.ResourceTypes = append(q.ResourceTypes, rt)
		}
	}
	list, more, err := h.svc.ListNamespaces(r.Context(), principal(r), q)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(list))
	for _, ns := range list {
		out = append(out, namespaceWire(ns, false))
	}
	body := map[string]any{"namespaces": out, "schema": "/v2/schemas/metadefs/namespaces", "first": "/v2/metadefs/namespaces"}
	qv.Del("marker")
	if enc := qv.Encode(); enc != "" {
		body["first"] = "/v2/metadefs/namespaces?" + enc
	}
	if more && len(list) > 0 {
		qv.Set("marker", list[len(list)-1].Namespace)
		body["next"] = "/v2/metadefs/namespaces?" + qv.Encode()
	}
	return httpx.WriteJSON(w, http.StatusOK, body)
}

func (h *handlers) createNamespace(w http.ResponseWriter, r *http.Request) error {
	var req namespaceRequest
	if err := decodeMetadef(r, &req); err != nil {
		return err
	}
	args, err := req.toArgs()
	if err != nil {
		return err
	}
	ns, err := h.svc.CreateNamespace(r.Context(), principal(r), args)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, namespaceWire(ns, true))
}

func (h *handlers) getNamespace(w http.ResponseWriter, r *http.Request) error {
	ns, err := h.svc.GetNamespace(r.Context(), principal(r), r.PathValue("ns"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, namespaceWire(ns, true))
}

// namespaceUpdateRequest is what PUT accepts: the namespace's own fields.
type namespaceUpdateRequest struct {
	Namespace   *string `json:"namespace"`
	DisplayName *string `json:"display_name"`
	Description *string `json:"description"`
	Visibility  *string `json:"visibility"`
	Protected   *bool   `json:"protected"`
	Owner       *string `json:"owner"`
	// Glance's schema allows these, but an update ignores them.
	ResourceTypeAssociations json.RawMessage `json:"resource_type_associations"`
	Properties               json.RawMessage `json:"properties"`
	Objects                  json.RawMessage `json:"objects"`
	Tags                     json.RawMessage `json:"tags"`
}

func (h *handlers) updateNamespace(w http.ResponseWriter, r *http.Request) error {
	var req namespaceUpdateRequest
	if err := decodeMetadef(r, &req); err != nil {
		return err
	}
	args, err := namespaceRequest{Namespace: req.Namespace, DisplayName: req.DisplayName, Description: req.Description,
		Visibility: req.Visibility, Protected: req.Protected, Owner: req.Owner}.toArgs()
	if err != nil {
		return err
	}
	ns, err := h.svc.UpdateNamespace(r.Context(), principal(r), r.PathValue("ns"), args)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, namespaceWire(ns, false))
}

func (h *handlers) deleteNamespace(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteNamespace(r.Context(), principal(r), r.PathValue("ns")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

// Objects.

func (h *handlers) listObjects(w http.ResponseWriter, r *http.Request) error {
	ns := r.PathValue("ns")
	objs, err := h.svc.ListObjects(r.Context(), principal(r), ns)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(objs))
	for i := range objs {
		out = append(out, objectWire(ns, &objs[i]))
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"objects": out, "schema": "v2/schemas/metadefs/objects"})
}

func (h *handlers) decodeObject(r *http.Request) (MetadefObject, error) {
	var req objectRequest
	if err := decodeMetadef(r, &req); err != nil {
		return MetadefObject{}, err
	}
	return req.toModel()
}

func (h *handlers) createObject(w http.ResponseWriter, r *http.Request) error {
	o, err := h.decodeObject(r)
	if err != nil {
		return err
	}
	ns := r.PathValue("ns")
	obj, err := h.svc.CreateObject(r.Context(), principal(r), ns, o)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, objectWire(ns, obj))
}

func (h *handlers) getObject(w http.ResponseWriter, r *http.Request) error {
	ns := r.PathValue("ns")
	obj, err := h.svc.GetObject(r.Context(), principal(r), ns, r.PathValue("name"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, objectWire(ns, obj))
}

func (h *handlers) updateObject(w http.ResponseWriter, r *http.Request) error {
	o, err := h.decodeObject(r)
	if err != nil {
		return err
	}
	ns := r.PathValue("ns")
	obj, err := h.svc.UpdateObject(r.Context(), principal(r), ns, r.PathValue("name"), o)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, objectWire(ns, obj))
}

func (h *handlers) deleteObject(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteObject(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

// Properties.

func (h *handlers) listProperties(w http.ResponseWriter, r *http.Request) error {
	props, err := h.svc.ListProperties(r.Context(), principal(r), r.PathValue("ns"))
	if err != nil {
		return err
	}
	out := map[string]any{}
	for i := range props {
		out[props[i].Name] = propertyWire(&props[i], false)
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"properties": out})
}

// decodeProperty reads a property definition: its name, and the rest
// kept as JSON schema fields.
func decodeProperty(r *http.Request) (MetadefProperty, error) {
	var raw map[string]json.RawMessage
	if err := httpx.DecodeJSON(r, &raw); err != nil {
		return MetadefProperty{}, err
	}
	if raw == nil {
		return MetadefProperty{}, fault.BadRequestf("Request body must be a JSON object.")
	}
	for _, k := range metadefReadOnly {
		if _, ok := raw[k]; ok {
			return MetadefProperty{}, fault.Forbiddenf("Attribute '%s' is read-only.", k)
		}
	}
	var name *string
	if err := json.Unmarshal(raw["name"], &name); raw["name"] == nil || err != nil || name == nil {
		return MetadefProperty{}, fault.BadRequestf("'name' is a required property")
	}
	delete(raw, "name")
	return MetadefProperty{Name: *name, Schema: PropertySchema(raw)}, nil
}

func (h *handlers) createProperty(w http.ResponseWriter, r *http.Request) error {
	pr, err := decodeProperty(r)
	if err != nil {
		return err
	}
	out, err := h.svc.CreateProperty(r.Context(), principal(r), r.PathValue("ns"), pr)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, propertyWire(out, true))
}

func (h *handlers) getProperty(w http.ResponseWriter, r *http.Request) error {
	pr, err := h.svc.GetProperty(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name"),
		r.URL.Query().Get("resource_type"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, propertyWire(pr, true))
}

func (h *handlers) updateProperty(w http.ResponseWriter, r *http.Request) error {
	pr, err := decodeProperty(r)
	if err != nil {
		return err
	}
	out, err := h.svc.UpdateProperty(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name"), pr)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, propertyWire(out, true))
}

func (h *handlers) deleteProperty(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteProperty(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

// Tags.

func (h *handlers) listMetadefTags(w http.ResponseWriter, r *http.Request) error {
	tags, err := h.svc.MetadefListTags(r.Context(), principal(r), r.PathValue("ns"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(tags))
	for i := range tags {
		out = append(out, tagWire(&tags[i]))
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"tags": out})
}

func (h *handlers) createMetadefTags(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Tags []tagRequest `json:"tags"`
	}
	if err := decodeMetadef(r, &req); err != nil {
		return err
	}
	if req.Tags == nil {
		return fault.BadRequestf("'tags' is a required property")
	}
	names := make([]string, 0, len(req.Tags))
	for _, t := range req.Tags {
		if t.Name == nil {
			return fault.BadRequestf("'name' is a required property")
		}
		names = append(names, *t.Name)
	}
	appending, _ := strconv.ParseBool(r.Header.Get("X-Openstack-Append"))
	tags, err := h.svc.MetadefCreateTags(r.Context(), principal(r), r.PathValue("ns"), names, appending)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(tags))
	for _, t := range tags {
		out = append(out, map[string]any{"name": t.Name})
	}
	return httpx.WriteJSON(w, http.StatusCreated, map[string]any{"tags": out})
}

func (h *handlers) deleteMetadefTags(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.MetadefDeleteTags(r.Context(), principal(r), r.PathValue("ns")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

func (h *handlers) createMetadefTag(w http.ResponseWriter, r *http.Request) error {
	t, err := h.svc.MetadefCreateTag(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, tagWire(t))
}

func (h *handlers) getMetadefTag(w http.ResponseWriter, r *http.Request) error {
	t, err := h.svc.MetadefGetTag(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, tagWire(t))
}

func (h *handlers) updateMetadefTag(w http.ResponseWriter, r *http.Request) error {
	var req tagRequest
	if err := decodeMetadef(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return fault.BadRequestf("'name' is a required property")
	}
	t, err := h.svc.MetadefUpdateTag(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name"), *req.Name)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, tagWire(t))
}

func (h *handlers) deleteMetadefTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.MetadefDeleteTag(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

// Resource types.

func (h *handlers) listResourceTypes(w http.ResponseWriter, r *http.Request) error {
	rts, err := h.svc.ListResourceTypes(r.Context(), principal(r))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(rts))
	for _, rt := range rts {
		out = append(out, map[string]any{"name": rt.Name, "created_at": rt.CreatedAt.Format(timeFormat),
			"updated_at": rt.UpdatedAt.Format(timeFormat)})
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"resource_types": out})
}

func (h *handlers) listAssociations(w http.ResponseWriter, r *http.Request) error {
	as, err := h.svc.ListAssociations(r.Context(), principal(r), r.PathValue("ns"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(as))
	for i := range as {
		out = append(out, associationWire(&as[i]))
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"resource_type_associations": out})
}

func (h *handlers) createAssociation(w http.ResponseWriter, r *http.Request) error {
	var req associationRequest
	if err := decodeMetadef(r, &req); err != nil {
		return err
	}
	a, err := req.toModel()
	if err != nil {
		return err
	}
	out, err := h.svc.CreateAssociation(r.Context(), principal(r), r.PathValue("ns"), a)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusCreated, associationWire(out))
}

func (h *handlers) deleteAssociation(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteAssociation(r.Context(), principal(r), r.PathValue("ns"), r.PathValue("name")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}
