package authn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// VerifyS3 asks identity whether signature is what the secret of the EC2
// credential named by access gives over stringToSign (POST /v3/s3tokens,
// with the service token, as Swift's s3token middleware does) and returns
// whom the credential acts as: its user scoped to its project. The S3 API
// builds the string to sign; identity never sees the request.
//
// An unknown access key is fault NotFound; a wrong signature, or a user or
// project that cannot authenticate, is fault Unauthorized; identity out of
// reach, or refusing the service user, is fault Unavailable. Answers are
// not cached: every string to sign differs.
func (r *Remote) VerifyS3(ctx context.Context, access, stringToSign, signature string) (*Principal, error) {
	body, err := json.Marshal(map[string]any{"credentials": map[string]string{
		"access":    access,
		"token":     base64.URLEncoding.EncodeToString([]byte(stringToSign)),
		"signature": signature,
	}})
	if err != nil {
		return nil, fmt.Errorf("verify S3 signature: %w", err)
	}
	for attempt := 0; ; attempt++ {
		st, err := r.serviceToken(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v3/s3tokens", bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("verify S3 signature: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set(HeaderAuthToken, st.id)
		status, _, respBody, err := r.roundTrip(req)
		if err != nil {
			return nil, err
		}
		switch {
		case status == http.StatusOK:
			p, err := ParseToken(respBody)
			if err != nil {
				return nil, fault.Wrap(fault.Internal, err, "Identity service returned a malformed token")
			}
			return p, nil
		case status == http.StatusNotFound:
			return nil, fault.NotFoundf("EC2 access key not found.")
		case status == http.StatusUnauthorized:
			// Either the signature is wrong or our own token is no longer
			// good (revoked, keys rotated): identity says 401 to both. Ask
			// about our token; if it is bad, get a new one and try again.
			if attempt == 0 {
				ok, err := r.selfValid(ctx, st)
				if err != nil {
					return nil, err
				}
				if !ok {
					r.dropServiceToken(st)
					continue
				}
			}
			return nil, fault.Unauthorizedf("Credential signature mismatch")
		case status == http.StatusForbidden:
			// The service user lacks identity:s3tokens_validate: nobody can
			// use S3 until an operator gives it the service or admin role.
			return nil, fault.Wrap(fault.Unavailable,
				fmt.Errorf("verify S3 signature: identity refused user %q (give it the service role): %.200s", r.o.Username, respBody),
				msgUnavailable)
		case status >= 500:
			return nil, fault.Wrap(fault.Unavailable, fmt.Errorf("verify S3 signature: identity answered %d", status), msgUnavailable)
		default:
			return nil, fmt.Errorf("verify S3 signature: identity answered %d: %.200s", status, respBody)
		}
	}
}

// selfValid asks identity whether the service token st is still valid.
func (r *Remote) selfValid(ctx context.Context, st svcToken) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/v3/auth/tokens?nocatalog", nil)
	if err != nil {
		return false, fmt.Errorf("check service token: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderAuthToken, st.id)
	req.Header.Set(HeaderSubjectToken, st.id)
	status, _, _, err := r.roundTrip(req)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusOK:
		return true, nil
	case status == http.StatusUnauthorized, status == http.StatusNotFound:
		return false, nil
	case status >= 500:
		return false, fault.Wrap(fault.Unavailable, fmt.Errorf("check service token: identity answered %d", status), msgUnavailable)
	}
	return false, errors.New("check service token: identity answered " + http.StatusText(status))
}
