package slo_test

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/bulk"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/dlo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/objcopy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

// TestSwiftCLISegmentedUpload drives Debian's swift client (python3-
// swiftclient) against the pipeline: upload with --segment-size as a
// dynamic (the client's default) and as a static (--use-slo) large object,
// download, overwrite (the client removes the old segments), delete.
func TestSwiftCLISegmentedUpload(t *testing.T) {
	swiftBin, err := exec.LookPath("swift")
	if err != nil {
		t.Skip("swift client not installed (apt install python3-swiftclient)")
	}
	if testing.Short() {
		t.Skip("runs the swift client")
	}
	c := proxytest.Start(t, proxytest.Options{
		Middle: func(core http.Handler) http.Handler { return objcopy.New(slo.New(dlo.New(core))) },
		Front:  func(auth http.Handler) http.Handler { return bulk.New(auth) },
		Info:   map[string]any{"slo": slo.Info(), "bulk_delete": bulk.Info(), "bulk_upload": bulk.UploadInfo()},
	})
	storage := c.URL + "/v1/" + c.Account(tok)
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(swiftBin, append([]string{"--os-auth-token", tok, "--os-storage-url", storage}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "OS_AUTH_URL=", "ST_AUTH=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("swift %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, mode := range []struct {
		name  string
		flags []string
		check string // the header that marks the large object
	}{
		{"dlo", nil, "X-Object-Manifest"},
		{"slo", []string{"--use-slo"}, "X-Static-Large-Object"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			cont := "cli-" + mode.name
			args := append([]string{"upload", "--segment-size", "1048576"}, mode.flags...)
			run(append(args, cont, "big.bin")...)
			resp, body := c.Do("GET", "/v1/"+c.Account(tok)+"/"+cont+"/big.bin", tok, nil)
			if !bytes.Equal(body, data) || resp.Header.Get(mode.check) == "" {
				t.Fatalf("GET after upload: %d bytes, %v", len(body), resp.Header)
			}
			segs := run("list", cont+"_segments")
			if n := len(strings.Fields(segs)); n != 4 {
				t.Errorf("%d segments: %q", n, segs)
			}

			out := filepath.Join(dir, mode.name+".out")
			run("download", cont, "big.bin", "-o", out)
			got, err := os.ReadFile(out)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("download: %d bytes, %v", len(got), err)
			}
			stat := run("stat", cont, "big.bin")
			if !strings.Contains(stat, "Content Length: 3158073") {
				t.Errorf("stat:\n%s", stat)
			}

			// Overwriting with smaller segments replaces the old ones.
			run(append(append([]string{"upload", "--segment-size", "2097152"}, mode.flags...), cont, "big.bin")...)
			if n := len(strings.Fields(run("list", cont+"_segments"))); n != 2 {
				t.Errorf("after overwrite, %d segments", n)
			}
			run("download", cont, "big.bin", "-o", out)
			if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
				t.Fatal("download after overwrite differs")
			}

			run("delete", cont, "big.bin")
			if segs := strings.TrimSpace(run("list", cont+"_segments")); segs != "" {
				t.Errorf("segments left after delete: %q", segs)
			}
		})
	}
}
