package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/app"
	"github.com/nimbus-cloud/nimbus/internal/config"
)

// TestComputeAgainstNimbus runs the compute modes against the real cloud
// in this process (app.Run as nimbus up runs it) with three fake hosts:
// what the tool sends is what Nimbus's Compute API takes, and what it
// reads (statuses, the BUILD filter, quotas, deletes) is what it answers.
func TestComputeAgainstNimbus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole cloud")
	}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not found (Debian package qemu-utils): needed for the image")
	}
	dir := t.TempDir()
	cfg := config.Default(dir)
	for _, p := range []*int{&cfg.Identity.Port, &cfg.Image.Port, &cfg.ObjectStore.ProxyPort, &cfg.ObjectStore.StoragePort,
		&cfg.Placement.Port, &cfg.Compute.Port, &cfg.Compute.MetadataPort, &cfg.Compute.NoVNCProxyPort, &cfg.Compute.SerialProxyPort} {
		*p = freeTCPPort(t)
	}
	cfg.Identity.BcryptCost = 4
	cfg.LogLevel = "warn"
	cfg.Compute.Driver = "fake"
	cfg.Compute.FakeHosts = 3

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan map[string]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Bootstrap: true, Ready: func(eps map[string]string) { ready <- eps }})
	}()
	var eps map[string]string
	select {
	case eps = <-ready:
	case err := <-done:
		t.Fatalf("nimbus failed before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("nimbus not ready in 60 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("nimbus did not stop in 20 s")
		}
	})
	authURL := eps["identity"]
	password := openrcPassword(t, cfg.Path("admin-openrc"))

	uploadImage(t, authURL, password, filepath.Join(dir, "load.qcow2"))
	waitComputeHosts(t, authURL, password, 3)

	args := []string{"--auth-url", authURL, "--password", password, "--timeout", "20s"}
	code, out, errOut := runLoad(t, append([]string{"compute", "scale", "--servers", "30", "--concurrency", "4", "--poll", "10ms"}, args...)...)
	if code != 0 {
		t.Fatalf("scale: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := resultField(t, out, "scale", "active"); n != 30 {
		t.Errorf("scale: %v ACTIVE, want 30:\n%s", n, out)
	}
	code, out, errOut = runLoad(t, append([]string{"compute", "post", "--servers", "10", "--concurrency", "1,4", "--poll", "10ms"}, args...)...)
	if code != 0 || !strings.Contains(out, "10 ACTIVE, 0 ERROR") {
		t.Fatalf("post: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runLoad(t, append([]string{"compute", "active", "--servers", "3", "--poll", "5ms"}, args...)...)
	if code != 0 {
		t.Fatalf("active: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// Every run deletes what it made.
	if n := countServers(t, authURL, password); n != 0 {
		t.Errorf("%d servers left after the runs, want 0", n)
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func openrcPassword(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "export OS_PASSWORD="); ok {
			return strings.Trim(v, `'"`)
		}
	}
	t.Fatal("no OS_PASSWORD in admin-openrc")
	return ""
}

// adminLogin is a token and the catalog of the admin project.
func adminLogin(t *testing.T, authURL, password string) cloudLogin {
	t.Helper()
	l, err := loginCatalog(t.Context(), http.DefaultClient, keystoneCreds{authURL: authURL, username: "admin",
		password: password, project: "admin", userDomain: "Default", projectDomain: "Default"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// uploadImage makes a 16 MiB qcow2 image, public and active.
func uploadImage(t *testing.T, authURL, password, path string) {
	t.Helper()
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", path, "16M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	l := adminLogin(t, authURL, password)
	var img struct {
		ID string `json:"id"`
	}
	err := callJSON(t.Context(), http.DefaultClient, l.token, "POST", l.endpoints["image"], "/v2/images",
		map[string]any{"name": "load", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"}, &img, nil, http.StatusCreated)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", l.endpoints["image"]+"/v2/images/"+img.ID+"/file", bytes.NewReader(data))
	req.Header.Set("X-Auth-Token", l.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %s: %s", resp.Status, b)
	}
}

// waitComputeHosts waits until n compute services are up.
func waitComputeHosts(t *testing.T, authURL, password string, n int) {
	t.Helper()
	l := adminLogin(t, authURL, password)
	nv := &nova{c: http.DefaultClient, url: l.endpoints["compute"], token: l.token, mv: "2.37"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct {
			Services []struct {
				Binary, State string
			} `json:"services"`
		}
		if err := nv.do(t.Context(), "GET", "/os-services", nil, &out, http.StatusOK); err != nil {
			t.Fatal(err)
		}
		up := 0
		for _, s := range out.Services {
			if s.Binary == "nova-compute" && s.State == "up" {
				up++
			}
		}
		if up >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d compute services up after 30 s, want %d", up, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countServers(t *testing.T, authURL, password string) int {
	t.Helper()
	l := adminLogin(t, authURL, password)
	nv := &nova{c: http.DefaultClient, url: l.endpoints["compute"], token: l.token, mv: "2.37"}
	var out struct {
		Servers []json.RawMessage `json:"servers"`
	}
	if err := nv.do(t.Context(), "GET", fmt.Sprintf("/servers?all_tenants=1&limit=%d", 1000), nil, &out, http.StatusOK); err != nil {
		t.Fatal(err)
	}
	return len(out.Servers)
}
