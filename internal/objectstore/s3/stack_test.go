package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/ring"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/storage"
)

// stack is the S3 API in front of the real Swift proxy core and a storage
// node with three devices (three replicas), all on loopback, with a
// Verifier given by the test.
type stack struct {
	t     *testing.T
	url   string
	swift string // X-Auth-Token for the same project through the Swift API
}

// newStack starts the stack; wrap may add middlewares between the S3 API
// and Keystone auth (the rest of Swift's pipeline).
func newStack(t *testing.T, v Verifier, wrap ...func(http.Handler) http.Handler) *stack {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	b, err := ring.NewBuilder(6, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	devices := map[string]string{}
	for i := 1; i <= 3; i++ {
		name := "d" + strconv.Itoa(i)
		devices[name] = filepath.Join(t.TempDir(), name)
		if _, err := b.Add(ring.Device{Region: 1, Zone: i, IP: "127.0.0.1", Port: addr.Port, Name: name, Weight: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.Rebalance(time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	rings := ring.Fixed(r)
	node, err := storage.New(storage.Options{Devices: devices, Ring: rings, Addr: addr.String(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	nodeSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: node}}
	nodeSrv.Start()
	core, err := proxy.New(proxy.Options{Ring: rings, Client: storage.NewClient(time.Second), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	// Swift-side callers of the same project, for checks through the
	// Swift API.
	tokens := map[string]*authn.Principal{"tok-demo": {UserID: "u-" + exampleAccess, UserName: "alice",
		ProjectID: "p-" + exampleAccess, ProjectName: "demo", Roles: []string{"member"}}}
	validator := authn.ValidatorFunc(func(_ context.Context, tok string) (*authn.Principal, error) {
		if p, ok := tokens[tok]; ok {
			return p, nil
		}
		return nil, fault.Unauthorizedf("The request you have made requires authentication.")
	})
	var h http.Handler = core
	for _, w := range wrap {
		h = w(h)
	}
	h = proxy.Auth(h, validator, proxy.AuthOptions{Log: log})
	h = New(h, Options{Verifier: v, Log: log})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		nodeSrv.Close()
		node.Close()
	})
	return &stack{t: t, url: srv.URL, swift: "tok-demo"}
}

// client is an S3 client with one key pair, signing with SigV4.
type client struct {
	s              *stack
	access, secret string
	unsigned       bool // sign UNSIGNED-PAYLOAD instead of the body's hash
}

func (s *stack) client(access, secret string) *client {
	return &client{s: s, access: access, secret: secret}
}

// request builds a signed request; hdr are name, value pairs.
func (c *client) request(method, target string, body []byte, hdr ...string) *http.Request {
	c.s.t.Helper()
	r, err := http.NewRequest(method, c.s.url+target, bytes.NewReader(body))
	if err != nil {
		c.s.t.Fatal(err)
	}
	if body == nil {
		r.Body = http.NoBody
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if c.unsigned {
		payload = unsignedBody
	}
	r.Host = r.URL.Host
	signV4(r, c.access, c.secret, "us-east-1", time.Now(), payload)
	return r
}

// do sends a signed request and reads the answer.
func (c *client) do(method, target string, body []byte, hdr ...string) (*http.Response, []byte) {
	c.s.t.Helper()
	return c.s.send(c.request(method, target, body, hdr...))
}

func (s *stack) send(r *http.Request) (*http.Response, []byte) {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		s.t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", r.Method, r.URL, err)
	}
	return resp, data
}

// must fails the test unless the answer has status want.
func (c *client) must(want int, method, target string, body []byte, hdr ...string) (*http.Response, []byte) {
	c.s.t.Helper()
	resp, data := c.do(method, target, body, hdr...)
	if resp.StatusCode != want {
		c.s.t.Fatalf("%s %s = %d %s, want %d", method, target, resp.StatusCode, data, want)
	}
	return resp, data
}

// fails checks an S3 error answer: status and code.
func (c *client) fails(status int, code, method, target string, body []byte, hdr ...string) {
	c.s.t.Helper()
	resp, data := c.do(method, target, body, hdr...)
	checkError(c.s.t, resp, data, status, code, method+" "+target)
}

func checkError(t *testing.T, resp *http.Response, data []byte, status int, code, what string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s = %d %s, want %d %s", what, resp.StatusCode, data, status, code)
	}
	if resp.Request.Method == http.MethodHead {
		return
	}
	var body struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string   `xml:"Code"`
		Message   string   `xml:"Message"`
		RequestID string   `xml:"RequestId"`
	}
	if err := xml.Unmarshal(data, &body); err != nil || body.Code != code || body.Message == "" || body.RequestID == "" {
		t.Fatalf("%s: body %s, want S3 error %s (%v)", what, data, code, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/xml" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if resp.Header.Get("x-amz-request-id") != body.RequestID {
		t.Errorf("%s: x-amz-request-id %q, body %q", what, resp.Header.Get("x-amz-request-id"), body.RequestID)
	}
}

// swiftDo calls the Swift API as the same project.
func (s *stack) swiftDo(method, path string, body []byte, hdr ...string) (*http.Response, []byte) {
	s.t.Helper()
	r, err := http.NewRequest(method, s.url+"/v1/AUTH_p-"+exampleAccess+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	r.Header.Set("X-Auth-Token", s.swift)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return s.send(r)
}

// decodeXML reads an answer body into v.
func decodeXML(t *testing.T, data []byte, v any) {
	t.Helper()
	if !bytes.HasPrefix(data, []byte("<?xml")) {
		t.Errorf("no XML declaration: %.80s", data)
	}
	if err := xml.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %T: %v in %s", v, err, data)
	}
}

func md5Of(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

func trimQuotes(s string) string { return strings.Trim(s, `"`) }
