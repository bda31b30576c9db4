package compute

import (
	"context"
	"net/http"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
	"github.com/nimbus-cloud/nimbus/internal/compute/metadata"
)

func TestServerPassword(t *testing.T) {
	a := newActionsAPI(t)
	inst := a.server(t, "member", instances.Active)
	path := "/v2.1/servers/" + inst.UUID + "/os-server-password"

	r := a.call("GET", path, nil, "token=member").must(t, http.StatusOK)
	if r.raw != "{\"password\":\"\"}\n" {
		t.Fatalf("no password yet: %s", r.raw)
	}
	pw := metadata.Passwords{DB: a.svc.db}
	if _, err := pw.Set(context.Background(), inst.UUID, "c2VjcmV0"); err != nil {
		t.Fatal(err)
	}
	if got := a.call("GET", path, nil, "token=reader").must(t, http.StatusOK).str("password"); got != "c2VjcmV0" {
		t.Fatalf("password %q", got)
	}
	a.call("GET", path, nil, "token=alt").fault(t, http.StatusNotFound, "itemNotFound", "Instance "+inst.UUID+" could not be found.")
	a.call("DELETE", path, nil, "token=alt").must(t, http.StatusNotFound)
	a.call("DELETE", path, nil, "token=reader").fault(t, http.StatusForbidden, "forbidden",
		"Policy doesn't allow os_compute_api:os-server-password:clear to be performed.")
	if got, _ := pw.Get(context.Background(), inst.UUID); got != "c2VjcmV0" {
		t.Fatalf("a refused clear removed the password: %q", got)
	}
	r = a.call("DELETE", path, nil, "token=member").must(t, http.StatusNoContent)
	if r.raw != "" {
		t.Fatalf("clear answered %q", r.raw)
	}
	if got := a.call("GET", path, nil, "token=member").must(t, http.StatusOK).str("password"); got != "" {
		t.Fatalf("password after clear %q", got)
	}
	a.call("GET", "/v2.1/servers/00000000-0000-0000-0000-000000000000/os-server-password", nil).must(t, http.StatusNotFound)
}
