package identity

// roleRoutes registers this group's routes (not built yet: they answer 404).
func (h *handlers) roleRoutes(rt routeTable) {}
