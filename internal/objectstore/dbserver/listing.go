package dbserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// listParams are a listing's query parameters, as the public API has them.
type listParams struct {
	prefix, delimiter  string
	marker, endMarker  string
	path               string
	hasPath            bool // path= was given, maybe empty
	limit              int
	reverse            bool
	allowReservedNames bool // names starting with NUL (Swift's reserved namespace)
}

// parseListParams reads the query; the status and message are Swift's
// answers to a bad one (0 when fine).
func parseListParams(r *http.Request, maxLimit int) (listParams, int, string) {
	q := r.URL.Query()
	p := listParams{limit: maxLimit}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"prefix", &p.prefix}, {"delimiter", &p.delimiter}, {"marker", &p.marker},
		{"end_marker", &p.endMarker}, {"path", &p.path}} {
		v := q.Get(f.name)
		if !utf8.ValidString(v) {
			return p, http.StatusBadRequest, fmt.Sprintf("%q parameter not valid UTF-8", f.name)
		}
		*f.dst = v
	}
	_, p.hasPath = q["path"]
	// As Swift: a limit that is not a number is ignored; one above the
	// maximum is refused.
	if l := q.Get("limit"); l != "" && isDigits(l) {
		n, err := strconv.Atoi(l)
		if err != nil || n > maxLimit {
			return p, http.StatusPreconditionFailed, fmt.Sprintf("Maximum limit is %d", maxLimit)
		}
		p.limit = n
	}
	p.reverse = isTrue(q.Get("reverse"))
	p.allowReservedNames = isTrue(r.Header.Get("X-Backend-Allow-Reserved-Names"))
	return p, 0, ""
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// isTrue is Swift's config_true_value.
func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	}
	return false
}

// entry is one listing line: a row or a rolled-up subdir.
type entry struct {
	name   string
	subdir bool
	// container rows; lastModified is the metadata's timestamp
	lastModified, contentType, etag string
	size                            int64
	// account rows
	count, bytes int64
	putTimestamp string
}

// bump is s with its last byte raised by one: the first string after
// every string that starts with s.
func bump(s string) string {
	return s[:len(s)-1] + string([]byte{s[len(s)-1] + 1})
}

// listRows walks a database's live rows as Swift's listings do: names after
// marker and before end_marker, starting with prefix, names with the
// delimiter after the prefix rolled up into one subdir entry each, or
// with path (Swift's older form) only the names directly under it.
func listRows(ctx context.Context, d *db, p listParams) ([]entry, error) {
	marker, endMarker := p.marker, p.endMarker
	if p.reverse {
		marker, endMarker = endMarker, marker
	}
	prefix, delim, path := p.prefix, p.delimiter, ""
	if p.hasPath {
		prefix = p.path
		if prefix != "" {
			prefix = strings.TrimRight(prefix, "/") + "/"
			path = prefix
		}
		delim = "/"
	}
	endPrefix := ""
	if prefix != "" {
		endPrefix = bump(prefix)
	}
	origMarker := marker
	forceGTE := false
	var results []entry
	for len(results) < p.limit {
		var conds []string
		var args []any
		arg := func(cond string, v any) {
			args = append(args, v)
			conds = append(conds, fmt.Sprintf(cond, len(args)))
		}
		if endMarker != "" && (prefix == "" || endMarker < endPrefix) {
			arg("name < $%d", endMarker)
		} else if prefix != "" {
			arg("name < $%d", endPrefix)
		}
		switch {
		case forceGTE:
			arg("name >= $%d", marker)
			forceGTE = false
		case marker != "" && (prefix == "" || marker >= prefix):
			arg("name > $%d", marker)
		case prefix != "":
			arg("name >= $%d", prefix)
		}
		if !p.allowReservedNames {
			arg("name >= $%d", "\x01")
		}
		rows, err := queryLive(ctx, d, conds, args, p.reverse, p.limit-len(results))
		if err != nil {
			return nil, err
		}
		if delim == "" {
			return append(results, rows...), nil
		}
		if len(rows) == 0 {
			break
		}
		for _, row := range rows {
			name := row.name
			if p.reverse {
				endMarker = name
			} else {
				marker = name
			}
			end := -1
			if len(name) >= len(prefix) {
				if i := strings.Index(name[len(prefix):], delim); i >= 0 {
					end = len(prefix) + i
				}
			}
			if p.hasPath {
				if name == path {
					continue
				}
				if end >= 0 && len(name) > end+len(delim) {
					// Deeper than path: skip everything under this subdir.
					if p.reverse {
						endMarker = name[:end+len(delim)]
					} else {
						marker = bump(name[:end] + delim)
					}
					break
				}
			} else if end >= 0 {
				dir := name[:end+len(delim)]
				if p.reverse {
					endMarker = dir
				} else {
					marker = bump(name[:end] + delim)
					forceGTE = true
				}
				if dir != origMarker {
					results = append(results, entry{name: dir, subdir: true})
				}
				break
			}
			results = append(results, row)
		}
	}
	return results, nil
}

// queryLive reads up to limit undeleted rows matching conds, by name.
func queryLive(ctx context.Context, d *db, conds []string, args []any, reverse bool, limit int) ([]entry, error) {
	cols := "name, meta_timestamp, size, content_type, etag"
	if d.kind == kindAccount {
		cols = "name, object_count, bytes_used, put_timestamp"
	}
	q := "SELECT " + cols + " FROM " + d.kind.table() + " WHERE deleted = 0"
	for _, c := range conds {
		q += " AND " + c
	}
	q += " ORDER BY name"
	if reverse {
		q += " DESC"
	}
	args = append(args, limit)
	q += fmt.Sprintf(" LIMIT $%d", len(args))
	rows, err := d.sql.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	defer rows.Close()
	var out []entry
	for rows.Next() {
		var e entry
		if d.kind == kindAccount {
			err = rows.Scan(&e.name, &e.count, &e.bytes, &e.putTimestamp)
		} else {
			err = rows.Scan(&e.name, &e.lastModified, &e.size, &e.contentType, &e.etag)
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", d.path, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	return out, nil
}

// isoFormat is Swift's Timestamp.isoformat: UTC with microseconds and no
// zone, "2024-01-02T03:04:05.123450".
func isoFormat(internal string) string {
	ts, err := swift.ParseTimestamp(internal)
	if err != nil {
		return ""
	}
	secs := ts.Ticks / 100000
	us := (ts.Ticks % 100000) * 10
	return time.Unix(secs, us*1000).UTC().Format("2006-01-02T15:04:05.000000")
}

// objectJSON is a container listing entry on the wire.
type objectJSON struct {
	Name         string `json:"name"`
	Hash         string `json:"hash"`
	Bytes        int64  `json:"bytes"`
	ContentType  string `json:"content_type"`
	LastModified string `json:"last_modified"`
}

// containerJSON is an account listing entry on the wire.
type containerJSON struct {
	Name         string `json:"name"`
	Count        int64  `json:"count"`
	Bytes        int64  `json:"bytes"`
	LastModified string `json:"last_modified"`
}

// subdirJSON is a rolled-up entry of a delimited listing.
type subdirJSON struct {
	Subdir string `json:"subdir"`
}

func listingJSON(k kind, entries []entry) []any {
	out := make([]any, len(entries))
	for i, e := range entries {
		switch {
		case e.subdir:
			out[i] = subdirJSON{Subdir: e.name}
		case k == kindAccount:
			out[i] = containerJSON{Name: e.name, Count: e.count, Bytes: e.bytes, LastModified: isoFormat(e.putTimestamp)}
		default:
			ct, size := swiftBytes(e.contentType, e.size)
			out[i] = objectJSON{Name: e.name, Hash: e.etag, Bytes: size, ContentType: ct, LastModified: isoFormat(e.lastModified)}
		}
	}
	return out
}

// swiftBytes applies a content type's swift_bytes parameter, which large
// object manifests use to list the size of the whole object rather than
// the manifest's: the size it gives wins and the parameter is dropped.
func swiftBytes(contentType string, size int64) (string, int64) {
	if !strings.Contains(contentType, "swift_bytes=") {
		return contentType, size
	}
	parts := strings.Split(contentType, ";")
	kept := parts[:1]
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if k == "swift_bytes" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				size = n
			}
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, ";"), size
}
