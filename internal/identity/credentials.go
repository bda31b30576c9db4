package identity

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// CredentialEC2 is the type of EC2 credentials, whose blob holds "access"
// and "secret" and whose id is the SHA-256 of the access key.
const CredentialEC2 = "ec2"

const credentialColumns = `id, user_id, project_id, type, blob, extra`

// Blobs are sealed with AES-256-GCM under a key kept beside the Fernet
// keys, as Keystone keeps credential keys beside its token keys, so a
// copy of the database alone does not reveal EC2 secrets.
const sealedPrefix = "gcm1:"

func (s *Service) credentialKeyFile() string {
	if s.cfg.KeysDir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(filepath.Clean(s.cfg.KeysDir)), "credential-keys", "0")
}

// credentialKey loads the key, creating it on first use; nil means blobs
// are stored plain (no key directory configured).
func (s *Service) credentialKey() ([]byte, error) {
	path := s.credentialKeyFile()
	if path == "" {
		return nil, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		return decodeCredentialKey(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read credential key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("make credential key directory: %w", err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*")
	if err != nil {
		return nil, fmt.Errorf("write credential key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(base64.URLEncoding.EncodeToString(key)); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write credential key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write credential key: %w", err)
	}
	// Link fails if another process won the race; then use its key.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("install credential key: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credential key: %w", err)
	}
	return decodeCredentialKey(b)
}

func decodeCredentialKey(b []byte) ([]byte, error) {
	key, err := base64.URLEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, errors.New("credential key is not 32 bytes of URL-safe base64")
	}
	return key, nil
}

func credentialAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealBlob encrypts a blob, binding it to the credential id.
func sealBlob(key []byte, id, blob string) (string, error) {
	if key == nil {
		return blob, nil
	}
	aead, err := credentialAEAD(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := aead.Seal(nonce, nonce, []byte(blob), []byte(id))
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

func openBlob(key []byte, id, stored string) (string, error) {
	rest, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, nil // written before encryption, or without a key
	}
	if key == nil {
		return "", errors.New("credential blob is encrypted but no credential key is configured")
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", fmt.Errorf("decode credential %s: %w", id, err)
	}
	aead, err := credentialAEAD(key)
	if err != nil {
		return "", err
	}
	if len(raw) < aead.NonceSize() {
		return "", fmt.Errorf("credential %s: blob too short", id)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("decrypt credential %s: %w", id, err)
	}
	return string(plain), nil
}

func scanCredential(row interface{ Scan(...any) error }, key []byte) (*Credential, error) {
	var c Credential
	var blob, extra string
	if err := row.Scan(&c.ID, &c.UserID, &c.ProjectID, &c.Type, &blob, &extra); err != nil {
		return nil, err
	}
	plain, err := openBlob(key, c.ID, blob)
	if err != nil {
		return nil, err
	}
	c.Blob, c.Extra = plain, decodeExtra(extra)
	return &c, nil
}

func (s *Service) getCredential(ctx context.Context, q queryer, id string) (*Credential, error) {
	key, err := s.credentialKey()
	if err != nil {
		return nil, err
	}
	c, err := scanCredential(q.QueryRowContext(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = $1`, id), key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fault.NotFoundf("Could not find credential: %s.", id)
	}
	return c, err
}

func credentialTarget(c *Credential) map[string]any {
	return map[string]any{"credential": map[string]any{"id": c.ID, "user_id": c.UserID, "project_id": c.ProjectID, "type": c.Type}}
}

// hashAccessKey is the id Keystone gives an EC2 credential.
func hashAccessKey(access string) string {
	sum := sha256.Sum256([]byte(access))
	return hex.EncodeToString(sum[:])
}

// ec2Blob is what an EC2 credential's blob holds.
type ec2Blob struct {
	Access  string  `json:"access"`
	Secret  string  `json:"secret"`
	TrustID *string `json:"trust_id,omitempty"`
}

func parseEC2Blob(blob string) (*ec2Blob, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(blob), &raw); err != nil || raw == nil {
		return nil, fault.BadRequestf("Invalid blob in credential")
	}
	var b ec2Blob
	_ = json.Unmarshal([]byte(blob), &b)
	if b.Access == "" {
		return nil, fault.BadRequestf("Expecting to find access in blob. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
	}
	return &b, nil
}

// checkCredential applies Keystone's rules for a new credential's fields
// and sets an EC2 credential's id.
func checkCredential(c *Credential) error {
	b, err := checkCredentialFields(c)
	if err != nil || b == nil {
		return err
	}
	want := hashAccessKey(b.Access)
	if c.ID != "" && c.ID != want {
		return fault.BadRequestf("The credential id of an EC2 credential must be the SHA-256 of its access key.")
	}
	c.ID = want
	return nil
}

// checkCredentialFields checks the fields every credential needs and, for
// an EC2 credential, returns its parsed blob.
func checkCredentialFields(c *Credential) (*ec2Blob, error) {
	if c.UserID == "" {
		return nil, fault.BadRequestf("Invalid input for field 'user_id': 'user_id' is a required property.")
	}
	if c.Type == "" {
		return nil, fault.BadRequestf("Invalid input for field 'type': 'type' is a required property.")
	}
	if c.Type != CredentialEC2 {
		return nil, nil
	}
	b, err := parseEC2Blob(c.Blob)
	if err != nil {
		return nil, err
	}
	if c.ProjectID == "" {
		return nil, fault.BadRequestf("Invalid input for field 'project_id': EC2 credentials need a project_id.")
	}
	return b, nil
}

// ec2ScopeKeys are the blob keys that tie an EC2 credential to a trust, an
// application credential or an OAuth access token; Keystone refuses to
// change or drop them on update, or a scoped credential could be widened.
var ec2ScopeKeys = []string{"trust_id", "app_cred_id", "access_token_id", "access_id"}

// checkEC2BlobUpdate applies Keystone's _validate_blob_update_keys to a
// new blob for a credential that is EC2 now.
func checkEC2BlobUpdate(oldBlob, newBlob string) error {
	if _, err := parseEC2Blob(newBlob); err != nil {
		return err
	}
	var oldRaw, newRaw map[string]any
	_ = json.Unmarshal([]byte(oldBlob), &oldRaw)
	_ = json.Unmarshal([]byte(newBlob), &newRaw)
	for _, k := range ec2ScopeKeys {
		if !reflect.DeepEqual(oldRaw[k], newRaw[k]) {
			return fault.BadRequestf("%s can not be updated for credential", k)
		}
	}
	return nil
}

// CredentialFilter narrows ListCredentials.
type CredentialFilter struct{ UserID, Type string }

// ListCredentials lists the credentials the caller may see: all for an
// admin, otherwise only the caller's own.
func (s *Service) ListCredentials(ctx context.Context, p *authn.Principal, f CredentialFilter) ([]Credential, error) {
	var target map[string]any
	if p != nil && p.System == "" {
		target = map[string]any{"credential": map[string]any{"user_id": p.UserID}}
	}
	if err := s.authorize(p, "identity:list_credentials", target); err != nil {
		return nil, err
	}
	all, err := s.queryCredentials(ctx, f)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, c := range all {
		// Keystone checks each one again, so project admins without
		// system scope see only what get_credential allows.
		if s.authorize(p, "identity:get_credential", credentialTarget(&c)) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Service) queryCredentials(ctx context.Context, f CredentialFilter) ([]Credential, error) {
	key, err := s.credentialKey()
	if err != nil {
		return nil, err
	}
	q := newWhere()
	q.eq("user_id", f.UserID)
	q.eq("type", f.Type)
	rows, err := s.db.QueryContext(ctx, `SELECT `+credentialColumns+` FROM credentials`+q.sql()+` ORDER BY id`, q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		c, err := scanCredential(rows, key)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// GetCredential returns one credential with its blob in clear.
func (s *Service) GetCredential(ctx context.Context, p *authn.Principal, id string) (*Credential, error) {
	c, err := s.getCredential(ctx, s.db, id)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			if aerr := s.authorize(p, "identity:get_credential", map[string]any{"credential": map[string]any{"id": id}}); aerr != nil {
				return nil, aerr
			}
		}
		return nil, err
	}
	if err := s.authorize(p, "identity:get_credential", credentialTarget(c)); err != nil {
		return nil, err
	}
	return c, nil
}

// CreateCredential stores a credential.
func (s *Service) CreateCredential(ctx context.Context, p *authn.Principal, c Credential) (*Credential, error) {
	if err := s.authorize(p, "identity:create_credential", credentialTarget(&c)); err != nil {
		return nil, err
	}
	if err := checkCredential(&c); err != nil {
		return nil, err
	}
	if c.ID == "" {
		c.ID = newID()
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertCredential(ctx, tx, &c) }); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *Service) insertCredential(ctx context.Context, tx *sql.Tx, c *Credential) error {
	if _, err := s.getUser(ctx, tx, c.UserID); err != nil {
		return err
	}
	if c.ProjectID != "" {
		if _, err := getProject(ctx, tx, c.ProjectID); err != nil {
			return err
		}
	}
	key, err := s.credentialKey()
	if err != nil {
		return err
	}
	sealed, err := sealBlob(key, c.ID, c.Blob)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO credentials (`+credentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.ID, c.UserID, c.ProjectID, c.Type, sealed, encodeExtra(c.Extra))
	if db.IsUniqueViolation(err) {
		return fault.Conflictf("Conflict occurred attempting to store credential - Duplicate ID, %s.", c.ID)
	}
	return err
}

// CredentialPatch holds the fields an update changes; nil leaves a field alone.
type CredentialPatch struct {
	UserID, ProjectID, Type, Blob *string
	Extra                         map[string]any
}

// UpdateCredential changes a credential. An EC2 credential keeps its
// access key, since its id is derived from it.
func (s *Service) UpdateCredential(ctx context.Context, p *authn.Principal, id string, patch CredentialPatch) (*Credential, error) {
	var out *Credential
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.getCredential(ctx, tx, id)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				if aerr := s.authorize(p, "identity:update_credential", map[string]any{"credential": map[string]any{"id": id}}); aerr != nil {
					return aerr
				}
			}
			return err
		}
		if err := s.authorize(p, "identity:update_credential", credentialTarget(c)); err != nil {
			return err
		}
		if c.Type == CredentialEC2 && patch.Blob != nil {
			if err := checkEC2BlobUpdate(c.Blob, *patch.Blob); err != nil {
				return err
			}
		}
		for dst, v := range map[*string]*string{&c.UserID: patch.UserID, &c.ProjectID: patch.ProjectID, &c.Type: patch.Type, &c.Blob: patch.Blob} {
			if v != nil {
				*dst = *v
			}
		}
		if patch.UserID != nil {
			// The new owner must be allowed too, or a user could give
			// credentials away to others.
			if err := s.authorize(p, "identity:update_credential", credentialTarget(c)); err != nil {
				return err
			}
			if _, err := s.getUser(ctx, tx, c.UserID); err != nil {
				return err
			}
		}
		mergeExtra(&c.Extra, patch.Extra)
		// As in Keystone, the id stays what it was even when the access
		// key changes: it is only derived from the key at creation. The
		// EC2 lookups check the blob's key, so the old key finds nothing.
		if _, err := checkCredentialFields(c); err != nil {
			return err
		}
		key, err := s.credentialKey()
		if err != nil {
			return err
		}
		sealed, err := sealBlob(key, c.ID, c.Blob)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE credentials SET user_id = $2, project_id = $3, type = $4, blob = $5, extra = $6 WHERE id = $1`,
			c.ID, c.UserID, c.ProjectID, c.Type, sealed, encodeExtra(c.Extra)); err != nil {
			return err
		}
		out = c
		return nil
	})
	return out, err
}

// DeleteCredential removes a credential.
func (s *Service) DeleteCredential(ctx context.Context, p *authn.Principal, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		c, err := s.getCredential(ctx, tx, id)
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				if aerr := s.authorize(p, "identity:delete_credential", map[string]any{"credential": map[string]any{"id": id}}); aerr != nil {
					return aerr
				}
			}
			return err
		}
		if err := s.authorize(p, "identity:delete_credential", credentialTarget(c)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = $1`, id)
		return err
	})
}
