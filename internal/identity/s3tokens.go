package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/identity/fernet"
)

// Keystone's POST /v3/s3tokens: an S3 API (Swift's s3api, our object
// store) builds the string to sign of a request itself and asks identity
// whether the signature over it is the one the credential's secret gives.
// Unlike /v3/ec2tokens it answers no token id, only who the caller is.

var errS3Signature = fault.Unauthorizedf("Credential signature mismatch")

// S3Token checks signature over stringToSign with the secret of the EC2
// credential named by access, for a caller allowed identity:s3tokens_validate
// (a service or an admin, as Keystone since the presigned URL advisory),
// and describes the credential's user scoped to its project. An unknown
// access key is fault NotFound (404, as Keystone); a wrong signature, a
// disabled user or project, or a user without roles there is Unauthorized.
func (s *Service) S3Token(ctx context.Context, caller *authn.Principal, access, stringToSign, signature string) (*Token, error) {
	if err := s.authorize(caller, "identity:s3tokens_validate", nil); err != nil {
		return nil, err
	}
	return s.s3Token(ctx, access, stringToSign, signature)
}

// VerifyS3 is S3Token for the object store in this process: the principal
// the S3 request acts as. It needs no caller, as the object store is trusted
// the way a service user is.
func (s *Service) VerifyS3(ctx context.Context, access, stringToSign, signature string) (*authn.Principal, error) {
	t, err := s.s3Token(ctx, access, stringToSign, signature)
	if err != nil {
		return nil, err
	}
	return t.Principal(), nil
}

func (s *Service) s3Token(ctx context.Context, access, stringToSign, signature string) (*Token, error) {
	if access == "" {
		return nil, fault.Unauthorizedf("EC2 Signature not supplied")
	}
	c, err := s.getCredential(ctx, s.db, hashAccessKey(access))
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, ec2NotFound()
		}
		return nil, err
	}
	e, err := ec2FromCredential(c)
	if err != nil || c.Type != CredentialEC2 || e.Access != access {
		return nil, ec2NotFound()
	}
	if !s3SignatureOK(e.Secret, stringToSign, signature) {
		return nil, errS3Signature
	}
	if e.TrustID != nil && *e.TrustID != "" {
		// Keystone would scope the answer to the trust; answering with the
		// user's own roles would grant more than the trust does.
		return nil, fault.Unauthorizedf("EC2 credentials of a trust are not supported.")
	}
	u, err := s.getUser(ctx, s.db, e.UserID)
	if err != nil {
		return nil, errAuth
	}
	if err := s.checkUsable(ctx, u); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	t := &Token{User: u, Methods: []string{"ec2credential"}, AuditIDs: []string{fernet.NewAuditID()},
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.TokenExpiration)}
	if d, err := getDomain(ctx, s.db, u.DomainID); err == nil {
		t.UserDomain = d
	}
	if err := s.resolveScope(ctx, t, Scope{ProjectID: e.ProjectID}); err != nil {
		return nil, err
	}
	t.IsAdminProject = s.isAdminProject(t)
	return t, nil
}

// s3SignatureOK is Keystone's check: SigV4 when the string to sign starts
// with "AWS4", with the signing key derived from the scope line in it;
// otherwise S3's SigV2, base64 HMAC-SHA1 of the string with the secret.
func s3SignatureOK(secret, stringToSign, signature string) bool {
	var want string
	if strings.HasPrefix(stringToSign, "AWS4") {
		parts := strings.Split(stringToSign, "\n")
		if len(parts) != 4 || parts[0] != "AWS4-HMAC-SHA256" {
			return false
		}
		scope := strings.Split(parts[2], "/")
		if len(scope) != 4 || scope[3] != "aws4_request" {
			return false
		}
		switch scope[2] {
		case "s3", "iam", "sts":
		default:
			return false
		}
		k := hmacSHA256([]byte("AWS4"+secret), scope[0])
		k = hmacSHA256(k, scope[1])
		k = hmacSHA256(k, scope[2])
		k = hmacSHA256(k, "aws4_request")
		want = hex.EncodeToString(hmacSHA256(k, stringToSign))
	} else {
		m := hmac.New(sha1.New, []byte(secret))
		m.Write([]byte(stringToSign))
		want = base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(signature)) == 1
}

// decodeS3StringToSign reads the "token" of the request: the string to
// sign in base64, URL-safe as Swift's s3token sends it or standard as
// older clients do, padded or not.
func decodeS3StringToSign(token string) (string, bool) {
	t := strings.TrimRight(strings.TrimSpace(token), "=")
	t = strings.NewReplacer("-", "+", "_", "/").Replace(t)
	b, err := base64.RawStdEncoding.DecodeString(t)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// s3TokensBody is POST /v3/s3tokens; Keystone also reads "credential"
// and "ec2Credentials".
type s3TokensBody struct {
	Credentials    *s3CredsWire `json:"credentials"`
	Credential     *s3CredsWire `json:"credential"`
	EC2Credentials *s3CredsWire `json:"ec2Credentials"`
}

type s3CredsWire struct {
	Access    *string `json:"access"`
	Token     string  `json:"token"`
	Signature string  `json:"signature"`
}

func (h *handlers) s3Tokens(w http.ResponseWriter, r *http.Request) error {
	var body s3TokensBody
	if err := httpx.DecodeJSON(r, &body); err != nil {
		return err
	}
	c := body.Credentials
	for _, alt := range []*s3CredsWire{body.Credential, body.EC2Credentials} {
		if c == nil {
			c = alt
		}
	}
	if c == nil || c.Access == nil {
		return fault.Unauthorizedf("EC2 Signature not supplied")
	}
	sts, ok := decodeS3StringToSign(c.Token)
	if !ok {
		return fault.BadRequestf("Invalid token: not base64.")
	}
	t, err := h.svc.S3Token(r.Context(), principal(r), *c.Access, sts, c.Signature)
	if err != nil {
		return err
	}
	return writeOK(w, map[string]any{"token": h.tokenBody(r, t, false)})
}
