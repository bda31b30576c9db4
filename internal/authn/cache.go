package authn

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// tokenKey is what caches are keyed by: a token's SHA-256, so that no raw
// token sits in a map where a heap dump or a debugger would show it.
type tokenKey [sha256.Size]byte

func keyOf(token string) tokenKey { return sha256.Sum256([]byte(token)) }

// entry is one validation outcome: a Principal (without its raw token), or
// the Unauthorized error of an invalid token.
type entry struct {
	key     tokenKey
	p       *Principal
	err     error
	expires time.Time
}

// cache is a bounded map of validation outcomes. When full it evicts the
// oldest entry; entries past their expiry are dropped as they are met.
type cache struct {
	mu    sync.Mutex
	max   int
	items map[tokenKey]*list.Element
	order list.List // of *entry, oldest first
}

func newCache(max int) *cache {
	return &cache{max: max, items: make(map[tokenKey]*list.Element)}
}

func (c *cache) get(k tokenKey, now time.Time) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.items, k)
		return nil, false
	}
	return e, true
}

func (c *cache) put(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok {
		c.order.Remove(el)
	}
	c.items[e.key] = c.order.PushBack(e)
	for c.order.Len() > c.max {
		old := c.order.Front()
		c.order.Remove(old)
		delete(c.items, old.Value.(*entry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// flight runs one call per key at a time; callers that come while it runs
// wait for its result instead of making their own (a small singleflight).
type flight[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*call[V]
}

type call[V any] struct {
	done    chan struct{}
	waiters int // callers beyond the first, for tests
	val     V
	err     error
}

// do runs fn for key, or joins the run already under way. fn runs in its own
// goroutine with ctx's values but not its cancellation, so that one caller
// giving up does not fail the others; each caller stops waiting when its own
// ctx is done.
func (f *flight[K, V]) do(ctx context.Context, key K, fn func(context.Context) (V, error)) (V, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[K]*call[V])
	}
	c, ok := f.calls[key]
	if ok {
		c.waiters++
	} else {
		c = &call[V]{done: make(chan struct{})}
		f.calls[key] = c
		go func() {
			c.val, c.err = fn(context.WithoutCancel(ctx))
			f.mu.Lock()
			delete(f.calls, key)
			f.mu.Unlock()
			close(c.done)
		}()
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// waiting returns how many callers wait on the run for key beyond the first.
func (f *flight[K, V]) waiting(key K) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[key]; ok {
		return c.waiters
	}
	return -1
}
