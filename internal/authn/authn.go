// Package authn does keystonemiddleware's job for every Nimbus service: it
// finds out who is calling. It validates the X-Auth-Token (and X-Service-Token)
// of a request, through a Validator, and carries the resulting Principal in
// the request's context. Remote is the Validator of services other than
// identity: it asks the identity API, with a cache.
package authn

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Header names, as keystonemiddleware reads them.
const (
	HeaderAuthToken    = "X-Auth-Token"
	HeaderServiceToken = "X-Service-Token"
	HeaderSubjectToken = "X-Subject-Token"
)

// msgAuthRequired is keystonemiddleware's text for every rejected token.
const msgAuthRequired = "The request you have made requires authentication."

// maxTokenLen bounds what is sent to identity; Fernet tokens are ~250 bytes,
// and keystone's max_token_size is 255 for them.
const maxTokenLen = 8192

// Validator turns a token into a Principal. Errors are *fault.Error of kind
// Unauthorized (bad, expired, revoked token) or NotFound, which callers treat
// as Unauthorized; anything else is Internal or Unavailable.
type Validator interface {
	Validate(ctx context.Context, token string) (*Principal, error)
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(ctx context.Context, token string) (*Principal, error)

// Validate calls f.
func (f ValidatorFunc) Validate(ctx context.Context, token string) (*Principal, error) {
	return f(ctx, token)
}

// Authenticate reads X-Auth-Token (and X-Service-Token) from r and validates
// them. A missing or invalid token, or an invalid service token, is a fault
// Unauthorized with keystonemiddleware's message; a failing identity service
// keeps its own kind (Unavailable, Internal).
func Authenticate(ctx context.Context, v Validator, r *http.Request) (*Principal, error) {
	token := strings.TrimSpace(r.Header.Get(HeaderAuthToken))
	if token == "" {
		return nil, fault.Unauthorizedf(msgAuthRequired)
	}
	p, err := validate(ctx, v, token)
	if err != nil {
		return nil, err
	}
	if st := strings.TrimSpace(r.Header.Get(HeaderServiceToken)); st != "" {
		// Copy before setting Service: a Validator may hand out shared values.
		p = p.clone()
		// As keystonemiddleware without delay_auth_decision: a service
		// token that was sent must be valid, or the request is refused.
		sp, err := validate(ctx, v, st)
		if err != nil {
			return nil, err
		}
		sp = sp.clone()
		sp.Service = nil
		p.Service = sp
	}
	return p, nil
}

func validate(ctx context.Context, v Validator, token string) (*Principal, error) {
	p, err := v.Validate(ctx, token)
	switch {
	case fault.Is(err, fault.Unauthorized), fault.Is(err, fault.NotFound):
		return nil, fault.Wrap(fault.Unauthorized, err, msgAuthRequired)
	case err != nil:
		return nil, err
	case p == nil:
		return nil, fault.Unauthorizedf(msgAuthRequired)
	case !p.ExpiresAt.IsZero() && !time.Now().Before(p.ExpiresAt):
		return nil, fault.Unauthorizedf(msgAuthRequired)
	}
	return p, nil
}

// Middleware authenticates every request before next sees it, and puts the
// Principal in the request's context. A failure goes to fail, which writes
// the error in the service's dialect (httpx does that).
func Middleware(v Validator, fail func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := Authenticate(r.Context(), v, r)
			if err != nil {
				fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(With(r.Context(), p)))
		})
	}
}
