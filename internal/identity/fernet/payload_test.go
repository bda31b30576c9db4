package fernet

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"
)

const (
	hexUser    = "0123456789abcdef0123456789abcdef"
	hexProject = "fedcba9876543210fedcba9876543210"
	hexDomain  = "00112233445566778899aabbccddeeff"
	hexAppCred = "ffeeddccbbaa99887766554433221100"
)

var expiry = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func payloadCases() map[string]Payload {
	a1, a2 := NewAuditID(), NewAuditID()
	return map[string]Payload{
		"unscoped":            {UserID: hexUser, Methods: []string{"password"}, ExpiresAt: expiry, AuditIDs: []string{a1}},
		"unscoped no methods": {UserID: hexUser, ExpiresAt: expiry, AuditIDs: []string{a1}},
		"project hex": {UserID: hexUser, Methods: []string{"password", "token"}, ProjectID: hexProject,
			ExpiresAt: expiry, AuditIDs: []string{a1, a2}},
		"project non-hex": {UserID: "admin@ldap", Methods: []string{"external"}, ProjectID: "service",
			ExpiresAt: expiry, AuditIDs: []string{a1}},
		"project uppercase hex stays a string": {UserID: strings.ToUpper(hexUser), Methods: []string{"password"},
			ProjectID: "0123456789ABCDEF0123456789ABCDEF", ExpiresAt: expiry, AuditIDs: []string{a1}},
		"project dashed uuid stays a string": {UserID: "01234567-89ab-cdef-0123-456789abcdef", Methods: []string{"password"},
			ProjectID: hexProject, ExpiresAt: expiry, AuditIDs: []string{a1}},
		"domain default":  {UserID: hexUser, Methods: []string{"password"}, DomainID: "default", ExpiresAt: expiry, AuditIDs: []string{a1}},
		"domain hex":      {UserID: hexUser, Methods: []string{"token"}, DomainID: hexDomain, ExpiresAt: expiry, AuditIDs: []string{a1, a2}},
		"system":          {UserID: hexUser, Methods: []string{"password"}, System: "all", ExpiresAt: expiry, AuditIDs: []string{a1}},
		"app cred hex":    {UserID: hexUser, Methods: []string{"application_credential"}, ProjectID: hexProject, AppCredID: hexAppCred, ExpiresAt: expiry, AuditIDs: []string{a1}},
		"app cred string": {UserID: "u", Methods: []string{"token", "application_credential"}, ProjectID: "p", AppCredID: "my-cred", ExpiresAt: expiry, AuditIDs: []string{a1, a2}},
		"trust hex": {UserID: hexUser, Methods: []string{"password"}, ProjectID: hexProject, TrustID: hexAppCred,
			ExpiresAt: expiry, AuditIDs: []string{a1}},
		"trust string": {UserID: "u", Methods: []string{"password", "token"}, ProjectID: "p", TrustID: "t",
			ExpiresAt: expiry, AuditIDs: []string{a1, a2}},
		"all methods": {UserID: hexUser, Methods: Methods[:], ExpiresAt: expiry, AuditIDs: []string{a1}},
		"expiry whole seconds": {UserID: hexUser, Methods: []string{"password"}, ExpiresAt: time.Unix(1700000000, 0).UTC(),
			AuditIDs: []string{a1}},
		"expiry last microsecond": {UserID: hexUser, Methods: []string{"password"}, ExpiresAt: time.Unix(4102444799, 999999000).UTC(),
			AuditIDs: []string{a1}},
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for name, p := range payloadCases() {
		t.Run(name, func(t *testing.T) {
			b, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalPayload(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// Hex ids pack to 16 bytes with the flag set; others stay strings.
func TestPayloadPacksHexIDs(t *testing.T) {
	p := Payload{UserID: hexUser, Methods: []string{"password"}, ProjectID: "service",
		ExpiresAt: expiry, AuditIDs: []string{NewAuditID()}}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var arr []any
	if err := msgpack.Unmarshal(b, &arr); err != nil {
		t.Fatal(err)
	}
	want := []any{int8(versionProject), []any{true, mustHex(hexUser)}, int8(2), []any{false, "service"}}
	if diff := cmp.Diff(want, arr[:4]); diff != "" {
		t.Errorf("payload prefix (-want +got):\n%s", diff)
	}
}

func mustHex(s string) []byte {
	b := make([]byte, 16)
	for i := range b {
		var v byte
		for _, c := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case c >= '0' && c <= '9':
				v |= byte(c - '0')
			default:
				v |= byte(c - 'a' + 10)
			}
		}
		b[i] = v
	}
	return b
}

func TestPayloadMethodOrder(t *testing.T) {
	p := Payload{UserID: "u", Methods: []string{"token", "password", "token"}, ExpiresAt: expiry, AuditIDs: []string{NewAuditID()}}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalPayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"password", "token"}, got.Methods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
}

func TestPayloadMarshalRejects(t *testing.T) {
	ok := Payload{UserID: "u", Methods: []string{"password"}, ExpiresAt: expiry, AuditIDs: []string{NewAuditID()}}
	for name, edit := range map[string]func(*Payload){
		"no user":            func(p *Payload) { p.UserID = "" },
		"long user":          func(p *Payload) { p.UserID = strings.Repeat("u", 256) },
		"bad utf8":           func(p *Payload) { p.UserID = "\xff" },
		"unknown method":     func(p *Payload) { p.Methods = []string{"totp"} },
		"two scopes":         func(p *Payload) { p.ProjectID, p.DomainID = "p", "d" },
		"system and domain":  func(p *Payload) { p.System, p.DomainID = "all", "d" },
		"system not all":     func(p *Payload) { p.System = "some" },
		"app cred unscoped":  func(p *Payload) { p.AppCredID = "c" },
		"app cred domain":    func(p *Payload) { p.AppCredID, p.DomainID = "c", "d" },
		"trust unscoped":     func(p *Payload) { p.TrustID = "t" },
		"trust domain":       func(p *Payload) { p.TrustID, p.DomainID = "t", "d" },
		"trust and app cred": func(p *Payload) { p.TrustID, p.AppCredID, p.ProjectID = "t", "c", "p" },
		"no expiry":          func(p *Payload) { p.ExpiresAt = time.Time{} },
		"expiry before 1970": func(p *Payload) { p.ExpiresAt = time.Unix(-5, 0) },
		"no audit ids":       func(p *Payload) { p.AuditIDs = nil },
		"three audit ids":    func(p *Payload) { p.AuditIDs = []string{NewAuditID(), NewAuditID(), NewAuditID()} },
		"short audit id":     func(p *Payload) { p.AuditIDs = []string{"abc"} },
		"padded audit id":    func(p *Payload) { p.AuditIDs = []string{NewAuditID()[:20] + "=="} },
		"audit id bad bits":  func(p *Payload) { p.AuditIDs = []string{strings.Repeat("A", 21) + "B"} },
	} {
		t.Run(name, func(t *testing.T) {
			p := ok
			edit(&p)
			if b, err := p.Marshal(); err == nil {
				t.Fatalf("Marshal succeeded: %x", b)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, err := payloadCases()["app cred hex"].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v ...any) []byte {
		var buf bytes.Buffer
		e := msgpack.NewEncoder(&buf)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	audit := make([]byte, 16)
	for name, b := range map[string][]byte{
		"empty":          nil,
		"trailing byte":  append(append([]byte(nil), good...), 0),
		"truncated":      good[:len(good)-1],
		"not an array":   {0x00},
		"empty array":    enc(),
		"unknown":        enc(4, []any{false, "u"}, 2, []any{false, "p"}, 1.0, [][]byte{audit}, []byte{1}),
		"trust bin id":   enc(3, []any{false, "u"}, 2, []any{false, "p"}, 1.0, [][]byte{audit}, []byte{1}),
		"trust short":    enc(3, []any{false, "u"}, 2, []any{false, "p"}, 1.0, [][]byte{audit}),
		"short":          enc(0, []any{false, "u"}, 2, 1.0),
		"nil user":       enc(0, nil, 2, 1.0, [][]byte{audit}),
		"hex as string":  enc(0, []any{false, hexUser}, 2, 1.0, [][]byte{audit}),
		"short packed":   enc(0, []any{true, []byte{1, 2}}, 2, 1.0, [][]byte{audit}),
		"string packed":  enc(0, []any{true, "0123456789abcdef"}, 2, 1.0, [][]byte{audit}),
		"unknown method": enc(0, []any{false, "u"}, 64, 1.0, [][]byte{audit}),
		"neg method":     enc(0, []any{false, "u"}, -1, 1.0, [][]byte{audit}),
		"int expiry":     enc(0, []any{false, "u"}, 2, 1, [][]byte{audit}),
		"nan expiry":     enc(0, []any{false, "u"}, 2, nan(), [][]byte{audit}),
		"huge expiry":    enc(0, []any{false, "u"}, 2, 1e300, [][]byte{audit}),
		"neg expiry":     enc(0, []any{false, "u"}, 2, -1.0, [][]byte{audit}),
		"no audit":       enc(0, []any{false, "u"}, 2, 1.0, [][]byte{}),
		"audit len":      enc(0, []any{false, "u"}, 2, 1.0, [][]byte{{1, 2, 3}}),
		"audit string":   enc(0, []any{false, "u"}, 2, 1.0, []string{"0123456789abcdef"}),
		"system other":   enc(8, []any{false, "u"}, 2, "some", 1.0, [][]byte{audit}),
		"bad utf8":       enc(0, []any{false, "\xff"}, 2, 1.0, [][]byte{audit}),
	} {
		t.Run(name, func(t *testing.T) {
			if p, err := UnmarshalPayload(b); err == nil {
				t.Fatalf("UnmarshalPayload(%x) = %+v", b, p)
			}
		})
	}
	// The encoder the tests use agrees with Marshal's layout.
	p, err := UnmarshalPayload(enc(0, []any{false, "u"}, 2, 1.5, [][]byte{audit}))
	if err != nil {
		t.Fatal(err)
	}
	want := Payload{UserID: "u", Methods: []string{"password"}, ExpiresAt: time.Unix(1, 5e8).UTC(),
		AuditIDs: []string{base64.RawURLEncoding.EncodeToString(audit)}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func nan() float64 { var z float64; return z / z }

func TestNewAuditID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		a := NewAuditID()
		if len(a) != 22 || strings.ContainsAny(a, "+/=") {
			t.Fatalf("NewAuditID() = %q", a)
		}
		if seen[a] {
			t.Fatalf("NewAuditID repeated %q", a)
		}
		seen[a] = true
	}
}
