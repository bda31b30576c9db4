package objserver

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// A device directory holds:
//
//	objects/<part>/<suffix>/<hash>/<timestamp>.data|.meta|.ts
//	objects/<part>/hashes.json, hashes.invalid   suffix hash cache
//	tmp/                     files being written, renamed into place
//	async_pending/           container updates not delivered yet
//	expiring/<at>-<part>-<hash>  objects with an X-Delete-At
//	quarantined/objects/<hash>   hash directories that failed a check
//
// The suffix is the last three hex digits of the hash, as in Swift.
type device struct {
	name string
	root string
}

func (d *device) objects() string     { return filepath.Join(d.root, "objects") }
func (d *device) tmp() string         { return filepath.Join(d.root, "tmp") }
func (d *device) pendingDir() string  { return filepath.Join(d.root, "async_pending") }
func (d *device) expiringDir() string { return filepath.Join(d.root, "expiring") }
func (d *device) quarantine() string  { return filepath.Join(d.root, "quarantined", "objects") }

func (d *device) partDir(part int) string {
	return filepath.Join(d.root, "objects", strconv.Itoa(part))
}

func (d *device) suffixDir(part int, suffix string) string {
	return filepath.Join(d.root, "objects", strconv.Itoa(part), suffix)
}

func (d *device) hashDir(part int, hash string) string {
	return filepath.Join(d.root, "objects", strconv.Itoa(part), suffixOf(hash), hash)
}

func suffixOf(hash string) string { return hash[len(hash)-3:] }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func validHash(h string) bool   { return len(h) == 32 && isHex(h) }
func validSuffix(s string) bool { return len(s) == 3 && isHex(s) }

// fileRef is one file of a hash directory: its timestamp and extension.
type fileRef struct {
	ts  swift.Timestamp
	ext string // ".data", ".meta" or ".ts"
}

func (f fileRef) name() string { return f.ts.Internal() + f.ext }

func (f fileRef) kind() byte {
	switch f.ext {
	case ".data":
		return kindData
	case ".meta":
		return kindMeta
	}
	return kindTomb
}

func parseFileName(name string) (fileRef, bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return fileRef{}, false
	}
	ext := name[i:]
	if ext != ".data" && ext != ".meta" && ext != ".ts" {
		return fileRef{}, false
	}
	ts, err := swift.ParseTimestamp(name[:i])
	if err != nil || ts.Internal() != name[:i] {
		return fileRef{}, false
	}
	return fileRef{ts: ts, ext: ext}, true
}

// dirState is what a hash directory holds, and which of it counts: the
// newest .data or .ts (a tombstone wins a tie), and the newest .meta
// newer than that .data.
type dirState struct {
	files  []fileRef
	winner *fileRef // newest .data or .ts, nil if none
	meta   *fileRef // newest .meta that applies, nil if none
}

// exists reports whether the directory holds a live (not deleted) object.
func (st *dirState) exists() bool { return st.winner != nil && st.winner.ext == ".data" }

// deletedAt is the tombstone's time when the object is deleted.
func (st *dirState) deletedAt() (swift.Timestamp, bool) {
	if st.winner != nil && st.winner.ext == ".ts" {
		return st.winner.ts, true
	}
	return swift.Timestamp{}, false
}

// winnerTS is the timestamp of the newest .data or .ts, zero if none.
func (st *dirState) winnerTS() swift.Timestamp {
	if st.winner == nil {
		return swift.Timestamp{}
	}
	return st.winner.ts
}

// newestMeta is the newest .meta whatever applies, zero if none.
func (st *dirState) newestMeta() swift.Timestamp {
	var t swift.Timestamp
	for _, f := range st.files {
		if f.ext == ".meta" && f.ts.After(t) {
			t = f.ts
		}
	}
	return t
}

// readDirState lists a hash directory; a missing one is empty.
func readDirState(dir string) (dirState, error) {
	names, err := listDir(dir)
	if err != nil {
		return dirState{}, err
	}
	return stateOf(names), nil
}

func stateOf(names []string) dirState {
	var st dirState
	for _, n := range names {
		if ref, ok := parseFileName(n); ok {
			st.files = append(st.files, ref)
		}
	}
	for i := range st.files {
		f := &st.files[i]
		if f.ext == ".meta" {
			continue
		}
		if st.winner == nil || f.ts.After(st.winner.ts) || (f.ts == st.winner.ts && f.ext == ".ts") {
			st.winner = f
		}
	}
	if st.winner != nil && st.winner.ext == ".ts" {
		return st
	}
	for i := range st.files {
		f := &st.files[i]
		if f.ext != ".meta" || (st.winner != nil && !f.ts.After(st.winner.ts)) {
			continue
		}
		if st.meta == nil || f.ts.After(st.meta.ts) {
			st.meta = f
		}
	}
	return st
}

// obsolete are the files a newer one has made useless.
func (st *dirState) obsolete() []fileRef {
	var out []fileRef
	for i := range st.files {
		f := &st.files[i]
		if f != st.winner && f != st.meta {
			out = append(out, *f)
		}
	}
	return out
}

// kept are the files that count, oldest first.
func (st *dirState) kept() []fileRef {
	var out []fileRef
	if st.winner != nil {
		out = append(out, *st.winner)
	}
	if st.meta != nil {
		out = append(out, *st.meta)
	}
	return out
}

// sortedNames are the kept file names in order, for hashing and listings.
func (st *dirState) keptNames() []string {
	var out []string
	for _, f := range st.kept() {
		out = append(out, f.name())
	}
	slices.Sort(out)
	return out
}

// mkdirs creates dir and its missing parents up to (not including) stop,
// returning how many levels it created so the caller can fsync them.
func mkdirs(dir, stop string) (int, error) {
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		return 1, nil
	}
	if errors.Is(err, fs.ErrExist) {
		return 0, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || dir == stop || len(dir) <= len(stop) {
		return 0, err
	}
	n, err := mkdirs(filepath.Dir(dir), stop)
	if err != nil {
		return n, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return n, err
	}
	return n + 1, nil
}
