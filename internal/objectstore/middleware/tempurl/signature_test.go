package tempurl

import (
	"testing"
	"time"
)

// Expected values computed with Python's hmac module (as Swift and its
// clients do) for key "mykey" and "GET\n1700000000\n/v1/AUTH_a/c/o".
const (
	pySHA1      = "cf1cb4ca7ffbf542fd4bd4792d5feaafb1e6bda3"
	pySHA256    = "1b2618118ea6cef7046d1641fc84c989acecf59cd4a1b4f3b1ec9b7677e6d617"
	pySHA512    = "5f70b9d3bb8277b0feb326048165d0218e1132943c31a19ace674bc8d4b3b6637d31e0e61e0af6bda39093c007eeff0f01874c702bedb4dce84cbcb022b1ede2"
	pySHA512URL = "X3C507uCd7D-syYEgWXQIY4RMpQ8MaGazmdLyNSztmN9MeDmHgr2vaOQk8AH7v8PAYdMcCvttNzoTLywIrHt4g=="
	pySHA512Std = "X3C507uCd7D+syYEgWXQIY4RMpQ8MaGazmdLyNSztmN9MeDmHgr2vaOQk8AH7v8PAYdMcCvttNzoTLywIrHt4g=="
	pySHA256URL = "GyYYEY6mzvcEbRZB_ITJiazs9ZzUobTzseybdnfm1hc="
)

func TestHMACMatchesPython(t *testing.T) {
	msg := Message("GET", 1700000000, "/v1/AUTH_a/c/o", "")
	for digest, want := range map[string]string{"sha1": pySHA1, "sha256": pySHA256, "sha512": pySHA512} {
		if got := HMAC(digest, "mykey", msg); got != want {
			t.Errorf("%s = %s, want %s", digest, got, want)
		}
	}
	// An address-limited prefix URL puts "ip=" first.
	got := HMAC("sha256", "k", Message("PUT", 1700000000, "prefix:/v1/AUTH_a/c/pre", "1.2.3.0/24"))
	if got != "47f356b173a6023789340b3381f3e8344c005f2d6f1000bf592a0d41a39e84e1" {
		t.Errorf("ip prefix HMAC = %s", got)
	}
	if HMAC("md5", "k", "m") != "" {
		t.Error("unknown digest signed")
	}
}

func TestParseSignature(t *testing.T) {
	for _, tc := range []struct {
		in, digest, sig string
	}{
		{pySHA1, "sha1", pySHA1},
		{pySHA256, "sha256", pySHA256},
		{pySHA512, "sha512", pySHA512},
		{"sha512:" + pySHA512URL, "sha512", pySHA512},
		{"sha512:" + pySHA512Std, "sha512", pySHA512},
		{"sha512:" + pySHA512URL[:len(pySHA512URL)-2], "sha512", pySHA512}, // padding is optional
		{"sha256:" + pySHA256URL, "sha256", pySHA256},
		{"md5:" + pySHA256URL, "md5", pySHA256}, // the caller rejects the name
	} {
		d, s, err := ParseSignature(tc.in)
		if err != nil || d != tc.digest || s != tc.sig {
			t.Errorf("ParseSignature(%q) = %q, %q, %v", tc.in, d, s, err)
		}
	}
	for _, bad := range []string{"", "abc", pySHA1[:39] + "g", pySHA1 + "00", "sha512:not*base64", "sha512:ab=cd", "sha1:a"} {
		if _, _, err := ParseSignature(bad); err == nil {
			t.Errorf("ParseSignature(%q) accepted", bad)
		}
	}
}

func TestParseExpires(t *testing.T) {
	now := time.Unix(1700000000, 500e6)
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1700000100", 1700000100},
		{"2023-11-14T22:15:00Z", 1700000100},
		{"1700000001", 1700000001},
		{"1700000000", 0}, // half a second ago
		{"2023-11-14T22:13:19Z", 0},
		{"", 0},
		{"soon", 0},
		{"2023-11-14 22:15:00", 0},
		{"1.7e9", 0},
	} {
		if got := ParseExpires(tc.in, now); got != tc.want {
			t.Errorf("ParseExpires(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestParseParamsAsPython(t *testing.T) {
	p := parseParams("temp_url_sig=a%2Bb&temp_url_sig=second&temp_url_expires=1&inline&filename=My+File%zz&temp_url_prefix=")
	if *p.sig != "a+b" || *p.expires != "1" || !p.inline || *p.filename != "My File%zz" || p.prefix == nil || *p.prefix != "" {
		t.Fatalf("%+v", p)
	}
	if p := parseParams("format=json"); p.sig != nil || p.expires != nil || p.prefix != nil {
		t.Fatalf("%+v", p)
	}
}

func TestContentDisposition(t *testing.T) {
	// As Python's '%s; filename="%s"; filename*=UTF-8''%s' with quote().
	got := contentDisposition("attachment", "My Test/File\u00e9.pdf")
	want := `attachment; filename="My Test/File%C3%A9.pdf"; filename*=UTF-8''My%20Test/File%C3%A9.pdf`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if b := baseName("/v1/a/c/dir/o//"); b != "o" {
		t.Errorf("baseName = %q", b)
	}
}

// FuzzQuery: no query or signature makes the parsers panic.
func FuzzQuery(f *testing.F) {
	f.Add("temp_url_sig=sha512:abc&temp_url_expires=2023-11-14T22:15:00Z&inline", "sha1:=")
	f.Fuzz(func(t *testing.T, query, sig string) {
		p := parseParams(query)
		if p.expires != nil {
			ParseExpires(*p.expires, time.Unix(1700000000, 0))
		}
		if d, s, err := ParseSignature(sig); err == nil && d == "" && s == "" && sig != "" && sig[0] != ':' {
			t.Errorf("%q parsed to nothing", sig)
		}
		remoteIn("127.0.0.1:1", sig)
	})
}
