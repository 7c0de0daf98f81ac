-- ofelia schema: high availability on etcd (docs/cluster.md).
--
-- Never edit a migration that has been released: add NNNN+1_name.sql.
--
-- In a cluster every node keeps the whole history in its own file: a node
-- serves the rows it changed, in the order it changed them, to the others
-- (GET /internal/cluster/changes), and pulls theirs. A single ofelia leaves
-- all of these columns NULL; the partial indexes then hold nothing and cost
-- its writes nothing.

-- The cluster node that ran the execution (or gave the slot its outcome);
-- NULL without a cluster.
ALTER TABLE executions ADD COLUMN node TEXT;
-- The node that ended an execution another node had started (it took over
-- as leader, or found the claim of a slot the other node did not record):
-- the ending the node that ran it records, when it reaches this file,
-- replaces such a row.
ALTER TABLE executions ADD COLUMN resolved_by TEXT;
-- The node whose change this row is, and that node's counter of changes.
ALTER TABLE executions ADD COLUMN changed_by TEXT;
ALTER TABLE executions ADD COLUMN change_seq INTEGER;
ALTER TABLE jobs ADD COLUMN changed_by TEXT;
ALTER TABLE jobs ADD COLUMN change_seq INTEGER;

-- A node's feed: its own changes after a cursor, in order.
CREATE INDEX executions_changes ON executions (changed_by, change_seq)
    WHERE change_seq IS NOT NULL;
CREATE INDEX jobs_changes ON jobs (changed_by, change_seq) WHERE change_seq IS NOT NULL;
