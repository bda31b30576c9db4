package compute

// serverActionRoutes are the routes of server actions, instance actions, console output.
func (h *handlers) serverActionRoutes() []route {
	return nil
}
