package swift

import (
	"context"
	"fmt"
	"net/http"
)

// TempAuth is an Endpoint that logs in with Swift's v1.0 auth (tempauth,
// swauth, a SAIO): GET authURL with X-Auth-User and X-Auth-Key, answered
// with X-Storage-Url and X-Auth-Token. client nil: http.DefaultClient.
func TempAuth(client *http.Client, authURL, user, key string) func(context.Context) (string, string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) (string, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
		if err != nil {
			return "", "", err
		}
		req.Header.Set("X-Auth-User", user)
		req.Header.Set("X-Auth-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			return "", "", fmt.Errorf("swift auth: %w", err)
		}
		defer drain(resp)
		if resp.StatusCode/100 != 2 {
			return "", "", fmt.Errorf("swift auth as %s: %s", user, resp.Status)
		}
		u, tok := resp.Header.Get("X-Storage-Url"), resp.Header.Get("X-Auth-Token")
		if u == "" || tok == "" {
			return "", "", fmt.Errorf("swift auth as %s: no X-Storage-Url or X-Auth-Token", user)
		}
		return u, tok, nil
	}
}
