package swift

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// KeystoneAuth is what KeystoneEndpoint logs in with: a user of a
// project, and which catalog entry of type object-store to use.
type KeystoneAuth struct {
	AuthURL                           string // identity endpoint, with or without /v3
	Username, Password, ProjectName   string
	UserDomainName, ProjectDomainName string // default "Default"
	Region, Interface                 string // catalog filters; Interface default "public"
}

// KeystoneEndpoint returns an Endpoint that finds Swift through the
// Keystone v3 catalog: it gets a project-scoped token by password and
// picks the object-store endpoint of the region and interface.
func KeystoneEndpoint(client *http.Client, a KeystoneAuth) func(context.Context) (string, string, error) {
	if client == nil {
		client = http.DefaultClient
	}
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	url := strings.TrimSuffix(strings.TrimSuffix(a.AuthURL, "/"), "/v3") + "/v3/auth/tokens"
	return func(ctx context.Context) (string, string, error) {
		body, _ := json.Marshal(map[string]any{"auth": map[string]any{
			"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
				"name": a.Username, "password": a.Password, "domain": map[string]any{"name": or(a.UserDomainName, "Default")}}}},
			"scope": map[string]any{"project": map[string]any{"name": a.ProjectName,
				"domain": map[string]any{"name": or(a.ProjectDomainName, "Default")}}}}})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return "", "", err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return "", "", fmt.Errorf("swift: keystone auth: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return "", "", fmt.Errorf("swift: keystone auth: HTTP %d", resp.StatusCode)
		}
		var tok struct {
			Token struct {
				Catalog []struct {
					Type      string `json:"type"`
					Endpoints []struct {
						Interface string `json:"interface"`
						Region    string `json:"region_id"`
						URL       string `json:"url"`
					} `json:"endpoints"`
				} `json:"catalog"`
			} `json:"token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
			return "", "", fmt.Errorf("swift: keystone auth: %w", err)
		}
		for _, svc := range tok.Token.Catalog {
			if svc.Type != "object-store" {
				continue
			}
			for _, ep := range svc.Endpoints {
				if ep.Interface == or(a.Interface, "public") && (a.Region == "" || ep.Region == a.Region) {
					return ep.URL, resp.Header.Get("X-Subject-Token"), nil
				}
			}
		}
		return "", "", fmt.Errorf("swift: no object-store endpoint in the catalog of %s", a.ProjectName)
	}
}
