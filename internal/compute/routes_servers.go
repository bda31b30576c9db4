package compute

// serverRoutes are the routes of servers: create, list, show, update, delete, metadata, tags.
func (h *handlers) serverRoutes() []route {
	const p = "/v2.1"
	return []route{
		{"GET " + p + "/servers", h.listServers, false},
		{"POST " + p + "/servers", h.createServer, false},
		{"GET " + p + "/servers/detail", h.listServersDetail, false},
		{"GET " + p + "/servers/{id}", h.showServer, false},
		{"PUT " + p + "/servers/{id}", h.updateServer, false},
		{"DELETE " + p + "/servers/{id}", h.deleteServer, false},
		{"GET " + p + "/servers/{id}/ips", h.listServerAddresses, false},
		{"GET " + p + "/servers/{id}/ips/{label}", h.showServerAddresses, false},

		{"GET " + p + "/servers/{id}/metadata", h.listServerMetadata, false},
		{"POST " + p + "/servers/{id}/metadata", h.createServerMetadata, false},
		{"PUT " + p + "/servers/{id}/metadata", h.replaceServerMetadata, false},
		{"GET " + p + "/servers/{id}/metadata/{key}", h.showServerMetadataItem, false},
		{"PUT " + p + "/servers/{id}/metadata/{key}", h.updateServerMetadataItem, false},
		{"DELETE " + p + "/servers/{id}/metadata/{key}", h.deleteServerMetadataItem, false},

		{"GET " + p + "/servers/{id}/tags", since(26, h.listServerTags), false},
		{"PUT " + p + "/servers/{id}/tags", since(26, h.replaceServerTags), false},
		{"DELETE " + p + "/servers/{id}/tags", since(26, h.deleteServerTags), false},
		{"GET " + p + "/servers/{id}/tags/{tag}", since(26, h.showServerTag), false},
		{"PUT " + p + "/servers/{id}/tags/{tag}", since(26, h.addServerTag), false},
		{"DELETE " + p + "/servers/{id}/tags/{tag}", since(26, h.deleteServerTag), false},
	}
}
