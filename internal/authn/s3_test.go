package authn

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

const (
	s3Access = "AKIDEXAMPLE"
	s3Secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// withS3Tokens adds POST /v3/s3tokens to f: one EC2 credential, checked
// with HMAC-SHA256 of the string to sign (the check itself is identity's
// business; here only the wire matters).
func (f *fakeIdentity) withS3Tokens(status *int) {
	mux := f.srv.Config.Handler.(*http.ServeMux)
	mux.HandleFunc("POST /v3/s3tokens", func(w http.ResponseWriter, r *http.Request) {
		if *status != 0 {
			writeError(w, *status)
			return
		}
		if tok, ok := f.lookup(r.Header.Get("X-Auth-Token")); !ok || !tok.service {
			writeError(w, http.StatusUnauthorized)
			return
		}
		var req struct {
			Credentials struct{ Access, Token, Signature string } `json:"credentials"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest)
			return
		}
		c := req.Credentials
		if c.Access != s3Access {
			writeError(w, http.StatusNotFound)
			return
		}
		sts, err := base64.URLEncoding.DecodeString(c.Token)
		if err != nil || c.Signature != s3Sign(string(sts)) {
			writeError(w, http.StatusUnauthorized)
			return
		}
		writeToken(w, http.StatusOK, fakeToken{userID: "u-s3", userName: "alice", projectID: "p-s3",
			roles: []string{"member"}, methods: []string{"ec2credential"}, auditID: "a"})
	})
}

func s3Sign(sts string) string {
	m := hmac.New(sha256.New, []byte(s3Secret))
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

func TestVerifyS3(t *testing.T) {
	t.Parallel()
	f := newFakeIdentity(t)
	var status int
	f.withS3Tokens(&status)
	r := f.remote(RemoteOptions{})
	const sts = "AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/us-east-1/s3/aws4_request\nabc"

	p, err := r.VerifyS3(t.Context(), s3Access, sts, s3Sign(sts))
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != "u-s3" || p.ProjectID != "p-s3" || !p.HasRole("member") || p.Token != "" {
		t.Errorf("principal = %v (token %q)", p, p.Token)
	}

	if _, err := r.VerifyS3(t.Context(), s3Access, sts, s3Sign("other")); !fault.Is(err, fault.Unauthorized) {
		t.Errorf("bad signature: %v, want Unauthorized", err)
	}
	if _, err := r.VerifyS3(t.Context(), "AKIDUNKNOWN", sts, s3Sign(sts)); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown key: %v, want NotFound", err)
	}
	if n := f.issued.Load(); n != 1 {
		t.Errorf("service token issued %d times, want 1 (a bad signature is not a bad service token)", n)
	}

	// Identity forgot our token: the 401 is ours, so get a new one and retry.
	f.revokeServiceTokens()
	if _, err := r.VerifyS3(t.Context(), s3Access, sts, s3Sign(sts)); err != nil {
		t.Fatalf("after revocation: %v", err)
	}
	if n := f.issued.Load(); n != 2 {
		t.Errorf("service token issued %d times, want 2", n)
	}

	for code, kind := range map[int]fault.Kind{http.StatusForbidden: fault.Unavailable,
		http.StatusServiceUnavailable: fault.Unavailable, http.StatusBadRequest: fault.Internal} {
		status = code
		if _, err := r.VerifyS3(t.Context(), s3Access, sts, s3Sign(sts)); fault.KindOf(err) != kind {
			t.Errorf("identity answering %d: %v, want kind %v", code, err, kind)
		}
	}

	f.srv.Close()
	if _, err := r.VerifyS3(t.Context(), s3Access, sts, s3Sign(sts)); !fault.Is(err, fault.Unavailable) {
		t.Errorf("identity down: %v, want Unavailable", err)
	}
}
