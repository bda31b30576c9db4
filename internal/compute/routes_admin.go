package compute

// adminRoutes are the routes of os-services, os-hypervisors, aggregates, server groups, os-simple-tenant-usage.
func (h *handlers) adminRoutes() []route {
	const p = "/v2.1"
	return []route{
		{"GET " + p + "/os-services", h.listServices, false},
		{"PUT " + p + "/os-services/{id}", h.updateService, false},
		{"DELETE " + p + "/os-services/{id}", h.deleteService, false},

		{"GET " + p + "/os-hypervisors", h.listHypervisors, false},
		{"GET " + p + "/os-hypervisors/detail", h.listHypervisorsDetail, false},
		{"GET " + p + "/os-hypervisors/statistics", adminUntil(87, h.hypervisorStatistics), false},
		{"GET " + p + "/os-hypervisors/{id}", h.showHypervisor, false},
		{"GET " + p + "/os-hypervisors/{id}/uptime", adminUntil(87, h.hypervisorUptime), false},
		{"GET " + p + "/os-hypervisors/{id}/search", adminUntil(52, h.searchHypervisors), false},
		{"GET " + p + "/os-hypervisors/{id}/servers", adminUntil(52, h.hypervisorServers), false},

		{"GET " + p + "/os-aggregates", h.listAggregates, false},
		{"POST " + p + "/os-aggregates", h.createAggregate, false},
		{"GET " + p + "/os-aggregates/{id}", h.showAggregate, false},
		{"PUT " + p + "/os-aggregates/{id}", h.updateAggregate, false},
		{"DELETE " + p + "/os-aggregates/{id}", h.deleteAggregate, false},
		{"POST " + p + "/os-aggregates/{id}/action", h.aggregateAction, false},
		{"POST " + p + "/os-aggregates/{id}/images", since(81, h.aggregateImages), false},

		{"GET " + p + "/os-server-groups", h.listServerGroups, false},
		{"POST " + p + "/os-server-groups", h.createServerGroup, false},
		{"GET " + p + "/os-server-groups/{id}", h.showServerGroup, false},
		{"DELETE " + p + "/os-server-groups/{id}", h.deleteServerGroup, false},

		{"GET " + p + "/os-simple-tenant-usage", h.listTenantUsages, false},
		{"GET " + p + "/os-simple-tenant-usage/{id}", h.showTenantUsage, false},
	}
}
