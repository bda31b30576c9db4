package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity/fernet"
)

// EC2Credential is an EC2 credential as the OS-EC2 API shows it.
type EC2Credential struct {
	UserID, ProjectID, Access, Secret string
	TrustID                           *string
}

func ec2FromCredential(c *Credential) (*EC2Credential, error) {
	b, err := parseEC2Blob(c.Blob)
	if err != nil {
		return nil, err
	}
	return &EC2Credential{UserID: c.UserID, ProjectID: c.ProjectID, Access: b.Access, Secret: b.Secret, TrustID: b.TrustID}, nil
}

// ec2AccessIs reports whether an EC2 credential still holds the access key
// it was looked up by: an update may have replaced the key since its id
// was derived from it.
func ec2AccessIs(c *Credential, access string) bool {
	b, err := parseEC2Blob(c.Blob)
	return err == nil && b.Access == access
}

func ec2NotFound() error { return fault.NotFoundf("EC2 access key not found.") }

// ListEC2Credentials lists a user's EC2 credentials.
func (s *Service) ListEC2Credentials(ctx context.Context, p *authn.Principal, userID string) ([]EC2Credential, error) {
	if err := s.authorize(p, "identity:ec2_list_credentials", map[string]any{"user_id": userID}); err != nil {
		return nil, err
	}
	if _, err := s.getUser(ctx, s.db, userID); err != nil {
		return nil, err
	}
	cs, err := s.queryCredentials(ctx, CredentialFilter{UserID: userID, Type: CredentialEC2})
	if err != nil {
		return nil, err
	}
	out := make([]EC2Credential, 0, len(cs))
	for i := range cs {
		e, err := ec2FromCredential(&cs[i])
		if err != nil {
			continue // a malformed blob stored through /v3/credentials by an older release
		}
		out = append(out, *e)
	}
	return out, nil
}

// CreateEC2Credential makes an access/secret pair for the user on a project.
func (s *Service) CreateEC2Credential(ctx context.Context, p *authn.Principal, userID, projectID string) (*EC2Credential, error) {
	if err := s.authorize(p, "identity:ec2_create_credential", map[string]any{"credential": map[string]any{"user_id": userID}}); err != nil {
		return nil, err
	}
	if p.AppCredID != "" {
		if ac, err := s.getAppCredForEC2(ctx, p.AppCredID); err != nil || !ac {
			return nil, fault.Forbiddenf("Using method 'application_credential' is not allowed for managing additional application credentials.")
		}
	}
	if projectID == "" {
		return nil, fault.BadRequestf("Invalid input for field 'tenant_id': 'tenant_id' is a required property.")
	}
	if _, err := getProject(ctx, s.db, projectID); err != nil {
		return nil, err
	}
	e := &EC2Credential{UserID: userID, ProjectID: projectID, Access: newID(), Secret: newID()}
	blob, _ := json.Marshal(map[string]any{"access": e.Access, "secret": e.Secret, "trust_id": nil})
	c := Credential{ID: hashAccessKey(e.Access), UserID: userID, ProjectID: projectID, Type: CredentialEC2, Blob: string(blob)}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertCredential(ctx, tx, &c) }); err != nil {
		return nil, err
	}
	return e, nil
}

// getAppCredForEC2 reports whether an application credential is
// unrestricted, which Keystone requires for creating EC2 credentials.
func (s *Service) getAppCredForEC2(ctx context.Context, id string) (bool, error) {
	var unrestricted bool
	err := s.db.QueryRowContext(ctx, `SELECT unrestricted FROM application_credentials WHERE id = $1`, id).Scan(&unrestricted)
	return unrestricted, err
}

func (s *Service) userEC2Credential(ctx context.Context, userID, access string) (*Credential, error) {
	c, err := s.getCredential(ctx, s.db, hashAccessKey(access))
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, ec2NotFound()
		}
		return nil, err
	}
	if c.Type != CredentialEC2 || c.UserID != userID || !ec2AccessIs(c, access) {
		return nil, ec2NotFound()
	}
	return c, nil
}

// GetEC2Credential returns one of a user's EC2 credentials by access key.
func (s *Service) GetEC2Credential(ctx context.Context, p *authn.Principal, userID, access string) (*EC2Credential, error) {
	if err := s.authorize(p, "identity:ec2_get_credential", map[string]any{"credential": map[string]any{"user_id": userID}}); err != nil {
		return nil, err
	}
	c, err := s.userEC2Credential(ctx, userID, access)
	if err != nil {
		return nil, err
	}
	return ec2FromCredential(c)
}

// DeleteEC2Credential removes one of a user's EC2 credentials.
func (s *Service) DeleteEC2Credential(ctx context.Context, p *authn.Principal, userID, access string) error {
	if err := s.authorize(p, "identity:ec2_delete_credential", map[string]any{"credential": map[string]any{"user_id": userID}}); err != nil {
		return err
	}
	c, err := s.userEC2Credential(ctx, userID, access)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = $1`, c.ID)
		return err
	})
}

// EC2Request is a signed request an EC2 or S3 API passes on for checking,
// the "credentials" of POST /v3/ec2tokens.
type EC2Request struct {
	Access, Signature, Host, Verb, Path, BodyHash string
	Params, Headers                               map[string]string
}

var errEC2Signature = fault.Unauthorizedf("Invalid EC2 signature.")

// EC2Token checks a request's signature against the EC2 credential named
// by its access key and issues a token for the credential's user, scoped
// to the credential's project.
func (s *Service) EC2Token(ctx context.Context, req EC2Request) (*Token, error) {
	if req.Access == "" {
		return nil, fault.BadRequestf("Expecting to find access in credentials. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	if req.Signature == "" {
		return nil, fault.Unauthorizedf("EC2 signature not supplied.")
	}
	c, err := s.getCredential(ctx, s.db, hashAccessKey(req.Access))
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, fault.Unauthorizedf("EC2 access key not found.")
		}
		return nil, err
	}
	e, err := ec2FromCredential(c)
	if err != nil || c.Type != CredentialEC2 || e.Access != req.Access {
		return nil, fault.Unauthorizedf("EC2 access key not found.")
	}
	if !ec2SignatureOK(e.Secret, req) {
		// Some clients sign without the port; Keystone tries again.
		host, _, hasPort := strings.Cut(req.Host, ":")
		if !hasPort {
			return nil, errEC2Signature
		}
		req.Host = host
		if !ec2SignatureOK(e.Secret, req) {
			return nil, errEC2Signature
		}
	}
	u, err := s.getUser(ctx, s.db, e.UserID)
	if err != nil {
		return nil, errAuth
	}
	if err := s.checkUsable(ctx, u); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	// Keystone records "ec2credential"; our Fernet payloads only carry
	// Keystone's default methods, so the token says "external".
	t := &Token{User: u, Methods: []string{"external"}, AuditIDs: []string{fernet.NewAuditID()},
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.TokenExpiration)}
	if d, err := getDomain(ctx, s.db, u.DomainID); err == nil {
		t.UserDomain = d
	}
	if err := s.resolveScope(ctx, t, Scope{ProjectID: e.ProjectID}); err != nil {
		return nil, err
	}
	id, err := s.tokens.Issue(s.payloadOf(t))
	if err != nil {
		return nil, err
	}
	t.ID = id
	t.IsAdminProject = s.isAdminProject(t)
	return t, nil
}

func ec2SignatureOK(secret string, req EC2Request) bool {
	var want string
	switch {
	case isSigV4(req):
		want = sigV4(secret, req)
	case req.Params["SignatureVersion"] == "2":
		want = sigV2(secret, req)
	default:
		return false // versions 0 and 1 are insecure and not supported
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(req.Signature)) == 1
}

func headerGet(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func isSigV4(req EC2Request) bool {
	if a, ok := headerGet(req.Headers, "Authorization"); ok {
		return strings.HasPrefix(a, "AWS4-HMAC-SHA256")
	}
	return req.Params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
}

// canonicalQuery is botocore's and keystoneclient's: keys sorted, both
// sides percent-encoded leaving only unreserved characters.
func canonicalQuery(params map[string]string, skip ...string) string {
	keys := make([]string, 0, len(params))
outer:
	for k := range params {
		for _, s := range skip {
			if k == s {
				continue outer
			}
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, 0, len(keys))
	for _, k := range keys {
		pairs = append(pairs, awsEscape(k)+"="+awsEscape(params[k]))
	}
	return strings.Join(pairs, "&")
}

func awsEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// sigV4 computes AWS Signature Version 4 as keystoneclient's Ec2Signer
// does, from the Authorization header or presigned query parameters.
func sigV4(secret string, req EC2Request) string {
	authParam := func(name string) string {
		if _, ok := req.Params["X-Amz-Credential"]; ok {
			return req.Params["X-Amz-"+name]
		}
		a, _ := headerGet(req.Headers, "Authorization")
		_, rest, _ := strings.Cut(a, name+"=")
		v, _, _ := strings.Cut(rest, ",")
		return strings.TrimSpace(v)
	}
	date := req.Params["X-Amz-Date"]
	if date == "" {
		date, _ = headerGet(req.Headers, "X-Amz-Date")
	}
	lower := map[string]string{}
	for k, v := range req.Headers {
		lower[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	signed := authParam("SignedHeaders")
	var hdrs strings.Builder
	for _, h := range strings.Split(signed, ";") {
		if v, ok := lower[h]; ok {
			hdrs.WriteString(h + ":" + v + "\n")
		}
	}
	query := ""
	if !strings.EqualFold(req.Verb, "POST") {
		query = canonicalQuery(req.Params, "X-Amz-Signature")
	}
	canonical := strings.Join([]string{strings.ToUpper(req.Verb), req.Path, query, hdrs.String(), signed, req.BodyHash}, "\n")
	cred := strings.Split(authParam("Credential"), "/")
	if len(cred) < 5 {
		return ""
	}
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", date, strings.Join(cred[1:], "/"), hex.EncodeToString(sum[:])}, "\n")
	k := hmacSHA256([]byte("AWS4"+secret), cred[1])
	k = hmacSHA256(k, cred[2])
	k = hmacSHA256(k, cred[3])
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

// sigV2 computes AWS Signature Version 2 (HmacSHA256), as Ec2Signer does.
func sigV2(secret string, req EC2Request) string {
	params := make(map[string]string, len(req.Params)+1)
	for k, v := range req.Params {
		params[k] = v
	}
	params["SignatureMethod"] = "HmacSHA256"
	toSign := req.Verb + "\n" + req.Host + "\n" + req.Path + "\n" + canonicalQuery(params, "Signature")
	return base64.StdEncoding.EncodeToString(hmacSHA256([]byte(secret), toSign))
}
