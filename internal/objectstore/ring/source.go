package ring

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Source holds the current ring and, when watching a file, swaps in a new
// ring when the file changes. A file that does not load, is older than the
// current ring or has other hash salts or part power is refused with an
// error in the log, and the current ring stays.
type Source struct {
	ring atomic.Pointer[Ring]

	path string
	log  *slog.Logger
	seen os.FileInfo // the file last looked at, loaded or refused
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Watch loads the ring file at path and checks it for changes (mtime,
// size, inode) every interval. It fails if the file does not load now.
func Watch(path string, interval time.Duration, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ring: %w", err)
	}
	r, err := Load(path)
	if err != nil {
		return nil, err
	}
	s := &Source{path: path, log: log, seen: fi, stop: make(chan struct{}), done: make(chan struct{})}
	s.ring.Store(r)
	if interval <= 0 {
		interval = 15 * time.Second
	}
	go s.watch(interval)
	return s, nil
}

// Fixed is a Source that always gives r.
func Fixed(r *Ring) *Source {
	s := &Source{}
	s.ring.Store(r)
	return s
}

// Ring is the current ring.
func (s *Source) Ring() *Ring { return s.ring.Load() }

// Close stops watching the file.
func (s *Source) Close() {
	if s.stop == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

func (s *Source) watch(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.check()
		}
	}
}

// check reloads the file if it changed since it was last looked at, and
// reports whether a new ring is now current.
func (s *Source) check() bool {
	fi, err := os.Stat(s.path)
	if err != nil {
		if s.seen != nil {
			s.log.Error("ring file gone, keeping the current ring", "path", s.path, "err", err)
			s.seen = nil
		}
		return false
	}
	if s.seen != nil && os.SameFile(fi, s.seen) && fi.ModTime().Equal(s.seen.ModTime()) && fi.Size() == s.seen.Size() {
		return false
	}
	s.seen = fi
	cur := s.Ring()
	r, err := Load(s.path)
	switch {
	case err != nil:
		s.log.Error("ring file refused, keeping the current ring", "path", s.path, "err", err, "version", cur.version)
		return false
	case r.prefix != cur.prefix || r.suffix != cur.suffix || r.partPower != cur.partPower:
		s.log.Error("ring file refused: its hash salts or part power differ from the current ring, so every name would move; restart to use it",
			"path", s.path, "version", r.version, "current", cur.version)
		return false
	case r.version < cur.version:
		s.log.Error("ring file refused: older than the current ring", "path", s.path, "version", r.version, "current", cur.version)
		return false
	case r.version == cur.version:
		return false
	}
	s.ring.Store(r)
	s.log.Info("loaded a new ring", "path", s.path, "version", r.version, "previous", cur.version, "devices", len(r.active))
	return true
}
