package ldap

import (
	"context"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
)

func groupNotFound(id string) error {
	return fault.NotFoundf("Could not find group: %s.", id)
}

func (d *Driver) groupAttrs(more ...string) []string {
	return append([]string{d.cfg.GroupIDAttribute, d.cfg.GroupNameAttribute, d.cfg.GroupDescAttribute}, more...)
}

// groupEntry finds the entry of the group with this local ID, with the
// extra attributes asked for.
func (d *Driver) groupEntry(ctx context.Context, id string, more ...string) (*ldap.Entry, error) {
	if id == "" {
		return nil, groupNotFound(id)
	}
	entries, err := d.search(ctx, d.newSearch(d.groupTree, d.scope,
		d.groupFilter(eq(d.cfg.GroupIDAttribute, id)), d.groupAttrs(more...)))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 || !hasName(entries[0], d.cfg.GroupNameAttribute) {
		return nil, groupNotFound(id)
	}
	return entries[0], nil
}

func (d *Driver) listGroups(ctx context.Context, extra ...string) ([]backend.Group, error) {
	entries, err := d.search(ctx, d.newSearch(d.groupTree, d.scope, d.groupFilter(extra...), d.groupAttrs()))
	if err != nil {
		return nil, err
	}
	groups := make([]backend.Group, 0, len(entries))
	for _, e := range entries {
		if g, ok := d.toGroup(e); ok {
			groups = append(groups, g)
		}
	}
	return groups, nil
}

func (d *Driver) toGroup(e *ldap.Entry) (backend.Group, bool) {
	g := backend.Group{
		ID:          entryID(e, d.cfg.GroupIDAttribute),
		Name:        firstValue(e, d.cfg.GroupNameAttribute),
		Description: firstValue(e, d.cfg.GroupDescAttribute),
	}
	return g, g.ID != "" && strings.TrimSpace(g.Name) != ""
}

// GetGroup returns the group with this local ID.
func (d *Driver) GetGroup(ctx context.Context, groupID string) (*backend.Group, error) {
	e, err := d.groupEntry(ctx, groupID)
	if err != nil {
		return nil, err
	}
	g, ok := d.toGroup(e)
	if !ok {
		return nil, groupNotFound(groupID)
	}
	return &g, nil
}

// GetGroupByName returns the first group whose name attribute matches.
func (d *Driver) GetGroupByName(ctx context.Context, name string) (*backend.Group, error) {
	if name == "" {
		return nil, groupNotFound(name)
	}
	groups, err := d.listGroups(ctx, eq(d.cfg.GroupNameAttribute, name))
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return nil, groupNotFound(name)
	}
	return &groups[0], nil
}

// ListGroups lists the groups matching f.Name, or all.
func (d *Driver) ListGroups(ctx context.Context, f backend.Filter) ([]backend.Group, error) {
	if f.Name != "" {
		return d.listGroups(ctx, eq(d.cfg.GroupNameAttribute, f.Name))
	}
	return d.listGroups(ctx)
}

// ListGroupsForUser lists the groups whose member attribute holds the
// user's DN.
func (d *Driver) ListGroupsForUser(ctx context.Context, userID string) ([]backend.Group, error) {
	u, err := d.userEntry(ctx, userID)
	if err != nil {
		return nil, err
	}
	return d.listGroups(ctx, eq(d.cfg.GroupMemberAttribute, u.DN))
}

// ListUsersInGroup lists the users whose DNs the group's member attribute
// holds. Members that are not users of this driver (a placeholder DN, an
// entry deleted since, an entry outside the user tree or filter) are
// skipped, as Keystone does.
func (d *Driver) ListUsersInGroup(ctx context.Context, groupID string) ([]backend.User, error) {
	g, err := d.groupEntry(ctx, groupID, d.cfg.GroupMemberAttribute)
	if err != nil {
		return nil, err
	}
	var users []backend.User
	for _, dn := range g.GetEqualFoldAttributeValues(d.cfg.GroupMemberAttribute) {
		id, err := d.dnToID(ctx, dn)
		if err != nil {
			return nil, err
		}
		if id == "" {
			continue
		}
		u, err := d.GetUser(ctx, id)
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		users = append(users, *u)
	}
	return users, nil
}

// dnToID is the user ID a member DN names: the RDN's value when the RDN is
// the ID attribute (the usual layout, no search needed), else the ID
// attribute read from the entry. It is empty when there is no such user.
func (d *Driver) dnToID(ctx context.Context, dn string) (string, error) {
	if _, err := ldap.ParseDN(dn); err != nil || strings.TrimSpace(dn) == "" {
		return "", nil
	}
	if id, ok := rdnValue(dn, d.cfg.UserIDAttribute); ok {
		return id, nil
	}
	entries, err := d.search(ctx, d.newSearch(dn, ldap.ScopeBaseObject, d.userFilter(), []string{d.cfg.UserIDAttribute}))
	if err != nil || len(entries) == 0 {
		return "", err
	}
	return entryID(entries[0], d.cfg.UserIDAttribute), nil
}

// IsUserInGroup reports whether the group's member attribute holds the
// user's DN, comparing as the directory compares DNs. A missing user or
// group is NotFound.
func (d *Driver) IsUserInGroup(ctx context.Context, userID, groupID string) (bool, error) {
	u, err := d.userEntry(ctx, userID)
	if err != nil {
		return false, err
	}
	g, err := d.groupEntry(ctx, groupID)
	if err != nil {
		return false, err
	}
	entries, err := d.search(ctx, d.newSearch(g.DN, ldap.ScopeBaseObject,
		eq(d.cfg.GroupMemberAttribute, u.DN), []string{"1.1"}))
	if err != nil {
		return false, err
	}
	return len(entries) > 0, nil
}
