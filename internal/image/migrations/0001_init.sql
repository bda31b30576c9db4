-- Image's schema. Times are Unix microseconds.
CREATE TABLE images (
	id               TEXT PRIMARY KEY,
	name             TEXT,
	status           TEXT NOT NULL,
	visibility       TEXT NOT NULL,
	protected        BOOLEAN NOT NULL,
	os_hidden        BOOLEAN NOT NULL,
	owner            TEXT NOT NULL,
	disk_format      TEXT,
	container_format TEXT,
	size             BIGINT,
	virtual_size     BIGINT,
	checksum         TEXT,
	os_hash_algo     TEXT,
	os_hash_value    TEXT,
	min_disk         INTEGER NOT NULL,
	min_ram          INTEGER NOT NULL,
	store            TEXT NOT NULL DEFAULT '',
	location         TEXT NOT NULL DEFAULT '',
	properties       TEXT NOT NULL DEFAULT '{}',
	created_at       BIGINT NOT NULL,
	updated_at       BIGINT NOT NULL
)
-- +step
CREATE INDEX images_owner ON images (owner)
-- +step
CREATE TABLE image_tags (
	image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	tag      TEXT NOT NULL,
	PRIMARY KEY (image_id, tag)
)
-- +step
CREATE TABLE image_members (
	image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
	member_id  TEXT NOT NULL,
	status     TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (image_id, member_id)
)
-- +step
CREATE INDEX image_members_member ON image_members (member_id)
