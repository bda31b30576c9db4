package compute

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
)

// fakeKeystone issues one admin token whose catalog points at compute.
func fakeKeystone(t *testing.T, computeURL string) *httptest.Server {
	mux := http.NewServeMux()
	var self string
	mux.HandleFunc("GET /v3", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"version": map[string]any{"id": "v3.14", "status": "stable",
			"updated": "2020-04-07T00:00:00Z", "links": []any{map[string]any{"rel": "self", "href": self + "/v3/"}},
			"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}}}})
	})
	mux.HandleFunc("POST /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC()
		w.Header().Set("X-Subject-Token", "admin")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
			"methods":    []string{"password"},
			"user":       map[string]any{"id": "u-admin", "name": "admin", "domain": map[string]any{"id": "default", "name": "Default"}},
			"project":    map[string]any{"id": adminProject, "name": "admin", "domain": map[string]any{"id": "default", "name": "Default"}},
			"roles":      []any{map[string]any{"id": "r1", "name": "admin"}},
			"issued_at":  now.Format("2006-01-02T15:04:05.000000Z"),
			"expires_at": now.Add(time.Hour).Format("2006-01-02T15:04:05.000000Z"),
			"catalog": []any{
				map[string]any{"type": "compute", "name": "nova", "id": "c1", "endpoints": []any{
					map[string]any{"id": "e1", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": computeURL + "/v2.1"},
				}},
				map[string]any{"type": "identity", "name": "keystone", "id": "c2", "endpoints": []any{
					map[string]any{"id": "e2", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": self + "/v3"},
				}},
			},
		}})
	})
	mux.HandleFunc("GET /v3/projects/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != adminProject {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"project": map[string]any{"id": adminProject, "name": "admin",
			"domain_id": "default", "enabled": true, "is_domain": false, "parent_id": "default"}})
	})
	srv := httptest.NewServer(mux)
	self = srv.URL
	t.Cleanup(srv.Close)
	return srv
}

// TestOpenStackCLI drives the compute API with Debian's openstack client,
// as a user would.
func TestOpenStackCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the openstack client")
	}
	if _, err := os.Stat("/usr/bin/openstack"); err != nil {
		t.Skip("python3-openstackclient is not installed")
	}
	svc, err := New(context.Background(), DefaultConfig(), Options{DB: db.OpenTest(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	validator := authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		if token != "admin" {
			return nil, fault.Unauthorizedf("The request you have made requires authentication.")
		}
		return tokens["admin"], nil
	})
	compute := httptest.NewServer(svc.Handler(httpx.Options{}, validator))
	t.Cleanup(compute.Close)
	ks := fakeKeystone(t, compute.URL)

	home := t.TempDir()
	env := []string{"HOME=" + home, "PATH=/usr/bin:/bin", "OS_AUTH_URL=" + ks.URL + "/v3", "OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME=admin", "OS_PASSWORD=secret", "OS_PROJECT_NAME=admin", "OS_USER_DOMAIN_NAME=Default",
		"OS_PROJECT_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne", "OS_INTERFACE=public"}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "/usr/bin/openstack", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	jsonOut := func(v any, args ...string) {
		t.Helper()
		out := run(append(args, "-f", "json")...)
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	var f map[string]any
	jsonOut(&f, "--os-compute-api-version", "2.55", "flavor", "create", "--id", "7", "--ram", "128", "--disk", "1",
		"--vcpus", "2", "--property", "hw:cpu_policy=shared", "--description", "a small one", "small")
	if f["id"] != "7" || f["ram"] != 128.0 || f["vcpus"] != 2.0 || f["description"] != "a small one" {
		t.Errorf("flavor create: %v", f)
	}
	var list []map[string]any
	// The SDK asks for 2.61 here and gets the extra specs in the list.
	jsonOut(&list, "flavor", "list", "--long")
	if len(list) != 1 || !strings.Contains(asJSON(list[0]["Properties"]), "hw:cpu_policy") {
		t.Errorf("flavor list --long: %v", list)
	}
	jsonOut(&list, "flavor", "list")
	if len(list) != 1 || list[0]["Name"] != "small" || list[0]["RAM"] != 128.0 || list[0]["Is Public"] != true {
		t.Errorf("flavor list: %v", list)
	}
	jsonOut(&f, "--os-compute-api-version", "2.61", "flavor", "show", "small")
	if !strings.Contains(asJSON(f["properties"]), "hw:cpu_policy") {
		t.Errorf("flavor show: %v", f)
	}

	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line, fp := authorizedKey(t, edPub)
	keyFile := filepath.Join(home, "id.pub")
	if err := os.WriteFile(keyFile, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var k map[string]any
	jsonOut(&k, "keypair", "create", "--public-key", keyFile, "mykey")
	if k["fingerprint"] != fp || k["name"] != "mykey" {
		t.Errorf("keypair create: %v (want fingerprint %s)", k, fp)
	}
	jsonOut(&list, "keypair", "list")
	if len(list) != 1 || list[0]["Name"] != "mykey" || list[0]["Fingerprint"] != fp {
		t.Errorf("keypair list: %v", list)
	}
	if priv := run("keypair", "create", "generated"); !strings.Contains(priv, "PRIVATE KEY") {
		t.Errorf("generated keypair: %s", priv)
	}
	run("keypair", "delete", "mykey")

	var limits []map[string]any
	jsonOut(&limits, "limits", "show", "--absolute")
	found := false
	for _, l := range limits {
		if l["Name"] == "maxTotalCores" && l["Value"] == 20.0 {
			found = true
		}
	}
	if !found {
		t.Errorf("limits: %v", limits)
	}
	var zones []map[string]any
	jsonOut(&zones, "availability", "zone", "list", "--compute")
	if len(zones) != 1 || zones[0]["Zone Name"] != "nova" || zones[0]["Zone Status"] != "available" {
		t.Errorf("zones: %v", zones)
	}
	run("quota", "set", "--cores", "33", "--key-pairs", "7", adminProject)
	var quota map[string]any
	jsonOut(&quota, "quota", "show", adminProject)
	if quota["cores"] != 33.0 || quota["key-pairs"] != 7.0 {
		t.Errorf("quota show: %v", quota)
	}
	run("flavor", "delete", "small")
	jsonOut(&list, "flavor", "list")
	if len(list) != 0 {
		t.Errorf("after delete: %v", list)
	}
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTempestClientSchemas runs Tempest's compute service clients against
// the API at many microversions; they check each answer against
// Tempest's JSON schema for that version.
func TestTempestClientSchemas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Tempest's clients")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import tempest.lib.services.compute").Run(); err != nil {
		t.Skip("python3-tempest is not installed")
	}
	svc, err := New(context.Background(), DefaultConfig(), Options{DB: db.OpenTest(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	validator := authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		if token != "admin" {
			return nil, fault.Unauthorizedf("The request you have made requires authentication.")
		}
		return tokens["admin"], nil
	})
	compute := httptest.NewServer(svc.Handler(httpx.Options{}, validator))
	t.Cleanup(compute.Close)
	ks := fakeKeystone(t, compute.URL)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line, _ := authorizedKey(t, edPub)

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/tempest_clients.py")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AUTH_URL=" + ks.URL + "/v3",
		"PROJECT=" + adminProject, "PUBLIC_KEY=" + line}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tempest clients: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "ok "); n != 15 {
		t.Fatalf("%d microversions passed, want 15:\n%s", n, out)
	}
}
