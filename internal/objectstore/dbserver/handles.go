package dbserver

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// errClosed means the server is closing.
var errClosed = errors.New("database server closed")

// handles keeps databases open between requests: opening a SQLite file
// costs far more than the request. The least recently used ones beyond
// max, and those idle for longer than idle, are closed once unused.
type handles struct {
	max     int
	idle    time.Duration
	log     *slog.Logger
	changed func(*db) // given to every db

	mu      sync.Mutex
	open    map[string]*db
	lru     *list.List // of *db, most recently used first
	opening map[string]chan struct{}
	closed  bool
}

func newHandles(max int, idle time.Duration, log *slog.Logger, changed func(*db)) *handles {
	return &handles{max: max, idle: idle, log: log, changed: changed,
		open: map[string]*db{}, lru: list.New(), opening: map[string]chan struct{}{}}
}

// acquire returns the open database at path, opening it if need be. If
// the file does not exist it is created from init, or errNoDB is returned
// when init is nil. created reports whether this call created it. The
// caller releases the database when done.
func (h *handles) acquire(ctx context.Context, path string, k kind, init *info) (d *db, created bool, err error) {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, false, errClosed
		}
		if d := h.open[path]; d != nil {
			d.refs++
			d.used = time.Now()
			h.lru.MoveToFront(d.elem)
			h.mu.Unlock()
			return d, false, nil
		}
		wait := h.opening[path]
		if wait == nil {
			wait = make(chan struct{})
			h.opening[path] = wait
			h.mu.Unlock()
			d, created, err = h.openOrCreate(ctx, path, k, init)
			h.mu.Lock()
			delete(h.opening, path)
			close(wait)
			if err == nil && h.closed {
				d.close()
				d, err = nil, errClosed
			}
			var evicted []*db
			if err == nil {
				d.refs = 1
				d.used = time.Now()
				d.elem = h.lru.PushFront(d)
				h.open[path] = d
				evicted = h.evictLocked(h.max, 0)
			}
			h.mu.Unlock()
			h.closeAll(evicted)
			return d, created, err
		}
		h.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

func (h *handles) openOrCreate(ctx context.Context, path string, k kind, init *info) (*db, bool, error) {
	d, err := openDB(ctx, path, k)
	created := false
	if errors.Is(err, errNoDB) && init != nil {
		if err = createDB(ctx, path, k, init); err != nil {
			return nil, false, err
		}
		created = true
		d, err = openDB(ctx, path, k)
	}
	if err != nil {
		return nil, false, err
	}
	d.changed = h.changed
	return d, created, nil
}

// release gives back a database from acquire.
func (h *handles) release(d *db) {
	h.mu.Lock()
	d.refs--
	d.used = time.Now()
	evicted := h.evictLocked(h.max, 0)
	h.mu.Unlock()
	h.closeAll(evicted)
}

// evictLocked takes out of the cache unused databases beyond keep, and
// those unused for longer than idle (if idle > 0), least recently used
// first. The caller closes them outside the lock.
func (h *handles) evictLocked(keep int, idle time.Duration) []*db {
	var out []*db
	now := time.Now()
	for e := h.lru.Back(); e != nil; {
		prev := e.Prev()
		d := e.Value.(*db)
		if d.refs == 0 && (h.lru.Len() > keep || (idle > 0 && now.Sub(d.used) > idle)) {
			h.lru.Remove(e)
			delete(h.open, d.path)
			out = append(out, d)
		}
		e = prev
	}
	return out
}

func (h *handles) closeAll(dbs []*db) {
	for _, d := range dbs {
		if err := d.close(); err != nil {
			h.log.Warn("close database", "path", d.path, "err", err)
		}
	}
}

// sweep closes the databases idle for longer than h.idle.
func (h *handles) sweep() {
	h.mu.Lock()
	evicted := h.evictLocked(h.max, h.idle)
	h.mu.Unlock()
	h.closeAll(evicted)
}

// remove deletes the database file at path if nobody uses it and, when
// it is open as d, nothing was committed to it since commits. It reports
// whether the file is gone.
func (h *handles) remove(path string, d *db, commits uint64) (bool, error) {
	h.mu.Lock()
	if h.closed || h.opening[path] != nil {
		h.mu.Unlock()
		return false, nil
	}
	open := h.open[path]
	if open != nil {
		if open != d || open.refs > 0 || open.commits.Load() != commits {
			h.mu.Unlock()
			return false, nil
		}
		h.lru.Remove(open.elem)
		delete(h.open, path)
	} else if d != nil {
		// Closed and maybe reopened and written since: try next time.
		h.mu.Unlock()
		return false, nil
	}
	// Hold path as "opening" so nobody opens it while it goes.
	wait := make(chan struct{})
	h.opening[path] = wait
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.opening, path)
		close(wait)
		h.mu.Unlock()
	}()
	if open != nil {
		if err := open.close(); err != nil {
			h.log.Warn("close database", "path", path, "err", err)
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("remove %s: %w", p, err)
		}
	}
	// Tidy the now empty hash and suffix directories; failure is harmless.
	dir := filepath.Dir(path)
	if os.Remove(dir) == nil {
		_ = os.Remove(filepath.Dir(dir))
	}
	return true, nil
}

// closeEvery closes every database; later acquires fail.
func (h *handles) closeEvery() error {
	h.mu.Lock()
	h.closed = true
	var all []*db
	for e := h.lru.Front(); e != nil; e = e.Next() {
		all = append(all, e.Value.(*db))
	}
	h.open = map[string]*db{}
	h.lru.Init()
	h.mu.Unlock()
	var errs []error
	for _, d := range all {
		if err := d.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
