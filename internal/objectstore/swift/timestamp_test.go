package swift

import "testing"

func TestTimestampForms(t *testing.T) {
	ts, err := ParseTimestamp("1700000000.12345")
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.Normal(); got != "1700000000.12345" {
		t.Errorf("Normal = %q", got)
	}
	ts.Offset = 10
	if got := ts.Internal(); got != "1700000000.12345_000000000000000a" {
		t.Errorf("Internal = %q", got)
	}
	back, err := ParseTimestamp(ts.Internal())
	if err != nil || back != ts {
		t.Errorf("round trip = %v, %v", back, err)
	}
	short, _ := ParseTimestamp("1700000000.1")
	if short.Normal() != "1700000000.10000" {
		t.Errorf("short = %q", short.Normal())
	}
	if !ts.After(short) || short.After(ts) {
		t.Error("order wrong")
	}
	for _, bad := range []string{"", "abc", "-1", "1.x", "1_zz", "99999999999"} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q) accepted", bad)
		}
	}
	if got := ts.HTTPDate(); got != "Tue, 14 Nov 2023 22:13:21 GMT" {
		t.Errorf("HTTPDate = %q", got)
	}
}
