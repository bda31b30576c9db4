-- The compute schema's second part: servers and the hosts they run on,
-- as Nova keeps them in its cell database. An instance keeps copies of
-- its flavors, its request spec and its trusted certificates as JSON
-- text; flavorid, vcpus and memory_mb are copied out of the flavor for
-- filters and quota counts. Metadata and tags have tables of their own.
-- Deleted instances stay as rows with deleted = TRUE (Nova's soft
-- "deleted" rows, listed with deleted=true or changes-since).
-- changed_at is updated_at, or created_at while never updated: what
-- changes-since/-before compare, so that a new server is a change. Times
-- are Unix microseconds, 0 for never. task_state '' is None.
CREATE TABLE instances (
	id                INTEGER PRIMARY KEY,
	uuid              TEXT NOT NULL UNIQUE,
	display_name      TEXT NOT NULL,
	description       TEXT,
	project_id        TEXT NOT NULL,
	user_id           TEXT NOT NULL,
	hostname          TEXT NOT NULL DEFAULT '',
	host              TEXT NOT NULL DEFAULT '',
	node              TEXT NOT NULL DEFAULT '',
	launched_on       TEXT NOT NULL DEFAULT '',
	availability_zone TEXT NOT NULL DEFAULT '',
	vm_state          TEXT NOT NULL,
	task_state        TEXT NOT NULL DEFAULT '',
	power_state       BIGINT NOT NULL DEFAULT 0,
	flavorid          TEXT NOT NULL,
	vcpus             BIGINT NOT NULL,
	memory_mb         BIGINT NOT NULL,
	flavor            TEXT NOT NULL,
	old_flavor        TEXT,
	new_flavor        TEXT,
	image_ref         TEXT NOT NULL DEFAULT '',
	key_name          TEXT NOT NULL DEFAULT '',
	key_data          TEXT NOT NULL DEFAULT '',
	key_type          TEXT NOT NULL DEFAULT '',
	user_data         BLOB,
	config_drive      BOOLEAN NOT NULL DEFAULT FALSE,
	locked            BOOLEAN NOT NULL DEFAULT FALSE,
	locked_by         TEXT NOT NULL DEFAULT '',
	locked_reason     TEXT,
	access_ip_v4      TEXT NOT NULL DEFAULT '',
	access_ip_v6      TEXT NOT NULL DEFAULT '',
	auto_disk_config  BOOLEAN NOT NULL DEFAULT FALSE,
	progress          BIGINT NOT NULL DEFAULT 0,
	reservation_id    TEXT NOT NULL DEFAULT '',
	launch_index      BIGINT NOT NULL DEFAULT 0,
	root_device_name  TEXT NOT NULL DEFAULT '',
	spec              TEXT NOT NULL,
	shelved_image_id  TEXT NOT NULL DEFAULT '',
	rescue_image_ref  TEXT NOT NULL DEFAULT '',
	previous_vm_state TEXT NOT NULL DEFAULT '',
	trusted_certs     TEXT,
	created_at        BIGINT NOT NULL,
	updated_at        BIGINT NOT NULL DEFAULT 0,
	changed_at        BIGINT NOT NULL,
	launched_at       BIGINT NOT NULL DEFAULT 0,
	terminated_at     BIGINT NOT NULL DEFAULT 0,
	deleted_at        BIGINT NOT NULL DEFAULT 0,
	deleted           BOOLEAN NOT NULL DEFAULT FALSE
)
-- +step
CREATE INDEX instances_project ON instances (project_id, deleted, created_at, id)
-- +step
CREATE INDEX instances_all ON instances (deleted, created_at, id)
-- +step
CREATE INDEX instances_host ON instances (host, deleted)
-- +step
CREATE INDEX instances_updated ON instances (updated_at)
-- +step
CREATE INDEX instances_changed ON instances (changed_at)
-- +step
CREATE TABLE instance_metadata (
	instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	value       TEXT NOT NULL,
	PRIMARY KEY (instance_id, key)
)
-- +step
CREATE TABLE instance_tags (
	instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
	tag         TEXT NOT NULL,
	PRIMARY KEY (instance_id, tag)
)
-- +step
CREATE INDEX instance_tags_tag ON instance_tags (tag)
-- +step
CREATE TABLE instance_faults (
	id            INTEGER PRIMARY KEY,
	instance_uuid TEXT NOT NULL,
	code          BIGINT NOT NULL,
	message       TEXT NOT NULL,
	details       TEXT NOT NULL,
	created_at    BIGINT NOT NULL
)
-- +step
CREATE INDEX instance_faults_instance ON instance_faults (instance_uuid, created_at, id)
-- +step
CREATE TABLE instance_actions (
	id            INTEGER PRIMARY KEY,
	action        TEXT NOT NULL,
	instance_uuid TEXT NOT NULL,
	request_id    TEXT NOT NULL,
	user_id       TEXT NOT NULL,
	project_id    TEXT NOT NULL,
	start_time    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL DEFAULT 0,
	message       TEXT NOT NULL DEFAULT ''
)
-- +step
CREATE INDEX instance_actions_instance ON instance_actions (instance_uuid, request_id)
-- +step
CREATE TABLE instance_action_events (
	id          INTEGER PRIMARY KEY,
	action_id   INTEGER NOT NULL REFERENCES instance_actions(id) ON DELETE CASCADE,
	event       TEXT NOT NULL,
	host        TEXT NOT NULL DEFAULT '',
	start_time  BIGINT NOT NULL,
	finish_time BIGINT NOT NULL DEFAULT 0,
	result      TEXT NOT NULL DEFAULT '',
	traceback   TEXT NOT NULL DEFAULT '',
	details     TEXT NOT NULL DEFAULT ''
)
-- +step
CREATE INDEX instance_action_events_action ON instance_action_events (action_id, event)
-- +step
CREATE TABLE services (
	id              INTEGER PRIMARY KEY,
	uuid            TEXT NOT NULL UNIQUE,
	host            TEXT NOT NULL,
	service_binary  TEXT NOT NULL,
	topic           TEXT NOT NULL,
	disabled        BOOLEAN NOT NULL DEFAULT FALSE,
	disabled_reason TEXT,
	forced_down     BOOLEAN NOT NULL DEFAULT FALSE,
	last_seen_up    BIGINT NOT NULL DEFAULT 0,
	report_interval BIGINT NOT NULL DEFAULT 0,
	version         BIGINT NOT NULL DEFAULT 0,
	created_at      BIGINT NOT NULL,
	updated_at      BIGINT NOT NULL DEFAULT 0,
	UNIQUE (host, service_binary)
)
-- +step
CREATE TABLE compute_nodes (
	id                  INTEGER PRIMARY KEY,
	uuid                TEXT NOT NULL UNIQUE,
	host                TEXT NOT NULL,
	hypervisor_hostname TEXT NOT NULL,
	hypervisor_type     TEXT NOT NULL DEFAULT '',
	hypervisor_version  BIGINT NOT NULL DEFAULT 0,
	vcpus               BIGINT NOT NULL DEFAULT 0,
	memory_mb           BIGINT NOT NULL DEFAULT 0,
	local_gb            BIGINT NOT NULL DEFAULT 0,
	cpu_info            TEXT NOT NULL DEFAULT '',
	host_ip             TEXT NOT NULL DEFAULT '',
	created_at          BIGINT NOT NULL,
	updated_at          BIGINT NOT NULL DEFAULT 0,
	UNIQUE (host, hypervisor_hostname)
)
-- +step
CREATE TABLE server_groups (
	id         INTEGER PRIMARY KEY,
	uuid       TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL,
	project_id TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	policy     TEXT NOT NULL,
	rules      TEXT NOT NULL,
	created_at BIGINT NOT NULL
)
-- +step
CREATE INDEX server_groups_project ON server_groups (project_id, user_id)
-- +step
CREATE TABLE server_group_members (
	group_id      INTEGER NOT NULL REFERENCES server_groups(id) ON DELETE CASCADE,
	instance_uuid TEXT NOT NULL UNIQUE,
	PRIMARY KEY (group_id, instance_uuid)
)
-- +step
CREATE TABLE aggregates (
	id         INTEGER PRIMARY KEY,
	uuid       TEXT NOT NULL UNIQUE,
	name       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL DEFAULT 0
)
-- +step
CREATE TABLE aggregate_metadata (
	aggregate_id INTEGER NOT NULL REFERENCES aggregates(id) ON DELETE CASCADE,
	key          TEXT NOT NULL,
	value        TEXT NOT NULL,
	PRIMARY KEY (aggregate_id, key)
)
-- +step
CREATE TABLE aggregate_hosts (
	aggregate_id INTEGER NOT NULL REFERENCES aggregates(id) ON DELETE CASCADE,
	host         TEXT NOT NULL,
	PRIMARY KEY (aggregate_id, host)
)
-- +step
CREATE INDEX aggregate_hosts_host ON aggregate_hosts (host)
