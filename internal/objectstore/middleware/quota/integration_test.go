package quota_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/quota"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/storage"
)

const tok = proxytest.Alice

func start(t *testing.T) (*proxytest.Cluster, string) {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		Middle: func(core http.Handler) http.Handler { return quota.NewContainer(quota.NewAccount(core)) },
	})
	return c, "/v1/" + c.Account(tok)
}

func header(t *testing.T, c *proxytest.Cluster, path, name string) string {
	t.Helper()
	resp, _ := c.Do("HEAD", path, tok, nil)
	return resp.Header.Get(name)
}

// As Tempest's test_container_quotas.
func TestContainerQuotasThroughTheCore(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	c.Must(http.StatusNoContent, "POST", acct+"/c", tok, nil, "X-Container-Meta-Quota-Bytes", "10", "X-Container-Meta-Quota-Count", "3")
	c.Must(http.StatusCreated, "PUT", acct+"/c/valid", tok, []byte("0123456789"))
	if got := header(t, c, acct+"/c", "X-Container-Bytes-Used"); got != "10" {
		t.Fatalf("bytes used %q", got)
	}
	resp, body := c.Do("PUT", acct+"/c/large", tok, []byte("x"))
	if resp.StatusCode != 413 || string(body) != "Upload exceeds quota." {
		t.Fatalf("over bytes = %d %q", resp.StatusCode, body)
	}
	if got := header(t, c, acct+"/c", "X-Container-Bytes-Used"); got != "10" {
		t.Errorf("bytes used after refusal %q", got)
	}
	c.Must(http.StatusCreated, "PUT", acct+"/c/e1", tok, []byte{})
	c.Must(http.StatusCreated, "PUT", acct+"/c/e2", tok, []byte{})
	resp, _ = c.Do("PUT", acct+"/c/e3", tok, []byte{})
	if resp.StatusCode != 413 {
		t.Errorf("over count = %d", resp.StatusCode)
	}
	if got := header(t, c, acct+"/c", "X-Container-Object-Count"); got != "3" {
		t.Errorf("count %q", got)
	}
	// Anonymous writers get the core's 401, not the quota's 413.
	if resp, _ := c.Do("PUT", acct+"/c/anon", "", []byte("xx")); resp.StatusCode != 401 {
		t.Errorf("anonymous = %d", resp.StatusCode)
	}
	resp, body = c.Do("POST", acct+"/c", tok, nil, "X-Container-Meta-Quota-Bytes", "lots")
	if resp.StatusCode != 400 || string(body) != "Invalid bytes quota." {
		t.Errorf("bad quota = %d %q", resp.StatusCode, body)
	}
}

// As Tempest's test_account_quotas and its negative test.
func TestAccountQuotasThroughTheCore(t *testing.T) {
	c, acct := start(t)
	c.Must(http.StatusCreated, "PUT", acct+"/c", tok, nil)
	for _, v := range []string{"", "100"} {
		c.Must(http.StatusForbidden, "POST", acct, tok, nil, "X-Account-Meta-Quota-Bytes", v)
	}
	c.Must(http.StatusNoContent, "POST", acct, proxytest.Reseller, nil, "X-Account-Meta-Quota-Bytes", "20", "X-Account-Quota-Count", "5")
	if got := header(t, c, acct, "X-Account-Quota-Bytes"); got != "20" {
		t.Errorf("X-Account-Quota-Bytes = %q", got)
	}
	if got := header(t, c, acct, "X-Account-Quota-Count"); got != "5" {
		t.Errorf("X-Account-Quota-Count = %q", got)
	}
	c.Must(http.StatusCreated, "PUT", acct+"/c/valid", tok, []byte("small"))
	resp, body := c.Do("PUT", acct+"/c/big", tok, []byte(strings.Repeat("x", 21)))
	if resp.StatusCode != 413 || string(body) != "Upload exceeds quota." {
		t.Fatalf("over account quota = %d %q", resp.StatusCode, body)
	}
	// Account usage arrives with the container updates, as in Swift.
	c.Each(func(s *storage.Server) error { return s.UpdateOnce(t.Context()) })
	if got := header(t, c, acct, "X-Account-Bytes-Used"); got != "5" {
		t.Errorf("bytes used %q", got)
	}
	// The reseller changes and removes quotas (test_admin_modify_quota).
	for _, v := range []string{"25", "", "20"} {
		c.Must(http.StatusNoContent, "POST", acct, proxytest.Reseller, nil, "X-Account-Meta-Quota-Bytes", v)
	}
	c.Must(http.StatusNoContent, "POST", acct, proxytest.Reseller, nil, "X-Remove-Account-Meta-Quota-Bytes", "x", "X-Account-Quota-Count", "1")
	if got := header(t, c, acct, "X-Account-Quota-Bytes"); got != "" {
		t.Errorf("quota not removed: %q", got)
	}
	// test_upload_too_many_objects: count quota.
	c.Each(func(s *storage.Server) error { return s.UpdateOnce(t.Context()) })
	resp, _ = c.Do("PUT", acct+"/c/second", tok, []byte{})
	if resp.StatusCode != 413 {
		t.Errorf("over count quota = %d", resp.StatusCode)
	}
}
