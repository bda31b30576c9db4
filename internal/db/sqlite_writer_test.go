package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fsyncLog records the fsyncs a DB's writer makes, each taking a while.
type fsyncLog struct {
	mu     sync.Mutex
	starts []time.Time
	ends   []time.Time
	fail   atomic.Pointer[error] // what the fsyncs return, nil for the real one's
}

func (l *fsyncLog) install(d *DB, took time.Duration) {
	d.writer.fsync = func(path string) error {
		l.mu.Lock()
		l.starts = append(l.starts, time.Now())
		l.mu.Unlock()
		time.Sleep(took)
		err := fsyncPath(path)
		if f := l.fail.Load(); f != nil {
			err = *f
		}
		l.mu.Lock()
		l.ends = append(l.ends, time.Now())
		l.mu.Unlock()
		return err
	}
}

// durableBetween reports whether an fsync began after from and ended
// before to.
func (l *fsyncLog) durableBetween(from, to time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.starts {
		if s.After(from) && i < len(l.ends) && !l.ends[i].After(to) {
			return true
		}
	}
	return false
}

func TestTxSharesFsyncsAndReturnsOnlyOnceDurable(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	var log fsyncLog
	log.install(d, 3*time.Millisecond)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			var wrote time.Time
			err := d.Tx(context.Background(), func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO things (id, n) VALUES ($1, $2)`, fmt.Sprint("t", i), i)
				wrote = time.Now()
				return err
			})
			if err == nil && !log.durableBetween(wrote, time.Now()) {
				err = fmt.Errorf("tx %d returned before an fsync that began after its commit had ended", i)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	d.QueryRow(`SELECT COUNT(*) FROM things`).Scan(&rows)
	log.mu.Lock()
	fsyncs := len(log.starts)
	log.mu.Unlock()
	if rows != n || fsyncs >= n {
		t.Fatalf("%d rows, %d fsyncs; want %d rows and fewer fsyncs than commits", rows, fsyncs, n)
	}
}

func TestTxFailsForGoodAfterAFailedFsync(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	var log fsyncLog
	log.install(d, 0)
	eio := errors.New("input/output error")
	log.fail.Store(&eio)
	insert := func(id string) error {
		return d.Tx(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO things (id, n) VALUES ($1, 1)`, id)
			return err
		})
	}
	if err := insert("a"); !errors.Is(err, eio) {
		t.Fatalf("tx with a failed fsync: %v, want the fsync's error", err)
	}
	log.fail.Store(nil)
	if err := insert("b"); !errors.Is(err, eio) {
		t.Fatalf("tx after a failed fsync: %v, want the fsync's error again", err)
	}
}

func TestTxLeavesPooledConnectionsFullySynchronous(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	d.SetMaxOpenConns(1) // the Tx's connection is the one the next query gets
	if err := d.Tx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO things (id, n) VALUES ('a', 1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := d.QueryRow(`PRAGMA synchronous`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("synchronous after Tx = %d (%v), want 2 (FULL)", mode, err)
	}
}

func TestTxPanicReleasesTheWriter(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		d.Tx(context.Background(), func(tx *sql.Tx) error {
			tx.Exec(`INSERT INTO things (id, n) VALUES ('a', 1)`)
			panic("boom")
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := d.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO things (id, n) VALUES ('a', 2)`)
		return err
	}); err != nil {
		t.Fatalf("tx after a panicking one: %v", err)
	}
}

func TestTxWaitingForTheWriterEndsWithItsContext(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	held := make(chan struct{})
	release := make(chan struct{})
	go d.Tx(context.Background(), func(tx *sql.Tx) error {
		close(held)
		<-release
		return nil
	})
	<-held
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := d.Tx(ctx, func(tx *sql.Tx) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting tx: %v, want its context's deadline", err)
	}
}

// BenchmarkTx: one-row write transactions, one writer and many.
func BenchmarkTx(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprint("writers-", par), func(b *testing.B) {
			d := OpenTest(b, testMigrations)
			var n atomic.Int64
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprint(n.Add(1))
					if err := d.Tx(context.Background(), func(tx *sql.Tx) error {
						_, err := tx.Exec(`INSERT INTO things (id, n) VALUES ($1, 1)`, id)
						return err
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func TestTxDoesNotWaitForTheReadPool(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	ctx := context.Background()
	for range 8 { // every pooled connection taken by a reader
		c, err := d.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := d.Tx(tctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO things (id, n) VALUES ('a', 1)`)
		return err
	}); err != nil {
		t.Fatalf("tx with the read pool exhausted: %v", err)
	}
}

func TestCachedTxPreparesOnceAndReusesIt(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	ctx := context.Background()
	const q = `INSERT INTO things (id, n) VALUES ($1, $2)`
	for i := range 3 {
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			_, err := d.Cached(tx).ExecContext(ctx, q, fmt.Sprint(i), i)
			return err
		}); err != nil {
			t.Fatalf("tx %d: %v", i, err)
		}
		if _, ok := d.stmts.m.Load(q); !ok {
			t.Fatalf("after tx %d the statement is not prepared", i)
		}
	}
	var n int
	if err := d.Tx(ctx, func(tx *sql.Tx) error {
		return d.Cached(tx).QueryRowContext(ctx, `SELECT COUNT(*) FROM things WHERE n >= $1`, 0).Scan(&n)
	}); err != nil || n != 3 {
		t.Fatalf("count %d, %v", n, err)
	}
}
