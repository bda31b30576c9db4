package identity

// extraRoutes registers this group's routes (not built yet: they answer 404).
func (h *handlers) extraRoutes(rt routeTable) {}
