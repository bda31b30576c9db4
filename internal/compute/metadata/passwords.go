package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/db"
)

// Passwords are the passwords guests post to the metadata service
// (encrypted by the guest with the instance's public key, as cloudbase-init
// does), kept in the compute database's instance_passwords table; Nova
// keeps them in system metadata. os-server-password shows and clears them.
type Passwords struct {
	DB *db.DB
}

// Get returns an instance's password, "" when it has none.
func (p Passwords) Get(ctx context.Context, uuid string) (string, error) {
	var pw string
	err := p.DB.QueryRowContext(ctx, `SELECT password FROM instance_passwords WHERE instance_uuid = $1`, uuid).Scan(&pw)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get password of %s: %w", uuid, err)
	}
	return pw, nil
}

// Set stores an instance's password unless it has one already; it
// reports whether it stored it.
func (p Passwords) Set(ctx context.Context, uuid, password string) (bool, error) {
	res, err := p.DB.ExecContext(ctx, `INSERT INTO instance_passwords (instance_uuid, password, created_at)
		VALUES ($1, $2, $3) ON CONFLICT (instance_uuid) DO NOTHING`, uuid, password, time.Now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("set password of %s: %w", uuid, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("set password of %s: %w", uuid, err)
	}
	return n == 1, nil
}

// Clear removes an instance's password (os-server-password DELETE, and
// when the instance is deleted), so that the guest may post a new one.
func (p Passwords) Clear(ctx context.Context, uuid string) error {
	if _, err := p.DB.ExecContext(ctx, `DELETE FROM instance_passwords WHERE instance_uuid = $1`, uuid); err != nil {
		return fmt.Errorf("clear password of %s: %w", uuid, err)
	}
	return nil
}
