package compute

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

func TestPolicyFileOverridesDefaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	rules := `"os_compute_api:os-flavor-manage:create": "role:member"
"os_compute_api:os-keypairs:index": "!"
`
	if err := os.WriteFile(file, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PolicyFile = file
	a := newAPIWith(t, cfg)
	a.call("POST", "/v2.1/flavors", flavorBody("by-member", 64, 1, 1, nil), "token=member").must(t, 200)
	a.call("POST", "/v2.1/flavors", flavorBody("by-reader", 64, 1, 1, nil), "token=reader").must(t, 403)
	a.call("GET", "/v2.1/os-keypairs", nil, "token=admin").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-keypairs:index to be performed.")

	cfg.PolicyFile = filepath.Join(dir, "missing.yaml")
	if _, err := New(context.Background(), cfg, Options{DB: db.OpenTest(t, nil)}); err == nil {
		t.Error("a missing policy file was accepted")
	}
}

func TestPolicyDefaultsParse(t *testing.T) {
	if _, err := policy.New(PolicyDefaults()); err != nil {
		t.Fatal(err)
	}
	// The legacy is_admin rules mean the admin role, as Nova's context
	// sets is_admin from context_is_admin.
	a := newAPI(t)
	if !a.svc.allowed(tokens["admin"], "admin_api", map[string]any{}) || a.svc.allowed(tokens["member"], "admin_api", map[string]any{}) {
		t.Error("is_admin is not derived from context_is_admin")
	}
}
