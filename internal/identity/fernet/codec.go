package fernet

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// reloadEvery bounds how often a Codec looks at its key directory.
const reloadEvery = time.Second

// Codec issues and parses tokens with the keys of one repository, picking
// up rotations made by Rotate or copied in from another node. It is safe for
// concurrent use.
type Codec struct {
	keys       *Keyring
	now        func() time.Time
	lastReload atomic.Int64 // unix nanoseconds of the last look at the directory
}

// NewCodec loads the key repository in keysDir, which Setup must have made.
func NewCodec(keysDir string) (*Codec, error) {
	kr, err := NewKeyring(keysDir)
	if err != nil {
		return nil, err
	}
	c := &Codec{keys: kr, now: time.Now}
	c.lastReload.Store(c.now().UnixNano())
	return c, nil
}

// Reload rereads the keys now if the directory changed. Issue and Parse do
// this on their own at most once a second; call Reload after a rotation to
// see it at once, or to learn why reloading fails.
func (c *Codec) Reload() error {
	c.lastReload.Store(c.now().UnixNano())
	return c.keys.Reload()
}

func (c *Codec) maybeReload(now time.Time) {
	last := c.lastReload.Load()
	if now.UnixNano()-last < int64(reloadEvery) || !c.lastReload.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	// A failed reload keeps the keys in use: a directory caught halfway
	// through a copy should not stop tokens. Reload reports the error.
	_ = c.keys.Reload()
}

// Issue seals p under the primary key and returns the token, url-safe base64
// without padding as Keystone hands them out.
func (c *Codec) Issue(p Payload) (string, error) {
	b, err := p.Marshal()
	if err != nil {
		return "", err
	}
	now := c.now()
	c.maybeReload(now)
	tok, err := Encrypt(c.keys.Primary(), b, now)
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return strings.TrimRight(tok, "="), nil
}

// Parse opens a token made by Issue with any key in the repository and
// returns its payload and when it was issued (whole seconds, from the Fernet
// header). It does not check expiry or revocation; that is the caller's,
// who compares ExpiresAt with the clock and revocations with the audit ids
// and the issue time. Because the issue time has whole seconds, a check
// "revoked if issued at or before T" must treat the whole second of T as
// revoked, as Keystone does.
func (c *Codec) Parse(token string) (Payload, time.Time, error) {
	c.maybeReload(c.now())
	b, issued, err := Decrypt(c.keys.All(), token)
	if err != nil {
		return Payload{}, time.Time{}, fmt.Errorf("parse token: %w", err)
	}
	p, err := UnmarshalPayload(b)
	if err != nil {
		// Sealed with our key yet unreadable: a payload version we do not
		// know, from a newer release sharing the keys.
		return Payload{}, time.Time{}, fmt.Errorf("parse token: %w", err)
	}
	return p, issued, nil
}
