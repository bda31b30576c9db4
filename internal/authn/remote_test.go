package authn

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func TestValidateFields(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{})
	issued := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	no := false
	tests := []struct {
		name string
		tok  fakeToken
		want Principal
	}{{
		name: "project",
		tok: fakeToken{userID: "u1", userName: "alice", projectID: "p1", roles: []string{"member", "reader"},
			issuedAt: issued, expiresAt: expires, appCred: "ac1", methods: []string{"application_credential"}},
		want: Principal{UserID: "u1", UserName: "alice", UserDomainID: "default", UserDomainName: "Default",
			ProjectID: "p1", ProjectName: "name-p1", ProjectDomainID: "default", ProjectDomainName: "Default",
			Roles: []string{"member", "reader"}, RoleIDs: []string{"id-member", "id-reader"},
			Methods: []string{"application_credential"}, IssuedAt: issued, ExpiresAt: expires,
			IsAdminProject: true, AppCredID: "ac1"},
	}, {
		name: "domain",
		tok:  fakeToken{userID: "u2", userName: "bob", domainID: "d1", roles: []string{"admin"}, issuedAt: issued, expiresAt: expires, adminProj: &no},
		want: Principal{UserID: "u2", UserName: "bob", UserDomainID: "default", UserDomainName: "Default",
			DomainID: "d1", DomainName: "name-d1", Roles: []string{"admin"}, RoleIDs: []string{"id-admin"},
			Methods: []string{"password"}, IssuedAt: issued, ExpiresAt: expires},
	}, {
		name: "system",
		tok:  fakeToken{userID: "u3", userName: "admin", system: true, roles: []string{"admin"}, issuedAt: issued, expiresAt: expires},
		want: Principal{UserID: "u3", UserName: "admin", UserDomainID: "default", UserDomainName: "Default",
			System: "all", Roles: []string{"admin"}, RoleIDs: []string{"id-admin"},
			Methods: []string{"password"}, IssuedAt: issued, ExpiresAt: expires, IsAdminProject: true},
	}, {
		name: "unscoped",
		tok:  fakeToken{userID: "u4", userName: "carol", issuedAt: issued, expiresAt: expires},
		want: Principal{UserID: "u4", UserName: "carol", UserDomainID: "default", UserDomainName: "Default",
			Methods: []string{"password"}, IssuedAt: issued, ExpiresAt: expires, IsAdminProject: true},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := f.add(tt.tok)
			got, err := r.Validate(t.Context(), id)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			tt.want.Token = id
			if diff := cmp.Diff(&tt.want, got, cmpopts.IgnoreFields(Principal{}, "AuditIDs"), cmpopts.IgnoreUnexported(Principal{})); diff != "" {
				t.Errorf("Principal (-want +got):\n%s", diff)
			}
			if len(got.AuditIDs) != 1 {
				t.Errorf("AuditIDs = %v, want one", got.AuditIDs)
			}
		})
	}
}

func TestValidateInvalid(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{})
	for _, token := range []string{"no-such-token", "no-such-token"} {
		_, err := r.Validate(t.Context(), token)
		if !fault.Is(err, fault.Unauthorized) {
			t.Fatalf("Validate(unknown) err = %v, want Unauthorized", err)
		}
	}
	if n := f.validated.Load(); n != 1 {
		t.Errorf("identity validations = %d, want 1 (the second answer is remembered)", n)
	}
	for _, token := range []string{"", "has space", "new\nline"} {
		if _, err := r.Validate(t.Context(), token); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("Validate(%q) err = %v, want Unauthorized", token, err)
		}
	}
	if n := f.validated.Load(); n != 1 {
		t.Errorf("identity validations = %d, want 1 (malformed tokens are not sent)", n)
	}
}

func TestValidateRevokedAfterNegativeTTL(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	clk := newClock()
	r := f.remote(RemoteOptions{NegativeTTL: 5 * time.Second})
	r.now = clk.now
	if _, err := r.Validate(t.Context(), "gAAAAA-token-99"); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("Validate(unknown) err = %v, want Unauthorized", err)
	}
	clk.add(6 * time.Second)
	if _, err := r.Validate(t.Context(), "gAAAAA-token-99"); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("Validate(unknown) err = %v, want Unauthorized", err)
	}
	if n := f.validated.Load(); n != 2 {
		t.Errorf("identity validations = %d, want 2 after the negative entry expired", n)
	}
}

func TestCacheHit(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{})
	a := f.add(fakeToken{userID: "u1", projectID: "p1", roles: []string{"member"}})
	b := f.add(fakeToken{userID: "u2", projectID: "p1", roles: []string{"reader"}})
	p1, err := r.Validate(t.Context(), a)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p1.Roles[0] = "admin" // must not reach the cache
	p2, err := r.Validate(t.Context(), a)
	if err != nil {
		t.Fatalf("Validate again: %v", err)
	}
	if p2.HasRole("admin") || p2.Token != a {
		t.Errorf("cached Principal = %v (token ok %t), want the original", p2, p2.Token == a)
	}
	if _, err := r.Validate(t.Context(), b); err != nil {
		t.Fatalf("Validate(b): %v", err)
	}
	if got, want := f.validated.Load(), int32(2); got != want {
		t.Errorf("identity validations = %d, want %d", got, want)
	}
	if got := f.issued.Load(); got != 1 {
		t.Errorf("service tokens issued = %d, want 1 (reused)", got)
	}
	// The cache holds no raw token, as key or value.
	r.cache.mu.Lock()
	defer r.cache.mu.Unlock()
	for k, el := range r.cache.items {
		if e := el.Value.(*entry); e.p != nil && e.p.Token != "" {
			t.Errorf("cache entry %x holds a raw token", k)
		}
	}
}

func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	clk := newClock()
	r := f.remote(RemoteOptions{CacheTTL: time.Minute})
	r.now = clk.now
	id := f.add(fakeToken{userID: "u1", projectID: "p1"})
	validate := func(wantCalls int32) {
		t.Helper()
		if _, err := r.Validate(t.Context(), id); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if got := f.validated.Load(); got != wantCalls {
			t.Fatalf("identity validations = %d, want %d", got, wantCalls)
		}
	}
	validate(1)
	clk.add(50 * time.Second)
	validate(1)
	clk.add(11 * time.Second)
	validate(2)

	// A token that expires before CacheTTL leaves the cache when it expires.
	short := f.add(fakeToken{userID: "u2", projectID: "p1", expiresAt: clk.now().Add(20 * time.Second)})
	if _, err := r.Validate(t.Context(), short); err != nil {
		t.Fatalf("Validate(short): %v", err)
	}
	k := keyOf(short)
	if _, ok := r.cache.get(k, clk.now().Add(19*time.Second)); !ok {
		t.Errorf("entry gone before its token expired")
	}
	if _, ok := r.cache.get(k, clk.now().Add(21*time.Second)); ok {
		t.Errorf("entry kept after its token expired")
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{CacheTTL: -1})
	id := f.add(fakeToken{userID: "u1", projectID: "p1"})
	for range 2 {
		if _, err := r.Validate(t.Context(), id); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	}
	if got := f.validated.Load(); got != 2 {
		t.Errorf("identity validations = %d, want 2 without a cache", got)
	}
}

func TestCacheEvictsOldest(t *testing.T) {
	t.Parallel()
	c := newCache(2)
	now := time.Now()
	for _, tok := range []string{"a", "b", "c"} {
		c.put(&entry{key: keyOf(tok), p: &Principal{UserID: tok}, expires: now.Add(time.Minute)})
	}
	if c.len() != 2 {
		t.Errorf("len = %d, want 2", c.len())
	}
	if _, ok := c.get(keyOf("a"), now); ok {
		t.Errorf("oldest entry kept")
	}
	for _, tok := range []string{"b", "c"} {
		if _, ok := c.get(keyOf(tok), now); !ok {
			t.Errorf("entry %s evicted", tok)
		}
	}
}

func TestServiceTokenRefreshOn401(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{})
	a := f.add(fakeToken{userID: "u1", projectID: "p1"})
	b := f.add(fakeToken{userID: "u2", projectID: "p1"})
	if _, err := r.Validate(t.Context(), a); err != nil {
		t.Fatalf("Validate(a): %v", err)
	}
	f.revokeServiceTokens()
	if _, err := r.Validate(t.Context(), b); err != nil {
		t.Fatalf("Validate(b) after the service token was revoked: %v", err)
	}
	if got := f.issued.Load(); got != 2 {
		t.Errorf("service tokens issued = %d, want 2", got)
	}
	if got := f.validated.Load(); got != 3 {
		t.Errorf("identity validations = %d, want 3 (a, b refused, b again)", got)
	}
}

func TestRefusedTwiceIsUnauthorized(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	f.set(func() { f.failWith = http.StatusUnauthorized })
	r := f.remote(RemoteOptions{})
	_, err := r.Validate(t.Context(), f.add(fakeToken{userID: "u1"}))
	if !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("Validate err = %v, want Unauthorized", err)
	}
	if got := f.issued.Load(); got != 2 {
		t.Errorf("service tokens issued = %d, want 2 (one retry)", got)
	}
}

func TestServiceTokenRenewedBeforeExpiry(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	clk := newClock()
	r := f.remote(RemoteOptions{CacheTTL: -1})
	r.now = clk.now
	id := f.add(fakeToken{userID: "u1", projectID: "p1", expiresAt: time.Now().Add(3 * time.Hour)})
	validate := func(wantIssued int32) {
		t.Helper()
		if _, err := r.Validate(t.Context(), id); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if got := f.issued.Load(); got != wantIssued {
			t.Fatalf("service tokens issued = %d, want %d", got, wantIssued)
		}
	}
	validate(1)
	clk.add(59 * time.Minute) // the service token lives an hour
	validate(1)
	clk.add(45 * time.Second) // within the margin before its expiry
	validate(2)
}

func TestBadServiceCredentialsIsUnavailable(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r, err := NewRemote(RemoteOptions{AuthURL: f.srv.URL, Username: svcUser, Password: "wrong", ProjectName: "service", HTTPClient: f.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Validate(t.Context(), f.add(fakeToken{userID: "u1"}))
	if !fault.Is(err, fault.Unavailable) {
		t.Fatalf("Validate err = %v, want Unavailable", err)
	}
}

func TestConcurrentValidationsShareOneCall(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{})
	id := f.add(fakeToken{userID: "u1", projectID: "p1"})
	// Fetch the service token first, so that only validations wait at the gate.
	if _, err := r.serviceToken(t.Context()); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	f.set(func() { f.gate = gate })

	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			p, err := r.Validate(t.Context(), id)
			if err == nil && p.UserID != "u1" {
				t.Errorf("UserID = %q, want u1", p.UserID)
			}
			errs <- err
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.validations.waiting(keyOf(id)) != n-1 {
		if time.Now().After(deadline) {
			t.Fatalf("waiting = %d, want %d", r.validations.waiting(keyOf(id)), n-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Validate: %v", err)
		}
	}
	if got := f.validated.Load(); got != 1 {
		t.Errorf("identity validations = %d, want 1", got)
	}
}

func TestWaiterGivesUp(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	r := f.remote(RemoteOptions{})
	gate := make(chan struct{})
	f.set(func() { f.gate = gate })
	defer close(gate)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Validate(ctx, f.add(fakeToken{userID: "u1"})); err == nil {
		t.Fatalf("Validate with a cancelled context succeeded")
	}
}

func TestIdentityDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	r, err := NewRemote(RemoteOptions{AuthURL: srv.URL, Username: "nimbus", Password: "x", ProjectName: "service"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Validate(t.Context(), "some-token")
	if !fault.Is(err, fault.Unavailable) {
		t.Fatalf("Validate err = %v, want Unavailable", err)
	}
	var fe *fault.Error
	if !asFault(err, &fe) || fe.Msg != "Identity service is unavailable" {
		t.Errorf("message = %q, want %q", fe.Msg, "Identity service is unavailable")
	}
}

func TestIdentityFailingIsUnavailableAndNotCached(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	f.set(func() { f.failWith = http.StatusServiceUnavailable })
	r := f.remote(RemoteOptions{})
	id := f.add(fakeToken{userID: "u1"})
	for range 2 {
		if _, err := r.Validate(t.Context(), id); !fault.Is(err, fault.Unavailable) {
			t.Fatalf("Validate err = %v, want Unavailable", err)
		}
	}
	if got := f.validated.Load(); got != 2 {
		t.Errorf("identity validations = %d, want 2 (failures are not cached)", got)
	}
	f.set(func() { f.failWith = 0 })
	if _, err := r.Validate(t.Context(), id); err != nil {
		t.Errorf("Validate after identity recovered: %v", err)
	}
}

func TestNewRemoteRejects(t *testing.T) {
	t.Parallel()
	for _, o := range []RemoteOptions{
		{AuthURL: "", Username: "u", Password: "p"},
		{AuthURL: "ftp://x", Username: "u", Password: "p"},
		{AuthURL: "http://127.0.0.1:5000", Password: "p"},
		{AuthURL: "http://127.0.0.1:5000", Username: "u"},
	} {
		if _, err := NewRemote(o); err == nil {
			t.Errorf("NewRemote(%+v) succeeded", o)
		}
	}
	r, err := NewRemote(RemoteOptions{AuthURL: "http://127.0.0.1:5000/identity/v3/", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if r.base != "http://127.0.0.1:5000/identity" {
		t.Errorf("base = %q", r.base)
	}
}
