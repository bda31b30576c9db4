package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Keystone's own vectors (keystone/tests/unit/test_contrib_s3_core.py):
// base64 strings to sign with the signatures its secrets give.
func TestS3SignatureKeystoneVectors(t *testing.T) {
	t.Parallel()
	const v1Secret, v4Secret = "b121dd41cdcc42fe9f70e572e84295aa", "e7a7a2240136494986991a6598d9fb9f"
	const v1Token = "UFVUCjFCMk0yWThBc2dUcGdBbVk3UGhDZmc9PQphcHBsaWNhdGlvbi9vY3RldC1zdHJlYW0KVHVlLCAxMSBEZWMgMjAxMiAyMTo0MTo0MSBHTVQKL2NvbnRfczMvdXBsb2FkZWRfZnJvbV9zMy50eHQ="
	const s3Token = "QVdTNC1ITUFDLVNIQTI1NgoyMDE1MDgyNFQxMTIwNDFaCjIwMTUwODI0L1JlZ2lvbk9uZS9zMy9hd3M0X3JlcXVlc3QKZjIyMTU1ODBlZWI5YTE2NzM1MWJkOTNlODZjM2I2ZjA0YTkyOGY1YzU1MjBhMzkzNWE0NTM1NDBhMDk1NjRiNQ=="
	const iamToken = "QVdTNC1ITUFDLVNIQTI1NgoyMDE1MDgyNFQxMTIwNDFaCjIwMTUwODI0L1JlZ2lvbk9uZS9pYW0vYXdzNF9yZXF1ZXN0CmYyMjE1NTgwZWViOWExNjczNTFiZDkzZTg2YzNiNmYwNGE5MjhmNWM1NTIwYTM5MzVhNDUzNTQwYTA5NTY0YjU="
	const stsToken = "QVdTNC1ITUFDLVNIQTI1NgoyMDE1MDgyNFQxMTIwNDFaCjIwMTUwODI0L1JlZ2lvbk9uZS9zdHMvYXdzNF9yZXF1ZXN0CmYyMjE1NTgwZWViOWExNjczNTFiZDkzZTg2YzNiNmYwNGE5MjhmNWM1NTIwYTM5MzVhNDUzNTQwYTA5NTY0YjU="
	const badService = "QVdTNC1ITUFDLVNIQTI1NgoyMDE1MDgyNFQxMTIwNDFaCjIwMTUwODI0L1JlZ2lvbk9uZS9iYWQvYXdzNF9yZXF1ZXN0CmYyMjE1NTgwZWViOWExNjczNTFiZDkzZTg2YzNiNmYwNGE5MjhmNWM1NTIwYTM5MzVhNDUzNTQwYTA5NTY0YjU="
	const shortScope = "QVdTNC1ITUFDLVNIQTI1NgoyMDE1MDgyNFQxMTIwNDFaCjIwMTUwODI0L1JlZ2lvbk9uZS9zMwpmMjIxNTU4MGVlYjlhMTY3MzUxYmQ5M2U4NmMzYjZmMDRhOTI4ZjVjNTUyMGEzOTM1YTQ1MzU0MGEwOTU2NGI1"
	for _, tc := range []struct {
		name, secret, token, sig string
		ok                       bool
	}{
		{"v1 good", v1Secret, v1Token, "IL4QLcLVaYgylF9iHj6Wb8BGZsw=", true},
		{"v1 bad", v1Secret, v1Token, "0123456789abcdef0123456789abcdef", false},
		{"v4 s3 good", v4Secret, s3Token, "730ba8f58df6ffeadd78f402e990b2910d60bc5c2aec63619734f096a4dd77be", true},
		{"v4 iam good", v4Secret, iamToken, "db4e15b3040f6afaa9d9d16002de2fc3425beea0c6ea8c1b2bb674f052030b7d", true},
		{"v4 sts good", v4Secret, stsToken, "3aa0b6f1414b92b2a32584068f83c6d09b7fdaa11d4ea58912bbf1d8616ef56d", true},
		{"v4 bad signature", v4Secret, s3Token, "0123456789abcdef0123456789abcdef", false},
		{"v4 other secret", v1Secret, s3Token, "730ba8f58df6ffeadd78f402e990b2910d60bc5c2aec63619734f096a4dd77be", false},
		{"v4 bad service", v4Secret, badService, "1a2dec50eb1bba97887d1103c2ead6a3991198c4be2537cf14d40b64cceb888b", false},
		{"v4 bad signing key", v4Secret, s3Token, "52d02211a3767d00b2104ab28c9859003b0e9c8735cd10de7975f3b1212cca41", false},
		{"v4 short scope", v4Secret, shortScope, "28a075f1ee41e96c431153914998443ff0f55fe93d31b37181f13ff4865942a2", false},
		{"v4 bad first line", v4Secret, "QVdTNC1BQUEKWApYClg=", "", false},
		{"v4 bad scope", v4Secret, "QVdTNC1ITUFDLVNIQTI1NgpYCi8vczMvYXdzTl9yZXF1ZXN0Clg=", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts, ok := decodeS3StringToSign(tc.token)
			if !ok {
				t.Fatalf("token %q does not decode", tc.token)
			}
			if got := s3SignatureOK(tc.secret, sts, tc.sig); got != tc.ok {
				t.Errorf("s3SignatureOK = %v, want %v", got, tc.ok)
			}
		})
	}
	// Swift's s3token sends URL-safe base64: the same string either way.
	std, _ := decodeS3StringToSign(s3Token)
	safe, _ := decodeS3StringToSign(base64.URLEncoding.EncodeToString([]byte(std)))
	raw, _ := decodeS3StringToSign(base64.RawURLEncoding.EncodeToString([]byte(std)))
	if safe != std || raw != std {
		t.Errorf("URL-safe forms decode differently: %q %q %q", std, safe, raw)
	}
	if _, ok := decodeS3StringToSign("not base64 at all!"); ok {
		t.Error("garbage token accepted")
	}
}

// s3Creds makes alice, a member of her project, with an EC2 credential.
func (c *testCloud) s3Creds(name string) (uid, pid, tok, access, secret string) {
	c.t.Helper()
	uid, pid, tok = c.memberOf(name)
	out := c.must(201, "POST", "/v3/users/"+uid+"/credentials/OS-EC2", tok, map[string]any{"tenant_id": pid})
	cr := out["credential"].(map[string]any)
	return uid, pid, tok, cr["access"].(string), cr["secret"].(string)
}

// signV4 is an independent SigV4 signer for the last step: the string to
// sign of a request on date in region, and its signature.
func signV4(secret, date, region, canonicalHash string) (sts, sig string) {
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	sts = "AWS4-HMAC-SHA256\n" + date + "T120000Z\n" + date + "/" + region + "/s3/aws4_request\n" + canonicalHash
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, "s3")
	k = mac(k, "aws4_request")
	return sts, hex.EncodeToString(mac(k, sts))
}

func TestS3TokensAPI(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	alice, pid, aliceTok, access, secret := c.s3Creds("alice")
	sts, sig := signV4(secret, "20260101", "us-east-1", strings.Repeat("ab", 32))
	body := func(access, sts, sig string) map[string]any {
		return map[string]any{"credentials": map[string]any{"access": access,
			"token": base64.URLEncoding.EncodeToString([]byte(sts)), "signature": sig}}
	}

	resp, out := c.do("POST", "/v3/s3tokens", c.adminToken, body(access, sts, sig))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("good SigV4 = %d %v", resp.StatusCode, out)
	}
	if resp.Header.Get("X-Subject-Token") != "" {
		t.Error("s3tokens answered a token id; Keystone answers none")
	}
	tok := out["token"].(map[string]any)
	if tok["user"].(map[string]any)["id"] != alice || tok["project"].(map[string]any)["id"] != pid {
		t.Errorf("token = %v", tok)
	}
	if !names(tok["roles"])["member"] {
		t.Errorf("roles = %v", tok["roles"])
	}
	if _, ok := tok["catalog"]; ok {
		t.Error("token has a catalog")
	}

	// SigV2: HMAC-SHA1 of the string, standard base64 in the token.
	v2 := "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/key"
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(v2))
	v2sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	c.must(200, "POST", "/v3/s3tokens", c.adminToken, map[string]any{"credentials": map[string]any{
		"access": access, "token": base64.StdEncoding.EncodeToString([]byte(v2)), "signature": v2sig}})

	for _, tc := range []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"wrong signature", c.adminToken, body(access, sts, strings.Repeat("0", 64)), 401},
		{"signature of another string", c.adminToken, body(access, sts+"x", sig), 401},
		{"wrong SigV2 signature", c.adminToken, map[string]any{"credentials": map[string]any{
			"access": access, "token": base64.StdEncoding.EncodeToString([]byte(v2)), "signature": "AAAA"}}, 401},
		{"unknown access key", c.adminToken, body("no-such-access", sts, sig), 404},
		{"no access key", c.adminToken, map[string]any{"credentials": map[string]any{"token": "", "signature": ""}}, 401},
		{"no body", c.adminToken, nil, 400},
		{"token not base64", c.adminToken, map[string]any{"credentials": map[string]any{"access": access, "token": "%%%", "signature": sig}}, 400},
		{"no caller token", "", body(access, sts, sig), 401},
		{"a member is no service", aliceTok, body(access, sts, sig), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := c.do("POST", "/v3/s3tokens", tc.token, tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d %v, want %d", resp.StatusCode, out, tc.want)
			}
			if e, _ := out["error"].(map[string]any); e == nil || e["code"] != float64(tc.want) {
				t.Errorf("body = %v, want Keystone's error body", out)
			}
		})
	}

	// A disabled user's credential stops working.
	c.must(200, "PATCH", "/v3/users/"+alice, c.adminToken, map[string]any{"user": map[string]any{"enabled": false}})
	if resp, _ := c.do("POST", "/v3/s3tokens", c.adminToken, body(access, sts, sig)); resp.StatusCode != 401 {
		t.Errorf("disabled user = %d, want 401", resp.StatusCode)
	}
}

func TestVerifyS3InProcess(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	alice, pid, _, access, secret := c.s3Creds("alice")
	sts, sig := signV4(secret, "20260101", "RegionOne", strings.Repeat("cd", 32))
	ctx := context.Background()
	p, err := c.svc.VerifyS3(ctx, access, sts, sig)
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != alice || p.ProjectID != pid || !p.HasRole("member") || p.UserName != "alice" {
		t.Errorf("principal = %v", p)
	}
	if _, err := c.svc.VerifyS3(ctx, access, sts, strings.Repeat("0", 64)); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("bad signature: %v, want Unauthorized", err)
	}
	if _, err := c.svc.VerifyS3(ctx, "nope", sts, sig); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown access: %v, want NotFound", err)
	}
	// Another credential's signature does not pass for this access key.
	_, _, _, access2, _ := c.s3Creds("bob")
	if _, err := c.svc.VerifyS3(ctx, access2, sts, sig); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("bob's key with alice's signature: %v", err)
	}
}
