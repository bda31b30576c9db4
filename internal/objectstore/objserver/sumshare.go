package objserver

import (
	"bytes"
	"crypto/md5"
	"encoding"
	"hash"
	"sync"
)

// The MD5 of a large body (the ETag) is computed by a goroutine of its
// own, so that it runs on one core while the body streams in, is
// checksummed and written on another: MD5 is by far the costliest step of
// a PUT (~600 MB/s a core, where the block CRCs run at ~17 GB/s).
//
// The replicas of a PUT often reach one node on several of its devices at
// once (`nimbus up` keeps all three on one node), and their streams carry
// the same bytes, so the writers of one object version share that
// goroutine: the first writer to reach a block copies it into the group's
// window, the goroutine hashes the blocks of the window in order and keeps
// the MD5 state after each, and every other writer compares its block in
// full with the copy. A writer whose blocks all compared equal takes the
// group's state after its last block: exactly the MD5 of its own bytes. A
// writer whose block differs takes the state before that block and hashes
// the rest itself. The first writer waits while the window is full, so
// that no block leaves it before every writer compared it.

// sumWindow is how many blocks a group holds: the lead one writer may
// take over another, and the hashing goroutine over the writers.
const sumWindow = 128

// md5StateLen is the length of crypto/md5's marshaled state.
const md5StateLen = 92

// md5State is an MD5 whose state can be saved and restored.
type md5State interface {
	hash.Hash
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// sumShare holds the groups of the writers of this server.
type sumShare struct {
	mu     sync.Mutex
	groups map[string]*sumGroup
}

// sumGroup is the writers of one object version (name and timestamp) and
// the goroutine hashing their blocks.
type sumGroup struct {
	key  string
	mu   sync.Mutex
	cond sync.Cond // any change below

	writers   map[*sumWriter]bool // those still comparing
	slots     [sumWindow]sumSlot
	delivered int64 // blocks copied in (block i is in slot i%sumWindow)
	hashed    int64 // blocks hashed
	evicted   bool  // a block left the window: too late to join
	closed    bool  // no writer left
}

type sumSlot struct {
	data  *[]byte
	n     int
	after [md5StateLen]byte // the state after this block, once hashed
}

// sumWriter is one writer's share: its next block and, once its bytes
// differ from the group's, its own MD5.
type sumWriter struct {
	share *sumShare
	g     *sumGroup
	next  int64
	own   md5State
	// diverged tells that the writer's bytes differed from the group's
	// (and so that it hashed from there on itself).
	diverged bool
}

var blockCopies = sync.Pool{New: func() any { b := make([]byte, blockSize); return &b }}

// join makes a writer of the group of key; a writer coming after blocks
// left the group's window gets a group of its own.
func (s *sumShare) join(key string) *sumWriter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		s.groups = map[string]*sumGroup{}
	}
	g := s.groups[key]
	if g != nil {
		g.mu.Lock()
		late := g.evicted || g.closed
		g.mu.Unlock()
		if late {
			g = nil
			key = ""
		}
	}
	if g == nil {
		g = &sumGroup{key: key, writers: map[*sumWriter]bool{}}
		g.cond.L = &g.mu
		if key != "" {
			s.groups[key] = g
		}
		go g.hash()
	}
	w := &sumWriter{share: s, g: g}
	g.mu.Lock()
	g.writers[w] = true
	g.mu.Unlock()
	return w
}

// write adds block number w.next, p, to the writer's MD5.
func (w *sumWriter) write(p []byte) {
	if w.own != nil {
		w.own.Write(p)
		w.next++
		return
	}
	g := w.g
	k := w.next
	slot := &g.slots[k%sumWindow]
	g.mu.Lock()
	for k == g.delivered {
		// First here: copy the block in once its slot is free.
		if k >= sumWindow && !g.free(k-sumWindow) {
			g.cond.Wait()
			continue
		}
		if slot.data == nil {
			slot.data = blockCopies.Get().(*[]byte)
		}
		if k >= sumWindow {
			g.evicted = true
		}
		slot.n = copy(*slot.data, p)
		g.delivered++
		w.next++
		g.cond.Broadcast()
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	// Block k stays in the window until this writer is past k+1.
	if slot.n == len(p) && bytes.Equal((*slot.data)[:slot.n], p) {
		g.mu.Lock()
		w.next++
		g.cond.Broadcast()
		g.mu.Unlock()
		return
	}
	w.diverge()
	w.own.Write(p)
	w.next++
}

// free reports whether block j may leave the window: hashed, and every
// writer past j+1 (one still at j+1 may want the state after j).
func (g *sumGroup) free(j int64) bool {
	if g.hashed <= j {
		return false
	}
	for w := range g.writers {
		if w.next <= j+1 {
			return false
		}
	}
	return true
}

// diverge gives w its own MD5 at the state before block w.next and takes
// it out of the comparing writers.
func (w *sumWriter) diverge() {
	g := w.g
	g.mu.Lock()
	defer g.mu.Unlock()
	w.own = w.stateLocked()
	w.diverged = true
	delete(g.writers, w)
	g.cond.Broadcast()
}

// stateLocked waits for the group's MD5 state after block w.next-1 and
// returns a copy of it.
func (w *sumWriter) stateLocked() md5State {
	g := w.g
	h := newMD5()
	if w.next == 0 {
		return h
	}
	for g.hashed < w.next {
		g.cond.Wait()
	}
	if err := h.UnmarshalBinary(g.slots[(w.next-1)%sumWindow].after[:]); err != nil {
		panic("objserver: restore md5 state: " + err.Error())
	}
	return h
}

// sum returns the MD5 of the writer's bytes; the writer no longer holds
// the group's window back.
func (w *sumWriter) sum() [md5.Size]byte {
	if w.own == nil {
		g := w.g
		g.mu.Lock()
		w.own = w.stateLocked()
		delete(g.writers, w)
		g.cond.Broadcast()
		g.mu.Unlock()
	}
	var out [md5.Size]byte
	w.own.Sum(out[:0])
	return out
}

// leave takes the writer out of its group; when no writer compares any
// more, the group ends.
func (w *sumWriter) leave() {
	s, g := w.share, w.g
	s.mu.Lock()
	defer s.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.writers, w)
	g.cond.Broadcast()
	if len(g.writers) > 0 || g.closed {
		return
	}
	g.closed = true
	if g.key != "" && s.groups[g.key] == g {
		delete(s.groups, g.key)
	}
}

// hash hashes the blocks in order as they come, keeping the state after
// each, until the group closes; then it gives the copies back.
func (g *sumGroup) hash() {
	h := newMD5()
	g.mu.Lock()
	for {
		for g.hashed == g.delivered && !g.closed {
			g.cond.Wait()
		}
		if g.closed {
			break
		}
		slot := &g.slots[g.hashed%sumWindow]
		g.mu.Unlock()
		h.Write((*slot.data)[:slot.n])
		g.mu.Lock()
		_, _ = h.AppendBinary(slot.after[:0])
		g.hashed++
		g.cond.Broadcast()
	}
	for i := range g.slots {
		if g.slots[i].data != nil {
			blockCopies.Put(g.slots[i].data)
			g.slots[i].data = nil
		}
	}
	g.mu.Unlock()
}

// newMD5 returns crypto/md5's MD5, whose state can be saved.
func newMD5() md5State {
	h, ok := md5.New().(md5State)
	if !ok {
		panic("objserver: crypto/md5 cannot save its state")
	}
	return h
}
