package dbserver

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // "sqlite" driver, pure Go
)

// errNoDB means the database file does not exist.
var errNoDB = errors.New("database does not exist")

// maxBatch bounds how many queued writes share one transaction, so that
// the first of them is not held back too long.
const maxBatch = 1000

// db is one open account or container database. Writes go through write,
// which applies concurrent writes in one transaction (group commit); reads
// use sql directly (WAL: readers never wait for the writer).
type db struct {
	path string
	kind kind
	sql  *sql.DB

	mu       sync.Mutex
	pending  []*writeOp
	flushing bool
	// commits counts committed batches; the replicator removes a handoff
	// copy only if nothing was written since it pushed it.
	commits atomic.Uint64
	// changed is called after a commit (the updater's dirty set).
	changed func(*db)

	checkpointing atomic.Bool
	bg            sync.WaitGroup // background checkpoints

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	// Owned by handles, under its lock.
	refs int
	used time.Time
	elem *list.Element
}

type writeOp struct {
	fn   func(tx *sql.Tx) error
	err  error
	done chan struct{}
}

func dsn(path string, wal bool) string {
	q := url.Values{}
	journal := "journal_mode(DELETE)"
	if wal {
		journal = "journal_mode(WAL)"
	}
	// synchronous=NORMAL: in WAL mode a commit is in the OS's hands
	// when answered (it survives a crash of this process) and on disk at
	// the next checkpoint. A fsync per commit would cost milliseconds
	// under load; a listing that loses its last rows to a power cut is
	// repaired by its replicas and by the object servers' retried
	// updates, as Swift's un-fsynced .pending files are.
	// wal_autocheckpoint(0): the checkpoint, with its fsyncs, would run
	// in the commit of some unlucky write; checkpoint runs it aside.
	for _, p := range []string{journal, "busy_timeout(10000)", "synchronous(NORMAL)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// openDB opens an existing database file.
func openDB(ctx context.Context, path string, k kind) (*db, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errNoDB
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sdb, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(4)
	sdb.SetMaxIdleConns(2)
	sdb.SetConnMaxIdleTime(time.Minute)
	var version int
	if err := sdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if version != schemaVersion {
		sdb.Close()
		return nil, fmt.Errorf("open %s: schema version %d, want %d", path, version, schemaVersion)
	}
	return &db{path: path, kind: k, sql: sdb}, nil
}

// createDB makes a new database file holding init's state, atomically:
// it is built under a temporary name and renamed into place, so a reader
// never sees a half-made database. The caller makes sure nobody else
// creates the same path at the same time.
func createDB(ctx context.Context, path string, k kind, init *info) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	tmp := filepath.Join(dir, ".tmp-"+uuid.NewString())
	defer os.Remove(tmp)
	sdb, err := sql.Open("sqlite", dsn(tmp, false))
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	err = initSchema(ctx, sdb, k, init)
	if cerr := sdb.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := os.Stat(path); err == nil {
		return nil // made meanwhile by another process: keep that one
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return syncDir(dir)
}

func initSchema(ctx context.Context, sdb *sql.DB, k kind, init *info) error {
	tx, err := sdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, k.schema()); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	id := init.ID
	if id == "" {
		id = uuid.NewString()
	}
	meta, err := init.Metadata.encode()
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO info (account, container, id, created_at, put_timestamp,
		delete_timestamp, status_changed_at, status, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		init.Account, init.Container, id, init.CreatedAt.Internal(), init.PutTimestamp.Internal(),
		init.DeleteTimestamp.Internal(), init.StatusChangedAt.Internal(), init.Status, meta); err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// write runs fn in a write transaction and returns once it has
// committed. Writes queued while a transaction runs are applied together
// in the next one: one fsync answers them all. fn may run twice (once in
// a batch that failed, again alone), so it must derive everything from
// what it reads in tx and only report results through its closure after
// succeeding.
func (d *db) write(fn func(tx *sql.Tx) error) error {
	op := &writeOp{fn: fn, done: make(chan struct{})}
	d.mu.Lock()
	d.pending = append(d.pending, op)
	start := !d.flushing
	d.flushing = true
	d.mu.Unlock()
	if start {
		go d.flush()
	}
	<-op.done
	return op.err
}

func (d *db) flush() {
	for {
		d.mu.Lock()
		batch := d.pending
		if len(batch) > maxBatch {
			batch, d.pending = batch[:maxBatch:maxBatch], batch[maxBatch:]
		} else {
			d.pending = nil
		}
		if len(batch) == 0 {
			d.flushing = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		d.commitBatch(batch)
	}
}

// commitBatch applies ops in one transaction; if one fails, the others
// are retried each alone so that one bad write does not fail its
// neighbours.
func (d *db) commitBatch(ops []*writeOp) {
	err := d.runTx(ops)
	if err != nil && len(ops) > 1 {
		for _, op := range ops {
			op.err = d.runTx([]*writeOp{op})
			close(op.done)
		}
		return
	}
	for _, op := range ops {
		op.err = err
		close(op.done)
	}
}

func (d *db) runTx(ops []*writeOp) (err error) {
	tx, err := d.sql.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("write %s: begin: %w", d.path, err)
	}
	committed := false
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("write %s: panic: %v", d.path, p)
		}
		if !committed {
			tx.Rollback()
		}
	}()
	for _, op := range ops {
		if err := op.fn(tx); err != nil {
			return fmt.Errorf("write %s: %w", d.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write %s: commit: %w", d.path, err)
	}
	committed = true
	if n := d.commits.Add(1); n%checkpointEvery == 0 {
		d.checkpoint()
	}
	if d.changed != nil {
		d.changed(d)
	}
	return nil
}

// checkpointEvery is how many commits pass between WAL checkpoints.
const checkpointEvery = 256

// checkpoint copies the WAL into the database in the background, without
// holding up writers or readers (PASSIVE), so the WAL stays small.
func (d *db) checkpoint() {
	if !d.checkpointing.CompareAndSwap(false, true) {
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		defer d.checkpointing.Store(false)
		_, _ = d.sql.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	}()
}

// close closes the database; queued writes finish first.
func (d *db) close() error {
	for {
		d.mu.Lock()
		busy := d.flushing
		d.mu.Unlock()
		if !busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	d.bg.Wait()
	d.stmtMu.Lock()
	for _, st := range d.stmts {
		st.Close()
	}
	d.stmts = nil
	d.stmtMu.Unlock()
	return d.sql.Close()
}

// stmt is q prepared once for the database and bound to tx: preparing
// costs more than running the small statements of a row update.
func (d *db) stmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	d.stmtMu.Lock()
	st := d.stmts[q]
	if st == nil {
		var err error
		if st, err = d.sql.PrepareContext(ctx, q); err != nil {
			d.stmtMu.Unlock()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		if d.stmts == nil {
			d.stmts = map[string]*sql.Stmt{}
		}
		d.stmts[q] = st
	}
	d.stmtMu.Unlock()
	return tx.StmtContext(ctx, st), nil
}

// maxSeq is the highest row seq ever used (rows deleted since included).
func (d *db) maxSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := d.sql.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = $1`, d.kind.table()).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("max row of %s: %w", d.path, err)
	}
	return seq.Int64, nil
}
