package console

import (
	"context"
	"errors"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/db/pgtest"
)

// TestTokensOnPostgres runs the token store on PostgreSQL.
func TestTokensOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	d, err := db.Open(context.Background(), pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	sql, err := os.ReadFile("../migrations/0003_consoles.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(t.Context(), fstest.MapFS{"0003_consoles.sql": {Data: sql}}); err != nil {
		t.Fatal(err)
	}
	tokens := NewTokens(d)
	now := time.Now()
	tokens.SetClock(func() time.Time { return now })
	tok, err := tokens.Authorize(t.Context(), ConnectInfo{InstanceUUID: uuid1, ConsoleType: Serial, Host: "10.0.0.5",
		Port: 40000, InternalAccessPath: "/x", AccessURLBase: "ws://h:6083/"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := tokens.Validate(t.Context(), tok)
	if err != nil || ci.Port != 40000 || ci.InternalAccessPath != "/x" || !ci.Expires.Equal(time.UnixMicro(now.Add(time.Minute).UnixMicro())) {
		t.Fatalf("Validate() = %+v, %v", ci, err)
	}
	now = now.Add(time.Minute)
	if _, err := tokens.Validate(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Validate() after expiry = %v", err)
	}
	if n, err := tokens.DeleteExpired(t.Context()); err != nil || n != 1 {
		t.Fatalf("DeleteExpired() = %d, %v", n, err)
	}
}
