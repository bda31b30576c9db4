package compute

// adminRoutes are the routes of os-services, os-hypervisors, aggregates, server groups, os-simple-tenant-usage.
func (h *handlers) adminRoutes() []route {
	return nil
}
