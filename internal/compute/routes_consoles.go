package compute

// consoleRoutes are the routes of remote consoles.
func (h *handlers) consoleRoutes() []route {
	return nil
}
