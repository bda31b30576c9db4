-- OS-TRUST: a trustor delegates roles on a project to a trustee.
-- remaining_uses NULL means unlimited; redelegated_trust_id '' means the
-- trust was made by its trustor directly, not from another trust.
CREATE TABLE trusts (
	id                   TEXT PRIMARY KEY,
	trustor_user_id      TEXT NOT NULL,
	trustee_user_id      TEXT NOT NULL,
	project_id           TEXT NOT NULL,
	impersonation        BOOLEAN NOT NULL,
	expires_at           BIGINT,
	remaining_uses       INTEGER,
	redelegated_trust_id TEXT NOT NULL DEFAULT '',
	redelegation_count   INTEGER NOT NULL DEFAULT 0
)
-- +step
CREATE INDEX trusts_trustor ON trusts (trustor_user_id)
-- +step
CREATE INDEX trusts_trustee ON trusts (trustee_user_id)
-- +step
CREATE TABLE trust_roles (
	trust_id TEXT NOT NULL REFERENCES trusts(id) ON DELETE CASCADE,
	role_id  TEXT NOT NULL,
	PRIMARY KEY (trust_id, role_id)
)
