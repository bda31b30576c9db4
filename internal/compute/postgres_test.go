package compute

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/db/pgtest"
)

// TestOnPostgres runs the queries that differ most between engines
// (identity columns, upserts, keyset paging, sums) on PostgreSQL.
func TestOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	dsn := pgtest.Start(t)
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	a := newAPIOn(t, d, DefaultConfig())

	seedFlavors(a)
	if got := listIDs(a, "?is_public=none&sort_key=memory_mb&sort_dir=desc&marker=x1"); !slices.Equal(got, []string{"p3", "p2", "p1"}) {
		t.Errorf("desc paging %v", got)
	}
	if got := listIDs(a, "?sort_key=description&limit=2", "token=member"); !slices.Equal(got, []string{"p1", "p2"}) {
		t.Errorf("nullable sort key %v", got)
	}
	if got := listIDs(a, "", "token=member"); !slices.Equal(got, []string{"p1", "p2", "p3", "x1"}) {
		t.Errorf("member list %v", got)
	}
	a.call("POST", "/v2.1/flavors/p1/os-extra_specs", map[string]any{"extra_specs": map[string]any{"a": "1"}}).must(t, 200)
	a.call("POST", "/v2.1/flavors/p1/os-extra_specs", map[string]any{"extra_specs": map[string]any{"a": "2"}}).must(t, 200)
	if r := a.call("GET", "/v2.1/flavors/p1", nil, "2.61").must(t, 200); r.str("flavor.extra_specs.a") != "2" {
		t.Errorf("upserted spec: %s", r.raw)
	}
	a.call("POST", "/v2.1/flavors", flavorBody("pub-a", 64, 1, 1, nil)).fault(t, 409, "conflictingRequest", "Flavor with name pub-a already exists.")
	a.call("DELETE", "/v2.1/flavors/x1", nil).must(t, 202)

	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line, _ := authorizedKey(t, edPub)
	r := a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "k", "public_key": line}}, "token=member").must(t, 200)
	if s := a.call("GET", "/v2.1/os-keypairs/k", nil, "token=member").must(t, 200); s.num("keypair.id") < 1 || s.str("keypair.name") != r.str("keypair.name") {
		t.Errorf("keypair: %s", s.raw)
	}
	path := "/v2.1/os-quota-sets/" + demoProject
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"cores": 40}}).must(t, 200)
	a.call("PUT", path, map[string]any{"quota_set": map[string]any{"cores": 40}}).must(t, 200)
	a.call("PUT", path+"?user_id=u-demo", map[string]any{"quota_set": map[string]any{"cores": 30}}).must(t, 200)
	a.call("PUT", path+"?user_id=u-reader", map[string]any{"quota_set": map[string]any{"cores": 20}}).fault(t, 400, "badRequest",
		"Quota limit 20 for cores must be less than or equal to 10.")
	a.call("PUT", "/v2.1/os-quota-class-sets/default", map[string]any{"quota_class_set": map[string]any{"ram": 1000}}).must(t, 200)
	if s := a.call("GET", path, nil).must(t, 200); s.num("quota_set.cores") != 40 || s.num("quota_set.ram") != 1000 {
		t.Errorf("quotas: %s", s.raw)
	}
}
