package compute

import (
	"context"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// Nova's server addresses API (ips.py): a server's addresses by network
// label. Servers here have no ports until the network service exists, so
// every server has none.

const (
	policyIPsIndex = "os_compute_api:ips:index"
	policyIPsShow  = "os_compute_api:ips:show"
)

var addressPolicies = []policy.Default{
	{Name: policyIPsShow, Check: projectReaderOrAdmin, Description: "Show IP addresses details for a network label of a  server"},
	{Name: policyIPsIndex, Check: projectReaderOrAdmin, Description: "List IP addresses that are assigned to a server"},
}

// address is one entry of a network's list, Nova's {"version", "addr"}.
type address struct {
	Version int    `json:"version"`
	Addr    string `json:"addr"`
}

// ServerAddresses are the addresses of a server the caller may see, by
// network label.
func (s *Service) ServerAddresses(ctx context.Context, p *authn.Principal, uuid, rule string) (map[string][]address, error) {
	inst, err := s.instance(ctx, p, uuid)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(p, rule, map[string]any{"project_id": inst.ProjectID}); err != nil {
		return nil, err
	}
	return map[string][]address{}, nil
}

func (h *handlers) listServerAddresses(w http.ResponseWriter, r *http.Request) error {
	nets, err := h.svc.ServerAddresses(r.Context(), principal(r), r.PathValue("id"), policyIPsIndex)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"addresses": nets})
}

func (h *handlers) showServerAddresses(w http.ResponseWriter, r *http.Request) error {
	nets, err := h.svc.ServerAddresses(r.Context(), principal(r), r.PathValue("id"), policyIPsShow)
	if err != nil {
		return err
	}
	label := r.PathValue("label")
	addrs, ok := nets[label]
	if !ok {
		return fault.NotFoundf("Instance is not a member of specified network")
	}
	return writeJSON(w, http.StatusOK, map[string]any{label: addrs})
}
