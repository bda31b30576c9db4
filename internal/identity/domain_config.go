package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"

	"github.com/nimbus-cloud/nimbus/internal/authn"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// Domain-specific configuration, stored in the database
// (/v3/domains/{id}/config). Only options that affect a domain's identity
// driver may be set; "sensitive" ones are stored but never shown.

// DomainConfig is group -> option -> value.
type DomainConfig map[string]map[string]any

// domainConfigOptions are Keystone's whitelisted options.
var domainConfigOptions = map[string][]string{
	"identity": {"driver", "list_limit"},
	"ldap": {"url", "user", "suffix", "query_scope", "page_size", "alias_dereferencing", "debug_level",
		"chase_referrals", "user_tree_dn", "user_filter", "user_objectclass", "user_id_attribute",
		"user_name_attribute", "user_mail_attribute", "user_description_attribute", "user_pass_attribute",
		"user_enabled_attribute", "user_enabled_invert", "user_enabled_mask", "user_enabled_default",
		"user_attribute_ignore", "user_default_project_id_attribute", "user_enabled_emulation",
		"user_enabled_emulation_dn", "user_enabled_emulation_use_group_config",
		"user_additional_attribute_mapping", "group_tree_dn", "group_filter", "group_objectclass",
		"group_id_attribute", "group_name_attribute", "group_members_are_ids", "group_member_attribute",
		"group_desc_attribute", "group_attribute_ignore", "group_additional_attribute_mapping",
		"tls_cacertfile", "tls_cacertdir", "use_tls", "tls_req_cert", "use_pool", "pool_size",
		"pool_retry_max", "pool_retry_delay", "pool_connection_timeout", "pool_connection_lifetime",
		"use_auth_pool", "auth_pool_size", "auth_pool_connection_lifetime"},
}

// domainConfigSensitive are stored but never returned.
var domainConfigSensitive = map[string][]string{"identity": {}, "ldap": {"password"}}

// domainConfigDefaults are Keystone's defaults of the whitelisted options,
// shown by /v3/domains/config/default.
var domainConfigDefaults = DomainConfig{
	"identity": {"driver": "sql", "list_limit": nil},
	"ldap": {"url": "ldap://localhost", "user": nil, "suffix": "cn=example,cn=com", "query_scope": "one",
		"page_size": 0, "alias_dereferencing": "default", "debug_level": nil, "chase_referrals": nil,
		"user_tree_dn": nil, "user_filter": nil, "user_objectclass": "inetOrgPerson", "user_id_attribute": "cn",
		"user_name_attribute": "sn", "user_mail_attribute": "mail", "user_description_attribute": "description",
		"user_pass_attribute": "userPassword", "user_enabled_attribute": "enabled", "user_enabled_invert": false,
		"user_enabled_mask": 0, "user_enabled_default": "True", "user_attribute_ignore": []any{"default_project_id"},
		"user_default_project_id_attribute": nil, "user_enabled_emulation": false, "user_enabled_emulation_dn": nil,
		"user_enabled_emulation_use_group_config": false, "user_additional_attribute_mapping": []any{},
		"group_tree_dn": nil, "group_filter": nil, "group_objectclass": "groupOfNames", "group_id_attribute": "cn",
		"group_name_attribute": "ou", "group_members_are_ids": false, "group_member_attribute": "member",
		"group_desc_attribute": "description", "group_attribute_ignore": []any{},
		"group_additional_attribute_mapping": []any{}, "tls_cacertfile": nil, "tls_cacertdir": nil,
		"use_tls": false, "tls_req_cert": "demand", "use_pool": true, "pool_size": 10, "pool_retry_max": 3,
		"pool_retry_delay": 0.1, "pool_connection_timeout": -1, "pool_connection_lifetime": 600,
		"use_auth_pool": true, "auth_pool_size": 100, "auth_pool_connection_lifetime": 60},
}

func invalidDomainConfig(format string, args ...any) error {
	return fault.Forbiddenf("Invalid domain specific configuration: "+format+".", args...)
}

func checkGroupOption(group, option string) error {
	if _, ok := domainConfigOptions[group]; !ok {
		return invalidDomainConfig("Group %s is not supported for domain specific configurations", group)
	}
	if option != "" && !slices.Contains(domainConfigOptions[group], option) && !slices.Contains(domainConfigSensitive[group], option) {
		return invalidDomainConfig("Option %s in group %s is not supported for domain specific configurations", option, group)
	}
	return nil
}

func checkDomainConfig(cfg DomainConfig) error {
	if len(cfg) == 0 {
		return invalidDomainConfig("No options specified")
	}
	for g, opts := range cfg {
		if err := checkGroupOption(g, ""); err != nil {
			return err
		}
		for o := range opts {
			if err := checkGroupOption(g, o); err != nil {
				return err
			}
		}
	}
	return nil
}

func domainConfigNotFound(domainID, group, option string) error {
	what := "any options"
	switch {
	case option != "":
		what = "option " + option + " in group " + group
	case group != "":
		what = "group " + group
	}
	return fault.NotFoundf("Could not find %s in domain configuration for domain %s.", what, domainID)
}

func loadDomainConfig(ctx context.Context, q queryer, domainID string) (DomainConfig, error) {
	rows, err := q.QueryContext(ctx, `SELECT grp, opt, value FROM domain_configs WHERE domain_id = $1`, domainID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cfg := DomainConfig{}
	for rows.Next() {
		var g, o, v string
		if err := rows.Scan(&g, &o, &v); err != nil {
			return nil, err
		}
		var val any
		if err := json.Unmarshal([]byte(v), &val); err != nil {
			val = v
		}
		if cfg[g] == nil {
			cfg[g] = map[string]any{}
		}
		cfg[g][o] = val
	}
	return cfg, rows.Err()
}

func storeDomainConfig(ctx context.Context, tx *sql.Tx, domainID string, cfg DomainConfig) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM domain_configs WHERE domain_id = $1`, domainID); err != nil {
		return err
	}
	for g, opts := range cfg {
		for o, v := range opts {
			b, err := json.Marshal(v)
			if err != nil {
				return fault.BadRequestf("Invalid value for option %s in group %s.", o, g)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO domain_configs (domain_id, grp, opt, value) VALUES ($1, $2, $3, $4)`,
				domainID, g, o, string(b)); err != nil {
				return err
			}
		}
	}
	return nil
}

// visible drops sensitive options and empty groups.
func (cfg DomainConfig) visible() DomainConfig {
	out := DomainConfig{}
	for g, opts := range cfg {
		for o, v := range opts {
			if slices.Contains(domainConfigSensitive[g], o) {
				continue
			}
			if out[g] == nil {
				out[g] = map[string]any{}
			}
			out[g][o] = v
		}
	}
	return out
}

// pick narrows a config to a group or an option, as GET shows them:
// {group: {...}} or {option: value}.
func pick(cfg DomainConfig, domainID, group, option string) (map[string]any, error) {
	if group == "" {
		if len(cfg) == 0 {
			return nil, domainConfigNotFound(domainID, "", "")
		}
		out := map[string]any{}
		for g, opts := range cfg {
			out[g] = opts
		}
		return out, nil
	}
	opts, ok := cfg[group]
	if !ok {
		return nil, domainConfigNotFound(domainID, group, "")
	}
	if option == "" {
		return map[string]any{group: opts}, nil
	}
	v, ok := opts[option]
	if !ok {
		return nil, domainConfigNotFound(domainID, group, option)
	}
	return map[string]any{option: v}, nil
}

// GetDomainConfig shows a domain's configuration, one group or one option.
func (s *Service) GetDomainConfig(ctx context.Context, p *authn.Principal, domainID, group, option string) (map[string]any, error) {
	if group == "security_compliance" {
		return s.securityComplianceConfig(p, domainID, option)
	}
	if err := s.authorize(p, "identity:get_domain_config", map[string]any{"domain_id": domainID}); err != nil {
		return nil, err
	}
	if _, err := getDomain(ctx, s.db, domainID); err != nil {
		return nil, err
	}
	if group != "" {
		if err := checkGroupOption(group, option); err != nil {
			return nil, err
		}
	}
	cfg, err := loadDomainConfig(ctx, s.db, domainID)
	if err != nil {
		return nil, err
	}
	return pick(cfg.visible(), domainID, group, option)
}

// securityComplianceConfig shows the password rules any user may read.
func (s *Service) securityComplianceConfig(p *authn.Principal, domainID, option string) (map[string]any, error) {
	if err := s.authorize(p, "identity:get_security_compliance_domain_config", map[string]any{"domain_id": domainID}); err != nil {
		return nil, err
	}
	opts := map[string]any{"password_regex": configString(s.cfg.PasswordRegex),
		"password_regex_description": configString(s.cfg.PasswordRegexDesc)}
	if option == "" {
		return map[string]any{"security_compliance": opts}, nil
	}
	v, ok := opts[option]
	if !ok {
		return nil, invalidDomainConfig("Reading the default for option %s in group security_compliance is not supported", option)
	}
	return map[string]any{option: v}, nil
}

func configString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateDomainConfig replaces a domain's whole configuration; created
// says there was none before.
func (s *Service) CreateDomainConfig(ctx context.Context, p *authn.Principal, domainID string, cfg DomainConfig) (DomainConfig, bool, error) {
	if err := s.authorize(p, "identity:create_domain_config", map[string]any{"domain_id": domainID}); err != nil {
		return nil, false, err
	}
	if err := checkDomainConfig(cfg); err != nil {
		return nil, false, err
	}
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, domainID); err != nil {
			return err
		}
		old, err := loadDomainConfig(ctx, tx, domainID)
		if err != nil {
			return err
		}
		created = len(old) == 0
		return storeDomainConfig(ctx, tx, domainID, cfg)
	})
	if err != nil {
		return nil, false, err
	}
	return cfg.visible(), created, nil
}

// UpdateDomainConfig merges cfg into a domain's configuration. With a
// group, cfg must hold only that group; with an option, cfg is
// {option: value} and the option must already be set.
func (s *Service) UpdateDomainConfig(ctx context.Context, p *authn.Principal, domainID, group, option string, cfg map[string]any) (DomainConfig, error) {
	if err := s.authorize(p, "identity:update_domain_config", map[string]any{"domain_id": domainID}); err != nil {
		return nil, err
	}
	patch := DomainConfig{}
	if option != "" {
		if _, ok := cfg[option]; !ok || len(cfg) != 1 {
			return nil, invalidDomainConfig("Trying to update option %s in group %s, so that, and only that, option must be specified  in the config", option, group)
		}
		patch[group] = map[string]any{option: cfg[option]}
	} else {
		for g, v := range cfg {
			opts, ok := v.(map[string]any)
			if !ok {
				return nil, fault.BadRequestf("Invalid input for field 'config': group %s must be an object.", g)
			}
			patch[g] = opts
		}
		if group != "" {
			if _, ok := patch[group]; !ok || len(patch) != 1 {
				return nil, invalidDomainConfig("Trying to update group %s, so that, and only that, group must be specified in the config", group)
			}
		}
	}
	if err := checkDomainConfig(patch); err != nil {
		return nil, err
	}
	var out DomainConfig
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, domainID); err != nil {
			return err
		}
		cur, err := loadDomainConfig(ctx, tx, domainID)
		if err != nil {
			return err
		}
		if group != "" {
			if _, ok := cur[group]; !ok {
				return domainConfigNotFound(domainID, group, "")
			}
			if _, ok := cur[group][option]; option != "" && !ok {
				return domainConfigNotFound(domainID, group, option)
			}
		}
		for g, opts := range patch {
			if cur[g] == nil {
				cur[g] = map[string]any{}
			}
			for o, v := range opts {
				cur[g][o] = v
			}
		}
		out = cur
		return storeDomainConfig(ctx, tx, domainID, cur)
	})
	if err != nil {
		return nil, err
	}
	return out.visible(), nil
}

// DeleteDomainConfig removes a domain's configuration, a group or an option.
func (s *Service) DeleteDomainConfig(ctx context.Context, p *authn.Principal, domainID, group, option string) error {
	if err := s.authorize(p, "identity:delete_domain_config", map[string]any{"domain_id": domainID}); err != nil {
		return err
	}
	if group != "" {
		if err := checkGroupOption(group, option); err != nil {
			return err
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getDomain(ctx, tx, domainID); err != nil {
			return err
		}
		cur, err := loadDomainConfig(ctx, tx, domainID)
		if err != nil {
			return err
		}
		switch {
		case group == "":
			if len(cur) == 0 {
				return domainConfigNotFound(domainID, "", "")
			}
			cur = nil
		case option == "":
			if _, ok := cur[group]; !ok {
				return domainConfigNotFound(domainID, group, "")
			}
			delete(cur, group)
		default:
			if _, ok := cur[group][option]; !ok {
				return domainConfigNotFound(domainID, group, option)
			}
			delete(cur[group], option)
		}
		return storeDomainConfig(ctx, tx, domainID, cur)
	})
}

// DefaultDomainConfig shows the defaults of the options a domain may set.
func (s *Service) DefaultDomainConfig(ctx context.Context, p *authn.Principal, group, option string) (map[string]any, error) {
	if err := s.authorize(p, "identity:get_domain_config_default", nil); err != nil {
		return nil, err
	}
	if group != "" {
		if err := checkGroupOption(group, option); err != nil {
			return nil, err
		}
		if slices.Contains(domainConfigSensitive[group], option) {
			return nil, invalidDomainConfig("Reading the default for option %s in group %s is not supported", option, group)
		}
	}
	return pick(domainConfigDefaults, "default", group, option)
}
