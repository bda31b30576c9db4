package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// AuthOptions configure Keystone authorization (keystoneauth's options).
type AuthOptions struct {
	ResellerPrefix    string   // account prefix of a project's account, "AUTH_" by default
	OperatorRoles     []string // roles that own their project's account; default admin, member
	ResellerAdminRole string   // role that may use any account; default ResellerAdmin
	Log               *slog.Logger
}

// authPolicy is what the core needs of AuthOptions to authorize; Auth hands
// it down in the request context.
type authPolicy struct {
	prefix        string
	operatorRoles []string
	resellerAdmin string
}

var defaultPolicy = newPolicy(AuthOptions{})

func newPolicy(o AuthOptions) *authPolicy {
	p := &authPolicy{prefix: o.ResellerPrefix, operatorRoles: o.OperatorRoles, resellerAdmin: o.ResellerAdminRole}
	if p.prefix == "" {
		p.prefix = "AUTH_"
	}
	if len(p.operatorRoles) == 0 {
		p.operatorRoles = []string{"admin", "member"}
	}
	if p.resellerAdmin == "" {
		p.resellerAdmin = "ResellerAdmin"
	}
	return p
}

type policyKey struct{}

// policyFrom is the policy Auth set; without Auth in front the core still
// authorizes, with the defaults.
func policyFrom(ctx context.Context) *authPolicy {
	if p, ok := ctx.Value(policyKey{}).(*authPolicy); ok {
		return p
	}
	return defaultPolicy
}

// Auth checks X-Auth-Token (or Swift's older X-Storage-Token) and
// X-Service-Token with v and puts the *authn.Principal in the request
// context (authn.With). A missing or invalid token leaves the request
// anonymous, as keystonemiddleware's delay_auth_decision: the core decides
// once it knows the container's ACLs. A principal already in the context
// (the S3 middleware's) is kept. Identity being down is a 503.
func Auth(next http.Handler, v authn.Validator, o AuthOptions) http.Handler {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	policy := newPolicy(o)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), policyKey{}, policy)
		if authn.From(ctx) == nil && v != nil {
			if r.Header.Get(authn.HeaderAuthToken) == "" {
				if st := r.Header.Get("X-Storage-Token"); st != "" {
					r.Header.Set(authn.HeaderAuthToken, st)
				}
			}
			if strings.TrimSpace(r.Header.Get(authn.HeaderAuthToken)) != "" {
				p, err := authn.Authenticate(ctx, v, r)
				switch {
				case err == nil:
					ctx = authn.With(ctx, p)
				case fault.Is(err, fault.Unauthorized):
					// Anonymous from here on; ACLs may still let it in.
				default:
					o.Log.Error("validate token", "err", err, "path", r.URL.Path)
					swift.WriteStatus(w, r, http.StatusServiceUnavailable)
					return
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
