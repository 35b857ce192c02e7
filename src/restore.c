/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Ledger rows restored from a dump, and the hold that keeps a restored
 *	  node from signing until its restore is finished.
 *
 * tracelink writes ledger rows itself (rowwriter.c), so the BEFORE INSERT
 * trigger of ledger_entries and ledger_blocks (ingest.c) refuses every row
 * written by SQL, with two exceptions: the logical replication apply worker
 * (its rows go to apply.c), and a restore, decided here.
 *
 * A restore is what pg_dump's output does to a ledger table, whether psql
 * plays a plain dump or pg_restore (-j or not) a custom one: the table's
 * owner (in practice a superuser: only one can create the extension) fills
 * the empty table with one statement, COPY ... FROM stdin.  So a row written
 * by SQL is accepted only when
 *   - the current user owns the table: members never, even if someone
 *     granted them INSERT;
 *   - the table held no row visible to the statement's snapshot: only rows
 *     of the same statement.  A node's tables hold at least its genesis
 *     block, so no SQL statement ever adds a row to a live ledger, and a
 *     restore over a live ledger is refused too;
 *   - the row holds up on its own: an entry's hash follows from its content
 *     (canonical payload, sorted deps) and it is not in the ledger yet; a
 *     block's hash follows from its header, its entries root from its entry
 *     hashes, and its signature verifies with its signer key.
 * What no single row shows (blocks linked and numbered without gaps, keys
 * handed over, every entry sealed, heads where the chains end) is what
 * verify() checks, and tracelink.finish_restore() runs it.
 *
 * The first accepted row of a statement records a hold in
 * tracelink.restore_holds.  While a hold is there, the node appends nothing
 * (pending_block() calls tl_restore_check_hold()): it signs no block before
 * its restored chain has verified and its key file has been found to hold
 * the key the chain names, and before the operator has had the chance to
 * check that no peer holds a later block of this node's chain (the node
 * would fork its chain).  finish_restore() removes the hold.
 *
 * A base backup restored to a point in time (or a standby promoted) holds
 * the node the same way: tracelink.node_timeline records the WAL timeline
 * the node signs on, and recovery that ends on another timeline leaves it
 * there until finish_restore() records the new one.
 *
 * This tells a restore from a member and from accidental SQL, not from a
 * superuser: a superuser can disable the triggers (or set the rows up to
 * look like a restore).  What a superuser forges, verify() finds.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(tl_note_timeline);
PG_FUNCTION_INFO_V1(tl_signing_hold);


/*
 * The statement whose rows are being restored, decided at its first row.
 * The subtransaction is part of what names it, so that a statement run
 * again after a rollback to a savepoint is decided again (and records its
 * hold again: the first one was rolled back) whatever its command id.
 */
static Oid	restoring_relid = InvalidOid;
static LocalTransactionId restoring_lxid = InvalidLocalTransactionId;
static SubTransactionId restoring_subid = InvalidSubTransactionId;
static CommandId restoring_cid = InvalidCommandId;

/*
 * Does the table hold no row the current statement's snapshot sees?  The
 * statement's own rows are invisible to it (they are newer than its
 * snapshot's command id), so this is "was the table empty when the
 * statement began".  Called once per statement: in a restore the table is
 * empty, so the scan ends at once.
 */
static bool
table_empty_for_statement(Relation rel)
{
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		empty;

	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return empty;
}

/*
 * Record that ledger rows were restored: the node holds its signature until
 * finish_restore().  Written directly (like the ledger), in the restoring
 * transaction, so an aborted restore leaves no hold.
 */
static void
record_hold(Relation ledger_rel)
{
	TlRowWriter *w = tl_writer_open(tl_relid("restore_holds"));
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (RelationGetDescr(w->rel)->natts != 3)
		elog(ERROR, "tracelink.restore_holds has an unexpected shape");
	values[0] = TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
	values[1] = CStringGetTextDatum(RelationGetRelationName(ledger_rel));
	values[2] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	tl_writer_insert(w, values, nulls);
	tl_writer_close(w);
}

/*
 * Why a restored entry row cannot be a ledger entry, or NULL.  Missing
 * columns and malformed hashes are errors of tl_read_entry().
 */
static const char *
entry_problem(HeapTuple tup, TupleDesc desc, TlEntry *e)
{
	uint8		computed[TL_HASH_LEN];
	char	   *canon;
	int			canon_len;
	int			i;

	tl_read_entry(tup, desc, e);
	if (!tl_valid_node_name(e->origin))
		return "origin is not a valid node name";
	if (e->seq < 0)
		return "seq is negative";
	if (!tl_valid_kind(e->kind))
		return "kind is not a valid entry kind";
	for (i = 1; i < e->ndeps; i++)
		if (memcmp(e->deps + (i - 1) * TL_HASH_LEN, e->deps + i * TL_HASH_LEN,
				   TL_HASH_LEN) >= 0)
			return "deps are not sorted and unique";
	for (i = 0; i < e->naudience; i++)
		if (!tl_valid_node_name(e->audience[i]))
			return "audience holds something that is not a node name";
	canon = jcs_canonical_text(e->payload, e->payload_len, &canon_len);
	if (canon_len != e->payload_len || memcmp(canon, e->payload, canon_len) != 0)
		return "payload is not RFC 8785 canonical JSON";
	tl_entry_hash(e, computed);
	if (memcmp(computed, e->hash, TL_HASH_LEN) != 0)
		return "entry hash does not match the entry's content";
	if (tl_entry_exists(e->hash))
		return "the entry is already in the ledger";
	return NULL;
}

/*
 * Why a restored block row cannot be a block of its origin's chain, or
 * NULL; fills in its origin and number for the message.
 */
static const char *
block_problem(HeapTuple tup, TupleDesc desc, TlBlockHeader *h)
{
	uint8		block_hash[TL_HASH_LEN];
	uint8		signature[TL_ED25519_SIG_LEN];
	uint8		computed[TL_HASH_LEN];
	uint8	   *leaves;
	bytea	   *hashes;
	bool		isnull;
	Datum		d;
	int			att;
	int			i;

	memset(h, 0, sizeof(*h));
	for (att = 0; att < BLOCK_NATTS; att++)
		if (att != BLOCK_NEXT_KEY && heap_attisnull(tup, att + 1, desc))
			return psprintf("column \"%s\" is null",
							NameStr(TupleDescAttr(desc, att)->attname));
	d = heap_getattr(tup, BLOCK_ORIGIN + 1, desc, &isnull);
	if (strlen(TextDatumGetCString(d)) >= NAMEDATALEN ||
		!tl_valid_node_name(TextDatumGetCString(d)))
		return "origin is not a valid node name";
	strlcpy(h->origin, TextDatumGetCString(d), NAMEDATALEN);
	h->block_no = DatumGetInt64(heap_getattr(tup, BLOCK_NO + 1, desc, &isnull));
	h->tx = DatumGetInt64(heap_getattr(tup, BLOCK_TX + 1, desc, &isnull));
	h->entry_count = DatumGetInt32(heap_getattr(tup, BLOCK_ENTRY_COUNT + 1, desc, &isnull));
	h->tree_size = DatumGetInt64(heap_getattr(tup, BLOCK_TREE_SIZE + 1, desc, &isnull));
	h->sealed_at = DatumGetTimestampTz(heap_getattr(tup, BLOCK_SEALED_AT + 1, desc, &isnull));
	if (h->block_no < 0 || h->entry_count < 0 || h->tree_size < h->entry_count)
		return "block number, entry count or tree size is out of range";
	if (!tl_fixed_bytea(tup, desc, BLOCK_ENTRIES_ROOT + 1, h->entries_root, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_TREE_ROOT + 1, h->tree_root, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_PREV_HASH + 1, h->prev_hash, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_SIGNER_KEY + 1, h->signer_key, TL_ED25519_PK_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_HASH + 1, block_hash, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_SIGNATURE + 1, signature, TL_ED25519_SIG_LEN))
		return "a hash, key or signature of the block has the wrong length";
	h->has_next_key = !heap_attisnull(tup, BLOCK_NEXT_KEY + 1, desc);
	if (h->has_next_key &&
		!tl_fixed_bytea(tup, desc, BLOCK_NEXT_KEY + 1, h->next_key, TL_ED25519_PK_LEN))
		return "next_key of the block has the wrong length";
	hashes = DatumGetByteaPP(heap_getattr(tup, BLOCK_ENTRY_HASHES + 1, desc, &isnull));
	if (VARSIZE_ANY_EXHDR(hashes) != (Size) h->entry_count * TL_HASH_LEN)
		return "entry_hashes does not hold entry_count hashes";

	leaves = palloc((Size) Max(h->entry_count, 1) * TL_HASH_LEN);
	for (i = 0; i < h->entry_count; i++)
		tl_merkle_leaf_hash((uint8 *) VARDATA_ANY(hashes) + (Size) i * TL_HASH_LEN,
							TL_HASH_LEN, leaves + (Size) i * TL_HASH_LEN);
	tl_merkle_root(leaves, h->entry_count, computed);
	pfree(leaves);
	if (memcmp(computed, h->entries_root, TL_HASH_LEN) != 0)
		return "entries_root is not the Merkle root of the block's entry hashes";
	tl_block_hash(h, computed);
	if (memcmp(computed, block_hash, TL_HASH_LEN) != 0)
		return "block hash does not match the block header";
	if (!tl_ed25519_verify(h->signer_key, block_hash, TL_HASH_LEN, signature))
		return "signature does not verify with the block's signer key";
	return NULL;
}

/*
 * A row written by SQL into ledger_entries or ledger_blocks, outside the
 * apply worker (from their BEFORE INSERT trigger): returns the row if it is
 * part of a restore, raises otherwise.
 */
HeapTuple
tl_restore_incoming(TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	HeapTuple	tup = trigdata->tg_trigtuple;
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			relid = RelationGetRelid(rel);
	CommandId	cid = GetCurrentCommandId(false);
	bool		is_block;
	const char *problem;

	if (!pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to restore rows of ledger table \"%s\"",
						RelationGetRelationName(rel)),
				 errdetail("Rows of ledger tables are written only by tracelink; only the owner of the table restores them from a dump.")));

	if (relid != restoring_relid || MyProc->lxid != restoring_lxid ||
		GetCurrentSubTransactionId() != restoring_subid || cid != restoring_cid)
	{
		if (!table_empty_for_statement(rel))
			ereport(ERROR,
					(errcode(ERRCODE_TL_APPEND_ONLY),
					 errmsg("rows of ledger table \"%s\" are written only by tracelink",
							RelationGetRelationName(rel)),
					 errdetail("Rows are restored only into an empty ledger table, by one statement (the COPY a dump holds); this one already holds rows."),
					 errhint("Use tracelink.append() or the tracelink API functions.")));
		record_hold(rel);
		restoring_relid = relid;
		restoring_lxid = MyProc->lxid;
		restoring_subid = GetCurrentSubTransactionId();
		restoring_cid = cid;
	}

	is_block = relid == tl_relid("ledger_blocks");
	if (is_block)
	{
		TlBlockHeader h;

		problem = block_problem(tup, desc, &h);
		if (problem)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("restored row of ledger table \"%s\" is not a valid block",
							RelationGetRelationName(rel)),
					 errdetail("Block " INT64_FORMAT " of origin \"%s\": %s.",
							   h.block_no, h.origin, problem),
					 errhint("The dump was altered or damaged: restore from another copy.")));
	}
	else
	{
		TlEntry		e;

		problem = entry_problem(tup, desc, &e);
		if (problem)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("restored row of ledger table \"%s\" is not a valid entry",
							RelationGetRelationName(rel)),
					 errdetail("Entry " INT64_FORMAT "/%d of origin \"%s\": %s.",
							   e.tx, e.seq, e.origin, problem),
					 errhint("The dump was altered or damaged: restore from another copy.")));
	}
	return tup;
}

/*
 * The first row of a small table that this node's latest snapshot sees:
 * whether there is one, and its first column (NULL-free) in *first.
 */
static bool
first_row(Oid relid, Datum *first)
{
	Relation	rel = table_open(relid, AccessShareLock);
	bool		found = false;

	if (RelationGetNumberOfBlocks(rel) > 0)
	{
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
		TableScanDesc scan = table_beginscan(rel, snapshot, 0, NULL);
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		bool		isnull;

		found = table_scan_getnextslot(scan, ForwardScanDirection, slot);
		if (found && first != NULL)
		{
			*first = slot_getattr(slot, 1, &isnull);
			found = !isnull;
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		UnregisterSnapshot(snapshot);
	}
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The WAL timeline this node last signed on (tracelink.node_timeline), or
 * 0 when none is recorded, or the table is not there (a database whose
 * tracelink SQL predates it, 0.1.0: docs/upgrades.md, one library for
 * every SQL version); such a node is held by restore_holds alone.
 */
static TimeLineID
recorded_timeline(void)
{
	Oid			relid = tl_relid_if_exists("node_timeline");
	Datum		d;

	if (!OidIsValid(relid) || !first_row(relid, &d))
		return 0;
	return (TimeLineID) DatumGetInt64(d);
}

/* the timeline found to match the recorded one, once per backend */
static TimeLineID timeline_checked = 0;

/*
 * Why this node must not sign yet, or NULL:
 *   - ledger rows were restored here (restore_holds) and finish_restore()
 *     has not run since;
 *   - the cluster's WAL timeline is not the one the node last signed on:
 *     the cluster was recovered to a point in time (or a standby was
 *     promoted), so its peers may hold blocks of this node it no longer
 *     has, and a new block would fork its chain.
 * restore_holds is empty (no blocks at all) except between a restore and
 * finish_restore(), which truncates it; the timeline is read once per
 * backend.
 */
const char *
tl_restore_hold_reason(void)
{
	TimeLineID	current;
	TimeLineID	recorded;

	if (first_row(tl_relid("restore_holds"), NULL))
		return "Ledger rows were restored into this database; the restored chains and the node key have not been checked since.";
	if (RecoveryInProgress())
		return NULL;
	current = GetWALInsertionTimeLine();
	if (current == timeline_checked)
		return NULL;
	recorded = recorded_timeline();
	if (recorded != 0 && recorded != current)
		return psprintf("The database was recovered to a point in time or promoted: it runs on WAL timeline %u, the node last signed on timeline %u, and its peers may hold blocks it no longer has.",
						current, recorded);
	timeline_checked = current;
	return NULL;
}

/*
 * Raise if the node must not sign yet (tl_restore_hold_reason()).  Called
 * once per appending transaction.
 */
void
tl_restore_check_hold(void)
{
	const char *reason = tl_restore_hold_reason();

	if (reason != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node does not sign until its restore is finished"),
				 errdetail("%s", reason),
				 errhint("As a superuser, run CALL tracelink.finish_restore(); see docs/operations.md, \"Checking and backups\".")));
}

/*
 * Record the WAL timeline the node signs on from now: the one it runs on
 * (init_node(), and finish_restore() through tracelink._note_timeline()).
 * As the caller, who must be able to write tracelink's tables.
 */
int64
tl_note_timeline_now(void)
{
	int			spi_nest;
	TimeLineID	current;
	Oid			types[1] = {INT8OID};
	Datum		args[1];

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot record the node's timeline during recovery")));
	current = GetWALInsertionTimeLine();
	if (!OidIsValid(tl_relid_if_exists("node_timeline")))
		return (int64) current;
	args[0] = Int64GetDatum((int64) current);
	spi_nest = tl_spi_connect();
	if (SPI_execute("DELETE FROM tracelink.node_timeline", false, 0) != SPI_OK_DELETE ||
		SPI_execute_with_args("INSERT INTO tracelink.node_timeline (timeline) VALUES ($1)",
							  1, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the node's timeline");
	tl_spi_finish(spi_nest);
	timeline_checked = 0;
	return (int64) current;
}

/*
 * tracelink._note_timeline() returns bigint
 */
Datum
tl_note_timeline(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(tl_note_timeline_now());
}

/*
 * tracelink.signing_hold() returns text
 */
Datum
tl_signing_hold(PG_FUNCTION_ARGS)
{
	const char *reason = tl_restore_hold_reason();

	if (reason == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}
