package swift

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/identity"
)

// KeystoneEndpoint finds the object-store endpoint in a real Keystone v3
// catalog (Nimbus's identity) and comes back with a token.
func TestKeystoneEndpointUsesTheCatalog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, filepath.Join(dir, "identity.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := identity.DefaultConfig()
	cfg.KeysDir, cfg.BcryptCost = filepath.Join(dir, "keys"), bcrypt.MinCost
	svc, err := identity.New(ctx, cfg, identity.Options{DB: d})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(httpx.Options{}))
	defer srv.Close()
	swiftURL := "http://swift.example:8080/v1/AUTH_x"
	if _, err := svc.Bootstrap(ctx, identity.BootstrapOptions{AdminUser: "admin", AdminPassword: "pw", AdminProject: "admin",
		Region: "RegionOne", Services: []identity.BootstrapService{
			{Type: "object-store", Name: "swift", URLs: map[string]string{"public": swiftURL, "internal": "http://internal/v1/AUTH_x"}},
		}}); err != nil {
		t.Fatal(err)
	}
	endpoint := KeystoneEndpoint(nil, KeystoneAuth{AuthURL: srv.URL + "/v3", Username: "admin", Password: "pw",
		ProjectName: "admin", Region: "RegionOne"})
	url, token, err := endpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if url != swiftURL || token == "" {
		t.Fatalf("endpoint = %q, token %q", url, token)
	}
	bad := KeystoneEndpoint(nil, KeystoneAuth{AuthURL: srv.URL, Username: "admin", Password: "wrong", ProjectName: "admin"})
	if _, _, err := bad(ctx); err == nil {
		t.Fatal("wrong password gave an endpoint")
	}
}
