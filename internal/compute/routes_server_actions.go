package compute

// serverActionRoutes are the routes of server actions, instance actions, console output.
func (h *handlers) serverActionRoutes() []route {
	const p = "/v2.1"
	return []route{
		{"POST " + p + "/servers/{id}/action", h.serverAction, false},
		{"GET " + p + "/servers/{id}/os-instance-actions", h.listInstanceActions, false},
		{"GET " + p + "/servers/{id}/os-instance-actions/{request_id}", h.showInstanceAction, false},
		{"GET " + p + "/servers/{id}/diagnostics", h.serverDiagnostics, false},
	}
}
