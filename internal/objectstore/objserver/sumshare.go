package objserver

import (
	"bytes"
	"crypto/md5"
	"encoding"
	"hash"
	"sync"
)

// The replicas of a PUT often reach one node on several of its devices at
// once (`nimbus up` keeps all three on one node), and each object server
// must store the MD5 of the bytes it received as the ETag. MD5 is by far
// the costliest step of a large PUT (~600 MB/s a core, where the block
// CRCs run at ~17 GB/s) and the streams carry the same bytes, so the
// writers of one object version share the work, block by block: the first
// to reach a block hashes it and publishes a copy of its bytes with its
// MD5 state before and after; a writer that reaches the same block with
// the same state before and the same bytes (compared in full) takes the
// state after instead of hashing. Each writer's MD5 is thus exactly the
// MD5 of its own bytes; sharing only skips a step whose inputs are proven
// equal. A writer whose bytes differ, or that fell more than sumWindow
// blocks behind, hashes on its own.

// sumWindow is how many recent blocks a group keeps for writers behind.
const sumWindow = 64

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

// sumGroup is the writers of one object version (name and timestamp).
type sumGroup struct {
	key     string
	mu      sync.Mutex
	writers int
	steps   [sumWindow]*sumStep
}

// sumStep is one block hashed by one writer for the others.
type sumStep struct {
	block  int64
	before [md5StateLen]byte
	data   *[]byte // a copy of the block's bytes; nil once evicted
	n      int
	done   chan struct{} // closed once after is set
	after  [md5StateLen]byte
}

var blockCopies = sync.Pool{New: func() any { b := make([]byte, blockSize); return &b }}

// join adds a writer to the group of key.
func (s *sumShare) join(key string) *sumGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		s.groups = map[string]*sumGroup{}
	}
	g := s.groups[key]
	if g == nil {
		g = &sumGroup{key: key}
		s.groups[key] = g
	}
	g.mu.Lock()
	g.writers++
	g.mu.Unlock()
	return g
}

// leave removes a writer; the last one frees the group.
func (s *sumShare) leave(g *sumGroup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writers--
	if g.writers > 0 {
		return
	}
	delete(s.groups, g.key)
	for i, st := range g.steps {
		if st != nil && st.data != nil {
			blockCopies.Put(st.data)
			st.data = nil
		}
		g.steps[i] = nil
	}
}

// write adds block number block, p, to h: by taking the state another
// writer reached from the same state with the same bytes, else by hashing
// (and publishing the step when other writers may want it).
func (g *sumGroup) write(h md5State, block int64, p []byte) {
	var before [md5StateLen]byte
	if b, err := h.AppendBinary(before[:0]); err != nil || len(b) != md5StateLen {
		h.Write(p)
		return
	}
	slot := &g.steps[block%sumWindow]
	g.mu.Lock()
	if st := *slot; st != nil && st.block == block {
		same := st.data != nil && st.before == before && st.n == len(p) && bytes.Equal((*st.data)[:st.n], p)
		g.mu.Unlock()
		if same {
			<-st.done
			if h.UnmarshalBinary(st.after[:]) == nil {
				return
			}
			_ = h.UnmarshalBinary(before[:])
		}
		h.Write(p)
		return
	}
	if g.writers < 2 {
		g.mu.Unlock()
		h.Write(p)
		return
	}
	st := &sumStep{block: block, before: before, data: blockCopies.Get().(*[]byte), n: len(p), done: make(chan struct{})}
	copy(*st.data, p)
	if old := *slot; old != nil && old.data != nil {
		blockCopies.Put(old.data)
		old.data = nil
	}
	*slot = st
	g.mu.Unlock()
	h.Write(p)
	_, _ = h.AppendBinary(st.after[:0])
	close(st.done)
}

// newMD5 returns an MD5 that can share steps, or nil if crypto/md5's
// cannot save its state.
func newMD5() md5State {
	h, _ := md5.New().(md5State)
	return h
}
