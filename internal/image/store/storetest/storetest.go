// Package storetest is the conformance suite that every image store
// backend must pass: streaming round trips, ranges, size caps, and no
// leftovers after a failed upload.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image/store"
)

// Lister is implemented by a store under test (or a test wrapper around
// it) that can name everything it holds, temporary objects included, an
// image by its id. The
// suite uses it to prove that failed uploads leave nothing behind; for a
// store without it those checks are skipped.
type Lister interface {
	List(t *testing.T) []string
}

// Run checks newStore's stores. Each call of newStore must give an empty
// store of its own.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Name", func(t *testing.T) {
		if newStore(t).Name() == "" {
			t.Error("Name() is empty")
		}
	})
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore) })
	t.Run("Stream64MiB", func(t *testing.T) { testStream(t, newStore(t)) })
	t.Run("Ranges", func(t *testing.T) { testRanges(t, newStore(t)) })
	t.Run("MaxSize", func(t *testing.T) { testMaxSize(t, newStore(t)) })
	t.Run("ReaderFails", func(t *testing.T) { testReaderFails(t, newStore(t)) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, newStore(t)) })
	t.Run("BadID", func(t *testing.T) { testBadID(t, newStore(t)) })
	t.Run("Duplicate", func(t *testing.T) { testDuplicate(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("BadLocation", func(t *testing.T) { testBadLocation(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("Capacity", func(t *testing.T) { testCapacity(t, newStore(t)) })
}

const mib = 1 << 20

// NewID returns a random lowercase UUID (version 4).
func NewID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Gen is a reader of n pseudo-random bytes made on the fly from seed, so
// tests can stream gigabytes without holding them. n < 0: endless.
type Gen struct {
	N    int64
	Sent int64 // bytes handed out so far
	rng  *rand.ChaCha8
}

// NewGen returns a Gen of n bytes from seed.
func NewGen(seed uint64, n int64) *Gen {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return &Gen{N: n, rng: rand.NewChaCha8(s)}
}

func (g *Gen) Read(p []byte) (int, error) {
	if g.N >= 0 {
		left := g.N - g.Sent
		if left <= 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, _ := g.rng.Read(p)
	g.Sent += int64(n)
	return n, nil
}

// genSum is the SHA-256 of NewGen(seed, n).
func genSum(t *testing.T, seed uint64, n int64) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, NewGen(seed, n)); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func readAll(t *testing.T, s store.Store, loc string, off, length int64) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), loc, off, length)
	if err != nil {
		t.Fatalf("Open(%q, %d, %d): %v", loc, off, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q [%d,+%d): %v", loc, off, length, err)
	}
	return b
}

func sumOf(t *testing.T, s store.Store, loc string) ([32]byte, int64) {
	t.Helper()
	rc, err := s.Open(t.Context(), loc, 0, -1)
	if err != nil {
		t.Fatalf("Open(%q): %v", loc, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("read %q: %v", loc, err)
	}
	return [32]byte(h.Sum(nil)), n
}

func put(t *testing.T, s store.Store, id string, r io.Reader) store.Object {
	t.Helper()
	obj, err := s.Put(t.Context(), id, r, 0)
	if err != nil {
		t.Fatalf("Put(%s): %v", id, err)
	}
	return obj
}

// checkHolds fails unless s holds exactly the images want and nothing else.
func checkHolds(t *testing.T, s store.Store, want ...string) {
	t.Helper()
	l, ok := s.(Lister)
	if !ok {
		t.Log("store is not a storetest.Lister: leftovers not checked")
		return
	}
	got := append([]string{}, l.List(t)...)
	want = append([]string{}, want...)
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("store holds (-want +got):\n%s", diff)
	}
}

func testRoundTrip(t *testing.T, newStore func(t *testing.T) store.Store) {
	sizes := []int64{0, 1, mib + 1, 1 + rand.Int64N(3*mib)}
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s := newStore(t)
			seed := rand.Uint64()
			id := NewID()
			obj := put(t, s, id, NewGen(seed, size))
			if obj.Size != size || obj.Location == "" {
				t.Errorf("Put = %+v, want size %d and a location", obj, size)
			}
			sum, n := sumOf(t, s, obj.Location)
			if n != size || sum != genSum(t, seed, size) {
				t.Errorf("read back %d bytes, sum %x; want %d bytes, sum %x", n, sum, size, genSum(t, seed, size))
			}
			checkHolds(t, s, id)
		})
	}
}

// testStream sends 64 MiB from a generator and checks that the store did
// not gather it in memory.
func testStream(t *testing.T, s store.Store) {
	const size = 64 * mib
	seed := rand.Uint64()
	g := NewGen(seed, size)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	obj := put(t, s, NewID(), g)
	runtime.ReadMemStats(&after)
	if obj.Size != size {
		t.Errorf("Put size = %d, want %d", obj.Size, size)
	}
	// The bound is loose (other tests may run alongside) but far below the
	// image: a store that buffers the upload fails it.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*mib {
		t.Errorf("Put of %d MiB allocated %d MiB; want streaming", size/mib, alloc/mib)
	}
	sum, n := sumOf(t, s, obj.Location)
	if n != size || sum != genSum(t, seed, size) {
		t.Errorf("read back %d bytes, sum %x; want %d bytes and the generator's data", n, sum, size)
	}
}

func testRanges(t *testing.T, s store.Store) {
	const size = 3*mib + 17
	data, _ := io.ReadAll(NewGen(rand.Uint64(), size))
	obj := put(t, s, NewID(), bytes.NewReader(data))
	for _, r := range []struct{ off, length int64 }{
		{0, -1}, {0, 0}, {0, 1}, {5, 10}, {mib - 3, mib + 7}, {size - 1, -1},
		{size - 1, 1}, {size, -1}, {size, 5}, {10, size}, {size + 10, -1}, {0, size},
	} {
		got := readAll(t, s, obj.Location, r.off, r.length)
		lo, hi := min(r.off, size), int64(size)
		if r.length >= 0 {
			hi = min(lo+r.length, size)
		}
		if !bytes.Equal(got, data[lo:hi]) {
			t.Errorf("Open(%d, %d) gave %d bytes, want data[%d:%d]", r.off, r.length, len(got), lo, hi)
		}
	}
	if _, err := s.Open(t.Context(), obj.Location, -1, 5); !fault.Is(err, fault.BadRequest) {
		t.Errorf("Open(offset -1) err = %v, want BadRequest", err)
	}
}

func wantTooLarge(t *testing.T, err error, msg string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != fault.TooLarge || fe.Msg != msg {
		t.Fatalf("err = %v, want a TooLarge fault %q", err, msg)
	}
}

func testMaxSize(t *testing.T, s store.Store) {
	const max = 2*mib + 3
	t.Run("Exact", func(t *testing.T) {
		obj, err := s.Put(t.Context(), NewID(), NewGen(1, max), max)
		if err != nil || obj.Size != max {
			t.Fatalf("Put(max bytes) = %+v, %v; want size %d", obj, err, max)
		}
		if err := s.Delete(t.Context(), obj.Location); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OneMore", func(t *testing.T) {
		_, err := s.Put(t.Context(), NewID(), NewGen(1, max+1), max)
		wantTooLarge(t, err, store.MsgQuota)
		checkHolds(t, s)
	})
	t.Run("Endless", func(t *testing.T) {
		g := NewGen(2, -1)
		_, err := s.Put(t.Context(), NewID(), runaway(g), max)
		wantTooLarge(t, err, store.MsgQuota)
		// "As soon as": no more than a buffer's worth past the cap.
		if g.Sent > max+8*mib {
			t.Errorf("read %d bytes of an endless upload with cap %d", g.Sent, max)
		}
		checkHolds(t, s)
	})
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

var errBoom = errors.New("connection reset half way")

// runaway bounds an endless reader, so that a store that does not stop
// fails the test instead of filling the disk.
func runaway(r io.Reader) io.Reader {
	return &failingReader{io.LimitReader(r, 64*mib), errors.New("store read 64 MiB past where it should have stopped")}
}

func testReaderFails(t *testing.T, s store.Store) {
	_, err := s.Put(t.Context(), NewID(), &failingReader{NewGen(3, 3*mib+5), errBoom}, 0)
	if !errors.Is(err, errBoom) {
		t.Errorf("Put err = %v, want one wrapping %v", err, errBoom)
	}
	checkHolds(t, s)
}

// cancelReader cancels its context after some bytes and goes on giving data.
type cancelReader struct {
	r      io.Reader
	after  int64
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.after -= int64(n); c.after <= 0 {
		c.cancel()
	}
	return n, err
}

func testCancel(t *testing.T, s store.Store) {
	t.Run("MidCopy", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		_, err := s.Put(ctx, NewID(), &cancelReader{runaway(NewGen(4, -1)), 2 * mib, cancel}, 0)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put err = %v, want context.Canceled", err)
		}
		checkHolds(t, s)
	})
	t.Run("Before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := s.Put(ctx, NewID(), NewGen(4, 10), 0)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put err = %v, want context.Canceled", err)
		}
		checkHolds(t, s)
	})
	t.Run("AtEOF", func(t *testing.T) {
		// Cancelled as the last byte arrives: Put either fails and keeps
		// nothing, or succeeds and keeps the image.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		id := NewID()
		obj, err := s.Put(ctx, id, &cancelReader{NewGen(4, mib), mib, cancel}, 0)
		if err != nil {
			checkHolds(t, s)
			return
		}
		checkHolds(t, s, id)
		if err := s.Delete(t.Context(), obj.Location); err != nil {
			t.Fatal(err)
		}
	})
}

func testBadID(t *testing.T, s store.Store) {
	for _, id := range []string{
		"", "..", "../etc/passwd", "/etc/passwd", ".tmp-x",
		"3F2504E0-4F89-11D3-9A0C-0305E82C3301", // upper case
		"3f2504e04f8911d39a0c0305e82c3301",     // no dashes
		"3f2504e0-4f89-11d3-9a0c-0305e82c330/", "3f2504e0-4f89-11d3-9a0c-0305e82c33011",
		"../f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e0/4f89-11d3-9a0c-0305e82c3301",
	} {
		_, err := s.Put(t.Context(), id, NewGen(5, 10), 0)
		if !fault.Is(err, fault.BadRequest) {
			t.Errorf("Put(%q) err = %v, want BadRequest", id, err)
		}
	}
	checkHolds(t, s)
}

func testDuplicate(t *testing.T, s store.Store) {
	id := NewID()
	obj := put(t, s, id, NewGen(6, 1000))
	_, err := s.Put(t.Context(), id, NewGen(7, 2000), 0)
	if !fault.Is(err, fault.Conflict) {
		t.Errorf("second Put(%s) err = %v, want Conflict", id, err)
	}
	if sum, n := sumOf(t, s, obj.Location); n != 1000 || sum != genSum(t, 6, 1000) {
		t.Errorf("after a second Put the data changed (%d bytes)", n)
	}
	checkHolds(t, s, id)
}

func testDelete(t *testing.T, s store.Store) {
	id := NewID()
	obj := put(t, s, id, NewGen(8, mib))
	for i := range 2 {
		if err := s.Delete(t.Context(), obj.Location); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := s.Open(t.Context(), obj.Location, 0, -1); !fault.Is(err, fault.NotFound) {
		t.Errorf("Open after Delete err = %v, want NotFound", err)
	}
	checkHolds(t, s)
	// The id may be used again once its data is gone.
	obj = put(t, s, id, NewGen(9, 10))
	if sum, n := sumOf(t, s, obj.Location); n != 10 || sum != genSum(t, 9, 10) {
		t.Errorf("Put after Delete read back %d bytes", n)
	}
}

func testBadLocation(t *testing.T, s store.Store) {
	for _, loc := range []string{"", "nonsense", "file:///etc/passwd", "http://example.com/x"} {
		if _, err := s.Open(t.Context(), loc, 0, -1); !fault.Is(err, fault.BadRequest) && !fault.Is(err, fault.NotFound) {
			t.Errorf("Open(%q) err = %v, want BadRequest or NotFound", loc, err)
		}
		if err := s.Delete(t.Context(), loc); err != nil && !fault.Is(err, fault.BadRequest) && !fault.Is(err, fault.NotFound) {
			t.Errorf("Delete(%q) err = %v, want nil, BadRequest or NotFound", loc, err)
		}
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	const n = 8
	var wg sync.WaitGroup
	objs := make([]store.Object, n)
	ids := make([]string, n)
	errs := make([]error, n)
	sizes := make([]int64, n)
	for i := range n {
		ids[i], sizes[i] = NewID(), 1+rand.Int64N(3*mib)
		wg.Go(func() {
			objs[i], errs[i] = s.Put(t.Context(), ids[i], NewGen(uint64(100+i), sizes[i]), 0)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put #%d: %v", i, errs[i])
		}
		sum, got := sumOf(t, s, objs[i].Location)
		if got != sizes[i] || sum != genSum(t, uint64(100+i), sizes[i]) {
			t.Errorf("Put #%d read back %d bytes, want %d and its data", i, got, sizes[i])
		}
	}
	checkHolds(t, s, ids...)
}

func testCapacity(t *testing.T, s store.Store) {
	c, ok := s.(store.Capacity)
	if !ok {
		t.Skip("store has no Capacity")
	}
	free, err := c.Free()
	if err != nil || free <= 0 {
		t.Errorf("Free() = %d, %v; want > 0", free, err)
	}
}
