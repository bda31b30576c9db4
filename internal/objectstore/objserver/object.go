package objserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// object is an object as a request sees it: the .data open and checked,
// its metadata merged with the newest .meta.
type object struct {
	data     *objFile
	meta     map[string]string
	ts       swift.Timestamp // X-Timestamp: the newest of .data and .meta
	dataTS   swift.Timestamp
	metaTS   swift.Timestamp // zero without a .meta
	deleteAt int64           // X-Delete-At, 0 if none
}

func (o *object) close() {
	if o != nil && o.data != nil {
		o.data.Close()
	}
}

func (o *object) size() int64  { return o.data.hdr.size }
func (o *object) etag() string { return hexMD5(o.data.hdr.md5) }

// expired reports whether X-Delete-At has passed at now.
func (o *object) expired(now swift.Timestamp) bool {
	return o.deleteAt > 0 && o.deleteAt*100000 <= now.Ticks
}

// missingError is an object that is not there: never written, deleted
// (ts is the tombstone's time), or expired (obj is what is still there).
type missingError struct {
	ts      swift.Timestamp
	expired *object
}

func (e *missingError) Error() string { return "object not found" }

// open reads the object of q. first is how many bytes to read at once
// with the header (a GET asks for a block's worth). Damaged files are
// quarantined and the object reported missing, as Swift does.
func (s *Server) open(q *objRequest, first int) (*object, dirState, error) {
	dir := q.dir()
	for try := 0; try < 4; try++ {
		st, err := readDirState(dir)
		if err != nil {
			return nil, st, fmt.Errorf("list %s: %w", dir, err)
		}
		if st.winner == nil {
			return nil, st, &missingError{}
		}
		if st.winner.ext == ".ts" {
			return nil, st, &missingError{ts: st.winner.ts}
		}
		dataPath := filepath.Join(dir, st.winner.name())
		df, err := openObjFile(dataPath, first)
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced under us: look again
		}
		if err == nil && df.hdr.kind != kindData {
			df.Close()
			err = corruptf("%s is not a data file", dataPath)
		}
		if isCorrupt(err) {
			s.quarantine(q.d, q.part, q.hash, dataPath, err)
			return nil, st, &missingError{}
		}
		if err != nil {
			return nil, st, err
		}
		o := &object{data: df, meta: df.meta, ts: st.winner.ts, dataTS: st.winner.ts}
		if st.meta != nil {
			metaPath := filepath.Join(dir, st.meta.name())
			mf, err := openObjFile(metaPath, 4096)
			if errors.Is(err, fs.ErrNotExist) {
				df.Close()
				continue
			}
			if err == nil && mf.hdr.kind != kindMeta {
				mf.Close()
				err = corruptf("%s is not a metadata file", metaPath)
			}
			if isCorrupt(err) {
				df.Close()
				s.quarantine(q.d, q.part, q.hash, metaPath, err)
				return nil, st, &missingError{}
			}
			if err != nil {
				df.Close()
				return nil, st, err
			}
			o.meta = mergeMeta(df.meta, mf.meta)
			o.ts, o.metaTS = st.meta.ts, st.meta.ts
			mf.Close()
		}
		if v := o.meta["X-Delete-At"]; v != "" {
			o.deleteAt, _ = strconv.ParseInt(v, 10, 64)
		}
		return o, st, nil
	}
	return nil, dirState{}, fmt.Errorf("%s keeps changing", dir)
}

// mergeMeta applies a POST's metadata over the .data's as Swift's fast
// POST does: the .meta replaces user metadata, transient sysmeta and the
// headers a POST may set; the name, system metadata and the large-object
// marker stay the .data's; Content-Type changes only when the POST set one.
func mergeMeta(data, meta map[string]string) map[string]string {
	out := make(map[string]string, len(data)+len(meta))
	for k, v := range meta {
		out[k] = v
	}
	for k, v := range data {
		if k == "name" || k == "X-Static-Large-Object" || strings.HasPrefix(k, "X-Object-Sysmeta-") {
			out[k] = v
		}
	}
	if _, ok := meta["Content-Type"]; !ok {
		if ct, ok := data["Content-Type"]; ok {
			out["Content-Type"] = ct
		}
	}
	return out
}

// Metadata a request may set besides X-Object-Meta-*, sysmeta and
// transient sysmeta: Swift's allowed_headers of the object server.
var allowedHeaders = map[string]bool{
	"Content-Disposition":   true,
	"Content-Encoding":      true,
	"X-Delete-At":           true,
	"X-Object-Manifest":     true,
	"X-Static-Large-Object": true,
	"Cache-Control":         true,
	"Content-Language":      true,
	"Expires":               true,
	"X-Robots-Tag":          true,
}

func isUserMeta(k string) bool { return strings.HasPrefix(k, "X-Object-Meta-") }
func isSysmeta(k string) bool  { return strings.HasPrefix(k, "X-Object-Sysmeta-") }
func isTransient(k string) bool {
	return strings.HasPrefix(k, "X-Object-Transient-Sysmeta-")
}

// requestMeta picks the metadata a PUT (sysmeta too) or POST stores from
// its headers, plus any header the proxy names in
// X-Backend-Replication-Headers.
func requestMeta(h map[string][]string, withSysmeta bool) map[string]string {
	m := map[string]string{}
	for k, v := range h {
		if len(v) == 0 {
			continue
		}
		// Swift keeps a user metadata key with an empty value (an object
		// POST replaces all of them, so emptiness never means removal);
		// other headers with no value are not stored.
		if (v[0] == "" && !isUserMeta(k)) || len(k) > 0xffff {
			continue
		}
		if isUserMeta(k) || isTransient(k) || allowedHeaders[k] || (withSysmeta && isSysmeta(k)) {
			m[k] = v[0]
		}
	}
	if extra := h["X-Backend-Replication-Headers"]; len(extra) > 0 {
		for _, name := range strings.Fields(extra[0]) {
			k := textproto.CanonicalMIMEHeaderKey(name)
			if v := h[k]; len(v) > 0 && v[0] != "" {
				m[k] = v[0]
			}
		}
	}
	return m
}

// quarantine moves a hash directory holding a damaged file out of the way
// (to quarantined/objects/<hash>) so that it is never served again and
// replication, seeing the suffix change, brings a good copy. Nothing
// happens if bad is gone already (replaced by a newer file).
func (s *Server) quarantine(d *device, part int, hash, bad string, reason error) {
	mu := s.hashLock(hash)
	mu.Lock()
	if _, err := os.Lstat(bad); err != nil {
		mu.Unlock()
		return
	}
	dst := filepath.Join(d.quarantine(), hash)
	err := os.MkdirAll(d.quarantine(), 0o700)
	if err == nil {
		if _, serr := os.Lstat(dst); serr == nil {
			dst += "-" + strconv.FormatInt(s.now().UnixNano(), 36)
		}
		err = os.Rename(d.hashDir(part, hash), dst)
	}
	mu.Unlock()
	if err != nil {
		// Without the rename, at least the bad file must go.
		_ = os.Remove(bad)
		s.log.Error("quarantine failed, removed the file", "device", d.name, "path", bad, "err", err)
	} else {
		s.log.Error("quarantined object", "device", d.name, "path", bad, "to", dst, "reason", reason)
	}
	s.invalidate(d, part, suffixOf(hash))
}
