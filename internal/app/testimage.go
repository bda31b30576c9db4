package app

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/nimbus-cloud/nimbus/internal/authn"
)

// TestImageName is the name the test guest image is registered under.
const TestImageName = "nimbus-test-guest"

// registerTestImage uploads the test guest image (test/guest/build-image.sh)
// to the image service as a public qcow2 image, unless an active image of
// that name with the same checksum is there already, so that a newcomer
// can boot a server at once. It uses the image API like any client.
func registerTestImage(ctx context.Context, imageURL string, tokens authn.TokenSource, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("test image: %w", err)
	}
	defer f.Close()
	sum := md5.New()
	size, err := io.Copy(sum, f)
	if err != nil {
		return "", fmt.Errorf("test image: %w", err)
	}
	checksum := hex.EncodeToString(sum.Sum(nil))
	token, err := tokens.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("test image: service token: %w", err)
	}
	call := func(method, path, ctype string, body io.Reader, size int64, out any) error {
		req, err := http.NewRequestWithContext(ctx, method, imageURL+path, body)
		if err != nil {
			return err
		}
		req.Header.Set("X-Auth-Token", token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if size >= 0 {
			req.ContentLength = size
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
	var list struct {
		Images []struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			Checksum string `json:"checksum"`
		} `json:"images"`
	}
	if err := call(http.MethodGet, "/v2/images?name="+url.QueryEscape(TestImageName), "", nil, -1, &list); err != nil {
		return "", fmt.Errorf("test image: %w", err)
	}
	for _, im := range list.Images {
		if im.Status == "active" && im.Checksum == checksum {
			return im.ID, nil
		}
	}
	meta, _ := json.Marshal(map[string]any{"name": TestImageName, "disk_format": "qcow2", "container_format": "bare",
		"visibility": "public", "os_distro": "nimbus-test-guest", "hw_architecture": "x86_64"})
	var created struct {
		ID string `json:"id"`
	}
	if err := call(http.MethodPost, "/v2/images", "application/json", bytes.NewReader(meta), int64(len(meta)), &created); err != nil {
		return "", fmt.Errorf("test image: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if err := call(http.MethodPut, "/v2/images/"+created.ID+"/file", "application/octet-stream", f, size, nil); err != nil {
		return "", fmt.Errorf("test image: %w", err)
	}
	return created.ID, nil
}
