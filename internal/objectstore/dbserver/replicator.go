package dbserver

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// replicateBatch is how many rows one merge message carries.
const replicateBatch = 1000

// localDB is a database file found on a device.
type localDB struct {
	device, path, hash string
	kind               kind
}

// walkDBs lists the databases of one kind on a device.
func walkDBs(device, devDir string, k kind) ([]localDB, error) {
	var out []localDB
	root := filepath.Join(devDir, k.dir())
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile, or no databases yet
			}
			return err
		}
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".db") {
			return nil
		}
		hash := strings.TrimSuffix(name, ".db")
		if !isHash(hash) || filepath.Base(filepath.Dir(p)) != hash {
			return nil
		}
		out = append(out, localDB{device: device, path: p, hash: hash, kind: k})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s databases on %s: %w", k, device, err)
	}
	return out, nil
}

// allDBs lists the databases of the given kinds on every device.
func (s *Server) allDBs(kinds ...kind) ([]localDB, error) {
	names := make([]string, 0, len(s.devices))
	for name := range s.devices {
		names = append(names, name)
	}
	slices.Sort(names)
	var out []localDB
	var errs []error
	for _, name := range names {
		for _, k := range kinds {
			dbs, err := walkDBs(name, s.devices[name], k)
			errs = append(errs, err)
			out = append(out, dbs...)
		}
	}
	return out, errors.Join(errs...)
}

// localDevice is the ring's device for a local device name.
func (s *Server) localDevice(rg *ring.Ring, name string) (ring.Device, bool) {
	for _, d := range rg.Devices() {
		if d.Name == name && d.Addr() == s.addr {
			return d, true
		}
	}
	return ring.Device{}, false
}

// replicateWorkers is how many databases a pass replicates at once.
const replicateWorkers = 4

// reclaimEvery is how often a pass also looks for deleted rows and
// databases old enough to forget (the first pass always does).
const reclaimEvery = time.Hour

// replicatorState is the replicator's memory between passes.
type replicatorState struct {
	mu          sync.Mutex // one pass at a time
	lastReclaim time.Time
}

// replPass is one pass's memory: peers found unreachable are not tried
// again in the same pass, so a dead node costs one timeout, not one per
// database.
type replPass struct {
	rg      *ring.Ring
	reclaim bool
	mu      sync.Mutex
	down    map[string]bool
}

func (p *replPass) isDown(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down[addr]
}

func (p *replPass) markDown(addr string) {
	p.mu.Lock()
	p.down[addr] = true
	p.mu.Unlock()
}

// ReplicateOnce makes one pass over every local database: a primary copy
// pushes what its peers lack to the partition's other primaries; a
// handoff copy is pushed to all primaries and removed once they all have
// it. Unreachable peers are skipped until the next pass.
func (s *Server) ReplicateOnce(ctx context.Context) error {
	s.replicator.mu.Lock()
	defer s.replicator.mu.Unlock()
	rg := s.ring.Ring()
	if rg == nil {
		return errors.New("database replicator: no ring loaded")
	}
	pass := &replPass{rg: rg, down: map[string]bool{}, reclaim: time.Since(s.replicator.lastReclaim) >= reclaimEvery}
	all, err := s.allDBs(kindAccount, kindContainer)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	// Only devices the ring knows at this address are replicated, as in
	// Swift: with a wrong address, "pushing to the primaries" could mean
	// pushing to this very device and then removing it.
	var dbs []localDB
	skipped := map[string]bool{}
	for _, l := range all {
		if _, known := s.localDevice(rg, l.device); known {
			dbs = append(dbs, l)
		} else if !skipped[l.device] {
			skipped[l.device] = true
			s.log.Warn("database replicator: device not in the ring at this node's address; skipped",
				"device", l.device, "addr", s.addr)
		}
	}
	var mu sync.Mutex
	failed := 0
	work := make(chan localDB)
	var wg sync.WaitGroup
	for range min(replicateWorkers, len(dbs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				if err := s.replicateDB(ctx, pass, l); err != nil {
					mu.Lock()
					failed++
					if len(errs) < 10 {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, l := range dbs {
		if ctx.Err() != nil {
			break
		}
		work <- l
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if pass.reclaim {
		s.replicator.lastReclaim = time.Now()
	}
	if failed > 0 {
		errs = append(errs, fmt.Errorf("database replicator: %d of %d databases not fully replicated", failed, len(dbs)))
	}
	return errors.Join(errs...)
}

func (s *Server) replicateDB(ctx context.Context, pass *replPass, l localDB) error {
	rg := pass.rg
	part, err := rg.PartitionOfHash(l.hash)
	if err != nil {
		return err
	}
	me, known := s.localDevice(rg, l.device)
	if !known {
		return fmt.Errorf("replicate %s %s: device %s is not in the ring", l.kind, l.hash, l.device)
	}
	primary := rg.IsPrimary(part, me)
	var peers []ring.Device
	for _, p := range rg.Primaries(part) {
		if p.ID != me.ID {
			peers = append(peers, p)
		}
	}
	d, _, err := s.dbs.acquire(ctx, l.path, l.kind, nil)
	if errors.Is(err, errNoDB) {
		return nil // removed since the walk
	}
	if err != nil {
		return err
	}
	commits := d.commits.Load()
	if pass.reclaim {
		removable, err := s.reclaim(ctx, d)
		if err != nil {
			s.dbs.release(d)
			return err
		}
		if removable {
			// Deleted long enough ago that every replica knows: forget it.
			commits = d.commits.Load()
			s.dbs.release(d)
			_, err := s.dbs.remove(l.path, d, commits)
			return err
		}
		commits = d.commits.Load()
	}
	var errs []error
	for _, peer := range peers {
		if pass.isDown(peer.Addr()) {
			errs = append(errs, fmt.Errorf("replicate %s %s: %s is down", l.kind, l.hash, peer.Addr()))
			continue
		}
		if err := s.syncDB(ctx, d, peer, part, l.hash, primary); err != nil {
			var down *peerDownError
			if errors.As(err, &down) {
				pass.markDown(peer.Addr())
			}
			errs = append(errs, fmt.Errorf("replicate %s %s to %s/%s: %w", l.kind, l.hash, peer.Addr(), peer.Name, err))
		}
	}
	s.dbs.release(d)
	if primary || len(peers) == 0 || len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A handoff copy every primary now has: remove it, unless it was
	// written to meanwhile (then it goes next pass).
	if _, err := s.dbs.remove(l.path, d, commits); err != nil {
		return err
	}
	return nil
}

// peerDownError is a peer that could not be reached at all.
type peerDownError struct{ err error }

func (e *peerDownError) Error() string { return e.err.Error() }
func (e *peerDownError) Unwrap() error { return e.err }

// reclaim forgets deleted rows and metadata deletions older than
// ReclaimAge and reports whether the whole database may go: deleted
// that long ago.
func (s *Server) reclaim(ctx context.Context, d *db) (bool, error) {
	before := swift.FromTime(time.Now().Add(-ReclaimAge))
	i, err := readInfo(ctx, d.sql)
	if err != nil {
		return false, err
	}
	if i.isDeleted(d.kind) && before.After(i.DeleteTimestamp) && before.After(i.StatusChangedAt) {
		return true, nil
	}
	var old int
	q := `SELECT count(*) FROM object WHERE deleted = 1 AND created_at < $1`
	if d.kind == kindAccount {
		q = `SELECT count(*) FROM container WHERE deleted = 1 AND delete_timestamp < $1`
	}
	if err := d.sql.QueryRowContext(ctx, q, before.Internal()).Scan(&old); err != nil {
		return false, fmt.Errorf("reclaim %s: %w", d.path, err)
	}
	staleMeta := false
	for _, v := range i.Metadata {
		staleMeta = staleMeta || (v.Value == "" && before.After(v.Timestamp))
	}
	if old == 0 && !staleMeta {
		return false, nil // the common case: no write
	}
	return false, d.write(func(tx *sql.Tx) error {
		if err := reclaimRows(ctx, tx, d.kind, before); err != nil {
			return err
		}
		i, err := readInfo(ctx, tx)
		if err != nil {
			return err
		}
		if i.Metadata.reclaim(before) {
			return saveState(ctx, tx, i)
		}
		return nil
	})
}

// syncDB brings one peer up to date with d: states exchanged (merged back
// here when mergeBack), then every row after the peer's sync point for
// this copy, in batches. A peer without the database gets it made first.
func (s *Server) syncDB(ctx context.Context, d *db, peer ring.Device, part int, hash string, mergeBack bool) error {
	i, err := readInfo(ctx, d.sql)
	if err != nil {
		return err
	}
	msg := replRequest{Op: "sync", ID: i.ID, Info: toWire(i)}
	reply, status, err := s.replicateRPC(ctx, peer, d.kind, part, hash, &msg)
	if err == nil && status == http.StatusNotFound {
		msg.Op = "create"
		reply, status, err = s.replicateRPC(ctx, peer, d.kind, part, hash, &msg)
		if err == nil && status == http.StatusNotFound {
			err = errors.New("peer could not create the database")
		}
	}
	if err != nil {
		return err
	}
	if mergeBack && reply.Info != nil {
		in, err := reply.Info.info()
		if err != nil {
			return fmt.Errorf("peer's state: %w", err)
		}
		err = d.write(func(tx *sql.Tx) error {
			i, err := readInfo(ctx, tx)
			if err != nil {
				return err
			}
			if i.mergeState(d.kind, in) {
				return saveState(ctx, tx, i)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	point := reply.Point
	for {
		objects, containers, err := rowsSince(ctx, d, point, replicateBatch)
		if err != nil {
			return err
		}
		last := point
		switch {
		case len(objects) > 0:
			last = objects[len(objects)-1].Seq
		case len(containers) > 0:
			last = containers[len(containers)-1].Seq
		default:
			return nil
		}
		msg := replRequest{Op: "merge", ID: i.ID, Objects: objects, Containers: containers, Point: last}
		if _, status, err := s.replicateRPC(ctx, peer, d.kind, part, hash, &msg); err != nil {
			return err
		} else if status == http.StatusNotFound {
			return errors.New("database vanished on the peer")
		}
		point = last
	}
}

// replicateRPC sends one REPLICATE message; a 404 is returned as a
// status, other failures as errors.
func (s *Server) replicateRPC(ctx context.Context, peer ring.Device, k kind, part int, hash string, msg *replRequest) (*replReply, int, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	u := fmt.Sprintf("http://%s/%s/%s/%s/%s", peer.Addr(), k, url.PathEscape(peer.Name), strconv.Itoa(part), hash)
	req, err := http.NewRequestWithContext(ctx, "REPLICATE", u, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			err = &peerDownError{err}
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, resp.StatusCode, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
	}
	var reply replReply
	if err := json.Unmarshal(data, &reply); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("bad reply: %w", err)
	}
	return &reply, resp.StatusCode, nil
}
