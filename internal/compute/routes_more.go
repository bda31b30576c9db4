package compute

// moreRoutes are the routes of the image proxy (images and their
// metadata, gone from 2.36 and 2.39), os-hosts (gone from 2.43),
// os-server-password, os-instance-usage-audit-log, os-migrations and
// os-server-external-events.
func (h *handlers) moreRoutes() []route {
	const p = "/v2.1"
	return []route{
		{"GET " + p + "/images", adminUntil(proxyLast, h.listImages), false},
		{"GET " + p + "/images/detail", adminUntil(proxyLast, h.listImagesDetail), false},
		{"GET " + p + "/images/{id}", adminUntil(proxyLast, h.showImage), false},
		{"DELETE " + p + "/images/{id}", adminUntil(proxyLast, h.deleteImage), false},
		{"GET " + p + "/images/{id}/metadata", adminUntil(imageMetadataLast, h.listImageMetadata), false},
		{"POST " + p + "/images/{id}/metadata", adminUntil(imageMetadataLast, h.createImageMetadata), false},
		{"PUT " + p + "/images/{id}/metadata", adminUntil(imageMetadataLast, h.replaceImageMetadata), false},
		{"GET " + p + "/images/{id}/metadata/{key}", adminUntil(imageMetadataLast, h.showImageMetadataKey), false},
		{"PUT " + p + "/images/{id}/metadata/{key}", adminUntil(imageMetadataLast, h.updateImageMetadataKey), false},
		{"DELETE " + p + "/images/{id}/metadata/{key}", adminUntil(imageMetadataLast, h.deleteImageMetadataKey), false},

		{"GET " + p + "/servers/{id}/os-server-password", h.showServerPassword, false},
		{"DELETE " + p + "/servers/{id}/os-server-password", h.clearServerPassword, false},

		{"GET " + p + "/os-hosts", adminUntil(42, h.listHosts), false},
		{"GET " + p + "/os-hosts/{host}", adminUntil(42, h.showHost), false},
		{"PUT " + p + "/os-hosts/{host}", adminUntil(42, h.updateHost), false},
		{"GET " + p + "/os-hosts/{host}/startup", adminUntil(42, h.hostPowerAction("startup")), false},
		{"GET " + p + "/os-hosts/{host}/shutdown", adminUntil(42, h.hostPowerAction("shutdown")), false},
		{"GET " + p + "/os-hosts/{host}/reboot", adminUntil(42, h.hostPowerAction("reboot")), false},

		{"GET " + p + "/os-instance_usage_audit_log", h.listUsageAuditLogs, false},
		{"GET " + p + "/os-instance_usage_audit_log/{before}", h.showUsageAuditLog, false},

		{"POST " + p + "/os-server-external-events", h.createExternalEvents, false},

		{"GET " + p + "/os-migrations", h.listMigrations, false},

		{"GET " + p + "/extensions", h.listExtensions, false},
		{"GET " + p + "/extensions/{alias}", h.showExtension, false},
	}
}
