package fernet

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the FuzzDecode seed tokens in testdata/fuzz/FuzzDecode")

// FuzzDecode feeds arbitrary strings to Parse, both as tokens and, sealed
// under a real key, as payloads, so that the payload decoder behind the
// HMAC gets fuzzed too. Neither may panic, and whatever parses must survive
// a second round trip unchanged.
func FuzzDecode(f *testing.F) {
	c := fixedCodec(f)
	for _, p := range payloadCases() {
		tok, err := c.Issue(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Add("gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==")
	primary := c.keys.Primary()
	f.Fuzz(func(t *testing.T, s string) {
		if p, _, err := c.Parse(s); err == nil {
			reparse(t, c, p)
		}
		tok, err := Encrypt(primary, []byte(s), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if p, _, err := c.Parse(tok); err == nil {
			reparse(t, c, p)
		}
	})
}

func reparse(t *testing.T, c *Codec, p Payload) {
	t.Helper()
	tok, err := c.Issue(p)
	if err != nil {
		t.Fatalf("Issue(%+v) of a parsed payload: %v", p, err)
	}
	got, _, err := c.Parse(tok)
	if err != nil {
		t.Fatalf("Parse of a reissued token: %v", err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Fatalf("reissued payload changed (-want +got):\n%s", diff)
	}
}

// TestWriteFuzzSeeds keeps valid tokens, sealed with testdata/keys, in the
// committed corpus, so that plain `go test` runs them: go test -run
// TestWriteFuzzSeeds -update-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("-update-seeds not set")
	}
	c := fixedCodec(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, p := range payloadCases() {
		tok, err := c.Issue(p)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "token-"+slug(name))
		if err := os.WriteFile(file, fmt.Appendf(nil, "go test fuzz v1\nstring(%q)\n", tok), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func slug(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

// The committed seed tokens still parse with the committed keys.
func TestFuzzSeedTokens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecode", "token-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no seed tokens; run go test -run TestWriteFuzzSeeds -update-seeds")
	}
	c := fixedCodec(t)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var tok string
		if _, err := fmt.Sscanf(string(b), "go test fuzz v1\nstring(%q)\n", &tok); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, _, err := c.Parse(tok); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}
