package compute

// consoleRoutes are the routes of remote consoles (consoles.go); the
// older os-getVNCConsole and os-getSerialConsole actions reach
// remoteConsole through the server action dispatcher.
func (h *handlers) consoleRoutes() []route {
	const p = "/v2.1"
	return []route{
		{"POST " + p + "/servers/{id}/remote-consoles", since(6, h.createRemoteConsole), false},
		{"GET " + p + "/os-console-auth-tokens/{token}", h.showConsoleAuthToken, false},
	}
}
