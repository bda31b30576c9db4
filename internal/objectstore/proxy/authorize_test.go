package proxy

import (
	"net/http"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
)

func TestAuthorizeKeystoneRules(t *testing.T) {
	pol := newPolicy(AuthOptions{})
	alice := &authn.Principal{UserID: "u-alice", UserName: "alice", ProjectID: "pa", ProjectName: "proj-a",
		UserDomainID: "default", ProjectDomainID: "default", Roles: []string{"member"}}
	aliceReader := &authn.Principal{UserID: "u-alice", UserName: "alice", ProjectID: "pa", ProjectName: "proj-a",
		Roles: []string{"reader"}}
	bob := &authn.Principal{UserID: "u-bob", UserName: "bob", ProjectID: "pb", ProjectName: "proj-b",
		UserDomainID: "default", ProjectDomainID: "default", Roles: []string{"member"}}
	bobOtherDomain := &authn.Principal{UserID: "u-bob", UserName: "bob", ProjectID: "pb", ProjectName: "proj-b",
		UserDomainID: "d2", ProjectDomainID: "d2", Roles: []string{"member"}}
	admin := &authn.Principal{UserID: "u-op", ProjectID: "service", Roles: []string{"ResellerAdmin"}}

	obj := target{Account: "AUTH_pa", Container: "c", Object: "o"}
	cont := target{Account: "AUTH_pa", Container: "c"}
	acct := target{Account: "AUTH_pa"}
	facts := func(f accountFacts) func() accountFacts { return func() accountFacts { return f } }

	for _, tc := range []struct {
		name   string
		p      *authn.Principal
		c      authCheck
		status int
		owner  bool
	}{
		{"owner reads", alice, authCheck{method: "GET", t: obj}, 0, true},
		{"owner writes", alice, authCheck{method: "PUT", t: cont}, 0, true},
		{"owner cannot delete own account", alice, authCheck{method: "DELETE", t: acct}, 403, false},
		{"other project denied", bob, authCheck{method: "GET", t: obj}, 403, false},
		{"other project denied account", bob, authCheck{method: "GET", t: acct}, 403, false},
		{"anonymous denied", nil, authCheck{method: "GET", t: obj}, 401, false},
		{"anonymous OPTIONS", nil, authCheck{method: "OPTIONS", t: obj}, 0, false},
		{"reseller admin anywhere", admin, authCheck{method: "DELETE", t: obj}, 0, true},
		{"reseller admin other prefix", admin, authCheck{method: "GET", t: target{Account: "SERVICE_x"}}, 0, true},
		{"read ACL project:user ids", bob, authCheck{method: "GET", t: obj, acl: "pb:u-bob"}, 0, false},
		{"read ACL project:*", bob, authCheck{method: "GET", t: obj, acl: "pb:*"}, 0, false},
		{"read ACL *:user", bob, authCheck{method: "GET", t: obj, acl: "*:u-bob"}, 0, false},
		{"read ACL names in default domain", bob, authCheck{method: "GET", t: obj, acl: "proj-b:bob",
			account: facts(accountFacts{exists: true, domainID: "default"})}, 0, false},
		{"read ACL names refused outside default domain", bobOtherDomain, authCheck{method: "GET", t: obj,
			acl: "proj-b:bob", account: facts(accountFacts{exists: true, domainID: "default"})}, 403, false},
		{"read ACL names refused for unknown account domain", bob, authCheck{method: "GET", t: obj,
			acl: "proj-b:bob", account: facts(accountFacts{exists: true, domainID: unknownDomain})}, 403, false},
		{"ACL of another user", bob, authCheck{method: "GET", t: obj, acl: "badtenant:baduser"}, 403, false},
		{"bare project is not a grant", bob, authCheck{method: "GET", t: obj, acl: "pb"}, 403, false},
		{".r:* opens objects to anyone", nil, authCheck{method: "GET", t: obj, acl: ".r:*"}, 0, false},
		{".r:* not listings", nil, authCheck{method: "GET", t: cont, acl: ".r:*"}, 401, false},
		{".r:* with .rlistings", nil, authCheck{method: "GET", t: cont, acl: ".r:*,.rlistings"}, 0, false},
		{".r:* other project no listings", bob, authCheck{method: "GET", t: cont, acl: ".r:*"}, 403, false},
		{"referrer match", nil, authCheck{method: "GET", t: obj, acl: ".r:.example.com",
			referer: "http://www.example.com/x"}, 0, false},
		{"referrer mismatch", nil, authCheck{method: "GET", t: obj, acl: ".r:.example.com",
			referer: "http://evil.org/"}, 401, false},
		{"anonymous outside reseller prefix", nil, authCheck{method: "GET", t: target{Account: "acct", Container: "c", Object: "o"},
			acl: ".r:*"}, 401, false},
		{"role in ACL same project", aliceReader, authCheck{method: "GET", t: obj, acl: "reader"}, 0, false},
		{"reader without ACL", aliceReader, authCheck{method: "GET", t: obj}, 403, false},
		{"account ACL read-only reads", bob, authCheck{method: "GET", t: obj,
			account: facts(accountFacts{exists: true, acl: &accountACL{ReadOnly: []string{"pb:u-bob"}}})}, 0, false},
		{"account ACL read-only no writes", bob, authCheck{method: "PUT", t: obj,
			account: facts(accountFacts{exists: true, acl: &accountACL{ReadOnly: []string{"pb:u-bob"}}})}, 403, false},
		{"account ACL read-write writes objects", bob, authCheck{method: "PUT", t: obj,
			account: facts(accountFacts{exists: true, acl: &accountACL{ReadWrite: []string{"pb"}}})}, 0, false},
		{"account ACL read-write cannot POST account", bob, authCheck{method: "POST", t: acct,
			account: facts(accountFacts{exists: true, acl: &accountACL{ReadWrite: []string{"u-bob"}}})}, 403, false},
		{"account ACL admin is owner", bob, authCheck{method: "POST", t: acct,
			account: facts(accountFacts{exists: true, acl: &accountACL{Admin: []string{"pb:*"}}})}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := pol.authorize(tc.p, tc.c)
			if v.status != tc.status || v.owner != tc.owner {
				t.Fatalf("authorize = %+v, want status %d owner %v", v, tc.status, tc.owner)
			}
		})
	}
}

func TestAuthorizeOperatorRolesAndPrefix(t *testing.T) {
	pol := newPolicy(AuthOptions{ResellerPrefix: "KEY_", OperatorRoles: []string{"swiftoperator"}, ResellerAdminRole: "superuser"})
	member := &authn.Principal{UserID: "u", ProjectID: "p", Roles: []string{"Member"}}
	op := &authn.Principal{UserID: "u", ProjectID: "p", Roles: []string{"SwiftOperator"}}
	t1 := target{Account: "KEY_p", Container: "c"}
	if v := pol.authorize(member, authCheck{method: http.MethodPut, t: t1}); v.status != 403 {
		t.Errorf("member without operator role: %+v", v)
	}
	if v := pol.authorize(op, authCheck{method: http.MethodPut, t: t1}); v.status != 0 || !v.owner {
		t.Errorf("operator (case-insensitive role): %+v", v)
	}
	if v := pol.authorize(op, authCheck{method: http.MethodPut, t: target{Account: "AUTH_p", Container: "c"}}); v.status != 403 {
		t.Errorf("operator on the wrong prefix: %+v", v)
	}
	if v := pol.authorize(&authn.Principal{UserID: "x", Roles: []string{"superuser"}}, authCheck{method: "GET", t: t1}); !v.owner {
		t.Errorf("custom reseller admin role: %+v", v)
	}
}
