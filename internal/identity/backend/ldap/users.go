package ldap

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
)

func userNotFound(id string) error {
	return fault.NotFoundf("Could not find user: %s.", id)
}

func (d *Driver) userAttrs() []string {
	attrs := []string{d.cfg.UserIDAttribute, d.cfg.UserNameAttribute, d.cfg.UserMailAttribute, d.cfg.UserDescAttribute}
	if d.cfg.UserEnabledAttribute != "" {
		attrs = append(attrs, d.cfg.UserEnabledAttribute)
	}
	return attrs
}

// userEntry finds the entry of the user with this local ID.
func (d *Driver) userEntry(ctx context.Context, id string) (*ldap.Entry, error) {
	if id == "" {
		return nil, userNotFound(id)
	}
	entries, err := d.search(ctx, d.newSearch(d.userTree, d.scope,
		d.userFilter(eq(d.cfg.UserIDAttribute, id)), d.userAttrs()))
	if err != nil {
		return nil, err
	}
	// Like Keystone, the first match decides; a nameless entry is no user.
	if len(entries) == 0 || !hasName(entries[0], d.cfg.UserNameAttribute) {
		return nil, userNotFound(id)
	}
	return entries[0], nil
}

// listUsers returns the users matching the extra filter terms.
func (d *Driver) listUsers(ctx context.Context, extra ...string) ([]backend.User, error) {
	entries, err := d.search(ctx, d.newSearch(d.userTree, d.scope, d.userFilter(extra...), d.userAttrs()))
	if err != nil {
		return nil, err
	}
	users := make([]backend.User, 0, len(entries))
	for _, e := range entries {
		if u, ok := d.toUser(e); ok {
			users = append(users, u)
		}
	}
	return users, nil
}

// toUser maps an entry to a user; entries without an ID or a name are not
// users.
func (d *Driver) toUser(e *ldap.Entry) (backend.User, bool) {
	u := backend.User{
		ID:          entryID(e, d.cfg.UserIDAttribute),
		Name:        firstValue(e, d.cfg.UserNameAttribute),
		Email:       firstValue(e, d.cfg.UserMailAttribute),
		Description: firstValue(e, d.cfg.UserDescAttribute),
		Enabled:     d.enabled(e),
	}
	return u, u.ID != "" && strings.TrimSpace(u.Name) != ""
}

// enabled applies Keystone's rules for user_enabled_attribute: with a
// mask, the user is disabled when all the mask's bits are set (Active
// Directory's userAccountControl with mask 2); otherwise the value is a
// boolean, optionally inverted. A missing value takes
// user_enabled_default. Values that are neither booleans nor integers
// count as disabled rather than guessed at.
func (d *Driver) enabled(e *ldap.Entry) bool {
	attr := d.cfg.UserEnabledAttribute
	if attr == "" {
		return true
	}
	v := strings.TrimSpace(firstValue(e, attr))
	if v == "" {
		v = d.cfg.UserEnabledDefault
	}
	if mask := d.cfg.UserEnabledMask; mask != 0 {
		n, ok := enabledInt(v)
		if !ok {
			return false
		}
		return n&int64(mask) != int64(mask)
	}
	n, ok := enabledInt(v)
	on := ok && n != 0
	if d.cfg.UserEnabledInvert {
		on = !on
	}
	return on
}

// enabledInt reads a value as Keystone does: LDAP's TRUE and FALSE as 1
// and 0, else an integer.
func enabledInt(v string) (int64, bool) {
	switch {
	case strings.EqualFold(v, "true"):
		return 1, true
	case strings.EqualFold(v, "false"):
		return 0, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// GetUser returns the user with this local ID.
func (d *Driver) GetUser(ctx context.Context, userID string) (*backend.User, error) {
	e, err := d.userEntry(ctx, userID)
	if err != nil {
		return nil, err
	}
	u, ok := d.toUser(e)
	if !ok {
		return nil, userNotFound(userID)
	}
	return &u, nil
}

// GetUserByName returns the first user whose name attribute matches, using
// the directory's matching rule for that attribute (usually case-blind).
func (d *Driver) GetUserByName(ctx context.Context, name string) (*backend.User, error) {
	if name == "" {
		return nil, userNotFound(name)
	}
	users, err := d.listUsers(ctx, eq(d.cfg.UserNameAttribute, name))
	if err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, userNotFound(name)
	}
	return &users[0], nil
}

// ListUsers lists the users matching f. The name is matched by the
// directory; enablement, which depends on mask and invert options, here.
func (d *Driver) ListUsers(ctx context.Context, f backend.Filter) ([]backend.User, error) {
	var extra []string
	if f.Name != "" {
		extra = append(extra, eq(d.cfg.UserNameAttribute, f.Name))
	}
	users, err := d.listUsers(ctx, extra...)
	if err != nil {
		return nil, err
	}
	if f.Enabled == nil {
		return users, nil
	}
	kept := users[:0]
	for _, u := range users {
		if u.Enabled == *f.Enabled {
			kept = append(kept, u)
		}
	}
	return kept, nil
}

// Authenticate checks the password by binding as the user on a connection
// of its own. Any credential problem is the same Unauthorized fault; only a
// directory that cannot be reached is an internal error.
func (d *Driver) Authenticate(ctx context.Context, userID, password string) error {
	// LDAP treats a simple bind with an empty password as an anonymous
	// bind, which succeeds: it must never reach the server.
	if userID == "" || password == "" {
		return errUnauthorized()
	}
	e, err := d.userEntry(ctx, userID)
	if fault.Is(err, fault.NotFound) {
		return errUnauthorized()
	}
	if err != nil {
		return err
	}
	conn, err := d.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Bind(e.DN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
			return fmt.Errorf("bind to %s as %s: %w", d.cfg.URL, e.DN, err)
		}
		return errUnauthorized()
	}
	return nil
}
