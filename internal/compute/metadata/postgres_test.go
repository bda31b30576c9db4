package metadata

import (
	"context"
	"os"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/db/pgtest"
)

// TestPasswordsOnPostgres runs the password store (its upsert) on
// PostgreSQL.
func TestPasswordsOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	d, err := db.Open(context.Background(), pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(t.Context(), os.DirFS("../migrations")); err != nil {
		t.Fatal(err)
	}
	p := Passwords{DB: d}
	ctx := t.Context()
	if ok, err := p.Set(ctx, "u1", "first"); !ok || err != nil {
		t.Fatalf("Set() = %v, %v", ok, err)
	}
	if ok, err := p.Set(ctx, "u1", "second"); ok || err != nil {
		t.Fatalf("second Set() = %v, %v; want not stored", ok, err)
	}
	if pw, err := p.Get(ctx, "u1"); pw != "first" || err != nil {
		t.Fatalf("Get() = %q, %v", pw, err)
	}
	if err := p.Clear(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if pw, err := p.Get(ctx, "u1"); pw != "" || err != nil {
		t.Fatalf("Get() after Clear = %q, %v", pw, err)
	}
}
