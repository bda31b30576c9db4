-- Identity's schema. Times are Unix microseconds (BIGINT), NULL when unset.
-- Global roles have domain_id '' so that (name, domain_id) stays unique.
CREATE TABLE domains (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	enabled     BOOLEAN NOT NULL,
	extra       TEXT NOT NULL DEFAULT '{}'
)
-- +step
CREATE TABLE projects (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	domain_id   TEXT NOT NULL REFERENCES domains(id),
	parent_id   TEXT REFERENCES projects(id),
	description TEXT NOT NULL DEFAULT '',
	enabled     BOOLEAN NOT NULL,
	extra       TEXT NOT NULL DEFAULT '{}',
	UNIQUE (domain_id, name)
)
-- +step
CREATE TABLE project_tags (
	project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	tag        TEXT NOT NULL,
	PRIMARY KEY (project_id, tag)
)
-- +step
CREATE TABLE users (
	id                  TEXT PRIMARY KEY,
	domain_id           TEXT NOT NULL REFERENCES domains(id),
	name                TEXT NOT NULL,
	enabled             BOOLEAN NOT NULL,
	default_project_id  TEXT NOT NULL DEFAULT '',
	extra               TEXT NOT NULL DEFAULT '{}',
	options             TEXT NOT NULL DEFAULT '{}',
	password_hash       TEXT NOT NULL DEFAULT '',
	password_created_at BIGINT,
	password_expires_at BIGINT,
	failed_auth_count   INTEGER NOT NULL DEFAULT 0,
	last_failed_auth_at BIGINT,
	last_active_at      BIGINT,
	created_at          BIGINT NOT NULL,
	UNIQUE (domain_id, name)
)
-- +step
CREATE TABLE password_history (
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	hash       TEXT NOT NULL,
	created_at BIGINT NOT NULL
)
-- +step
CREATE INDEX password_history_user ON password_history (user_id, created_at)
-- +step
CREATE TABLE groups (
	id          TEXT PRIMARY KEY,
	domain_id   TEXT NOT NULL REFERENCES domains(id),
	name        TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	extra       TEXT NOT NULL DEFAULT '{}',
	UNIQUE (domain_id, name)
)
-- +step
CREATE TABLE user_groups (
	user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
	PRIMARY KEY (user_id, group_id)
)
-- +step
CREATE INDEX user_groups_group ON user_groups (group_id)
-- +step
CREATE TABLE id_mappings (
	public_id   TEXT PRIMARY KEY,
	domain_id   TEXT NOT NULL,
	local_id    TEXT NOT NULL,
	entity_type TEXT NOT NULL,
	UNIQUE (domain_id, local_id, entity_type)
)
-- +step
CREATE TABLE roles (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	domain_id   TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	options     TEXT NOT NULL DEFAULT '{}',
	extra       TEXT NOT NULL DEFAULT '{}',
	UNIQUE (name, domain_id)
)
-- +step
CREATE TABLE implied_roles (
	prior_role_id   TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	implied_role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	PRIMARY KEY (prior_role_id, implied_role_id)
)
-- +step
-- type: UserProject, GroupProject, UserDomain, GroupDomain, UserSystem, GroupSystem.
-- target_id is 'all' for system assignments.
CREATE TABLE assignments (
	type      TEXT NOT NULL,
	actor_id  TEXT NOT NULL,
	target_id TEXT NOT NULL,
	role_id   TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
	inherited BOOLEAN NOT NULL,
	PRIMARY KEY (type, actor_id, target_id, role_id, inherited)
)
-- +step
CREATE INDEX assignments_actor ON assignments (actor_id)
-- +step
CREATE INDEX assignments_target ON assignments (target_id)
-- +step
CREATE TABLE regions (
	id               TEXT PRIMARY KEY,
	description      TEXT NOT NULL DEFAULT '',
	parent_region_id TEXT REFERENCES regions(id),
	extra            TEXT NOT NULL DEFAULT '{}'
)
-- +step
CREATE TABLE services (
	id          TEXT PRIMARY KEY,
	type        TEXT NOT NULL,
	name        TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	enabled     BOOLEAN NOT NULL,
	extra       TEXT NOT NULL DEFAULT '{}'
)
-- +step
CREATE TABLE endpoints (
	id         TEXT PRIMARY KEY,
	service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	interface  TEXT NOT NULL,
	url        TEXT NOT NULL,
	region_id  TEXT REFERENCES regions(id),
	enabled    BOOLEAN NOT NULL,
	extra      TEXT NOT NULL DEFAULT '{}'
)
-- +step
CREATE TABLE credentials (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL,
	project_id TEXT NOT NULL DEFAULT '',
	type       TEXT NOT NULL,
	blob       TEXT NOT NULL,
	extra      TEXT NOT NULL DEFAULT '{}'
)
-- +step
CREATE INDEX credentials_user ON credentials (user_id)
-- +step
CREATE TABLE application_credentials (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	user_id      TEXT NOT NULL,
	project_id   TEXT NOT NULL,
	secret_hash  TEXT NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	expires_at   BIGINT,
	unrestricted BOOLEAN NOT NULL,
	UNIQUE (user_id, name)
)
-- +step
CREATE TABLE application_credential_roles (
	application_credential_id TEXT NOT NULL REFERENCES application_credentials(id) ON DELETE CASCADE,
	role_id                   TEXT NOT NULL,
	PRIMARY KEY (application_credential_id, role_id)
)
-- +step
CREATE TABLE access_rules (
	id      TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	service TEXT NOT NULL,
	path    TEXT NOT NULL,
	method  TEXT NOT NULL,
	UNIQUE (user_id, service, path, method)
)
-- +step
CREATE TABLE application_credential_access_rules (
	application_credential_id TEXT NOT NULL REFERENCES application_credentials(id) ON DELETE CASCADE,
	access_rule_id            TEXT NOT NULL REFERENCES access_rules(id),
	PRIMARY KEY (application_credential_id, access_rule_id)
)
-- +step
-- A token matching every non-empty field of an event, issued at or before
-- issued_before, is revoked.
CREATE TABLE revocation_events (
	user_id        TEXT NOT NULL DEFAULT '',
	project_id     TEXT NOT NULL DEFAULT '',
	domain_id      TEXT NOT NULL DEFAULT '',
	role_id        TEXT NOT NULL DEFAULT '',
	audit_id       TEXT NOT NULL DEFAULT '',
	audit_chain_id TEXT NOT NULL DEFAULT '',
	issued_before  BIGINT NOT NULL,
	revoked_at     BIGINT NOT NULL
)
-- +step
CREATE TABLE domain_configs (
	domain_id TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
	grp       TEXT NOT NULL,
	opt       TEXT NOT NULL,
	value     TEXT NOT NULL,
	PRIMARY KEY (domain_id, grp, opt)
)
-- +step
CREATE TABLE policies (
	id    TEXT PRIMARY KEY,
	type  TEXT NOT NULL,
	blob  TEXT NOT NULL,
	extra TEXT NOT NULL DEFAULT '{}'
)
