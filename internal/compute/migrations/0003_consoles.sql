-- Remote console tokens (Nova's console_auth_tokens) and the passwords
-- guests post to the metadata service (Nova keeps those in
-- system_metadata as password_0..3). Portable SQL: no engine-specific
-- file. Times are Unix microseconds.
--
-- A token is only ever stored hashed (SHA-256, hex): whoever reads the
-- database cannot open a console with what they read.
CREATE TABLE console_auth_tokens (
	token_hash           TEXT PRIMARY KEY,
	console_type         TEXT NOT NULL,
	host                 TEXT NOT NULL,
	port                 BIGINT NOT NULL,
	internal_access_path TEXT,
	instance_uuid        TEXT NOT NULL,
	access_url_base      TEXT NOT NULL,
	expires              BIGINT NOT NULL,
	created_at           BIGINT NOT NULL
)
-- +step
CREATE INDEX console_auth_tokens_instance ON console_auth_tokens (instance_uuid)
-- +step
CREATE INDEX console_auth_tokens_expires ON console_auth_tokens (expires)
-- +step
CREATE TABLE instance_passwords (
	instance_uuid TEXT PRIMARY KEY,
	password      TEXT NOT NULL,
	created_at    BIGINT NOT NULL
)
