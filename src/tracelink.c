/*-------------------------------------------------------------------------
 *
 * tracelink.c
 *	  Module entry point: _PG_init only asks each part to initialise itself.
 *
 * The extension needs no shared_preload_libraries entry: everything it
 * registers (GUCs, transaction callbacks, cache invalidation callbacks) is
 * per backend.  This banner is the one place that says how the parts share
 * locks, transaction callbacks and caches; each file's own banner says why
 * it takes what it takes.
 *
 * Parts and calls.  No file calls a function of a file that calls back into
 * it; from the bottom up:
 *	  util.c (relations, extension object, locks), safe_spi.c, rowwriter.c,
 *	  the pure parts (jcs*.c, hash.c, merkle.c, crypto.c, ledger_json.c,
 *	  def_*.c), deftypes.c, keys.c, roles.c;
 *	  ledger_rows.c (row formats), block.c (the block and entry checks),
 *	  restore.c, quarantine.c (subtransactions, quarantine);
 *	  project.c (effects), inbox.c, witness_heads.c;
 *	  ledger.c (appending, sealing);
 *	  witness.c, workflow.c, the trace part (trace_model.c, trace_values.c,
 *	  trace_project.c, trace.c, trace_query.c, trace_proof.c), verify.c;
 *	  apply.c (rows from peers), and on top ingest.c (the ledger tables'
 *	  INSERT trigger and ingest(): apply.c's one caller; restores go from
 *	  there to restore.c, whose hold ledger.c checks).
 * The one indirection is project.c's table of projectors: it calls C
 * projectors (witness.c, trace_project.c) and PL/pgSQL ones (_project_*:
 * the workflow's and the votes', sqlsrc/60_workflow.sql, 65_votes.sql) by
 * kind, so that project.c depends on none of them; a projector may append
 * (tl_ledger_append), which projects the new entry in turn.
 *
 * Locks.  Besides ordinary relation locks, tracelink takes ExclusiveLocks
 * on its own pg_extension object (LockDatabaseObject, sub-ids named in
 * tracelink.h, taken through util.c):
 *	- TL_LOCK_APPLY (2): an apply transaction from its first ledger row
 *	  (apply.c; ingest() too), and witness(), to the end of the transaction:
 *	  applying and witnessing are serialised.  rotate_key() takes the same
 *	  sub-id (TL_LOCK_ROTATION) to the end of its transaction, so a rotation
 *	  also waits for, and holds off, the apply workers.
 *	- TL_LOCK_TRACE (3): recording and projecting trace records
 *	  (trace_model.c, when a transaction's trace state is made), to the end
 *	  of the transaction.
 *	- TL_LOCK_SEAL (1): sealing a block (ledger.c, pre-commit, to the end of
 *	  the commit); project.c's commit-time look at apply_queue, taken before
 *	  the seal and let go only to give waiting entries their effect; and for
 *	  a moment, to read key files against the head, rotate_key() and the
 *	  apply path's witness (witness.c, check_can_sign).
 * The order is apply -> trace -> seal: an apply worker holds the apply
 * lock, takes the trace lock when it projects a trace record and the seal
 * lock at commit; a local record() takes trace, then seal at commit.  A
 * transaction that recorded trace data or took a workflow step (an entry
 * with an effect) and then called rotate_key(), witness() or ingest() would
 * take the apply lock after the trace lock or rows an apply worker waits
 * for, against the workers' order: those calls refuse it (25001,
 * tl_require_apply_lock_first() in ledger.c); first in a transaction, they
 * are safe.  Key files (keys.c) are
 * read only under the seal lock.  trace.c's tl_trace_record_staged() also
 * locks the table tracelink.record_staging (EXCLUSIVE) before it takes the
 * trace lock.
 *
 * Transaction callbacks.  PostgreSQL calls them newest first, so in the
 * reverse of _PG_init's order below: trace_model.c (forget the trace
 * state), apply.c (at pre-commit, park entries still waiting for their
 * block in the inbox and close its writers), ledger.c (at pre-commit, let
 * entries waiting in apply_queue take effect, project.c, then seal the
 * pending block; refuse PREPARE of a transaction that appended), keys.c
 * (at commit, install or remove key files).  So a peer's entries are parked before the seal, and
 * the seal runs after every other pre-commit step that may append.  The
 * subtransaction callbacks (keys.c, ledger.c, apply.c and quarantine.c,
 * trace_model.c) each undo their own part of a rolled-back savepoint.
 *
 * Backend caches and their invalidation:
 *	- util.c: relation OIDs and the extension OID, forgotten on any relcache
 *	  invalidation or change of a schema (DROP/CREATE EXTENSION).
 *	- ledger.c: the local node's name, forgotten on any relcache
 *	  invalidation; set only from a committed row.
 *	- keys.c: the loaded key pair, kept while the node and the key the head
 *	  names are the same at each signature, loaded again when they differ.
 *	- project.c, trace_model.c: saved SPI plans, which the plan
 *	  cache replans after DDL (their tables are schema-qualified, and they
 *	  run under safe_spi.c's pinned search_path).
 *	- trace_model.c: adopted link versions parsed once per backend (keyed by
 *	  proposal id), marked stale by a relcache callback on
 *	  link_version_history and emptied when none is in use.
 *	- trace_query.c: record slots, emptied by a relcache callback on
 *	  record_slots or trace_links (registered when first built).
 *	- json_schema.c: the last JSON schema checked, as jsonb and as a tree,
 *	  keyed by its bytes (nothing to invalidate).
 *	- Per transaction only (in TopTransactionContext, or keyed by the local
 *	  transaction id): ledger.c's pending block, apply.c's apply state (and
 *	  the subscription it names to quarantine.c), trace_model.c's trace
 *	  state, project.c's apply_queue check, restore.c's restoring statement,
 *	  witness.c's witnessed-in marker.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	tl_util_init();
	tl_crypto_init();
	tl_keys_init();
	tl_ledger_init();
	tl_apply_init();
	tl_workflow_init();
	tl_trace_init();
	tl_witness_init();
	tl_verify_init();
	MarkGUCPrefixReserved("tracelink");
}
