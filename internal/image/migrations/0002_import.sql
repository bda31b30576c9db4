-- Interoperable import: staged data and durable tasks.
ALTER TABLE images ADD COLUMN stage_location TEXT NOT NULL DEFAULT ''
-- +step
CREATE TABLE tasks (
	id         TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	status     TEXT NOT NULL,
	owner      TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	image_id   TEXT NOT NULL,
	request_id TEXT NOT NULL DEFAULT '',
	input      TEXT NOT NULL DEFAULT '{}',
	result     TEXT NOT NULL DEFAULT '{}',
	message    TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	expires_at BIGINT
)
-- +step
CREATE INDEX tasks_image ON tasks (image_id)
