package identity

// Route groups still being written; each registers its own routes.

func (h *handlers) roleRoutes(rt routeTable)       {}
func (h *handlers) assignmentRoutes(rt routeTable) {}
func (h *handlers) catalogRoutes(rt routeTable)    {}
func (h *handlers) credentialRoutes(rt routeTable) {}
func (h *handlers) appCredRoutes(rt routeTable)    {}
func (h *handlers) extraRoutes(rt routeTable)      {}
