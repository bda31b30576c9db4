package glanceclient

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// The image proxy's calls (compute.ImageProxyAPI): lists, records with
// their timestamps, and property changes as JSON patches; and the
// image's URL in the image service (compute.ImageURLs).

var (
	_ compute.ImageProxyAPI = (*Client)(nil)
	_ compute.ImageURLs     = (*Client)(nil)
)

// pageSize is how many images one list request asks for.
const pageSize = 200

// ImageURL is where the image service shows image id, as Nova's
// generate_image_url: the endpoint, "images", the id.
func (c *Client) ImageURL(id string) string { return c.base + "/images/" + url.PathEscape(id) }

// decodeRecord reads a Glance v2 image record with its timestamps.
func decodeRecord(data []byte) (*compute.ImageRecord, error) {
	info, err := decodeImage(data)
	if err != nil {
		return nil, err
	}
	var ts struct {
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at"`
	}
	_ = json.Unmarshal(data, &ts)
	rec := &compute.ImageRecord{ImageInfo: *info}
	rec.CreatedAt, _ = time.Parse(time.RFC3339, ts.CreatedAt)
	rec.UpdatedAt, _ = time.Parse(time.RFC3339, ts.UpdatedAt)
	return rec, nil
}

// ImageRecord reads one image record.
func (c *Client) ImageRecord(ctx context.Context, token, id string) (*compute.ImageRecord, error) {
	if id == "" {
		return nil, fmt.Errorf("image id: %w", instances.ErrNotFound)
	}
	data, err := c.do(ctx, token, http.MethodGet, "/v2/images/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	return decodeRecord(data)
}

// ListImages lists images with Glance v2 query parameters, following
// the pages until query's limit (none: all of them).
func (c *Client) ListImages(ctx context.Context, token string, query url.Values) ([]*compute.ImageRecord, error) {
	want := -1
	if l := query.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("list images: bad limit %q", l)
		}
		want = n
	}
	q := url.Values{}
	maps.Copy(q, query)
	out := []*compute.ImageRecord{}
	for want < 0 || len(out) < want {
		size := pageSize
		if want >= 0 {
			size = min(size, want-len(out))
		}
		q.Set("limit", strconv.Itoa(size))
		data, err := c.do(ctx, token, http.MethodGet, "/v2/images?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Images []json.RawMessage `json:"images"`
			Next   string            `json:"next"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return nil, fmt.Errorf("list images: decode answer: %w", err)
		}
		for _, raw := range page.Images {
			rec, err := decodeRecord(raw)
			if err != nil {
				return nil, fmt.Errorf("list images: %w", err)
			}
			out = append(out, rec)
		}
		if page.Next == "" || len(page.Images) == 0 {
			break
		}
		q.Set("marker", out[len(out)-1].ID)
	}
	return out, nil
}

// jsonPointer escapes a property name for a JSON patch path.
func jsonPointer(k string) string {
	return "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// UpdateImageProperties sets and removes properties in one JSON patch
// (Glance's v2.1 patch, where add replaces a property already there).
func (c *Client) UpdateImageProperties(ctx context.Context, token, id string, set map[string]string, remove []string) (*compute.ImageRecord, error) {
	ops := []map[string]any{}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		ops = append(ops, map[string]any{"op": "add", "path": jsonPointer(k), "value": set[k]})
	}
	for _, k := range remove {
		ops = append(ops, map[string]any{"op": "remove", "path": jsonPointer(k)})
	}
	if len(ops) == 0 {
		return c.ImageRecord(ctx, token, id)
	}
	data, err := c.doPatch(ctx, token, "/v2/images/"+url.PathEscape(id), ops)
	if err != nil {
		return nil, err
	}
	return decodeRecord(data)
}

// patchType is Glance's JSON patch media type.
const patchType = "application/openstack-images-v2.1-json-patch"

// patchTransport sends a request's body as a JSON patch.
type patchTransport struct{ next http.RoundTripper }

func (t patchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Content-Type", patchType)
	return t.next.RoundTrip(r)
}

// doPatch is do for a PATCH of a JSON patch.
func (c *Client) doPatch(ctx context.Context, token, path string, ops any) ([]byte, error) {
	hc := *c.http
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = patchTransport{next}
	pc := *c
	pc.http = &hc
	return pc.do(ctx, token, http.MethodPatch, path, ops)
}
