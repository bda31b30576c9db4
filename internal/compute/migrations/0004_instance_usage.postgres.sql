-- 0004_instance_usage.sql for PostgreSQL: the same table, kept by one
-- trigger function.
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
CREATE FUNCTION instance_usage_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		IF NOT OLD.deleted THEN
			UPDATE instance_usage SET instances = instances - 1, cores = cores - OLD.vcpus, ram = ram - OLD.memory_mb
				WHERE project_id = OLD.project_id AND user_id = OLD.user_id;
		END IF;
	END IF;
	IF TG_OP <> 'DELETE' THEN
		IF NOT NEW.deleted THEN
			INSERT INTO instance_usage AS u (project_id, user_id, instances, cores, ram)
				VALUES (NEW.project_id, NEW.user_id, 1, NEW.vcpus, NEW.memory_mb)
				ON CONFLICT (project_id, user_id) DO UPDATE SET instances = u.instances + 1,
					cores = u.cores + EXCLUDED.cores, ram = u.ram + EXCLUDED.ram;
		END IF;
	END IF;
	RETURN NULL;
END
$$
-- +step
CREATE TRIGGER instances_usage_insert_delete AFTER INSERT OR DELETE ON instances
	FOR EACH ROW EXECUTE FUNCTION instance_usage_track()
-- +step
CREATE TRIGGER instances_usage_update AFTER UPDATE OF deleted, vcpus, memory_mb, project_id, user_id ON instances
	FOR EACH ROW WHEN (OLD.deleted IS DISTINCT FROM NEW.deleted OR OLD.vcpus IS DISTINCT FROM NEW.vcpus
		OR OLD.memory_mb IS DISTINCT FROM NEW.memory_mb OR OLD.project_id IS DISTINCT FROM NEW.project_id
		OR OLD.user_id IS DISTINCT FROM NEW.user_id)
	EXECUTE FUNCTION instance_usage_track()
