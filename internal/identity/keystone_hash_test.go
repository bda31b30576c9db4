package identity

import "testing"

// Hashes made by Keystone's password hashing (passlib bcrypt, "$2b$"),
// as an export of a Keystone database holds them, must verify unchanged.
func TestKeystoneBcryptHashesVerify(t *testing.T) {
	t.Parallel()
	c := newTestCloud(t)
	uid := c.newUser("migrated", "placeholder-pw")
	cases := []struct{ hash, password string }{
		{"$2b$12$wYn6ZcuMQRse0IIhwczY5uklDpkx6GwgFbvvu2.R7hPHdZyXpaP.y", "keystone-secret"},
		// passlib truncates at 72 bytes like bcrypt itself
		{"$2b$04$vg4nlf3Ge/zvgloK3bLYx.ddtjX6H5kmdbOMQRi6r4PTKyBvC8l4G", string(make100x())},
	}
	for _, tc := range cases {
		if _, err := c.svc.db.Exec(`UPDATE users SET password_hash = $1 WHERE id = $2`, tc.hash, uid); err != nil {
			t.Fatal(err)
		}
		c.svc.Invalidate()
		c.passwordToken("migrated", tc.password, nil)
		resp, _ := c.do("POST", "/v3/auth/tokens", "", map[string]any{"auth": map[string]any{"identity": map[string]any{
			"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
				"id": uid, "password": tc.password + "x"}}}}})
		if len(tc.password) < 72 && resp.StatusCode != 401 {
			t.Fatalf("wrong password against a Keystone hash = %d, want 401", resp.StatusCode)
		}
	}
}

func make100x() []byte {
	b := make([]byte, 100)
	for i := range b {
		b[i] = 'x'
	}
	return b
}
