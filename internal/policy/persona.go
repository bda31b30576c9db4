package policy

// Check strings for the common personas, mirroring Keystone's
// keystone/common/policies/base.py so that operators' existing overrides
// keep meaning what they meant. Keystone targets are flattened to
// "target.<type>.<attr>" keys; the PROJECT_* personas follow the other
// services' base.py files (Nova, Neutron, Cinder, Glance), whose targets
// carry project_id at the top.
const (
	RuleAdminRequired              = "rule:admin_required"
	RuleOwner                      = "user_id:%(user_id)s"
	RuleAdminOrOwner               = "rule:admin_or_owner"
	RuleServiceOrAdmin             = "rule:service_or_admin"
	RuleAdminOrTokenSubject        = "rule:admin_or_token_subject"
	RuleServiceAdminOrTokenSubject = "rule:service_admin_or_token_subject"
	RuleAdminOrCredentialOwner     = "rule:admin_required or (rule:owner and user_id:%(target.credential.user_id)s)"
	RuleAdminOrTargetDomain        = "rule:admin_required or token.project.domain.id:%(target.domain.id)s"
	RuleAdminOrTargetProject       = "rule:admin_required or project_id:%(target.project.id)s"
	RuleTrustOwner                 = "user_id:%(target.trust.trustor_user_id)s"

	// system_scope:all is spelled out, as Keystone does, so these stay
	// safe where scope is not enforced: a project reader is not a system
	// reader.
	SystemReader = "role:reader and system_scope:all"
	SystemAdmin  = "role:admin and system_scope:all"

	DomainReader  = "role:reader and domain_id:%(target.domain_id)s"
	DomainManager = "role:manager and domain_id:%(target.domain_id)s"
	DomainAdmin   = "role:admin and domain_id:%(target.domain_id)s"

	ProjectReader  = "role:reader and project_id:%(project_id)s"
	ProjectMember  = "role:member and project_id:%(project_id)s"
	ProjectManager = "role:manager and project_id:%(project_id)s"
	ProjectAdmin   = "role:admin and project_id:%(project_id)s"

	RuleSystemAdminOrOwner         = "(" + SystemAdmin + ") or rule:owner"
	AdminOrSystemReaderOrOwner     = "(" + RuleAdminRequired + ") or (" + SystemReader + ") or rule:owner"
	RuleAdminOrSystemReader        = "rule:admin_required or (" + SystemReader + ")"
	AdminOrSystemReaderOrCredOwner = "(" + RuleAdminRequired + ") or (" + SystemReader + ") or user_id:%(target.credential.user_id)s"
	AdminOrCredOwner               = "(" + RuleAdminRequired + ") or user_id:%(target.credential.user_id)s"
	AdminOrMemberAndCredOwner      = "(" + RuleAdminRequired + ") or (role:member and user_id:%(target.credential.user_id)s)"
	DomainManagerAllowedRoles      = "'manager':%(target.role.name)s or 'member':%(target.role.name)s or 'reader':%(target.role.name)s"
	RuleServiceAdminOrOwner        = "rule:service_admin_or_owner"
	SystemOrProjectReader          = "(" + SystemReader + ") or (" + ProjectReader + ")"
	SystemAdminOrProjectMember     = "(" + SystemAdmin + ") or (" + ProjectMember + ")"
)

// BaseDefaults returns the rules every service's persona strings refer to,
// Keystone's base.py rules, for a service to put before its own. A new slice
// each call, so no service can change another's.
//
// service_admin_or_owner is not Keystone's: it is the owner counterpart of
// Keystone's service_admin_or_token_subject, for services whose targets
// carry a user_id.
func BaseDefaults() []Default {
	return []Default{
		// is_admin:1 compares text, as in oslo: a bool is_admin reads
		// "True" and does not match it.
		{Name: "admin_required", Check: "role:admin or is_admin:1",
			Description: "Cloud administrator."},
		{Name: "service_role", Check: "role:service",
			Description: "Another OpenStack service acting with its service user."},
		{Name: "service_or_admin", Check: "rule:admin_required or rule:service_role"},
		{Name: "owner", Check: RuleOwner,
			Description: "The caller is the user the target belongs to."},
		{Name: "admin_or_owner", Check: "rule:admin_required or rule:owner"},
		{Name: "token_subject", Check: "user_id:%(target.token.user_id)s",
			Description: "The caller is the user a token in the target was issued to."},
		{Name: "admin_or_token_subject", Check: "rule:admin_required or rule:token_subject"},
		{Name: "service_admin_or_token_subject", Check: "rule:service_or_admin or rule:token_subject"},
		{Name: "service_admin_or_owner", Check: "rule:service_or_admin or rule:owner"},
		{Name: "domain_managed_target_role", Check: DomainManagerAllowedRoles,
			Description: "Roles a domain manager may assign or revoke: none above manager."},
	}
}
