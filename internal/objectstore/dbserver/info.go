package dbserver

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// statusDeleted is an account's status once DELETE marked it.
const statusDeleted = "DELETED"

// info is a database's own state: the row of its info table.
type info struct {
	Account, Container string
	ID                 string // this copy's id; peers keep sync points by it
	CreatedAt          swift.Timestamp
	PutTimestamp       swift.Timestamp
	DeleteTimestamp    swift.Timestamp
	StatusChangedAt    swift.Timestamp
	Status             string
	Metadata           metadata
	ObjectCount        int64
	BytesUsed          int64
	ContainerCount     int64
	Reported           reported
}

// reported is what the container updater last told the account servers.
type reported struct {
	PutTimestamp, DeleteTimestamp swift.Timestamp
	ObjectCount, BytesUsed        int64
}

// report is what the account should know now.
func (i *info) report() reported {
	return reported{PutTimestamp: i.PutTimestamp, DeleteTimestamp: i.DeleteTimestamp,
		ObjectCount: i.ObjectCount, BytesUsed: i.BytesUsed}
}

// isDeleted is Swift's rule: a container is deleted when its newest
// DELETE is newer than its newest PUT and it holds no objects; an account
// when DELETE marked it, or likewise with no containers.
func (i *info) isDeleted(k kind) bool {
	if k == kindAccount {
		return i.Status == statusDeleted || (i.ContainerCount == 0 && i.DeleteTimestamp.After(i.PutTimestamp))
	}
	return i.ObjectCount == 0 && i.DeleteTimestamp.After(i.PutTimestamp)
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const infoColumns = `account, container, id, created_at, put_timestamp, delete_timestamp, status_changed_at,
	status, metadata, object_count, bytes_used, container_count, reported_put_timestamp,
	reported_delete_timestamp, reported_object_count, reported_bytes_used`

// readInfo reads the info row through q (a *sql.DB or *sql.Tx).
func readInfo(ctx context.Context, q queryRower) (*info, error) {
	var i info
	var created, put, del, changed, meta, rput, rdel string
	err := q.QueryRowContext(ctx, `SELECT `+infoColumns+` FROM info`).Scan(&i.Account, &i.Container, &i.ID,
		&created, &put, &del, &changed, &i.Status, &meta, &i.ObjectCount, &i.BytesUsed, &i.ContainerCount,
		&rput, &rdel, &i.Reported.ObjectCount, &i.Reported.BytesUsed)
	if err != nil {
		return nil, fmt.Errorf("read info: %w", err)
	}
	for _, f := range []struct {
		s  string
		ts *swift.Timestamp
	}{{created, &i.CreatedAt}, {put, &i.PutTimestamp}, {del, &i.DeleteTimestamp}, {changed, &i.StatusChangedAt},
		{rput, &i.Reported.PutTimestamp}, {rdel, &i.Reported.DeleteTimestamp}} {
		if f.s == "" {
			continue
		}
		if *f.ts, err = swift.ParseTimestamp(f.s); err != nil {
			return nil, fmt.Errorf("read info: %w", err)
		}
	}
	if i.Metadata, err = decodeMetadata(meta); err != nil {
		return nil, fmt.Errorf("read info: %w", err)
	}
	return &i, nil
}

// saveState writes the timestamps, status and metadata of i. The stats
// are not written: writes change them incrementally (addStats).
func saveState(ctx context.Context, tx *sql.Tx, i *info) error {
	meta, err := i.Metadata.encode()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE info SET created_at = $1, put_timestamp = $2, delete_timestamp = $3,
		status_changed_at = $4, status = $5, metadata = $6`, i.CreatedAt.Internal(), i.PutTimestamp.Internal(),
		i.DeleteTimestamp.Internal(), i.StatusChangedAt.Internal(), i.Status, meta)
	if err != nil {
		return fmt.Errorf("save info: %w", err)
	}
	return nil
}

// addStats changes the stats by the given amounts.
func addStats(ctx context.Context, d *db, tx *sql.Tx, containers, objects, bytes int64) error {
	if containers == 0 && objects == 0 && bytes == 0 {
		return nil
	}
	st, err := d.stmt(ctx, tx, `UPDATE info SET container_count = container_count + $1,
		object_count = object_count + $2, bytes_used = bytes_used + $3`)
	if err != nil {
		return err
	}
	if _, err = st.ExecContext(ctx, containers, objects, bytes); err != nil {
		return fmt.Errorf("update stats: %w", err)
	}
	return nil
}

// saveReported records what the updater told the account servers.
func saveReported(ctx context.Context, tx *sql.Tx, r reported) error {
	_, err := tx.ExecContext(ctx, `UPDATE info SET reported_put_timestamp = $1, reported_delete_timestamp = $2,
		reported_object_count = $3, reported_bytes_used = $4`, r.PutTimestamp.Internal(), r.DeleteTimestamp.Internal(),
		r.ObjectCount, r.BytesUsed)
	if err != nil {
		return fmt.Errorf("save reported stats: %w", err)
	}
	return nil
}

// mergeState takes a peer's timestamps, status and metadata: the oldest
// creation, the newest PUT and DELETE, metadata key by key. It reports
// whether anything changed.
func (i *info) mergeState(k kind, in *info) bool {
	wasDeleted := i.isDeleted(k)
	changed := false
	if !in.CreatedAt.IsZero() && (i.CreatedAt.IsZero() || i.CreatedAt.After(in.CreatedAt)) {
		i.CreatedAt, changed = in.CreatedAt, true
	}
	if in.PutTimestamp.After(i.PutTimestamp) {
		i.PutTimestamp, changed = in.PutTimestamp, true
	}
	if in.DeleteTimestamp.After(i.DeleteTimestamp) {
		i.DeleteTimestamp, changed = in.DeleteTimestamp, true
	}
	if in.StatusChangedAt.After(i.StatusChangedAt) {
		i.StatusChangedAt, changed = in.StatusChangedAt, true
	}
	if in.Status == statusDeleted && i.Status != statusDeleted {
		i.Status, changed = statusDeleted, true
	}
	if i.Metadata == nil {
		i.Metadata = metadata{}
	}
	if i.Metadata.merge(in.Metadata) {
		changed = true
	}
	if wasDeleted != i.isDeleted(k) {
		// The merged PUT or DELETE flipped the status.
		i.StatusChangedAt = maxTimestamp(i.StatusChangedAt, maxTimestamp(i.PutTimestamp, i.DeleteTimestamp))
	}
	return changed
}

func maxTimestamp(a, b swift.Timestamp) swift.Timestamp {
	if a.After(b) {
		return a
	}
	return b
}

// backendHeaders are the headers every HEAD and GET carries, also on the
// 404 of a deleted database, as Swift's servers send them.
func (i *info) backendHeaders(h http.Header) {
	h.Set("X-Backend-Timestamp", i.CreatedAt.Internal())
	h.Set("X-Backend-Put-Timestamp", i.PutTimestamp.Internal())
	h.Set("X-Backend-Delete-Timestamp", i.DeleteTimestamp.Internal())
	h.Set("X-Backend-Status-Changed-At", i.StatusChangedAt.Internal())
	h.Set("X-Backend-Storage-Policy-Index", "0")
}

// headers are a live database's HEAD and GET headers.
func (i *info) headers(k kind, h http.Header) {
	i.backendHeaders(h)
	i.Metadata.setHeaders(h)
	if k == kindAccount {
		h.Set("X-Account-Container-Count", strconv.FormatInt(i.ContainerCount, 10))
		h.Set("X-Account-Object-Count", strconv.FormatInt(i.ObjectCount, 10))
		h.Set("X-Account-Bytes-Used", strconv.FormatInt(i.BytesUsed, 10))
	} else {
		h.Set("X-Container-Object-Count", strconv.FormatInt(i.ObjectCount, 10))
		h.Set("X-Container-Bytes-Used", strconv.FormatInt(i.BytesUsed, 10))
	}
	h.Set("X-Timestamp", i.CreatedAt.Normal())
	h.Set("X-Put-Timestamp", i.PutTimestamp.Normal())
	h.Set("Last-Modified", i.PutTimestamp.HTTPDate())
}
