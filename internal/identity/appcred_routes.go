package identity

// appCredRoutes registers application credentials and access rules.
func (h *handlers) appCredRoutes(rt routeTable) {
	rt.Handle("GET /v3/users/{user_id}/application_credentials", h.listAppCreds)
	rt.Handle("POST /v3/users/{user_id}/application_credentials", h.createAppCred)
	rt.Handle("GET /v3/users/{user_id}/application_credentials/{id}", h.getAppCred)
	rt.Handle("DELETE /v3/users/{user_id}/application_credentials/{id}", h.deleteAppCred)
	rt.Handle("GET /v3/users/{user_id}/access_rules", h.listAccessRules)
	rt.Handle("GET /v3/users/{user_id}/access_rules/{id}", h.getAccessRule)
	rt.Handle("DELETE /v3/users/{user_id}/access_rules/{id}", h.deleteAccessRule)
}
