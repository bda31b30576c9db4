package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// The core as the middlewares see it: lookups with swift.HeadInfo, and
// sub-requests made on a client's behalf.
func TestMiddlewareSubRequests(t *testing.T) {
	var next http.Handler
	var lookups []http.Header
	c := proxytest.Start(t, proxytest.Options{Middle: func(core http.Handler) http.Handler {
		next = core
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test-Lookup") != "" {
				// A lookup by a middleware: as Swift's get_container_info,
				// past the caller's rights, with every header.
				st, h := swift.HeadInfo(core, r, "test", r.Header.Get("X-Test-Lookup"))
				h.Set("X-Status", http.StatusText(st))
				lookups = append(lookups, h)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			core.ServeHTTP(w, r)
		})
	}})
	a := "/v1/" + c.Account(alice)
	c.Must(201, "PUT", a+"/box", alice, nil, "X-Container-Read", "bob:*", "X-Container-Meta-Quota-Bytes", "10")
	// Sysmeta arrives through a middleware's own sub-request.
	parent := httptest.NewRequest("POST", a+"/box", nil)
	sub := swift.NewSubRequest(parent, "test", "POST", a+"/box", nil)
	sub.Header.Set("X-Container-Sysmeta-Test", "yes")
	resp := swift.Do(next, sub.WithContext(swift.WithAuthorized(sub.Context())))
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 204 {
		t.Fatalf("authorized sub-request POST: %d", resp.StatusCode)
	}

	// bob may not read the container's headers, but a middleware acting
	// for him may look them up.
	c.Must(204, "GET", a, bob, nil, "X-Test-Lookup", a+"/box")
	c.Must(204, "GET", a, bob, nil, "X-Test-Lookup", a)
	c.Must(204, "GET", a, bob, nil, "X-Test-Lookup", a+"/missing")
	c.Must(204, "GET", a, bob, nil, "X-Test-Lookup", "/v1/AUTH_nobody")
	if len(lookups) != 4 {
		t.Fatalf("%d lookups", len(lookups))
	}
	h := lookups[0]
	if h.Get("X-Status") != "No Content" || h.Get("X-Container-Read") != "bob:*" || h.Get("X-Container-Sysmeta-Test") != "yes" ||
		h.Get("X-Container-Meta-Quota-Bytes") != "10" || h.Get("X-Container-Object-Count") != "0" {
		t.Fatalf("container lookup: %v", h)
	}
	if h := lookups[1]; h.Get("X-Status") != "No Content" || h.Get("X-Account-Container-Count") == "" {
		t.Fatalf("account lookup: %v", h)
	}
	if h := lookups[2]; h.Get("X-Status") != "Not Found" {
		t.Fatalf("missing container lookup: %v", h)
	}
	if h := lookups[3]; h.Get("X-Status") != "No Content" || h.Get("X-Account-Container-Count") != "0" {
		t.Fatalf("missing account lookup (autocreate answers an empty one): %v", h)
	}

	// A sub-request without a body is a zero-byte object, not a 411.
	sub = swift.NewSubRequest(parent, "test", "PUT", a+"/box/empty", nil)
	resp = swift.Do(next, sub.WithContext(swift.WithAuthorized(sub.Context())))
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("sub-request PUT without a body: %d", resp.StatusCode)
	}
	if got := c.Must(200, "GET", a+"/box/empty", alice, nil); len(got) != 0 {
		t.Fatalf("empty object %q", got)
	}
}
