package compute

// adminRoutes are the routes of os-services, os-hypervisors, aggregates, server groups, os-simple-tenant-usage.
func (h *handlers) adminRoutes() []route {
	const p = "/v2.1"
	return []route{
		{"GET " + p + "/os-services", h.listServices, false},
		{"PUT " + p + "/os-services/{id}", h.updateService, false},
		{"DELETE " + p + "/os-services/{id}", h.deleteService, false},
	}
}
