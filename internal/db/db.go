// Package db opens a service's database, SQLite by default and PostgreSQL at
// scale, and applies its embedded, numbered migrations. Services write
// portable SQL with $1-style placeholders, which both engines accept.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver
	_ "modernc.org/sqlite"             // "sqlite" driver, pure Go
)

// Engine names the database engine behind a DB.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is one service's database.
type DB struct {
	*sql.DB
	Engine Engine
	writer *sqliteWriter // SQLite: write transactions, see sqliteWriter
	stmts  stmts         // prepared statements of Cached transactions
}

// Open opens dsn: a postgres:// or postgresql:// URL, or a SQLite file path
// (optionally prefixed "sqlite:"). SQLite runs in WAL mode with foreign keys
// on and synchronous=FULL (a commit is on disk before it is acknowledged,
// so it survives a power loss too), and write transactions take the lock
// at BEGIN so that concurrent writers wait instead of failing; Tx queues
// a process's writers and shares fsyncs among them (sqliteWriter).
func Open(ctx context.Context, dsn string) (*DB, error) {
	var d *DB
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		sdb, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sdb.SetMaxOpenConns(20)
		d = &DB{DB: sdb, Engine: Postgres}
	default:
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("open sqlite: empty path")
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		sdb, err := openSQLite(path, "FULL", 8)
		if err != nil {
			return nil, err
		}
		// Write transactions have a connection of their own (sqliteWriter).
		wdb, err := openSQLite(path, "NORMAL", 1)
		if err != nil {
			sdb.Close()
			return nil, err
		}
		d = &DB{DB: sdb, Engine: SQLite, writer: newSQLiteWriter(path, wdb)}
	}
	if err := d.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return d, nil
}

// openSQLite opens a pool of conns connections to the SQLite database at
// path, with synchronous set to sync.
func openSQLite(path, sync string, conns int) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(" + sync + ")"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	sdb, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(conns)
	sdb.SetMaxIdleConns(conns)
	return sdb, nil
}

// Close closes the database's connections.
func (d *DB) Close() error {
	d.stmts.m.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	if d.writer != nil {
		d.writer.db.Close()
	}
	return d.DB.Close()
}

// Tx runs fn in a transaction, committing when it returns nil; the
// commit is on disk when Tx returns nil. fn must not start another Tx.
func (d *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if d.writer != nil {
		return d.sqliteTx(ctx, fn)
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	err = runTx(tx, fn)
	d.stmts.prepareQueued(ctx, d.DB)
	return err
}

// Migrate applies the files NNNN_name.sql of migrations (in order, each
// once, each in its own transaction) and records them in schema_migrations.
// A file may hold several statements separated by lines of "-- +step".
// Files named NNNN_name.postgres.sql or .sqlite.sql apply to one engine only
// and share their number with the portable file they replace.
func (d *DB) Migrate(ctx context.Context, migrations fs.FS) error {
	if _, err := d.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	steps, err := d.plan(migrations)
	if err != nil {
		return err
	}
	for _, s := range steps {
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, s.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range s.statements {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, s.version, s.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return nil
}

type migration struct {
	version    int64
	name       string
	statements []string
}

func (d *DB) plan(migrations fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	chosen := map[int64]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", name)
		}
		engine := ""
		for _, eng := range []Engine{SQLite, Postgres} {
			if strings.HasSuffix(name, "."+string(eng)+".sql") {
				engine = string(eng)
			}
		}
		switch {
		case engine == string(d.Engine):
			chosen[v] = name
		case engine == "":
			if _, taken := chosen[v]; !taken {
				chosen[v] = name
			}
		}
	}
	var out []migration
	for v, name := range chosen {
		data, err := fs.ReadFile(migrations, name)
		if err != nil {
			return nil, err
		}
		var stmts []string
		for _, part := range strings.Split(string(data), "-- +step") {
			if s := strings.TrimSpace(part); s != "" {
				stmts = append(stmts, s)
			}
		}
		out = append(out, migration{version: v, name: name, statements: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// IsUniqueViolation reports whether err is a unique-constraint failure, in
// either engine, so services can answer 409.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "SQLSTATE 23505")
}

// IsForeignKeyViolation reports whether err is a foreign-key failure.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "FOREIGN KEY constraint failed") || strings.Contains(s, "SQLSTATE 23503")
}
