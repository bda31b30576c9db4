package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type imageFlags struct {
	keystoneCreds
	imageURL, image  string
	size             string
	keep, dropCaches bool
}

// imageCmd measures one image through the Image API: create, upload a
// generated stream, download it, check its md5, delete.
func imageCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f imageFlags
	fs := flag.NewFlagSet("nimbus-load image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.addFlags(fs, "http://127.0.0.1:5000/v3", "project that owns the image")
	fs.StringVar(&f.imageURL, "image-url", "", "image endpoint; default: the public one of the token's catalog")
	fs.StringVar(&f.size, "size", "1GiB", "bytes to upload: a number with an optional suffix KiB, MiB, GiB, TiB (K, M, G, T too) or kB, MB, GB, TB")
	fs.BoolVar(&f.keep, "keep", false, "keep the image instead of deleting it")
	fs.StringVar(&f.image, "image", "", "only download this image, which an earlier run with the same --size uploaded and kept; it is kept again")
	fs.BoolVar(&f.dropCaches, "drop-caches", false, "sync and drop the kernel's page cache before the download, so that it reads the disk (root, on the server's host)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: nimbus-load image [flags]

Creates a raw image, uploads --size bytes of a generated pseudo-random
stream (never held in memory), downloads it, checks that every byte that
came back is the one sent and that the image's checksum (Content-MD5) is
the md5 of the upload, and deletes the image. Reports MB/s (10^6 bytes/s)
each way. The md5 of the upload is computed before the upload starts;
the download is compared with the regenerated stream as it arrives, which
costs a memcmp where an md5 (as glanceclient does) would cap the download
at the speed of one core's md5.

With --keep and then --image ID, a script can time other reads of the same
image between the upload and the download.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nimbus-load image: unexpected arguments %q\n", fs.Args())
		return 2
	}
	size, err := parseSize(f.size)
	if err != nil {
		fmt.Fprintf(stderr, "nimbus-load image: --size: %v\n", err)
		return 2
	}
	if f.password == "" {
		fmt.Fprintln(stderr, "nimbus-load image: --password (or OS_PASSWORD) is required")
		return 2
	}
	if err := runImage(ctx, f, size, stdout); err != nil {
		fmt.Fprintf(stderr, "nimbus-load image: %v\n", err)
		if ctx.Err() != nil {
			return 130
		}
		return 1
	}
	return 0
}

func runImage(ctx context.Context, f imageFlags, size int64, stdout io.Writer) error {
	c := &http.Client{Transport: &http.Transport{
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		DisableCompression: true,
		// With the default 4 KiB the client's write calls set the pace.
		WriteBufferSize: 1 << 20,
		ReadBufferSize:  1 << 20,
	}}
	token, endpoint, err := keystoneLogin(ctx, c, f.keystoneCreds, "image")
	if err != nil {
		return err
	}
	if f.imageURL != "" {
		endpoint = f.imageURL
	}
	if endpoint == "" {
		return errors.New("no public image endpoint in the catalog; give --image-url")
	}
	endpoint = strings.TrimSuffix(strings.TrimSuffix(endpoint, "/"), "/v2")

	call := func(method, path, ctype string, body io.Reader, length int64, want int) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, endpoint+path, body)
		if err != nil {
			return nil, err
		}
		req.ContentLength = length
		req.Header.Set("X-Auth-Token", token)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		if resp.StatusCode != want {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			resp.Body.Close()
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
		}
		return resp, nil
	}

	fmt.Fprintf(stdout, "image load: %s, %d bytes (%s)\n", endpoint, size, f.size)
	sum := md5.New()
	if _, err := io.Copy(sum, newNoise(size)); err != nil {
		return err
	}
	want := hex.EncodeToString(sum.Sum(nil))

	id, result := f.image, ""
	if id == "" {
		if id, err = createImage(call, stdout); err != nil {
			return err
		}
		if !f.keep {
			defer func() {
				if r, err := call("DELETE", "/v2/images/"+id, "", nil, 0, http.StatusNoContent); err == nil {
					r.Body.Close()
				} else {
					fmt.Fprintf(stdout, "delete image %s: %v\n", id, err)
				}
			}()
		}
		t0 := time.Now()
		resp, err := call("PUT", "/v2/images/"+id+"/file", "application/octet-stream", newNoise(size), size, http.StatusNoContent)
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		resp.Body.Close()
		up := time.Since(t0)
		fmt.Fprintf(stdout, "upload:   %8.1f MB/s (%.2f s)\n", float64(size)/1e6/up.Seconds(), up.Seconds())
		result = fmt.Sprintf("up_MBps=%.1f ", float64(size)/1e6/up.Seconds())
	}

	if f.dropCaches {
		if err := dropCaches(); err != nil {
			return err
		}
	}
	t0 := time.Now()
	resp, err := call("GET", "/v2/images/"+id+"/file", "", nil, 0, http.StatusOK)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	n, err := compare(resp.Body, newNoise(size))
	resp.Body.Close()
	down := time.Since(t0)
	if err != nil {
		return fmt.Errorf("download: after %d bytes: %w", n, err)
	}
	cache := "page cache kept"
	if f.dropCaches {
		cache = "page cache dropped"
	}
	fmt.Fprintf(stdout, "download: %8.1f MB/s (%.2f s, %s, compared with the upload as it arrives)\n", float64(n)/1e6/down.Seconds(), down.Seconds(), cache)
	header := resp.Header.Get("Content-MD5")
	switch {
	case n != size:
		return fmt.Errorf("downloaded %d bytes, uploaded %d", n, size)
	case header != "" && header != want:
		return fmt.Errorf("image checksum (Content-MD5) %s, md5 of the upload %s", header, want)
	}
	fmt.Fprintf(stdout, "data ok:  every byte as uploaded, md5 %s\n", want)
	fmt.Fprintf(stdout, "RESULT %sdown_MBps=%.1f bytes=%d\n", result, float64(n)/1e6/down.Seconds(), size)
	return nil
}

type callFunc func(method, path, ctype string, body io.Reader, length int64, want int) (*http.Response, error)

// createImage creates a raw image for the data and prints its id.
func createImage(call callFunc, stdout io.Writer) (string, error) {
	name := fmt.Sprintf("nimbus-load-%d", time.Now().UnixNano())
	body, _ := json.Marshal(map[string]any{"name": name, "disk_format": "raw", "container_format": "bare"})
	resp, err := call("POST", "/v2/images", "application/json", bytes.NewReader(body), int64(len(body)), http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("create image: %w", err)
	}
	var img struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&img)
	resp.Body.Close()
	if err != nil || img.ID == "" {
		return "", fmt.Errorf("create image: no id in the answer (%v)", err)
	}
	fmt.Fprintf(stdout, "image:    %s\n", img.ID)
	return img.ID, nil
}

// compare reads r to its end and checks it against the stream want,
// returning how many bytes it read. Reads of 4 MiB go past the
// transport's 1 MiB buffer straight into ours.
func compare(r io.Reader, want *noise) (int64, error) {
	buf := make([]byte, 4<<20)
	var n int64
	for {
		k, err := r.Read(buf)
		if at := want.diff(buf[:k]); at >= 0 {
			return n, fmt.Errorf("byte %d differs from the upload", at)
		}
		n += int64(k)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// dropCaches writes dirty pages out and empties the page cache, as a
// cold dd read is measured after.
func dropCaches() error {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return fmt.Errorf("drop the page cache: %w", err)
	}
	return nil
}

// keystoneLogin gets a project-scoped token and the public endpoint of
// serviceType in its catalog ("" when there is none).
func keystoneLogin(ctx context.Context, c *http.Client, f keystoneCreds, serviceType string) (string, string, error) {
	tokensURL := strings.TrimSuffix(strings.TrimSuffix(f.authURL, "/"), "/v3") + "/v3/auth/tokens"
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": f.username, "password": f.password, "domain": map[string]any{"name": f.userDomain}}}},
		"scope": map[string]any{"project": map[string]any{"name": f.project, "domain": map[string]any{"name": f.projectDomain}}}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokensURL, bytes.NewReader(body))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("get a token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return "", "", fmt.Errorf("get a token: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var out struct {
		Token struct {
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", "", fmt.Errorf("get a token: %w", err)
	}
	endpoint := ""
	for _, s := range out.Token.Catalog {
		for _, e := range s.Endpoints {
			if s.Type == serviceType && e.Interface == "public" {
				endpoint = e.URL
			}
		}
	}
	return resp.Header.Get("X-Subject-Token"), endpoint, nil
}

// parseSize reads "1GiB", "512M", "10MB", "4096".
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	num, mult := s, int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// noise is a pseudo-random stream of n bytes that costs about a memcpy: a
// random 1 MiB block, with the block number stamped in every 4 KiB so that
// no two blocks are alike.
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
		n := copy(p, z.chunk())
		p, z.off, total = p[n:], z.off+int64(n), total+n
	}
	return total, nil
}

// diff moves past len(p) bytes of the stream and returns the offset of
// the first of them that p does not match (or that is past the end), or
// -1 if p matches.
func (z *noise) diff(p []byte) int64 {
	for len(p) > 0 {
		if z.off >= z.n {
			return z.off
		}
		want := z.chunk()
		n := min(len(p), len(want))
		if !bytes.Equal(p[:n], want[:n]) {
			i := 0
			for p[i] == want[i] {
				i++
			}
			return z.off + int64(i)
		}
		p, z.off = p[n:], z.off+int64(n)
	}
	return -1
}

// chunk is the stream from off to the end of off's block or of the stream.
func (z *noise) chunk() []byte {
	blk, in := z.off>>20, int(z.off&(1<<20-1))
	if in == 0 {
		for i := 0; i < len(z.block); i += 4096 {
			binary.LittleEndian.PutUint64(z.block[i:], uint64(blk))
		}
	}
	return z.block[in:min(int64(len(z.block)), int64(in)+z.n-z.off)]
}
