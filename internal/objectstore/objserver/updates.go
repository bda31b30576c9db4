package objserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fsync"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// A container update tells a container server that an object changed, so
// listings show it. It is sent right after the write, while the client
// waits, with a short timeout; one that fails is kept on the device
// (async_pending/) and the updater delivers it later.

// pending is a container update waiting on disk.
type pending struct {
	Op        string            `json:"op"`
	Account   string            `json:"account"`
	Container string            `json:"container"`
	Object    string            `json:"obj"`
	Host      string            `json:"host,omitempty"` // container server ip:port
	Device    string            `json:"device,omitempty"`
	Partition int               `json:"partition"`
	Headers   map[string]string `json:"headers"`
	// Attempts counts failed deliveries to Host; after hostAttempts the
	// updater turns to the container's primaries in the current ring,
	// recording in Done those that took the update.
	Attempts int      `json:"attempts"`
	Done     []string `json:"done,omitempty"`
}

const (
	hostAttempts = 3
	// updaterTimeout bounds one delivery by the updater.
	updaterTimeout = 5 * time.Second
)

// containerUpdate sends op for q to the container servers the proxy named
// in X-Container-Host/-Device/-Partition, queueing those that fail.
func (s *Server) containerUpdate(r *http.Request, q *objRequest, op string, ts swift.Timestamp, hdr map[string]string) {
	hosts := splitList(r.Header.Get("X-Container-Host"))
	devs := splitList(r.Header.Get("X-Container-Device"))
	partS := r.Header.Get("X-Container-Partition")
	if len(hosts) == 0 || partS == "" {
		return
	}
	part, err := strconv.Atoi(partS)
	if err != nil || len(hosts) != len(devs) {
		s.log.Error("container update not sent: bad X-Container-* headers", "path", r.URL.Path,
			"hosts", hosts, "devices", devs, "partition", partS)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), updateTimeout)
	defer cancel()
	send := func(i int) {
		p := &pending{Op: op, Account: q.account, Container: q.container, Object: q.object,
			Host: hosts[i], Device: devs[i], Partition: part, Headers: hdr}
		if err := s.sendUpdate(ctx, p.Host, p.Device, part, p); err != nil {
			s.log.Warn("container update failed, queued for the updater", "host", p.Host, "device", p.Device, "err", err)
			if err := s.savePending(q.d, q.hash, ts, p); err != nil {
				s.log.Error("queue container update", "device", q.d.name, "err", err)
			}
		}
	}
	if len(hosts) == 1 {
		send(0)
		return
	}
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Add(1)
		go func() { defer wg.Done(); send(i) }()
	}
	wg.Wait()
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// errUpdateNotFound is a container server's 404: no such container there.
var errUpdateNotFound = errors.New("container not found")

// sendUpdate delivers p to one container server.
func (s *Server) sendUpdate(ctx context.Context, host, dev string, part int, p *pending) error {
	u := "http://" + host + "/container/" + url.PathEscape(dev) + "/" + strconv.Itoa(part) + "/" +
		url.PathEscape(p.Account) + "/" + url.PathEscape(p.Container) + "/" + escapeObject(p.Object)
	req, err := http.NewRequestWithContext(ctx, p.Op, u, nil)
	if err != nil {
		return fmt.Errorf("container update %s: %w", u, err)
	}
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "nimbus-object-server")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("container update %s %s: %w", p.Op, u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("container update %s %s: %w", p.Op, u, errUpdateNotFound)
	}
	return fmt.Errorf("container update %s %s: status %d", p.Op, u, resp.StatusCode)
}

// escapeObject escapes an object name segment by segment, keeping its
// slashes.
func escapeObject(o string) string {
	parts := strings.Split(o, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// savePending writes an update durably to async_pending/ (temp file,
// fsync, rename, fsync of the directory).
func (s *Server) savePending(d *device, hash string, ts swift.Timestamp, p *pending) error {
	name := fmt.Sprintf("%s-%s-%08x", hash, ts.Internal(), crc32.ChecksumIEEE([]byte(p.Op+" "+p.Host+"/"+p.Device)))
	return writeJSONFile(d, filepath.Join(d.pendingDir(), name), p, true)
}

// writeJSONFile replaces path with v's JSON through a temp file, synced
// when durable is set.
func writeJSONFile(d *device, path string, v any, durable bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(d.tmp(), ".u-")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && durable {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		if err := fsync.Path(filepath.Dir(path)); err != nil {
			return fmt.Errorf("fsync %s: %w", filepath.Dir(path), err)
		}
	}
	return nil
}

// UpdateOnce tries every queued container update once.
func (s *Server) UpdateOnce(ctx context.Context) error {
	s.updating.Lock()
	defer s.updating.Unlock()
	var mu sync.Mutex
	var errs []error
	for _, d := range s.devices() {
		names, err := listDir(d.pendingDir())
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", d.pendingDir(), err))
			continue
		}
		slices.Sort(names)
		work := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range work {
					if err := s.deliver(ctx, d, n); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}()
		}
		for _, n := range names {
			if ctx.Err() != nil {
				break
			}
			work <- n
		}
		close(work)
		wg.Wait()
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d container updates not delivered yet, first: %w", len(errs), errs[0])
	}
	return ctx.Err()
}

// deliver tries one queued update: to the host it names, or once that
// has failed hostAttempts times, to the container's current primaries
// until a majority of them took it. Delivered updates are removed.
func (s *Server) deliver(ctx context.Context, d *device, name string) error {
	path := filepath.Join(d.pendingDir(), name)
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read %s: %w", path, err)
	}
	var p pending
	if err := json.Unmarshal(b, &p); err != nil || p.Account == "" || p.Container == "" || p.Object == "" {
		s.log.Error("dropping unreadable container update", "path", path, "err", err)
		os.Remove(path)
		return nil
	}
	try := func(host, dev string, part int) error {
		c, cancel := context.WithTimeout(ctx, updaterTimeout)
		defer cancel()
		return s.sendUpdate(c, host, dev, part, &p)
	}
	if p.Host != "" && p.Attempts < hostAttempts {
		err := try(p.Host, p.Device, p.Partition)
		if err == nil {
			return removeIfSame(path, b)
		}
		p.Attempts++
		if p.Attempts < hostAttempts {
			if werr := writeJSONFile(d, path, &p, false); werr != nil {
				return werr
			}
			return err
		}
	}
	r := s.ring.Ring()
	part := r.Partition(p.Account, p.Container, "")
	prim := r.Primaries(part)
	var firstErr error
	done := 0
	for _, dev := range prim {
		key := dev.Addr() + "/" + dev.Name
		if slices.Contains(p.Done, key) {
			done++
			continue
		}
		// A 404 from a primary means the container is gone there; the
		// update has nothing to change.
		if err := try(dev.Addr(), dev.Name, part); err == nil || errors.Is(err, errUpdateNotFound) {
			p.Done = append(p.Done, key)
			done++
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if len(prim) > 0 && done >= len(prim)/2+1 {
		return removeIfSame(path, b)
	}
	p.Attempts++
	if err := writeJSONFile(d, path, &p, false); err != nil {
		return err
	}
	if firstErr == nil {
		firstErr = errors.New("container has no primaries in the ring")
	}
	return fmt.Errorf("container update for /%s/%s/%s: %w", p.Account, p.Container, p.Object, firstErr)
}

// removeIfSame removes a delivered update unless a newer one for the same
// object and time replaced it meanwhile.
func removeIfSame(path string, was []byte) error {
	now, err := os.ReadFile(path)
	if err == nil && string(now) != string(was) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
