package s3

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// maxSkew is how far a request's signing time may be from ours (s3api's
// allowable_clock_skew, AWS's 15 minutes).
const maxSkew = 15 * time.Minute

// isS3 reports whether r is signed the S3 way: an AWS Authorization header
// or presigned query parameters. Everything else is Swift's.
func isS3(r *http.Request) bool {
	a := r.Header.Get("Authorization")
	if strings.HasPrefix(a, algV4+" ") || strings.HasPrefix(a, "AWS ") {
		return true
	}
	raw := r.URL.RawQuery
	if !strings.Contains(raw, "X-Amz-Credential") && !strings.Contains(raw, "AWSAccessKeyId") {
		return false
	}
	q, _ := url.ParseQuery(raw)
	return q.Has("X-Amz-Credential") || q.Has("AWSAccessKeyId")
}

// signed is the outcome of checking a request's signature.
type signed struct {
	p          *authn.Principal
	contentSHA string // x-amz-content-sha256 as signed; "" for SigV2
	presigned  bool
}

// authenticate checks r's signature: the request's own parts (dates,
// scope, payload hash) here, the HMAC by the Verifier.
func (h *handler) authenticate(ctx context.Context, r *http.Request, q url.Values) (*signed, *Error) {
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, algV4+" "):
		return h.authV4(ctx, r, q, false)
	case strings.HasPrefix(auth, "AWS "):
		return h.authV2(ctx, r, q, false)
	case q.Has("X-Amz-Credential"):
		return h.authV4(ctx, r, q, true)
	default:
		return h.authV2(ctx, r, q, true)
	}
}

func (h *handler) authV4(ctx context.Context, r *http.Request, q url.Values, presigned bool) (*signed, *Error) {
	var sv *sigV4
	var e *Error
	var amzDate string
	now := h.now().UTC()
	if presigned {
		if sv, e = parseV4Query(q); e != nil {
			return nil, e
		}
		amzDate = q.Get("X-Amz-Date")
	} else {
		if sv, e = parseV4Header(r.Header.Get("Authorization")); e != nil {
			return nil, e
		}
		amzDate = r.Header.Get("X-Amz-Date")
		if amzDate == "" {
			if t, err := http.ParseTime(r.Header.Get("Date")); err == nil {
				amzDate = t.UTC().Format(amzDateForm)
			}
		}
	}
	t, err := time.Parse(amzDateForm, amzDate)
	if err != nil {
		return nil, errAccessDenied.msg("AWS authentication requires a valid Date or x-amz-date header")
	}
	if presigned {
		switch {
		case t.After(now.Add(maxSkew)):
			return nil, errAccessDenied.msg("Request is not valid yet")
		case now.After(t.Add(sv.expires)):
			return nil, errAccessDenied.msg("Request has expired").with(
				"X-Amz-Expires", strconv.Itoa(int(sv.expires/time.Second)),
				"Expires", t.Add(sv.expires).Format(time.RFC3339), "ServerTime", now.Format(time.RFC3339))
		}
	} else if e := checkSkew(t, now, amzDate); e != nil {
		return nil, e
	}
	if e := sv.checkScope(amzDate, h.o.Location); e != nil {
		return nil, e
	}
	contentSHA := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case contentSHA == "" && !presigned:
		return nil, errInvalidRequest.msg("Missing required header for this request: x-amz-content-sha256")
	case contentSHA == "":
		contentSHA = unsignedBody
	case contentSHA == unsignedBody, isSHA256Hex(contentSHA), strings.HasPrefix(contentSHA, "STREAMING-"):
	default:
		return nil, invalidArgument("x-amz-content-sha256", contentSHA,
			"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, a valid sha256 value, or a signed streaming value.")
	}
	canonical, e := sv.canonicalRequest(r, contentSHA)
	if e != nil {
		return nil, e
	}
	sts := sv.stringToSign(amzDate, canonical)
	p, e := h.verify(ctx, sv.access, sts, sv.signature, "CanonicalRequest", canonical)
	if e != nil {
		return nil, e
	}
	return &signed{p: p, contentSHA: contentSHA, presigned: presigned}, nil
}

func (h *handler) authV2(ctx context.Context, r *http.Request, q url.Values, presigned bool) (*signed, *Error) {
	now := h.now().UTC()
	var access, sig, date string
	if presigned {
		access, sig, date = q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
		if access == "" || sig == "" || date == "" {
			return nil, errAccessDenied.msg("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
		}
		exp, err := strconv.ParseInt(date, 10, 64)
		if err != nil || exp < 0 || exp >= 1<<31 {
			return nil, errAccessDenied.msg("Invalid date (should be seconds since epoch): " + date)
		}
		if now.Unix() > exp {
			return nil, errAccessDenied.msg("Request has expired").with("Expires", time.Unix(exp, 0).UTC().Format(time.RFC3339),
				"ServerTime", now.Format(time.RFC3339))
		}
	} else {
		var ok bool
		if access, sig, ok = parseV2Header(r.Header.Get("Authorization")); !ok {
			return nil, errAccessDenied.msg("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
		}
		raw := r.Header.Get("X-Amz-Date")
		if raw == "" {
			raw = r.Header.Get("Date")
			date = raw
		}
		t, ok := parseV2Date(raw)
		if !ok {
			return nil, errAccessDenied.msg("AWS authentication requires a valid Date or x-amz-date header")
		}
		if e := checkSkew(t, now, raw); e != nil {
			return nil, e
		}
	}
	sts := stringToSignV2(r, q, date)
	p, e := h.verify(ctx, access, sts, sig)
	if e != nil {
		return nil, e
	}
	return &signed{p: p, presigned: presigned}, nil
}

func parseV2Date(s string) (time.Time, bool) {
	if t, err := http.ParseTime(s); err == nil {
		return t, true
	}
	for _, layout := range []string{amzDateForm, time.RFC1123Z, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func checkSkew(t, now time.Time, given string) *Error {
	if d := now.Sub(t); d > maxSkew || d < -maxSkew {
		return errRequestTimeTooSkewed.with("RequestTime", given, "ServerTime", now.Format(time.RFC3339),
			"MaxAllowedSkewMilliseconds", strconv.Itoa(int(maxSkew/time.Millisecond)))
	}
	return nil
}

// verify asks the Verifier and turns its answer into S3's errors. A
// principal must be scoped to a project: its account is the bucket's home.
func (h *handler) verify(ctx context.Context, access, sts, sig string, extra ...string) (*authn.Principal, *Error) {
	p, err := h.o.Verifier.VerifyS3(ctx, access, sts, sig)
	switch {
	case err == nil:
	case fault.Is(err, fault.NotFound):
		return nil, errInvalidAccessKeyID.with("AWSAccessKeyId", access)
	case fault.Is(err, fault.Unauthorized):
		return nil, errSignatureDoesNotMatch.with(append([]string{"AWSAccessKeyId", access, "StringToSign", sts,
			"SignatureProvided", sig}, extra...)...)
	case fault.Is(err, fault.Forbidden):
		return nil, errAccessDenied
	case fault.Is(err, fault.Unavailable):
		h.o.Log.Warn("s3: identity unavailable", "err", err)
		return nil, errUnavailable
	default:
		h.o.Log.Error("s3: verify signature", "err", err)
		return nil, errInternal
	}
	if p == nil || p.ProjectID == "" {
		return nil, errAccessDenied
	}
	return p, nil
}
