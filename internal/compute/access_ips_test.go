package compute

import (
	"net/http"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/compute/instances"
)

// accessIPv6 is kept and shown in canonical form, as Nova's netaddr
// field does, on create, update and rebuild.
func TestAccessIPv6Canonical(t *testing.T) {
	const long, short = "0000:0000:0000:0000:0000:babe:220.12.22.2", "::babe:dc0c:1602"
	a := newSrvAPI(t)
	r := a.call("POST", "/v2.1/servers", a.serverBody("vm", map[string]any{"accessIPv6": long, "accessIPv4": "1.1.1.1"}),
		"latest", "token=member").must(t, http.StatusAccepted)
	id := r.str("server.id")
	a.nextTask(t)
	s := a.call("GET", "/v2.1/servers/"+id, nil, "token=member").must(t, http.StatusOK)
	if got := s.str("server.accessIPv6"); got != short {
		t.Errorf("accessIPv6 after create = %q, want %q", got, short)
	}
	if got := s.str("server.accessIPv4"); got != "1.1.1.1" {
		t.Errorf("accessIPv4 = %q", got)
	}

	u := a.call("PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"accessIPv6": "2001:DB8:0:0:0:0:0:1"}},
		"token=member").must(t, http.StatusOK)
	if got := u.str("server.accessIPv6"); got != "2001:db8::1" {
		t.Errorf("accessIPv6 after update = %q, want 2001:db8::1", got)
	}
	a.call("PUT", "/v2.1/servers/"+id, map[string]any{"server": map[string]any{"accessIPv6": "1.2.3.4"}}, "token=member").
		fault(t, http.StatusBadRequest, "badRequest", "")

	b := newActionsAPI(t)
	inst := b.server(t, "member", instances.Active)
	res := b.act(inst.UUID, map[string]any{"rebuild": map[string]any{"imageRef": b.image, "accessIPv6": long}}, "token=member").
		must(t, http.StatusAccepted)
	if got := res.str("server.accessIPv6"); got != short {
		t.Errorf("rebuild answers accessIPv6 %q, want %q", got, short)
	}
	if got := b.get(t, inst.UUID).AccessIPv6; got != short {
		t.Errorf("accessIPv6 after rebuild = %q, want %q", got, short)
	}
}
