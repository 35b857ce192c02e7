/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  Where ledger rows from outside come in: the ledger tables' BEFORE
 *	  INSERT trigger (rows from peers, rows restored from a dump) and
 *	  tracelink.ingest() (exported lines).
 *
 * tracelink writes ledger rows without the executor, so a row that reaches
 * the trigger was written by SQL: by the logical replication apply worker
 * (a peer's row, handed to apply.c), by a restore (restore.c), or by
 * someone who may not (refused, by restore.c).  ingest() reads exported
 * lines and hands each block and entry to apply.c exactly as a replicated
 * row is; retry_quarantined() (quarantine.c) hands quarantined rows back
 * the same way.  This file only decodes and dispatches; neither apply.c
 * nor restore.c calls back.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "apply_int.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(tl_ledger_row_inserted);
PG_FUNCTION_INFO_V1(tl_ingest);

/* ----------------------------------------------------------------
 * Rows from peers and from dumps
 * ----------------------------------------------------------------
 */

/* what a row turned out to be, for the caller that asked */
static void
identify(RowIdentity *ident, bool is_block, const char *origin, int64 block_no, const uint8 *hash)
{
	ident->known = origin != NULL && strlen(origin) < NAMEDATALEN;
	if (!ident->known)
		return;
	ident->is_block = is_block;
	strlcpy(ident->origin, origin, NAMEDATALEN);
	ident->block_no = block_no;
	memcpy(ident->hash, hash, TL_HASH_LEN);
}

/*
 * A ledger row (a ledger_blocks row if is_block, else a ledger_entries row,
 * columns in table order) to the apply path: decoded, then received or
 * refused.  A peer's row in the apply worker, and a quarantined row read
 * back by retry_quarantined() (quarantine.c), come in here; ident (if not
 * NULL) says what the row was, once decoded.
 */
void
tl_receive_row(const RowSource *src, bool is_block, RowIdentity *ident)
{
	if (is_block)
	{
		TlBlock		b;
		const char *problem = tl_block_decode(src->tup, src->desc, &b);

		if (problem == NULL && ident != NULL)
			identify(ident, true, b.h.origin, b.h.block_no, b.block_hash);
		tl_apply_receive_block(&b, problem, src);
	}
	else
	{
		TlEntry		e;
		const char *problem = tl_entry_decode(src->tup, src->desc, &e);

		if (problem == NULL && ident != NULL)
			identify(ident, false, e.origin, -1, e.hash);
		if (problem != NULL)
			tl_quarantine_source("entry", e.origin, problem, src);
		else
			tl_apply_receive_entry(&e, src);
	}
}

/*
 * Entry point from the ledger tables' BEFORE INSERT trigger, in the apply
 * worker.  Returns NULL: the row is written here or not at all.
 */
static HeapTuple
apply_incoming(TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	RowSource	src = {trigdata->tg_trigtuple, RelationGetDescr(rel), NULL, 0};

	tl_apply_begin();
	tl_receive_row(&src, RelationGetRelid(rel) == tl_relid("ledger_blocks"), NULL);
	return NULL;
}

/*
 * BEFORE INSERT (row): tracelink writes ledger rows without the executor, so
 * a row arriving here was written by SQL.  The logical replication apply
 * worker hands rows from peers to the apply path; a restore from a dump
 * (one statement filling an empty table, by its owner: restore.c) keeps its
 * rows once each is checked; anyone else is refused.
 */
Datum
tl_ledger_row_inserted(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tl_ledger_row_inserted: not called by trigger manager");
	if (IsLogicalWorker())
		return PointerGetDatum(apply_incoming(trigdata));
	/* a restore (restore.c) or nothing: raises unless it is one */
	return PointerGetDatum(tl_restore_incoming(trigdata));
}

/* ----------------------------------------------------------------
 * Ingesting exported lines
 * ----------------------------------------------------------------
 */

/* an exported line read back, for parse_line() */
typedef struct ParsedLine
{
	const RowSource *src;
	bool		is_block;
	TlEntry		e;
	TlBlock		b;
	const char *problem;
} ParsedLine;

/*
 * Parse an exported line (run in a subtransaction).  The line's tree is
 * freed as soon as the entry or block is taken out of it.
 */
static void
parse_line(void *arg)
{
	ParsedLine *p = arg;
	MemoryContext tree_cxt = AllocSetContextCreate(CurrentMemoryContext,
												   "tracelink export line",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tree_cxt);
	JcsValue   *tree = jcs_parse(p->src->line, p->src->line_len);

	MemoryContextSwitchTo(old);
	p->problem = tl_export_line(tree, &p->is_block, &p->e, &p->b);
	MemoryContextDelete(tree_cxt);
	/* the line is the entry's preimage: its hash is the line's */
	if (p->problem == NULL && !p->is_block && p->e.origin != NULL)
		tl_sha256(p->src->line, p->src->line_len, p->e.hash);
}

/*
 * An export line to the apply path: parsed, then received or refused.
 * ingest()'s lines, and a quarantined line read back by
 * retry_quarantined() (quarantine.c), come in here; ident as for
 * tl_receive_row().
 */
void
tl_receive_line(const RowSource *src, RowIdentity *ident)
{
	ParsedLine	p;
	ErrorData  *failure;

	memset(&p, 0, sizeof(p));
	p.src = src;
	failure = tl_run_in_subtransaction(parse_line, &p);
	if (failure != NULL)
		tl_quarantine_source("entry", NULL,
							 psprintf("line could not be processed: %s", failure->message), src);
	else if (p.problem != NULL)
		tl_quarantine_source(p.is_block ? "block" : "entry", NULL, p.problem, src);
	else if (p.is_block)
	{
		if (ident != NULL)
			identify(ident, true, p.b.h.origin, p.b.h.block_no, p.b.block_hash);
		tl_apply_receive_block(&p.b, NULL, src);
	}
	else if (p.e.origin != NULL)
	{
		if (ident != NULL)
			identify(ident, false, p.e.origin, -1, p.e.hash);
		tl_apply_receive_entry(&p.e, src);
	}
}

/*
 * tracelink.ingest(lines text) returns table(lines bigint, quarantined bigint)
 *
 * Applies exported ledger lines (tracelink.export() output, one per line)
 * exactly as rows arriving by replication are applied: every block and
 * entry is verified; what fails is quarantined; what comes early waits.
 * For exchanging ledgers without a replication connection, and for feeding
 * many nodes' signed entries to one node in tests and benchmarks.
 */
Datum
tl_ingest(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *input = PG_GETARG_TEXT_PP(0);
	const char *line = VARDATA_ANY(input);
	const char *end = line + VARSIZE_ANY_EXHDR(input);
	MemoryContext line_cxt;
	int64		lines = 0;
	int64		quarantined_before;
	int64		quarantined_after;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		isnull;
	Oid			save_userid;
	int			save_sec_context;

	InitMaterializedSRF(fcinfo, 0);
	if (tl_local_node() == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));
	tl_require_apply_lock_first("tracelink.ingest()");

	/*
	 * Lines are applied as replicated rows are, by the extension's owner:
	 * tracelink_admin may call ingest() but writes none of tracelink's
	 * tables itself (inboxes, quarantine).
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	spi_nest = tl_spi_connect();
	SPI_execute("SELECT pg_catalog.count(*) FROM tracelink.quarantine", false, 1);
	quarantined_before = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);

	tl_apply_begin();

	/*
	 * Lines are read in place; what one line allocates (its tree, its
	 * entry, a quarantine row) is freed before the next, so memory is that
	 * of the input and of its longest line.
	 */
	line_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink ingested line",
									 ALLOCSET_DEFAULT_SIZES);
	while (line < end)
	{
		const char *newline = memchr(line, '\n', end - line);
		RowSource	src = {NULL, NULL, line, (newline ? newline : end) - line};
		MemoryContext old;

		line = newline ? newline + 1 : end;
		if (src.line_len == 0)
			continue;
		lines++;
		old = MemoryContextSwitchTo(line_cxt);
		tl_receive_line(&src, NULL);
		MemoryContextSwitchTo(old);
		MemoryContextReset(line_cxt);
	}
	MemoryContextDelete(line_cxt);

	spi_nest = tl_spi_connect();
	SPI_execute("SELECT pg_catalog.count(*) FROM tracelink.quarantine", false, 1);
	quarantined_after = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	values[0] = Int64GetDatum(lines);
	values[1] = Int64GetDatum(quarantined_after - quarantined_before);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
