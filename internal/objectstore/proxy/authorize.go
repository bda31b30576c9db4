package proxy

import (
	"net/http"
	"slices"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
)

// defaultDomain is Keystone's default domain id; names in ACLs are only
// trusted for users and projects in it, as keystoneauth's
// allow_names_in_acls.
const defaultDomain = "default"

// unknownDomain marks an account created by someone not scoped to its
// project, whose domain is therefore unknown (keystoneauth's UNKNOWN_ID).
const unknownDomain = "_unknown"

// authCheck is one authorization question: may the caller do method on
// the target, given the container ACL that applies (read or write)?
type authCheck struct {
	method  string
	t       target
	referer string
	acl     string
	// account looks up the account's ACL and project domain, only when a
	// rule needs them.
	account func() accountFacts
}

// accountFacts are what the rules need to know of an account.
type accountFacts struct {
	exists   bool
	domainID string // X-Account-Sysmeta-Project-Domain-Id
	acl      *accountACL
}

// verdict is the outcome: status 0 allows (owner tells whether the caller
// is the account's owner, Swift's swift_owner), 401 or 403 denies.
type verdict struct {
	status int
	owner  bool
}

var allowed = verdict{}

// authorize applies keystoneauth's rules, in its order, plus account ACLs
// (tempauth's X-Account-Access-Control, which keystoneauth lacks) for
// callers of other projects.
func (pol *authPolicy) authorize(p *authn.Principal, c authCheck) verdict {
	if c.method == http.MethodOptions {
		return allowed
	}
	if p == nil {
		return pol.authorizeAnonymous(c)
	}
	if p.HasRole(pol.resellerAdmin) {
		return verdict{owner: true}
	}
	if c.t.Container == "" && c.method == http.MethodDelete {
		return verdict{status: http.StatusForbidden}
	}
	referrers, groups := parseACL(c.acl)
	if len(groups) > 0 {
		names := pol.namesAllowed(p, c)
		if crossTenantMatch(p, groups, names) {
			return allowed
		}
	}
	// A referrer ACL lets anyone in; without .rlistings not to listings.
	refDecided, refAllowed := false, false
	if referrerAllowed(c.referer, referrers) {
		refDecided = true
		refAllowed = c.t.Object != "" || slices.Contains(groups, ".rlistings")
		if refAllowed {
			return allowed
		}
	}
	if p.ProjectID == "" || c.t.Account != pol.prefix+p.ProjectID {
		// Someone else's account: only its account ACL can let them in.
		if v, ok := pol.accountACLGrant(p, c); ok {
			return v
		}
		return verdict{status: http.StatusForbidden}
	}
	for _, role := range pol.operatorRoles {
		if p.HasRole(role) {
			return verdict{owner: true}
		}
	}
	if refDecided {
		return verdict{status: http.StatusForbidden}
	}
	// A role of the caller named in the ACL (same project only).
	for _, g := range groups {
		if p.HasRole(g) {
			return allowed
		}
	}
	return verdict{status: http.StatusForbidden}
}

func (pol *authPolicy) authorizeAnonymous(c authCheck) verdict {
	if !strings.HasPrefix(c.t.Account, pol.prefix) {
		return verdict{status: http.StatusUnauthorized}
	}
	referrers, groups := parseACL(c.acl)
	if referrerAllowed(c.referer, referrers) && (c.t.Object != "" || slices.Contains(groups, ".rlistings")) {
		return allowed
	}
	return verdict{status: http.StatusUnauthorized}
}

// namesAllowed tells whether project and user names in ACLs may match this
// caller: only when the caller's user and project are in the default
// domain and so is the account's project (known from the token when it is
// the caller's own, else from the account's sysmeta).
func (pol *authPolicy) namesAllowed(p *authn.Principal, c authCheck) bool {
	if p.UserDomainID != "" && p.UserDomainID != defaultDomain {
		return false
	}
	if p.ProjectDomainID != "" && p.ProjectDomainID != defaultDomain {
		return false
	}
	if p.ProjectID != "" && c.t.Account == pol.prefix+p.ProjectID {
		return true
	}
	if c.account == nil {
		return false
	}
	f := c.account()
	return f.exists && (f.domainID == "" || f.domainID == defaultDomain)
}

// crossTenantMatch finds "project:user" in the grantees, each side the
// caller's id, "*" or (when names are allowed) the caller's name.
func crossTenantMatch(p *authn.Principal, grantees []string, names bool) bool {
	projects := []string{p.ProjectID, "*"}
	users := []string{p.UserID, "*"}
	if names {
		projects = append(projects, p.ProjectName)
		users = append(users, p.UserName)
	}
	for _, g := range grantees {
		proj, user, ok := strings.Cut(g, ":")
		if !ok {
			continue
		}
		if slices.Contains(projects, proj) && slices.Contains(users, user) && proj != "" && user != "" {
			return true
		}
	}
	return false
}

// accountACLGrant applies the account's X-Account-Access-Control. A
// grantee is a "project:user" form as in container ACLs, a project id
// (everyone scoped to it) or a user id.
func (pol *authPolicy) accountACLGrant(p *authn.Principal, c authCheck) (verdict, bool) {
	if c.account == nil {
		return verdict{}, false
	}
	f := c.account()
	if f.acl.empty() {
		return verdict{}, false
	}
	matches := func(list []string) bool {
		if len(list) == 0 {
			return false
		}
		for _, g := range list {
			if g != "" && (g == p.UserID || (p.ProjectID != "" && g == p.ProjectID)) {
				return true
			}
		}
		return crossTenantMatch(p, list, pol.namesAllowed(p, c))
	}
	read := c.method == http.MethodGet || c.method == http.MethodHead
	switch {
	case matches(f.acl.Admin):
		return verdict{owner: true}, true
	case matches(f.acl.ReadWrite) && (c.t.Container != "" || read):
		return allowed, true
	case matches(f.acl.ReadOnly) && read:
		return allowed, true
	}
	return verdict{}, false
}
