package policy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse checks that no expression panics Parse, and that any that parses
// enforces without panicking and prints back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "@", "!", "role:admin", "not (a:1 or b:2) and c:3", "rule:x",
		"project_id:%(target.project.id)s", "'public':%(visibility)s",
		"True:%(all_tenants)s", "is_admin:1", "a:%%(x)s", "((a:1", "a:(b) or c:d)",
	} {
		f.Add(s)
	}
	targets := []map[string]any{
		nil,
		{"x": "1", "target.project.id": "p", "visibility": "public", "all_tenants": true},
		{"target": map[string]any{"project": map[string]any{"id": []any{"p", nil, 1.5}}}},
	}
	creds := []map[string]any{
		nil,
		{"roles": []string{"admin", "Reader"}, "is_admin": true, "project_id": "p", "a": []any{1, "1", map[string]any{"b": "x"}}},
		{"roles": "admin", "a": map[string]string{"b": "c"}, "token": map[string]any{"is_admin_project": false}},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		r, err := Parse(expr)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", expr, r, err)
		}
		if again.String() != r.String() {
			t.Fatalf("Parse(%q) = %s, which parses to %s", expr, r, again)
		}
		e, err := New([]Default{
			{Name: "x", Check: expr},
			{Name: "y", Check: "not rule:x or rule:y"},
		})
		if err != nil {
			t.Fatalf("New with %q: %v", expr, err)
		}
		for _, target := range targets {
			for _, c := range creds {
				// enforce, not Enforce: a panic must fail the fuzzer, not be
				// swallowed by Enforce's last-resort recover.
				e.enforce("x", target, c)
				e.enforce("y", target, c)
			}
		}
	})
}

// TestKeystoneDefaultsParse parses every check string Keystone ships, kept as
// seeds of FuzzParse.
func TestKeystoneDefaultsParse(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/keystone_*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Keystone seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, arg, _ := strings.Cut(strings.TrimSpace(string(data)), "\nstring(")
		expr, err := strconv.Unquote(strings.TrimSuffix(arg, ")"))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, err := Parse(expr); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}
