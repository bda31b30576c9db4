package image

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

type handlers struct {
	svc *Service
}

// Handler returns the Image API v2, authenticating callers with v.
func (s *Service) Handler(o httpx.Options, v authn.Validator) http.Handler {
	h := &handlers{svc: s}
	o.Dialect = httpx.WebOb
	o.Authenticate = func(r *http.Request) (context.Context, error) {
		p, err := authn.Authenticate(r.Context(), v, r)
		if err != nil {
			return nil, err
		}
		return authn.With(r.Context(), p), nil
	}
	if o.Service == "" {
		o.Service = "image"
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 64 * 1024 // JSON bodies; uploads lift it per request
	}
	rt := httpx.NewRouter(o)
	rt.Public("GET /{$}", h.versions)
	rt.Public("GET /versions", h.versions)
	rt.Handle("GET /v2/images", h.listImages)
	rt.Handle("POST /v2/images", h.createImage)
	rt.Handle("GET /v2/images/{id}", h.getImage)
	rt.Handle("PATCH /v2/images/{id}", h.updateImage)
	rt.Handle("DELETE /v2/images/{id}", h.deleteImage)
	rt.Handle("POST /v2/images/{id}/actions/deactivate", h.deactivate)
	rt.Handle("POST /v2/images/{id}/actions/reactivate", h.reactivate)
	rt.Handle("PUT /v2/images/{id}/tags/{tag}", h.addTag)
	rt.Handle("DELETE /v2/images/{id}/tags/{tag}", h.deleteTag)
	rt.Handle("GET /v2/images/{id}/members", h.listMembers)
	rt.Handle("POST /v2/images/{id}/members", h.addMember)
	rt.Handle("GET /v2/images/{id}/members/{member}", h.getMember)
	rt.Handle("PUT /v2/images/{id}/members/{member}", h.updateMember)
	rt.Handle("DELETE /v2/images/{id}/members/{member}", h.deleteMember)
	rt.Handle("GET /v2/schemas/image", h.schema(imageSchema))
	rt.Handle("GET /v2/schemas/images", h.schema(imagesSchema))
	rt.Handle("GET /v2/schemas/member", h.schema(memberSchema))
	rt.Handle("GET /v2/schemas/members", h.schema(membersSchema))
	for name, doc := range metadefSchemas {
		rt.Handle("GET /v2/schemas/metadefs/"+name, h.schema(doc))
	}
	h.dataRoutes(rt)
	h.importRoutes(rt)
	h.metadefRoutes(rt)
	if o.Metrics != nil {
		rt.Raw("GET /metrics", o.Metrics.Handler())
	}
	return rt
}

func principal(r *http.Request) *authn.Principal { return authn.From(r.Context()) }

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *handlers) versions(w http.ResponseWriter, r *http.Request) error {
	var list []any
	for _, v := range []struct{ id, status string }{
		{"v2.16", "CURRENT"}, {"v2.15", "SUPPORTED"}, {"v2.9", "SUPPORTED"}, {"v2.7", "SUPPORTED"},
		{"v2.6", "SUPPORTED"}, {"v2.5", "SUPPORTED"}, {"v2.4", "SUPPORTED"}, {"v2.3", "SUPPORTED"},
		{"v2.2", "SUPPORTED"}, {"v2.1", "SUPPORTED"}, {"v2.0", "SUPPORTED"},
	} {
		list = append(list, map[string]any{"id": v.id, "status": v.status,
			"links": []any{map[string]any{"rel": "self", "href": baseURL(r) + "/v2/"}}})
	}
	return httpx.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": list})
}

const timeFormat = "2006-01-02T15:04:05Z"

// imageWire renders an image as Glance does: core attributes, then custom
// properties at the top level.
func imageWire(img *Image) map[string]any {
	m := map[string]any{}
	for k, v := range img.Properties {
		m[k] = v
	}
	tags := img.Tags
	if tags == nil {
		tags = []string{}
	}
	m["id"] = img.ID
	m["name"] = img.Name
	m["status"] = img.Status
	m["visibility"] = img.Visibility
	m["protected"] = img.Protected
	m["os_hidden"] = img.Hidden
	m["owner"] = img.Owner
	m["checksum"] = img.Checksum
	m["os_hash_algo"] = img.HashAlgo
	m["os_hash_value"] = img.HashValue
	m["size"] = img.Size
	m["virtual_size"] = img.VirtualSize
	m["min_disk"] = img.MinDisk
	m["min_ram"] = img.MinRAM
	m["disk_format"] = img.DiskFormat
	m["container_format"] = img.ContainerFormat
	m["tags"] = tags
	m["created_at"] = img.CreatedAt.Format(timeFormat)
	m["updated_at"] = img.UpdatedAt.Format(timeFormat)
	m["self"] = "/v2/images/" + img.ID
	m["file"] = "/v2/images/" + img.ID + "/file"
	m["schema"] = "/v2/schemas/image"
	if ids := img.storeIDs(); len(ids) > 0 {
		m["stores"] = strings.Join(ids, ",")
	}
	return m
}

func memberWire(m *Member) map[string]any {
	return map[string]any{"image_id": m.ImageID, "member_id": m.MemberID, "status": m.Status,
		"created_at": m.CreatedAt.Format(timeFormat), "updated_at": m.UpdatedAt.Format(timeFormat),
		"schema": "/v2/schemas/member"}
}

func (h *handlers) listImages(w http.ResponseWriter, r *http.Request) error {
	lq, err := h.svc.ParseListQuery(r.URL.Query())
	if err != nil {
		return err
	}
	images, more, err := h.svc.ListImages(r.Context(), principal(r), lq)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(images))
	for _, img := range images {
		out = append(out, imageWire(img))
	}
	body := map[string]any{"images": out, "schema": "/v2/schemas/images", "first": "/v2/images"}
	if q := r.URL.Query(); true {
		q.Del("marker")
		if enc := q.Encode(); enc != "" {
			body["first"] = "/v2/images?" + enc
		}
		if more && len(images) > 0 {
			q.Set("marker", images[len(images)-1].ID)
			body["next"] = "/v2/images?" + q.Encode()
		}
	}
	return httpx.WriteJSON(w, http.StatusOK, body)
}

func (h *handlers) getImage(w http.ResponseWriter, r *http.Request) error {
	img, err := h.svc.GetImage(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, imageWire(img))
}

// decodeJSON is httpx.DecodeJSON with Glance's 415 for other media types.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return fault.New(fault.UnsupportedMediaType, "Unsupported Content-Type %s: use application/json.", ct)
		}
	}
	return httpx.DecodeJSON(r, v)
}

func (h *handlers) createImage(w http.ResponseWriter, r *http.Request) error {
	var attrs map[string]any
	if err := decodeJSON(r, &attrs); err != nil {
		return err
	}
	if attrs == nil {
		return fault.BadRequestf("Request body must be a JSON object.")
	}
	img, err := h.svc.CreateImage(r.Context(), principal(r), attrs)
	if err != nil {
		return err
	}
	w.Header().Set("Location", baseURL(r)+"/v2/images/"+img.ID)
	w.Header().Set("OpenStack-image-import-methods", strings.Join(h.svc.ImportMethods(), ","))
	return httpx.WriteJSON(w, http.StatusCreated, imageWire(img))
}

const patchType = "application/openstack-images-v2.1-json-patch"

func (h *handlers) updateImage(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != patchType && mt != "application/openstack-images-v2.0-json-patch" {
		w.Header().Set("Accept-Patch", "application/openstack-images-v2.0-json-patch, "+patchType)
		return &fault.Error{Kind: fault.UnsupportedMediaType,
			Msg: "Unsupported Content-Type: use " + patchType + "."}
	}
	var raw []map[string]json.RawMessage
	r.Header.Set("Content-Type", "application/json")
	if err := httpx.DecodeJSON(r, &raw); err != nil {
		return err
	}
	// v2.1 is JSON patch (draft 10): {"op": "add", "path": "/x"}; v2.0 is
	// draft 4, the operation the key: {"add": "/x"}.
	draft4 := mt == "application/openstack-images-v2.0-json-patch"
	var ops []PatchOp
	for _, o := range raw {
		var op PatchOp
		if draft4 {
			for _, name := range []string{"add", "remove", "replace"} {
				v, ok := o[name]
				if !ok {
					continue
				}
				if op.Op != "" {
					return fault.BadRequestf("Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".")
				}
				op.Op = name
				if err := json.Unmarshal(v, &op.Path); err != nil {
					return fault.BadRequestf("Invalid JSON pointer for this resource.")
				}
			}
			if op.Op == "" {
				return fault.BadRequestf("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")
			}
		} else {
			if err := json.Unmarshal(o["op"], &op.Op); err != nil {
				return fault.BadRequestf("Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.")
			}
			if err := json.Unmarshal(o["path"], &op.Path); err != nil {
				return fault.BadRequestf("Unable to find 'path' in JSON Schema change")
			}
		}
		op.Draft4 = draft4
		if v, ok := o["value"]; ok {
			op.HasValue = true
			if err := json.Unmarshal(v, &op.Value); err != nil {
				return fault.BadRequestf("Invalid value.")
			}
		}
		ops = append(ops, op)
	}
	img, err := h.svc.UpdateImage(r.Context(), principal(r), r.PathValue("id"), ops)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, imageWire(img))
}

func (h *handlers) deleteImage(w http.ResponseWriter, r *http.Request) error {
	img, err := h.svc.DeleteImage(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	h.svc.dropData(r.Context(), img)
	return httpx.NoContent(w)
}

func (h *handlers) deactivate(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.SetActive(r.Context(), principal(r), r.PathValue("id"), false); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

func (h *handlers) reactivate(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.SetActive(r.Context(), principal(r), r.PathValue("id"), true); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

func (h *handlers) addTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.AddTag(r.Context(), principal(r), r.PathValue("id"), r.PathValue("tag")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

func (h *handlers) deleteTag(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteTag(r.Context(), principal(r), r.PathValue("id"), r.PathValue("tag")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

func (h *handlers) listMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := h.svc.ListMembers(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]any, 0, len(ms))
	for i := range ms {
		out = append(out, memberWire(&ms[i]))
	}
	return httpx.WriteJSON(w, http.StatusOK, map[string]any{"members": out, "schema": "/v2/schemas/members"})
}

func (h *handlers) addMember(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Member *string `json:"member"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Member == nil {
		return fault.BadRequestf("Member to be added not specified")
	}
	m, err := h.svc.AddMember(r.Context(), principal(r), r.PathValue("id"), *body.Member)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, memberWire(m))
}

func (h *handlers) getMember(w http.ResponseWriter, r *http.Request) error {
	m, err := h.svc.GetMember(r.Context(), principal(r), r.PathValue("id"), r.PathValue("member"))
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, memberWire(m))
}

func (h *handlers) updateMember(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Status *string `json:"status"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	if body.Status == nil {
		return fault.BadRequestf("Status not specified")
	}
	m, err := h.svc.UpdateMember(r.Context(), principal(r), r.PathValue("id"), r.PathValue("member"), *body.Status)
	if err != nil {
		return err
	}
	return httpx.WriteJSON(w, http.StatusOK, memberWire(m))
}

func (h *handlers) deleteMember(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteMember(r.Context(), principal(r), r.PathValue("id"), r.PathValue("member")); err != nil {
		return err
	}
	return httpx.NoContent(w)
}

func (h *handlers) schema(doc map[string]any) httpx.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return httpx.WriteJSON(w, http.StatusOK, doc)
	}
}
