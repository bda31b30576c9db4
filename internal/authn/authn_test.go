package authn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func asFault(err error, fe **fault.Error) bool { return errors.As(err, fe) }

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{})
	user := f.add(fakeToken{userID: "u1", projectID: "p1", roles: []string{"member"}})
	svc := f.add(fakeToken{userID: "nova", projectID: "service", roles: []string{"service", "admin"}})

	req := httptest.NewRequest("GET", "/v2.1/servers", nil)
	req.Header.Set("X-Auth-Token", user)
	req.Header.Set("X-Service-Token", svc)
	p, err := Authenticate(t.Context(), r, req)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.UserID != "u1" || p.Token != user {
		t.Errorf("Principal = %v, want user u1 with its token", p)
	}
	if p.Service == nil || p.Service.UserID != "nova" || p.Service.Token != svc {
		t.Fatalf("Service = %v, want nova with its token", p.Service)
	}
	if got := p.Creds()["service_roles"]; !cmp.Equal(got, []string{"service", "admin"}) {
		t.Errorf("service_roles = %v", got)
	}

	tests := []struct {
		name         string
		token, svc   string
		wantKind     fault.Kind
		wantIdentity bool
	}{
		{name: "no token", wantKind: fault.Unauthorized},
		{name: "invalid token", token: "bogus", wantKind: fault.Unauthorized},
		{name: "invalid service token", token: user, svc: "bogus", wantKind: fault.Unauthorized},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		if tt.token != "" {
			req.Header.Set("X-Auth-Token", tt.token)
		}
		if tt.svc != "" {
			req.Header.Set("X-Service-Token", tt.svc)
		}
		_, err := Authenticate(t.Context(), r, req)
		var fe *fault.Error
		if !asFault(err, &fe) || fe.Kind != tt.wantKind {
			t.Errorf("%s: err = %v, want kind %v", tt.name, err, tt.wantKind)
			continue
		}
		if fe.Msg != "The request you have made requires authentication." {
			t.Errorf("%s: message = %q", tt.name, fe.Msg)
		}
	}
}

func TestAuthenticateMapsValidatorErrors(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Auth-Token", "tok")
	tests := []struct {
		err  error
		want fault.Kind
	}{
		{fault.NotFoundf("Could not find token: tok."), fault.Unauthorized},
		{fault.Unauthorizedf("expired"), fault.Unauthorized},
		{fault.New(fault.Unavailable, "Identity service is unavailable"), fault.Unavailable},
		{errors.New("boom"), fault.Internal},
	}
	for _, tt := range tests {
		v := ValidatorFunc(func(ctx context.Context, token string) (*Principal, error) { return nil, tt.err })
		if _, err := Authenticate(t.Context(), v, req); fault.KindOf(err) != tt.want {
			t.Errorf("validator error %v: Authenticate err = %v, want kind %v", tt.err, err, tt.want)
		}
	}
	expired := ValidatorFunc(func(ctx context.Context, token string) (*Principal, error) {
		return &Principal{UserID: "u", ExpiresAt: time.Now().Add(-time.Second)}, nil
	})
	if _, err := Authenticate(t.Context(), expired, req); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("expired Principal: err = %v, want Unauthorized", err)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	v := ValidatorFunc(func(ctx context.Context, token string) (*Principal, error) {
		if token != "good" {
			return nil, fault.Unauthorizedf("bad")
		}
		return &Principal{UserID: "u1", Token: token}, nil
	})
	var seen *Principal
	h := Middleware(v, func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, err.Error(), fault.KindOf(err).Status())
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = From(r.Context())
	}))
	for _, tc := range []struct {
		token string
		code  int
	}{{"good", http.StatusOK}, {"bad", http.StatusUnauthorized}, {"", http.StatusUnauthorized}} {
		seen = nil
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-Auth-Token", tc.token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("token %q: status %d, want %d", tc.token, rec.Code, tc.code)
		}
		if (tc.code == http.StatusOK) != (seen != nil && seen.UserID == "u1") {
			t.Errorf("token %q: handler saw %v", tc.token, seen)
		}
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	if p := From(t.Context()); p != nil {
		t.Errorf("From(empty) = %v, want nil", p)
	}
	p := &Principal{UserID: "u1"}
	if got := From(With(t.Context(), p)); got != p {
		t.Errorf("From(With(p)) = %v, want p", got)
	}
}

func TestHasRole(t *testing.T) {
	t.Parallel()
	p := &Principal{Roles: []string{"member", "reader"}}
	for role, want := range map[string]bool{"member": true, "Reader": true, "admin": false, "": false} {
		if got := p.HasRole(role); got != want {
			t.Errorf("HasRole(%q) = %t, want %t", role, got, want)
		}
	}
	if (*Principal)(nil).HasRole("member") {
		t.Errorf("nil HasRole = true")
	}
}

func TestCreds(t *testing.T) {
	t.Parallel()
	p := &Principal{
		UserID: "u1", UserDomainID: "default", ProjectID: "p1", ProjectDomainID: "default",
		Roles: []string{"member"}, RoleIDs: []string{"r1"}, IsAdminProject: true, Token: "secret",
		ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		Service:   &Principal{UserID: "nova", UserDomainID: "default", ProjectID: "svc", ProjectDomainID: "default", Roles: []string{"service"}},
	}
	c := p.Creds()
	// oslo.context's to_policy_values() keys, and keystone's "token".
	want := []string{"user_id", "user_domain_id", "project_id", "project_domain_id", "roles",
		"is_admin_project", "service_user_id", "service_user_domain_id", "service_project_id",
		"service_project_domain_id", "service_roles", "token"}
	if diff := cmp.Diff(sorted(want), sorted(slices.Collect(maps.Keys(c)))); diff != "" {
		t.Errorf("Creds keys (-want +got):\n%s", diff)
	}
	if c["project_id"] != "p1" || c["is_admin_project"] != true || !cmp.Equal(c["roles"], []string{"member"}) ||
		!cmp.Equal(c["service_roles"], []string{"service"}) {
		t.Errorf("Creds = %v", c)
	}
	tok := c["token"].(map[string]any)
	if tok["is_admin_project"] != true || tok["expires_at"] != "2030-01-01T00:00:00.000000Z" {
		t.Errorf("token values = %v", tok)
	}
	if strings.Contains(fmt.Sprint(c), "secret") {
		t.Errorf("Creds carry the raw token: %v", c)
	}

	sys := (&Principal{UserID: "u1", System: "all", Roles: []string{"admin"}}).Creds()
	if sys["system_scope"] != "all" || !cmp.Equal(sys["service_roles"], []string{}) {
		t.Errorf("system Creds = %v", sys)
	}
	for _, k := range []string{"project_id", "domain_id", "service_user_id"} {
		if _, ok := sys[k]; ok {
			t.Errorf("system Creds has %s", k)
		}
	}
	dom := (&Principal{UserID: "u1", DomainID: "d1"}).Creds()
	if dom["domain_id"] != "d1" || dom["is_admin_project"] != false {
		t.Errorf("domain Creds = %v", dom)
	}
	if _, ok := dom["system_scope"]; ok {
		t.Errorf("domain Creds has system_scope")
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestLogValueHidesToken(t *testing.T) {
	t.Parallel()
	const secret = "gAAAAABsecret-token"
	p := &Principal{UserID: "u1", ProjectID: "p1", Roles: []string{"member"}, Token: secret,
		Service: &Principal{UserID: "nova", Token: secret + "-svc"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("request", "principal", p)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("request", "principal", p)
	out := buf.String()
	if strings.Contains(out, "secret") {
		t.Errorf("log shows the token: %s", out)
	}
	if !strings.Contains(out, `"user_id":"u1"`) || !strings.Contains(out, "principal.service.user_id=nova") {
		t.Errorf("log lacks the caller: %s", out)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(format, p); strings.Contains(s, "secret") {
			t.Errorf("Sprintf(%s) shows the token: %s", format, s)
		}
	}
}

func TestParseTokenKeystoneSample(t *testing.T) {
	t.Parallel()
	// api-ref/source/v3/samples/admin/auth-token-unscoped-response.json
	const sample = `{
    "token": {
        "methods": ["token"],
        "expires_at": "2015-11-05T22:00:11.000000Z",
        "user": {
            "domain": {"id": "default", "name": "Default"},
            "id": "10a2e6e717a245d9acad3e5f97aeca3d",
            "name": "admin",
            "password_expires_at": null
        },
        "audit_ids": ["mAjXQhiYRyKwkB4qygdLVg"],
        "issued_at": "2015-11-05T21:00:33.819948Z"
    }
}`
	p, err := ParseToken([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := &Principal{
		UserID: "10a2e6e717a245d9acad3e5f97aeca3d", UserName: "admin", UserDomainID: "default", UserDomainName: "Default",
		Methods: []string{"token"}, AuditIDs: []string{"mAjXQhiYRyKwkB4qygdLVg"}, IsAdminProject: true,
		ExpiresAt: time.Date(2015, 11, 5, 22, 0, 11, 0, time.UTC),
		IssuedAt:  time.Date(2015, 11, 5, 21, 0, 33, 819948000, time.UTC),
	}
	if diff := cmp.Diff(want, p, cmpopts.IgnoreUnexported(Principal{})); diff != "" {
		t.Errorf("ParseToken (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{}`, `{"token": {"user": {"id": "u"}}}`, `not json`} {
		if _, err := ParseToken([]byte(bad)); err == nil {
			t.Errorf("ParseToken(%s) succeeded", bad)
		}
	}
}
