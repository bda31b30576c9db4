// Package console is Nimbus's nova-novncproxy and nova-serialproxy: the
// console auth tokens the Compute API hands out (Nova's
// ConsoleAuthToken), and the websocket proxy that checks a token and
// relays the browser's websocket to the guest's console (the VNC server
// or serial port QEMU listens on) on its compute host.
//
// Tokens live in the compute database (table console_auth_tokens, in the
// compute migrations), hashed; like Nova's they may be used any number of
// times until they expire.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// DefaultTTL is how long a token is good for (Nova's
// [consoleauth] token_ttl).
const DefaultTTL = 10 * time.Minute

// Console types, as the API names them.
const (
	NoVNC  = "novnc"
	Serial = "serial"
)

// ErrInvalidToken means no such token, or it has expired.
var ErrInvalidToken = errors.New("console token is invalid or has expired")

// ConnectInfo is what a token opens: a console on a compute host.
type ConnectInfo struct {
	InstanceUUID string
	ConsoleType  string // NoVNC or Serial
	Host         string // the address the proxy dials
	Port         int
	// InternalAccessPath, when set, is sent as "CONNECT <path>" to the
	// console before relaying (Nova's internal_access_path).
	InternalAccessPath string
	// AccessURLBase is the proxy's public URL the token was issued for;
	// its scheme is the one a browser's Origin must have.
	AccessURLBase string
	Expires       time.Time
}

// Tokens stores console tokens in the compute database.
type Tokens struct {
	db  *db.DB
	now func() time.Time
}

// NewTokens makes a token store on the compute database d (migrated by
// compute.New or `nimbus db migrate compute`).
func NewTokens(d *db.DB) *Tokens { return &Tokens{db: d, now: time.Now} }

// SetClock replaces the clock, for tests of expiry.
func (t *Tokens) SetClock(now func() time.Time) { t.now = now }

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authorize stores a new token for ci, good for ttl (DefaultTTL when
// <= 0), and returns it. ci.Expires is ignored. Expired tokens go at the
// same time, so the table holds no more than ttl's worth.
func (t *Tokens) Authorize(ctx context.Context, ci ConnectInfo, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	token := rand.Text() // 26 base32 characters, 128 bits
	now := t.now()
	var path any
	if ci.InternalAccessPath != "" {
		path = ci.InternalAccessPath
	}
	if _, err := t.db.ExecContext(ctx, `DELETE FROM console_auth_tokens WHERE expires <= $1`, now.UnixMicro()); err != nil {
		return "", fmt.Errorf("delete expired console tokens: %w", err)
	}
	_, err := t.db.ExecContext(ctx, `INSERT INTO console_auth_tokens
		(token_hash, console_type, host, port, internal_access_path, instance_uuid, access_url_base, expires, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		hash(token), ci.ConsoleType, ci.Host, ci.Port, path, ci.InstanceUUID, ci.AccessURLBase,
		now.Add(ttl).UnixMicro(), now.UnixMicro())
	if err != nil {
		return "", fmt.Errorf("store console token for %s: %w", ci.InstanceUUID, err)
	}
	return token, nil
}

// Validate returns what token opens, or ErrInvalidToken. A token stays
// valid until it expires, however often it is used.
func (t *Tokens) Validate(ctx context.Context, token string) (*ConnectInfo, error) {
	if token == "" {
		return nil, ErrInvalidToken
	}
	var ci ConnectInfo
	var path sql.NullString
	var expires int64
	err := t.db.QueryRowContext(ctx, `SELECT console_type, host, port, internal_access_path, instance_uuid,
		access_url_base, expires FROM console_auth_tokens WHERE token_hash = $1`, hash(token)).
		Scan(&ci.ConsoleType, &ci.Host, &ci.Port, &path, &ci.InstanceUUID, &ci.AccessURLBase, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up console token: %w", err)
	}
	ci.InternalAccessPath = path.String
	ci.Expires = time.UnixMicro(expires)
	if !t.now().Before(ci.Expires) {
		return nil, ErrInvalidToken
	}
	return &ci, nil
}

// DeleteInstance removes every token of an instance: Nova does so when
// the instance is deleted, rebuilt, resized or migrated.
func (t *Tokens) DeleteInstance(ctx context.Context, uuid string) error {
	if _, err := t.db.ExecContext(ctx, `DELETE FROM console_auth_tokens WHERE instance_uuid = $1`, uuid); err != nil {
		return fmt.Errorf("delete console tokens of %s: %w", uuid, err)
	}
	return nil
}

// DeleteExpired removes expired tokens and says how many there were.
func (t *Tokens) DeleteExpired(ctx context.Context) (int64, error) {
	res, err := t.db.ExecContext(ctx, `DELETE FROM console_auth_tokens WHERE expires <= $1`, t.now().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("delete expired console tokens: %w", err)
	}
	return res.RowsAffected()
}

// AccessURL is the URL a user opens with token, built as Nova builds it:
// for noVNC the token goes inside the page's "path" query parameter
// (noVNC 1.1 dropped the top-level "token" one): base
// "http://h:6080/vnc_lite.html" gives
// "http://h:6080/vnc_lite.html?path=%3Ftoken%3D<token>"; any other
// console gets "<base>?token=<token>".
func AccessURL(consoleType, base, token string) string {
	if consoleType != NoVNC {
		return base + "?token=" + token
	}
	u, err := url.Parse(base)
	if err != nil {
		return base + "?path=" + url.QueryEscape("?token="+token)
	}
	q := u.Query()
	q.Set("path", q.Get("path")+"?token="+token)
	u.RawQuery = q.Encode()
	return u.String()
}
