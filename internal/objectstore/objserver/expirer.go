package objserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/fsync"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// Each device indexes its objects that carry an X-Delete-At as empty files
// expiring/<at>-<part>-<hash>, <at> zero-padded so names sort by time.
// An entry is made before the object's file is committed, so no expiring
// object is ever without one; entries whose object changed are dropped
// when their time comes. The expirer runs on every replica: each writes
// the same tombstone (timestamp = X-Delete-At), so they converge.

func expiringName(at int64, part int, hash string) string {
	return fmt.Sprintf("%010d-%d-%s", at, part, hash)
}

func parseExpiringName(n string) (at int64, part int, hash string, ok bool) {
	atS, rest, ok1 := strings.Cut(n, "-")
	partS, hash, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || !validHash(hash) {
		return 0, 0, "", false
	}
	at, err1 := strconv.ParseInt(atS, 10, 64)
	part, err2 := strconv.Atoi(partS)
	if err1 != nil || err2 != nil || part < 0 {
		return 0, 0, "", false
	}
	return at, part, hash, true
}

// addExpiring records that the object (part, hash) expires at.
func (s *Server) addExpiring(d *device, at int64, part int, hash string) error {
	path := filepath.Join(d.expiringDir(), expiringName(at, part, hash))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	if err := fsync.Path(d.expiringDir()); err != nil {
		return fmt.Errorf("fsync %s: %w", d.expiringDir(), err)
	}
	return nil
}

// ExpireOnce deletes the objects whose X-Delete-At has passed.
func (s *Server) ExpireOnce(ctx context.Context) error {
	s.expiring.Lock()
	defer s.expiring.Unlock()
	now := s.now().Unix()
	var errs []error
	for _, d := range s.devices() {
		names, err := listDir(d.expiringDir())
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", d.expiringDir(), err))
			continue
		}
		slices.Sort(names)
		for _, n := range names {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			path := filepath.Join(d.expiringDir(), n)
			at, part, hash, ok := parseExpiringName(n)
			if !ok {
				os.Remove(path)
				continue
			}
			if at > now {
				break
			}
			if err := s.expire(ctx, d, at, part, hash); err != nil {
				errs = append(errs, err)
				continue
			}
			os.Remove(path)
		}
	}
	return errors.Join(errs...)
}

// expire deletes one object if it still carries X-Delete-At = at, and
// tells the container's primaries.
func (s *Server) expire(ctx context.Context, d *device, at int64, part int, hash string) error {
	q := &objRequest{d: d, part: part, hash: hash}
	o, _, err := s.open(q, 4096)
	if err != nil {
		var miss *missingError
		if errors.As(err, &miss) {
			return nil
		}
		return fmt.Errorf("expire %s: %w", q.dir(), err)
	}
	o.close()
	if o.deleteAt != at {
		return nil // rewritten or re-posted since: not this entry's business
	}
	acct, cont, obj, ok := splitName(o.meta["name"])
	if !ok {
		return fmt.Errorf("expire %s: bad name %q", q.dir(), o.meta["name"])
	}
	q.account, q.container, q.object = acct, cont, obj
	ts := swift.Timestamp{Ticks: at * 100000}
	if !ts.After(o.dataTS) {
		// Stored after its own delete time (clock skew between nodes):
		// just after the data still orders the same on every replica.
		ts = swift.Timestamp{Ticks: o.dataTS.Ticks, Offset: o.dataTS.Offset + 1}
	}
	if err := s.tombstone(q, ts); err != nil {
		var stale *staleError
		if errors.As(err, &stale) {
			return nil // a newer write won
		}
		return fmt.Errorf("expire %s: %w", q.dir(), err)
	}
	s.log.Info("expired object", "device", d.name, "name", o.meta["name"], "delete_at", at)
	s.updatePrimaries(ctx, q, http.MethodDelete, ts, map[string]string{"X-Timestamp": ts.Internal()})
	return nil
}

// updatePrimaries sends a container update to every primary of the
// object's container, queueing those that fail.
func (s *Server) updatePrimaries(ctx context.Context, q *objRequest, op string, ts swift.Timestamp, hdr map[string]string) {
	r := s.ring.Ring()
	part := r.Partition(q.account, q.container, "")
	for _, dev := range r.Primaries(part) {
		p := &pending{Op: op, Account: q.account, Container: q.container, Object: q.object,
			Host: dev.Addr(), Device: dev.Name, Partition: part, Headers: hdr}
		c, cancel := context.WithTimeout(ctx, updateTimeout)
		err := s.sendUpdate(c, p.Host, p.Device, part, p)
		cancel()
		if err != nil {
			if err := s.savePending(q.d, q.hash, ts, p); err != nil {
				s.log.Error("queue container update", "device", q.d.name, "err", err)
			}
		}
	}
}

// splitName splits a stored name "/a/c/o".
func splitName(name string) (a, c, o string, ok bool) {
	rest, found := strings.CutPrefix(name, "/")
	if !found {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}
