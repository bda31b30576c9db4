package tempurl

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
)

// Digests are the HMAC digests Swift supports, sorted as /info lists them.
// sha1 is deprecated in Swift but still allowed by default.
var Digests = []string{"sha1", "sha256", "sha512"}

// DeprecatedDigests are allowed but announced as deprecated in /info.
var DeprecatedDigests = []string{"sha1"}

var hashes = map[string]func() hash.Hash{
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// hexLengths name the digest of a bare hex signature by its length.
var hexLengths = map[int]string{40: "sha1", 64: "sha256", 128: "sha512"}

var errBadSignature = errors.New("malformed signature")

// ParseSignature reads a client's signature: either bare hex, whose length
// names the digest, or "<digest>:<base64>" in standard or URL-safe
// base64. It returns the digest name and the signature as lower-case hex
// (Swift's extract_digest_and_algorithm). The digest name of the base64
// form is not checked here; callers check it against their allowed list.
// Bare hex keeps its case: Swift compares it as sent, so upper-case hex
// never matches.
func ParseSignature(s string) (digest, sig string, err error) {
	if algo, value, ok := strings.Cut(s, ":"); ok {
		if strings.ContainsAny(value, "-_") && !strings.ContainsAny(value, "+/") {
			value = strings.NewReplacer("-", "+", "_", "/").Replace(value)
		}
		value = strings.Trim(value, "=")
		for _, c := range value {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
				return "", "", errBadSignature
			}
		}
		raw, err := base64.RawStdEncoding.DecodeString(value)
		if err != nil {
			return "", "", errBadSignature
		}
		return algo, hex.EncodeToString(raw), nil
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", "", errBadSignature
	}
	algo, ok := hexLengths[len(s)]
	if !ok {
		return "", "", errBadSignature
	}
	return algo, s, nil
}

// HMAC is the lower-case hex HMAC of msg under key with the named digest
// ("" if the digest is unknown).
func HMAC(digest, key, msg string) string {
	h, ok := hashes[digest]
	if !ok {
		return ""
	}
	m := hmac.New(h, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// Message is what a temp URL signs: "METHOD\nEXPIRES\nPATH", preceded by
// "ip=RANGE\n" when the URL is limited to an address range. path is the
// decoded "/v1/a/c/o", or "prefix:/v1/a/c/prefix" for a prefix URL.
func Message(method string, expires int64, path, ipRange string) string {
	msg := method + "\n" + itoa(expires) + "\n" + path
	if ipRange != "" {
		msg = "ip=" + ipRange + "\n" + msg
	}
	return msg
}

// Equal compares signatures in constant time.
func Equal(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

func allowed(list []string, name string) bool {
	for _, s := range list {
		if s == name {
			return true
		}
	}
	return false
}
