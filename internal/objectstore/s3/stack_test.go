package s3

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/dlo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/objcopy"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/proxy/proxytest"
)

// stack is the S3 API in front of the real Swift pipeline (proxytest: the
// proxy core, the copy, SLO and DLO middlewares, Keystone auth) and three
// storage nodes, with a Verifier given by the test.
type stack struct {
	t       *testing.T
	url     string
	swift   string // X-Auth-Token for the same project through the Swift API
	cluster *proxytest.Cluster
}

// demoPrincipal is whom the example key pair acts as.
func demoPrincipal() *authn.Principal {
	return &authn.Principal{UserID: "u-" + exampleAccess, UserName: "alice", UserDomainID: "default",
		ProjectID: "p-" + exampleAccess, ProjectName: "demo", ProjectDomainID: "default", Roles: []string{"member"}}
}

func newStack(t *testing.T, v Verifier) *stack {
	t.Helper()
	c := proxytest.Start(t, proxytest.Options{
		// Swift's order below auth: copy, SLO, DLO, then the core.
		Middle: func(core http.Handler) http.Handler { return objcopy.New(slo.New(dlo.New(core))) },
		Front: func(auth http.Handler) http.Handler {
			return New(auth, Options{Verifier: v, Log: slog.New(slog.DiscardHandler)})
		},
		Principals: map[string]*authn.Principal{"tok-demo": demoPrincipal()},
	})
	return &stack{t: t, url: c.URL, swift: "tok-demo", cluster: c}
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
