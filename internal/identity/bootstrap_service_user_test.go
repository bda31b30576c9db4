package identity

import (
	"context"
	"net/http"
	"slices"
	"testing"
)

// The services' own user gets a token scoped to the service project with
// the admin and service roles, and each bootstrap's new password replaces
// the last one.
func TestBootstrapServiceUser(t *testing.T) {
	c := newTestCloud(t)
	boot := func(password string) {
		t.Helper()
		if _, err := c.svc.Bootstrap(context.Background(), BootstrapOptions{AdminUser: "admin", AdminProject: "admin",
			ServiceUser: "nimbus", ServicePassword: password}); err != nil {
			t.Fatal(err)
		}
	}
	scope := map[string]any{"project": map[string]any{"name": "service", "domain": map[string]any{"id": DefaultDomainID}}}
	boot("first-secret")
	tok := c.passwordToken("nimbus", "first-secret", scope)
	p, err := c.svc.Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(p.Roles, "admin") || !slices.Contains(p.Roles, "service") || p.ProjectName != "service" {
		t.Errorf("service user's token: project %q roles %v, want project service with admin and service", p.ProjectName, p.Roles)
	}

	boot("second-secret")
	c.passwordToken("nimbus", "second-secret", scope)
	auth := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": "nimbus", "password": "first-secret",
			"domain": map[string]any{"id": DefaultDomainID}}}}}}
	if resp, _ := c.do("POST", "/v3/auth/tokens", "", auth); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old service password after a new bootstrap: %d, want 401", resp.StatusCode)
	}
}
