package fernet

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Payload is what a token says: who, how they authenticated, what scope,
// until when, and the audit chain.
type Payload struct {
	UserID    string
	Methods   []string // names from Methods, e.g. "password", "token"
	ProjectID string   // at most one of ProjectID, DomainID, System is set
	DomainID  string
	System    string    // "all" for system scope
	ExpiresAt time.Time // kept to the microsecond
	AuditIDs  []string  // [own] or [own, parent]; see NewAuditID
	AppCredID string    // application_credential tokens; needs ProjectID
	TrustID   string    // trust-scoped tokens; needs ProjectID, UserID is the trustee
}

// Methods lists the authentication methods a token can record, in the order
// of Keystone's default [auth] methods: method i is bit 1<<i of the payload's
// method mask. Only ever append, since issued tokens carry the bits.
//
//	bit  value  method
//	0    1      external
//	1    2      password
//	2    4      token
//	3    8      oauth1
//	4    16     mapped
//	5    32     application_credential
var Methods = [...]string{
	"external",
	"password",
	"token",
	"oauth1",
	"mapped",
	"application_credential",
}

// Payload versions, the first element of the msgpack array. We reuse
// Keystone's numbers for the kinds we share with it; the layouts match
// Keystone's except that a domain id is always an id pair.
//
//	version  scope                    array after the version
//	0        unscoped                 user, methods, expires, audit_ids
//	1        domain                   user, methods, domain, expires, audit_ids
//	2        project                  user, methods, project, expires, audit_ids
//	3        trust                    user, methods, project, expires, audit_ids, trust
//	8        system                   user, methods, system, expires, audit_ids
//	9        application credential   user, methods, project, expires, audit_ids, app_cred
//
// user, project, domain, trust and app_cred are id pairs: [true, 16 raw bytes] for an
// id that is 32 lowercase hex digits (a UUID's hex form), else [false, string].
// methods is the bit mask of Methods; system is a string ("all"); expires is
// a float64 of seconds since the epoch; audit_ids is an array of one or two
// 16-byte bins.
const (
	versionUnscoped = 0
	versionDomain   = 1
	versionProject  = 2
	versionTrust    = 3
	versionSystem   = 8
	versionAppCred  = 9
)

const (
	maxIDLen     = 255 // longer ids would make tokens too long to be useful
	auditIDBytes = 16
)

// NewAuditID returns a fresh audit id: 16 random bytes in url-safe base64
// without padding, 22 characters, as Keystone makes them.
func NewAuditID() string {
	var b [auditIDBytes]byte
	rand.Read(b[:]) // never fails; see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (p *Payload) version() (int, error) {
	scopes := 0
	for _, s := range []string{p.ProjectID, p.DomainID, p.System} {
		if s != "" {
			scopes++
		}
	}
	switch {
	case scopes > 1:
		return 0, errors.New("more than one scope")
	case p.TrustID != "":
		if p.ProjectID == "" {
			return 0, errors.New("trust token without a project")
		}
		if p.AppCredID != "" {
			return 0, errors.New("trust token with an application credential")
		}
		return versionTrust, nil
	case p.AppCredID != "":
		if p.ProjectID == "" {
			return 0, errors.New("application credential token without a project")
		}
		return versionAppCred, nil
	case p.ProjectID != "":
		return versionProject, nil
	case p.DomainID != "":
		return versionDomain, nil
	case p.System != "":
		if p.System != "all" {
			return 0, fmt.Errorf("system scope %q, want \"all\"", p.System)
		}
		return versionSystem, nil
	}
	return versionUnscoped, nil
}

// Marshal encodes p as a versioned msgpack payload.
func (p Payload) Marshal() ([]byte, error) {
	v, err := p.version()
	if err != nil {
		return nil, fmt.Errorf("marshal token payload: %w", err)
	}
	mask, err := methodMask(p.Methods)
	if err != nil {
		return nil, fmt.Errorf("marshal token payload: %w", err)
	}
	if p.ExpiresAt.IsZero() {
		return nil, errors.New("marshal token payload: no expiry")
	}
	if _, err := floatToTime(timeToFloat(p.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("marshal token payload: %w", err)
	}
	if n := len(p.AuditIDs); n < 1 || n > 2 {
		return nil, fmt.Errorf("marshal token payload: %d audit ids, want 1 or 2", n)
	}
	var audit [2][auditIDBytes]byte
	for i, a := range p.AuditIDs {
		if base64.RawURLEncoding.EncodedLen(auditIDBytes) != len(a) {
			return nil, fmt.Errorf("marshal token payload: audit id %q is not 22 characters", a)
		}
		if _, err := base64.RawURLEncoding.Strict().Decode(audit[i][:], []byte(a)); err != nil {
			return nil, fmt.Errorf("marshal token payload: audit id %q: %w", a, err)
		}
	}

	var buf bytes.Buffer
	buf.Grow(128)
	e := msgpack.NewEncoder(&buf)
	n := 5 // elements after the version; see the table above
	switch v {
	case versionUnscoped:
		n = 4
	case versionAppCred, versionTrust:
		n = 6
	}
	// bytes.Buffer writes cannot fail, and the encoder only fails on writes,
	// so the errors below are nil; check them anyway, it costs nothing.
	err = errors.Join(
		e.EncodeArrayLen(1+n),
		e.EncodeUint(uint64(v)),
		encodeID(e, "user", p.UserID),
		e.EncodeUint(mask),
	)
	switch v {
	case versionProject, versionAppCred, versionTrust:
		err = errors.Join(err, encodeID(e, "project", p.ProjectID))
	case versionDomain:
		err = errors.Join(err, encodeID(e, "domain", p.DomainID))
	case versionSystem:
		err = errors.Join(err, e.EncodeString(p.System))
	}
	err = errors.Join(err,
		e.EncodeFloat64(timeToFloat(p.ExpiresAt)),
		e.EncodeArrayLen(len(p.AuditIDs)),
	)
	for i := range p.AuditIDs {
		err = errors.Join(err, e.EncodeBytes(audit[i][:]))
	}
	if v == versionAppCred {
		err = errors.Join(err, encodeID(e, "application credential", p.AppCredID))
	}
	if v == versionTrust {
		err = errors.Join(err, encodeID(e, "trust", p.TrustID))
	}
	if err != nil {
		return nil, fmt.Errorf("marshal token payload: %w", err)
	}
	return buf.Bytes(), nil
}

func methodMask(methods []string) (uint64, error) {
	var mask uint64
	for _, m := range methods {
		i := slices.Index(Methods[:], m)
		if i < 0 {
			return 0, fmt.Errorf("unknown auth method %q", m)
		}
		mask |= 1 << i
	}
	return mask, nil
}

// hexID reports whether id is what encodeID shrinks to 16 bytes: exactly 32
// lowercase hex digits, the one spelling that decodes back to itself.
// (Keystone's uuid.UUID also takes dashes and capitals, and hands back a
// different string.)
func hexID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func encodeID(e *msgpack.Encoder, what, id string) error {
	if id == "" {
		return fmt.Errorf("empty %s id", what)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%s id longer than %d bytes", what, maxIDLen)
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("%s id is not UTF-8", what)
	}
	if err := e.EncodeArrayLen(2); err != nil {
		return err
	}
	if hexID(id) {
		var b [16]byte
		hex.Decode(b[:], []byte(id))
		return errors.Join(e.EncodeBool(true), e.EncodeBytes(b[:]))
	}
	return errors.Join(e.EncodeBool(false), e.EncodeString(id))
}

// timeToFloat gives Keystone's float seconds, to the microsecond.
func timeToFloat(t time.Time) float64 {
	us := t.UnixMicro()
	return float64(us/1e6) + float64(us%1e6)/1e6
}

// Expiry floats outside these bounds are rejected, keeping the conversion
// exact to the microsecond and far from overflow.
const (
	minExpiry = 0
	maxExpiry = 1 << 40 // some 35,000 years
)

func floatToTime(f float64) (time.Time, error) {
	if math.IsNaN(f) || f < minExpiry || f >= maxExpiry {
		return time.Time{}, fmt.Errorf("expiry %v out of range", f)
	}
	sec := math.Floor(f)
	us := math.Round((f - sec) * 1e6)
	return time.UnixMicro(int64(sec)*1e6 + int64(us)).UTC(), nil
}

// UnmarshalPayload decodes a payload made by Marshal. It is strict: every
// element must have the type and count its version says, and nothing may
// follow the array.
func UnmarshalPayload(b []byte) (Payload, error) {
	p, err := unmarshal(b)
	if err != nil {
		return Payload{}, fmt.Errorf("unmarshal token payload: %w", err)
	}
	return p, nil
}

func unmarshal(b []byte) (Payload, error) {
	r := bytes.NewReader(b)
	d := msgpack.NewDecoder(r)
	var p Payload
	n, err := decodeArrayLen(d)
	if err != nil {
		return p, err
	}
	if n < 1 {
		return p, errors.New("empty array")
	}
	v, err := decodeUint(d)
	if err != nil {
		return p, fmt.Errorf("version: %w", err)
	}
	want := 6
	switch v {
	case versionUnscoped:
		want = 5
	case versionDomain, versionProject, versionSystem:
	case versionAppCred, versionTrust:
		want = 7
	default:
		return p, fmt.Errorf("unknown payload version %d", v)
	}
	if n != want {
		return p, fmt.Errorf("version %d payload has %d elements, want %d", v, n, want)
	}
	if p.UserID, err = decodeID(d); err != nil {
		return p, fmt.Errorf("user id: %w", err)
	}
	mask, err := decodeUint(d)
	if err != nil {
		return p, fmt.Errorf("methods: %w", err)
	}
	if mask >= 1<<len(Methods) {
		return p, fmt.Errorf("unknown auth methods in mask %#x", mask)
	}
	for i, m := range Methods {
		if mask&(1<<i) != 0 {
			p.Methods = append(p.Methods, m)
		}
	}
	switch v {
	case versionProject, versionAppCred, versionTrust:
		if p.ProjectID, err = decodeID(d); err != nil {
			return p, fmt.Errorf("project id: %w", err)
		}
	case versionDomain:
		if p.DomainID, err = decodeID(d); err != nil {
			return p, fmt.Errorf("domain id: %w", err)
		}
	case versionSystem:
		if p.System, err = decodeString(d); err != nil {
			return p, fmt.Errorf("system: %w", err)
		}
		if p.System != "all" {
			return p, fmt.Errorf("system scope %q, want \"all\"", p.System)
		}
	}
	if c, err := d.PeekCode(); err != nil {
		return p, fmt.Errorf("expiry: %w", err)
	} else if c != msgpcode.Double {
		return p, fmt.Errorf("expiry: msgpack code %#x, want float64", c)
	}
	f, err := d.DecodeFloat64()
	if err != nil {
		return p, fmt.Errorf("expiry: %w", err)
	}
	if p.ExpiresAt, err = floatToTime(f); err != nil {
		return p, err
	}
	na, err := decodeArrayLen(d)
	if err != nil {
		return p, fmt.Errorf("audit ids: %w", err)
	}
	if na < 1 || na > 2 {
		return p, fmt.Errorf("%d audit ids, want 1 or 2", na)
	}
	for range na {
		a, err := decodeBin(d)
		if err != nil {
			return p, fmt.Errorf("audit id: %w", err)
		}
		if len(a) != auditIDBytes {
			return p, fmt.Errorf("audit id of %d bytes, want %d", len(a), auditIDBytes)
		}
		p.AuditIDs = append(p.AuditIDs, base64.RawURLEncoding.EncodeToString(a))
	}
	if v == versionAppCred {
		if p.AppCredID, err = decodeID(d); err != nil {
			return p, fmt.Errorf("application credential id: %w", err)
		}
	}
	if v == versionTrust {
		if p.TrustID, err = decodeID(d); err != nil {
			return p, fmt.Errorf("trust id: %w", err)
		}
	}
	if r.Len() != 0 {
		return p, fmt.Errorf("%d bytes after the payload", r.Len())
	}
	return p, nil
}

func peek(d *msgpack.Decoder, ok func(byte) bool, want string) error {
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	if !ok(c) {
		return fmt.Errorf("msgpack code %#x, want %s", c, want)
	}
	return nil
}

func isArray(c byte) bool {
	return msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32
}

func isUint(c byte) bool {
	return c <= msgpcode.PosFixedNumHigh || c == msgpcode.Uint8 || c == msgpcode.Uint16 ||
		c == msgpcode.Uint32 || c == msgpcode.Uint64
}

func decodeArrayLen(d *msgpack.Decoder) (int, error) {
	if err := peek(d, isArray, "array"); err != nil {
		return 0, err
	}
	return d.DecodeArrayLen()
}

func decodeUint(d *msgpack.Decoder) (uint64, error) {
	if err := peek(d, isUint, "unsigned integer"); err != nil {
		return 0, err
	}
	return d.DecodeUint64()
}

func decodeString(d *msgpack.Decoder) (string, error) {
	if err := peek(d, msgpcode.IsString, "string"); err != nil {
		return "", err
	}
	s, err := d.DecodeString()
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(s) {
		return "", errors.New("string is not UTF-8")
	}
	return s, nil
}

func decodeBin(d *msgpack.Decoder) ([]byte, error) {
	if err := peek(d, msgpcode.IsBin, "bin"); err != nil {
		return nil, err
	}
	return d.DecodeBytes()
}

// decodeID reads an id pair written by encodeID, insisting on the one
// encoding encodeID would choose so that each id has a single form.
func decodeID(d *msgpack.Decoder) (string, error) {
	n, err := decodeArrayLen(d)
	if err != nil {
		return "", err
	}
	if n != 2 {
		return "", fmt.Errorf("id pair of %d elements", n)
	}
	if err := peek(d, func(c byte) bool { return c == msgpcode.True || c == msgpcode.False }, "bool"); err != nil {
		return "", err
	}
	packed, err := d.DecodeBool()
	if err != nil {
		return "", err
	}
	if packed {
		b, err := decodeBin(d)
		if err != nil {
			return "", err
		}
		if len(b) != 16 {
			return "", fmt.Errorf("packed id of %d bytes, want 16", len(b))
		}
		return hex.EncodeToString(b), nil
	}
	s, err := decodeString(d)
	if err != nil {
		return "", err
	}
	if s == "" || len(s) > maxIDLen || hexID(s) {
		return "", fmt.Errorf("bad id %q", s)
	}
	return s, nil
}
