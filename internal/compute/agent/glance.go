package agent

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Glance fetches and uploads image data over the Image API v2 with a
// token. The image service's typed client will replace it; it is here so
// that an agent works against any Glance, Nimbus's or OpenStack's.
type Glance struct {
	// URL is the image API's endpoint from the catalog, e.g.
	// "http://controller:9292" (a trailing "/v2" is allowed).
	URL   string
	Token string       // sent as X-Auth-Token; never logged
	HTTP  *http.Client // nil: http.DefaultClient
}

var (
	_ ImageFetcher  = (*Glance)(nil)
	_ ImageUploader = (*Glance)(nil)
)

// glanceImage is the part of an image record a download checks.
type glanceImage struct {
	Status     string  `json:"status"`
	DiskFormat *string `json:"disk_format"`
	Size       *int64  `json:"size"`
	Checksum   *string `json:"checksum"`
}

// Fetch reads the image record (it must be active), then its data,
// checking the size and MD5 checksum the record gives.
func (g *Glance) Fetch(ctx context.Context, id string, w io.Writer) (string, error) {
	resp, err := g.do(ctx, http.MethodGet, "/v2/images/"+url.PathEscape(id), nil, -1)
	if err != nil {
		return "", err
	}
	var img glanceImage
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&img)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("image %s: decode record: %w", id, err)
	}
	if img.Status != "active" {
		return "", fmt.Errorf("image %s is %s, not active: %w", id, img.Status, ErrImageInvalid)
	}
	format := ""
	if img.DiskFormat != nil {
		format = *img.DiskFormat
	}

	resp, err = g.do(ctx, http.MethodGet, "/v2/images/"+url.PathEscape(id)+"/file", nil, -1)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return "", fmt.Errorf("image %s has no data: %w", id, ErrImageInvalid)
	}
	sum := md5.New()
	n, err := io.Copy(io.MultiWriter(w, sum), resp.Body)
	if err != nil {
		return "", fmt.Errorf("image %s: download: %w", id, err)
	}
	if img.Size != nil && n != *img.Size {
		return "", fmt.Errorf("image %s: got %d bytes of %d: %w", id, n, *img.Size, ErrImageInvalid)
	}
	want := resp.Header.Get("Content-MD5")
	if img.Checksum != nil {
		want = *img.Checksum
	}
	if got := hex.EncodeToString(sum.Sum(nil)); want != "" && !strings.EqualFold(got, want) {
		return "", fmt.Errorf("image %s: checksum %s, the image service says %s: %w", id, got, want, ErrImageInvalid)
	}
	return format, nil
}

// Upload puts a snapshot's data into a queued image.
func (g *Glance) Upload(ctx context.Context, id string, r io.Reader, size int64) error {
	resp, err := g.do(ctx, http.MethodPut, "/v2/images/"+url.PathEscape(id)+"/file", r, size)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// do sends one request and returns a 2xx response; any other status is
// an error (404 wrapping ErrImageNotFound).
func (g *Glance) do(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, error) {
	base := strings.TrimSuffix(strings.TrimRight(g.URL, "/"), "/v2")
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, fmt.Errorf("image API: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
		if size >= 0 {
			req.ContentLength = size
		}
	}
	if g.Token != "" {
		req.Header.Set("X-Auth-Token", g.Token)
	}
	client := g.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("image API %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	err = &httpError{Method: method, Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(msg))}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %w", err, ErrImageNotFound)
	}
	return nil, err
}

// httpError is an image API answer other than 2xx.
type httpError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *httpError) Error() string {
	status := strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	s := "image API " + e.Method + " " + e.Path + ": " + status
	// Glance's plain text bodies repeat the status line first.
	if body := strings.TrimPrefix(strings.Join(strings.Fields(e.Body), " "), status); strings.TrimSpace(body) != "" {
		s += ": " + clip(strings.TrimSpace(body))
	}
	return s
}

// unauthorized reports whether err is the image API refusing the token:
// another host would be refused as well.
func unauthorized(err error) bool {
	var he *httpError
	return errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden)
}

func clip(s string) string {
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
