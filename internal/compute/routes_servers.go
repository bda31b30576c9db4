package compute

// serverRoutes are the routes of servers: create, list, show, update, delete, metadata, tags.
func (h *handlers) serverRoutes() []route {
	return nil
}
