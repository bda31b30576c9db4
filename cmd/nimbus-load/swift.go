package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type swiftFlags struct {
	keystoneCreds
	authV1, user, key string
	storageURL, token string
	container         string
	concurrency       int
	duration          time.Duration
	size, large       string
	dropCaches        bool
}

// swiftCmd measures a Swift API (Nimbus's or Swift's own, same client):
// workers PUT, then GET, HEAD and DELETE small objects, each phase for
// --duration; then one large object is PUT and read back.
func swiftCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f swiftFlags
	fs := flag.NewFlagSet("nimbus-load swift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.addFlags(fs, "", "project")
	fs.StringVar(&f.authV1, "auth-v1", "", "tempauth URL (e.g. http://127.0.0.1:8080/auth/v1.0) instead of Keystone")
	fs.StringVar(&f.user, "user", "test:tester", "tempauth user (with --auth-v1)")
	fs.StringVar(&f.key, "key", "testing", "tempauth key (with --auth-v1)")
	fs.StringVar(&f.storageURL, "storage-url", "", "account URL; default from the catalog or tempauth")
	fs.StringVar(&f.container, "container", "nimbus-load", "container to use (created, emptied)")
	fs.IntVar(&f.concurrency, "concurrency", 16, "workers for the small-object phases")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "length of each small-object phase")
	fs.StringVar(&f.size, "size", "4KiB", "small object size")
	fs.StringVar(&f.large, "large", "256MiB", "large object size (0 skips)")
	fs.BoolVar(&f.dropCaches, "drop-caches", false, "drop the page cache before the large GET (root), to read from disk as a cold dd does")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: nimbus-load swift [flags]

Puts small objects with --concurrency workers for --duration, then GETs,
HEADs and DELETEs them for as long each, then PUTs one --large object and
GETs it back: the ETag must be the md5 of what was sent, and every byte
that comes back is compared with the regenerated stream (a memcmp, where
an md5 of the download would cap it at one core's md5 speed). Prints
ops/s and p50/p99 per phase, MB/s for the large object, and a RESULT
line. Authenticates with Keystone v3 (--auth-url) or tempauth (--auth-v1).

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
	size, err := parseSize(f.size)
	if err != nil {
		fmt.Fprintln(stderr, "nimbus-load swift:", err)
		return 2
	}
	var large int64
	if f.large != "0" {
		if large, err = parseSize(f.large); err != nil {
			fmt.Fprintln(stderr, "nimbus-load swift:", err)
			return 2
		}
	}
	if f.concurrency < 1 || f.duration <= 0 {
		fmt.Fprintln(stderr, "nimbus-load swift: --concurrency and --duration must be positive")
		return 2
	}
	if err := runSwift(ctx, f, size, large, stdout); err != nil {
		fmt.Fprintln(stderr, "nimbus-load swift:", err)
		return 1
	}
	return 0
}

func runSwift(ctx context.Context, f swiftFlags, size, large int64, stdout io.Writer) error {
	c := newClient(f.concurrency, 5*time.Minute)
	defer c.CloseIdleConnections()
	account, token, err := swiftLogin(ctx, c, f)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(account, "/") + "/" + f.container
	send := func(ctx context.Context, method, url string, body io.Reader, length int64, want ...int) error {
		req, err := http.NewRequestWithContext(ctx, method, url, body)
		if err != nil {
			return err
		}
		req.ContentLength = length
		req.Header.Set("X-Auth-Token", token)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if resp.StatusCode == w {
				return nil
			}
		}
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if err := send(ctx, http.MethodPut, base, nil, 0, 201, 202); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	fmt.Fprintf(stdout, "swift load: %s, %d workers, %s per phase, %d-byte objects\n", base, f.concurrency, f.duration, size)

	payload := make([]byte, size)
	rnd := rand.NewChaCha8([32]byte{'s', 'w', 'i', 'f', 't'})
	rnd.Read(payload)
	var (
		seq   atomic.Int64
		mu    sync.Mutex
		names []string
	)
	name := func(i int64) string { return fmt.Sprintf("%s/o-%08d", base, i) }
	put := scenario{name: "put", do: func(ctx context.Context, _ *http.Client) error {
		i := seq.Add(1)
		if err := send(ctx, http.MethodPut, name(i), bytes.NewReader(payload), size, 201); err != nil {
			return err
		}
		mu.Lock()
		names = append(names, name(i))
		mu.Unlock()
		return nil
	}}
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		return names[rand.IntN(len(names))]
	}
	get := scenario{name: "get", do: func(ctx context.Context, _ *http.Client) error {
		return send(ctx, http.MethodGet, pick(), nil, 0, 200)
	}}
	head := scenario{name: "head", do: func(ctx context.Context, _ *http.Client) error {
		return send(ctx, http.MethodHead, pick(), nil, 0, 200)
	}}
	del := scenario{name: "delete", do: func(ctx context.Context, _ *http.Client) error {
		mu.Lock()
		if len(names) == 0 {
			mu.Unlock()
			return errStop
		}
		n := names[len(names)-1]
		names = names[:len(names)-1]
		mu.Unlock()
		return send(ctx, http.MethodDelete, n, nil, 0, 204)
	}}

	t := newResultTable()
	rates := map[string]float64{}
	for _, sc := range []scenario{put, get, head, del} {
		if sc.name != "put" && len(names) == 0 {
			return errors.New("no object was stored")
		}
		r := measure(ctx, sc, f.concurrency, 0, f.duration, time.Minute)
		t.add(r)
		rates[sc.name] = r.reqPerSec()
		if r.firstErr != nil {
			fmt.Fprintf(stdout, "%s: first error: %v\n", sc.name, r.firstErr)
		}
	}
	t.write(stdout)
	// Objects the delete phase had no time for.
	for _, n := range names {
		_ = send(ctx, http.MethodDelete, n, nil, 0, 204, 404)
	}

	var upMBps, downMBps float64
	if large > 0 {
		if upMBps, downMBps, err = swiftLarge(ctx, c, token, base+"/large", large, f.dropCaches); err != nil {
			return err
		}
		_ = send(ctx, http.MethodDelete, base+"/large", nil, 0, 204)
		fmt.Fprintf(stdout, "large %d bytes: put %.1f MB/s (etag is the md5 sent), get %.1f MB/s (every byte as sent)\n",
			large, upMBps, downMBps)
	}
	_ = send(ctx, http.MethodDelete, base, nil, 0, 204, 404, 409)
	fmt.Fprintf(stdout, "RESULT put_ops=%.1f get_ops=%.1f head_ops=%.1f delete_ops=%.1f large_put_MBps=%.1f large_get_MBps=%.1f\n",
		rates["put"], rates["get"], rates["head"], rates["delete"], upMBps, downMBps)
	return nil
}

// swiftLogin finds the account URL and a token: tempauth's headers, or a
// Keystone token and the object-store endpoint of its catalog.
func swiftLogin(ctx context.Context, c *http.Client, f swiftFlags) (string, string, error) {
	if f.authV1 != "" {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.authV1, nil)
		req.Header.Set("X-Auth-User", f.user)
		req.Header.Set("X-Auth-Key", f.key)
		resp, err := c.Do(req)
		if err != nil {
			return "", "", fmt.Errorf("tempauth: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return "", "", fmt.Errorf("tempauth: %s", resp.Status)
		}
		url := resp.Header.Get("X-Storage-Url")
		if f.storageURL != "" {
			url = f.storageURL
		}
		return url, resp.Header.Get("X-Auth-Token"), nil
	}
	if f.authURL == "" {
		return "", "", errors.New("give --auth-url (Keystone v3) or --auth-v1 (tempauth)")
	}
	token, url, err := keystoneLogin(ctx, c, f.keystoneCreds, "object-store")
	if err != nil {
		return "", "", err
	}
	if f.storageURL != "" {
		url = f.storageURL
	}
	if url == "" {
		return "", "", errors.New("no public object-store endpoint in the catalog; give --storage-url")
	}
	return url, token, nil
}

// swiftLarge PUTs size bytes of noise to obj and GETs them back, returning
// MB/s each way. The md5 of the stream is computed before the PUT is timed
// and must be the ETag of both answers; the GET body is compared with the
// stream as it arrives (compare: 4 MiB reads, a memcmp against the
// stream's block), so that the client is never what is measured.
func swiftLarge(ctx context.Context, c *http.Client, token, obj string, size int64, drop bool) (float64, float64, error) {
	sum := md5.New()
	_, _ = io.Copy(sum, newNoise(size))
	want := hex.EncodeToString(sum.Sum(nil))

	req, err := http.NewRequestWithContext(ctx, http.MethodPut, obj, newNoise(size))
	if err != nil {
		return 0, 0, err
	}
	req.ContentLength = size
	req.Header.Set("X-Auth-Token", token)
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("large put: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	up := float64(size) / 1e6 / time.Since(t0).Seconds()
	if resp.StatusCode != http.StatusCreated {
		return 0, 0, fmt.Errorf("large put: %s", resp.Status)
	}
	if got := strings.Trim(resp.Header.Get("Etag"), `"`); got != want {
		return 0, 0, fmt.Errorf("large put: etag %q, md5 of the body %s", got, want)
	}

	if drop {
		if err := dropCaches(); err != nil {
			return 0, 0, err
		}
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, obj, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("X-Auth-Token", token)
	t0 = time.Now()
	resp, err = c.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("large get: %w", err)
	}
	n, err := compare(resp.Body, newNoise(size))
	resp.Body.Close()
	down := float64(n) / 1e6 / time.Since(t0).Seconds()
	switch {
	case resp.StatusCode != http.StatusOK:
		return 0, 0, fmt.Errorf("large get: %s", resp.Status)
	case err != nil:
		return 0, 0, fmt.Errorf("large get: after %d bytes: %w", n, err)
	case n != size:
		return 0, 0, fmt.Errorf("large get: %d bytes of %d", n, size)
	case strings.Trim(resp.Header.Get("Etag"), `"`) != want:
		return 0, 0, fmt.Errorf("large get: etag %q, md5 of the object %s", resp.Header.Get("Etag"), want)
	}
	return up, down, nil
}
