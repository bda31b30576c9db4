-- What each project's (and user's) live servers hold: the quota check of
-- every server create reads it inside the create's write transaction.
-- Counting the instances rows there instead took longer the more servers
-- a project had, with every other writer waiting. Triggers keep it, so
-- no write to instances can forget to (Nova counts the rows; same
-- numbers). A server holds its usage until it is deleted (deleted =
-- TRUE), shelved-offloaded ones included, as Nova counts them.
CREATE TABLE instance_usage (
	project_id TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	instances  BIGINT NOT NULL,
	cores      BIGINT NOT NULL,
	ram        BIGINT NOT NULL,
	PRIMARY KEY (project_id, user_id)
)
-- +step
INSERT INTO instance_usage (project_id, user_id, instances, cores, ram)
	SELECT project_id, user_id, COUNT(*), SUM(vcpus), SUM(memory_mb) FROM instances
	WHERE deleted = FALSE GROUP BY project_id, user_id
-- +step
CREATE TRIGGER instances_usage_insert AFTER INSERT ON instances WHEN NOT NEW.deleted
BEGIN
	INSERT INTO instance_usage (project_id, user_id, instances, cores, ram)
		VALUES (NEW.project_id, NEW.user_id, 1, NEW.vcpus, NEW.memory_mb)
		ON CONFLICT (project_id, user_id) DO UPDATE SET instances = instances + 1,
			cores = cores + excluded.cores, ram = ram + excluded.ram;
END
-- +step
CREATE TRIGGER instances_usage_delete AFTER DELETE ON instances WHEN NOT OLD.deleted
BEGIN
	UPDATE instance_usage SET instances = instances - 1, cores = cores - OLD.vcpus, ram = ram - OLD.memory_mb
		WHERE project_id = OLD.project_id AND user_id = OLD.user_id;
END
-- +step
CREATE TRIGGER instances_usage_update AFTER UPDATE OF deleted, vcpus, memory_mb, project_id, user_id ON instances
	WHEN OLD.deleted IS NOT NEW.deleted OR OLD.vcpus IS NOT NEW.vcpus OR OLD.memory_mb IS NOT NEW.memory_mb
		OR OLD.project_id IS NOT NEW.project_id OR OLD.user_id IS NOT NEW.user_id
BEGIN
	UPDATE instance_usage SET instances = instances - 1, cores = cores - OLD.vcpus, ram = ram - OLD.memory_mb
		WHERE NOT OLD.deleted AND project_id = OLD.project_id AND user_id = OLD.user_id;
	INSERT INTO instance_usage (project_id, user_id, instances, cores, ram)
		SELECT NEW.project_id, NEW.user_id, 1, NEW.vcpus, NEW.memory_mb WHERE NOT NEW.deleted
		ON CONFLICT (project_id, user_id) DO UPDATE SET instances = instances + 1,
			cores = cores + excluded.cores, ram = ram + excluded.ram;
END
