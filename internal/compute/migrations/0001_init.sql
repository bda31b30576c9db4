-- The compute schema's first part: flavors (with extra specs and access
-- lists), key pairs and quotas, as Nova keeps them in its API database.
-- Flavors and key pairs have an internal integer id: Nova shows a key
-- pair's, and it breaks ties when flavors are sorted and paged. Times are
-- Unix microseconds.
CREATE TABLE flavors (
	id           INTEGER PRIMARY KEY,
	flavorid     TEXT NOT NULL UNIQUE,
	name         TEXT NOT NULL UNIQUE,
	memory_mb    BIGINT NOT NULL,
	vcpus        BIGINT NOT NULL,
	root_gb      BIGINT NOT NULL,
	ephemeral_gb BIGINT NOT NULL,
	swap         BIGINT NOT NULL,
	rxtx_factor  DOUBLE PRECISION NOT NULL,
	vcpu_weight  BIGINT,
	disabled     BOOLEAN NOT NULL DEFAULT FALSE,
	is_public    BOOLEAN NOT NULL,
	description  TEXT,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT
)
-- +step
CREATE TABLE flavor_extra_specs (
	flavor_id INTEGER NOT NULL REFERENCES flavors(id) ON DELETE CASCADE,
	key       TEXT NOT NULL,
	value     TEXT NOT NULL,
	PRIMARY KEY (flavor_id, key)
)
-- +step
CREATE TABLE flavor_projects (
	flavor_id  INTEGER NOT NULL REFERENCES flavors(id) ON DELETE CASCADE,
	project_id TEXT NOT NULL,
	PRIMARY KEY (flavor_id, project_id)
)
-- +step
CREATE INDEX flavor_projects_project ON flavor_projects (project_id)
-- +step
CREATE TABLE key_pairs (
	id          INTEGER PRIMARY KEY,
	user_id     TEXT NOT NULL,
	name        TEXT NOT NULL,
	type        TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	public_key  TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	UNIQUE (user_id, name)
)
-- +step
CREATE TABLE quotas (
	project_id TEXT NOT NULL,
	resource   TEXT NOT NULL,
	hard_limit BIGINT NOT NULL,
	PRIMARY KEY (project_id, resource)
)
-- +step
CREATE TABLE project_user_quotas (
	project_id TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	resource   TEXT NOT NULL,
	hard_limit BIGINT NOT NULL,
	PRIMARY KEY (project_id, user_id, resource)
)
-- +step
CREATE TABLE quota_classes (
	class_name TEXT NOT NULL,
	resource   TEXT NOT NULL,
	hard_limit BIGINT NOT NULL,
	PRIMARY KEY (class_name, resource)
)
