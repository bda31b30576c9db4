// Package imagetest runs the real image service on httptest, for the
// tests of the services that call it (compute's image client, the agent's
// downloads and snapshots, the compute API's image proxy).
package imagetest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/image"
	filestore "github.com/nimbus-cloud/nimbus/internal/image/store/file"
)

// Start runs the image service (SQLite and file store in a temp dir) with
// v checking tokens, until the test ends, and returns its URL.
func Start(t testing.TB, v authn.Validator) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, filepath.Join(dir, "image.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := filestore.New(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := image.New(ctx, image.DefaultConfig(), image.Options{DB: d, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpx.Options{}, v))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Tokens is a validator of fixed tokens: each names its caller, who gets
// the token and an expiry an hour away.
func Tokens(callers map[string]*authn.Principal) authn.Validator {
	return authn.ValidatorFunc(func(_ context.Context, token string) (*authn.Principal, error) {
		p, ok := callers[token]
		if !ok {
			return nil, fault.Unauthorizedf("The request you have made requires authentication.")
		}
		c := *p
		c.Token, c.ExpiresAt = token, time.Now().Add(time.Hour)
		return &c, nil
	})
}
