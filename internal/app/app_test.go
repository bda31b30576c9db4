package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs the cloud until the returned stop is called.
func start(t *testing.T, cfg config.Config) (endpoints map[string]string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan map[string]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Bootstrap: true, Log: nil, Ready: func(eps map[string]string) { ready <- eps }})
	}()
	select {
	case eps := <-ready:
		return eps, func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		}
	case err := <-done:
		t.Fatalf("Run failed before ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready in 30s")
	}
	return nil, nil
}

func passwordFrom(t *testing.T, openrc string) string {
	t.Helper()
	data, err := os.ReadFile(openrc)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "export OS_PASSWORD="); ok {
			return strings.Trim(v, "'")
		}
	}
	t.Fatal("no OS_PASSWORD in admin-openrc")
	return ""
}

func issue(t *testing.T, authURL, password string) int {
	t.Helper()
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","password":%q,"domain":{"name":"Default"}}}},"scope":{"project":{"name":"admin","domain":{"name":"Default"}}}}}`, password)
	resp, err := http.Post(authURL+"/auth/tokens", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestUpBootstrapsOnceAndKeepsStateAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default(dir)
	cfg.Identity.Port = freePort(t)
	cfg.Image.Port = freePort(t)
	cfg.ObjectStore.ProxyPort = freePort(t)
	cfg.ObjectStore.StoragePort = freePort(t)
	cfg.Placement.Port = freePort(t)
	cfg.Compute.Port = freePort(t)
	cfg.Identity.BcryptCost = 4
	cfg.LogLevel = "warn"

	eps, stop := start(t, cfg)
	for _, name := range []string{"clouds.yaml", "admin-openrc"} {
		fi, err := os.Stat(cfg.Path(name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, fi.Mode().Perm())
		}
	}
	password := passwordFrom(t, cfg.Path("admin-openrc"))
	if code := issue(t, eps["identity"], password); code != 201 {
		t.Fatalf("token issue = %d, want 201", code)
	}
	clouds, _ := os.ReadFile(cfg.Path("clouds.yaml"))
	stop()

	eps, stop = start(t, cfg)
	defer stop()
	again, _ := os.ReadFile(cfg.Path("clouds.yaml"))
	if !bytes.Equal(clouds, again) {
		t.Fatal("second start rewrote clouds.yaml")
	}
	if code := issue(t, eps["identity"], password); code != 201 {
		t.Fatalf("token issue after restart = %d, want 201", code)
	}
	resp, err := http.Get(eps["identity"])
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if _, ok := v["version"]; !ok {
		t.Fatalf("GET /v3 = %v", v)
	}
}

// The keystonemiddleware path other services use: validate tokens against
// the running identity API over HTTP, as the service user.
func TestRemoteValidationAgainstRunningIdentity(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default(dir)
	cfg.Identity.Port = freePort(t)
	cfg.Image.Port = freePort(t)
	cfg.ObjectStore.ProxyPort = freePort(t)
	cfg.ObjectStore.StoragePort = freePort(t)
	cfg.Placement.Port = freePort(t)
	cfg.Compute.Port = freePort(t)
	cfg.Identity.BcryptCost = 4
	eps, stop := start(t, cfg)
	defer stop()
	password := passwordFrom(t, cfg.Path("admin-openrc"))

	remote, err := authn.NewRemote(authn.RemoteOptions{AuthURL: strings.TrimSuffix(eps["identity"], "/v3"),
		Username: "admin", Password: password, ProjectName: "admin", UserDomainName: "Default", ProjectDomainName: "Default",
		CacheTTL: -1, NegativeTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","password":%q,"domain":{"name":"Default"}}}},"scope":{"system":{"all":true}}}}`, password)
	resp, err := http.Post(eps["identity"]+"/auth/tokens", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	token := resp.Header.Get("X-Subject-Token")
	p, err := remote.Validate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if p.System != "all" || !p.HasRole("admin") || !p.HasRole("reader") {
		t.Fatalf("principal = %v", p)
	}
	if _, err := remote.Validate(context.Background(), token+"x"); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("garbled token err = %v, want Unauthorized", err)
	}
}
