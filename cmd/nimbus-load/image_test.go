package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/image"
	filestore "github.com/nimbus-cloud/nimbus/internal/image/store/file"
)

// imageCloud is the real image service, with a fixed member as the
// authenticated caller, and a keystone that only issues tokens whose
// catalog points at it. wrap, if set, sits in front of the image service.
func imageCloud(t *testing.T, wrap func(http.Handler) http.Handler) (authURL, storeDir string) {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	idb, err := db.Open(ctx, filepath.Join(dir, "image.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idb.Close() })
	storeDir = filepath.Join(dir, "images")
	st, err := filestore.New(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := image.New(ctx, image.DefaultConfig(), image.Options{DB: idb, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	p := &authn.Principal{UserID: "u", ProjectID: "p", Roles: []string{"member", "reader"}}
	p.Seal()
	v := authn.ValidatorFunc(func(_ context.Context, tok string) (*authn.Principal, error) {
		if tok != "tok" {
			return nil, fault.Unauthorizedf("The request you have made requires authentication.")
		}
		return p, nil
	})
	var h http.Handler = svc.Handler(httpx.Options{}, v)
	if wrap != nil {
		h = wrap(h)
	}
	img := httptest.NewServer(h)
	t.Cleanup(img.Close)
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != "POST" || r.URL.Path != "/v3/auth/tokens" || !bytes.Contains(body, []byte(`"password":"pw"`)) {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Subject-Token", "tok")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"token": {"catalog": [{"type": "image", "endpoints": [
			{"interface": "internal", "url": "http://127.0.0.1:1"}, {"interface": "public", "url": %q}]}]}}`, img.URL)
	}))
	t.Cleanup(ks.Close)
	return ks.URL + "/v3", storeDir
}

func TestImageRoundTrip(t *testing.T) {
	authURL, storeDir := imageCloud(t, nil)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"image", "--auth-url", authURL, "--password", "pw", "--size", "3MiB"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"upload:", "download:", "data ok:", "RESULT up_MBps="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if files, _ := filepath.Glob(filepath.Join(storeDir, "*")); len(files) != 0 {
		t.Errorf("image not deleted: %v", files)
	}
}

func TestImageKeepThenDownloadOnly(t *testing.T) {
	authURL, storeDir := imageCloud(t, nil)
	var out, errOut bytes.Buffer
	args := []string{"image", "--auth-url", authURL, "--password", "pw", "--size", "2MiB"}
	if code := run(t.Context(), append(args, "--keep"), &out, &errOut); code != 0 {
		t.Fatalf("--keep: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	_, rest, _ := strings.Cut(out.String(), "image:    ")
	id, _, _ := strings.Cut(rest, "\n")
	out.Reset()
	if code := run(t.Context(), append(args, "--image", id), &out, &errOut); code != 0 {
		t.Fatalf("--image %s: exit %d\n%s%s", id, code, out.String(), errOut.String())
	}
	if s := out.String(); strings.Contains(s, "upload:") || !strings.Contains(s, "RESULT down_MBps=") {
		t.Errorf("--image uploads, or reports no download:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(storeDir, id)); err != nil {
		t.Errorf("image %s not kept: %v", id, err)
	}
	// The data is checked against the stream of --size: 1 MiB is too short.
	if code := run(t.Context(), []string{"image", "--auth-url", authURL, "--password", "pw", "--size", "1MiB", "--image", id}, &out, &errOut); code != 1 {
		t.Errorf("--image with another --size: exit %d, want 1", code)
	}
}

func TestImageDetectsCorruption(t *testing.T) {
	// A download that differs in one byte must fail the run.
	corrupt := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/file") {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				b := rec.Body.Bytes()
				b[len(b)/2] ^= 1
				w.WriteHeader(rec.Code)
				w.Write(b)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	authURL, _ := imageCloud(t, corrupt)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"image", "--auth-url", authURL, "--password", "pw", "--size", "1MiB"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "byte 524288 differs from the upload") {
		t.Fatalf("exit %d, want 1 with a difference at the middle byte\n%s%s", code, out.String(), errOut.String())
	}
}

func TestImageDetectsWrongChecksum(t *testing.T) {
	// The data is right but the image's checksum is not its md5.
	wrongSum := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/file") {
				w = &headerEdit{ResponseWriter: w}
			}
			next.ServeHTTP(w, r)
		})
	}
	authURL, _ := imageCloud(t, wrongSum)
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"image", "--auth-url", authURL, "--password", "pw", "--size", "1MiB"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "image checksum (Content-MD5) 00000000000000000000000000000000") {
		t.Fatalf("exit %d, want 1 with a checksum mismatch\n%s%s", code, out.String(), errOut.String())
	}
}

// headerEdit replaces Content-MD5 with zeros as the header goes out.
type headerEdit struct{ http.ResponseWriter }

func (h *headerEdit) WriteHeader(code int) {
	h.Header().Set("Content-MD5", strings.Repeat("0", 32))
	h.ResponseWriter.WriteHeader(code)
}

func TestImageBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"image", "--size", "lots", "--password", "pw"},
		{"image", "--size", "-1", "--password", "pw"},
		{"image"}, // no password
		{"image", "--password", "pw", "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1GiB": 1 << 30, "4G": 4 << 30, "512MiB": 512 << 20, "10MB": 10e6, "7": 7, "3KiB": 3072, "2TiB": 2 << 40, "5B": 5,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "0", "-5M", "1.5G", "9999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}

func TestNoiseStream(t *testing.T) {
	const n = 2<<20 + 3
	a, _ := io.ReadAll(newNoise(n))
	var b []byte
	z, buf := newNoise(n), make([]byte, 7777)
	for {
		k, err := z.Read(buf)
		b = append(b, buf[:k]...)
		if err == io.EOF {
			break
		}
	}
	if len(a) != n || !bytes.Equal(a, b) {
		t.Fatalf("noise read two ways: %d and %d bytes, or different", len(a), len(b))
	}
	for _, step := range []int{1, 4096, 1<<20 + 1, n} {
		z := newNoise(n)
		for i := 0; i < n; i += step {
			if at := z.diff(a[i:min(i+step, n)]); at >= 0 {
				t.Fatalf("diff of the stream itself in steps of %d: %d", step, at)
			}
		}
	}
	c := bytes.Clone(a)
	c[1<<20+5] ^= 0x80
	if at := newNoise(n).diff(c); at != 1<<20+5 {
		t.Fatalf("diff at %d, want %d", at, 1<<20+5)
	}
	if at := newNoise(n).diff(append(bytes.Clone(a), 0)); at != n {
		t.Fatalf("diff of a byte too many at %d, want %d", at, n)
	}
	if md5.Sum(a[:1<<20]) == md5.Sum(a[1<<20:2<<20]) || md5.Sum(a[:1<<20]) == md5.Sum(make([]byte, 1<<20)) {
		t.Fatal("noise repeats, or is zeros")
	}
}
