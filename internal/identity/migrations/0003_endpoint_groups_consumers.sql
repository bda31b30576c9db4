-- OS-EP-FILTER: endpoints and endpoint groups (filters on interface,
-- service_id and region_id, kept as JSON) associated with projects.
-- Associations go with the project, endpoint or group they name.
CREATE TABLE endpoint_groups (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	description TEXT,
	filters     TEXT NOT NULL
)
-- +step
CREATE TABLE project_endpoints (
	endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
	project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	PRIMARY KEY (endpoint_id, project_id)
)
-- +step
CREATE INDEX project_endpoints_project ON project_endpoints (project_id)
-- +step
CREATE TABLE project_endpoint_groups (
	endpoint_group_id TEXT NOT NULL REFERENCES endpoint_groups(id) ON DELETE CASCADE,
	project_id        TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	PRIMARY KEY (endpoint_group_id, project_id)
)
-- +step
CREATE INDEX project_endpoint_groups_project ON project_endpoint_groups (project_id)
-- +step
-- OS-OAUTH1 consumers. The secret is shown once at creation; only its
-- bcrypt hash is kept.
CREATE TABLE consumers (
	id          TEXT PRIMARY KEY,
	description TEXT,
	secret_hash TEXT NOT NULL,
	extra       TEXT NOT NULL DEFAULT '{}'
)
