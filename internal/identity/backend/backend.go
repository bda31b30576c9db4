// Package backend defines where identity keeps users and groups: the SQL
// database by default, or a read-only directory (LDAP) for chosen domains,
// as Keystone's domain-specific identity drivers do.
//
// A driver speaks in local IDs: the identifiers its own store knows. The
// identity service maps them to public IDs for drivers other than SQL, so an
// LDAP entry's ID is stable and unique across domains.
package backend

import (
	"context"
	"time"
)

// User is a user as a driver stores it.
type User struct {
	ID                string // local ID
	DomainID          string // set by the service for non-SQL drivers
	Name              string
	Enabled           bool
	Email             string
	Description       string
	DefaultProjectID  string
	PasswordExpiresAt *time.Time
}

// Group is a group as a driver stores it.
type Group struct {
	ID          string // local ID
	DomainID    string
	Name        string
	Description string
}

// Filter narrows a listing. Empty fields match everything.
type Filter struct {
	Name    string // exact name
	Enabled *bool  // users only
}

// Reader is what every identity driver can do.
type Reader interface {
	// Authenticate checks a user's password. It returns an error whose
	// fault kind is Unauthorized for any mismatch, never saying whether the
	// user exists.
	Authenticate(ctx context.Context, userID, password string) error
	GetUser(ctx context.Context, userID string) (*User, error)     // fault.NotFound when missing
	GetUserByName(ctx context.Context, name string) (*User, error) // fault.NotFound when missing
	ListUsers(ctx context.Context, f Filter) ([]User, error)
	GetGroup(ctx context.Context, groupID string) (*Group, error)    // fault.NotFound when missing
	GetGroupByName(ctx context.Context, name string) (*Group, error) // fault.NotFound when missing
	ListGroups(ctx context.Context, f Filter) ([]Group, error)
	ListGroupsForUser(ctx context.Context, userID string) ([]Group, error)
	ListUsersInGroup(ctx context.Context, groupID string) ([]User, error)
	IsUserInGroup(ctx context.Context, userID, groupID string) (bool, error)
}

// Config describes one domain's driver, as in a Keystone domain-specific
// configuration file (keystone.DOMAIN.conf, [ldap] section).
type LDAPConfig struct {
	URL                  string // ldap://127.0.0.1:3890
	User                 string // bind DN; empty = anonymous
	Password             string
	Suffix               string
	UserTreeDN           string
	UserObjectClass      string // default inetOrgPerson
	UserIDAttribute      string // default cn
	UserNameAttribute    string // default sn
	UserMailAttribute    string // default mail
	UserDescAttribute    string // default description
	UserEnabledAttribute string // empty = every user enabled
	UserEnabledInvert    bool
	UserEnabledMask      int
	UserEnabledDefault   string
	UserFilter           string // extra LDAP filter, e.g. (memberOf=...)
	GroupTreeDN          string
	GroupObjectClass     string // default groupOfNames
	GroupIDAttribute     string // default cn
	GroupNameAttribute   string // default ou
	GroupMemberAttribute string // default member
	GroupDescAttribute   string // default description
	GroupFilter          string
	QueryScope           string // "one" (default) or "sub"
	PageSize             int    // 0 = no paging
	Timeout              time.Duration
}
