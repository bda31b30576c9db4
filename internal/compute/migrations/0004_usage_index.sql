-- The quota check of every server create counts the project's (and the
-- user's) servers, cores and RAM inside the create's write transaction.
-- Covering those columns lets it read this index instead of every row
-- of the project's servers (their JSON blobs made it the slowest part of
-- POST /servers once a project had thousands of servers).
CREATE INDEX instances_usage ON instances (project_id, deleted, user_id, vcpus, memory_mb)
