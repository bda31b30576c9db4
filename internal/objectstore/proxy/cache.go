package proxy

import (
	"net/http"
	"sync"
	"time"
)

// info is what a HEAD of an account or container said: the status and
// every header, metadata and sysmeta included.
type info struct {
	status int
	header http.Header
}

func (i *info) ok() bool { return i != nil && i.status >= 200 && i.status < 300 }

// infoCache keeps account and container HEADs for a short time: every
// object request needs its container's ACLs and existence, and asking the
// container servers each time would double the work of small requests.
// The proxy's own writes drop entries at once; other proxies' writes show
// after the TTL, as with Swift's memcache.
type infoCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cacheEntry
	// gen counts drops: a lookup that started before a drop must not put
	// what it read, which may predate the write that dropped the entry.
	gen uint64
}

type cacheEntry struct {
	info    *info
	expires time.Time
}

// maxEntries bounds the cache; past it expired entries are swept, and if
// that is not enough the cache starts over.
const maxEntries = 50000

func newInfoCache(ttl time.Duration) *infoCache {
	return &infoCache{ttl: ttl, m: make(map[string]cacheEntry)}
}

func cacheKey(account, container string) string {
	if container == "" {
		return account
	}
	return account + "\x00" + container
}

// get returns the cached info and the generation to hand to put after a
// miss.
func (c *infoCache) get(key string) (*info, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if ok && time.Now().Before(e.expires) {
		return e.info, c.gen
	}
	if ok {
		delete(c.m, key)
	}
	return nil, c.gen
}

// put stores in unless a drop happened since gen was read. Server errors
// are never cached: the next request tries again.
func (c *infoCache) put(key string, in *info, gen uint64) {
	if in == nil || in.status >= 500 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= maxEntries {
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxEntries {
			clear(c.m)
		}
	}
	c.m[key] = cacheEntry{info: in, expires: now.Add(c.ttl)}
}

// drop forgets the entries of a write's target.
func (c *infoCache) drop(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.m, k)
	}
}
