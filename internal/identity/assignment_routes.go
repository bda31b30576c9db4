package identity

// assignmentRoutes registers grants (direct, system and OS-INHERIT) and
// GET /v3/role_assignments.
func (h *handlers) assignmentRoutes(rt routeTable) {
	for _, target := range []string{
		"/v3/projects/{project}/users/{user}",
		"/v3/projects/{project}/groups/{group}",
		"/v3/domains/{domain}/users/{user}",
		"/v3/domains/{domain}/groups/{group}",
		"/v3/system/users/{user}",
		"/v3/system/groups/{group}",
	} {
		h.grantRoutes(rt, target+"/roles", "")
	}
	for _, target := range []string{
		"/v3/OS-INHERIT/domains/{domain}/users/{user}",
		"/v3/OS-INHERIT/domains/{domain}/groups/{group}",
		"/v3/OS-INHERIT/projects/{project}/users/{user}",
		"/v3/OS-INHERIT/projects/{project}/groups/{group}",
	} {
		h.grantRoutes(rt, target+"/roles", "/inherited_to_projects")
	}
	rt.Handle("GET /v3/role_assignments", h.listRoleAssignments)
}

func (h *handlers) grantRoutes(rt routeTable, prefix, suffix string) {
	one := prefix + "/{role}" + suffix
	rt.Handle("PUT "+one, h.createGrant)
	rt.Handle("GET "+one, h.checkGrant)
	rt.Handle("HEAD "+one, h.checkGrant)
	rt.Handle("DELETE "+one, h.revokeGrant)
	rt.Handle("GET "+prefix+suffix, h.listGrants)
}
