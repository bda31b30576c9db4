package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fsync"
)

// SQLite write transactions: one at a time, each durable before it is
// acknowledged, but one fsync for many commits (group commit).
//
// SQLite lets one transaction write at a time. Left to itself, a waiting
// writer sleeps in SQLite's busy handler (1, 2, 5, 10 ... 100 ms between
// tries), often long after the lock was freed; and with synchronous=FULL
// every commit fsyncs the WAL while still holding the lock, so commits
// can never outpace the disk's fsyncs. Tx instead queues writers in Go (a
// handoff in microseconds) for a connection of their own (never waiting
// on a pool busy with reads while holding the lock), commits with
// synchronous=NORMAL (no fsync under the lock), and then waits for an
// fsync of the WAL that began after its commit: one fsync makes every
// commit before it durable. Every other connection stays FULL.
//
// An acknowledged transaction is on disk, as before. What changes is that
// another connection may read a commit up to one fsync before it is
// durable; only a power failure in that window could lose it, and its
// writer will not have been told it succeeded.
type sqliteWriter struct {
	gate  chan struct{}           // holds a token while a transaction writes
	db    *sql.DB                 // the one connection that writes, synchronous=NORMAL
	wal   string                  // the database's WAL file
	fsync func(path string) error // fsyncPath; tests count and fail them

	mu            sync.Mutex
	cond          *sync.Cond
	syncing       bool
	started, done uint64 // fsyncs begun and finished, in order
	err           error  // a failed fsync: no write is acknowledged after it
}

// busyTimeout is how long a writer waits for another's transaction before
// it fails with "database is locked", as SQLite's busy_timeout would.
const busyTimeout = 10 * time.Second

func newSQLiteWriter(path string, db *sql.DB) *sqliteWriter {
	w := &sqliteWriter{gate: make(chan struct{}, 1), db: db, wal: path + "-wal", fsync: fsyncPath}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *sqliteWriter) acquire(ctx context.Context) error {
	select {
	case w.gate <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(busyTimeout)
	defer t.Stop()
	select {
	case w.gate <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("begin transaction: %w", ctx.Err())
	case <-t.C:
		return fmt.Errorf("begin transaction: database is locked (another write transaction held it for %s)", busyTimeout)
	}
}

func (w *sqliteWriter) release() { <-w.gate }

// sync returns once an fsync of the WAL that began after the call has
// ended: everything committed before the call is then on disk.
func (w *sqliteWriter) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// An fsync under way may have begun before our commit: wait for the
	// next one.
	target := w.started + 1
	for w.done < target && w.err == nil {
		if w.syncing {
			w.cond.Wait()
			continue
		}
		w.syncing = true
		w.started++
		seq := w.started
		w.mu.Unlock()
		err := w.fsync(w.wal)
		w.mu.Lock()
		w.syncing = false
		w.done = seq
		if err != nil {
			// After a failed fsync the kernel may have dropped the pages
			// it could not write: nothing written since can be trusted.
			w.err = fmt.Errorf("commit: fsync %s: %w", w.wal, err)
		}
		w.cond.Broadcast()
	}
	return w.err
}

// fsyncPath fsyncs the WAL at path. A WAL that is gone was checkpointed
// into the database file, which SQLite synced before removing it.
func fsyncPath(path string) error {
	if err := fsync.Path(path); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ExecContext runs one statement outside any transaction. For SQLite it
// is a Tx of its own, so that it queues with the other writers and shares
// their fsyncs rather than holding the lock through an fsync of its own
// (and keeping them asleep in SQLite's busy handler meanwhile). A write
// through QueryRowContext (... RETURNING) belongs in a Tx for the same
// reason.
func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if d.writer == nil {
		return d.DB.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// sqliteTx is Tx for SQLite: see sqliteWriter.
func (d *DB) sqliteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := d.writer.acquire(ctx); err != nil {
		return err
	}
	err := func() error {
		defer d.writer.release() // a panic in fn goes on up
		tx, err := d.writer.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		err = runTx(tx, fn)
		d.stmts.prepareQueued(ctx, d.writer.db) // its one connection is free again
		return err
	}()
	if err != nil {
		return err
	}
	return d.writer.sync()
}

// runTx runs fn in tx and commits, or rolls back on an error or a panic
// (which goes on up).
func runTx(tx *sql.Tx, fn func(tx *sql.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
