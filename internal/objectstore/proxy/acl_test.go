package proxy

import (
	"slices"
	"testing"
)

func TestCleanACL(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"X-Container-Read", "bob, sue", "bob,sue", ""},
		{"X-Container-Read", "bob , sue", "bob,sue", ""},
		{"X-Container-Read", "bob,,,sue", "bob,sue", ""},
		{"X-Container-Read", ".referrer : *", ".r:*", ""},
		{"X-Container-Read", ".ref:*.example.com", ".r:.example.com", ""},
		{"X-Container-Read", ".r:*, .rlistings", ".r:*,.rlistings", ""},
		{"X-Container-Read", ".r:-thief.com", ".r:-thief.com", ""},
		{"X-Container-Read", "proj:user,*:u2", "proj:user,*:u2", ""},
		{"X-Container-Read", ".r:", "", "No host/domain value after referrer designation in ACL: '.r:'"},
		{"X-Container-Read", ".r:-", "", "No host/domain value after referrer designation in ACL: '.r:-'"},
		{"X-Container-Read", ".x:y", "", "Unknown designator '.x' in ACL: '.x:y'"},
		{"X-Container-Write", ".r:*", "", "Referrers not allowed in write ACL: '.r:*'"},
	} {
		got, err := cleanACL(tc.name, tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("cleanACL(%q, %q) err = %v, want %q", tc.name, tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("cleanACL(%q, %q) = %q, %v; want %q", tc.name, tc.in, got, err, tc.want)
		}
	}
}

func TestParseACLAndReferrers(t *testing.T) {
	refs, groups := parseACL(".r:*,.r:-.thief.com,bobs%20account,sue:sue,.rlistings")
	if !slices.Equal(refs, []string{"*", "-.thief.com"}) || !slices.Equal(groups, []string{"bobs account", "sue:sue", ".rlistings"}) {
		t.Fatalf("parseACL = %q %q", refs, groups)
	}
	for _, tc := range []struct {
		referer string
		acl     []string
		want    bool
	}{
		{"http://www.example.com/page", []string{"*"}, true},
		{"", []string{"*"}, true}, // "unknown" host still matches *
		{"http://www.example.com/", []string{".example.com"}, true},
		{"http://example.org/", []string{".example.com"}, false},
		{"http://thief.example.com/", []string{".example.com", "-thief.example.com"}, false},
		{"http://www.thief.com/", []string{"*", "-.thief.com"}, false},
		{"http://WWW.Example.COM:8080/", []string{"www.example.com"}, true},
		{"http://a.example.com/", nil, false},
	} {
		if got := referrerAllowed(tc.referer, tc.acl); got != tc.want {
			t.Errorf("referrerAllowed(%q, %q) = %v", tc.referer, tc.acl, got)
		}
	}
}

func TestAccountACL(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{`{"admin":["a"],"read-only":["b","c"]}`, ""},
		{``, ""},
		{`{}`, ""},
		{`nonsense`, "Syntax error in input ('nonsense')"},
		{`["admin"]`, `Syntax error in input ('["admin"]')`},
		{`{"owner":["a"]}`, `Key "owner" not recognized`},
		{`{"admin":"a"}`, `Value for key "admin" must be a list`},
		{`{"read-write":[1]}`, `Elements of "read-write" list must be strings`},
	} {
		if got := checkAccountACL(tc.in); got != tc.msg {
			t.Errorf("checkAccountACL(%q) = %q, want %q", tc.in, got, tc.msg)
		}
	}
	if got := formatAccountACL(`{"read-only": ["x"], "admin": ["é<"]}`); got != `{"admin":["\u00e9<"],"read-only":["x"]}` {
		t.Errorf("formatAccountACL = %q", got)
	}
	if got := formatAccountACL(`{}`); got != "" {
		t.Errorf("empty ACL formatted as %q", got)
	}
	a := parseAccountACL(`{"read-write":["p:u"]}`)
	if a == nil || !slices.Equal(a.ReadWrite, []string{"p:u"}) {
		t.Fatalf("parseAccountACL = %+v", a)
	}
	if parseAccountACL(`{"admin":[]}`) != nil || parseAccountACL("garbage") != nil {
		t.Error("an ACL granting nothing parsed as one")
	}
}

func TestPyRepr(t *testing.T) {
	for in, want := range map[string]string{
		"abc":       "'abc'",
		"it's":      `"it's"`,
		`a'b"c`:     `'a\'b"c'`,
		"tab\there": `'tab\there'`,
	} {
		if got := pyRepr(in); got != want {
			t.Errorf("pyRepr(%q) = %s, want %s", in, got, want)
		}
	}
}
