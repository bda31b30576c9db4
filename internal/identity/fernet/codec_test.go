package fernet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newCodec(t testing.TB, dir string) *Codec {
	t.Helper()
	c, err := NewCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCodecRoundTrip(t *testing.T) {
	c := newCodec(t, setup(t))
	now := time.Date(2029, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	c.now = func() time.Time { return now }
	for name, p := range payloadCases() {
		t.Run(name, func(t *testing.T) {
			tok, err := c.Issue(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(tok, "=+/") {
				t.Errorf("token %q is not unpadded url-safe base64", tok)
			}
			got, issued, err := c.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if want := now.Truncate(time.Second); !issued.Equal(want) {
				t.Errorf("issued at %v, want %v", issued, want)
			}
		})
	}
}

// Common tokens stay under the 255 characters that stores often allow.
func TestCodecTokenLength(t *testing.T) {
	c := newCodec(t, setup(t))
	for name, p := range payloadCases() {
		tok, err := c.Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d characters", name, len(tok))
		if len(tok) > 255 {
			t.Errorf("%s: token of %d characters", name, len(tok))
		}
	}
	p := payloadCases()["project hex"]
	tok, err := c.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > 210 {
		t.Errorf("project-scoped token with a parent audit id: %d characters, want at most 210", len(tok))
	}
}

func TestCodecTamper(t *testing.T) {
	c := newCodec(t, setup(t))
	tok, err := c.Issue(payloadCases()["project hex"])
	if err != nil {
		t.Fatal(err)
	}
	for i := range tok {
		bad := []byte(tok)
		if bad[i] == 'A' {
			bad[i] = 'B'
		} else {
			bad[i] = 'A'
		}
		if _, _, err := c.Parse(string(bad)); err == nil {
			t.Errorf("token changed at %d accepted", i)
		}
	}
	// Keystone restores padding; a padded token is the same token.
	if _, _, err := c.Parse(tok + strings.Repeat("=", (4-len(tok)%4)%4)); err != nil {
		t.Errorf("padded token: %v", err)
	}
}

func TestCodecOtherRepository(t *testing.T) {
	tok, err := newCodec(t, setup(t)).Issue(payloadCases()["unscoped"])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newCodec(t, setup(t)).Parse(tok); err == nil {
		t.Fatal("token from another key repository accepted")
	}
}

func TestCodecRotation(t *testing.T) {
	dir := setup(t)
	c := newCodec(t, dir)
	p := payloadCases()["project hex"]
	tok1, err := c.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	tok2, err := c.Issue(p)
	if err != nil {
		t.Fatal(err)
	}
	// tok2 is sealed with key 2, the old staged key, which a node that has
	// not reloaded still reads.
	stale, err := NewCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{tok1, tok2} {
		if _, _, err := stale.Parse(tok); err != nil {
			t.Errorf("Parse after one rotation: %v", err)
		}
	}
	// Two more rotations keeping four keys leave 0, 2, 3, 4: key 1 is gone.
	for range 2 {
		if err := Rotate(dir, 4); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Parse(tok1); err == nil {
		t.Error("token from a rotated-out key accepted")
	}
	if _, _, err := c.Parse(tok2); err != nil {
		t.Errorf("token from a secondary key: %v", err)
	}
}

// Issue and Parse notice a rotation by themselves, within a second.
func TestCodecAutoReload(t *testing.T) {
	dir := setup(t)
	c := newCodec(t, dir)
	now := time.Now()
	c.now = func() time.Time { return now }
	first := c.keys.Primary()
	if err := Rotate(dir, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Issue(payloadCases()["unscoped"]); err != nil {
		t.Fatal(err)
	}
	if c.keys.Primary() != first {
		t.Fatal("reloaded within the same second")
	}
	now = now.Add(2 * time.Second)
	tok, err := c.Issue(payloadCases()["unscoped"])
	if err != nil {
		t.Fatal(err)
	}
	if c.keys.Primary() == first {
		t.Fatal("did not reload after a second")
	}
	if _, _, err := newCodec(t, dir).Parse(tok); err != nil {
		t.Fatal(err)
	}
}

func TestNewCodecErrors(t *testing.T) {
	if _, err := NewCodec(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("NewCodec of a missing directory succeeded")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCodec(f); err == nil {
		t.Error("NewCodec of a file succeeded")
	}
}

// fixedCodec reads the committed test keys in testdata/keys, so that the
// fuzz corpus can hold valid tokens.
func fixedCodec(t testing.TB) *Codec {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"0", "1", "2"} {
		b, err := os.ReadFile(filepath.Join("testdata", "keys", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return newCodec(t, dir)
}

func BenchmarkIssue(b *testing.B) {
	c := newCodec(b, setupB(b))
	p := payloadCases()["project hex"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Issue(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	c := newCodec(b, setupB(b))
	tok, err := c.Issue(payloadCases()["project hex"])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func setupB(b *testing.B) string {
	dir := filepath.Join(b.TempDir(), "keys")
	if err := Setup(dir); err != nil {
		b.Fatal(err)
	}
	return dir
}
