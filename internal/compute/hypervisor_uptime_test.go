package compute

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// uptimeLine is what the agent answers: `uptime`'s line.
var uptimeLine = regexp.MustCompile(`^ \d\d:\d\d:\d\d up .*load average: `)

// A hypervisor's uptime is asked of its host's agent (the fake driver's
// host here): /uptime before 2.88, the detail views' uptime from 2.88.
func TestHypervisorUptime(t *testing.T) {
	e := newConsoleEnv(t) // an agent serves consoleHost
	_, n := addHost(t, e.api, consoleHost, time.Now())
	_, silent := addHost(t, e.api, "silent", time.Now()) // up, but no agent answers
	_, down := addHost(t, e.api, "down", time.Now().Add(-time.Hour))

	r := e.call("GET", fmt.Sprintf("/v2.1/os-hypervisors/%d/uptime", n.ID), nil).must(t, http.StatusOK)
	if !uptimeLine.MatchString(r.str("hypervisor.uptime")) || r.num("hypervisor.id") != float64(n.ID) ||
		r.str("hypervisor.hypervisor_hostname") != consoleHost+".node" || r.str("hypervisor.state") != "up" ||
		r.str("hypervisor.status") != "enabled" || len(r.body["hypervisor"].(map[string]any)) != 5 {
		t.Errorf("uptime: %s", r.raw)
	}
	r = e.call("GET", "/v2.1/os-hypervisors/"+n.UUID+"/uptime", nil, "2.53").must(t, http.StatusOK)
	if r.str("hypervisor.id") != n.UUID || !uptimeLine.MatchString(r.str("hypervisor.uptime")) {
		t.Errorf("uptime at 2.53: %s", r.raw)
	}
	e.call("GET", fmt.Sprintf("/v2.1/os-hypervisors/%d/uptime", silent.ID), nil).
		fault(t, http.StatusBadRequest, "badRequest", "Compute service of silent is unavailable at this time.")
	e.call("GET", fmt.Sprintf("/v2.1/os-hypervisors/%d/uptime", down.ID), nil).
		fault(t, http.StatusBadRequest, "badRequest", "Compute service of down is unavailable at this time.")
	e.call("GET", "/v2.1/os-hypervisors/9999/uptime", nil).
		fault(t, http.StatusNotFound, "itemNotFound", "Hypervisor with ID '9999' could not be found.")
	e.call("GET", fmt.Sprintf("/v2.1/os-hypervisors/%d/uptime", n.ID), nil, "token=member").must(t, http.StatusForbidden)
	e.call("GET", "/v2.1/os-hypervisors/"+n.UUID+"/uptime", nil, "2.88").must(t, http.StatusNotFound)

	// 2.88: in show and detail; null for hosts that cannot tell.
	s := e.call("GET", "/v2.1/os-hypervisors/"+n.UUID, nil, "2.88").must(t, http.StatusOK)
	if !uptimeLine.MatchString(s.str("hypervisor.uptime")) {
		t.Errorf("2.88 show: %s", s.raw)
	}
	s = e.call("GET", "/v2.1/os-hypervisors/"+down.UUID, nil, "2.88").must(t, http.StatusOK)
	if !s.has("hypervisor.uptime") || s.path("hypervisor.uptime") != nil {
		t.Errorf("2.88 show of a down host: %s", s.raw)
	}
	d := e.call("GET", "/v2.1/os-hypervisors/detail", nil, "2.88").must(t, http.StatusOK)
	got := map[string]string{}
	for _, hv := range d.list("hypervisors") {
		hv := hv.(map[string]any)
		up, _ := hv["uptime"].(string)
		got[hv["hypervisor_hostname"].(string)] = up
	}
	if !uptimeLine.MatchString(got[consoleHost+".node"]) || got["silent.node"] != "" || got["down.node"] != "" || len(got) != 3 {
		t.Errorf("2.88 detail uptimes %q: %s", got, d.raw)
	}
	// Before 2.88 the views have none.
	if s := e.call("GET", "/v2.1/os-hypervisors/"+n.UUID, nil, "2.87").must(t, http.StatusOK); strings.Contains(s.raw, "uptime") {
		t.Errorf("2.87 show: %s", s.raw)
	}
}
