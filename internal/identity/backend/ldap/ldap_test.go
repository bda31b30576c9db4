package ldap_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend/ldap"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend/ldap/ldaptest"
)

// directory starts slapd with a small organisation:
//
//	alice  Alice         in admins and ops
//	bob    Bob           in admins
//	carol  Carol (ops)*  in no group; her name needs escaping
//	nopw   No Password   has no userPassword
//	groups admins (Admins), ops (Ops), empty (Empty, placeholder member only)
func directory(t *testing.T) *ldaptest.Server {
	t.Helper()
	srv := ldaptest.Start(t)
	srv.AddUser(t, "alice", "Alice", "alice-pw", "alice@example.org")
	srv.AddUser(t, "bob", "Bob", "bob-pw", "")
	srv.AddUser(t, "carol", "Carol (ops)*", "carol-pw", "carol@example.org")
	srv.AddUser(t, "nopw", "No Password", "", "")
	srv.AddGroup(t, "admins", "Admins", "alice", "bob")
	srv.AddGroup(t, "ops", "Ops", "alice")
	srv.AddGroup(t, "empty", "Empty")
	return srv
}

func newDriver(t *testing.T, cfg backend.LDAPConfig) *ldap.Driver {
	t.Helper()
	d, err := ldap.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func userIDs(users []backend.User) []string {
	ids := []string{}
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	slices.Sort(ids)
	return ids
}

func groupIDs(groups []backend.Group) []string {
	ids := []string{}
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	slices.Sort(ids)
	return ids
}

// wantFault checks that err is exactly the fault callers may see.
func wantFault(t *testing.T, what string, err error, kind fault.Kind, msg string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) {
		t.Fatalf("%s: err = %v, want a %v fault %q", what, err, kind, msg)
	}
	if fe.Kind != kind || fe.Msg != msg {
		t.Errorf("%s: fault = (kind %v, %q), want (kind %v, %q)", what, fe.Kind, fe.Msg, kind, msg)
	}
}

func TestReadUsersAndGroups(t *testing.T) {
	t.Parallel()
	srv := directory(t)
	d := newDriver(t, srv.Config())
	ctx := t.Context()

	t.Run("GetUser", func(t *testing.T) {
		got, err := d.GetUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		want := &backend.User{ID: "alice", Name: "Alice", Email: "alice@example.org", Enabled: true}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetUser(alice) -want +got:\n%s", diff)
		}
		_, err = d.GetUser(ctx, "nobody")
		wantFault(t, "GetUser(nobody)", err, fault.NotFound, "Could not find user: nobody.")
		_, err = d.GetUser(ctx, "")
		wantFault(t, "GetUser(\"\")", err, fault.NotFound, "Could not find user: .")
	})

	t.Run("GetUserByName", func(t *testing.T) {
		for _, tc := range []struct{ name, wantID string }{
			{"Alice", "alice"},
			{"alice", "alice"}, // sn matches case-blind, as in the directory
			{"Carol (ops)*", "carol"},
			{"No Password", "nopw"},
		} {
			got, err := d.GetUserByName(ctx, tc.name)
			if err != nil {
				t.Errorf("GetUserByName(%q): %v", tc.name, err)
				continue
			}
			if got.ID != tc.wantID {
				t.Errorf("GetUserByName(%q).ID = %q, want %q", tc.name, got.ID, tc.wantID)
			}
		}
		_, err := d.GetUserByName(ctx, "Nobody")
		wantFault(t, "GetUserByName(Nobody)", err, fault.NotFound, "Could not find user: Nobody.")
	})

	t.Run("ListUsers", func(t *testing.T) {
		yes, no := true, false
		for _, tc := range []struct {
			f    backend.Filter
			want []string
		}{
			{backend.Filter{}, []string{"alice", "bob", "carol", "nopw"}},
			{backend.Filter{Name: "Bob"}, []string{"bob"}},
			{backend.Filter{Name: "Carol (ops)*"}, []string{"carol"}},
			{backend.Filter{Name: "Nobody"}, []string{}},
			{backend.Filter{Enabled: &yes}, []string{"alice", "bob", "carol", "nopw"}},
			{backend.Filter{Enabled: &no}, []string{}},
		} {
			users, err := d.ListUsers(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListUsers(%+v): %v", tc.f, err)
			}
			if diff := cmp.Diff(tc.want, userIDs(users)); diff != "" {
				t.Errorf("ListUsers(%+v) -want +got:\n%s", tc.f, diff)
			}
		}
	})

	t.Run("Groups", func(t *testing.T) {
		got, err := d.GetGroup(ctx, "admins")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&backend.Group{ID: "admins", Name: "Admins"}, got); diff != "" {
			t.Errorf("GetGroup(admins) -want +got:\n%s", diff)
		}
		got, err = d.GetGroupByName(ctx, "Ops")
		if err != nil || got.ID != "ops" {
			t.Errorf("GetGroupByName(Ops) = %+v, %v; want ops", got, err)
		}
		_, err = d.GetGroup(ctx, "nogroup")
		wantFault(t, "GetGroup(nogroup)", err, fault.NotFound, "Could not find group: nogroup.")
		_, err = d.GetGroupByName(ctx, "No Group")
		wantFault(t, "GetGroupByName(No Group)", err, fault.NotFound, "Could not find group: No Group.")

		all, err := d.ListGroups(ctx, backend.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"admins", "empty", "ops"}, groupIDs(all)); diff != "" {
			t.Errorf("ListGroups() -want +got:\n%s", diff)
		}
		named, err := d.ListGroups(ctx, backend.Filter{Name: "Empty"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"empty"}, groupIDs(named)); diff != "" {
			t.Errorf("ListGroups(Name: Empty) -want +got:\n%s", diff)
		}
	})

	t.Run("GroupsForUser", func(t *testing.T) {
		for user, want := range map[string][]string{
			"alice": {"admins", "ops"},
			"bob":   {"admins"},
			"carol": {},
		} {
			groups, err := d.ListGroupsForUser(ctx, user)
			if err != nil {
				t.Fatalf("ListGroupsForUser(%s): %v", user, err)
			}
			if diff := cmp.Diff(want, groupIDs(groups)); diff != "" {
				t.Errorf("ListGroupsForUser(%s) -want +got:\n%s", user, diff)
			}
		}
		_, err := d.ListGroupsForUser(ctx, "nobody")
		wantFault(t, "ListGroupsForUser(nobody)", err, fault.NotFound, "Could not find user: nobody.")
	})

	t.Run("UsersInGroup", func(t *testing.T) {
		for group, want := range map[string][]string{
			"admins": {"alice", "bob"},
			"ops":    {"alice"},
			"empty":  {},
		} {
			users, err := d.ListUsersInGroup(ctx, group)
			if err != nil {
				t.Fatalf("ListUsersInGroup(%s): %v", group, err)
			}
			if diff := cmp.Diff(want, userIDs(users)); diff != "" {
				t.Errorf("ListUsersInGroup(%s) -want +got:\n%s", group, diff)
			}
		}
		_, err := d.ListUsersInGroup(ctx, "nogroup")
		wantFault(t, "ListUsersInGroup(nogroup)", err, fault.NotFound, "Could not find group: nogroup.")
	})

	t.Run("IsUserInGroup", func(t *testing.T) {
		for _, tc := range []struct {
			user, group string
			want        bool
		}{
			{"alice", "admins", true},
			{"alice", "ops", true},
			{"bob", "ops", false},
			{"carol", "empty", false},
		} {
			got, err := d.IsUserInGroup(ctx, tc.user, tc.group)
			if err != nil || got != tc.want {
				t.Errorf("IsUserInGroup(%s, %s) = %v, %v; want %v", tc.user, tc.group, got, err, tc.want)
			}
		}
		_, err := d.IsUserInGroup(ctx, "nobody", "admins")
		wantFault(t, "IsUserInGroup(nobody, admins)", err, fault.NotFound, "Could not find user: nobody.")
		_, err = d.IsUserInGroup(ctx, "alice", "nogroup")
		wantFault(t, "IsUserInGroup(alice, nogroup)", err, fault.NotFound, "Could not find group: nogroup.")
	})

	// Values that would widen the filter if spliced in raw must match
	// nothing (or only the entry whose value they literally are).
	t.Run("FilterInjection", func(t *testing.T) {
		for _, evil := range []string{"*", "A*", "*)(cn=*", "Alice)(|(sn=*", "Alice\\2a", "\x00", "*)(objectClass=*))(|(cn="} {
			users, err := d.ListUsers(ctx, backend.Filter{Name: evil})
			if err != nil {
				t.Errorf("ListUsers(Name: %q): %v", evil, err)
			} else if len(users) != 0 {
				t.Errorf("ListUsers(Name: %q) = %v, want none", evil, userIDs(users))
			}
			if u, err := d.GetUserByName(ctx, evil); !fault.Is(err, fault.NotFound) {
				t.Errorf("GetUserByName(%q) = %+v, %v; want NotFound", evil, u, err)
			}
			if u, err := d.GetUser(ctx, evil); !fault.Is(err, fault.NotFound) {
				t.Errorf("GetUser(%q) = %+v, %v; want NotFound", evil, u, err)
			}
			if g, err := d.GetGroupByName(ctx, evil); !fault.Is(err, fault.NotFound) {
				t.Errorf("GetGroupByName(%q) = %+v, %v; want NotFound", evil, g, err)
			}
			groups, err := d.ListGroups(ctx, backend.Filter{Name: evil})
			if err != nil || len(groups) != 0 {
				t.Errorf("ListGroups(Name: %q) = %v, %v; want none", evil, groupIDs(groups), err)
			}
			if err := d.Authenticate(ctx, evil, "alice-pw"); !fault.Is(err, fault.Unauthorized) {
				t.Errorf("Authenticate(%q, alice's password) = %v, want Unauthorized", evil, err)
			}
		}
	})
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	srv := directory(t)
	const msg = "The request you have made requires authentication."

	for name, cfg := range map[string]backend.LDAPConfig{
		"service account": srv.Config(),
		"anonymous":       {URL: srv.URL, Suffix: srv.Suffix},
	} {
		t.Run(name, func(t *testing.T) {
			d := newDriver(t, cfg)
			if err := d.Authenticate(t.Context(), "alice", "alice-pw"); err != nil {
				t.Errorf("Authenticate(alice, right password) = %v, want nil", err)
			}
			if err := d.Authenticate(t.Context(), "carol", "carol-pw"); err != nil {
				t.Errorf("Authenticate(carol, right password) = %v, want nil", err)
			}
			for _, tc := range []struct{ what, user, password string }{
				{"wrong password", "alice", "bob-pw"},
				{"password differing in case", "alice", "ALICE-PW"},
				{"empty password", "alice", ""},
				{"unknown user", "nobody", "alice-pw"},
				{"unknown user, empty password", "nobody", ""},
				{"empty user ID", "", "alice-pw"},
				{"user without a password", "nopw", "anything"},
				{"user without a password, empty password", "nopw", ""},
			} {
				err := d.Authenticate(t.Context(), tc.user, tc.password)
				wantFault(t, tc.what, err, fault.Unauthorized, msg)
				// Nothing behind the message may tell the cases apart.
				if err != nil && err.Error() != msg {
					t.Errorf("%s: err = %q, want exactly %q", tc.what, err, msg)
				}
			}
		})
	}
}

func TestEnabled(t *testing.T) {
	t.Parallel()
	srv := ldaptest.Start(t)
	for _, u := range []struct {
		id, uac, enabled string
	}{
		{"normal", "512", "TRUE"},
		{"disabled", "514", "FALSE"},
		{"locked-and-disabled", "530", ""},
		{"unset", "", ""},
	} {
		srv.AddUser(t, u.id, u.id, u.id+"-pw", "")
		if u.uac != "" {
			srv.SetUserAttr(t, u.id, "userAccountControl", u.uac)
		}
		if u.enabled != "" {
			srv.SetUserAttr(t, u.id, "enabled", u.enabled)
		}
	}

	for _, tc := range []struct {
		name    string
		attr    string
		mask    int
		invert  bool
		def     string
		enabled []string // users that are enabled; the rest are not
	}{
		{"no attribute configured", "", 0, false, "", []string{"disabled", "locked-and-disabled", "normal", "unset"}},
		{"mask 2", "userAccountControl", 2, false, "512", []string{"normal", "unset"}},
		{"mask 2, default disabled", "userAccountControl", 2, false, "514", []string{"normal"}},
		{"mask 16", "userAccountControl", 16, false, "512", []string{"disabled", "normal", "unset"}},
		{"boolean", "enabled", 0, false, "", []string{"locked-and-disabled", "normal", "unset"}}, // default True
		{"boolean, default false", "enabled", 0, false, "False", []string{"normal"}},
		{"boolean inverted", "enabled", 0, true, "False", []string{"disabled", "locked-and-disabled", "unset"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.Config()
			cfg.UserEnabledAttribute = tc.attr
			cfg.UserEnabledMask = tc.mask
			cfg.UserEnabledInvert = tc.invert
			cfg.UserEnabledDefault = tc.def
			d := newDriver(t, cfg)

			yes, no := true, false
			on, err := d.ListUsers(t.Context(), backend.Filter{Enabled: &yes})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.enabled, userIDs(on)); diff != "" {
				t.Errorf("enabled users -want +got:\n%s", diff)
			}
			off, err := d.ListUsers(t.Context(), backend.Filter{Enabled: &no})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range off {
				if slices.Contains(tc.enabled, u.ID) {
					t.Errorf("%s listed as disabled", u.ID)
				}
			}
			if len(on)+len(off) != 4 {
				t.Errorf("%d enabled + %d disabled users, want 4 in all", len(on), len(off))
			}
			for _, id := range []string{"normal", "disabled"} {
				u, err := d.GetUser(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if want := slices.Contains(tc.enabled, id); u.Enabled != want {
					t.Errorf("GetUser(%s).Enabled = %v, want %v", id, u.Enabled, want)
				}
			}
		})
	}
}

// The options that change where and how the driver looks.
func TestSearchOptions(t *testing.T) {
	t.Parallel()
	srv := directory(t)
	nested := "ou=Contractors," + srv.UserTreeDN
	srv.Add(t, nested, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"Contractors"}})
	srv.Add(t, "cn=dave,"+nested, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "cn": {"dave"}, "sn": {"Dave"},
	})
	// Keystone skips entries without a name.
	srv.Add(t, "cn=nameless,"+srv.UserTreeDN, map[string][]string{
		"objectClass": {"inetOrgPerson"}, "cn": {"nameless"}, "sn": {" "},
	})

	for _, tc := range []struct {
		name  string
		edit  func(*backend.LDAPConfig)
		users []string
	}{
		{"defaults", func(*backend.LDAPConfig) {}, []string{"alice", "bob", "carol", "nopw"}},
		{"scope sub", func(c *backend.LDAPConfig) { c.QueryScope = "sub" }, []string{"alice", "bob", "carol", "dave", "nopw"}},
		{"paged", func(c *backend.LDAPConfig) { c.PageSize = 1 }, []string{"alice", "bob", "carol", "nopw"}},
		{"user filter", func(c *backend.LDAPConfig) { c.UserFilter = "(mail=*)" }, []string{"alice", "carol"}},
		{"user filter without parentheses", func(c *backend.LDAPConfig) { c.UserFilter = "mail=*" }, []string{"alice", "carol"}},
		{"explicit tree", func(c *backend.LDAPConfig) { c.Suffix, c.UserTreeDN, c.GroupTreeDN = "", nested, srv.GroupTreeDN }, []string{"dave"}},
		{"missing tree", func(c *backend.LDAPConfig) { c.UserTreeDN = "ou=Gone," + srv.Suffix }, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.Config()
			tc.edit(&cfg)
			d := newDriver(t, cfg)
			users, err := d.ListUsers(t.Context(), backend.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.users, userIDs(users)); diff != "" {
				t.Errorf("ListUsers -want +got:\n%s", diff)
			}
		})
	}

	t.Run("group filter", func(t *testing.T) {
		cfg := srv.Config()
		cfg.GroupFilter = "(!(ou=Ops))"
		d := newDriver(t, cfg)
		groups, err := d.ListGroupsForUser(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"admins"}, groupIDs(groups)); diff != "" {
			t.Errorf("ListGroupsForUser(alice) -want +got:\n%s", diff)
		}
		if _, err := d.GetGroup(t.Context(), "ops"); !fault.Is(err, fault.NotFound) {
			t.Errorf("GetGroup(ops) err = %v, want NotFound", err)
		}
	})

	// With an ID attribute that is not the RDN, members' IDs are read
	// from their entries, and members without one are skipped.
	t.Run("id attribute not in DN", func(t *testing.T) {
		cfg := srv.Config()
		cfg.UserIDAttribute = "mail"
		d := newDriver(t, cfg)
		users, err := d.ListUsersInGroup(t.Context(), "admins")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"alice@example.org"}, userIDs(users)); diff != "" {
			t.Errorf("ListUsersInGroup(admins) -want +got:\n%s", diff)
		}
		if err := d.Authenticate(t.Context(), "alice@example.org", "alice-pw"); err != nil {
			t.Errorf("Authenticate(alice@example.org) = %v", err)
		}
		in, err := d.IsUserInGroup(t.Context(), "alice@example.org", "ops")
		if err != nil || !in {
			t.Errorf("IsUserInGroup(alice@example.org, ops) = %v, %v; want true", in, err)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := directory(t)
	d := newDriver(t, srv.Config())
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			id := []string{"alice", "bob", "carol", "nopw"}[i%4]
			if _, err := d.GetUser(t.Context(), id); err != nil {
				errs <- err
			}
			if _, err := d.ListGroupsForUser(t.Context(), id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// When the directory goes away the driver returns errors that become 500s,
// never NotFound or Unauthorized, and comes back when the directory does.
func TestServerDown(t *testing.T) {
	t.Parallel()
	srv := directory(t)
	cfg := srv.Config()
	cfg.Timeout = time.Second
	d := newDriver(t, cfg)
	ctx := t.Context()

	if _, err := d.GetUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	checkInternal := func(what string, err error) {
		t.Helper()
		if err == nil || fault.KindOf(err) != fault.Internal {
			t.Errorf("%s with slapd down: err = %v, want an internal error", what, err)
		}
	}
	start := time.Now()
	_, err := d.GetUser(ctx, "alice")
	checkInternal("GetUser", err)
	_, err = d.ListUsers(ctx, backend.Filter{})
	checkInternal("ListUsers", err)
	_, err = d.ListUsersInGroup(ctx, "admins")
	checkInternal("ListUsersInGroup", err)
	checkInternal("Authenticate", d.Authenticate(ctx, "alice", "alice-pw"))
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("failing calls took %v", elapsed)
	}

	srv.Restart(t)
	if _, err := d.GetUser(ctx, "alice"); err != nil {
		t.Errorf("GetUser after slapd restarted: %v", err)
	}
	if err := d.Authenticate(ctx, "alice", "alice-pw"); err != nil {
		t.Errorf("Authenticate after slapd restarted: %v", err)
	}
}

// A server that accepts connections but never answers must not hang
// callers past the timeout.
func TestServerHangs(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	d := newDriver(t, backend.LDAPConfig{
		URL:      "ldap://" + l.Addr().String(),
		User:     "cn=admin,dc=example,dc=org",
		Password: "secret",
		Suffix:   "dc=example,dc=org",
		Timeout:  300 * time.Millisecond,
	})
	start := time.Now()
	_, err = d.GetUser(t.Context(), "alice")
	if err == nil || fault.KindOf(err) != fault.Internal {
		t.Errorf("GetUser against a silent server: err = %v, want an internal error", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("GetUser took %v with a 300ms timeout", elapsed)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens here now

	d := newDriver(t, backend.LDAPConfig{URL: "ldap://" + addr, Suffix: "dc=example,dc=org", Timeout: time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := d.ListGroups(ctx, backend.Filter{}); err == nil || fault.KindOf(err) != fault.Internal {
		t.Errorf("ListGroups: err = %v, want an internal error", err)
	}
	if err := d.Authenticate(ctx, "alice", "pw"); err == nil || fault.KindOf(err) != fault.Internal {
		t.Errorf("Authenticate: err = %v, want an internal error", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ok := backend.LDAPConfig{URL: "ldap://127.0.0.1:1", Suffix: "dc=example,dc=org"}
	if _, err := ldap.New(ok); err != nil {
		t.Fatalf("New(%+v): %v", ok, err)
	}
	for name, edit := range map[string]func(*backend.LDAPConfig){
		"no URL":               func(c *backend.LDAPConfig) { c.URL = "" },
		"no suffix or trees":   func(c *backend.LDAPConfig) { c.Suffix = "" },
		"bad scope":            func(c *backend.LDAPConfig) { c.QueryScope = "base" },
		"bad user filter":      func(c *backend.LDAPConfig) { c.UserFilter = "(mail=*" },
		"bad group filter":     func(c *backend.LDAPConfig) { c.GroupFilter = "(&(ou=a)" },
		"bad tree DN":          func(c *backend.LDAPConfig) { c.UserTreeDN = "not a dn" },
		"filter in attribute":  func(c *backend.LDAPConfig) { c.UserNameAttribute = "sn)(cn=*" },
		"filter in class":      func(c *backend.LDAPConfig) { c.UserObjectClass = "*" },
		"negative page size":   func(c *backend.LDAPConfig) { c.PageSize = -1 },
		"bad enabled attribut": func(c *backend.LDAPConfig) { c.UserEnabledAttribute = "a b" },
	} {
		cfg := ok
		edit(&cfg)
		if _, err := ldap.New(cfg); err == nil {
			t.Errorf("New with %s: err = nil, want an error", name)
		}
	}
}
