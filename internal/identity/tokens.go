package identity

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/identity/fernet"
)

// Token is a validated token with everything its body shows.
type Token struct {
	ID                  string // the Fernet token itself
	Methods             []string
	User                *User
	UserDomain          *Domain
	Project             *Project
	ProjectDomain       *Domain
	Domain              *Domain
	System              bool
	Roles               []Role
	AuditIDs            []string
	IssuedAt, ExpiresAt time.Time
	AppCred             *AppCred
	Trust               *Trust // trust-scoped: User is the trustor with impersonation, else the trustee
	IsAdminProject      bool

	// Derived once: a validated token is shared by every request that
	// presents it until identity changes.
	principalOnce sync.Once
	principal     *authn.Principal
	bodies        [2]atomic.Pointer[[]byte] // JSON body without and with catalog
}

// Scope says what a token should be scoped to.
type Scope struct {
	ProjectID, ProjectName, ProjectDomainID, ProjectDomainName string
	DomainID, DomainName                                       string
	System                                                     bool
	TrustID                                                    string // OS-TRUST:trust
	Unscoped                                                   bool   // explicit "unscoped": ignore the default project
}

func (sc Scope) empty() bool {
	return sc.ProjectID == "" && sc.ProjectName == "" && sc.DomainID == "" && sc.DomainName == "" && !sc.System &&
		sc.TrustID == ""
}

// UserRef names a user by id, or by name in a domain given by id or name.
type UserRef struct {
	ID, Name, DomainID, DomainName string
}

// AuthRequest is the body of POST /v3/auth/tokens.
type AuthRequest struct {
	Methods  []string
	Password *struct {
		User     UserRef
		Password string
	}
	Token   string // token method
	AppCred *struct {
		ID, Name string
		User     UserRef
		Secret   string
	}
	Scope Scope
}

var errAuth = fault.Unauthorizedf("The request you have made requires authentication.")

// Authenticate checks the request's methods and issues a token.
func (s *Service) Authenticate(ctx context.Context, req AuthRequest) (*Token, error) {
	if len(req.Methods) == 0 {
		return nil, fault.BadRequestf("Invalid input for field 'identity/methods': methods must not be empty.")
	}
	for _, m := range req.Methods {
		switch m {
		case "password", "token", "application_credential":
		default:
			return nil, fault.Unauthorizedf("Attempted to authenticate with an unsupported method.")
		}
	}
	now := s.now().UTC()
	t := &Token{IssuedAt: now, ExpiresAt: now.Add(s.cfg.TokenExpiration)}
	audit := []string{fernet.NewAuditID()}
	var methods []string
	var fromToken *Token

	for _, m := range req.Methods {
		switch m {
		case "password":
			if req.Password == nil {
				return nil, fault.BadRequestf("Invalid input for field 'identity/password': the password method needs a 'password' object.")
			}
			u, err := s.passwordUser(ctx, req.Password.User, req.Password.Password)
			if err != nil {
				return nil, err
			}
			if t.User != nil && t.User.ID != u.ID {
				return nil, errAuth
			}
			t.User = u
			methods = append(methods, "password")
		case "token":
			if req.Token == "" {
				return nil, fault.BadRequestf("Invalid input for field 'identity/token': the token method needs a token id.")
			}
			old, err := s.ValidateToken(ctx, req.Token, false)
			if err != nil {
				return nil, err // Keystone: 404 TokenNotFound for a bad or revoked token
			}
			if old.AppCred != nil {
				return nil, fault.Forbiddenf("Application credential tokens cannot be used to get another token.")
			}
			if old.Trust != nil {
				return nil, forbiddenAction("Using trust-scoped token to create another token. Create a new trust-scoped token instead")
			}
			if t.User != nil && t.User.ID != old.User.ID {
				return nil, errAuth
			}
			fromToken = old
			t.User = old.User
			t.ExpiresAt = old.ExpiresAt
			audit = append(audit, old.AuditIDs[len(old.AuditIDs)-1])
			methods = append(methods, "token")
			for _, om := range old.Methods {
				if !slices.Contains(methods, om) {
					methods = append(methods, om)
				}
			}
		case "application_credential":
			if req.AppCred == nil {
				return nil, fault.BadRequestf("Invalid input for field 'identity/application_credential': the method needs an 'application_credential' object.")
			}
			ac, u, err := s.appCredUser(ctx, req.AppCred.ID, req.AppCred.Name, req.AppCred.User, req.AppCred.Secret)
			if err != nil {
				return nil, err
			}
			t.User, t.AppCred = u, ac
			if ac.ExpiresAt != nil && ac.ExpiresAt.Before(t.ExpiresAt) {
				t.ExpiresAt = *ac.ExpiresAt
			}
			methods = append(methods, "application_credential")
		}
	}
	t.Methods = methods
	t.AuditIDs = audit
	if len(audit) > 1 {
		// a token from a token shares the original's chain
		t.AuditIDs = []string{audit[0], audit[1]}
	}

	scope := req.Scope
	switch {
	case t.AppCred != nil:
		if !scope.empty() && scope.ProjectID != t.AppCred.ProjectID {
			return nil, fault.Unauthorizedf("Application credentials cannot request a scope.")
		}
		scope = Scope{ProjectID: t.AppCred.ProjectID}
	case scope.empty() && fromToken != nil && !scope.Unscoped:
		// rescoping to nothing keeps an unscoped token unscoped
	case scope.empty() && !scope.Unscoped && t.User.DefaultProjectID != "":
		scope = Scope{ProjectID: t.User.DefaultProjectID}
		if err := s.resolveScope(ctx, t, scope); err != nil {
			// Keystone falls back to unscoped when the default project is unusable.
			t.Project, t.ProjectDomain, t.Roles = nil, nil, nil
			scope = Scope{}
		}
	}
	switch {
	case scope.TrustID != "":
		if err := s.scopeToTrust(ctx, t, scope.TrustID); err != nil {
			return nil, err
		}
	case !scope.empty() && t.Project == nil:
		if err := s.resolveScope(ctx, t, scope); err != nil {
			return nil, err
		}
	}
	if t.UserDomain == nil {
		// the body at issue names the user's domain, as validation's does
		d, err := getDomain(ctx, s.db, t.User.DomainID)
		if err != nil {
			return nil, err
		}
		t.UserDomain = d
	}
	id, err := s.tokens.Issue(s.payloadOf(t))
	if err != nil {
		return nil, err
	}
	// issued_at is the Fernet timestamp (whole seconds), so the body at
	// issue matches the body every later validation shows.
	_, issuedAt, err := s.tokens.Parse(id)
	if err != nil {
		return nil, err
	}
	t.ID, t.IssuedAt = id, issuedAt.UTC()
	t.IsAdminProject = s.isAdminProject(t)
	return t, nil
}

func (s *Service) payloadOf(t *Token) fernet.Payload {
	p := fernet.Payload{UserID: t.User.ID, Methods: t.Methods, ExpiresAt: t.ExpiresAt, AuditIDs: t.AuditIDs}
	switch {
	case t.Project != nil:
		p.ProjectID = t.Project.ID
	case t.Domain != nil:
		p.DomainID = t.Domain.ID
	case t.System:
		p.System = "all"
	}
	if t.AppCred != nil {
		p.AppCredID = t.AppCred.ID
	}
	if t.Trust != nil {
		// Keystone's payload names the trustee, who authenticated.
		p.UserID, p.TrustID = t.Trust.TrusteeUserID, t.Trust.ID
	}
	return p
}

// passwordUser finds the user a password method names and checks the
// password, applying lockout and expiry.
func (s *Service) passwordUser(ctx context.Context, ref UserRef, password string) (*User, error) {
	u, err := s.findUser(ctx, ref)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, errAuth
		}
		return nil, err
	}
	if err := s.checkPassword(ctx, s.db, u, password); err != nil {
		return nil, err
	}
	if err := s.checkUsable(ctx, u); err != nil {
		return nil, err
	}
	if u.PasswordExpiresAt != nil && !u.PasswordExpiresAt.After(s.now()) && !ignorePasswordExpiry(u) {
		return nil, fault.Unauthorizedf("The password is expired and needs to be changed for user: %s.", u.ID)
	}
	return u, nil
}

// findUser resolves a UserRef. Lookups of the form name+domain need the
// domain to exist and be enabled.
func (s *Service) findUser(ctx context.Context, ref UserRef) (*User, error) {
	if ref.ID != "" {
		return s.getUser(ctx, s.db, ref.ID)
	}
	if ref.Name == "" {
		return nil, fault.BadRequestf("Invalid input for field 'user': a user id or name is required.")
	}
	domainID := ref.DomainID
	if domainID == "" {
		if ref.DomainName == "" {
			return nil, fault.BadRequestf("Invalid input for field 'user': a user name needs its domain.")
		}
		d, err := getDomainByName(ctx, s.db, ref.DomainName)
		if err != nil {
			return nil, err
		}
		domainID = d.ID
	}
	return s.getUserByName(ctx, s.db, domainID, ref.Name)
}

// checkUsable rejects disabled users and users of disabled domains.
func (s *Service) checkUsable(ctx context.Context, u *User) error {
	if !u.Enabled {
		return errAuth
	}
	d, err := getDomain(ctx, s.db, u.DomainID)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return errAuth
		}
		return err
	}
	if !d.Enabled {
		return errAuth
	}
	return nil
}

// checkPassword verifies a password. With lockout_failure_attempts set,
// too many failures lock the account for lockout_duration.
func (s *Service) checkPassword(ctx context.Context, q queryer, u *User, password string) error {
	if password == "" {
		return errAuth
	}
	if u.readOnly {
		if err := s.authenticateMapped(ctx, u, password); err != nil {
			if fault.Is(err, fault.Unauthorized) {
				return errAuth
			}
			return err
		}
		return nil
	}
	lockout := s.cfg.LockoutFailureAttempts > 0 && !ignoreLockout(u)
	if lockout && u.FailedAuthCount >= s.cfg.LockoutFailureAttempts {
		// Without a lockout_duration the account stays locked until an
		// administrator enables the user again, as in Keystone.
		if s.cfg.LockoutDuration <= 0 || u.LastFailedAuthAt != nil && s.now().Sub(*u.LastFailedAuthAt) < s.cfg.LockoutDuration {
			return fault.Unauthorizedf("The account is locked for user: %s.", u.ID)
		}
		// the lockout has passed
		if _, err := q.ExecContext(ctx, `UPDATE users SET failed_auth_count = 0 WHERE id = $1`, u.ID); err != nil {
			return err
		}
		u.FailedAuthCount = 0
	}
	var hash string
	if err := q.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
		if err == sql.ErrNoRows {
			return errAuth
		}
		return err
	}
	pw := password
	if len(pw) > 72 {
		pw = pw[:72]
	}
	if hash == "" || bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) != nil {
		if lockout {
			if _, err := q.ExecContext(ctx, `UPDATE users SET failed_auth_count = failed_auth_count + 1, last_failed_auth_at = $2 WHERE id = $1`,
				u.ID, micros(s.now())); err != nil {
				return err
			}
			s.gen.Add(1)
		}
		return errAuth
	}
	if lockout && u.FailedAuthCount > 0 {
		if _, err := q.ExecContext(ctx, `UPDATE users SET failed_auth_count = 0 WHERE id = $1`, u.ID); err != nil {
			return err
		}
	}
	return nil
}

// resolveScope finds the scope's project, domain or system and the user's
// roles on it; no roles means no token.
func (s *Service) resolveScope(ctx context.Context, t *Token, sc Scope) error {
	switch {
	case sc.System:
		rs, err := s.systemRoleIDs(ctx, s.db, t.User)
		if err != nil {
			return err
		}
		roles, err := s.tokenRoles(ctx, s.db, rs)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return fault.Unauthorizedf("User %s has no access to the system.", t.User.ID)
		}
		t.System, t.Roles = true, roles
	case sc.DomainID != "" || sc.DomainName != "":
		var d *Domain
		var err error
		if sc.DomainID != "" {
			d, err = getDomain(ctx, s.db, sc.DomainID)
		} else {
			d, err = getDomainByName(ctx, s.db, sc.DomainName)
		}
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.Unauthorizedf("%s", err.(*fault.Error).Msg)
			}
			return err
		}
		if !d.Enabled {
			return fault.Unauthorizedf("Domain %s is disabled.", d.ID)
		}
		rs, err := s.domainRoleIDs(ctx, s.db, t.User, d.ID)
		if err != nil {
			return err
		}
		roles, err := s.tokenRoles(ctx, s.db, rs)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return fault.Unauthorizedf("User %s has no access to domain %s.", t.User.ID, d.ID)
		}
		t.Domain, t.Roles = d, roles
	default:
		var p *Project
		var err error
		if sc.ProjectID != "" {
			p, err = getProject(ctx, s.db, sc.ProjectID)
		} else {
			domainID := sc.ProjectDomainID
			if domainID == "" {
				if sc.ProjectDomainName == "" {
					return fault.BadRequestf("Invalid input for field 'scope/project': a project name needs its domain.")
				}
				d, derr := getDomainByName(ctx, s.db, sc.ProjectDomainName)
				if derr != nil {
					return fault.Unauthorizedf("%s", derr.Error())
				}
				domainID = d.ID
			}
			p, err = getProjectByName(ctx, s.db, domainID, sc.ProjectName)
		}
		if err != nil {
			if fault.Is(err, fault.NotFound) {
				return fault.Unauthorizedf("%s", err.(*fault.Error).Msg)
			}
			return err
		}
		if !p.Enabled {
			return fault.Unauthorizedf("Project %s is disabled.", p.ID)
		}
		pd, err := getDomain(ctx, s.db, p.DomainID)
		if err != nil {
			return err
		}
		if !pd.Enabled {
			return fault.Unauthorizedf("Domain %s is disabled.", pd.ID)
		}
		if disabled, err := s.anyAncestorDisabled(ctx, p); err != nil {
			return err
		} else if disabled {
			return fault.Unauthorizedf("Project %s is disabled.", p.ID)
		}
		rs, err := s.projectRoleIDs(ctx, s.db, t.User, p)
		if err != nil {
			return err
		}
		if t.AppCred != nil {
			// Expand first: a credential may carry a role the user only
			// holds by implication (reader, from member).
			if err := expandImplied(ctx, s.db, rs); err != nil {
				return err
			}
			rs = restrictToAppCred(rs, t.AppCred)
		}
		roles, err := s.tokenRoles(ctx, s.db, rs)
		if err != nil {
			return err
		}
		if len(roles) == 0 {
			return fault.Unauthorizedf("User %s has no access to project %s.", t.User.ID, p.ID)
		}
		t.Project, t.ProjectDomain, t.Roles = p, pd, roles
	}
	return nil
}

// restrictToAppCred keeps only the roles the application credential
// carries that the user still holds.
func restrictToAppCred(rs roleSet, ac *AppCred) roleSet {
	out := roleSet{}
	for _, id := range ac.RoleIDs {
		if rs[id] {
			out[id] = true
		}
	}
	return out
}

func (s *Service) anyAncestorDisabled(ctx context.Context, p *Project) (bool, error) {
	ancestors, err := projectAncestors(ctx, s.db, p.ID)
	if err != nil {
		return false, err
	}
	for _, id := range ancestors {
		a, err := getProject(ctx, s.db, id)
		if err != nil {
			return false, err
		}
		if !a.Enabled {
			return true, nil
		}
	}
	return false, nil
}

func (s *Service) isAdminProject(t *Token) bool {
	if s.cfg.AdminProjectName == "" {
		return true // Keystone without admin_project configured treats every project as admin project
	}
	return t.Project != nil && t.Project.Name == s.cfg.AdminProjectName && t.ProjectDomain != nil &&
		t.ProjectDomain.Name == s.cfg.AdminProjectDomainName
}

// ValidateToken decodes a token and rebuilds what it says from current
// state: a token of a user, project or domain since disabled or deleted,
// or one whose roles were all removed, or one revoked, fails at once.
// allowExpired accepts tokens expired within allow_expired_window.
func (s *Service) ValidateToken(ctx context.Context, token string, allowExpired bool) (*Token, error) {
	notFound := fault.NotFoundf("Could not find token: %s", shorten(token))
	if len(token) > 1024 || token == "" {
		return nil, notFound
	}
	gen := s.gen.Load()
	if t, ok := s.tokenCache.get(token, gen); ok {
		if err := s.checkExpiry(t, allowExpired); err != nil {
			return nil, err
		}
		return t, nil
	}
	p, issuedAt, err := s.tokens.Parse(token)
	if err != nil {
		return nil, notFound
	}
	t := &Token{ID: token, Methods: p.Methods, AuditIDs: p.AuditIDs, IssuedAt: issuedAt.UTC(), ExpiresAt: p.ExpiresAt.UTC()}
	if err := s.checkExpiry(t, allowExpired); err != nil {
		return nil, err
	}
	if err := s.rebuild(ctx, t, p); err != nil {
		if fault.KindOf(err) == fault.Internal {
			return nil, err
		}
		return nil, notFound
	}
	revoked, err := s.isRevoked(ctx, t, gen)
	if err != nil {
		return nil, err
	}
	if revoked {
		return nil, notFound
	}
	s.tokenCache.put(token, gen, t)
	return t, nil
}

func (s *Service) checkExpiry(t *Token, allowExpired bool) error {
	now := s.now()
	if now.Before(t.ExpiresAt) {
		return nil
	}
	if allowExpired && now.Before(t.ExpiresAt.Add(s.cfg.AllowExpiredWindow)) {
		return nil
	}
	return fault.NotFoundf("The token has expired.")
}

func shorten(token string) string {
	if len(token) > 12 {
		return token[:12] + "..."
	}
	return token
}

// rebuild fills a token from the payload and current state.
func (s *Service) rebuild(ctx context.Context, t *Token, p fernet.Payload) error {
	u, err := s.getUser(ctx, s.db, p.UserID)
	if err != nil {
		return err
	}
	if err := s.checkUsable(ctx, u); err != nil {
		return err
	}
	t.User = u
	t.UserDomain, err = getDomain(ctx, s.db, u.DomainID)
	if err != nil {
		return err
	}
	if p.AppCredID != "" {
		ac, err := s.getAppCred(ctx, s.db, p.AppCredID)
		if err != nil {
			return err
		}
		if ac.ExpiresAt != nil && !ac.ExpiresAt.After(s.now()) {
			return fault.NotFoundf("application credential expired")
		}
		t.AppCred = ac
	}
	if p.TrustID != "" {
		// The trust must still exist, not have expired, name this user as
		// trustee and lend roles the trustor still holds.
		tr, err := s.activeTrust(ctx, s.db, p.TrustID, false)
		if err != nil {
			return err
		}
		if tr.TrusteeUserID != u.ID || tr.ProjectID != p.ProjectID {
			return fault.NotFoundf("trust %s does not match the token", tr.ID)
		}
		if err := s.fillTrustToken(ctx, t, tr); err != nil {
			return err
		}
		t.IsAdminProject = s.isAdminProject(t)
		return nil
	}
	switch {
	case p.ProjectID != "":
		err = s.resolveScope(ctx, t, Scope{ProjectID: p.ProjectID})
	case p.DomainID != "":
		err = s.resolveScope(ctx, t, Scope{DomainID: p.DomainID})
	case p.System != "":
		err = s.resolveScope(ctx, t, Scope{System: true})
	}
	if err != nil {
		return err
	}
	t.IsAdminProject = s.isAdminProject(t)
	return nil
}

// Validate implements authn.Validator for identity's own API.
func (s *Service) Validate(ctx context.Context, token string) (*authn.Principal, error) {
	t, err := s.ValidateToken(ctx, token, false)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return nil, errAuth
		}
		return nil, err
	}
	return t.Principal(), nil
}

// Principal is the caller a token describes. It is shared: do not change it.
func (t *Token) Principal() *authn.Principal {
	t.principalOnce.Do(func() {
		t.principal = t.newPrincipal()
		t.principal.Seal()
	})
	return t.principal
}

func (t *Token) newPrincipal() *authn.Principal {
	p := &authn.Principal{
		UserID: t.User.ID, UserName: t.User.Name, UserDomainID: t.User.DomainID,
		Methods: t.Methods, AuditIDs: t.AuditIDs, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt,
		IsAdminProject: t.IsAdminProject, Token: t.ID,
	}
	if t.UserDomain != nil {
		p.UserDomainName = t.UserDomain.Name
	}
	switch {
	case t.Project != nil:
		p.ProjectID, p.ProjectName, p.ProjectDomainID = t.Project.ID, t.Project.Name, t.Project.DomainID
		if t.ProjectDomain != nil {
			p.ProjectDomainName = t.ProjectDomain.Name
		}
	case t.Domain != nil:
		p.DomainID, p.DomainName = t.Domain.ID, t.Domain.Name
	case t.System:
		p.System = "all"
	}
	for _, r := range t.Roles {
		p.Roles = append(p.Roles, strings.ToLower(r.Name))
		p.RoleIDs = append(p.RoleIDs, r.ID)
	}
	if t.AppCred != nil {
		p.AppCredID = t.AppCred.ID
	}
	return p
}

// RevokeToken is DELETE /v3/auth/tokens: the subject token, and every
// token issued from it, stop working.
func (s *Service) RevokeToken(ctx context.Context, p *authn.Principal, token string) error {
	t, err := s.ValidateToken(ctx, token, false)
	if err != nil {
		return err
	}
	if err := s.authorize(p, "identity:revoke_token", map[string]any{"token": map[string]any{"user_id": t.User.ID}}); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		return s.revoke(ctx, tx, RevocationEvent{AuditID: t.AuditIDs[0]})
	})
}

// CheckToken authorizes GET/HEAD /v3/auth/tokens and validates the subject.
func (s *Service) CheckToken(ctx context.Context, p *authn.Principal, token string, allowExpired bool) (*Token, error) {
	t, err := s.ValidateToken(ctx, token, allowExpired)
	if err != nil {
		return nil, err // Keystone answers 404 before any policy check
	}
	if err := s.authorize(p, "identity:validate_token", map[string]any{"token": map[string]any{"user_id": t.User.ID}}); err != nil {
		return nil, err
	}
	return t, nil
}
