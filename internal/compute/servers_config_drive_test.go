package compute

import (
	"net/http"
	"testing"
)

// With force_config_drive every server gets a drive, asked for or not;
// without it only those that ask.
func TestServerForceConfigDrive(t *testing.T) {
	a := newSrvAPI(t)
	show := func() string {
		t.Helper()
		id := a.call("POST", "/v2.1/servers", a.serverBody("s", nil), "2.37", "token=member").must(t, http.StatusAccepted).str("server.id")
		a.nextTask(t)
		return a.call("GET", "/v2.1/servers/"+id, nil, "token=member").must(t, http.StatusOK).str("server.config_drive")
	}
	if got := show(); got != "" {
		t.Errorf("config_drive without force = %q, want \"\"", got)
	}
	a.svc.cfg.ForceConfigDrive = true
	if got := show(); got != "True" {
		t.Errorf("config_drive with force_config_drive = %q, want \"True\"", got)
	}
}
