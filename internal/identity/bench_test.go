package identity

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkValidateToken measures GET /v3/auth/tokens in process, without
// the network: the handler's own cost per validation.
func BenchmarkValidateToken(b *testing.B) {
	c := newTestCloud(&testing.T{})
	h := c.svc.Handler(httpxOptions())
	subject := c.passwordToken("admin", testAdminPassword, map[string]any{"project": map[string]any{"id": c.adminProjectID}})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/v3/auth/tokens", nil)
			req.Header.Set("X-Auth-Token", c.adminToken)
			req.Header.Set("X-Subject-Token", subject)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("validate = %d", w.Code)
			}
		}
	})
}
