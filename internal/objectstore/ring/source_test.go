package ring

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer is a slog handler target safe for the watcher goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestSourceReloads(t *testing.T) {
	b, path := writtenRing(t)
	v1, _ := os.ReadFile(path)
	var logs logBuffer
	s, err := Watch(path, time.Hour, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if s.check() {
		t.Error("check reloaded an unchanged file")
	}

	// A newer ring is taken.
	b.Add(dev(1, 5, "d1", 100))
	rebalance(t, b, t0.Add(2*time.Hour))
	if err := b.WriteRing(path); err != nil {
		t.Fatal(err)
	}
	if !s.check() || s.Ring().Version() != b.Version() {
		t.Fatalf("after a new ring: version %d, want %d", s.Ring().Version(), b.Version())
	}
	current := s.Ring()

	refuse := func(name string, data []byte, wantLog string) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if s.check() || s.Ring() != current {
			t.Errorf("%s: the ring changed", name)
		}
		if !strings.Contains(logs.String(), wantLog) {
			t.Errorf("%s: log %q lacks %q", name, logs.String(), wantLog)
		}
		if s.check() {
			t.Errorf("%s: checked again", name)
		}
	}
	good, _ := os.ReadFile(path)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	refuse("corrupt", bad, "ring file refused, keeping the current ring")
	refuse("older", v1, "older than the current ring")

	other := newBuilder(t, 8, 3, 0, dev(1, 1, "d1", 100))
	for range 5 {
		rebalance(t, other, t0)
		other.SetWeight(0, 100+float64(other.Version()))
	}
	otherPath := filepath.Join(t.TempDir(), "other.ring")
	other.WriteRing(otherPath)
	otherData, _ := os.ReadFile(otherPath)
	refuse("other salts", otherData, "hash salts or part power differ")

	os.Remove(path)
	refuse2 := s.check()
	if refuse2 || s.Ring() != current || !strings.Contains(logs.String(), "ring file gone") {
		t.Errorf("removed file: reloaded %v, log %s", refuse2, logs.String())
	}
	// Back again: the same version is nothing new.
	os.WriteFile(path, good, 0o644)
	if s.check() || s.Ring() != current {
		t.Error("same version reloaded")
	}
}

func TestSourceWatches(t *testing.T) {
	b, path := writtenRing(t)
	s, err := Watch(path, 5*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b.Add(dev(1, 5, "d1", 100))
	rebalance(t, b, t0.Add(2*time.Hour))
	if err := b.WriteRing(path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Ring().Version() != b.Version() {
		if time.Now().After(deadline) {
			t.Fatalf("ring version %d after 5s, want %d", s.Ring().Version(), b.Version())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	s.Close() // twice is fine
}

func TestWatchFailsOnBadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Watch(filepath.Join(dir, "missing.ring"), time.Second, nil); err == nil {
		t.Error("Watch(missing) succeeded")
	}
	bad := filepath.Join(dir, "bad.ring")
	os.WriteFile(bad, []byte("junk"), 0o644)
	if _, err := Watch(bad, time.Second, nil); err == nil {
		t.Error("Watch(junk) succeeded")
	}
}

func TestFixed(t *testing.T) {
	b, _ := writtenRing(t)
	r := mustRing(t, b)
	s := Fixed(r)
	if s.Ring() != r {
		t.Error("Fixed(r).Ring() != r")
	}
	s.Close()
}
