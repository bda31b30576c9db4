package dbserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// objectRow is a container's listing entry for one object, or its
// deletion. Timestamps are in swift.Timestamp.Internal form: CreatedAt
// the data's, CtypeTimestamp the content type's, MetaTimestamp the
// metadata's (the listing's last_modified); the latter two are never
// older than the former.
type objectRow struct {
	Name           string `json:"name"`
	CreatedAt      string `json:"created_at"`
	CtypeTimestamp string `json:"ctype_timestamp,omitempty"`
	MetaTimestamp  string `json:"meta_timestamp,omitempty"`
	Size           int64  `json:"size"`
	ContentType    string `json:"content_type"`
	ETag           string `json:"etag"`
	Deleted        bool   `json:"deleted"`
	Seq            int64  `json:"seq,omitempty"`
}

// containerRow is an account's entry for one container.
type containerRow struct {
	Name            string `json:"name"`
	PutTimestamp    string `json:"put_timestamp"`
	DeleteTimestamp string `json:"delete_timestamp"`
	ObjectCount     int64  `json:"object_count"`
	BytesUsed       int64  `json:"bytes_used"`
	StatsTimestamp  string `json:"stats_timestamp"`
	Deleted         bool   `json:"deleted"`
	Seq             int64  `json:"seq,omitempty"`
}

// normalTimestamp parses s and returns its Internal form, so that stored
// timestamps compare as strings in time order.
func normalTimestamp(s string) (string, error) {
	ts, err := swift.ParseTimestamp(s)
	if err != nil {
		return "", err
	}
	return ts.Internal(), nil
}

// check validates and normalizes a row from a request or a peer.
func (r *objectRow) check() error {
	if r.Name == "" {
		return errors.New("object row without a name")
	}
	var err error
	if r.CreatedAt, err = normalTimestamp(r.CreatedAt); err != nil {
		return fmt.Errorf("object row %q: %w", r.Name, err)
	}
	for _, f := range []*string{&r.CtypeTimestamp, &r.MetaTimestamp} {
		if *f == "" {
			continue
		}
		if *f, err = normalTimestamp(*f); err != nil {
			return fmt.Errorf("object row %q: %w", r.Name, err)
		}
	}
	r.CtypeTimestamp = max(r.CtypeTimestamp, r.CreatedAt)
	r.MetaTimestamp = max(r.MetaTimestamp, r.CtypeTimestamp)
	if r.Size < 0 {
		return fmt.Errorf("object row %q: negative size", r.Name)
	}
	if r.Deleted {
		r.Size, r.ContentType, r.ETag = 0, "", ""
	}
	return nil
}

func (r *containerRow) check() error {
	if r.Name == "" {
		return errors.New("container row without a name")
	}
	var err error
	for _, f := range []*string{&r.PutTimestamp, &r.DeleteTimestamp, &r.StatsTimestamp} {
		if *f, err = normalTimestamp(*f); err != nil {
			return fmt.Errorf("container row %q: %w", r.Name, err)
		}
	}
	if r.ObjectCount < 0 || r.BytesUsed < 0 {
		return fmt.Errorf("container row %q: negative stats", r.Name)
	}
	return nil
}

func deletedInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mergeObjects applies checked rows and keeps the stats. Each part of a
// row is newest-wins on its own timestamp: the data (size, etag, deleted)
// on created_at, the content type on ctype_timestamp, last_modified on
// meta_timestamp; a row with nothing newer than what is held changes
// nothing. It returns how many rows changed.
func mergeObjects(ctx context.Context, d *db, tx *sql.Tx, rows []objectRow) (int, error) {
	var dObjects, dBytes int64
	changed := 0
	sel, err := d.stmt(ctx, tx, `SELECT created_at, ctype_timestamp, meta_timestamp, size, content_type, etag, deleted
		FROM object WHERE name = $1`)
	if err != nil {
		return 0, err
	}
	ins, err := d.stmt(ctx, tx, `INSERT OR REPLACE INTO object (name, created_at, ctype_timestamp, meta_timestamp,
		size, content_type, etag, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		var old objectRow
		var oldDeleted int
		err := sel.QueryRowContext(ctx, r.Name).Scan(&old.CreatedAt, &old.CtypeTimestamp, &old.MetaTimestamp,
			&old.Size, &old.ContentType, &old.ETag, &oldDeleted)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("read object row: %w", err)
		}
		old.Deleted = oldDeleted == 1
		m := r
		if found {
			newer := false
			if r.CreatedAt > old.CreatedAt {
				newer = true
			} else {
				m.CreatedAt, m.Size, m.ETag, m.Deleted = old.CreatedAt, old.Size, old.ETag, old.Deleted
			}
			if r.CtypeTimestamp > old.CtypeTimestamp {
				newer = true
			} else {
				m.CtypeTimestamp, m.ContentType = old.CtypeTimestamp, old.ContentType
			}
			if r.MetaTimestamp > old.MetaTimestamp {
				newer = true
			} else {
				m.MetaTimestamp = old.MetaTimestamp
			}
			if !newer {
				continue
			}
		}
		// REPLACE deletes and inserts, so the row takes a new seq.
		if _, err := ins.ExecContext(ctx, m.Name, m.CreatedAt, m.CtypeTimestamp, m.MetaTimestamp, m.Size,
			m.ContentType, m.ETag, deletedInt(m.Deleted)); err != nil {
			return 0, fmt.Errorf("write object row: %w", err)
		}
		changed++
		if found && !old.Deleted {
			dObjects--
			dBytes -= old.Size
		}
		if !m.Deleted {
			dObjects++
			dBytes += m.Size
		}
	}
	return changed, addStats(ctx, d, tx, 0, dObjects, dBytes)
}

// mergeContainers applies checked container rows: the newest PUT and
// DELETE timestamps, the most recently reported stats. A container is
// deleted in the listing once its DELETE is newer than its PUT and it is
// empty. It returns how many rows changed.
func mergeContainers(ctx context.Context, d *db, tx *sql.Tx, rows []containerRow) (int, error) {
	var dContainers, dObjects, dBytes int64
	changed := 0
	sel, err := d.stmt(ctx, tx, `SELECT put_timestamp, delete_timestamp, object_count, bytes_used,
		stats_timestamp, deleted FROM container WHERE name = $1`)
	if err != nil {
		return 0, err
	}
	ins, err := d.stmt(ctx, tx, `INSERT OR REPLACE INTO container (name, put_timestamp, delete_timestamp,
		object_count, bytes_used, stats_timestamp, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7)`)
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		var old containerRow
		var oldDeleted int
		err := sel.QueryRowContext(ctx, r.Name).Scan(&old.PutTimestamp, &old.DeleteTimestamp, &old.ObjectCount, &old.BytesUsed, &old.StatsTimestamp, &oldDeleted)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("read container row: %w", err)
		}
		m := r
		if found {
			old.Name, old.Deleted = r.Name, oldDeleted == 1
			m.PutTimestamp = max(old.PutTimestamp, r.PutTimestamp)
			m.DeleteTimestamp = max(old.DeleteTimestamp, r.DeleteTimestamp)
			// Stats come from the report that has seen the latest PUT and
			// DELETE; among those, from the latest report. A replica that
			// missed the DELETE must not make the container live again.
			behind := r.PutTimestamp < old.PutTimestamp || r.DeleteTimestamp < old.DeleteTimestamp
			ahead := r.PutTimestamp > old.PutTimestamp || r.DeleteTimestamp > old.DeleteTimestamp
			if behind || (!ahead && old.StatsTimestamp >= r.StatsTimestamp) {
				m.ObjectCount, m.BytesUsed, m.StatsTimestamp = old.ObjectCount, old.BytesUsed, old.StatsTimestamp
			}
		}
		m.Deleted = m.DeleteTimestamp > m.PutTimestamp && m.ObjectCount == 0
		m.Seq = 0
		if found && m == old {
			continue
		}
		if _, err := ins.ExecContext(ctx, m.Name, m.PutTimestamp, m.DeleteTimestamp, m.ObjectCount, m.BytesUsed, m.StatsTimestamp, deletedInt(m.Deleted)); err != nil {
			return 0, fmt.Errorf("write container row: %w", err)
		}
		changed++
		if found && !old.Deleted {
			dContainers--
			dObjects -= old.ObjectCount
			dBytes -= old.BytesUsed
		}
		if !m.Deleted {
			dContainers++
			dObjects += m.ObjectCount
			dBytes += m.BytesUsed
		}
	}
	return changed, addStats(ctx, d, tx, dContainers, dObjects, dBytes)
}

// rowsSince reads up to limit rows (deleted ones too) with seq > since,
// in seq order, for replication.
func rowsSince(ctx context.Context, d *db, since int64, limit int) (objects []objectRow, containers []containerRow, err error) {
	if d.kind == kindContainer {
		rows, err := d.sql.QueryContext(ctx, `SELECT seq, name, created_at, ctype_timestamp, meta_timestamp, size,
			content_type, etag, deleted FROM object WHERE seq > $1 ORDER BY seq LIMIT $2`, since, limit)
		if err != nil {
			return nil, nil, fmt.Errorf("read rows of %s: %w", d.path, err)
		}
		defer rows.Close()
		for rows.Next() {
			var r objectRow
			var del int
			if err := rows.Scan(&r.Seq, &r.Name, &r.CreatedAt, &r.CtypeTimestamp, &r.MetaTimestamp, &r.Size,
				&r.ContentType, &r.ETag, &del); err != nil {
				return nil, nil, fmt.Errorf("read rows of %s: %w", d.path, err)
			}
			r.Deleted = del == 1
			objects = append(objects, r)
		}
		return objects, nil, rows.Err()
	}
	rows, err := d.sql.QueryContext(ctx, `SELECT seq, name, put_timestamp, delete_timestamp, object_count, bytes_used,
		stats_timestamp, deleted FROM container WHERE seq > $1 ORDER BY seq LIMIT $2`, since, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("read rows of %s: %w", d.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r containerRow
		var del int
		if err := rows.Scan(&r.Seq, &r.Name, &r.PutTimestamp, &r.DeleteTimestamp, &r.ObjectCount, &r.BytesUsed,
			&r.StatsTimestamp, &del); err != nil {
			return nil, nil, fmt.Errorf("read rows of %s: %w", d.path, err)
		}
		r.Deleted = del == 1
		containers = append(containers, r)
	}
	return nil, containers, rows.Err()
}

// reclaimRows forgets deleted rows older than before: every replica has
// had the time to learn of the deletion.
func reclaimRows(ctx context.Context, tx *sql.Tx, k kind, before swift.Timestamp) error {
	var err error
	if k == kindContainer {
		_, err = tx.ExecContext(ctx, `DELETE FROM object WHERE deleted = 1 AND created_at < $1`, before.Internal())
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM container WHERE deleted = 1 AND delete_timestamp < $1`, before.Internal())
	}
	if err != nil {
		return fmt.Errorf("reclaim rows: %w", err)
	}
	return nil
}
