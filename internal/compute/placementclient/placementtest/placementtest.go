// Package placementtest starts Nimbus's real placement service on
// httptest for the tests of its compute callers, with a client that
// authenticates as the nova service user.
package placementtest

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/compute/placementclient"
	"github.com/nimbus-cloud/nimbus/internal/db"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/httpx"
	"github.com/nimbus-cloud/nimbus/internal/placement"
)

// ServiceToken is the token the server accepts, as the nova service
// user (role service).
const ServiceToken = "nova-service-token"

// Start runs placement on a fresh SQLite database until the test ends and
// returns its URL.
func Start(t testing.TB) string {
	t.Helper()
	svc, err := placement.New(context.Background(), placement.DefaultConfig(), placement.Options{DB: db.OpenTest(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	v := authn.ValidatorFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		if token == ServiceToken {
			return &authn.Principal{UserID: "u-nova", ProjectID: "p-service", Roles: []string{"service"}}, nil
		}
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	})
	srv := httptest.NewServer(svc.Handler(httpx.Options{}, v))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Tokens is a TokenSource that hands out its Next token (ServiceToken
// when empty) and counts invalidations.
type Tokens struct {
	mu          sync.Mutex
	Next        string
	Invalidated []string
}

func (s *Tokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Next == "" {
		return ServiceToken, nil
	}
	return s.Next, nil
}

func (s *Tokens) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Invalidated = append(s.Invalidated, token)
	if s.Next == token {
		s.Next = ""
	}
}

// Client starts placement and returns a client of it.
func Client(t testing.TB) *placementclient.Client {
	t.Helper()
	return placementclient.New(Start(t), &Tokens{}, nil)
}
