package image

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	filestore "github.com/nimbus-cloud/nimbus/internal/image/store/file"
)

// noise is a pseudo-random stream of n bytes that costs about a memcpy: a
// random 1 MiB block, with the block number stamped in every 4 KiB so that
// no two blocks (and no two pages) are alike.
type noise struct {
	block  []byte
	n, off int64
}

func newNoise(n int64) *noise {
	b := make([]byte, 1<<20)
	r := rand.NewChaCha8([32]byte{'n', 'i', 'm', 'b', 'u', 's'})
	r.Read(b)
	return &noise{block: b, n: n}
}

func (z *noise) Read(p []byte) (int, error) {
	if z.off >= z.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n-z.off)]
	total := 0
	for len(p) > 0 {
		blk, in := z.off>>20, int(z.off&(1<<20-1))
		if in == 0 {
			for i := 0; i < len(z.block); i += 4096 {
				binary.LittleEndian.PutUint64(z.block[i:], uint64(blk))
			}
		}
		n := copy(p, z.block[in:])
		p, z.off, total = p[n:], z.off+int64(n), total+n
	}
	return total, nil
}

// BenchmarkUploadDownload1GiB puts 1 GiB through the HTTP upload path
// (md5, sha512, format inspection, fsync) and reads it back, over loopback
// TCP. NIMBUS_BENCH_DIR picks the disk; compare with
// dd if=/dev/zero of=X bs=1M count=1024 conv=fsync there.
func BenchmarkUploadDownload1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("1 GiB through the disk; not with -short")
	}
	const size = 1 << 30
	dir := b.TempDir()
	if d := os.Getenv("NIMBUS_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	ctx := context.Background()
	idb, err := db.Open(ctx, filepath.Join(dir, "image.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { idb.Close() })
	st, err := filestore.New(filepath.Join(dir, "images"))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(ctx, DefaultConfig(), Options{DB: idb, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	// The identity service is not what is measured: one fixed member.
	p := &authn.Principal{UserID: "u", ProjectID: "p", Roles: []string{"member", "reader"}}
	p.Seal()
	v := authn.ValidatorFunc(func(context.Context, string) (*authn.Principal, error) { return p, nil })
	srv := httptest.NewServer(svc.Handler(httpx.Options{}, v))
	b.Cleanup(srv.Close)
	// Big buffers: with the default 4 KiB the client's write calls, not
	// the server, set the pace.
	client := &http.Client{Transport: &http.Transport{WriteBufferSize: 1 << 20, ReadBufferSize: 1 << 20}}
	call := func(method, path string, body io.Reader, length int64, want int) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, body)
		req.ContentLength = length
		req.Header.Set("X-Auth-Token", "t")
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		} else if method == "PUT" {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != want {
			out, _ := io.ReadAll(resp.Body)
			b.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, out)
		}
		return resp
	}

	sum := md5.New()
	io.Copy(sum, newNoise(size))
	want := hex.EncodeToString(sum.Sum(nil))

	buf := make([]byte, 4<<20)
	b.SetBytes(size)
	var up, down time.Duration
	for i := 0; b.Loop(); i++ {
		resp := call("POST", "/v2/images", strings.NewReader(`{"disk_format": "raw", "container_format": "bare"}`), -1, 201)
		id := resp.Header.Get("Location")[strings.LastIndex(resp.Header.Get("Location"), "/")+1:]
		resp.Body.Close()
		t0 := time.Now()
		call("PUT", "/v2/images/"+id+"/file", newNoise(size), size, 204).Body.Close()
		t1 := time.Now()
		resp = call("GET", "/v2/images/"+id+"/file", nil, 0, 200)
		// Not io.Discard's ReadFrom: it reads 8 KiB at a time.
		n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, resp.Body, buf)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("download: %d bytes, %v", n, err)
		}
		t2 := time.Now()
		if got := resp.Header.Get("Content-MD5"); got != want {
			b.Fatalf("md5 = %s, want %s", got, want)
		}
		up += t1.Sub(t0)
		down += t2.Sub(t1)
		b.StopTimer()
		call("DELETE", "/v2/images/"+id, nil, 0, 204).Body.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(size*b.N)/1e6/up.Seconds(), "up-MB/s")
	b.ReportMetric(float64(size*b.N)/1e6/down.Seconds(), "down-MB/s")
}

func TestNoise(t *testing.T) {
	const n = 3<<20 + 5
	a, _ := io.ReadAll(newNoise(n))
	var b []byte
	z := newNoise(n)
	buf := make([]byte, 7777)
	for {
		k, err := z.Read(buf)
		b = append(b, buf[:k]...)
		if err == io.EOF {
			break
		}
	}
	if len(a) != n || string(a) != string(b) {
		t.Fatalf("noise is not the same stream read two ways: %d, %d bytes", len(a), len(b))
	}
	if string(a[:1<<20]) == string(a[1<<20:2<<20]) || string(a[:4096]) == string(a[4096:8192]) {
		t.Fatal("noise repeats")
	}
}
