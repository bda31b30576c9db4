package policy

import "testing"

// The wants are Python's str(ast.literal_eval(kind)), as oslo compares.
func TestLiteral(t *testing.T) {
	tests := []struct {
		kind  string
		want  string
		isLit bool
	}{
		{"True", "True", true},
		{"None", "None", true},
		{"'member'", "member", true},
		{`"member"`, "member", true},
		{"1", "1", true},
		{"-1", "-1", true},
		{"+1", "1", true},
		{"00", "0", true},
		{"-0", "0", true},
		{"1.0", "1.0", true},
		{"5.", "5.0", true},
		{".5", "0.5", true},
		{"1e20", "1e+20", true},
		{"1e16", "1e+16", true},
		{"1e15", "1000000000000000.0", true},
		{"1.5e-05", "1.5e-05", true},
		{"0.0001", "0.0001", true},
		{"1e400", "inf", true},
		{"123456789012345678901234567890", "123456789012345678901234567890", true},
		{"+-1", "", false},
		{"abc", "", false},
		{"token.x", "", false},
		{"true", "", false},
	}
	for _, tt := range tests {
		got, isLit, err := literal(tt.kind)
		if err != nil || got != tt.want || isLit != tt.isLit {
			t.Errorf("literal(%q) = %q, %v, %v; want %q, %v", tt.kind, got, isLit, err, tt.want, tt.isLit)
		}
	}
	for _, kind := range []string{"01", "'a'b'", "'a", `'a\'`} {
		if _, _, err := literal(kind); err == nil {
			t.Errorf("literal(%q) succeeded, want an error", kind)
		}
	}
}

func TestPyStr(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{nil, "None"},
		{true, "True"},
		{false, "False"},
		{"s", "s"},
		{3, "3"},
		{int64(-3), "-3"},
		{3.0, "3"}, // JSON numbers arrive as float64 but mean ints
		{0.5, "0.5"},
		{1e22, "1e+22"},
		{[]string{"a", "b"}, "['a', 'b']"},
		{[]any{"a", 1, nil}, "['a', 1, None]"},
	}
	for _, tt := range tests {
		if got := pyStr(tt.v, 0); got != tt.want {
			t.Errorf("pyStr(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestSelfContainingListDoesNotLoop(t *testing.T) {
	l := []any{nil}
	l[0] = l
	e, err := New([]Default{{Name: "x", Check: "a:%(l)s or l:x"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.enforce("x", map[string]any{"l": l}, map[string]any{"a": "x", "l": l}) {
		t.Error("self-containing list matched")
	}
}
