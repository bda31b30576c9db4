package objserver

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// AuditOnce re-reads every object file at AuditRate bytes per second,
// checking header, block checksums, length and MD5, and quarantines the
// hash directory of any file that fails. The suffix hash changes with
// it, so replication brings a good copy back.
func (s *Server) AuditOnce(ctx context.Context) error {
	s.auditing.Lock()
	defer s.auditing.Unlock()
	th := &throttle{rate: s.o.AuditRate, start: time.Now()}
	var errs []error
	for _, d := range s.devices() {
		err := s.walk(ctx, d, func(part int, hash string) error {
			return s.auditHash(ctx, d, part, hash, th)
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// walk calls fn for every hash directory of the device.
func (s *Server) walk(ctx context.Context, d *device, fn func(part int, hash string) error) error {
	parts, err := listDir(d.objects())
	if err != nil {
		return fmt.Errorf("list %s: %w", d.objects(), err)
	}
	var errs []error
	for _, p := range parts {
		part, err := strconv.Atoi(p)
		if err != nil || strconv.Itoa(part) != p {
			continue
		}
		sfxs, err := listDir(d.partDir(part))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, sfx := range sfxs {
			if !validSuffix(sfx) {
				continue
			}
			hashes, err := listDir(d.suffixDir(part, sfx))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, h := range hashes {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !validHash(h) || suffixOf(h) != sfx {
					continue
				}
				if err := fn(part, h); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Server) auditHash(ctx context.Context, d *device, part int, hash string, th *throttle) error {
	dir := d.hashDir(part, hash)
	st, err := readDirState(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, f := range st.kept() {
		path := filepath.Join(dir, f.name())
		meta, err := auditFile(ctx, path, f.kind(), th)
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced meanwhile
		}
		if isCorrupt(err) {
			s.quarantine(d, part, hash, path, err)
			return nil
		}
		if err != nil {
			return err
		}
		// Heal the expiring index, should an entry have been lost.
		if v := meta["X-Delete-At"]; v != "" && f.ext != ".ts" {
			if at, err := strconv.ParseInt(v, 10, 64); err == nil && at > 0 {
				if _, err := os.Stat(filepath.Join(d.expiringDir(), expiringName(at, part, hash))); errors.Is(err, fs.ErrNotExist) {
					_ = s.addExpiring(d, at, part, hash)
				}
			}
		}
	}
	return nil
}

// auditFile checks a whole file and returns its metadata.
func auditFile(ctx context.Context, path string, kind byte, th *throttle) (map[string]string, error) {
	of, err := openObjFile(path, 4096)
	if err != nil {
		return nil, err
	}
	defer of.Close()
	if of.hdr.kind != kind {
		return nil, corruptf("%s: kind %q in a %q file", path, of.hdr.kind, kind)
	}
	fi, err := of.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if fi.Size() != of.hdr.fileLen() {
		return nil, corruptf("%s: %d bytes, want %d", path, fi.Size(), of.hdr.fileLen())
	}
	if err := th.wait(ctx, of.hdr.blocksAt()); err != nil {
		return nil, err
	}
	sum := md5.New()
	n := blockCount(of.hdr.size)
	for i := int64(0); i < n; i++ {
		data, err := of.block(i, n-1)
		if err != nil {
			return nil, err
		}
		sum.Write(data)
		if err := th.wait(ctx, int64(len(data))+crcSize); err != nil {
			return nil, err
		}
	}
	if kind == kindData {
		var got [16]byte
		if sum.Sum(got[:0]); got != of.hdr.md5 {
			return nil, corruptf("%s: MD5 mismatch", path)
		}
	}
	return of.meta, nil
}

// throttle holds a reader to rate bytes per second on average.
type throttle struct {
	rate  int64
	start time.Time
	bytes int64
}

func (t *throttle) wait(ctx context.Context, n int64) error {
	t.bytes += n
	due := t.start.Add(time.Duration(float64(t.bytes) / float64(t.rate) * float64(time.Second)))
	d := time.Until(due)
	if d < 5*time.Millisecond {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
