// Package ldaptest runs a private OpenLDAP slapd for tests: its own
// directory, its own port, its own process, gone when the test ends. Tests
// that call Start skip themselves where slapd is not installed.
//
// The directory is laid out as Keystone's LDAP driver expects by default:
// users (inetOrgPerson, ID in cn, name in sn) under ou=Users and groups
// (groupOfNames, ID in cn, name in ou) under ou=UserGroups.
package ldaptest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nimbus-cloud/nimbus/internal/identity/backend"
)

// SlapdPath is where Debian's slapd package installs the server.
const SlapdPath = "/usr/sbin/slapd"

const modulePath = "/usr/lib/ldap"

// AccountClass is an auxiliary object class every user added by AddUser
// carries, so that tests can set the enablement attributes real
// directories use: userAccountControl (an integer with bit flags, as in
// Active Directory) and enabled (a boolean, Keystone's default).
const AccountClass = "nimbusTestAccount"

// Server is a running slapd holding one suffix.
type Server struct {
	URL          string // ldap://127.0.0.1:PORT/
	BindDN       string // rootdn: may read and write everything
	BindPassword string
	Suffix       string // dc=example,dc=org
	UserTreeDN   string // ou=Users,<Suffix>
	GroupTreeDN  string // ou=UserGroups,<Suffix>

	dir  string
	conf string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *output
}

// Start runs a fresh slapd with the base entries and no users, and stops
// it when the test ends. It skips the test when slapd is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(SlapdPath); err != nil {
		t.Skipf("slapd not installed (%v); install Debian's slapd package to run LDAP tests", err)
	}
	if _, err := os.Stat(filepath.Join(modulePath, "back_mdb.so")); err != nil {
		t.Skipf("slapd's back_mdb module not found (%v)", err)
	}
	dir := t.TempDir()
	s := &Server{
		BindDN:       "cn=admin,dc=example,dc=org",
		BindPassword: "admin-secret",
		Suffix:       "dc=example,dc=org",
		UserTreeDN:   "ou=Users,dc=example,dc=org",
		GroupTreeDN:  "ou=UserGroups,dc=example,dc=org",
		dir:          dir,
		conf:         filepath.Join(dir, "slapd.conf"),
	}
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.conf, []byte(s.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("pick a port for slapd: %v", err)
	}
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d/", port)
	t.Cleanup(s.Stop)
	s.Restart(t)

	s.add(t, s.Suffix, map[string][]string{
		"objectClass": {"dcObject", "organization"},
		"dc":          {"example"},
		"o":           {"Example"},
	})
	s.add(t, s.UserTreeDN, map[string][]string{
		"objectClass": {"organizationalUnit"},
		"ou":          {"Users"},
	})
	s.add(t, s.GroupTreeDN, map[string][]string{
		"objectClass": {"organizationalUnit"},
		"ou":          {"UserGroups"},
	})
	return s
}

// config is a slapd.conf for one mdb database. The access rules are those
// of a typical deployment: passwords are usable for binds only, everything
// else is readable.
func (s *Server) config() string {
	schema := "/etc/ldap/schema"
	return fmt.Sprintf(`include %[1]s/core.schema
include %[1]s/cosine.schema
include %[1]s/inetorgperson.schema

attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'enabled'
	EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME '%[2]s' AUXILIARY
	MAY ( userAccountControl $ enabled ) )

pidfile %[3]s/slapd.pid
argsfile %[3]s/slapd.args
modulepath %[4]s
moduleload back_mdb

database mdb
maxsize 33554432
suffix "%[5]s"
rootdn "%[6]s"
rootpw %[7]s
directory %[3]s/db
index objectClass eq
index cn,sn,ou eq
index member eq

access to attrs=userPassword
	by anonymous auth
	by * none
access to * by * read
`, schema, AccountClass, s.dir, modulePath, s.Suffix, s.BindDN, s.BindPassword)
}

// Restart starts slapd again on the same URL and data after Stop, for tests
// of reconnection. Start calls it for the first run.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		t.Fatal("ldaptest: Restart while slapd is running")
	}
	// -d 0 keeps slapd in the foreground as our child, so Stop can kill
	// and reap it; killOnParentExit covers a test binary that dies first.
	cmd := exec.Command(SlapdPath, "-d", "0", "-h", s.URL, "-f", s.conf)
	killOnParentExit(cmd)
	s.stderr = &output{}
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			s.cmd = nil
			t.Fatalf("slapd exited at startup: %s\n%s", cmd.ProcessState, s.stderr)
		default:
		}
		conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not accept connections on %s: %v\n%s", s.URL, err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills slapd and waits for it to exit. The data stays for Restart.
// It is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Config is a driver configuration for this server that binds as rootdn
// and otherwise relies on the driver's defaults.
func (s *Server) Config() backend.LDAPConfig {
	return backend.LDAPConfig{
		URL:      s.URL,
		User:     s.BindDN,
		Password: s.BindPassword,
		Suffix:   s.Suffix,
		Timeout:  5 * time.Second,
	}
}

// UserDN is the DN AddUser gives the user with this ID.
func (s *Server) UserDN(id string) string {
	return "cn=" + ldap.EscapeDN(id) + "," + s.UserTreeDN
}

// GroupDN is the DN AddGroup gives the group with this ID.
func (s *Server) GroupDN(id string) string {
	return "cn=" + ldap.EscapeDN(id) + "," + s.GroupTreeDN
}

// AddUser adds an inetOrgPerson with cn=id and sn=name. The password is
// stored salted and hashed ({SSHA}); an empty password or mail leaves the
// attribute out.
func (s *Server) AddUser(t testing.TB, id, name, password, mail string) {
	t.Helper()
	attrs := map[string][]string{
		"objectClass": {"inetOrgPerson", AccountClass},
		"cn":          {id},
		"sn":          {name},
	}
	if password != "" {
		attrs["userPassword"] = []string{ssha(password)}
	}
	if mail != "" {
		attrs["mail"] = []string{mail}
	}
	s.add(t, s.UserDN(id), attrs)
}

// SetUserAttr replaces (or, with no values, removes) an attribute of a
// user added by AddUser, e.g. userAccountControl or enabled.
func (s *Server) SetUserAttr(t testing.TB, id, attr string, values ...string) {
	t.Helper()
	conn := s.Dial(t)
	req := ldap.NewModifyRequest(s.UserDN(id), nil)
	req.Replace(attr, values)
	if err := conn.Modify(req); err != nil {
		t.Fatalf("ldaptest: set %s of user %s: %v", attr, id, err)
	}
}

// AddGroup adds a groupOfNames with cn=id and ou=name whose members are
// the users with memberIDs. groupOfNames requires a member, so a group
// without members holds the empty DN, as directories commonly do.
func (s *Server) AddGroup(t testing.TB, id, name string, memberIDs ...string) {
	t.Helper()
	members := make([]string, 0, len(memberIDs))
	for _, m := range memberIDs {
		members = append(members, s.UserDN(m))
	}
	if len(members) == 0 {
		members = []string{""}
	}
	s.add(t, s.GroupDN(id), map[string][]string{
		"objectClass": {"groupOfNames"},
		"cn":          {id},
		"ou":          {name},
		"member":      members,
	})
}

// Dial returns a connection bound as rootdn, closed when the test ends.
func (s *Server) Dial(t testing.TB) *ldap.Conn {
	t.Helper()
	conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatalf("ldaptest: dial %s: %v", s.URL, err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetTimeout(10 * time.Second)
	if err := conn.Bind(s.BindDN, s.BindPassword); err != nil {
		t.Fatalf("ldaptest: bind as %s: %v", s.BindDN, err)
	}
	return conn
}

// Add adds any entry, for layouts AddUser and AddGroup do not cover.
func (s *Server) Add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	s.add(t, dn, attrs)
}

func (s *Server) add(t testing.TB, dn string, attrs map[string][]string) {
	t.Helper()
	conn := s.Dial(t)
	req := ldap.NewAddRequest(dn, nil)
	for name, values := range attrs {
		req.Attribute(name, values)
	}
	if err := conn.Add(req); err != nil {
		t.Fatalf("ldaptest: add %s: %v", dn, err)
	}
	conn.Close()
}

// ssha hashes a password the way slapd's {SSHA} scheme checks it:
// base64(SHA1(password + salt) + salt).
func ssha(password string) string {
	salt := make([]byte, 8)
	rand.Read(salt)
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// freePort asks the kernel for a free TCP port on loopback. Another process
// may take it before slapd does; that is rare enough for tests.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address: " + l.Addr().String())
	}
	return addr.Port, nil
}

// output collects slapd's messages for failure reports; exec writes it from
// its own goroutine while Restart may read it.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.TrimSpace(o.buf.String())
}
