package compute

import (
	"net/http"
	"testing"
)

func TestServerAddresses(t *testing.T) {
	a := newSrvAPI(t)
	id := a.create(t, "member", "vm", nil)

	r := a.call("GET", "/v2.1/servers/"+id+"/ips", nil, "token=reader").must(t, http.StatusOK)
	if r.raw != "{\"addresses\":{}}\n" {
		t.Errorf("ips = %s, want no networks", r.raw)
	}
	// Legacy /v2 with the project in the URL answers alike.
	a.call("GET", "/v2/"+demoProject+"/servers/"+id+"/ips", nil, "token=member").must(t, http.StatusOK)

	a.call("GET", "/v2.1/servers/"+id+"/ips/private", nil, "token=member").
		fault(t, http.StatusNotFound, "itemNotFound", "Instance is not a member of specified network")

	for _, path := range []string{"/ips", "/ips/private"} {
		a.call("GET", "/v2.1/servers/999"+path, nil, "token=member").
			fault(t, http.StatusNotFound, "itemNotFound", "Instance 999 could not be found.")
		// Another project's server is not found either.
		a.call("GET", "/v2.1/servers/"+id+path, nil, "token=alt").
			fault(t, http.StatusNotFound, "itemNotFound", "Instance "+id+" could not be found.")
	}
	// Admin sees any project's.
	a.call("GET", "/v2.1/servers/"+id+"/ips", nil, "token=admin").must(t, http.StatusOK)
}
