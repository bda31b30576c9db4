package identity

// credentialRoutes registers this group's routes (not built yet: they answer 404).
func (h *handlers) credentialRoutes(rt routeTable) {}
