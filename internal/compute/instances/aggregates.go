package instances

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// ---- aggregates
//
// An aggregate's zone is its "availability_zone" metadata, as in Nova:
// AvailabilityZone mirrors that key, which Metadata shows too. Deleted
// aggregates are removed (Nova's API database does the same).

const zoneKey = "availability_zone"

func scanAggregate(sc interface{ Scan(...any) error }) (*Aggregate, error) {
	var a Aggregate
	var created, updated int64
	if err := sc.Scan(&a.ID, &a.UUID, &a.Name, &created, &updated); err != nil {
		return nil, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	a.Metadata, a.Hosts = map[string]string{}, []string{}
	return &a, nil
}

const aggregateColumns = `g.id, g.uuid, g.name, g.created_at, g.updated_at`

// CreateAggregate stores a (a new UUID when it has none, CreatedAt now
// when zero; ID filled in) with its zone, metadata and hosts. A name
// taken is ErrConflict.
func (s *Store) CreateAggregate(ctx context.Context, a *Aggregate) error {
	if a.UUID == "" {
		a.UUID = uuid.NewString()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now().UTC().Truncate(time.Microsecond)
	}
	md := maps.Clone(a.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	if a.AvailabilityZone != "" {
		md[zoneKey] = a.AvailabilityZone
	}
	a.AvailabilityZone = md[zoneKey]
	a.Metadata = md
	hosts := slices.Clone(a.Hosts)
	slices.Sort(hosts)
	a.Hosts = slices.Compact(hosts)
	if a.Hosts == nil {
		a.Hosts = []string{}
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO aggregates (uuid, name, created_at) VALUES ($1, $2, $3) RETURNING id`,
			a.UUID, a.Name, micros(a.CreatedAt)).Scan(&a.ID)
		if db.IsUniqueViolation(err) {
			return fmt.Errorf("aggregate %s: %w", a.Name, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("create aggregate %s: %w", a.Name, err)
		}
		for _, k := range slices.Sorted(maps.Keys(md)) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)`,
				a.ID, k, md[k]); err != nil {
				return fmt.Errorf("create aggregate %s: metadata %q: %w", a.Name, k, err)
			}
		}
		for _, h := range a.Hosts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)`, a.ID, h); err != nil {
				return fmt.Errorf("create aggregate %s: host %s: %w", a.Name, h, err)
			}
		}
		return nil
	})
}

// GetAggregate returns an aggregate by numeric ID or UUID.
func (s *Store) GetAggregate(ctx context.Context, id string) (*Aggregate, error) {
	cond, v := byIDOrUUID(id)
	return getAggregate(ctx, s.db, "g."+cond, v)
}

func getAggregate(ctx context.Context, q querier, cond string, v any) (*Aggregate, error) {
	a, err := scanAggregate(q.QueryRowContext(ctx, `SELECT `+aggregateColumns+` FROM aggregates g WHERE `+cond, v))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("aggregate %v: %w", v, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get aggregate %v: %w", v, err)
	}
	if err := fillAggregates(ctx, q, []*Aggregate{a}); err != nil {
		return nil, err
	}
	return a, nil
}

// fillAggregates reads the metadata and hosts of aggregates.
func fillAggregates(ctx context.Context, q querier, list []*Aggregate) error {
	byID := make(map[int64]*Aggregate, len(list))
	for _, a := range list {
		byID[a.ID] = a
	}
	for _, part := range chunks(list) {
		var a args
		ph := make([]string, len(part))
		for n, g := range part {
			ph[n] = a.add(g.ID)
		}
		in := "(" + strings.Join(ph, ", ") + ")"
		rows, err := q.QueryContext(ctx, `SELECT aggregate_id, key, value FROM aggregate_metadata WHERE aggregate_id IN `+in, a...)
		if err != nil {
			return fmt.Errorf("read aggregate metadata: %w", err)
		}
		for rows.Next() {
			var id int64
			var k, v string
			if err := rows.Scan(&id, &k, &v); err != nil {
				rows.Close()
				return fmt.Errorf("read aggregate metadata: %w", err)
			}
			byID[id].Metadata[k] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read aggregate metadata: %w", err)
		}
		rows, err = q.QueryContext(ctx, `SELECT aggregate_id, host FROM aggregate_hosts WHERE aggregate_id IN `+in+
			` ORDER BY aggregate_id, host`, a...)
		if err != nil {
			return fmt.Errorf("read aggregate hosts: %w", err)
		}
		for rows.Next() {
			var id int64
			var h string
			if err := rows.Scan(&id, &h); err != nil {
				rows.Close()
				return fmt.Errorf("read aggregate hosts: %w", err)
			}
			byID[id].Hosts = append(byID[id].Hosts, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read aggregate hosts: %w", err)
		}
	}
	for _, a := range list {
		a.AvailabilityZone = a.Metadata[zoneKey]
	}
	return nil
}

// listAggregates returns the aggregates cond selects (args in a), by id.
func listAggregates(ctx context.Context, q querier, cond string, a ...any) ([]Aggregate, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+aggregateColumns+` FROM aggregates g WHERE `+cond+` ORDER BY g.id`, a...)
	if err != nil {
		return nil, fmt.Errorf("list aggregates: %w", err)
	}
	var list []*Aggregate
	for rows.Next() {
		g, err := scanAggregate(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list aggregates: %w", err)
		}
		list = append(list, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list aggregates: %w", err)
	}
	if err := fillAggregates(ctx, q, list); err != nil {
		return nil, err
	}
	out := make([]Aggregate, len(list))
	for n, g := range list {
		out[n] = *g
	}
	return out, nil
}

// ListAggregates returns every aggregate, oldest first.
func (s *Store) ListAggregates(ctx context.Context) ([]Aggregate, error) {
	return listAggregates(ctx, s.db, "TRUE")
}

// changeAggregate runs change on aggregate id in a transaction, stamps
// its updated_at and returns it as it then is.
func (s *Store) changeAggregate(ctx context.Context, id int64, change func(tx *sql.Tx) error) (*Aggregate, error) {
	var out *Aggregate
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE aggregates SET updated_at = $1 WHERE id = $2`, micros(s.now()), id)
		if err != nil {
			return fmt.Errorf("update aggregate %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("aggregate %d: %w", id, ErrNotFound)
		}
		if err := change(tx); err != nil {
			return err
		}
		out, err = getAggregate(ctx, tx, "g.id = $1", id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func setAggregateKey(ctx context.Context, tx *sql.Tx, id int64, key string, value *string) error {
	var err error
	if value == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2`, id, key)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)
			ON CONFLICT (aggregate_id, key) DO UPDATE SET value = excluded.value`, id, key, *value)
	}
	if err != nil {
		return fmt.Errorf("aggregate %d metadata %q: %w", id, key, err)
	}
	return nil
}

// UpdateAggregate changes name and zone (nil leaves them; "" removes the
// zone). A name another aggregate has is ErrConflict.
func (s *Store) UpdateAggregate(ctx context.Context, id int64, name, zone *string) (*Aggregate, error) {
	return s.changeAggregate(ctx, id, func(tx *sql.Tx) error {
		if name != nil {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM aggregates WHERE name = $1 AND id <> $2`, *name, id).Scan(&n); err != nil {
				return fmt.Errorf("rename aggregate %d: %w", id, err)
			}
			if n > 0 {
				return fmt.Errorf("aggregate %s: %w", *name, ErrConflict)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE aggregates SET name = $1 WHERE id = $2`, *name, id); err != nil {
				if db.IsUniqueViolation(err) {
					return fmt.Errorf("aggregate %s: %w", *name, ErrConflict)
				}
				return fmt.Errorf("rename aggregate %d: %w", id, err)
			}
		}
		if zone != nil {
			z := zone
			if *z == "" {
				z = nil
			}
			return setAggregateKey(ctx, tx, id, zoneKey, z)
		}
		return nil
	})
}

// DeleteAggregate removes an aggregate with its metadata and hosts.
func (s *Store) DeleteAggregate(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM aggregates WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete aggregate %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("aggregate %d: %w", id, ErrNotFound)
	}
	return nil
}

// SetAggregateMetadata merges md; a nil value deletes the key.
func (s *Store) SetAggregateMetadata(ctx context.Context, id int64, md map[string]*string) (*Aggregate, error) {
	return s.changeAggregate(ctx, id, func(tx *sql.Tx) error {
		for _, k := range slices.Sorted(maps.Keys(md)) {
			if err := setAggregateKey(ctx, tx, id, k, md[k]); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddAggregateHost adds host (ErrConflict when it is there already);
// RemoveAggregateHost removes it (ErrNotFound when it is not there).
func (s *Store) AddAggregateHost(ctx context.Context, id int64, host string) (*Aggregate, error) {
	return s.changeAggregate(ctx, id, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO aggregate_hosts (aggregate_id, host) VALUES ($1, $2)
			ON CONFLICT (aggregate_id, host) DO NOTHING`, id, host)
		if err != nil {
			return fmt.Errorf("add %s to aggregate %d: %w", host, id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("host %s in aggregate %d: %w", host, id, ErrConflict)
		}
		return nil
	})
}

func (s *Store) RemoveAggregateHost(ctx context.Context, id int64, host string) (*Aggregate, error) {
	return s.changeAggregate(ctx, id, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2`, id, host)
		if err != nil {
			return fmt.Errorf("remove %s from aggregate %d: %w", host, id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("host %s in aggregate %d: %w", host, id, ErrNotFound)
		}
		return nil
	})
}

// HostAggregates returns the aggregates host is in.
func (s *Store) HostAggregates(ctx context.Context, host string) ([]Aggregate, error) {
	return listAggregates(ctx, s.db, `EXISTS (SELECT 1 FROM aggregate_hosts h WHERE h.aggregate_id = g.id AND h.host = $1)`, host)
}
