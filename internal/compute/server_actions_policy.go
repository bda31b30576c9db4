package compute

import "github.com/nimbus-cloud/nimbus/internal/policy"

// Rules of server actions and instance actions (nova/policies/servers.py's
// action rules, pause_server.py, suspend_server.py, lock_server.py,
// rescue.py, shelve.py, console_output.py, deferred_delete.py,
// admin_actions.py, migrate_server.py, admin_password.py,
// instance_actions.py).
const (
	policyServerConfirmResize     = "os_compute_api:servers:confirm_resize"
	policyServerRevertResize      = "os_compute_api:servers:revert_resize"
	policyServerReboot            = "os_compute_api:servers:reboot"
	policyServerResize            = "os_compute_api:servers:resize"
	policyServerRebuild           = "os_compute_api:servers:rebuild"
	policyServerRebuildCerts      = "os_compute_api:servers:rebuild:trusted_certs"
	policyServerCreateImage       = "os_compute_api:servers:create_image"
	policyServerCreateImageVolume = "os_compute_api:servers:create_image:allow_volume_backed"
	policyServerStart             = "os_compute_api:servers:start"
	policyServerStop              = "os_compute_api:servers:stop"
	policyServerCrashDump         = "os_compute_api:servers:trigger_crash_dump"

	policyPause          = "os_compute_api:os-pause-server:pause"
	policyUnpause        = "os_compute_api:os-pause-server:unpause"
	policySuspend        = "os_compute_api:os-suspend-server:suspend"
	policyResume         = "os_compute_api:os-suspend-server:resume"
	policyLock           = "os_compute_api:os-lock-server:lock"
	policyUnlock         = "os_compute_api:os-lock-server:unlock"
	policyUnlockOverride = "os_compute_api:os-lock-server:unlock:unlock_override"
	policyRescue         = "os_compute_api:os-rescue"
	policyUnrescue       = "os_compute_api:os-unrescue"
	policyShelve         = "os_compute_api:os-shelve:shelve"
	policyUnshelve       = "os_compute_api:os-shelve:unshelve"
	policyUnshelveToHost = "os_compute_api:os-shelve:unshelve_to_host"
	policyShelveOffload  = "os_compute_api:os-shelve:shelve_offload"
	policyConsoleOutput  = "os_compute_api:os-console-output"
	policyRestore        = "os_compute_api:os-deferred-delete:restore"
	policyForceDelete    = "os_compute_api:os-deferred-delete:force"
	policyResetState     = "os_compute_api:os-admin-actions:reset_state"
	policyInjectNetwork  = "os_compute_api:os-admin-actions:inject_network_info"
	policyMigrate        = "os_compute_api:os-migrate-server:migrate"
	policyMigrateHost    = "os_compute_api:os-migrate-server:migrate:host"
	policyMigrateLive    = "os_compute_api:os-migrate-server:migrate_live"
	policyMigrateLiveTo  = "os_compute_api:os-migrate-server:migrate_live:host"
	policyAdminPassword  = "os_compute_api:os-admin-password"
	policyDiagnostics    = "os_compute_api:os-server-diagnostics"

	policyActionsList          = "os_compute_api:os-instance-actions:list"
	policyActionsShow          = "os_compute_api:os-instance-actions:show"
	policyActionsEvents        = "os_compute_api:os-instance-actions:events"
	policyActionsEventsDetails = "os_compute_api:os-instance-actions:events:details"
)

const projectManagerOrAdmin = "rule:project_manager_or_admin"

var serverActionPolicies = []policy.Default{
	{Name: policyServerConfirmResize, Check: projectMemberOrAdmin, Description: "Confirm a server resize"},
	{Name: policyServerRevertResize, Check: projectMemberOrAdmin, Description: "Revert a server resize"},
	{Name: policyServerReboot, Check: projectMemberOrAdmin, Description: "Reboot a server"},
	{Name: policyServerResize, Check: projectMemberOrAdmin, Description: "Resize a server"},
	{Name: policyServerRebuild, Check: projectMemberOrAdmin, Description: "Rebuild a server"},
	{Name: policyServerRebuildCerts, Check: projectMemberOrAdmin, Description: "Rebuild a server with trusted image certificate IDs"},
	{Name: policyServerCreateImage, Check: projectMemberOrAdmin, Description: "Create an image from a server"},
	{Name: policyServerCreateImageVolume, Check: projectMemberOrAdmin, Description: "Create an image from a volume backed server"},
	{Name: policyServerStart, Check: projectMemberOrAdmin, Description: "Start a server"},
	{Name: policyServerStop, Check: projectMemberOrAdmin, Description: "Stop a server"},
	{Name: policyServerCrashDump, Check: projectMemberOrAdmin, Description: "Trigger crash dump in a server"},

	{Name: policyPause, Check: projectMemberOrAdmin, Description: "Pause a server"},
	{Name: policyUnpause, Check: projectMemberOrAdmin, Description: "Unpause a paused server"},
	{Name: policySuspend, Check: projectMemberOrAdmin, Description: "Suspend server"},
	{Name: policyResume, Check: projectMemberOrAdmin, Description: "Resume suspended server"},
	{Name: policyLock, Check: projectMemberOrAdmin, Description: "Lock a server"},
	{Name: policyUnlock, Check: projectMemberOrAdmin, Description: "Unlock a server"},
	{Name: policyUnlockOverride, Check: adminRule, Description: "Unlock a server, regardless who locked the server."},
	{Name: policyRescue, Check: projectMemberOrAdmin, Description: "Rescue a server"},
	{Name: policyUnrescue, Check: projectMemberOrAdmin, Description: "Unrescue a server"},
	{Name: policyShelve, Check: projectMemberOrAdmin, Description: "Shelve server"},
	{Name: policyUnshelve, Check: projectMemberOrAdmin, Description: "Unshelve (restore) shelved server"},
	{Name: policyUnshelveToHost, Check: adminRule, Description: "Unshelve (restore) shelve offloaded server to a specific host"},
	{Name: policyShelveOffload, Check: adminRule, Description: "Shelf-offload (remove) server"},
	{Name: policyConsoleOutput, Check: projectMemberOrAdmin, Description: "Show console output for a server"},
	{Name: policyRestore, Check: projectMemberOrAdmin, Description: "Restore a soft deleted server"},
	{Name: policyForceDelete, Check: projectMemberOrAdmin, Description: "Force delete a server before deferred cleanup"},
	{Name: policyResetState, Check: adminRule, Description: "Reset the state of a given server"},
	{Name: policyInjectNetwork, Check: adminRule, Description: "Inject network information into the server"},
	{Name: policyMigrate, Check: projectManagerOrAdmin, Description: "Cold migrate a server without specifying a host"},
	{Name: policyMigrateHost, Check: adminRule, Description: "Cold migrate a server to a specified host"},
	{Name: policyMigrateLive, Check: projectManagerOrAdmin, Description: "Live migrate a server to a new host without a reschedule"},
	{Name: policyMigrateLiveTo, Check: adminRule, Description: "Live migrate a server to a specified host without a reschedule"},
	{Name: policyAdminPassword, Check: projectMemberOrAdmin, Description: "Change the administrative password for a server"},
	{Name: policyDiagnostics, Check: adminRule, Description: "Show the usage data for a server"},

	{Name: policyActionsEventsDetails, Check: adminRule, Description: "Add \"details\" key in action events for a server."},
	{Name: policyActionsEvents, Check: adminRule, Description: "Add events details in action details for a server."},
	{Name: policyActionsList, Check: projectReaderOrAdmin, Description: "List actions for a server."},
	{Name: policyActionsShow, Check: projectReaderOrAdmin, Description: "Show action details for a server."},
}
