package db

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
)

// OpenTest opens a fresh SQLite database in t's temp dir with migrations
// applied.
func OpenTest(t testing.TB, migrations fs.FS) *DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "test.sqlite")
	d, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open test db: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if migrations != nil {
		if err := d.Migrate(context.Background(), migrations); err != nil {
			t.Fatalf("migrate test db: %v", err)
		}
	}
	return d
}
