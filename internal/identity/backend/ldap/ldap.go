// Package ldap is a read-only identity driver that reads users and groups
// from an LDAP directory, as Keystone's LDAP identity backend does: the same
// configuration options and defaults, the same mapping of entries to users
// and groups, the same enabled-attribute rules, and passwords checked by
// binding to the directory as the user.
package ldap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
)

// Keystone's defaults for the [ldap] options this driver reads.
const (
	defaultUserObjectClass      = "inetOrgPerson"
	defaultUserIDAttribute      = "cn"
	defaultUserNameAttribute    = "sn"
	defaultUserMailAttribute    = "mail"
	defaultUserDescAttribute    = "description"
	defaultUserEnabledDefault   = "True"
	defaultGroupObjectClass     = "groupOfNames"
	defaultGroupIDAttribute     = "cn"
	defaultGroupNameAttribute   = "ou"
	defaultGroupMemberAttribute = "member"
	defaultGroupDescAttribute   = "description"
	defaultQueryScope           = "one"
	defaultTimeout              = 5 * time.Second
	defaultUserTreeRDN          = "ou=Users"
	defaultGroupTreeRDN         = "ou=UserGroups"
)

// errUnauthorized is what every failed authentication returns, whatever the
// cause, so that callers cannot tell a wrong password from a missing user.
func errUnauthorized() error {
	return fault.New(fault.Unauthorized, "The request you have made requires authentication.")
}

// Driver reads one directory. It keeps one connection bound with the
// configured service account for searches, shared by all callers (the LDAP
// protocol multiplexes requests), and replaces it when it breaks. Password
// checks bind on connections of their own.
type Driver struct {
	cfg       backend.LDAPConfig // with defaults applied
	urls      []string
	scope     int
	userTree  string
	groupTree string

	mu   sync.Mutex
	conn *ldap.Conn // bound search connection; nil until first use or after a failure
}

var _ backend.Reader = (*Driver)(nil)

// New checks cfg, fills in Keystone's defaults and returns a driver. It
// does not connect: the directory may come up after Nimbus does.
func New(cfg backend.LDAPConfig) (*Driver, error) {
	setDefault(&cfg.UserObjectClass, defaultUserObjectClass)
	setDefault(&cfg.UserIDAttribute, defaultUserIDAttribute)
	setDefault(&cfg.UserNameAttribute, defaultUserNameAttribute)
	setDefault(&cfg.UserMailAttribute, defaultUserMailAttribute)
	setDefault(&cfg.UserDescAttribute, defaultUserDescAttribute)
	setDefault(&cfg.UserEnabledDefault, defaultUserEnabledDefault)
	setDefault(&cfg.GroupObjectClass, defaultGroupObjectClass)
	setDefault(&cfg.GroupIDAttribute, defaultGroupIDAttribute)
	setDefault(&cfg.GroupNameAttribute, defaultGroupNameAttribute)
	setDefault(&cfg.GroupMemberAttribute, defaultGroupMemberAttribute)
	setDefault(&cfg.GroupDescAttribute, defaultGroupDescAttribute)
	setDefault(&cfg.QueryScope, defaultQueryScope)
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}

	d := &Driver{cfg: cfg}
	// Keystone accepts several URLs separated by commas or spaces and
	// tries them in order.
	d.urls = strings.FieldsFunc(cfg.URL, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(d.urls) == 0 {
		return nil, errors.New("ldap: url is required")
	}
	switch cfg.QueryScope {
	case "one":
		d.scope = ldap.ScopeSingleLevel
	case "sub":
		d.scope = ldap.ScopeWholeSubtree
	default:
		return nil, fmt.Errorf("ldap: query_scope %q: want one or sub", cfg.QueryScope)
	}
	if cfg.PageSize < 0 {
		return nil, fmt.Errorf("ldap: page_size %d is negative", cfg.PageSize)
	}
	var err error
	if d.userTree, err = treeDN(cfg.UserTreeDN, defaultUserTreeRDN, cfg.Suffix, "user_tree_dn"); err != nil {
		return nil, err
	}
	if d.groupTree, err = treeDN(cfg.GroupTreeDN, defaultGroupTreeRDN, cfg.Suffix, "group_tree_dn"); err != nil {
		return nil, err
	}
	if d.cfg.UserFilter, err = checkFilter(cfg.UserFilter, "user_filter"); err != nil {
		return nil, err
	}
	if d.cfg.GroupFilter, err = checkFilter(cfg.GroupFilter, "group_filter"); err != nil {
		return nil, err
	}
	for name, v := range map[string]string{
		"user_objectclass":       cfg.UserObjectClass,
		"user_id_attribute":      cfg.UserIDAttribute,
		"user_name_attribute":    cfg.UserNameAttribute,
		"group_objectclass":      cfg.GroupObjectClass,
		"group_id_attribute":     cfg.GroupIDAttribute,
		"group_name_attribute":   cfg.GroupNameAttribute,
		"group_member_attribute": cfg.GroupMemberAttribute,
	} {
		// These are spliced into filters unescaped, so they must be plain
		// attribute or class names.
		if !isDescr(v) {
			return nil, fmt.Errorf("ldap: %s %q is not an attribute or class name", name, v)
		}
	}
	if cfg.UserEnabledAttribute != "" && !isDescr(cfg.UserEnabledAttribute) {
		return nil, fmt.Errorf("ldap: user_enabled_attribute %q is not an attribute name", cfg.UserEnabledAttribute)
	}
	return d, nil
}

func setDefault(v *string, def string) {
	if *v == "" {
		*v = def
	}
}

// treeDN is the configured tree, or Keystone's default below the suffix.
func treeDN(dn, defRDN, suffix, option string) (string, error) {
	if dn == "" {
		if suffix == "" {
			return "", fmt.Errorf("ldap: %s or suffix is required", option)
		}
		dn = defRDN + "," + suffix
	}
	if _, err := ldap.ParseDN(dn); err != nil {
		return "", fmt.Errorf("ldap: %s %q: %w", option, dn, err)
	}
	return dn, nil
}

// checkFilter validates an operator's extra filter, adding the parentheses
// an LDAP filter needs if they are missing.
func checkFilter(f, option string) (string, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return "", nil
	}
	if !strings.HasPrefix(f, "(") {
		f = "(" + f + ")"
	}
	if _, err := ldap.CompileFilter(f); err != nil {
		return "", fmt.Errorf("ldap: %s %q: %w", option, f, err)
	}
	return f, nil
}

// isDescr reports whether s is an attribute or object class name (or OID).
func isDescr(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == ';') {
			return false
		}
	}
	return true
}

// Close drops the search connection. The driver reconnects if used again.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return nil
	}
	err := d.conn.Close()
	d.conn = nil
	return err
}

// dial opens a connection to the first URL that answers within the timeout.
func (d *Driver) dial(ctx context.Context) (*ldap.Conn, error) {
	var errs []error
	for _, u := range d.urls {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dialer := &net.Dialer{Timeout: d.cfg.Timeout}
		if dl, ok := ctx.Deadline(); ok {
			dialer.Deadline = dl
		}
		conn, err := ldap.DialURL(u, ldap.DialWithDialer(dialer))
		if err != nil {
			errs = append(errs, fmt.Errorf("connect to %s: %w", u, err))
			continue
		}
		conn.SetTimeout(d.cfg.Timeout)
		return conn, nil
	}
	return nil, errors.Join(errs...)
}

// searchConn returns the shared bound connection, making it if needed, and
// whether it was just made.
func (d *Driver) searchConn(ctx context.Context) (*ldap.Conn, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil && !d.conn.IsClosing() {
		return d.conn, false, nil
	}
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	conn, err := d.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	if d.cfg.User != "" {
		// An empty password here would be an anonymous bind in disguise;
		// go-ldap refuses it, which surfaces the misconfiguration.
		if err := conn.Bind(d.cfg.User, d.cfg.Password); err != nil {
			conn.Close()
			return nil, false, fmt.Errorf("bind to %s as %s: %w", d.cfg.URL, d.cfg.User, err)
		}
	}
	d.conn = conn
	return conn, true, nil
}

// dropConn forgets conn if it is still the shared one.
func (d *Driver) dropConn(conn *ldap.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == conn {
		d.conn = nil
	}
	conn.Close()
}

// search runs req on the shared connection. If a reused connection fails
// at the network level (the server restarted, an idle timeout closed it),
// it reconnects and tries once more. A base DN that does not exist yields
// no entries, as in Keystone.
func (d *Driver) search(ctx context.Context, req *ldap.SearchRequest) ([]*ldap.Entry, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		conn, fresh, err := d.searchConn(ctx)
		if err != nil {
			return nil, err
		}
		var res *ldap.SearchResult
		if d.cfg.PageSize > 0 && req.Scope != ldap.ScopeBaseObject {
			res, err = conn.SearchWithPaging(req, uint32(d.cfg.PageSize))
		} else {
			res, err = conn.Search(req)
		}
		switch {
		case err == nil:
			return res.Entries, nil
		case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
			return nil, nil
		case ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || conn.IsClosing():
			d.dropConn(conn)
			if !fresh && attempt == 0 {
				continue
			}
		}
		return nil, fmt.Errorf("ldap search %s %s: %w", req.BaseDN, req.Filter, err)
	}
}

func (d *Driver) newSearch(base string, scope int, filter string, attrs []string) *ldap.SearchRequest {
	return ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
}

// and joins filter terms, skipping empty ones.
func and(terms ...string) string {
	return "(&" + strings.Join(terms, "") + ")"
}

func eq(attr, value string) string {
	return "(" + attr + "=" + ldap.EscapeFilter(value) + ")"
}

// userFilter matches this driver's users: the object class, the operator's
// filter, an ID, and whatever extra terms the caller adds.
func (d *Driver) userFilter(extra ...string) string {
	terms := []string{"(objectClass=" + d.cfg.UserObjectClass + ")", d.cfg.UserFilter, "(" + d.cfg.UserIDAttribute + "=*)"}
	return and(append(terms, extra...)...)
}

func (d *Driver) groupFilter(extra ...string) string {
	terms := []string{"(objectClass=" + d.cfg.GroupObjectClass + ")", d.cfg.GroupFilter, "(" + d.cfg.GroupIDAttribute + "=*)"}
	return and(append(terms, extra...)...)
}

// firstValue is an attribute's first value, matching the name without
// regard to case as LDAP does.
func firstValue(e *ldap.Entry, attr string) string {
	return e.GetEqualFoldAttributeValue(attr)
}

// entryID is an entry's local ID. An ID attribute with several values
// cannot be an ID; like Keystone, fall back to the value in the DN.
func entryID(e *ldap.Entry, attr string) string {
	vals := e.GetEqualFoldAttributeValues(attr)
	switch len(vals) {
	case 0:
		return ""
	case 1:
		return vals[0]
	}
	if id, ok := rdnValue(e.DN, attr); ok {
		return id
	}
	return vals[0]
}

// rdnValue is the value of attr in the first RDN of dn, if it is there.
func rdnValue(dn, attr string) (string, bool) {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 {
		return "", false
	}
	for _, a := range parsed.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, attr) {
			return a.Value, true
		}
	}
	return "", false
}

// hasName reports whether an entry has a usable name. Keystone ignores
// entries whose name attribute is missing or blank.
func hasName(e *ldap.Entry, attr string) bool {
	return strings.TrimSpace(firstValue(e, attr)) != ""
}
