package s3

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 4 as S3 uses it: the canonical request and string
// to sign are built here from the request as received; identity only
// checks the HMAC over the string to sign.

const (
	algV4        = "AWS4-HMAC-SHA256"
	amzDateForm  = "20060102T150405Z"
	maxPresign   = 7 * 24 * time.Hour // X-Amz-Expires may not exceed a week
	unsignedBody = "UNSIGNED-PAYLOAD"
)

// sigV4 is what a request's Authorization header or presigned query says.
type sigV4 struct {
	access                           string
	scopeDate, region, service, term string
	signedHeaders                    []string
	signature                        string
	presigned                        bool
	expires                          time.Duration // presigned only
}

func (s *sigV4) scope() string {
	return s.scopeDate + "/" + s.region + "/" + s.service + "/" + s.term
}

// parseCredential splits "<access>/<date>/<region>/<service>/aws4_request".
func (s *sigV4) parseCredential(cred string) bool {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return false
	}
	s.access, s.scopeDate, s.region, s.service, s.term = parts[0], parts[1], parts[2], parts[3], parts[4]
	return true
}

// parseV4Header reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...".
func parseV4Header(auth string) (*sigV4, *Error) {
	rest := strings.TrimSpace(strings.TrimPrefix(auth, algV4))
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
		if ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	s := &sigV4{}
	if !s.parseCredential(fields["Credential"]) {
		return nil, errAuthHeaderMalformed
	}
	if fields["Signature"] == "" {
		return nil, errAccessDenied
	}
	if fields["SignedHeaders"] == "" {
		return nil, errAuthHeaderMalformed
	}
	s.signature = fields["Signature"]
	s.signedHeaders = splitSignedHeaders(fields["SignedHeaders"])
	return s, nil
}

// parseV4Query reads a presigned URL's X-Amz-* parameters.
func parseV4Query(q url.Values) (*sigV4, *Error) {
	if alg := q.Get("X-Amz-Algorithm"); alg != algV4 {
		return nil, invalidArgument("X-Amz-Algorithm", alg, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	s := &sigV4{presigned: true}
	if !s.parseCredential(q.Get("X-Amz-Credential")) {
		return nil, errAuthQueryMalformed.msg("Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	s.signature = q.Get("X-Amz-Signature")
	sh := q.Get("X-Amz-SignedHeaders")
	if s.signature == "" || sh == "" || q.Get("X-Amz-Date") == "" {
		return nil, errAuthQueryMalformed
	}
	s.signedHeaders = splitSignedHeaders(sh)
	exp := q.Get("X-Amz-Expires")
	if exp == "" {
		return nil, errAuthQueryMalformed
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	switch {
	case err != nil:
		return nil, errAuthQueryMalformed.msg("X-Amz-Expires should be a number")
	case n < 0:
		return nil, errAuthQueryMalformed.msg("X-Amz-Expires must be non-negative")
	case time.Duration(n)*time.Second > maxPresign:
		return nil, errAuthQueryMalformed.msg("X-Amz-Expires must be less than a week (in seconds) that is 7 days")
	}
	s.expires = time.Duration(n) * time.Second
	return s, nil
}

func splitSignedHeaders(s string) []string {
	hs := strings.Split(strings.ToLower(s), ";")
	sort.Strings(hs)
	return hs
}

// checkScope checks the credential scope against the signing date and
// this endpoint's region, with S3's messages for each part.
func (s *sigV4) checkScope(amzDate, location string) *Error {
	base, prefix := errAuthHeaderMalformed, "The authorization header is malformed; "
	if s.presigned {
		base, prefix = errAuthQueryMalformed, "Error parsing the X-Amz-Credential parameter; "
	}
	switch {
	case s.scopeDate != amzDate[:8]:
		return base.msg("Invalid credential date \"" + s.scopeDate + "\". This date is not the same as X-Amz-Date: \"" + amzDate[:8] + "\".")
	case s.region != location && s.region != strings.ToLower(location):
		return base.msg(prefix+"the region '"+s.region+"' is wrong; expecting '"+location+"'").with("Region", location)
	case s.service != "s3":
		return base.msg(prefix + "incorrect service \"" + s.service + "\". This endpoint belongs to \"s3\".")
	case s.term != "aws4_request":
		return base.msg(prefix + "incorrect terminal \"" + s.term + "\". This endpoint uses \"aws4_request\".")
	}
	return nil
}

// mustBeSigned are the header prefixes S3 refuses to take unsigned.
var mustBeSigned = []string{"x-amz-copy", "x-amz-acl", "x-amz-grant", "x-amz-meta"}

// canonicalRequest builds SigV4's canonical request of r. A signed header
// the request lacks can never verify: it is SignatureDoesNotMatch at once.
func (s *sigV4) canonicalRequest(r *http.Request, payloadHash string) (string, *Error) {
	signed := map[string]bool{}
	for _, h := range s.signedHeaders {
		signed[h] = true
	}
	for name := range r.Header {
		n := strings.ToLower(name)
		for _, p := range mustBeSigned {
			if strings.HasPrefix(n, p) && !signed[n] {
				return "", errAccessDenied.msg("There were headers present in the request which were not signed").with("HeadersNotSigned", n)
			}
		}
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uriEncode(pathOf(r), true))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, "X-Amz-Signature"))
	b.WriteByte('\n')
	for _, h := range s.signedHeaders {
		v, ok := headerValue(r, h)
		if !ok {
			return "", errSignatureDoesNotMatch
		}
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(s.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// stringToSign is SigV4's string to sign for a canonical request.
func (s *sigV4) stringToSign(amzDate, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return algV4 + "\n" + amzDate + "\n" + s.scope() + "\n" + hex.EncodeToString(sum[:])
}

// pathOf is the decoded request path, "/" when empty.
func pathOf(r *http.Request) string {
	if r.URL.Path == "" {
		return "/"
	}
	return r.URL.Path
}

// headerValue is a header as SigV4 canonicalizes it: values trimmed, inner
// runs of spaces folded, several values joined by commas. Go keeps Host and
// Transfer-Encoding outside r.Header.
func headerValue(r *http.Request, name string) (string, bool) {
	var vals []string
	switch name {
	case "host":
		if r.Host == "" {
			return "", false
		}
		vals = []string{r.Host}
	case "transfer-encoding":
		vals = r.TransferEncoding
	case "content-length":
		vals = r.Header.Values("Content-Length")
		if len(vals) == 0 && r.ContentLength >= 0 && r.Body != nil && r.Body != http.NoBody {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	if len(vals) == 0 {
		return "", false
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ","), true
}

// canonicalQuery sorts the query's parameters by name then value and
// encodes both as SigV4 wants; skip is left out.
func canonicalQuery(raw, skip string) string {
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		var err error
		if k, err = url.QueryUnescape(k); err != nil {
			k = part
		}
		if v, err = url.QueryUnescape(v); err != nil {
			v = ""
		}
		if k == skip {
			continue
		}
		pairs = append(pairs, kv{k, v})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(uriEncode(p.k, false))
		b.WriteByte('=')
		b.WriteString(uriEncode(p.v, false))
	}
	return b.String()
}

// uriEncode is AWS's UriEncode: every byte but A-Z a-z 0-9 - _ . ~ as %XX
// in upper case, and "/" kept in paths.
func uriEncode(s string, path bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && path:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
		}
	}
	return b.String()
}

// isSHA256Hex reports whether s looks like a hex SHA-256.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
