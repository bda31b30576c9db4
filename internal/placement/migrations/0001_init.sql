-- Placement's schema. Providers, classes and traits are keyed by their
-- public names (uuid, name), so rows need no id lookups. Times are Unix
-- microseconds.
CREATE TABLE resource_providers (
	uuid        TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	generation  BIGINT NOT NULL DEFAULT 0,
	parent_uuid TEXT REFERENCES resource_providers(uuid),
	root_uuid   TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	updated_at  BIGINT NOT NULL
)
-- +step
CREATE INDEX resource_providers_root ON resource_providers (root_uuid)
-- +step
CREATE INDEX resource_providers_parent ON resource_providers (parent_uuid)
-- +step
CREATE TABLE resource_classes (
	name       TEXT PRIMARY KEY,
	standard   BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
)
-- +step
CREATE TABLE inventories (
	provider_uuid    TEXT NOT NULL REFERENCES resource_providers(uuid) ON DELETE CASCADE,
	resource_class   TEXT NOT NULL REFERENCES resource_classes(name) ON UPDATE CASCADE,
	total            BIGINT NOT NULL,
	reserved         BIGINT NOT NULL,
	min_unit         BIGINT NOT NULL,
	max_unit         BIGINT NOT NULL,
	step_size        BIGINT NOT NULL,
	allocation_ratio DOUBLE PRECISION NOT NULL,
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL,
	PRIMARY KEY (provider_uuid, resource_class)
)
-- +step
CREATE INDEX inventories_class ON inventories (resource_class)
-- +step
CREATE TABLE traits (
	name       TEXT PRIMARY KEY,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
)
-- +step
CREATE TABLE provider_traits (
	provider_uuid TEXT NOT NULL REFERENCES resource_providers(uuid) ON DELETE CASCADE,
	trait         TEXT NOT NULL REFERENCES traits(name),
	PRIMARY KEY (provider_uuid, trait)
)
-- +step
CREATE INDEX provider_traits_trait ON provider_traits (trait)
-- +step
CREATE TABLE provider_aggregates (
	provider_uuid  TEXT NOT NULL REFERENCES resource_providers(uuid) ON DELETE CASCADE,
	aggregate_uuid TEXT NOT NULL,
	PRIMARY KEY (provider_uuid, aggregate_uuid)
)
-- +step
CREATE INDEX provider_aggregates_aggregate ON provider_aggregates (aggregate_uuid)
-- +step
CREATE TABLE consumers (
	uuid          TEXT PRIMARY KEY,
	project_id    TEXT NOT NULL,
	user_id       TEXT NOT NULL,
	consumer_type TEXT,
	generation    BIGINT NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
)
-- +step
CREATE INDEX consumers_project ON consumers (project_id, user_id)
-- +step
CREATE TABLE allocations (
	consumer_uuid  TEXT NOT NULL REFERENCES consumers(uuid),
	provider_uuid  TEXT NOT NULL REFERENCES resource_providers(uuid),
	resource_class TEXT NOT NULL REFERENCES resource_classes(name) ON UPDATE CASCADE,
	used           BIGINT NOT NULL,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	PRIMARY KEY (consumer_uuid, provider_uuid, resource_class)
)
-- +step
CREATE INDEX allocations_provider ON allocations (provider_uuid, resource_class)
