package compute

import (
	"slices"

	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// Nova's base rules (nova/policies/base.py) and the personas built on
// them; resource rules refer to these by name so an operator's override
// of, say, project_reader_api changes them all.
const (
	ruleContextIsAdmin   = "context_is_admin"
	adminRule            = "rule:context_is_admin"
	projectReaderOrAdmin = "rule:project_reader_or_admin"
	projectMemberOrAdmin = "rule:project_member_or_admin"
	anyone               = "@"
)

var basePolicies = []policy.Default{
	{Name: ruleContextIsAdmin, Check: "role:admin",
		Description: "Decides what is required for the 'is_admin:True' check to succeed."},
	{Name: "admin_or_owner", Check: "is_admin:True or project_id:%(project_id)s",
		Description: "Default rule for most non-Admin APIs (deprecated)."},
	{Name: "admin_api", Check: "is_admin:True", Description: "Default rule for most Admin APIs (deprecated)."},
	{Name: "project_manager_api", Check: "role:manager and project_id:%(project_id)s",
		Description: "Default rule for Project level management APIs."},
	{Name: "project_member_api", Check: "role:member and project_id:%(project_id)s",
		Description: "Default rule for Project level non admin APIs."},
	{Name: "project_reader_api", Check: "role:reader and project_id:%(project_id)s",
		Description: "Default rule for Project level read only APIs."},
	{Name: "service_api", Check: "role:service", Description: "Default rule for service-to-service APIs."},
	{Name: "project_manager_or_admin", Check: "rule:project_manager_api or rule:context_is_admin",
		Description: "Default rule for Project Manager or admin APIs."},
	{Name: "project_member_or_admin", Check: "rule:project_member_api or rule:context_is_admin",
		Description: "Default rule for Project Member or admin APIs."},
	{Name: "project_reader_or_admin", Check: "rule:project_reader_api or rule:context_is_admin",
		Description: "Default rule for Project reader or admin APIs."},
	{Name: "service_or_admin", Check: "rule:service_api or rule:context_is_admin",
		Description: "Default rule for service or admin APIs."},
}

// Rule names of the resources in this package, as nova/policies/*.py
// name them.
const (
	policyFlavorCreate = "os_compute_api:os-flavor-manage:create"
	policyFlavorUpdate = "os_compute_api:os-flavor-manage:update"
	policyFlavorDelete = "os_compute_api:os-flavor-manage:delete"

	policyFlavorAccess       = "os_compute_api:os-flavor-access"
	policyFlavorAccessAdd    = "os_compute_api:os-flavor-access:add_tenant_access"
	policyFlavorAccessRemove = "os_compute_api:os-flavor-access:remove_tenant_access"

	policyExtraSpecsIndex  = "os_compute_api:os-flavor-extra-specs:index"
	policyExtraSpecsShow   = "os_compute_api:os-flavor-extra-specs:show"
	policyExtraSpecsCreate = "os_compute_api:os-flavor-extra-specs:create"
	policyExtraSpecsUpdate = "os_compute_api:os-flavor-extra-specs:update"
	policyExtraSpecsDelete = "os_compute_api:os-flavor-extra-specs:delete"

	policyKeypairIndex  = "os_compute_api:os-keypairs:index"
	policyKeypairCreate = "os_compute_api:os-keypairs:create"
	policyKeypairDelete = "os_compute_api:os-keypairs:delete"
	policyKeypairShow   = "os_compute_api:os-keypairs:show"

	policyLimits             = "os_compute_api:limits"
	policyLimitsOtherProject = "os_compute_api:limits:other_project"

	policyQuotaUpdate   = "os_compute_api:os-quota-sets:update"
	policyQuotaDefaults = "os_compute_api:os-quota-sets:defaults"
	policyQuotaShow     = "os_compute_api:os-quota-sets:show"
	policyQuotaDelete   = "os_compute_api:os-quota-sets:delete"
	policyQuotaDetail   = "os_compute_api:os-quota-sets:detail"

	policyQuotaClassShow   = "os_compute_api:os-quota-class-sets:show"
	policyQuotaClassUpdate = "os_compute_api:os-quota-class-sets:update"

	policyZoneList   = "os_compute_api:os-availability-zone:list"
	policyZoneDetail = "os_compute_api:os-availability-zone:detail"
)

var flavorPolicies = []policy.Default{
	{Name: policyFlavorCreate, Check: adminRule, Description: "Create a flavor"},
	{Name: policyFlavorUpdate, Check: adminRule, Description: "Update a flavor"},
	{Name: policyFlavorDelete, Check: adminRule, Description: "Delete a flavor"},
	{Name: policyFlavorAccess, Check: adminRule, Description: "List flavor access information"},
	{Name: policyFlavorAccessAdd, Check: adminRule, Description: "Add flavor access to a tenant"},
	{Name: policyFlavorAccessRemove, Check: adminRule, Description: "Remove flavor access from a tenant"},
	{Name: policyExtraSpecsIndex, Check: projectReaderOrAdmin,
		Description: "List extra specs for a flavor; from 2.61 they are also shown in flavors."},
	{Name: policyExtraSpecsShow, Check: projectReaderOrAdmin, Description: "Show an extra spec for a flavor"},
	{Name: policyExtraSpecsCreate, Check: adminRule, Description: "Create extra specs for a flavor"},
	{Name: policyExtraSpecsUpdate, Check: adminRule, Description: "Update an extra spec for a flavor"},
	{Name: policyExtraSpecsDelete, Check: adminRule, Description: "Delete an extra spec for a flavor"},
}

const adminOrKeypairOwner = "(" + adminRule + ") or user_id:%(user_id)s"

var keypairPolicies = []policy.Default{
	{Name: policyKeypairIndex, Check: adminOrKeypairOwner, Description: "List all keypairs"},
	{Name: policyKeypairCreate, Check: adminOrKeypairOwner, Description: "Create a keypair"},
	{Name: policyKeypairDelete, Check: adminOrKeypairOwner, Description: "Delete a keypair"},
	{Name: policyKeypairShow, Check: adminOrKeypairOwner, Description: "Show details of a keypair"},
}

var quotaPolicies = []policy.Default{
	{Name: policyLimits, Check: anyone, Description: "Show rate and absolute limits for the current user project"},
	{Name: policyLimitsOtherProject, Check: adminRule, Description: "Show rate and absolute limits of other project."},
	{Name: policyQuotaUpdate, Check: adminRule, Description: "Update the quotas"},
	{Name: policyQuotaDefaults, Check: anyone, Description: "List default quotas"},
	{Name: policyQuotaShow, Check: projectReaderOrAdmin, Description: "Show a quota"},
	{Name: policyQuotaDelete, Check: adminRule, Description: "Revert quotas to defaults"},
	{Name: policyQuotaDetail, Check: projectReaderOrAdmin, Description: "Show the detail of quota"},
	{Name: policyQuotaClassShow, Check: adminRule, Description: "List quotas for specific quota classes"},
	{Name: policyQuotaClassUpdate, Check: adminRule, Description: "Update quotas for specific quota class"},
}

var zonePolicies = []policy.Default{
	{Name: policyZoneList, Check: anyone,
		Description: "List availability zone information without host information"},
	{Name: policyZoneDetail, Check: adminRule,
		Description: "List detailed availability zone information with host information"},
}

// policyDefaults are every rule the compute API checks; a resource added
// to the package adds its slice here.
var policyDefaults = slices.Concat(basePolicies, flavorPolicies, keypairPolicies, quotaPolicies, zonePolicies, adminAPIPolicies,
	serverPolicies,       // servers_policy.go
	serverActionPolicies, // server_actions_policy.go
	consolePolicies,      // consoles.go
	morePolicies,         // below: hosts, backups, passwords, audit log, migrations, events
	addressPolicies,      // server_ips.go
	extensionPolicies,    // extensions.go
)

// PolicyDefaults returns the compute rules in code, for sample policy
// files.
func PolicyDefaults() []policy.Default { return slices.Clone(policyDefaults) }

// ---- admin APIs: os-services, os-hypervisors, os-aggregates,
// os-server-groups, os-simple-tenant-usage (nova/policies/*.py).
const (
	policyServicesList   = "os_compute_api:os-services:list"
	policyServicesUpdate = "os_compute_api:os-services:update"
	policyServicesDelete = "os_compute_api:os-services:delete"

	policyHypervisorsList       = "os_compute_api:os-hypervisors:list"
	policyHypervisorsDetail     = "os_compute_api:os-hypervisors:list-detail"
	policyHypervisorsStatistics = "os_compute_api:os-hypervisors:statistics"
	policyHypervisorsShow       = "os_compute_api:os-hypervisors:show"
	policyHypervisorsUptime     = "os_compute_api:os-hypervisors:uptime"
	policyHypervisorsSearch     = "os_compute_api:os-hypervisors:search"
	policyHypervisorsServers    = "os_compute_api:os-hypervisors:servers"

	policyAggregatesIndex       = "os_compute_api:os-aggregates:index"
	policyAggregatesCreate      = "os_compute_api:os-aggregates:create"
	policyAggregatesShow        = "os_compute_api:os-aggregates:show"
	policyAggregatesUpdate      = "os_compute_api:os-aggregates:update"
	policyAggregatesDelete      = "os_compute_api:os-aggregates:delete"
	policyAggregatesAddHost     = "os_compute_api:os-aggregates:add_host"
	policyAggregatesRemoveHost  = "os_compute_api:os-aggregates:remove_host"
	policyAggregatesSetMetadata = "os_compute_api:os-aggregates:set_metadata"
	policyAggregatesImages      = "compute:aggregates:images"

	policyServerGroupsCreate    = "os_compute_api:os-server-groups:create"
	policyServerGroupsDelete    = "os_compute_api:os-server-groups:delete"
	policyServerGroupsIndex     = "os_compute_api:os-server-groups:index"
	policyServerGroupsIndexAll  = "os_compute_api:os-server-groups:index:all_projects"
	policyServerGroupsShow      = "os_compute_api:os-server-groups:show"
	policySimpleTenantUsageShow = "os_compute_api:os-simple-tenant-usage:show"
	policySimpleTenantUsageList = "os_compute_api:os-simple-tenant-usage:list"
)

var adminAPIPolicies = []policy.Default{
	{Name: policyServicesList, Check: adminRule, Description: "List all running Compute Services in a region."},
	{Name: policyServicesUpdate, Check: adminRule, Description: "Update a Compute Service."},
	{Name: policyServicesDelete, Check: adminRule, Description: "Delete a Compute Service."},

	{Name: policyHypervisorsList, Check: adminRule, Description: "List all hypervisors."},
	{Name: policyHypervisorsDetail, Check: adminRule, Description: "List all hypervisors with details"},
	{Name: policyHypervisorsStatistics, Check: adminRule, Description: "Show summary statistics for all hypervisors over all compute nodes."},
	{Name: policyHypervisorsShow, Check: adminRule, Description: "Show details for a hypervisor."},
	{Name: policyHypervisorsUptime, Check: adminRule, Description: "Show the uptime of a hypervisor."},
	{Name: policyHypervisorsSearch, Check: adminRule, Description: "Search hypervisor by hypervisor_hostname pattern."},
	{Name: policyHypervisorsServers, Check: adminRule, Description: "List all servers on hypervisors that can match the provided hypervisor_hostname pattern."},

	{Name: policyAggregatesSetMetadata, Check: adminRule, Description: "Create or replace metadata for an aggregate"},
	{Name: policyAggregatesAddHost, Check: adminRule, Description: "Add a host to an aggregate"},
	{Name: policyAggregatesCreate, Check: adminRule, Description: "Create an aggregate"},
	{Name: policyAggregatesRemoveHost, Check: adminRule, Description: "Remove a host from an aggregate"},
	{Name: policyAggregatesUpdate, Check: adminRule, Description: "Update name and/or availability zone for an aggregate"},
	{Name: policyAggregatesIndex, Check: adminRule, Description: "List all aggregates"},
	{Name: policyAggregatesDelete, Check: adminRule, Description: "Delete an aggregate"},
	{Name: policyAggregatesShow, Check: adminRule, Description: "Show details for an aggregate"},
	{Name: policyAggregatesImages, Check: adminRule, Description: "Request image caching for an aggregate"},

	{Name: policyServerGroupsCreate, Check: projectMemberOrAdmin, Description: "Create a new server group"},
	{Name: policyServerGroupsDelete, Check: projectMemberOrAdmin, Description: "Delete a server group"},
	{Name: policyServerGroupsIndex, Check: projectReaderOrAdmin, Description: "List all server groups"},
	{Name: policyServerGroupsIndexAll, Check: adminRule, Description: "List all server groups for all projects"},
	{Name: policyServerGroupsShow, Check: projectReaderOrAdmin, Description: "Show details of a server group"},

	{Name: policySimpleTenantUsageShow, Check: projectReaderOrAdmin, Description: "Show usage statistics for a specific tenant"},
	{Name: policySimpleTenantUsageList, Check: adminRule, Description: "List per tenant usage statistics for all tenants"},
}

// ---- os-hosts, createBackup, os-server-password,
// os-instance-usage-audit-log, os-migrations, os-server-external-events
// (nova/policies/*.py). The image proxy has no rules of its own: the
// image service decides with the caller's token.
const (
	policyHostsList     = "os_compute_api:os-hosts:list"
	policyHostsShow     = "os_compute_api:os-hosts:show"
	policyHostsUpdate   = "os_compute_api:os-hosts:update"
	policyHostsReboot   = "os_compute_api:os-hosts:reboot"
	policyHostsShutdown = "os_compute_api:os-hosts:shutdown"
	policyHostsStart    = "os_compute_api:os-hosts:start"

	policyCreateBackup = "os_compute_api:os-create-backup"

	policyServerPasswordShow  = "os_compute_api:os-server-password:show"
	policyServerPasswordClear = "os_compute_api:os-server-password:clear"

	policyAuditLogList = "os_compute_api:os-instance-usage-audit-log:list"
	policyAuditLogShow = "os_compute_api:os-instance-usage-audit-log:show"

	policyMigrationsIndex       = "os_compute_api:os-migrations:index"
	policyMigrationsAllProjects = "os_compute_api:os-migrations:index:all_projects"
	policyMigrationsHost        = "os_compute_api:os-migrations:index:host"

	policyExternalEventsCreate = "os_compute_api:os-server-external-events:create"
)

var morePolicies = []policy.Default{
	{Name: policyHostsList, Check: adminRule, Description: "List physical hosts."},
	{Name: policyHostsShow, Check: adminRule, Description: "Show physical host."},
	{Name: policyHostsUpdate, Check: adminRule, Description: "Update physical host."},
	{Name: policyHostsReboot, Check: adminRule, Description: "Reboot physical host."},
	{Name: policyHostsShutdown, Check: adminRule, Description: "Shutdown physical host."},
	{Name: policyHostsStart, Check: adminRule, Description: "Start physical host."},

	{Name: policyCreateBackup, Check: projectMemberOrAdmin, Description: "Create a back up of a server"},

	{Name: policyServerPasswordShow, Check: projectReaderOrAdmin, Description: "Show the encrypted administrative password of a server"},
	{Name: policyServerPasswordClear, Check: projectMemberOrAdmin, Description: "Clear the encrypted administrative password of a server"},

	{Name: policyAuditLogList, Check: adminRule, Description: "List all usage audits."},
	{Name: policyAuditLogShow, Check: adminRule, Description: "List all usage audits occurred before a specified time for all servers on all compute hosts where usage auditing is configured"},

	{Name: policyMigrationsIndex, Check: "rule:project_manager_or_admin", Description: "List migrations"},
	{Name: policyMigrationsAllProjects, Check: adminRule, Description: "List migrations for all or cross projects"},
	{Name: policyMigrationsHost, Check: adminRule, Description: "List migrations with host information"},

	// Nova 2023.2 moved this to the service role alone; admins keep it
	// here, as before and as Tempest's admin test expects.
	{Name: policyExternalEventsCreate, Check: "rule:service_or_admin", Description: "Create one or more external events"},
}
