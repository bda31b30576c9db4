// Package fernet issues and reads Keystone-style Fernet tokens: a versioned
// msgpack payload (payload.go) sealed with the Fernet format
// (https://github.com/fernet/spec) under keys kept in a Keystone-layout key
// repository (keys.go) that operators rotate and copy between nodes.
//
// Nothing here is stored: a token carries everything needed to validate it,
// so any node holding the same key repository can parse any other node's
// tokens.
package fernet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Key is a Fernet key: the first 16 bytes sign, the last 16 encrypt.
type Key [32]byte

// ErrInvalidToken is wrapped by every error Decrypt returns for a token that
// is malformed, was sealed with none of the keys, or was altered.
var ErrInvalidToken = errors.New("invalid fernet token")

const (
	version   = 0x80
	headerLen = 1 + 8 + aes.BlockSize // version, timestamp, IV
	macLen    = sha256.Size
	// minLen is a token with one block of ciphertext: PKCS7 always pads,
	// so even an empty message takes a block.
	minLen = headerLen + aes.BlockSize + macLen

	// MaxTokenLen bounds the encoded tokens Decrypt will look at, so that
	// a hostile header costs no more than a few HMAC blocks. Our tokens
	// are around 200 characters.
	MaxTokenLen = 4096
)

// GenerateKey returns a new random key.
func GenerateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generate fernet key: %w", err)
	}
	return k, nil
}

// ParseKey decodes a key in the spec's form, 32 bytes in url-safe base64
// (44 characters with padding, as Keystone writes them). Surrounding
// whitespace, such as the newline an editor adds, is ignored.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	enc := base64.URLEncoding
	if !strings.HasSuffix(s, "=") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return Key{}, fmt.Errorf("parse fernet key: %w", err)
	}
	if len(b) != len(Key{}) {
		return Key{}, fmt.Errorf("parse fernet key: %d bytes, want 32", len(b))
	}
	return Key(b), nil
}

// String returns the key in the spec's form, padded url-safe base64.
func (k Key) String() string { return base64.URLEncoding.EncodeToString(k[:]) }

func (k *Key) signing() []byte    { return k[:16] }
func (k *Key) encryption() []byte { return k[16:] }

// Encrypt seals plaintext under key with the creation time now (kept in
// whole seconds) and returns the token in the spec's form: url-safe base64
// with padding. Keystone strips the padding before handing tokens out, and
// Decrypt accepts either form.
func Encrypt(key Key, plaintext []byte, now time.Time) (string, error) {
	var iv [aes.BlockSize]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return "", fmt.Errorf("fernet iv: %w", err)
	}
	return encrypt(&key, plaintext, now, iv), nil
}

// encrypt is Encrypt with the IV chosen by the caller, for the spec's
// known-answer vectors. An IV must never be reused under one key.
func encrypt(key *Key, plaintext []byte, now time.Time, iv [aes.BlockSize]byte) string {
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	n := headerLen + len(plaintext) + pad
	buf := make([]byte, n, n+macLen)
	buf[0] = version
	binary.BigEndian.PutUint64(buf[1:9], uint64(now.Unix()))
	copy(buf[9:headerLen], iv[:])
	ct := buf[headerLen:]
	copy(ct, plaintext)
	for i := len(plaintext); i < len(ct); i++ {
		ct[i] = byte(pad)
	}
	block, err := aes.NewCipher(key.encryption())
	if err != nil {
		panic(err) // unreachable: the key is always 16 bytes
	}
	cipher.NewCBCEncrypter(block, iv[:]).CryptBlocks(ct, ct)
	m := hmac.New(sha256.New, key.signing())
	m.Write(buf)
	buf = m.Sum(buf)
	return base64.URLEncoding.EncodeToString(buf)
}

// Decrypt opens token with the first of keys whose HMAC matches (callers pass
// the primary key first) and returns the message and the token's creation
// time (whole seconds, UTC). It checks no age: Keystone tokens carry their
// own expiry in the payload. Decrypt accepts the token with or without its
// base64 padding but otherwise only the canonical encoding, so no two
// strings open to the same token.
func Decrypt(keys []Key, token string) ([]byte, time.Time, error) {
	if len(keys) == 0 {
		return nil, time.Time{}, errors.New("fernet decrypt: no keys")
	}
	if len(token) > MaxTokenLen {
		return nil, time.Time{}, fmt.Errorf("%w: longer than %d characters", ErrInvalidToken, MaxTokenLen)
	}
	enc := base64.RawURLEncoding
	if strings.HasSuffix(token, "=") {
		enc = base64.URLEncoding
	}
	raw, err := enc.Strict().DecodeString(token)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: bad base64", ErrInvalidToken)
	}
	if len(raw) < minLen || (len(raw)-headerLen-macLen)%aes.BlockSize != 0 {
		return nil, time.Time{}, fmt.Errorf("%w: bad length %d", ErrInvalidToken, len(raw))
	}
	if raw[0] != version {
		return nil, time.Time{}, fmt.Errorf("%w: unknown version %#x", ErrInvalidToken, raw[0])
	}
	ts := binary.BigEndian.Uint64(raw[1:9])
	if ts > 1<<62 {
		// Far beyond any real clock; keeps time.Unix from overflowing.
		return nil, time.Time{}, fmt.Errorf("%w: bad timestamp", ErrInvalidToken)
	}
	signed, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	var sum [macLen]byte
	for i := range keys {
		k := &keys[i]
		m := hmac.New(sha256.New, k.signing())
		m.Write(signed)
		if !hmac.Equal(m.Sum(sum[:0]), mac) {
			continue
		}
		block, err := aes.NewCipher(k.encryption())
		if err != nil {
			panic(err) // unreachable: the key is always 16 bytes
		}
		ct := bytes.Clone(signed[headerLen:])
		cipher.NewCBCDecrypter(block, signed[9:headerLen]).CryptBlocks(ct, ct)
		pt, ok := unpad(ct)
		if !ok {
			return nil, time.Time{}, fmt.Errorf("%w: bad padding", ErrInvalidToken)
		}
		return pt, time.Unix(int64(ts), 0).UTC(), nil
	}
	return nil, time.Time{}, fmt.Errorf("%w: signed by none of %d keys", ErrInvalidToken, len(keys))
}

// unpad strips PKCS7 padding, insisting that every pad byte is right.
func unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}
