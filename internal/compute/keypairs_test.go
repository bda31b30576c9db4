package compute

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func authorizedKey(t *testing.T, pub any) (string, string) {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " me@host"
	return line, ssh.FingerprintLegacyMD5(k)
}

func TestKeyPairImport(t *testing.T) {
	a := newAPI(t)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, pub := range map[string]any{"ed": edPub, "rsa": &rsaKey.PublicKey, "ec": &ecKey.PublicKey} {
		line, fp := authorizedKey(t, pub)
		r := a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": name, "public_key": line}},
			"token=member").must(t, 200)
		if r.str("keypair.fingerprint") != fp || r.str("keypair.public_key") != line || r.str("keypair.user_id") != "u-demo" {
			t.Errorf("%s: %s (want fingerprint %s)", name, r.raw, fp)
		}
		if r.has("keypair.private_key") || r.has("keypair.type") {
			t.Errorf("%s: 2.1 import shows %s", name, r.raw)
		}
	}
	line, _ := authorizedKey(t, edPub)
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "ed", "public_key": line}},
		"token=member").fault(t, 409, "conflictingRequest", "Key pair 'ed' already exists.")
	// Names are per user: another user may use the same one.
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "ed", "public_key": line}},
		"token=alt").must(t, 200)
	for why, key := range map[string]string{
		"junk":         "ssh-rsa JUNK nova@ubuntu",
		"blank":        " ",
		"too long":     "ssh-rsa " + strings.Repeat("A", 2048) + " openstack@ubuntu",
		"type lies":    strings.Replace(line, "ssh-ed25519", "ssh-rsa", 1),
		"unknown type": "ssh-foo AAAA",
	} {
		a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "bad", "public_key": key}},
			"token=member").fault(t, 400, "badRequest", "Keypair data is invalid: failed to generate fingerprint")
		_ = why
	}
	for _, name := range []string{"", strings.Repeat("k", 256), `key_/.\@:`, " lead"} {
		a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": name, "public_key": line}},
			"token=member").must(t, 400)
	}
	// @ and . are allowed from 2.92.
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "me@x.y", "public_key": line}},
		"token=member", "2.91").must(t, 400)
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "me@x.y", "public_key": line}},
		"token=member", "2.92").must(t, 201)
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "t", "public_key": line, "type": "ssh"}},
		"token=member").must(t, 400) // type is 2.2's
}

func TestKeyPairShowListDeletePerMicroversion(t *testing.T) {
	a := newAPI(t)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line, fp := authorizedKey(t, edPub)
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "k1", "public_key": line}},
		"token=member").must(t, 200)

	s := a.call("GET", "/v2.1/os-keypairs/k1", nil, "token=member").must(t, 200)
	for _, k := range []string{"created_at", "deleted", "deleted_at", "updated_at", "id", "user_id", "fingerprint", "public_key", "name"} {
		if !s.has("keypair." + k) {
			t.Errorf("show lacks %s: %s", k, s.raw)
		}
	}
	if s.has("keypair.type") || s.path("keypair.deleted") != false || s.path("keypair.deleted_at") != nil || s.str("keypair.fingerprint") != fp {
		t.Errorf("show at 2.1: %s", s.raw)
	}
	if s2 := a.call("GET", "/v2.1/os-keypairs/k1", nil, "token=member", "2.2").must(t, 200); s2.str("keypair.type") != "ssh" {
		t.Errorf("show at 2.2: %s", s2.raw)
	}
	l := a.call("GET", "/v2.1/os-keypairs", nil, "token=member").must(t, 200)
	if len(l.list("keypairs")) != 1 || l.str("keypairs.0.keypair.name") != "k1" || l.has("keypairs.0.keypair.user_id") || l.has("keypairs.0.keypair.type") {
		t.Errorf("list at 2.1: %s", l.raw)
	}
	if l2 := a.call("GET", "/v2.1/os-keypairs", nil, "token=member", "2.2").must(t, 200); l2.str("keypairs.0.keypair.type") != "ssh" {
		t.Errorf("list at 2.2: %s", l2.raw)
	}
	// Others see nothing of it.
	a.call("GET", "/v2.1/os-keypairs/k1", nil, "token=alt").fault(t, 404, "itemNotFound", "Keypair k1 not found for user u-alt")
	if l := a.call("GET", "/v2.1/os-keypairs", nil, "token=alt").must(t, 200); len(l.list("keypairs")) != 0 {
		t.Errorf("alt sees %s", l.raw)
	}
	// From 2.10 admins name the user; others may not.
	a.call("GET", "/v2.1/os-keypairs/k1?user_id=u-demo", nil, "2.9").must(t, 404) // ignored: admin's own
	a.call("GET", "/v2.1/os-keypairs/k1?user_id=u-demo", nil, "2.10").must(t, 200)
	a.call("GET", "/v2.1/os-keypairs?user_id=u-demo", nil, "token=alt", "2.10").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-keypairs:index to be performed.")
	if l := a.call("GET", "/v2.1/os-keypairs?user_id=u-demo", nil, "2.10").must(t, 200); len(l.list("keypairs")) != 1 {
		t.Errorf("admin list of u-demo: %s", l.raw)
	}

	// Deleting: 202 before 2.2, 204 from it.
	a.call("DELETE", "/v2.1/os-keypairs/k1", nil, "token=alt").must(t, 404)
	a.call("DELETE", "/v2.1/os-keypairs/k1", nil, "token=member").must(t, 202)
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "k1", "public_key": line}},
		"token=member", "2.2").must(t, 201)
	a.call("DELETE", "/v2.1/os-keypairs/k1?user_id=u-demo", nil, "2.10").must(t, 204)
	a.call("DELETE", "/v2.1/os-keypairs/k1", nil, "token=member", "2.2").fault(t, 404, "itemNotFound",
		"Keypair k1 not found for user u-demo")
}

func TestKeyPairAdminCreatesForAnotherUser(t *testing.T) {
	a := newAPI(t)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line, _ := authorizedKey(t, edPub)
	body := map[string]any{"keypair": map[string]any{"name": "theirs", "public_key": line, "user_id": "u-demo"}}
	a.call("POST", "/v2.1/os-keypairs", body, "2.9").must(t, 400) // user_id is 2.10's
	r := a.call("POST", "/v2.1/os-keypairs", body, "2.10").must(t, 201)
	if r.str("keypair.user_id") != "u-demo" {
		t.Errorf("created for %s", r.str("keypair.user_id"))
	}
	a.call("GET", "/v2.1/os-keypairs/theirs", nil, "token=member").must(t, 200)
	body["keypair"].(map[string]any)["user_id"] = "u-admin"
	a.call("POST", "/v2.1/os-keypairs", body, "2.10", "token=member").fault(t, 403, "forbidden",
		"Policy doesn't allow os_compute_api:os-keypairs:create to be performed.")
}

func TestKeyPairGenerated(t *testing.T) {
	a := newAPI(t)
	r := a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "gen"}}, "token=member").must(t, 200)
	block, _ := pem.Decode([]byte(r.str("keypair.private_key")))
	if block == nil || block.Type != "RSA PRIVATE KEY" {
		t.Fatalf("private key %q", r.str("keypair.private_key"))
	}
	priv, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil || priv.N.BitLen() != 2048 {
		t.Fatalf("private key: %v", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(r.str("keypair.public_key")))
	if err != nil {
		t.Fatalf("public key %q: %v", r.str("keypair.public_key"), err)
	}
	want, _ := ssh.NewPublicKey(&priv.PublicKey)
	if !bytes.Equal(pub.Marshal(), want.Marshal()) || !strings.HasSuffix(r.str("keypair.public_key"), " Generated-by-Nova") {
		t.Errorf("public key does not match the private one: %s", r.str("keypair.public_key"))
	}
	if r.str("keypair.fingerprint") != ssh.FingerprintLegacyMD5(pub) {
		t.Errorf("fingerprint %s, want %s", r.str("keypair.fingerprint"), ssh.FingerprintLegacyMD5(pub))
	}
	// The private key is never shown again.
	if s := a.call("GET", "/v2.1/os-keypairs/gen", nil, "token=member").must(t, 200); s.has("keypair.private_key") {
		t.Errorf("show has the private key")
	}
	// Generation ends at 2.92.
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "gen2"}}, "token=member", "2.92").fault(t, 400,
		"badRequest", "Invalid input for field/attribute keypair. Value: {'name': 'gen2'}. 'public_key' is a required property")
	g := a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "gen2"}}, "token=member", "2.91").must(t, 201)
	if g.str("keypair.type") != "ssh" || g.str("keypair.private_key") == "" {
		t.Errorf("2.91 generation: %s", g.raw)
	}
}

func TestKeyPairX509(t *testing.T) {
	a := newAPI(t)
	r := a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "win", "type": "x509"}},
		"token=member", "2.2").must(t, 201)
	if r.str("keypair.type") != "x509" {
		t.Fatalf("%s", r.raw)
	}
	bundle, err := base64.StdEncoding.DecodeString(r.str("keypair.private_key"))
	if err != nil {
		t.Fatal(err)
	}
	key, cert, err := pkcs12.Decode(bundle, "")
	if err != nil {
		t.Fatalf("PKCS#12 with an empty password: %v", err)
	}
	block, _ := pem.Decode([]byte(r.str("keypair.public_key")))
	if block == nil || !bytes.Equal(block.Bytes, cert.Raw) {
		t.Fatalf("public key is not the bundle's certificate")
	}
	if !key.(*rsa.PrivateKey).PublicKey.Equal(cert.PublicKey) {
		t.Errorf("key and certificate differ")
	}
	sum := sha1.Sum(cert.Raw)
	if want := colonHex(sum[:]); r.str("keypair.fingerprint") != want {
		t.Errorf("fingerprint %s, want %s", r.str("keypair.fingerprint"), want)
	}
	if cert.Subject.CommonName != "u-demo" || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("certificate %v %v", cert.Subject, cert.ExtKeyUsage)
	}
	if !bytes.Contains(cert.Raw, []byte("u-demo@localhost")) {
		t.Errorf("no UPN in the certificate")
	}
	// Importing a certificate computes the same fingerprint.
	imp := a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "win2", "type": "x509",
		"public_key": r.str("keypair.public_key")}}, "token=alt", "2.2").must(t, 201)
	if imp.str("keypair.fingerprint") != r.str("keypair.fingerprint") {
		t.Errorf("import fingerprint %s", imp.str("keypair.fingerprint"))
	}
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "bad", "type": "x509",
		"public_key": "not a cert"}}, "token=alt", "2.2").must(t, 400)
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "bad", "type": "gpg"}},
		"token=alt", "2.2").must(t, 400)
}

func TestKeyPairPaging(t *testing.T) {
	a := newAPI(t)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line, _ := authorizedKey(t, edPub)
	for i := range 5 {
		a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": fmt.Sprintf("k%d", i), "public_key": line}},
			"token=member").must(t, 200)
	}
	// Before 2.35 limit is ignored.
	if l := a.call("GET", "/v2.1/os-keypairs?limit=2", nil, "token=member", "2.34").must(t, 200); len(l.list("keypairs")) != 5 || l.has("keypairs_links") {
		t.Errorf("2.34: %s", l.raw)
	}
	l := a.call("GET", "/v2.1/os-keypairs?limit=2", nil, "token=member", "2.35").must(t, 200)
	got := []string{l.str("keypairs.0.keypair.name"), l.str("keypairs.1.keypair.name")}
	if !slices.Equal(got, []string{"k0", "k1"}) || !strings.Contains(l.str("keypairs_links.0.href"), "marker=k1") {
		t.Fatalf("page 1: %s", l.raw)
	}
	n := a.call("GET", "/v2.1/os-keypairs?limit=2&marker=k3", nil, "token=member", "2.35").must(t, 200)
	if len(n.list("keypairs")) != 1 || n.str("keypairs.0.keypair.name") != "k4" || n.has("keypairs_links") {
		t.Errorf("after k3: %s", n.raw)
	}
	a.call("GET", "/v2.1/os-keypairs?marker=zz", nil, "token=member", "2.35").fault(t, 400, "badRequest", "Marker zz could not be found.")
	a.call("GET", "/v2.1/os-keypairs?limit=x", nil, "token=member", "2.35").must(t, 400)
	a.call("GET", "/v2.1/os-keypairs?foo=1", nil, "token=member", "2.75").must(t, 400)
}

func TestKeyPairQuota(t *testing.T) {
	a := newAPI(t)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	line, _ := authorizedKey(t, edPub)
	a.call("PUT", "/v2.1/os-quota-sets/"+demoProject, map[string]any{"quota_set": map[string]any{"key_pairs": 2}}).must(t, 200)
	for i := range 2 {
		a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": fmt.Sprintf("q%d", i), "public_key": line}},
			"token=member").must(t, 200)
	}
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "q2", "public_key": line}},
		"token=member").fault(t, 403, "forbidden", "Quota exceeded, too many key pairs.")
	// Another project's user is not limited by it.
	a.call("POST", "/v2.1/os-keypairs", map[string]any{"keypair": map[string]any{"name": "q2", "public_key": line}},
		"token=alt").must(t, 200)
}
