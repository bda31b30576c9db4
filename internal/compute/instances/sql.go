package instances

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// querier is a transaction or the database itself.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// micros is the stored form of a time: Unix microseconds, 0 for the zero
// time ("never").
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// args collects the arguments of a query built piece by piece and hands
// out their $n placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// in is "(ph, ph, ...)" for values.
func (a *args) in(values []string) string {
	ph := make([]string, len(values))
	for i, v := range values {
		ph[i] = a.add(v)
	}
	return "(" + strings.Join(ph, ", ") + ")"
}

// chunk is how many values one IN list takes, well under both engines'
// limits on placeholders.
const chunk = 500

func chunks[T any](s []T) [][]T {
	var out [][]T
	for len(s) > chunk {
		out = append(out, s[:chunk])
		s = s[chunk:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// inList is "(subquery)" giving the values of one parameter, arg: a
// JSON array, read by json_each in SQLite and json_array_elements_text
// in PostgreSQL.
func inList[T int64 | string](eng db.Engine, values []T) (string, any, error) {
	b, err := json.Marshal(values)
	if err != nil {
		return "", nil, err
	}
	if eng != db.Postgres {
		return "(SELECT value FROM json_each($1))", string(b), nil
	}
	var zero T
	if _, ok := any(zero).(int64); ok {
		return "(SELECT value::bigint FROM json_array_elements_text(CAST($1 AS json)))", string(b), nil
	}
	return "(SELECT value FROM json_array_elements_text(CAST($1 AS json)))", string(b), nil
}

// nullString stores nil as NULL.
func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func ptrString(ns sql.NullString) *string {
	if !ns.Valid {
		return nil
	}
	s := ns.String
	return &s
}

// jsonText marshals v for a JSON text column; nil pointers and nil
// slices are NULL.
func jsonText(v any) (any, error) {
	switch x := v.(type) {
	case *Flavor:
		if x == nil {
			return nil, nil
		}
	case []string:
		if x == nil {
			return nil, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// forUpdate locks a row read in a transaction on PostgreSQL; SQLite's
// write transactions already hold the database's write lock from BEGIN.
func forUpdate(d *db.DB) string {
	if d.Engine == db.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
