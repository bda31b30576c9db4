package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

func TestAccessControl(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/private", alice, nil)
	c.Must(201, "PUT", a+"/private/secret", alice, []byte("s3cret"))

	// Other projects: 403; anonymous and bad tokens: 401.
	c.Must(403, "GET", a+"/private/secret", bob, nil)
	c.Must(403, "GET", a+"/private", bob, nil)
	c.Must(403, "GET", a, bob, nil)
	c.Must(403, "PUT", a+"/private/planted", bob, []byte("x"))
	c.Must(403, "DELETE", a+"/private/secret", bob, nil)
	c.Must(403, "POST", a+"/private", bob, nil, "X-Container-Read", ".r:*")
	c.Must(403, "PUT", a+"/bobs", bob, nil)
	c.Must(401, "GET", a+"/private/secret", "", nil)
	c.Must(401, "GET", a+"/private/secret", "forged", nil)
	c.Must(401, "PUT", a+"/private/planted", "", []byte("x"))
	c.Must(401, "DELETE", a+"/private/secret", "", nil)
	c.Must(401, "GET", a, "", nil)
	// A project member without an operator role is not an owner.
	c.Must(403, "GET", a+"/private/secret", proxytest.Reader, nil)
	c.Must(404, "GET", a+"/private/planted", alice, nil)

	// Read ACL by project and user ids: reads, not writes, not listings
	// beyond what it names.
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Read", "bob:u-bob")
	if got := c.Must(200, "GET", a+"/private/secret", bob, nil); string(got) != "s3cret" {
		t.Fatalf("bob read %q", got)
	}
	if got := c.Must(200, "GET", a+"/private", bob, nil); string(got) != "secret\n" {
		t.Fatalf("bob listed %q", got)
	}
	resp, _ := c.Do("HEAD", a+"/private", bob, nil)
	if resp.StatusCode != 204 || resp.Header.Get("X-Container-Read") != "" {
		t.Fatalf("a non-owner sees the ACL: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = c.Do("HEAD", a+"/private", alice, nil)
	if resp.Header.Get("X-Container-Read") != "bob:u-bob" {
		t.Fatalf("the owner does not see the ACL: %v", resp.Header)
	}
	c.Must(403, "PUT", a+"/private/planted", bob, []byte("x"))
	c.Must(401, "GET", a+"/private/secret", "", nil)
	// Names work for users and projects of the default domain.
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Read", "bob:bob")
	c.Must(200, "GET", a+"/private/secret", bob, nil)
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Read", "badtenant:baduser")
	c.Must(403, "GET", a+"/private/secret", bob, nil)

	// Write ACL: bob may write, and may not change the ACLs.
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Write", "bob:*")
	c.Must(201, "PUT", a+"/private/from-bob", bob, []byte("hi"))
	c.Must(204, "DELETE", a+"/private/from-bob", bob, nil)
	c.Must(403, "GET", a+"/private/secret", bob, nil)
	c.Must(403, "POST", a+"/private", bob, nil, "X-Container-Write", "*:*")

	// A role named in the ACL lets members of the same project in.
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Read", "reader")
	c.Must(200, "GET", a+"/private/secret", proxytest.Reader, nil)
	c.Must(403, "GET", a+"/private/secret", bob, nil)

	// Public read: objects to anyone, listings only with .rlistings.
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Read", ".r:*")
	if got := c.Must(200, "GET", a+"/private/secret", "", nil); string(got) != "s3cret" {
		t.Fatalf("anonymous read %q", got)
	}
	c.Must(200, "GET", a+"/private/secret", bob, nil)
	c.Must(401, "GET", a+"/private", "", nil)
	c.Must(401, "PUT", a+"/private/anon", "", []byte("x"))
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Read", ".r:*,.rlistings")
	if got := c.Must(200, "GET", a+"/private", "", nil); string(got) != "secret\n" {
		t.Fatalf("anonymous listing %q", got)
	}
	// Referrer ACLs.
	c.Must(204, "POST", a+"/private", alice, nil, "X-Container-Read", ".r:.example.com,.r:-bad.example.com")
	c.Must(200, "GET", a+"/private/secret", "", nil, "Referer", "http://www.example.com/page")
	c.Must(401, "GET", a+"/private/secret", "", nil, "Referer", "http://bad.example.com/")
	c.Must(401, "GET", a+"/private/secret", "", nil)

	// Bad ACLs are refused with Swift's messages.
	resp, body := c.Do("POST", a+"/private", alice, nil, "X-Container-Write", ".r:*")
	if resp.StatusCode != 400 || string(body) != "Referrers not allowed in write ACL: '.r:*'" {
		t.Fatalf("referrer in a write ACL: %d %q", resp.StatusCode, body)
	}
	resp, body = c.Do("PUT", a+"/other", alice, nil, "X-Container-Read", ".r:")
	if resp.StatusCode != 400 || !strings.Contains(string(body), "No host/domain value") {
		t.Fatalf("empty referrer: %d %q", resp.StatusCode, body)
	}

	// The reseller admin may use any account, and is its owner.
	c.Must(200, "GET", a+"/private/secret", proxytest.Reseller, nil)
	c.Must(201, "PUT", a+"/private/by-admin", proxytest.Reseller, []byte("x"))
	resp, _ = c.Do("HEAD", a+"/private", proxytest.Reseller, nil)
	if resp.Header.Get("X-Container-Read") == "" {
		t.Fatalf("the reseller admin does not see the ACL: %v", resp.Header)
	}
}

func TestAccountACL(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil)
	c.Must(201, "PUT", a+"/box/o", alice, []byte("data"))

	resp, body := c.Do("POST", a, alice, nil, "X-Account-Access-Control", "nonsense")
	if resp.StatusCode != 400 || !strings.HasPrefix(string(body), "X-Account-Access-Control invalid: Syntax error in input ('nonsense')") {
		t.Fatalf("bad account ACL: %d %q", resp.StatusCode, body)
	}
	c.Must(204, "POST", a, alice, nil, "X-Account-Access-Control", `{"read-only":["bob:u-bob"]}`)
	resp, _ = c.Do("HEAD", a, alice, nil)
	if got := resp.Header.Get("X-Account-Access-Control"); got != `{"read-only":["bob:u-bob"]}` {
		t.Fatalf("owner's X-Account-Access-Control = %q (%v)", got, resp.Header)
	}
	// Read-only: bob reads the account, containers, objects; writes nothing.
	c.Must(200, "GET", a, bob, nil)
	resp, _ = c.Do("HEAD", a, bob, nil)
	if resp.StatusCode != 204 || resp.Header.Get("X-Account-Access-Control") != "" {
		t.Fatalf("a non-owner sees the account ACL: %d %v", resp.StatusCode, resp.Header)
	}
	c.Must(200, "GET", a+"/box/o", bob, nil)
	c.Must(403, "PUT", a+"/box/o2", bob, []byte("x"))
	c.Must(403, "PUT", a+"/newbox", bob, nil)
	// Bob cannot grant himself more.
	c.Must(403, "POST", a, bob, nil, "X-Account-Access-Control", `{"admin":["bob:*"]}`)

	// Read-write: objects and containers, but not the account.
	c.Must(204, "POST", a, alice, nil, "X-Account-Access-Control", `{"read-write":["bob"]}`)
	c.Must(201, "PUT", a+"/box/o2", bob, []byte("x"))
	c.Must(201, "PUT", a+"/bobsbox", bob, nil)
	c.Must(403, "POST", a, bob, nil, "X-Account-Meta-X", "y")

	// Admin: the account's owner in all but name.
	c.Must(204, "POST", a, alice, nil, "X-Account-Access-Control", `{"admin":["u-bob"]}`)
	c.Must(204, "POST", a, bob, nil, "X-Account-Meta-X", "y")
	c.Must(204, "POST", a+"/box", bob, nil, "X-Container-Read", ".r:*")
	// An empty ACL removes it.
	c.Must(204, "POST", a, alice, nil, "X-Account-Access-Control", `{}`)
	c.Must(403, "PUT", a+"/box/o3", bob, []byte("x"))
	c.Must(403, "GET", a, bob, nil)
	resp, _ = c.Do("HEAD", a, alice, nil)
	if resp.Header.Get("X-Account-Access-Control") != "" {
		t.Fatalf("the ACL survived its removal: %v", resp.Header)
	}
}

func TestCORS(t *testing.T) {
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/web", alice, nil, "X-Container-Meta-Access-Control-Allow-Origin", "http://a.example",
		"X-Container-Meta-Access-Control-Max-Age", "60", "X-Container-Read", ".r:*")
	c.Must(201, "PUT", a+"/web/page", alice, []byte("<p>"), "X-Object-Meta-Color", "red")

	resp, _ := c.Do("OPTIONS", a+"/web/page", "", nil, "Origin", "http://a.example",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-foo")
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != "http://a.example" ||
		h.Get("Access-Control-Max-Age") != "60" || h.Get("Access-Control-Allow-Headers") != "x-foo" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, h)
	}
	c.Must(401, "OPTIONS", a+"/web/page", "", nil, "Origin", "http://b.example", "Access-Control-Request-Method", "GET")
	c.Must(401, "OPTIONS", a+"/web/page", "", nil, "Origin", "http://a.example", "Access-Control-Request-Method", "TRACE")
	resp, _ = c.Do("OPTIONS", a+"/web/page", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Allow") == "" {
		t.Fatalf("plain OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}

	resp, _ = c.Do("GET", a+"/web/page", "", nil, "Origin", "http://a.example")
	h = resp.Header
	if h.Get("Access-Control-Allow-Origin") != "http://a.example" || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "x-object-meta-color") ||
		!strings.Contains(h.Get("Access-Control-Expose-Headers"), "etag") {
		t.Fatalf("CORS GET: %v", h)
	}
	resp, _ = c.Do("GET", a+"/web/page", "", nil, "Origin", "http://b.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a foreign origin was allowed: %v", resp.Header)
	}
}

func TestSysmetaPassesThroughTheCore(t *testing.T) {
	// The gatekeeper in front of the pipeline hides sysmeta from clients;
	// the core itself passes it both ways, for the middlewares.
	c := proxytest.Start(t)
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil, "X-Container-Sysmeta-Versions", "v")
	c.Must(201, "PUT", a+"/box/o", alice, []byte("x"), "X-Object-Sysmeta-Slo", "1")
	resp, _ := c.Do("HEAD", a+"/box", alice, nil)
	if resp.Header.Get("X-Container-Sysmeta-Versions") != "v" {
		t.Fatalf("container sysmeta: %v", resp.Header)
	}
	resp, _ = c.Do("HEAD", a+"/box/o", alice, nil)
	if resp.Header.Get("X-Object-Sysmeta-Slo") != "1" {
		t.Fatalf("object sysmeta: %v", resp.Header)
	}
	_ = http.MethodHead
}
