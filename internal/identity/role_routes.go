package identity

// roleRoutes registers roles and their inference rules.
func (h *handlers) roleRoutes(rt routeTable) {
	rt.Handle("GET /v3/roles", h.listRoles)
	rt.Handle("POST /v3/roles", h.createRole)
	rt.Handle("GET /v3/roles/{id}", h.getRole)
	rt.Handle("PATCH /v3/roles/{id}", h.updateRole)
	rt.Handle("DELETE /v3/roles/{id}", h.deleteRole)
	rt.Handle("GET /v3/roles/{prior}/implies", h.listImpliedRoles)
	rt.Handle("PUT /v3/roles/{prior}/implies/{implied}", h.createImpliedRole)
	rt.Handle("GET /v3/roles/{prior}/implies/{implied}", h.getImpliedRole)
	rt.Handle("HEAD /v3/roles/{prior}/implies/{implied}", h.checkImpliedRole)
	rt.Handle("DELETE /v3/roles/{prior}/implies/{implied}", h.deleteImpliedRole)
	rt.Handle("GET /v3/role_inferences", h.listRoleInferences)
}
