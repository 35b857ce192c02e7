-- This database as node "alpha" (what sql/20_ledger.sql makes it), for the
-- files that need a local node; idempotent: the key directory is set and
-- the node initialised only when this database has no node yet.  Includes
-- setup.sql.
\i sql/include/setup.sql
SELECT tracelink.node_name() IS NULL AS tl_need_alpha \gset
\if :tl_need_alpha
\i sql/include/key_directory.sql
-- (not the warning that the key is inside the data directory: 20_ledger
-- shows it)
SET client_min_messages = error;
SELECT tracelink.init_node('alpha') IS NOT NULL AS tl_alpha \gset
RESET client_min_messages;
\endif
\unset tl_need_alpha
