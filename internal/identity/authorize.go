package identity

import (
	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

var errNoAuth = fault.Unauthorizedf("The request you have made requires authentication.")

// authorize checks rule for the caller against target, which is placed
// under "target" as Keystone does, with its top-level keys also flat
// (target.domain_id for list filters).
func (s *Service) authorize(p *authn.Principal, rule string, target map[string]any) error {
	if p == nil {
		return errNoAuth
	}
	t := map[string]any{"target": target}
	for k, v := range target {
		t[k] = v
	}
	if !s.policy.Enforce(rule, t, p.Creds()) {
		return fault.Forbiddenf("You are not authorized to perform the requested action: %s.", rule)
	}
	return nil
}
