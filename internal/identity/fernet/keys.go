package fernet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The key repository has Keystone's layout, so keystone-manage's habits and
// tools (rsync of the directory to every node) carry over: one file per key,
// named by number, holding the key in padded url-safe base64. File 0 is the
// staged key, the next primary, which every node can already decrypt with;
// the highest number is the primary, the only key that encrypts; the numbers
// between are secondaries kept to read tokens issued before recent
// rotations. Other file names are ignored.
const (
	dirMode  = 0o700
	keyMode  = 0o600
	stagedID = 0
)

// ErrNoKeys is returned by Load when the repository holds no key.
var ErrNoKeys = errors.New("no fernet keys")

// Setup makes dir a key repository if it is not one yet: it creates the
// directory (mode 0700) and, when it holds no key, a primary key 1 and a
// staged key 0. A repository that has keys but lost its staged key gets a
// new one. Otherwise Setup changes nothing.
func Setup(dir string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("set up key repository: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("set up key repository: %w", err)
	}
	defer unlock()
	ids, err := keyIDs(dir)
	if err != nil {
		return fmt.Errorf("set up key repository: %w", err)
	}
	if len(ids) == 0 {
		if err := writeNewKey(dir, 1); err != nil {
			return fmt.Errorf("set up key repository: %w", err)
		}
		ids = []int{1}
	}
	if ids[0] != stagedID {
		if err := writeNewKey(dir, stagedID); err != nil {
			return fmt.Errorf("set up key repository: %w", err)
		}
	}
	return nil
}

// Rotate promotes the staged key 0 to primary (one above the current
// highest number), stages a new key 0, and deletes the oldest secondaries so
// that at most maxActive keys remain, counting the staged and the primary.
// Like Keystone, it rotates on one node; copy the directory to the others.
func Rotate(dir string, maxActive int) error {
	if maxActive < 2 {
		return fmt.Errorf("rotate keys: max active keys %d, want at least 2 (staged and primary)", maxActive)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	defer unlock()
	ids, err := keyIDs(dir)
	if err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	if len(ids) == 0 || ids[0] != stagedID {
		return fmt.Errorf("rotate keys: %s has no staged key 0; run setup first", dir)
	}
	// Write the new staged key under a temporary name first, so that the
	// window without a key 0 is only the time between two renames.
	tmp, err := writeTemp(dir)
	if err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	defer os.Remove(tmp) // no-op once renamed
	primary := max(ids[len(ids)-1], stagedID) + 1
	if err := os.Rename(filepath.Join(dir, "0"), filepath.Join(dir, strconv.Itoa(primary))); err != nil {
		return fmt.Errorf("rotate keys: promote staged key: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "0")); err != nil {
		return fmt.Errorf("rotate keys: stage new key: %w", err)
	}
	// Old keys, newest first, without the staged key and the new primary.
	old := ids[1:]
	slices.Reverse(old)
	if keep := maxActive - 2; len(old) > keep {
		for _, id := range old[keep:] {
			if err := os.Remove(filepath.Join(dir, strconv.Itoa(id))); err != nil {
				return fmt.Errorf("rotate keys: remove key %d: %w", id, err)
			}
		}
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	return nil
}

// Load reads the repository's keys: the primary first, then the staged key,
// then the secondaries from newest to oldest. All of them decrypt; only the
// first encrypts.
func Load(dir string) ([]Key, error) {
	ids, err := keyIDs(dir)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	// Primary, staged, then the rest descending.
	order := slices.Clone(ids)
	slices.Reverse(order)
	if len(order) > 1 && order[len(order)-1] == stagedID {
		order = append(order[:1], append([]int{stagedID}, order[1:len(order)-1]...)...)
	}
	keys := make([]Key, 0, len(order))
	for _, id := range order {
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(id)))
		if err != nil {
			return nil, fmt.Errorf("load keys: %w", err)
		}
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("load keys: key %d in %s: %w", id, dir, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("load keys from %s: %w", dir, ErrNoKeys)
	}
	return keys, nil
}

// keyIDs lists the numbers of the key files in dir, ascending. Only
// non-empty regular files named by a number in its plain decimal form count;
// Keystone, too, skips empty key files, which are what an interrupted copy
// leaves behind.
func keyIDs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, e := range ents {
		id, err := strconv.Atoi(e.Name())
		if err != nil || id < 0 || strconv.Itoa(id) != e.Name() || !e.Type().IsRegular() {
			continue
		}
		if fi, err := e.Info(); err != nil || fi.Size() == 0 {
			continue // gone since listed, or empty
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// writeNewKey atomically creates key file id holding a new key.
func writeNewKey(dir string, id int) error {
	tmp, err := writeTemp(dir)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, strconv.Itoa(id))); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("create key %d: %w", id, err)
	}
	return syncDir(dir)
}

// writeTemp writes a new key to a temporary file in dir, mode 0600, synced
// to disk, and returns its path. The name is not a number, so loaders skip
// it.
func writeTemp(dir string) (path string, err error) {
	k, err := GenerateKey()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".key-*.tmp")
	if err != nil {
		return "", fmt.Errorf("create key file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; say so for whoever changes it.
	if err := f.Chmod(keyMode); err != nil {
		return "", fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.WriteString(k.String()); err != nil {
		return "", fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close key file: %w", err)
	}
	return f.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// lockDir takes an exclusive flock on dir so that two rotations, in this
// process or another, do not promote the same staged key.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		d.Close()
	}, nil
}

// Keyring holds a repository's keys in memory and reloads them when the
// directory changes. It is safe for concurrent use.
type Keyring struct {
	dir string
	mu  sync.Mutex // serialises Reload
	cur atomic.Pointer[keySnapshot]
}

type keySnapshot struct {
	keys     []Key
	mtime    time.Time // of the directory when read
	loadedAt time.Time
}

// settle is how long a directory's mtime must be in the past before a
// snapshot taken under it is trusted: file systems stamp mtimes with a
// coarse clock, so two changes close together can leave the same mtime.
const settle = 2 * time.Second

// NewKeyring loads the keys in dir.
func NewKeyring(dir string) (*Keyring, error) {
	kr := &Keyring{dir: dir}
	if err := kr.load(); err != nil {
		return nil, err
	}
	return kr, nil
}

// Primary returns the key that encrypts.
func (kr *Keyring) Primary() Key { return kr.cur.Load().keys[0] }

// All returns every key, primary first, in Decrypt's order. The caller must
// not modify the slice.
func (kr *Keyring) All() []Key { return kr.cur.Load().keys }

// Reload rereads the keys if the directory's mtime changed since they were
// read, which every rename, create and delete in it does (key files are
// always replaced by rename, by Rotate and by rsync alike). It costs one
// stat otherwise. On error the keys in use stay in use.
func (kr *Keyring) Reload() error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	fi, err := os.Stat(kr.dir)
	if err != nil {
		return fmt.Errorf("reload keys: %w", err)
	}
	s := kr.cur.Load()
	if fi.ModTime().Equal(s.mtime) && s.loadedAt.Sub(s.mtime) > settle {
		return nil
	}
	return kr.load()
}

func (kr *Keyring) load() error {
	// Stat before reading: a change in between makes the mtime newer than
	// what we record, so the next Reload reads again.
	fi, err := os.Stat(kr.dir)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("load keys: %s: %w", kr.dir, fs.ErrInvalid)
	}
	keys, err := Load(kr.dir)
	if err != nil {
		return err
	}
	kr.cur.Store(&keySnapshot{keys: keys, mtime: fi.ModTime(), loadedAt: time.Now()})
	return nil
}
