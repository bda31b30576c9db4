package db_test

import (
	"context"
	"os"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/db/pgtest"
)

func TestMigrationsAndConstraintsOnPostgres(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Engine != db.Postgres {
		t.Fatalf("engine = %s", d.Engine)
	}
	m := os.DirFS("testdata/migrations")
	for range 2 {
		if err := d.Migrate(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Exec(`INSERT INTO things (id, n, flag) VALUES ($1, $2, $3)`, "a", 1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`INSERT INTO things (id, n) VALUES ('a', 2)`); !db.IsUniqueViolation(err) {
		t.Fatalf("duplicate err = %v", err)
	}
	if _, err := d.Exec(`INSERT INTO parts (id, thing_id) VALUES ('p', 'missing')`); !db.IsForeignKeyViolation(err) {
		t.Fatalf("dangling err = %v", err)
	}
}
