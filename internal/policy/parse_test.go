package policy

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		expr string
		want string // String() of the result
	}{
		{"", "@"},
		{"@", "@"},
		{"!", "!"},
		{"role:admin", "role:admin"},
		{"role:compute:admin", "role:compute:admin"},
		{"a:1 and b:2", "(a:1 and b:2)"},
		{"a:1 or b:2 and c:3", "(a:1 or (b:2 and c:3))"},
		{"a:1 and b:2 or c:3", "((a:1 and b:2) or c:3)"},
		{"a:1 or b:2 and c:3 and d:4 or e:5", "(a:1 or (b:2 and c:3 and d:4) or e:5)"},
		{"not a:1 and b:2", "(not a:1 and b:2)"},
		{"not (a:1 and b:2)", "not (a:1 and b:2)"},
		{"not not a:1", "not not a:1"},
		{"(a:1 or b:2) and c:3", "((a:1 or b:2) and c:3)"},
		{"((((a:1))))", "a:1"},
		{"((a:1 or (b:2 and (c:3 or d:4))))", "(a:1 or (b:2 and (c:3 or d:4)))"},
		{"A:1 AND b:2 Or NOT c:3", "((A:1 and b:2) or not c:3)"},
		{"  a:1\t\nand\u00a0b:2  ", "(a:1 and b:2)"},
		{"project_id:%(project_id)s", "project_id:%(project_id)s"},
		{"(project_id:%(project_id)s)", "project_id:%(project_id)s"},
		{"(a:(x and b:y)", "(a:(x and b:y)"}, // oslo: parens are peeled only off word ends
		{"rule:admin_required or is_admin:True", "(rule:admin_required or is_admin:True)"},
		{"'member':%(target.role.name)s", "'member':%(target.role.name)s"},
		{"None:%(x)s", "None:%(x)s"},
		{"@ and ! or @", "((@ and !) or @)"},
		{"a:100%%", "a:100%%"},
		{SystemReader, "(role:reader and system_scope:all)"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			r, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q) err = %v", tt.expr, err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("Parse(%q) = %s, want %s", tt.expr, got, tt.want)
			}
			again, err := Parse(r.String())
			if err != nil || again.String() != r.String() {
				t.Errorf("Parse(%q) = %v, %v; want it to round-trip", r.String(), again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, expr := range []string{
		" ",
		"admin",
		"role:admin and",
		"and role:admin",
		"role:admin or or role:x",
		"(role:admin",
		"role:admin)",
		"()",
		"not",
		"role:a role:b",
		"a:(x and b:y)",
		"'quoted'",
		`"a:b"`,
		"http://example.com/%(name)s",
		"https:x",
		":x",
		"rule:",
		"role:",
		"a:%(x)d",
		"a:%(x",
		"a:50%",
		"a:%s",
		"'unterminated:x",
		"01:x",
		"(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((a:1",
	} {
		if r, err := Parse(expr); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", expr, r)
		}
	}
}

func TestDeepNestingIsRefused(t *testing.T) {
	expr := ""
	for range maxDepth + 1 {
		expr += "not "
	}
	if _, err := Parse(expr + "a:1"); err == nil {
		t.Errorf("Parse(%d nots) succeeded, want an error", maxDepth+1)
	}
}
