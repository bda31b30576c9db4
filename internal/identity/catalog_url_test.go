package identity

import "testing"

func TestFormatEndpointURL(t *testing.T) {
	subs := catalogSubs("u1", &Project{ID: "p1"})
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"http://h:8080/v1/AUTH_%(project_id)s", "http://h:8080/v1/AUTH_p1", true},
		{"http://h:8776/v3/$(tenant_id)s", "http://h:8776/v3/p1", true},
		{"http://h/%(user_id)s/%(project_id)s", "http://h/u1/p1", true},
		{"http://h:5000/v3", "http://h:5000/v3", true},
		{"http://h/100%/x", "http://h/100%/x", true},
		{"http://h/%(nope)s", "", false},
	} {
		got, ok := formatEndpointURL(c.in, subs)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %q %v, want %q %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if _, ok := formatEndpointURL("http://h/AUTH_%(project_id)s", catalogSubs("u1", nil)); ok {
		t.Error("a project URL was kept for a token without a project")
	}
}
