package identity

// appCredRoutes registers this group's routes (not built yet: they answer 404).
func (h *handlers) appCredRoutes(rt routeTable) {}
