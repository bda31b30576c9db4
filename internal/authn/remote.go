package authn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// RemoteOptions configure a Remote, as keystonemiddleware's [keystone_authtoken]
// section does.
type RemoteOptions struct {
	// AuthURL is the identity endpoint, e.g. http://127.0.0.1:5000; a
	// trailing /v3 is accepted and ignored.
	AuthURL string
	// The service user, who asks identity to validate callers' tokens.
	Username, Password, ProjectName, UserDomainName, ProjectDomainName string
	// UserDomainID and ProjectDomainID, when set, are sent instead of the
	// domain names (keystone_authtoken's user_domain_id, project_domain_id).
	UserDomainID, ProjectDomainID string
	// HTTPClient makes the identity calls; nil means a client with sane
	// timeouts. In all-in-one its transport may call identity in memory.
	HTTPClient *http.Client
	// CacheTTL is how long a valid token is remembered (token_cache_time);
	// 0 means 300s, negative disables the cache. No entry outlives its token.
	CacheTTL time.Duration
	// CacheSize bounds the cache; 0 means 10000 entries. The oldest go first.
	CacheSize int
	// NegativeTTL is how long an invalid token is remembered; 0 means 10s,
	// negative disables it.
	NegativeTTL time.Duration
}

// Remote validates tokens by asking the identity API, as keystonemiddleware
// does for services other than identity: with its own service token, through
// a bounded cache, one identity call at a time per token.
type Remote struct {
	base        string // AuthURL without /v3 or a trailing slash
	o           RemoteOptions
	client      *http.Client
	cache       *cache
	ttl, negTTL time.Duration
	now         func() time.Time

	validations flight[tokenKey, *entry]
	issues      flight[struct{}, svcToken]

	mu  sync.Mutex
	svc svcToken // the service token in use
}

var _ Validator = (*Remote)(nil)

// svcToken is the Remote's own token.
type svcToken struct {
	id        string
	refreshAt time.Time // shortly before it expires
}

const (
	defaultCacheTTL    = 300 * time.Second
	defaultCacheSize   = 10000
	defaultNegativeTTL = 10 * time.Second
	defaultTimeout     = 15 * time.Second
	// staleMargin is how long before its expiry the service token is
	// replaced, as keystoneauth's STALE_TOKEN_DURATION.
	staleMargin = 30 * time.Second
	maxBody     = 1 << 20
)

const msgUnavailable = "Identity service is unavailable"

// NewRemote checks o, fills in its defaults and returns a Remote. It makes no
// call: the service token is fetched on the first validation.
func NewRemote(o RemoteOptions) (*Remote, error) {
	u, err := url.Parse(o.AuthURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("authn: auth URL %q: want http(s)://host[:port][/path]", o.AuthURL)
	}
	if o.Username == "" || o.Password == "" {
		return nil, errors.New("authn: the service user needs a username and a password")
	}
	base := strings.TrimSuffix(strings.TrimRight(o.AuthURL, "/"), "/v3")
	r := &Remote{base: base, o: o, client: o.HTTPClient, now: time.Now}
	if r.client == nil {
		r.client = &http.Client{Timeout: defaultTimeout}
	}
	if o.UserDomainID == "" && o.UserDomainName == "" {
		r.o.UserDomainName = "Default"
	}
	if o.ProjectDomainID == "" && o.ProjectDomainName == "" {
		r.o.ProjectDomainName = "Default"
	}
	r.ttl = orDefault(o.CacheTTL, defaultCacheTTL)
	r.negTTL = orDefault(o.NegativeTTL, defaultNegativeTTL)
	size := o.CacheSize
	if size <= 0 {
		size = defaultCacheSize
	}
	r.cache = newCache(size)
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Validate returns the Principal of token, from the cache or from identity.
// Invalid, expired and revoked tokens are fault Unauthorized; an identity
// service that cannot be reached is fault Unavailable.
func (r *Remote) Validate(ctx context.Context, token string) (*Principal, error) {
	if !plausible(token) {
		return nil, fault.Unauthorizedf(msgAuthRequired)
	}
	k := keyOf(token)
	if e, ok := r.cache.get(k, r.now()); ok {
		return e.result(token)
	}
	e, err := r.validations.do(ctx, k, func(ctx context.Context) (*entry, error) {
		e, err := r.fetch(ctx, k, token)
		if err != nil {
			return nil, err
		}
		if e.expires.After(r.now()) {
			r.cache.put(e)
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return e.result(token)
}

// result hands out a copy of the cached outcome, with the caller's token.
func (e *entry) result(token string) (*Principal, error) {
	if e.err != nil {
		return nil, e.err
	}
	p := e.p.clone()
	p.Token = token
	return p, nil
}

// plausible rejects what no identity service issues, without asking one.
func plausible(token string) bool {
	if token == "" || len(token) > maxTokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// fetch asks identity about token. It returns an entry for valid and for
// invalid tokens, and an error only when identity could not answer.
func (r *Remote) fetch(ctx context.Context, k tokenKey, token string) (*entry, error) {
	for attempt := 0; ; attempt++ {
		st, err := r.serviceToken(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v3/auth/tokens?nocatalog", nil)
		if err != nil {
			return nil, fmt.Errorf("validate token: %w", err)
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set(HeaderAuthToken, st.id)
		req.Header.Set(HeaderSubjectToken, token)
		status, _, body, err := r.roundTrip(req)
		if err != nil {
			return nil, err
		}
		switch {
		case status == http.StatusOK:
			p, err := ParseToken(body)
			if err != nil {
				return nil, fault.Wrap(fault.Internal, err, "Identity service returned a malformed token")
			}
			now := r.now()
			if !now.Before(p.ExpiresAt) {
				return r.invalid(k, errors.New("token expired")), nil
			}
			exp := p.ExpiresAt
			if r.ttl > 0 && now.Add(r.ttl).Before(exp) {
				exp = now.Add(r.ttl)
			} else if r.ttl < 0 {
				exp = now // not cached
			}
			return &entry{key: k, p: p, expires: exp}, nil
		case status == http.StatusUnauthorized && attempt == 0:
			// Our own token is no longer good (expired early, revoked,
			// identity's keys rotated): get a new one and ask once more.
			r.dropServiceToken(st)
		case status == http.StatusUnauthorized, status == http.StatusNotFound:
			return r.invalid(k, fmt.Errorf("identity answered %d", status)), nil
		case status >= 500:
			return nil, fault.Wrap(fault.Unavailable, fmt.Errorf("validate token: identity answered %d", status), msgUnavailable)
		default:
			return nil, fmt.Errorf("validate token: identity answered %d: %.200s", status, body)
		}
	}
}

// invalid is the outcome of a token identity rejected, remembered briefly.
func (r *Remote) invalid(k tokenKey, cause error) *entry {
	now := r.now()
	e := &entry{key: k, err: fault.Wrap(fault.Unauthorized, cause, msgAuthRequired), expires: now}
	if r.negTTL > 0 {
		e.expires = now.Add(r.negTTL)
	}
	return e
}

// serviceToken returns the Remote's own token, issuing a new one when there
// is none or it is about to expire.
func (r *Remote) serviceToken(ctx context.Context) (svcToken, error) {
	if st, ok := r.currentToken(); ok {
		return st, nil
	}
	return r.issues.do(ctx, struct{}{}, func(ctx context.Context) (svcToken, error) {
		if st, ok := r.currentToken(); ok { // refreshed while we queued
			return st, nil
		}
		st, err := r.issue(ctx)
		if err != nil {
			return svcToken{}, err
		}
		r.mu.Lock()
		r.svc = st
		r.mu.Unlock()
		return st, nil
	})
}

func (r *Remote) currentToken() (svcToken, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.svc, r.svc.id != "" && r.now().Before(r.svc.refreshAt)
}

// dropServiceToken forgets st, unless it was already replaced.
func (r *Remote) dropServiceToken(st svcToken) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.svc.id == st.id {
		r.svc = svcToken{}
	}
}

// issue gets a project-scoped token for the service user with its password.
func (r *Remote) issue(ctx context.Context) (svcToken, error) {
	body, err := json.Marshal(r.passwordAuth())
	if err != nil {
		return svcToken{}, fmt.Errorf("issue service token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v3/auth/tokens?nocatalog", bytes.NewReader(body))
	if err != nil {
		return svcToken{}, fmt.Errorf("issue service token: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	status, header, respBody, err := r.roundTrip(req)
	if err != nil {
		return svcToken{}, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		// Wrong service credentials leave this service unable to
		// authenticate anyone, as if identity were down: 503, as
		// keystonemiddleware does.
		return svcToken{}, fault.Wrap(fault.Unavailable,
			fmt.Errorf("issue service token for user %q: identity answered %d", r.o.Username, status), msgUnavailable)
	}
	id := header.Get(HeaderSubjectToken)
	p, err := ParseToken(respBody)
	if err != nil || id == "" {
		return svcToken{}, fault.Wrap(fault.Unavailable,
			fmt.Errorf("issue service token: malformed answer (subject token %t): %v", id != "", err), msgUnavailable)
	}
	now := r.now()
	margin := min(staleMargin, p.ExpiresAt.Sub(now)/2)
	return svcToken{id: id, refreshAt: p.ExpiresAt.Add(-margin)}, nil
}

// passwordAuth is the body of POST /v3/auth/tokens for the service user.
func (r *Remote) passwordAuth() any {
	domain := func(id, name string) map[string]string {
		if id != "" {
			return map[string]string{"id": id}
		}
		return map[string]string{"name": name}
	}
	auth := map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{
				"user": map[string]any{
					"name":     r.o.Username,
					"domain":   domain(r.o.UserDomainID, r.o.UserDomainName),
					"password": r.o.Password,
				},
			},
		},
	}
	if r.o.ProjectName != "" {
		auth["scope"] = map[string]any{
			"project": map[string]any{
				"name":   r.o.ProjectName,
				"domain": domain(r.o.ProjectDomainID, r.o.ProjectDomainName),
			},
		}
	}
	return map[string]any{"auth": auth}
}

// roundTrip sends req and reads a bounded body. Failing to reach identity
// is fault Unavailable.
func (r *Remote) roundTrip(req *http.Request) (int, http.Header, []byte, error) {
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, nil, fault.Wrap(fault.Unavailable, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err), msgUnavailable)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fault.Wrap(fault.Unavailable, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err), msgUnavailable)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// TokenSource gives a token for calling other services' APIs.
type TokenSource interface {
	// Token returns a valid token, issuing a new one when the last is
	// about to expire.
	Token(ctx context.Context) (string, error)
	// Invalidate forgets token after a 401 with it, so the next Token
	// issues a fresh one.
	Invalidate(token string)
}

var _ TokenSource = (*Remote)(nil)

// Token is the Remote's own service token, for calls to other services
// (placement, image) as the service user.
func (r *Remote) Token(ctx context.Context) (string, error) {
	st, err := r.serviceToken(ctx)
	return st.id, err
}

// Invalidate drops token if it is the service token in use.
func (r *Remote) Invalidate(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.svc.id == token {
		r.svc = svcToken{}
	}
}
