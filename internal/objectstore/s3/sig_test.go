package s3

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// The credentials of AWS's S3 signing examples.
const (
	exampleAccess = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// fakeVerifier checks signatures as identity does (its own copy of the
// key derivation), for a fixed set of secrets, and remembers what it was
// asked.
type fakeVerifier struct {
	secrets map[string]string
	mu      sync.Mutex
	lastSTS string
}

func (f *fakeVerifier) VerifyS3(_ context.Context, access, sts, sig string) (*authn.Principal, error) {
	f.mu.Lock()
	f.lastSTS = sts
	f.mu.Unlock()
	secret, ok := f.secrets[access]
	if !ok {
		return nil, fault.NotFoundf("EC2 access key not found.")
	}
	var want string
	if strings.HasPrefix(sts, "AWS4") {
		scope := strings.Split(strings.Split(sts, "\n")[2], "/")
		k := []byte("AWS4" + secret)
		for _, s := range scope {
			k = hmacSum(sha256.New, k, s)
		}
		want = hex.EncodeToString(hmacSum(sha256.New, k, sts))
	} else {
		want = base64.StdEncoding.EncodeToString(hmacSum(sha1.New, []byte(secret), sts))
	}
	if want != sig {
		return nil, fault.Unauthorizedf("Credential signature mismatch")
	}
	p := demoPrincipal()
	p.UserID, p.ProjectID = "u-"+access, "p-"+access
	return p, nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func newTestHandler(now time.Time) (*handler, *fakeVerifier) {
	v := &fakeVerifier{secrets: map[string]string{exampleAccess: exampleSecret}}
	h := New(http.NotFoundHandler(), Options{Verifier: v, Log: slog.New(slog.DiscardHandler)}).(*handler)
	h.now = func() time.Time { return now }
	return h, v
}

func authOf(t *testing.T, h *handler, r *http.Request) (*signed, *Error) {
	t.Helper()
	if !isS3(r) {
		t.Fatalf("%s %s not taken for S3", r.Method, r.URL)
	}
	return h.authenticate(context.Background(), r, r.URL.Query())
}

var exampleDay = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// AWS's worked examples of SigV4 for S3 ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk").
func TestSigV4AWSExamples(t *testing.T) {
	t.Parallel()
	auth := func(signed, sig string) string {
		return "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=" +
			signed + ",Signature=" + sig
	}
	for _, tc := range []struct {
		name, method, target string
		hdr                  []string
	}{{
		name: "GET object", method: "GET", target: "/test.txt",
		hdr: []string{"Range", "bytes=0-9", "X-Amz-Content-Sha256", emptySHA, "X-Amz-Date", "20130524T000000Z",
			"Authorization", auth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")},
	}, {
		name: "PUT object", method: "PUT", target: "/test$file.text",
		hdr: []string{"Date", "Fri, 24 May 2013 00:00:00 GMT", "X-Amz-Date", "20130524T000000Z",
			"X-Amz-Storage-Class", "REDUCED_REDUNDANCY",
			"X-Amz-Content-Sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			"Authorization", auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")},
	}, {
		name: "GET bucket lifecycle", method: "GET", target: "/?lifecycle",
		hdr: []string{"X-Amz-Date", "20130524T000000Z", "X-Amz-Content-Sha256", emptySHA,
			"Authorization", auth("host;x-amz-content-sha256;x-amz-date", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")},
	}, {
		name: "GET bucket list objects", method: "GET", target: "/?max-keys=2&prefix=J",
		hdr: []string{"X-Amz-Date", "20130524T000000Z", "X-Amz-Content-Sha256", emptySHA,
			"Authorization", auth("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(exampleDay.Add(time.Minute))
			r := httptest.NewRequest(tc.method, "http://examplebucket.s3.amazonaws.com"+tc.target, strings.NewReader(""))
			for i := 0; i < len(tc.hdr); i += 2 {
				r.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			s, e := authOf(t, h, r)
			if e != nil {
				t.Fatalf("authenticate: %v %v", e, e.Fields)
			}
			if s.p.ProjectID != "p-"+exampleAccess || s.presigned {
				t.Errorf("signed = %+v", s)
			}
			// One flipped signature digit and it no longer verifies.
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+string("01"[(a[len(a)-1]-'0'+1)%2]))
			if _, e := authOf(t, h, r); e == nil || e.Code != "SignatureDoesNotMatch" || e.Status != 403 {
				t.Errorf("tampered signature: %v", e)
			}
		})
	}
}

// AWS's presigned URL example ("Authenticating Requests: Using Query
// Parameters").
func TestPresignedAWSExample(t *testing.T) {
	t.Parallel()
	const url = "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z" +
		"&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	for _, tc := range []struct {
		name string
		now  time.Time
		url  string
		code string
	}{
		{"within its day", exampleDay.Add(23 * time.Hour), url, ""},
		{"expired", exampleDay.Add(24*time.Hour + time.Second), url, "AccessDenied"},
		{"not valid yet", exampleDay.Add(-time.Hour), url, "AccessDenied"},
		{"another key", exampleDay, strings.Replace(url, "test.txt", "other.txt", 1), "SignatureDoesNotMatch"},
		{"longer expiry", exampleDay, strings.Replace(url, "86400", "86401", 1), "SignatureDoesNotMatch"},
		{"expiry over a week", exampleDay, strings.Replace(url, "86400", "604801", 1), "AuthorizationQueryParametersError"},
		{"no signature", exampleDay, strings.Replace(url, "X-Amz-Signature", "X-Amz-Sig", 1), "AuthorizationQueryParametersError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(tc.now)
			s, e := authOf(t, h, httptest.NewRequest("GET", tc.url, nil))
			switch {
			case tc.code == "" && e != nil:
				t.Fatalf("authenticate: %v", e)
			case tc.code == "" && !s.presigned:
				t.Error("not marked presigned")
			case tc.code != "" && (e == nil || e.Code != tc.code):
				t.Fatalf("got %v, want %s", e, tc.code)
			}
		})
	}
}

// AWS's SigV2 example (GET of johnsmith's puppy.jpg), path-style.
func TestSigV2AWSExample(t *testing.T) {
	t.Parallel()
	now := time.Date(2007, 3, 27, 19, 40, 0, 0, time.UTC)
	h, v := newTestHandler(now)
	r := httptest.NewRequest("GET", "http://s3.amazonaws.com/johnsmith/photos/puppy.jpg", nil)
	r.Header.Set("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
	r.Header.Set("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
	if _, e := authOf(t, h, r); e != nil {
		t.Fatalf("authenticate: %v (string to sign %q)", e, v.lastSTS)
	}
	h.now = func() time.Time { return now.Add(time.Hour) }
	if _, e := authOf(t, h, r); e == nil || e.Code != "RequestTimeTooSkewed" {
		t.Errorf("an hour later: %v", e)
	}
}

// signV4 signs r as a client would (the same steps as the handler, so the
// tests that use it check the wiring, the examples above the steps).
func signV4(r *http.Request, access, secret, region string, at time.Time, payloadSHA string) {
	date := at.UTC().Format(amzDateForm)
	r.Header.Set("X-Amz-Date", date)
	r.Header.Set("X-Amz-Content-Sha256", payloadSHA)
	var names []string
	for name := range r.Header {
		names = append(names, strings.ToLower(name))
	}
	names = append(names, "host")
	s := &sigV4{access: access, scopeDate: date[:8], region: region, service: "s3", term: "aws4_request",
		signedHeaders: splitSignedHeaders(strings.Join(names, ";"))}
	canonical, e := s.canonicalRequest(r, payloadSHA)
	if e != nil {
		panic(e)
	}
	k := []byte("AWS4" + secret)
	for _, p := range []string{s.scopeDate, region, "s3", "aws4_request"} {
		k = hmacSum(sha256.New, k, p)
	}
	sig := hex.EncodeToString(hmacSum(sha256.New, k, s.stringToSign(date, canonical)))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+access+"/"+s.scope()+", SignedHeaders="+
		strings.Join(s.signedHeaders, ";")+", Signature="+sig)
}

func TestSigV4Refusals(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h, _ := newTestHandler(now)
	req := func(mod func(r *http.Request)) *http.Request {
		r := httptest.NewRequest("GET", "http://s3.test/bucket/key?list-type=2", nil)
		mod(r)
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
		code string
	}{
		{"good", req(func(r *http.Request) { signV4(r, exampleAccess, exampleSecret, "us-east-1", now, emptySHA) }), ""},
		{"unknown key", req(func(r *http.Request) { signV4(r, "AKIDNOBODY", exampleSecret, "us-east-1", now, emptySHA) }), "InvalidAccessKeyId"},
		{"wrong secret", req(func(r *http.Request) { signV4(r, exampleAccess, "wrong", "us-east-1", now, emptySHA) }), "SignatureDoesNotMatch"},
		{"16 minutes slow", req(func(r *http.Request) {
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now.Add(-16*time.Minute), emptySHA)
		}), "RequestTimeTooSkewed"},
		{"14 minutes fast", req(func(r *http.Request) {
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now.Add(14*time.Minute), emptySHA)
		}), ""},
		{"other region", req(func(r *http.Request) { signV4(r, exampleAccess, exampleSecret, "eu-west-1", now, emptySHA) }), "AuthorizationHeaderMalformed"},
		{"no content sha", req(func(r *http.Request) {
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now, emptySHA)
			r.Header.Del("X-Amz-Content-Sha256")
		}), "InvalidRequest"},
		{"bad content sha", req(func(r *http.Request) { signV4(r, exampleAccess, exampleSecret, "us-east-1", now, "abc") }), "InvalidArgument"},
		{"unsigned meta header", req(func(r *http.Request) {
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now, emptySHA)
			r.Header.Set("X-Amz-Meta-Sneaky", "1")
		}), "AccessDenied"},
		{"header changed after signing", req(func(r *http.Request) {
			r.Header.Set("X-Amz-Meta-Color", "red")
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now, emptySHA)
			r.Header.Set("X-Amz-Meta-Color", "blue")
		}), "SignatureDoesNotMatch"},
		{"query changed after signing", req(func(r *http.Request) {
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now, emptySHA)
			r.URL.RawQuery = "list-type=1"
		}), "SignatureDoesNotMatch"},
		{"no date", req(func(r *http.Request) {
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now, emptySHA)
			r.Header.Del("X-Amz-Date")
		}), "AccessDenied"},
		{"malformed credential", req(func(r *http.Request) {
			signV4(r, exampleAccess, exampleSecret, "us-east-1", now, emptySHA)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00")
		}), "AuthorizationHeaderMalformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, e := authOf(t, h, tc.r)
			if tc.code == "" && e != nil || tc.code != "" && (e == nil || e.Code != tc.code) {
				t.Fatalf("got %v, want %q", e, tc.code)
			}
		})
	}
}

func TestNotS3PassesThrough(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"/v1/AUTH_x/c/o", "/info", "/healthcheck", "/crossdomain.xml", "/v1/AUTH_x?X-Amz-Foo=1"} {
		if isS3(httptest.NewRequest("GET", target, nil)) {
			t.Errorf("%s taken for S3", target)
		}
	}
	r := httptest.NewRequest("GET", "/v1/AUTH_x", nil)
	r.Header.Set("Authorization", "Bearer x")
	if isS3(r) {
		t.Error("a Bearer Authorization taken for S3")
	}
}
