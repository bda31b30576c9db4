package objserver

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Suffix hashes tell two replicas of a partition apart cheaply: the hash
// of a suffix is the MD5 of the names of the files that count in its hash
// directories, so equal hashes mean equal contents. They are cached per
// partition in hashes.json; every write appends its suffix to
// hashes.invalid (cheap, and it survives a crash of the process), and the
// next reader of the hashes recomputes those suffixes, as Swift does.
const (
	hashesFile  = "hashes.json"
	invalidFile = "hashes.invalid"
)

type partKey struct {
	dev  string
	part int
}

// partLock guards a partition's hash files: mu for the short steps on
// hashes.json and hashes.invalid, calc for a whole recomputation.
type partLock struct {
	mu   sync.Mutex
	calc sync.Mutex
}

func (s *Server) partLock(d *device, part int) *partLock {
	k := partKey{d.name, part}
	if v, ok := s.parts.Load(k); ok {
		return v.(*partLock)
	}
	v, _ := s.parts.LoadOrStore(k, &partLock{})
	return v.(*partLock)
}

// invalidate marks a suffix's cached hash stale.
func (s *Server) invalidate(d *device, part int, suffix string) {
	pl := s.partLock(d, part)
	pl.mu.Lock()
	defer pl.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(d.partDir(part), invalidFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("invalidate suffix hash", "device", d.name, "partition", part, "err", err)
		}
		return
	}
	if _, err := f.Write([]byte(suffix + "\n")); err != nil {
		s.log.Error("invalidate suffix hash", "device", d.name, "partition", part, "err", err)
	}
	f.Close()
}

// suffixHashes are the partition's suffix hashes (suffix -> hex MD5; empty
// suffixes absent), recomputing the invalidated ones and those in recalc.
// A partition the device does not have has none.
func (s *Server) suffixHashes(d *device, part int, recalc []string) (map[string]string, error) {
	dir := d.partDir(part)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return map[string]string{}, nil
		}
		return nil, err
	}
	pl := s.partLock(d, part)
	pl.calc.Lock()
	defer pl.calc.Unlock()

	// Mark what needs recomputing in hashes.json before emptying
	// hashes.invalid, so a crash in between loses nothing.
	pl.mu.Lock()
	hashes, ok := loadHashes(dir)
	inv, _ := os.ReadFile(filepath.Join(dir, invalidFile))
	dirty := !ok
	if !ok {
		hashes = map[string]*string{}
		names, err := listDir(dir)
		if err != nil {
			pl.mu.Unlock()
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		for _, n := range names {
			if validSuffix(n) {
				hashes[n] = nil
			}
		}
	}
	for _, line := range bytes.Fields(inv) {
		if sfx := string(line); validSuffix(sfx) {
			hashes[sfx] = nil
			dirty = true
		}
	}
	for _, sfx := range recalc {
		if validSuffix(sfx) {
			hashes[sfx] = nil
		}
	}
	if dirty {
		if err := saveHashes(dir, hashes); err != nil {
			pl.mu.Unlock()
			return nil, err
		}
	}
	if len(inv) > 0 {
		if err := os.Truncate(filepath.Join(dir, invalidFile), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
			pl.mu.Unlock()
			return nil, fmt.Errorf("truncate %s: %w", invalidFile, err)
		}
	}
	pl.mu.Unlock()

	changed := false
	for sfx, h := range hashes {
		if h != nil {
			continue
		}
		sum, err := s.hashSuffix(d, part, sfx)
		if err != nil {
			return nil, err
		}
		changed = true
		if sum == "" {
			delete(hashes, sfx)
		} else {
			hashes[sfx] = &sum
		}
	}
	if changed {
		pl.mu.Lock()
		err := saveHashes(dir, hashes)
		pl.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(hashes))
	for sfx, h := range hashes {
		out[sfx] = *h
	}
	return out, nil
}

// loadHashes reads hashes.json; ok is false when it is missing or bad, and
// everything must be recomputed.
func loadHashes(dir string) (map[string]*string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, hashesFile))
	if err != nil {
		return nil, false
	}
	var m map[string]*string
	if json.Unmarshal(b, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// saveHashes replaces hashes.json. It is a cache, not worth an fsync: a
// torn file after a crash only costs a recomputation.
func saveHashes(dir string, m map[string]*string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, hashesFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, hashesFile)); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// hashSuffix computes one suffix's hash, cleaning its hash directories on
// the way (obsolete files, tombstones past the reclaim age, empty
// directories). An empty suffix gives "" and its directory is removed.
func (s *Server) hashSuffix(d *device, part int, suffix string) (string, error) {
	sdir := d.suffixDir(part, suffix)
	names, err := listDir(sdir)
	if err != nil {
		return "", fmt.Errorf("list %s: %w", sdir, err)
	}
	slices.Sort(names)
	h := md5.New()
	any := false
	for _, hash := range names {
		if !validHash(hash) || suffixOf(hash) != suffix {
			continue
		}
		kept, err := s.cleanHashDir(d, part, hash)
		if err != nil {
			return "", err
		}
		if len(kept) == 0 {
			continue
		}
		any = true
		h.Write([]byte(hash))
		for _, f := range kept {
			h.Write([]byte{':'})
			h.Write([]byte(f))
		}
		h.Write([]byte{'\n'})
	}
	if !any {
		_ = os.Remove(sdir) // fails, harmlessly, if a write just made a hash dir
		return "", nil
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cleanHashDir removes what is obsolete or reclaimable in a hash
// directory and returns the names of the files that remain, sorted.
func (s *Server) cleanHashDir(d *device, part int, hash string) ([]string, error) {
	dir := d.hashDir(part, hash)
	mu := s.hashLock(hash)
	mu.Lock()
	defer mu.Unlock()
	st, err := readDirState(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	for _, f := range st.obsolete() {
		_ = os.Remove(filepath.Join(dir, f.name()))
	}
	cutoff := swift.FromTime(s.now().Add(-s.reclaimAge))
	kept := st.kept()
	// A tombstone, or a .meta with no .data, old enough that every
	// replica has surely seen it, is dropped.
	if len(kept) > 0 && (st.winner == nil || st.winner.ext == ".ts") && kept[len(kept)-1].ts.Compare(cutoff) < 0 {
		for _, f := range kept {
			_ = os.Remove(filepath.Join(dir, f.name()))
		}
		kept = nil
	}
	if len(kept) == 0 {
		_ = os.Remove(dir)
		return nil, nil
	}
	names := namesOf(kept)
	slices.Sort(names)
	return names, nil
}
