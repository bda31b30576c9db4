package identity

// assignmentRoutes registers this group's routes (not built yet: they answer 404).
func (h *handlers) assignmentRoutes(rt routeTable) {}
