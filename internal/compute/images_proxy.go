package compute

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// The image proxy (Nova's /images and /images/{id}/metadata, gone from
// 2.36 and 2.39): the image service's records in Nova's view, read and
// changed with the caller's token, so the image service decides what
// the caller may see and change.

// ImageProxyAPI is what an ImageAPI must also do to serve the image
// proxy; the compute API finds it by type assertion.
type ImageProxyAPI interface {
	// ListImages lists the images the token may see, with Glance v2's
	// query parameters (filters, limit, marker); with no limit, all of
	// them, page after page.
	ListImages(ctx context.Context, token string, query url.Values) ([]*ImageRecord, error)
	// ImageRecord reads one image with its timestamps; a missing or
	// hidden one wraps instances.ErrNotFound.
	ImageRecord(ctx context.Context, token, id string) (*ImageRecord, error)
	// UpdateImageProperties sets the properties in set and removes
	// those in remove, and returns the image as it is then.
	UpdateImageProperties(ctx context.Context, token, id string, set map[string]string, remove []string) (*ImageRecord, error)
}

// ImageRecord is an image as the proxy shows it.
type ImageRecord struct {
	ImageInfo
	CreatedAt time.Time
	UpdatedAt time.Time // zero if never
}

// proxySince is the first microversion without the image proxy
// (Nova's MAX_PROXY_API_SUPPORT_VERSION is 2.35); image metadata went
// at 2.39.
const (
	proxyLast         = 35
	imageMetadataLast = 38
)

func (s *Service) imageProxy() (ImageProxyAPI, error) {
	if ip, ok := s.images.(ImageProxyAPI); ok {
		return ip, nil
	}
	return nil, fault.New(fault.Unavailable, "Service is unavailable at this time.")
}

func imageNotFound() error { return fault.NotFoundf("Image not found.") }

// proxyFilters are Nova's image list filters and the Glance v2 names
// they become.
var proxyFilters = map[string]string{
	"name": "name", "status": "status", "changes-since": "changes-since", "server": "property-instance_uuid",
	"type": "property-image_type", "minRam": "min_ram", "minDisk": "min_disk",
}

// glanceListQuery is Nova's _get_filters and the image client's
// translation for Glance v2: property-X filters by property X, a
// server filter takes the last segment of a server link, status is
// lower case and changes-since is an updated_at filter.
func glanceListQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, vs := range q {
		name, ok := proxyFilters[k]
		if !ok && !strings.HasPrefix(k, "property-") {
			continue
		}
		if !ok {
			name = k
		}
		v := vs[len(vs)-1]
		switch name {
		case "property-instance_uuid":
			if i := strings.LastIndex(v, "/"); i >= 0 {
				v = v[i+1:]
			}
		case "status":
			v = strings.ToLower(v)
		}
		switch {
		case name == "changes-since":
			out.Set("updated_at", "gte:"+v)
		case strings.HasPrefix(name, "property-"):
			out.Set(strings.TrimPrefix(name, "property-"), v)
		default:
			out.Set(name, v)
		}
	}
	return out
}

// proxyPage reads Nova's limit and marker (and the ignored page_size
// and offset): digits, a bad one is Nova's schema message.
func proxyPage(q url.Values, maxLimit int) (limit int, marker string, err error) {
	limit = maxLimit
	for _, k := range []string{"limit", "page_size", "offset"} {
		for _, v := range q[k] {
			if v == "" || !digits.MatchString(v) {
				return 0, "", fault.BadRequestf("Invalid input for query parameters %s. Value: %s. '%s' does not match '^[0-9]*$'", k, v, v)
			}
		}
	}
	if vs := q["limit"]; len(vs) > 0 {
		n, err := strconv.Atoi(vs[len(vs)-1])
		if err != nil {
			return 0, "", fault.BadRequestf("limit param must be an integer")
		}
		if n > 0 {
			limit = min(n, maxLimit)
		}
	}
	if vs := q["marker"]; len(vs) > 0 {
		marker = vs[len(vs)-1]
	}
	return limit, marker, nil
}

// ProxyImages lists images as Nova's image proxy does.
func (s *Service) ProxyImages(ctx context.Context, p *authn.Principal, q url.Values) ([]*ImageRecord, error) {
	if p == nil {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	limit, marker, err := proxyPage(q, s.cfg.MaxLimit)
	if err != nil {
		return nil, err
	}
	ip, err := s.imageProxy()
	if err != nil {
		return nil, err
	}
	gq := glanceListQuery(q)
	gq.Set("limit", strconv.Itoa(limit))
	if marker != "" {
		gq.Set("marker", marker)
	}
	list, err := ip.ListImages(ctx, p.Token, gq)
	if errors.Is(err, instances.ErrNotFound) {
		// Glance's answer to a marker it does not know.
		return nil, fault.BadRequestf("marker [%s] not found", marker)
	}
	if err != nil {
		return nil, err
	}
	if len(list) > limit {
		list = list[:limit]
	}
	return list, nil
}

// ProxyImage reads one image.
func (s *Service) ProxyImage(ctx context.Context, p *authn.Principal, id string) (*ImageRecord, error) {
	if p == nil {
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	}
	ip, err := s.imageProxy()
	if err != nil {
		return nil, err
	}
	img, err := ip.ImageRecord(ctx, p.Token, id)
	if errors.Is(err, instances.ErrNotFound) {
		return nil, imageNotFound()
	}
	if fault.Is(err, fault.Forbidden) {
		return nil, fault.Wrap(fault.Forbidden, err, "Not authorized for image %s.", id)
	}
	return img, err
}

// DeleteProxyImage deletes an image.
func (s *Service) DeleteProxyImage(ctx context.Context, p *authn.Principal, id string) error {
	if _, err := s.ProxyImage(ctx, p, id); err != nil {
		return err
	}
	err := s.images.DeleteImage(ctx, p.Token, id)
	switch {
	case errors.Is(err, instances.ErrNotFound):
		return imageNotFound()
	case fault.Is(err, fault.Forbidden), fault.Is(err, fault.Conflict):
		return fault.Wrap(fault.Forbidden, err, "You are not allowed to delete the image.")
	}
	return err
}

// checkImageMetadataQuota is Nova's check_img_metadata_properties_quota:
// n properties against the project's metadata_items limit.
func (s *Service) checkImageMetadataQuota(ctx context.Context, p *authn.Principal, n int) error {
	if n == 0 {
		return nil
	}
	limits, err := s.effectiveLimits(ctx, s.db, p.ProjectID, "")
	if err != nil {
		return err
	}
	if l, ok := limits["metadata_items"]; ok && !unlimited(l) && int64(n) > l {
		return fault.Forbiddenf("Image metadata limit exceeded")
	}
	return nil
}

// reservedProperty is a property the image service keeps for itself,
// never removed by a metadata replacement.
func reservedProperty(k string) bool { return strings.HasPrefix(k, "os_glance") }

// SetImageMetadata changes an image's properties as Nova's image
// metadata API: merged into them (replace false) or replacing them all;
// the result must fit the metadata quota. It returns the properties
// as the image service then has them.
func (s *Service) SetImageMetadata(ctx context.Context, p *authn.Principal, id string, md map[string]string, replace bool) (map[string]string, error) {
	img, err := s.ProxyImage(ctx, p, id)
	if err != nil {
		return nil, err
	}
	props := map[string]string{}
	if !replace {
		maps.Copy(props, img.Properties)
	}
	maps.Copy(props, md)
	if err := s.checkImageMetadataQuota(ctx, p, len(props)); err != nil {
		return nil, err
	}
	var remove []string
	for k := range img.Properties {
		if _, keep := props[k]; !keep && !reservedProperty(k) {
			remove = append(remove, k)
		}
	}
	slices.Sort(remove)
	return s.updateImageProperties(ctx, p, id, md, remove)
}

func (s *Service) updateImageProperties(ctx context.Context, p *authn.Principal, id string, set map[string]string, remove []string) (map[string]string, error) {
	ip, err := s.imageProxy()
	if err != nil {
		return nil, err
	}
	out, err := ip.UpdateImageProperties(ctx, p.Token, id, set, remove)
	switch {
	case errors.Is(err, instances.ErrNotFound):
		return nil, imageNotFound()
	case fault.Is(err, fault.Forbidden):
		return nil, fault.Wrap(fault.Forbidden, err, "Not authorized for image %s.", id)
	case err != nil:
		return nil, err
	}
	if out.Properties == nil {
		return map[string]string{}, nil
	}
	return out.Properties, nil
}

// DeleteImageMetadataKey removes one property of an image.
func (s *Service) DeleteImageMetadataKey(ctx context.Context, p *authn.Principal, id, key string) error {
	img, err := s.ProxyImage(ctx, p, id)
	if err != nil {
		return err
	}
	if _, ok := img.Properties[key]; !ok {
		return fault.NotFoundf("Invalid metadata key")
	}
	_, err = s.updateImageProperties(ctx, p, id, nil, []string{key})
	return err
}

// ---- handlers

var imageStatuses = map[string]string{"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING",
	"deleted": "DELETED", "pending_delete": "DELETED", "killed": "ERROR"}

var imageProgress = map[string]int{"queued": 25, "saving": 50, "active": 100}

// imageLinks are an image's self and bookmark links and the image
// service's own (alternate).
func (h *handlers) imageLinks(r *http.Request, id string) []map[string]any {
	ls := resourceLinks(r, "images", id)
	return []map[string]any{
		{"rel": ls[0].Rel, "href": ls[0].Href},
		{"rel": ls[1].Rel, "href": ls[1].Href},
		{"rel": "alternate", "type": "application/vnd.openstack.image", "href": h.svc.imageURL(r, id)},
	}
}

func imageTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// trueStrings are what oslo's bool_from_string reads as true.
var trueStrings = []string{"1", "t", "true", "on", "y", "yes"}

// imageView is Nova's image detail.
func (h *handlers) imageView(r *http.Request, img *ImageRecord) map[string]any {
	md := map[string]any{}
	for k, v := range img.Properties {
		md[k] = v
	}
	status, ok := imageStatuses[img.Status]
	if !ok {
		status = "UNKNOWN"
	}
	var name any
	if img.Name != "" {
		name = img.Name
	}
	v := map[string]any{
		"id": img.ID, "name": name, "minRam": img.MinRAMMB, "minDisk": img.MinDiskGB, "metadata": md,
		"created": imageTime(img.CreatedAt), "updated": imageTime(img.UpdatedAt), "status": status,
		"progress": imageProgress[img.Status], "OS-EXT-IMG-SIZE:size": img.Size, "links": h.imageLinks(r, img.ID),
	}
	if v["created"] == nil {
		v["created"] = imageTime(img.UpdatedAt)
	}
	if u, ok := img.Properties["instance_uuid"]; ok {
		ls := resourceLinks(r, "servers", u)
		v["server"] = map[string]any{"id": u, "links": ls}
	}
	if dc, ok := img.Properties["auto_disk_config"]; ok {
		if slices.Contains(trueStrings, strings.ToLower(strings.TrimSpace(dc))) {
			v["OS-DCF:diskConfig"] = "AUTO"
		} else {
			v["OS-DCF:diskConfig"] = "MANUAL"
		}
	}
	return v
}

func (h *handlers) listImages(w http.ResponseWriter, r *http.Request) error {
	return h.imageList(w, r, false)
}

func (h *handlers) listImagesDetail(w http.ResponseWriter, r *http.Request) error {
	return h.imageList(w, r, true)
}

func (h *handlers) imageList(w http.ResponseWriter, r *http.Request, detail bool) error {
	list, err := h.svc.ProxyImages(r.Context(), principal(r), r.URL.Query())
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(list))
	for _, img := range list {
		if detail {
			out = append(out, h.imageView(r, img))
			continue
		}
		var name any
		if img.Name != "" {
			name = img.Name
		}
		out = append(out, map[string]any{"id": img.ID, "name": name, "links": h.imageLinks(r, img.ID)})
	}
	body := map[string]any{"images": out}
	coll := "images"
	if detail {
		coll = "images/detail"
	}
	if len(list) > 0 {
		if links := h.nextLinks(r, coll, len(list), list[len(list)-1].ID); links != nil {
			body["images_links"] = links
		}
	}
	return writeJSON(w, http.StatusOK, body)
}

func (h *handlers) showImage(w http.ResponseWriter, r *http.Request) error {
	img, err := h.svc.ProxyImage(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"image": h.imageView(r, img)})
}

func (h *handlers) deleteImage(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteProxyImage(r.Context(), principal(r), r.PathValue("id")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}

func (h *handlers) listImageMetadata(w http.ResponseWriter, r *http.Request) error {
	img, err := h.svc.ProxyImage(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"metadata": propsView(img.Properties)})
}

func propsView(props map[string]string) map[string]string {
	if props == nil {
		return map[string]string{}
	}
	return props
}

func (h *handlers) showImageMetadataKey(w http.ResponseWriter, r *http.Request) error {
	img, err := h.svc.ProxyImage(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	v, ok := img.Properties[key]
	if !ok {
		return fault.NotFoundf("The resource could not be found.")
	}
	return writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
}

// imageMetadataBody reads {"metadata": {...}}.
func imageMetadataBody(r *http.Request) (map[string]string, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, err
	}
	o, err := objectAt(raw, "")
	if err != nil {
		return nil, err
	}
	if err := o.check("", raw, []string{"metadata"}, "metadata"); err != nil {
		return nil, err
	}
	return metadataField("metadata", o["metadata"])
}

func (h *handlers) createImageMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := imageMetadataBody(r)
	if err != nil {
		return err
	}
	props, err := h.svc.SetImageMetadata(r.Context(), principal(r), r.PathValue("id"), md, false)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"metadata": props})
}

func (h *handlers) replaceImageMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := imageMetadataBody(r)
	if err != nil {
		return err
	}
	if _, err := h.svc.SetImageMetadata(r.Context(), principal(r), r.PathValue("id"), md, true); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"metadata": md})
}

func (h *handlers) updateImageMetadataKey(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	o, err := objectAt(raw, "")
	if err != nil {
		return err
	}
	if err := o.check("", raw, []string{"meta"}, "meta"); err != nil {
		return err
	}
	meta, err := metadataField("meta", o["meta"])
	if err != nil {
		return err
	}
	switch n := len(meta); {
	case n < 1:
		return invalidField("meta", o["meta"], pyRepr(o["meta"])+" does not have enough properties")
	case n > 1:
		return invalidField("meta", o["meta"], pyRepr(o["meta"])+" has too many properties")
	}
	key := r.PathValue("key")
	if _, ok := meta[key]; !ok {
		return fault.BadRequestf("Request body and URI mismatch")
	}
	if _, err := h.svc.SetImageMetadata(r.Context(), principal(r), r.PathValue("id"), meta, false); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"meta": meta})
}

func (h *handlers) deleteImageMetadataKey(w http.ResponseWriter, r *http.Request) error {
	if err := h.svc.DeleteImageMetadataKey(r.Context(), principal(r), r.PathValue("id"), r.PathValue("key")); err != nil {
		return err
	}
	return noBody(w, http.StatusNoContent)
}
