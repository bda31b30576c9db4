// Package glanceclient is the compute API's client of the image service
// (Glance v2 on the wire), implementing compute.ImageAPI: it reads image
// records to check a server's image, and creates and deletes the records
// of snapshots. Calls carry the caller's token, as Nova's do, so the
// image service decides what the caller may see; any Glance v2 works.
package glanceclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Client calls one image API endpoint.
type Client struct {
	base string
	http *http.Client
}

var _ compute.ImageAPI = (*Client)(nil)

// New makes a client of the image API at endpoint ("http://host:9292",
// a trailing "/v2" allowed); hc nil is http.DefaultClient.
func New(endpoint string, hc *http.Client) *Client {
	base := strings.TrimRight(endpoint, "/")
	base = strings.TrimSuffix(base, "/v2")
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: base, http: hc}
}

// maxRecord bounds an image record read.
const maxRecord = 4 << 20

// standard are the members of an image record that are not properties.
var standard = map[string]bool{
	"id": true, "name": true, "status": true, "visibility": true, "protected": true, "os_hidden": true,
	"checksum": true, "os_hash_algo": true, "os_hash_value": true, "owner": true, "size": true,
	"virtual_size": true, "min_ram": true, "min_disk": true, "disk_format": true, "container_format": true,
	"created_at": true, "updated_at": true, "tags": true, "self": true, "file": true, "schema": true,
	"direct_url": true, "locations": true, "stores": true,
}

// apiError is an error answer of the image service.
type apiError struct {
	Status int
	Body   string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("image service answered %d: %s", e.Status, e.Body)
}

func (c *Client) do(ctx context.Context, token, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxRecord))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if res.StatusCode >= 300 {
		e := &apiError{Status: res.StatusCode, Body: strings.TrimSpace(string(data))}
		switch res.StatusCode {
		case http.StatusNotFound:
			return nil, fmt.Errorf("%w: %w", instances.ErrNotFound, e)
		case http.StatusUnauthorized:
			return nil, fault.Wrap(fault.Unauthorized, e, "The request you have made requires authentication.")
		case http.StatusForbidden:
			return nil, fault.Wrap(fault.Forbidden, e, "Not authorized for image.")
		case http.StatusConflict:
			return nil, fault.Wrap(fault.Conflict, e, "The image is in use or in a conflicting state.")
		case http.StatusRequestEntityTooLarge:
			return nil, fault.Wrap(fault.OverLimit, e, "Image quota exceeded.")
		}
		if res.StatusCode >= 500 {
			return nil, fault.Wrap(fault.Unavailable, e, "The image service is unavailable.")
		}
		return nil, fault.Wrap(fault.BadRequest, e, "The image service refused the request: %s", firstLine(e.Body))
	}
	return data, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// GetImage reads an image record; a missing or hidden image wraps
// instances.ErrNotFound.
func (c *Client) GetImage(ctx context.Context, token, id string) (*compute.ImageInfo, error) {
	if id == "" {
		return nil, fmt.Errorf("image id: %w", instances.ErrNotFound)
	}
	data, err := c.do(ctx, token, http.MethodGet, "/v2/images/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	return decodeImage(data)
}

// decodeImage reads a Glance v2 image record; members beyond the
// standard ones are properties, kept as strings.
func decodeImage(data []byte) (*compute.ImageInfo, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode image record: %w", err)
	}
	str := func(k string) string {
		var s string
		_ = json.Unmarshal(m[k], &s)
		return s
	}
	num := func(k string) int64 {
		var n json.Number
		d := json.NewDecoder(bytes.NewReader(m[k]))
		d.UseNumber()
		if d.Decode(&n) != nil {
			return 0
		}
		i, err := n.Int64()
		if err != nil {
			f, _ := strconv.ParseFloat(n.String(), 64)
			i = int64(f)
		}
		return i
	}
	img := &compute.ImageInfo{
		Image: instances.Image{
			ID: str("id"), Name: str("name"), DiskFormat: str("disk_format"), Size: num("size"),
			MinDiskGB: num("min_disk"), MinRAMMB: num("min_ram"), Checksum: str("checksum"),
			HashAlgo: str("os_hash_algo"), HashValue: str("os_hash_value"),
		},
		Status: str("status"), Visibility: str("visibility"), ContainerFormat: str("container_format"),
		Owner: str("owner"),
	}
	if img.ID == "" {
		return nil, errors.New("decode image record: no id")
	}
	for k, v := range m {
		if standard[k] || string(v) == "null" {
			continue
		}
		if img.Properties == nil {
			img.Properties = map[string]string{}
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			img.Properties[k] = s
		} else {
			img.Properties[k] = string(v)
		}
	}
	return img, nil
}

// CreateImage creates a queued image record with fields (name,
// disk_format, container_format, visibility, min_disk, ... and string
// properties) and returns its id.
func (c *Client) CreateImage(ctx context.Context, token string, fields map[string]any) (string, error) {
	data, err := c.do(ctx, token, http.MethodPost, "/v2/images", fields)
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("create image: no id in the answer")
	}
	return out.ID, nil
}

// DeleteImage deletes an image record; one already gone is not an error.
func (c *Client) DeleteImage(ctx context.Context, token, id string) error {
	_, err := c.do(ctx, token, http.MethodDelete, "/v2/images/"+url.PathEscape(id), nil)
	if errors.Is(err, instances.ErrNotFound) {
		return nil
	}
	return err
}
