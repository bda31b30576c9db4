package objcopy

import "testing"

func TestSplitPathHeader(t *testing.T) {
	for _, tc := range []struct {
		v, c, o string
		ok      bool
	}{
		{"c/o", "c", "o", true},
		{"/c/o/p", "c", "o/p", true},
		{"c%2Fo", "c", "o", true},
		{"/c%20d/caf%C3%A9", "c d", "café", true},
		{"c", "", "", false},
		{"c/", "", "", false},
		{"/c/", "", "", false},
		{"//o", "", "", false},
	} {
		c, o, ok := splitPathHeader(tc.v)
		if ok != tc.ok || ok && (c != tc.c || o != tc.o) {
			t.Errorf("splitPathHeader(%q) = %q, %q, %v", tc.v, c, o, ok)
		}
	}
	for name, msg := range map[string]string{"": "Account name cannot be empty", "a/b": "Account name cannot contain slashes", "AUTH_x": ""} {
		if _, got := checkAccount(name); got != msg {
			t.Errorf("checkAccount(%q) = %q", name, got)
		}
	}
}
