package db

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var testMigrations = os.DirFS("testdata/migrations")

func TestMigrateIsIdempotentAndKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.sqlite")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, testMigrations); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`INSERT INTO things (id, n, flag) VALUES ($1, $2, $3)`, "a", 1, true); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx, testMigrations); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	var n int
	var flag bool
	if err := d.QueryRow(`SELECT n, flag FROM things WHERE id = $1`, "a").Scan(&n, &flag); err != nil || n != 1 || !flag {
		t.Fatalf("row after reopen = %d %v %v, want 1 true", n, flag, err)
	}
	var versions int
	d.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&versions)
	if versions != 2 {
		t.Fatalf("schema_migrations has %d rows, want 2", versions)
	}
}

func TestTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	boom := errors.New("boom")
	err := d.Tx(context.Background(), func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO things (id, n) VALUES ('a', 1)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Tx err = %v, want boom", err)
	}
	var n int
	d.QueryRow(`SELECT COUNT(*) FROM things`).Scan(&n)
	if n != 0 {
		t.Fatalf("rolled-back insert is visible: %d rows", n)
	}
}

func TestConstraintErrorsAreRecognised(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	if _, err := d.Exec(`INSERT INTO things (id, n) VALUES ('a', 1)`); err != nil {
		t.Fatal(err)
	}
	_, err := d.Exec(`INSERT INTO things (id, n) VALUES ('a', 2)`)
	if !IsUniqueViolation(err) {
		t.Fatalf("duplicate insert err = %v, want unique violation", err)
	}
	_, err = d.Exec(`INSERT INTO parts (id, thing_id) VALUES ('p', 'missing')`)
	if !IsForeignKeyViolation(err) {
		t.Fatalf("dangling reference err = %v, want foreign key violation", err)
	}
}

func TestConcurrentWritersWaitInsteadOfFailing(t *testing.T) {
	t.Parallel()
	d := OpenTest(t, testMigrations)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.Tx(context.Background(), func(tx *sql.Tx) error {
				var n int
				if err := tx.QueryRow(`SELECT COUNT(*) FROM things`).Scan(&n); err != nil {
					return err
				}
				_, err := tx.Exec(`INSERT INTO things (id, n) VALUES ($1, $2)`, string(rune('A'+i%26))+string(rune('a'+i/26)), n)
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent tx: %v", err)
		}
	}
}
