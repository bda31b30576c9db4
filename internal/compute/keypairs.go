package compute

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func keypairNotFound(name, userID string) error {
	return fault.NotFoundf("Keypair %s not found for user %s", name, userID)
}

// ownerOf is the user a key pair request is about: the one named (by an
// admin, from 2.10) or the caller.
func ownerOf(p *authn.Principal, userID string) string {
	if userID != "" {
		return userID
	}
	if p == nil {
		return ""
	}
	return p.UserID
}

// CreateKeyPair imports a public key, or generates a key pair when none
// is given and spec.Generate allows it. The private key of a generated
// pair is returned once and never stored.
func (s *Service) CreateKeyPair(ctx context.Context, p *authn.Principal, spec KeyPairSpec) (*KeyPair, error) {
	userID := ownerOf(p, spec.UserID)
	if err := s.authorize(p, policyKeypairCreate, map[string]any{"user_id": userID}); err != nil {
		return nil, err
	}
	k := &KeyPair{UserID: userID, Name: strings.TrimSpace(spec.Name), Type: spec.Type, CreatedAt: s.now().UTC()}
	if k.Type == "" {
		k.Type = KeyTypeSSH
	}
	if k.Type != KeyTypeSSH && k.Type != KeyTypeX509 {
		return nil, fault.BadRequestf("Keypair data is invalid: unknown key pair type %s", k.Type)
	}
	if err := s.checkKeyPairQuota(ctx, s.db, p, userID); err != nil {
		return nil, err
	}
	switch {
	case spec.PublicKey != nil:
		fp, err := fingerprint(*spec.PublicKey, k.Type)
		if err != nil {
			return nil, err
		}
		k.PublicKey, k.Fingerprint = *spec.PublicKey, fp
	case !spec.Generate:
		return nil, fault.BadRequestf("Invalid input for field/attribute keypair. 'public_key' is a required property")
	default:
		var err error
		if k.Type == KeyTypeX509 {
			k.PrivateKey, k.PublicKey, k.Fingerprint, err = generateX509(userID)
		} else {
			k.PrivateKey, k.PublicKey, k.Fingerprint, err = generateSSH()
		}
		if err != nil {
			return nil, fmt.Errorf("generate key pair: %w", err)
		}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Checked again inside the transaction so that racing creates
		// cannot pass the limit together (Nova's recheck_quota).
		if err := s.checkKeyPairQuota(ctx, tx, p, userID); err != nil {
			return err
		}
		old, err := getKeyPair(ctx, tx, userID, k.Name)
		if err != nil {
			return err
		}
		if old != nil {
			return fault.Conflictf("Key pair '%s' already exists.", k.Name)
		}
		return insertKeyPair(ctx, tx, k)
	})
	if db.IsUniqueViolation(err) {
		return nil, fault.Conflictf("Key pair '%s' already exists.", k.Name)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// checkKeyPairQuota refuses a key pair beyond the user's key_pairs limit.
func (s *Service) checkKeyPairQuota(ctx context.Context, q querier, p *authn.Principal, userID string) error {
	limits, err := s.effectiveLimits(ctx, q, projectOf(p), userID)
	if err != nil {
		return err
	}
	limit := limits["key_pairs"]
	if limit < 0 {
		return nil
	}
	n, err := countKeyPairs(ctx, q, userID)
	if err != nil {
		return err
	}
	if n+1 > limit {
		return fault.Forbiddenf("Quota exceeded, too many key pairs.")
	}
	return nil
}

// GetKeyPair returns one of a user's key pairs.
func (s *Service) GetKeyPair(ctx context.Context, p *authn.Principal, userID, name string) (*KeyPair, error) {
	userID = ownerOf(p, userID)
	if err := s.authorize(p, policyKeypairShow, map[string]any{"user_id": userID}); err != nil {
		return nil, err
	}
	k, err := getKeyPair(ctx, s.db, userID, name)
	if err != nil {
		return nil, err
	}
	if k == nil {
		return nil, keypairNotFound(name, userID)
	}
	return k, nil
}

// ListKeyPairs pages through a user's key pairs by name; limit 0 means
// all of them (before 2.35 there is no paging).
func (s *Service) ListKeyPairs(ctx context.Context, p *authn.Principal, userID string, limit int, marker string) ([]*KeyPair, error) {
	userID = ownerOf(p, userID)
	if err := s.authorize(p, policyKeypairIndex, map[string]any{"user_id": userID}); err != nil {
		return nil, err
	}
	out, err := listKeyPairs(ctx, s.db, userID, limit, marker)
	if err == errMarkerNotFound {
		return nil, fault.BadRequestf("Marker %s could not be found.", marker)
	}
	return out, err
}

// DeleteKeyPair removes one of a user's key pairs.
func (s *Service) DeleteKeyPair(ctx context.Context, p *authn.Principal, userID, name string) error {
	userID = ownerOf(p, userID)
	if err := s.authorize(p, policyKeypairDelete, map[string]any{"user_id": userID}); err != nil {
		return err
	}
	ok, err := deleteKeyPair(ctx, s.db, userID, name)
	if err != nil {
		return err
	}
	if !ok {
		return keypairNotFound(name, userID)
	}
	return nil
}

// ---- keys

// sshKeyTypes are the public key algorithms Nova's key loading accepts.
var sshKeyTypes = map[string]bool{
	ssh.KeyAlgoRSA: true, ssh.KeyAlgoDSA: true, ssh.KeyAlgoED25519: true,
	ssh.KeyAlgoECDSA256: true, ssh.KeyAlgoECDSA384: true, ssh.KeyAlgoECDSA521: true,
	ssh.KeyAlgoSKED25519: true, ssh.KeyAlgoSKECDSA256: true,
}

// fingerprint checks a public key of the type and returns Nova's
// fingerprint: MD5 of the key blob for SSH, SHA-1 of the DER for X.509,
// as colon-separated hex.
func fingerprint(publicKey, typ string) (string, error) {
	if typ == KeyTypeX509 {
		block, _ := pem.Decode([]byte(publicKey))
		if block == nil {
			return "", fault.BadRequestf("Keypair data is invalid: failed to generate X509 fingerprint. Error message: Unable to load PEM file.")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", fault.Wrap(fault.BadRequest, err,
				"Keypair data is invalid: failed to generate X509 fingerprint. Error message: Unable to load certificate.")
		}
		sum := sha1.Sum(cert.Raw)
		return colonHex(sum[:]), nil
	}
	bad := fault.BadRequestf("Keypair data is invalid: failed to generate fingerprint")
	fields := strings.Fields(publicKey)
	if len(fields) < 2 || !sshKeyTypes[fields[0]] {
		return "", bad
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return "", bad
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil || key.Type() != fields[0] {
		return "", bad
	}
	sum := md5.Sum(blob)
	return colonHex(sum[:]), nil
}

func colonHex(b []byte) string {
	h := hex.EncodeToString(b)
	parts := make([]string, 0, len(b))
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// generateSSH makes an RSA 2048 key as Nova does: the private key in
// PKCS#1 PEM, the public one in OpenSSH form with Nova's comment.
func generateSSH() (private, public, fp string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", "", err
	}
	private = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	pub, err := ssh.NewPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", "", err
	}
	public = pub.Type() + " " + base64.StdEncoding.EncodeToString(pub.Marshal()) + " Generated-by-Nova"
	sum := md5.Sum(pub.Marshal())
	return private, public, colonHex(sum[:]), nil
}

// upnOID is Microsoft's user principal name, the otherName WinRM
// certificate authentication maps to a user.
var upnOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}

// generateX509 makes what Nova makes for x509 key pairs (certificates for
// WinRM): a self-signed client certificate for CN=<user> with the UPN
// <user>@localhost, valid ten years; the private key is returned as a
// base64 PKCS#12 bundle with an empty password.
func generateX509(userID string) (private, public, fp string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", "", err
	}
	san, err := upnSAN(userID + "@localhost")
	if err != nil {
		return "", "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return "", "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: userID},
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.AddDate(0, 0, 3650),
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", "", err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", "", err
	}
	bundle, err := pkcs12.Modern.Encode(key, cert, nil, "")
	if err != nil {
		return "", "", "", err
	}
	public = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	sum := sha1.Sum(der)
	return base64.StdEncoding.EncodeToString(bundle), public, colonHex(sum[:]), nil
}

// upnSAN encodes a subjectAltName holding one otherName UPN.
func upnSAN(upn string) ([]byte, error) {
	type otherName struct {
		TypeID asn1.ObjectIdentifier
		Value  asn1.RawValue // [0] EXPLICIT UTF8String, built by hand
	}
	utf8, err := asn1.MarshalWithParams(upn, "utf8")
	if err != nil {
		return nil, err
	}
	value := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: utf8}
	gn, err := asn1.MarshalWithParams(otherName{TypeID: upnOID, Value: value}, "tag:0")
	if err != nil {
		return nil, err
	}
	return asn1.Marshal([]asn1.RawValue{{FullBytes: gn}})
}
