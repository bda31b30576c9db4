package fernet

import (
	"crypto/aes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The spec's vectors (github.com/fernet/spec: generate.json, verify.json,
// invalid.json), copied into testdata.
type vector struct {
	Desc   string    `json:"desc"`
	Token  string    `json:"token"`
	Now    time.Time `json:"now"`
	IV     []byte    `json:"-"`
	IVInts []int     `json:"iv"`
	Src    string    `json:"src"`
	Secret string    `json:"secret"`
	TTL    int       `json:"ttl_sec"`
}

func readVectors(t *testing.T, name string) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(vs) == 0 {
		t.Fatalf("%s: no vectors", name)
	}
	return vs
}

// checkAge applies the spec's TTL and clock-skew rules, which Decrypt leaves
// to callers (Keystone tokens carry their own expiry).
func checkAge(issued, now time.Time, ttl time.Duration) error {
	const maxClockSkew = 60 * time.Second
	if issued.Add(ttl).Before(now) {
		return errors.New("expired")
	}
	if now.Add(maxClockSkew).Before(issued) {
		return errors.New("from the future")
	}
	return nil
}

func TestSpecGenerate(t *testing.T) {
	for _, v := range readVectors(t, "generate.json") {
		key, err := ParseKey(v.Secret)
		if err != nil {
			t.Fatal(err)
		}
		if got := key.String(); got != v.Secret {
			t.Errorf("key.String() = %q, want %q", got, v.Secret)
		}
		var iv [aes.BlockSize]byte
		for i, b := range v.IVInts {
			iv[i] = byte(b)
		}
		if got := encrypt(&key, []byte(v.Src), v.Now, iv); got != v.Token {
			t.Errorf("encrypt(%q) = %q, want %q", v.Src, got, v.Token)
		}
	}
}

func TestSpecVerify(t *testing.T) {
	for _, v := range readVectors(t, "verify.json") {
		key, err := ParseKey(v.Secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{v.Token, strings.TrimRight(v.Token, "=")} {
			got, issued, err := Decrypt([]Key{key}, tok)
			if err != nil {
				t.Fatalf("Decrypt(%q): %v", tok, err)
			}
			if string(got) != v.Src {
				t.Errorf("Decrypt(%q) = %q, want %q", tok, got, v.Src)
			}
			if err := checkAge(issued, v.Now, time.Duration(v.TTL)*time.Second); err != nil {
				t.Errorf("issued %v, now %v: %v", issued, v.Now, err)
			}
		}
	}
}

func TestSpecInvalid(t *testing.T) {
	for _, v := range readVectors(t, "invalid.json") {
		t.Run(v.Desc, func(t *testing.T) {
			key, err := ParseKey(v.Secret)
			if err != nil {
				t.Fatal(err)
			}
			_, issued, err := Decrypt([]Key{key}, v.Token)
			if err == nil {
				err = checkAge(issued, v.Now, time.Duration(v.TTL)*time.Second)
			}
			if err == nil {
				t.Fatalf("token %q accepted", v.Token)
			}
		})
	}
}

func mustKey(t testing.TB) Key {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTripAndIssuedAt(t *testing.T) {
	k := mustKey(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 999_999_999, time.UTC)
	for _, msg := range []string{"", "a", strings.Repeat("x", 15), strings.Repeat("y", 16), strings.Repeat("z", 200)} {
		tok, err := Encrypt(k, []byte(msg), now)
		if err != nil {
			t.Fatal(err)
		}
		got, issued, err := Decrypt([]Key{mustKey(t), k}, tok)
		if err != nil {
			t.Fatalf("Decrypt(len %d): %v", len(msg), err)
		}
		if string(got) != msg {
			t.Errorf("Decrypt = %q, want %q", got, msg)
		}
		if want := now.Truncate(time.Second); !issued.Equal(want) {
			t.Errorf("issued = %v, want %v", issued, want)
		}
	}
}

func TestWrongKey(t *testing.T) {
	tok, err := Encrypt(mustKey(t), []byte("hello"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decrypt([]Key{mustKey(t), mustKey(t)}, tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("Decrypt with wrong keys: err = %v, want ErrInvalidToken", err)
	}
	if _, _, err := Decrypt(nil, tok); err == nil {
		t.Fatal("Decrypt with no keys succeeded")
	}
}

func TestTamper(t *testing.T) {
	k := mustKey(t)
	tok, err := Encrypt(k, []byte("some payload bytes"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.URLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	keys := []Key{k}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := append([]byte(nil), raw...)
			b[i] ^= bit
			if _, _, err := Decrypt(keys, base64.URLEncoding.EncodeToString(b)); err == nil {
				t.Errorf("byte %d ^ %#x accepted", i, bit)
			}
		}
	}
	// Every other character at every position, padded and not: trailing
	// bits and padding must be canonical too.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
	for _, s := range []string{tok, strings.TrimRight(tok, "=")} {
		for i := range s {
			for _, c := range alphabet {
				if byte(c) == s[i] {
					continue
				}
				bad := s[:i] + string(c) + s[i+1:]
				if _, _, err := Decrypt(keys, bad); err == nil {
					t.Fatalf("token with %q at %d accepted", c, i)
				}
			}
		}
	}
	// Truncated and extended.
	for _, bad := range []string{tok[:len(tok)-4], tok + "AAAA", "", "=", "gA", tok + tok} {
		if _, _, err := Decrypt(keys, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseKey(t *testing.T) {
	k := mustKey(t)
	for _, s := range []string{k.String(), k.String() + "\n", strings.TrimRight(k.String(), "=")} {
		got, err := ParseKey(s)
		if err != nil || got != k {
			t.Errorf("ParseKey(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "short", strings.Repeat("A", 42) + "B=", k.String() + "AAAA", strings.ReplaceAll(k.String(), "=", "")[:40]} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) succeeded", s)
		}
	}
}
