package objserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
)

const (
	// replicateWorkers is how many partitions are replicated at once.
	replicateWorkers = 4
	// suffixesPerList bounds a listing request's URL.
	suffixesPerList = 128
	// replicateTimeout bounds one request to a peer.
	replicateTimeout = 2 * time.Minute
)

// ReplicateOnce replicates every partition of every device once: a
// partition this device is a primary of is synced with the other
// primaries; any other (handoff data, or data the ring moved away) is
// pushed to all primaries and removed once every one of them has it. A
// peer that does not answer is skipped, and handoff data then stays.
func (s *Server) ReplicateOnce(ctx context.Context) error {
	s.replicating.Lock()
	defer s.replicating.Unlock()
	r := s.ring.Ring()
	type job struct {
		d    *device
		part int
	}
	var jobs []job
	for _, d := range s.devices() {
		s.cleanTmp(d)
		names, err := listDir(d.objects())
		if err != nil {
			return fmt.Errorf("list %s: %w", d.objects(), err)
		}
		for _, n := range names {
			part, err := strconv.Atoi(n)
			if err != nil || strconv.Itoa(part) != n || part >= r.Partitions() {
				continue
			}
			jobs = append(jobs, job{d, part})
		}
	}
	var mu sync.Mutex
	var errs []error
	work := make(chan job)
	var wg sync.WaitGroup
	for range replicateWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if err := s.replicatePart(ctx, r, j.d, j.part); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d partitions not fully replicated, first: %w", len(errs), len(jobs), errs[0])
	}
	return nil
}

// snapFile is a hash directory's files as seen before a handoff push.
type snapFile struct {
	hash  string
	files []string
}

func (s *Server) replicatePart(ctx context.Context, r *ring.Ring, d *device, part int) error {
	local, inRing := s.localDevice(r, d)
	primary := inRing && r.IsPrimary(part, local)
	var snap []snapFile
	if !primary {
		// What exists now is what may be removed once pushed; anything
		// written during the push waits for the next pass.
		var err error
		if snap, err = s.snapshot(d, part); err != nil {
			return err
		}
	}
	hashes, err := s.suffixHashes(d, part, nil)
	if err != nil {
		return fmt.Errorf("device %s partition %d: %w", d.name, part, err)
	}
	if len(hashes) == 0 {
		if !primary {
			s.removePartition(d, part)
		}
		return nil
	}
	var targets []ring.Device
	for _, p := range r.Primaries(part) {
		if inRing && p.ID == local.ID {
			continue
		}
		targets = append(targets, p)
	}
	var errs []error
	for _, t := range targets {
		if err := s.syncPart(ctx, d, part, t, hashes); err != nil {
			errs = append(errs, fmt.Errorf("device %s partition %d to %s/%s: %w", d.name, part, t.Addr(), t.Name, err))
		}
	}
	if !primary && len(errs) == 0 && len(targets) > 0 {
		s.dropHandoff(d, part, snap)
	}
	return errors.Join(errs...)
}

// syncPart pushes to one peer what it lacks of the partition.
func (s *Server) syncPart(ctx context.Context, d *device, part int, peer ring.Device, local map[string]string) error {
	base := "http://" + peer.Addr() + "/object/" + url.PathEscape(peer.Name) + "/" + strconv.Itoa(part)
	var remote map[string]string
	if err := s.replicateCall(ctx, base, &remote); err != nil {
		return err
	}
	var diff []string
	for sfx, h := range local {
		if remote[sfx] != h {
			diff = append(diff, sfx)
		}
	}
	slices.Sort(diff)
	for len(diff) > 0 {
		chunk := diff[:min(len(diff), suffixesPerList)]
		diff = diff[len(chunk):]
		var listing map[string][]string
		if err := s.replicateCall(ctx, base+"/"+suffixList(chunk)+"?list=1", &listing); err != nil {
			return err
		}
		for _, sfx := range chunk {
			names, err := listDir(d.suffixDir(part, sfx))
			if err != nil {
				return fmt.Errorf("list %s: %w", d.suffixDir(part, sfx), err)
			}
			slices.Sort(names)
			for _, h := range names {
				if !validHash(h) {
					continue
				}
				if err := s.syncHash(ctx, d, part, h, base, listing[h]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// syncHash pushes the files of one hash directory that are newer than
// what the peer listed: the .data or .ts first, then the .meta.
func (s *Server) syncHash(ctx context.Context, d *device, part int, hash, base string, remoteNames []string) error {
	dir := d.hashDir(part, hash)
	st, err := readDirState(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	rst := stateOf(remoteNames)
	for _, f := range st.kept() {
		want := f.ts.After(rst.winnerTS()) || rst.winner == nil
		if f.ext == ".meta" {
			want = f.ts.After(rst.winnerTS()) && f.ts.After(rst.newestMeta())
		}
		if !want {
			continue
		}
		if err := s.push(ctx, base+"/"+hash+"/"+f.name(), filepath.Join(dir, f.name())); err != nil {
			return err
		}
	}
	return nil
}

// push sends one file; 201 and 409 (the peer has as new) both count.
func (s *Server) push(ctx context.Context, u, path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // replaced by a newer file: the next pass sends that
		}
		return fmt.Errorf("open %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, replicateTimeout+time.Duration(fi.Size()/(10<<20))*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "REPLICATE", u, f)
	if err != nil {
		f.Close()
		return err
	}
	req.ContentLength = fi.Size()
	if fi.Size() == 0 {
		req.Body = http.NoBody
		f.Close()
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("push %s: %w", u, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusConflict {
		return nil
	}
	return fmt.Errorf("push %s: status %d %s", u, resp.StatusCode, msg)
}

// replicateCall makes a REPLICATE request without a body and decodes its
// JSON answer.
func (s *Server) replicateCall(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, replicateTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "REPLICATE", u, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("REPLICATE %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("REPLICATE %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out); err != nil {
		return fmt.Errorf("REPLICATE %s: %w", u, err)
	}
	return nil
}

// snapshot lists the files that count in a partition.
func (s *Server) snapshot(d *device, part int) ([]snapFile, error) {
	var out []snapFile
	sfxs, err := listDir(d.partDir(part))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.partDir(part), err)
	}
	for _, sfx := range sfxs {
		if !validSuffix(sfx) {
			continue
		}
		hashes, err := listDir(d.suffixDir(part, sfx))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", d.suffixDir(part, sfx), err)
		}
		for _, h := range hashes {
			if !validHash(h) {
				continue
			}
			st, err := readDirState(d.hashDir(part, h))
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", d.hashDir(part, h), err)
			}
			if names := st.keptNames(); len(names) > 0 {
				out = append(out, snapFile{hash: h, files: names})
			}
		}
	}
	return out, nil
}

// dropHandoff removes the snapshot's files, now that every primary has
// them (or something newer), and the partition if nothing else is left.
func (s *Server) dropHandoff(d *device, part int, snap []snapFile) {
	touched := map[string]bool{}
	for _, sf := range snap {
		dir := d.hashDir(part, sf.hash)
		mu := s.hashLock(sf.hash)
		mu.Lock()
		for _, f := range sf.files {
			_ = os.Remove(filepath.Join(dir, f))
		}
		_ = os.Remove(dir) // only if nothing new arrived
		mu.Unlock()
		touched[suffixOf(sf.hash)] = true
	}
	for sfx := range touched {
		s.invalidate(d, part, sfx)
	}
	if hashes, err := s.suffixHashes(d, part, nil); err == nil && len(hashes) == 0 {
		s.removePartition(d, part)
	}
	s.log.Info("handoff partition handed over", "device", d.name, "partition", part, "objects", len(snap))
}

// removePartition removes an empty partition directory and its hash
// cache. A write racing with it recreates what it needs.
func (s *Server) removePartition(d *device, part int) {
	pl := s.partLock(d, part)
	pl.calc.Lock()
	defer pl.calc.Unlock()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	dir := d.partDir(part)
	names, err := listDir(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		switch {
		case validSuffix(n):
			if os.Remove(filepath.Join(dir, n)) != nil {
				return // not empty
			}
		case n == hashesFile || n == invalidFile || n == hashesFile+".tmp":
		default:
			return
		}
	}
	for _, n := range []string{hashesFile, invalidFile, hashesFile + ".tmp"} {
		_ = os.Remove(filepath.Join(dir, n))
	}
	_ = os.Remove(dir)
}
