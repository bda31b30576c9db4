package db

import (
	"context"
	"database/sql"
	"sync"
)

// Cached is tx running its statements prepared once per connection and
// kept, for the transactions hot paths run many times: otherwise SQLite
// parses every statement anew each time it runs (a third of a server
// update's CPU). tx must come from d.Tx, and a query's rows must be
// closed before the same query runs again in tx.
func (d *DB) Cached(tx *sql.Tx) *CachedTx { return &CachedTx{Tx: tx, d: d} }

// CachedTx is a transaction whose statements are cached (DB.Cached).
type CachedTx struct {
	*sql.Tx
	d *DB
}

// stmts holds the statements prepared on a pool, by query. A statement
// is prepared after the transaction that first ran it has ended: the
// pool may have no connection free before (SQLite's writer has one).
type stmts struct {
	m      sync.Map // query -> *sql.Stmt
	mu     sync.Mutex
	queued map[string]bool
}

func (c *CachedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := c.d.stmts.m.Load(query); ok {
		return c.Tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	c.d.stmts.mu.Lock()
	if c.d.stmts.queued == nil {
		c.d.stmts.queued = map[string]bool{}
	}
	c.d.stmts.queued[query] = true
	c.d.stmts.mu.Unlock()
	return nil
}

// prepareQueued prepares on pool the statements first run since the
// last call; call it with no transaction of pool's open.
func (s *stmts) prepareQueued(ctx context.Context, pool *sql.DB) {
	s.mu.Lock()
	queued := s.queued
	s.queued = nil
	s.mu.Unlock()
	for query := range queued {
		if _, ok := s.m.Load(query); ok {
			continue
		}
		if st, err := pool.PrepareContext(ctx, query); err == nil {
			s.m.Store(query, st)
		}
	}
}

func (c *CachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.Tx.ExecContext(ctx, query, args...)
}

func (c *CachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.Tx.QueryContext(ctx, query, args...)
}

func (c *CachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.Tx.QueryRowContext(ctx, query, args...)
}
