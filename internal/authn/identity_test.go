package authn

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIdentity is a stand-in for the identity API: it issues service tokens
// for one service user and validates tokens kept in a map, as
// POST and GET /v3/auth/tokens do.
type fakeIdentity struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	tokens   map[string]fakeToken
	next     int
	gate     chan struct{} // when set, validations wait for it to close
	failWith int           // when set, validations answer this status

	issued    atomic.Int32 // POST /v3/auth/tokens
	validated atomic.Int32 // GET /v3/auth/tokens
}

// fakeToken is what the fake knows of a token.
type fakeToken struct {
	service   bool
	userID    string
	userName  string
	projectID string
	domainID  string
	system    bool
	roles     []string
	adminProj *bool
	appCred   string
	issuedAt  time.Time
	expiresAt time.Time
	methods   []string
	auditID   string
}

const (
	svcUser     = "nimbus"
	svcPassword = "s3cret"
)

func newFakeIdentity(t *testing.T) *fakeIdentity {
	t.Helper()
	f := &fakeIdentity{t: t, tokens: make(map[string]fakeToken)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/auth/tokens", f.issue)
	mux.HandleFunc("GET /v3/auth/tokens", f.validate)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// remote returns a Remote that uses f, with o's other options.
func (f *fakeIdentity) remote(o RemoteOptions) *Remote {
	f.t.Helper()
	o.AuthURL = f.srv.URL + "/v3/"
	o.Username, o.Password, o.ProjectName = svcUser, svcPassword, "service"
	o.HTTPClient = f.srv.Client()
	r, err := NewRemote(o)
	if err != nil {
		f.t.Fatalf("NewRemote: %v", err)
	}
	return r
}

// add stores a token and returns its id.
func (f *fakeIdentity) add(tok fakeToken) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := fmt.Sprintf("gAAAAA-token-%d", f.next)
	if tok.expiresAt.IsZero() {
		tok.expiresAt = time.Now().Add(time.Hour)
	}
	if tok.issuedAt.IsZero() {
		tok.issuedAt = time.Now()
	}
	if tok.methods == nil {
		tok.methods = []string{"password"}
	}
	tok.auditID = fmt.Sprintf("audit-%d", f.next)
	f.tokens[id] = tok
	return id
}

// set changes the fake's behaviour under its lock.
func (f *fakeIdentity) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

// revokeServiceTokens makes identity forget every service token.
func (f *fakeIdentity) revokeServiceTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, tok := range f.tokens {
		if tok.service {
			delete(f.tokens, id)
		}
	}
}

func (f *fakeIdentity) lookup(id string) (fakeToken, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.tokens[id]
	if !ok || time.Now().After(tok.expiresAt) {
		return fakeToken{}, false
	}
	return tok, true
}

func (f *fakeIdentity) issue(w http.ResponseWriter, r *http.Request) {
	f.issued.Add(1)
	if !r.URL.Query().Has("nocatalog") {
		f.t.Errorf("POST /v3/auth/tokens without ?nocatalog")
	}
	var req struct {
		Auth struct {
			Identity struct {
				Methods  []string `json:"methods"`
				Password struct {
					User struct {
						Name     string            `json:"name"`
						Password string            `json:"password"`
						Domain   map[string]string `json:"domain"`
					} `json:"user"`
				} `json:"password"`
			} `json:"identity"`
			Scope struct {
				Project struct {
					Name   string            `json:"name"`
					Domain map[string]string `json:"domain"`
				} `json:"project"`
			} `json:"scope"`
		} `json:"auth"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest)
		return
	}
	a := req.Auth
	u := a.Identity.Password.User
	if len(a.Identity.Methods) != 1 || a.Identity.Methods[0] != "password" ||
		u.Name != svcUser || u.Password != svcPassword || u.Domain["name"] != "Default" ||
		a.Scope.Project.Name != "service" || a.Scope.Project.Domain["name"] != "Default" {
		writeError(w, http.StatusUnauthorized)
		return
	}
	id := f.add(fakeToken{service: true, userID: "svc-user-id", userName: svcUser, projectID: "service-project-id", roles: []string{"service"}})
	tok, _ := f.lookup(id)
	w.Header().Set("X-Subject-Token", id)
	writeToken(w, http.StatusCreated, tok)
}

func (f *fakeIdentity) validate(w http.ResponseWriter, r *http.Request) {
	f.validated.Add(1)
	f.mu.Lock()
	gate, failWith := f.gate, f.failWith
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if failWith != 0 {
		writeError(w, failWith)
		return
	}
	if !r.URL.Query().Has("nocatalog") {
		f.t.Errorf("GET /v3/auth/tokens without ?nocatalog")
	}
	if tok, ok := f.lookup(r.Header.Get("X-Auth-Token")); !ok || !tok.service {
		writeError(w, http.StatusUnauthorized)
		return
	}
	subject := r.Header.Get("X-Subject-Token")
	tok, ok := f.lookup(subject)
	if !ok {
		writeError(w, http.StatusNotFound)
		return
	}
	w.Header().Set("X-Subject-Token", subject)
	writeToken(w, http.StatusOK, tok)
}

// writeToken renders tok as Keystone's token API does.
func writeToken(w http.ResponseWriter, status int, tok fakeToken) {
	def := map[string]any{"id": "default", "name": "Default"}
	t := map[string]any{
		"methods":    tok.methods,
		"user":       map[string]any{"id": tok.userID, "name": tok.userName, "domain": def, "password_expires_at": nil},
		"audit_ids":  []string{tok.auditID},
		"expires_at": tok.expiresAt.UTC().Format(timeLayout),
		"issued_at":  tok.issuedAt.UTC().Format(timeLayout),
	}
	var roles []map[string]any
	for _, name := range tok.roles {
		roles = append(roles, map[string]any{"id": "id-" + name, "name": name})
	}
	switch {
	case tok.projectID != "":
		t["project"] = map[string]any{"id": tok.projectID, "name": "name-" + tok.projectID, "domain": def}
		t["is_domain"] = false
	case tok.domainID != "":
		t["domain"] = map[string]any{"id": tok.domainID, "name": "name-" + tok.domainID}
	case tok.system:
		t["system"] = map[string]any{"all": true}
	}
	if roles != nil {
		t["roles"] = roles
	}
	if tok.adminProj != nil {
		t["is_admin_project"] = *tok.adminProj
	}
	if tok.appCred != "" {
		t["application_credential"] = map[string]any{"id": tok.appCred, "name": "ac", "restricted": true}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"token": t})
}

func writeError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error": {"code": %d, "message": "%s", "title": "%s"}}`, status, http.StatusText(status), http.StatusText(status))
}

// clock is a settable time for cache expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
