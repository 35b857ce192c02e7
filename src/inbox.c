/*-------------------------------------------------------------------------
 *
 * inbox.c
 *	  Rows from peers that wait: blocks ahead of their origin's head in
 *	  inbox_blocks, entries whose block has not arrived in inbox_entries.
 *
 * apply.c decides what waits and takes it out again when its time comes;
 * this file reads and writes the two inbox tables, and checks what an
 * entry allows to be checked without its block before it is parked
 * (block.c's content checks, its audience, no replay of an entry waiting
 * already, no block of its transaction quarantined).  It calls nothing
 * of apply.c: what it cannot park it quarantines (quarantine.c).  It also
 * holds the rule of who is entitled to an entry (tl_entry_entitled()),
 * which arrivals and what this node serves its peers both follow.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "apply_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(tl_entitled_sql);

/* ----------------------------------------------------------------
 * Arrival checks
 * ----------------------------------------------------------------
 */

/*
 * Who is entitled to an entry: the one rule, for entries arriving here
 * (tl_audience_problem()) and for entries this node serves a peer
 * (tracelink._entitled(), in _export_addressed() and _serve_entitled()).
 * Every node, when its audience is NULL; the nodes of its audience; and for
 * a trace record (addressed to the business group of its time) also every
 * node of its link's business group now, as this database holds the link:
 * a node that joined the group later is entitled to the records made
 * before (docs/trace.md).  Private values (tl.trace.private) stay with
 * their audience.  node NULL: this database is no node.
 */
bool
tl_entry_entitled(const TlEntry *e, const char *node)
{
	MemoryContext work;
	MemoryContext old;
	JcsValue   *payload;
	uint8		link_id[TL_HASH_LEN];
	bool		has_link;
	int			i;

	if (e->audience == NULL)
		return true;
	if (node == NULL)
		return false;
	for (i = 0; i < e->naudience; i++)
		if (strcmp(e->audience[i], node) == 0)
			return true;
	if (strcmp(e->kind, TL_TRACE_KIND) != 0)
		return false;
	/* the payload's link (its tree freed at once: a payload may be large) */
	work = AllocSetContextCreate(CurrentMemoryContext, "tracelink entitlement",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	payload = jcs_parse(e->payload, e->payload_len);
	has_link = payload->kind == JCS_OBJECT && tl_json_hex(payload, "link", link_id, TL_HASH_LEN);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return has_link && tl_trace_group_member(link_id, node);
}

/*
 * What only arrival can tell about an entry: is this node (local_node,
 * NULL if this database is no node) entitled to it?  Returns why not, or
 * NULL.
 */
const char *
tl_audience_problem(const TlEntry *e, const char *local_node)
{
	return tl_entry_entitled(e, local_node) ? NULL : "entry is not addressed to this node";
}

/*
 * tracelink._entitled(node text, line text) returns boolean
 *
 * The entitlement rule (tl_entry_entitled()) for an entry line of the
 * export format, as this node holds the entry's link.
 */
Datum
tl_entitled_sql(PG_FUNCTION_ARGS)
{
	char	   *node = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *line = PG_GETARG_TEXT_PP(1);
	JcsValue   *tree = jcs_parse(VARDATA_ANY(line), VARSIZE_ANY_EXHDR(line));
	bool		is_block = false;
	TlEntry		e;
	TlBlock		b;
	const char *problem;

	memset(&e, 0, sizeof(e));
	problem = tl_export_line(tree, &is_block, &e, &b);
	if (problem != NULL || is_block || e.origin == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not an entry line: %s", problem ? problem : "it is a block or header line")));
	PG_RETURN_BOOL(tl_entry_entitled(&e, node));
}

/* ----------------------------------------------------------------
 * Blocks waiting for their predecessor
 * ----------------------------------------------------------------
 */

/*
 * Is a block of (origin, tx) waiting in inbox_blocks for its predecessor?
 */
bool
tl_inbox_block_parked_for(const char *origin, int64 tx)
{
	static SPIPlanPtr plan = NULL;
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	bool		parked;

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(tx);
	spi_nest = tl_spi_connect();
	if (SPI_execute_plan(tl_spi_plan(&plan, "SELECT 1 FROM tracelink.inbox_blocks WHERE origin = $1 AND tx = $2", 2, types),
						 args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up parked blocks");
	parked = SPI_processed > 0;
	tl_spi_finish(spi_nest);
	return parked;
}

/*
 * Park a block that is ahead of its origin's head; false if a block with
 * its number waits already (its hash in parked_hash), and b is not parked.
 */
bool
tl_inbox_park_block(const TlBlock *b, uint8 *parked_hash)
{
	static SPIPlanPtr plan = NULL;
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	TlRowWriter *w;

	args[0] = CStringGetTextDatum(b->h.origin);
	args[1] = Int64GetDatum(b->h.block_no);
	spi_nest = tl_spi_connect();
	if (SPI_execute_plan(tl_spi_plan(&plan, "SELECT block_hash FROM tracelink.inbox_blocks WHERE origin = $1 AND block_no = $2", 2, types),
						 args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up parked blocks");
	if (SPI_processed > 0)
	{
		tl_fixed_bytea(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, parked_hash, TL_HASH_LEN);
		tl_spi_finish(spi_nest);
		return false;
	}
	tl_spi_finish(spi_nest);
	w = tl_writer_open(tl_relid("inbox_blocks"));
	tl_write_block(w, &b->h, b->entry_hashes, b->block_hash, b->signature);
	tl_writer_close(w);
	return true;
}

/*
 * Take the parked block that follows the origin's head out of the inbox;
 * false if there is none.  A parked row that is no block (it was one when
 * it was parked) is quarantined and false returned.
 */
bool
tl_inbox_unpark_block(const char *origin, int64 block_no, TlBlock *b)
{
	static SPIPlanPtr plan = NULL;
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	const char *problem = NULL;
	RowSource	src = {0};
	bool		found = false;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(block_no);
	spi_nest = tl_spi_connect();
	if (SPI_execute_plan(tl_spi_plan(&plan, "DELETE FROM tracelink.inbox_blocks WHERE origin = $1 AND block_no = $2 RETURNING *", 2, types),
						 args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not take a block from the inbox");
	if (SPI_processed > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		problem = tl_block_decode(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, b);
		if (problem != NULL)
		{
			src.tup = heap_copytuple(SPI_tuptable->vals[0]);
			src.desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
		}
		MemoryContextSwitchTo(old);
		found = problem == NULL;
	}
	tl_spi_finish(spi_nest);
	if (problem != NULL)
		tl_quarantine_source("block", origin, problem, &src);
	return found;
}

/* ----------------------------------------------------------------
 * Entries waiting for their block
 * ----------------------------------------------------------------
 */

/*
 * Are entries of (origin, tx) parked in inbox_entries (by this transaction
 * too)?
 */
bool
tl_inbox_entries_parked_for(const char *origin, int64 tx)
{
	static SPIPlanPtr plan = NULL;
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	bool		parked;

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(tx);
	spi_nest = tl_spi_connect();
	if (SPI_execute_plan(tl_spi_plan(&plan, "SELECT 1 FROM tracelink.inbox_entries WHERE origin = $1 AND tx = $2", 2, types),
						 args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up parked entries");
	parked = SPI_processed > 0;
	tl_spi_finish(spi_nest);
	return parked;
}

/*
 * At most limit entries of (origin, tx) parked in inbox_entries, those of
 * the lowest seq, taken out of it (in the caller's memory context), in
 * order of seq; NIL when none is left.
 */
List *
tl_inbox_unpark_entries(const char *origin, int64 tx, int limit)
{
	int			spi_nest;
	Oid			types[3] = {TEXTOID, INT8OID, INT4OID};
	Datum		args[3];
	MemoryContext caller = CurrentMemoryContext;
	List	   *entries = NIL;
	uint64		i;

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(tx);
	args[2] = Int32GetDatum(limit);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("WITH taken AS ("
							  "  DELETE FROM tracelink.inbox_entries WHERE ctid = ANY (ARRAY("
							  "    SELECT i.ctid FROM tracelink.inbox_entries i"
							  "     WHERE i.origin = $1 AND i.tx = $2 ORDER BY i.seq LIMIT $3))"
							  "  RETURNING *)"
							  " SELECT * FROM taken ORDER BY seq",
							  3, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not take entries from the inbox");
	for (i = 0; i < SPI_processed; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		TlEntry    *e = palloc(sizeof(TlEntry));

		tl_read_entry(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, e);
		entries = lappend(entries, e);
		MemoryContextSwitchTo(old);
	}
	tl_spi_finish(spi_nest);
	return entries;
}

/*
 * Is an entry with this origin, tx, seq and hash parked in the inbox
 * already (committed, or by this transaction)?  The hash covers the
 * entry's content, which park_entries() has checked against it.
 */
static bool
parked_already(const TlEntry *e)
{
	Relation	rel = table_open(tl_relid("inbox_entries"), AccessShareLock);
	ScanKeyData keys[3];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&keys[0], ENTRY_ORIGIN + 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(e->origin));
	keys[0].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&keys[1], ENTRY_TX + 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(e->tx));
	ScanKeyInit(&keys[2], ENTRY_SEQ + 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(e->seq));
	scan = systable_beginscan(rel, tl_relid("inbox_entries_pkey"), true, SnapshotSelf, 3, keys);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		uint8		hash[TL_HASH_LEN];

		found = tl_fixed_bytea(tup, RelationGetDescr(rel), ENTRY_HASH + 1, hash, TL_HASH_LEN) &&
			memcmp(hash, e->hash, TL_HASH_LEN) == 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* the quarantined block of an (origin, tx), as park_entries() looks it up */
typedef struct BlockFate
{
	const char *origin;
	int64		tx;
	char	   *reason;			/* why its block was quarantined, or NULL */
} BlockFate;

/*
 * Why the block of (origin, tx) was quarantined, or NULL if it was not
 * (or another block of that transaction is parked: its entries wait for
 * it).  Asked once per transaction number among the entries parked.
 */
static const char *
quarantined_block_reason(const TlEntry *e, List **fates)
{
	ListCell   *lc;
	BlockFate  *fate;
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	MemoryContext caller = CurrentMemoryContext;

	foreach(lc, *fates)
	{
		fate = lfirst(lc);
		if (fate->tx == e->tx && strcmp(fate->origin, e->origin) == 0)
			return fate->reason;
	}
	fate = palloc0(sizeof(BlockFate));
	fate->origin = e->origin;
	fate->tx = e->tx;
	args[0] = CStringGetTextDatum(e->origin);
	args[1] = Int64GetDatum(e->tx);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT 'its block ' || q.block_no || ' was quarantined: ' || q.reason"
							  "  FROM tracelink.quarantine q"
							  " WHERE q.what = 'block' AND q.origin = $1 AND q.tx = $2"
							  "   AND NOT EXISTS (SELECT 1 FROM tracelink.inbox_blocks b"
							  "                    WHERE b.origin = $1 AND b.tx = $2)"
							  " ORDER BY q.id DESC LIMIT 1",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up quarantined blocks");
	if (SPI_processed > 0)
	{
		char	   *reason = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		fate->reason = MemoryContextStrdup(caller, reason ? reason : "its block was quarantined");
	}
	tl_spi_finish(spi_nest);
	*fates = lappend(*fates, fate);
	return fate->reason;
}

/*
 * Park entries still waiting for their block at commit (run in a
 * subtransaction).  What can be checked without the block is checked first
 * (block.c, and that the entry is addressed here); a replay of an entry
 * waiting already, and an entry whose block was quarantined, are
 * quarantined rather than parked.  Entries with the same origin, tx and
 * seq but different hashes both wait: the block decides which it sealed.
 */
/* entries to park, for park_entries() */
typedef struct ParkedEntries
{
	List	   *entries;
	const char *local_node;
	bool		pass_duplicates;	/* heard by several paths: wait once */
} ParkedEntries;

static void
park_entries(void *arg)
{
	List	   *entries = ((ParkedEntries *) arg)->entries;
	const char *local_node = ((ParkedEntries *) arg)->local_node;
	bool		pass_duplicates = ((ParkedEntries *) arg)->pass_duplicates;
	ListCell   *lc;
	List	   *fates = NIL;
	HASHCTL		ctl;
	HTAB	   *seen;
	TlRowWriter *w = tl_writer_open(tl_relid("inbox_entries"));
	MemoryContext entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink parked entry",
													ALLOCSET_DEFAULT_SIZES);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TL_HASH_LEN;
	ctl.entrysize = TL_HASH_LEN;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("tracelink parked entries", Max(list_length(entries), 16), &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	foreach(lc, entries)
	{
		TlEntry    *e = lfirst(lc);
		const char *problem;
		bool		found;
		bool		replay = false;
		MemoryContext old = MemoryContextSwitchTo(entry_cxt);

		problem = tl_check_entry_content(e);
		if (problem == NULL)
			problem = tl_audience_problem(e, local_node);
		if (problem == NULL)
		{
			hash_search(seen, e->hash, HASH_FIND, &found);
			if ((replay = found))
				problem = "replayed entry: the same entry arrived twice while waiting for its block";
		}
		if (problem == NULL && (replay = parked_already(e)))
			problem = "replayed entry: it is already waiting for its block";
		MemoryContextSwitchTo(old);
		if (replay && pass_duplicates)
		{
			/* heard by another path too (relays): it waits once */
			MemoryContextReset(entry_cxt);
			continue;
		}
		if (problem == NULL)
			problem = quarantined_block_reason(e, &fates);
		old = MemoryContextSwitchTo(entry_cxt);
		if (problem != NULL)
			tl_quarantine_entry(e, problem);
		else
		{
			tl_write_entry(w, e);
			hash_search(seen, e->hash, HASH_ENTER, &found);
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(entry_cxt);
	}
	MemoryContextDelete(entry_cxt);
	tl_writer_close(w);
}

/*
 * At commit, entries still waiting for their block go to the inbox, all
 * in one subtransaction, or if that fails, each in one of its own; an
 * entry that cannot be parked is quarantined.
 */
void
tl_inbox_park_entries(List *entries, const char *local_node, bool pass_duplicates)
{
	ParkedEntries all = {entries, local_node, pass_duplicates};
	ListCell   *lc;

	if (entries == NIL)
		return;
	/* at commit no statement has a snapshot: SQL (SPI) needs one */
	PushActiveSnapshot(GetTransactionSnapshot());
	if (tl_run_in_subtransaction(park_entries, &all) != NULL)
	{
		foreach(lc, entries)
		{
			TlEntry    *e = lfirst(lc);
			ParkedEntries one = {list_make1(e), local_node, pass_duplicates};
			ErrorData  *failure = tl_run_in_subtransaction(park_entries, &one);

			if (failure != NULL)
				tl_quarantine_entry(e, psprintf("row could not be processed: %s", failure->message));
		}
	}
	PopActiveSnapshot();
}
