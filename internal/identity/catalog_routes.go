package identity

// catalogRoutes registers this group's routes (not built yet: they answer 404).
func (h *handlers) catalogRoutes(rt routeTable) {}
