package compute

import "github.com/nimbus-cloud/nimbus/internal/policy"

// Rules of servers, their metadata and tags (nova/policies/servers.py,
// server_metadata.py, server_tags.py, extended_server_attributes.py).
const (
	policyServerIndex           = "os_compute_api:servers:index"
	policyServerDetail          = "os_compute_api:servers:detail"
	policyServerIndexAllTenants = "os_compute_api:servers:index:get_all_tenants"
	policyServerDetailAllTenant = "os_compute_api:servers:detail:get_all_tenants"
	policyServerAllFilters      = "os_compute_api:servers:allow_all_filters"
	policyServerShow            = "os_compute_api:servers:show"
	policyServerCreate          = "os_compute_api:servers:create"
	policyServerForcedHost      = "os_compute_api:servers:create:forced_host"
	policyServerRequestedDest   = "compute:servers:create:requested_destination"
	policyServerAttachVolume    = "os_compute_api:servers:create:attach_volume"
	policyServerAttachNetwork   = "os_compute_api:servers:create:attach_network"
	policyServerTrustedCerts    = "os_compute_api:servers:create:trusted_certs"
	policyServerZeroDisk        = "os_compute_api:servers:create:zero_disk_flavor"
	policyServerAttachExternal  = "network:attach_external_network"
	policyServerDelete          = "os_compute_api:servers:delete"
	policyServerUpdate          = "os_compute_api:servers:update"

	policyMetadataIndex     = "os_compute_api:server-metadata:index"
	policyMetadataShow      = "os_compute_api:server-metadata:show"
	policyMetadataCreate    = "os_compute_api:server-metadata:create"
	policyMetadataUpdateAll = "os_compute_api:server-metadata:update_all"
	policyMetadataUpdate    = "os_compute_api:server-metadata:update"
	policyMetadataDelete    = "os_compute_api:server-metadata:delete"

	policyTagsIndex     = "os_compute_api:os-server-tags:index"
	policyTagsShow      = "os_compute_api:os-server-tags:show"
	policyTagsUpdate    = "os_compute_api:os-server-tags:update"
	policyTagsUpdateAll = "os_compute_api:os-server-tags:update_all"
	policyTagsDelete    = "os_compute_api:os-server-tags:delete"
	policyTagsDeleteAll = "os_compute_api:os-server-tags:delete_all"
)

var serverPolicies = []policy.Default{
	{Name: policyServerIndex, Check: projectReaderOrAdmin, Description: "List all servers"},
	{Name: policyServerDetail, Check: projectReaderOrAdmin, Description: "List all servers with detailed information"},
	{Name: policyServerIndexAllTenants, Check: adminRule, Description: "List all servers for all projects"},
	{Name: policyServerDetailAllTenant, Check: adminRule,
		Description: "List all servers with detailed information for all projects"},
	{Name: policyServerAllFilters, Check: adminRule, Description: "Allow all filters when listing servers"},
	{Name: policyServerShow, Check: projectReaderOrAdmin, Description: "Show a server"},
	{Name: policyServerExtraSpecs, Check: projectReaderOrAdmin, Description: "Starting with microversion 2.47, the flavor and its extra specs used for a server is also returned in the response when showing server details, updating a server or rebuilding a server."},
	{Name: policyServerHostStatus, Check: adminRule, Description: "Show a server with additional host status information."},
	{Name: policyServerHostStatusUnkn, Check: adminRule,
		Description: "Show a server with additional host status information, only if host status is UNKNOWN."},
	{Name: policyServerCreate, Check: projectMemberOrAdmin, Description: "Create a server"},
	{Name: policyServerForcedHost, Check: adminRule, Description: "Create a server on the specified host and/or node."},
	{Name: policyServerRequestedDest, Check: adminRule,
		Description: "Create a server on the requested compute service host and/or hypervisor_hostname."},
	{Name: policyServerAttachVolume, Check: projectMemberOrAdmin,
		Description: "Create a server with the requested volume attached to it"},
	{Name: policyServerAttachNetwork, Check: projectMemberOrAdmin,
		Description: "Create a server with the requested network attached to it"},
	{Name: policyServerTrustedCerts, Check: projectMemberOrAdmin, Description: "Create a server with trusted image certificate IDs"},
	{Name: policyServerZeroDisk, Check: adminRule,
		Description: "This rule controls the compute API validation behavior of creating a server with a flavor that has 0 disk, indicating the server should be volume-backed."},
	{Name: policyServerAttachExternal, Check: adminRule, Description: "Attach an unshared external network to a server"},
	{Name: policyServerDelete, Check: projectMemberOrAdmin, Description: "Delete a server"},
	{Name: policyServerUpdate, Check: projectMemberOrAdmin, Description: "Update a server"},
	{Name: policyServerExtendedAttrs, Check: adminRule, Description: "Return extended attributes for server."},

	{Name: policyMetadataIndex, Check: projectReaderOrAdmin, Description: "List all metadata of a server"},
	{Name: policyMetadataShow, Check: projectReaderOrAdmin, Description: "Show metadata for a server"},
	{Name: policyMetadataCreate, Check: projectMemberOrAdmin, Description: "Create metadata for a server"},
	{Name: policyMetadataUpdateAll, Check: projectMemberOrAdmin, Description: "Replace metadata for a server"},
	{Name: policyMetadataUpdate, Check: projectMemberOrAdmin, Description: "Update metadata from a server"},
	{Name: policyMetadataDelete, Check: projectMemberOrAdmin, Description: "Delete metadata from a server"},

	{Name: policyTagsDeleteAll, Check: projectMemberOrAdmin, Description: "Delete all the server tags"},
	{Name: policyTagsIndex, Check: projectReaderOrAdmin, Description: "List all tags for given server"},
	{Name: policyTagsUpdateAll, Check: projectMemberOrAdmin, Description: "Replace all tags on specified server with the new set of tags."},
	{Name: policyTagsDelete, Check: projectMemberOrAdmin, Description: "Delete a single tag from the specified server"},
	{Name: policyTagsUpdate, Check: projectMemberOrAdmin, Description: "Add a single tag to the server if server has no specified tag"},
	{Name: policyTagsShow, Check: projectReaderOrAdmin, Description: "Check tag existence on the server."},
}
