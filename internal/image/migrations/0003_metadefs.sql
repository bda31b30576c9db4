-- Metadata definitions catalog (/v2/metadefs). Times are Unix microseconds.
-- Children hang off the namespace's surrogate id so that renaming a
-- namespace touches one row.
CREATE TABLE metadef_namespaces (
	id           TEXT PRIMARY KEY,
	namespace    TEXT NOT NULL UNIQUE,
	display_name TEXT NOT NULL DEFAULT '',
	description  TEXT NOT NULL DEFAULT '',
	visibility   TEXT NOT NULL,
	protected    BOOLEAN NOT NULL,
	owner        TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
)
-- +step
CREATE INDEX metadef_namespaces_owner ON metadef_namespaces (owner)
-- +step
CREATE TABLE metadef_objects (
	namespace_id TEXT NOT NULL REFERENCES metadef_namespaces(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	description  TEXT NOT NULL DEFAULT '',
	required     TEXT NOT NULL DEFAULT '[]',
	properties   TEXT NOT NULL DEFAULT '{}',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (namespace_id, name)
)
-- +step
CREATE TABLE metadef_properties (
	namespace_id TEXT NOT NULL REFERENCES metadef_namespaces(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	json_schema  TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (namespace_id, name)
)
-- +step
CREATE TABLE metadef_tags (
	namespace_id TEXT NOT NULL REFERENCES metadef_namespaces(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	PRIMARY KEY (namespace_id, name)
)
-- +step
CREATE TABLE metadef_resource_types (
	name       TEXT PRIMARY KEY,
	protected  BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
)
-- +step
CREATE TABLE metadef_namespace_resource_types (
	namespace_id      TEXT NOT NULL REFERENCES metadef_namespaces(id) ON DELETE CASCADE,
	resource_type     TEXT NOT NULL REFERENCES metadef_resource_types(name),
	prefix            TEXT NOT NULL DEFAULT '',
	properties_target TEXT NOT NULL DEFAULT '',
	created_at        BIGINT NOT NULL,
	updated_at        BIGINT NOT NULL,
	PRIMARY KEY (namespace_id, resource_type)
)
-- +step
-- Glance's seeded resource types (glance-manage db load_metadefs), in its order.
INSERT INTO metadef_resource_types (name, protected, created_at, updated_at) VALUES
	('OS::Glance::Image', TRUE, 1409249584000000, 1409249584000000),
	('OS::Cinder::Volume', TRUE, 1409249584000001, 1409249584000001),
	('OS::Nova::Flavor', TRUE, 1409249584000002, 1409249584000002),
	('OS::Nova::Aggregate', TRUE, 1409249584000003, 1409249584000003),
	('OS::Nova::Server', TRUE, 1409249584000004, 1409249584000004)
