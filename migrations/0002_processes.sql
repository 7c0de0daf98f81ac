-- ofelia schema, version 2: what a restart needs to find the processes of
-- the executions a killed ofelia left running.
--
-- Never edit a migration that has been released: add NNNN+1_name.sql.
--
-- A process is named by its pid and by its identity, "<boot id>:<start
-- time>", the boot id of the machine and the process's start time in clock
-- ticks since boot (/proc/PID/stat, field 22): a pid the kernel has given
-- to another process since does not have the same identity.

-- Local jobs: the job's first process, whose pid is also its process group.
ALTER TABLE executions ADD COLUMN process_id INTEGER;
ALTER TABLE executions ADD COLUMN process_start TEXT;
-- The ofelia process (daemon or `ofelia run`) that runs the execution.
ALTER TABLE executions ADD COLUMN owner_pid INTEGER;
ALTER TABLE executions ADD COLUMN owner_start TEXT;
