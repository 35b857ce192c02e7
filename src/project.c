/*-------------------------------------------------------------------------
 *
 * project.c
 *	  Applying ledger entries to the projected state.
 *
 * The ledger is the only source of truth; the other tables are projections
 * of it, and every node that holds the same entries must hold the same
 * projections.  Each reserved kind ("tl.*") has a projector that checks the
 * entry is allowed and applies it.  The same projector runs on the node that
 * appended the entry (at once, so a refusal is an error to the caller: API
 * functions only shape payloads and append) and on every node that receives
 * it (once its block verifies; a refusal there quarantines the entry's
 * effect).
 *
 * Most projectors are SQL functions tracelink._project_*(origin, payload,
 * entry_hash, deps, local); ballots are tallied in C (vote.c).  Projectors
 * run as the extension's owner: members hold no write privilege on the
 * projection tables, so the ledger is the only way to change them.
 *
 * An entry takes effect only after the entries it depends on: a received
 * entry whose dependencies have not taken effect yet waits in
 * tracelink.apply_queue and is applied, in turn, by the entry that completes
 * them.  Entries whose effect was refused never complete a dependency.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

typedef void (*TlProjector) (const TlEntry *e, bool local);

typedef struct TlProjection
{
	const char *kind;
	const char *sql_function;	/* tracelink.<name>(origin, payload, hash, deps, local) */
	TlProjector c_function;		/* or a C projector */
} TlProjection;

static const TlProjection projections[] = {
	/* the ledger itself (heads, key chain) is their projection */
	{"tl.genesis", NULL, NULL},
	{"tl.key_rotation", NULL, NULL},
	/* the consortium workflow (sqlsrc/60_workflow.sql, vote.c) */
	{"tl.link.request", "_project_link_request", NULL},
	{"tl.link.reply", "_project_invitation_reply", NULL},
	{"tl.link.reinvite", "_project_reinvite", NULL},
	{"tl.process.submit", "_project_process_submit", NULL},
	{"tl.process.confirm", "_project_process_confirm", NULL},
	{"tl.link.proposal", "_project_proposal", NULL},
	{"tl.link.ballot", NULL, tl_project_ballot},
	{"tl.link.close_vote", NULL, tl_project_close_vote},
	{"tl.link.modify", "_project_modification_request", NULL},
	/* trace data (trace_project.c) */
	{TL_TRACE_KIND, NULL, tl_project_trace_records},
	/* heads of other origins this one holds (witness.c) */
	{TL_WITNESS_KIND, NULL, tl_project_witness},
	{NULL, NULL, NULL}
};

static Datum
hashes_array(const uint8 *hashes, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(tl_bytea_from(hashes + i * TL_HASH_LEN, TL_HASH_LEN));
	return PointerGetDatum(construct_array(elems, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

/*
 * Have all of an entry's dependencies taken effect here?
 */
static bool
dependencies_applied(const TlEntry *e)
{
	int			spi_nest;
	Oid			types[1] = {BYTEAARRAYOID};
	Datum		args[1];
	bool		isnull;
	int64		missing;

	if (e->ndeps == 0)
		return true;
	args[0] = hashes_array(e->deps, e->ndeps);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.count(*) FROM pg_catalog.unnest($1) d"
							  " WHERE NOT EXISTS (SELECT 1 FROM tracelink.ledger_entries e WHERE e.entry_hash = d)"
							  "    OR EXISTS (SELECT 1 FROM tracelink.apply_queue q WHERE q.entry_hash = d)"
							  "    OR EXISTS (SELECT 1 FROM tracelink.quarantine q"
							  "                WHERE q.what = 'effect' AND q.entry_hash = d)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not check the dependencies of an entry");
	missing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);
	return missing == 0;
}

/*
 * The extension's owner, whom projectors run as.  Read from pg_extension
 * through its name index, as get_extension_oid() does: no query to plan for
 * every entry.
 */
Oid
tl_extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("tracelink"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		elog(ERROR, "tracelink is not installed in this database");
	return owner;
}

static void
run_sql_projector(const char *function, const TlEntry *e, bool local)
{
	int			spi_nest;
	Oid			types[5] = {TEXTOID, JSONBOID, BYTEAOID, BYTEAARRAYOID, BOOLOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	args[0] = CStringGetTextDatum(e->origin);
	args[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(e->payload, e->payload_len)));
	args[2] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
	args[3] = hashes_array(e->deps, e->ndeps);
	args[4] = BoolGetDatum(local);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args(psprintf("SELECT tracelink.%s($1, $2, $3, $4, $5)", function),
							  5, types, args, nulls, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "projector tracelink.%s failed", function);
	tl_spi_finish(spi_nest);
}

/*
 * Run the projector of an entry's kind, as the extension's owner.
 */
static const TlProjection *
find_projection(const char *kind)
{
	const TlProjection *p;

	for (p = projections; p->kind != NULL; p++)
		if (strcmp(p->kind, kind) == 0)
			return p;
	return NULL;
}

static void
run_projector(const TlEntry *e, bool local)
{
	const TlProjection *volatile p = find_projection(e->kind);
	Oid			save_userid;
	int			save_sec_context;
	int			pin;

	if (p == NULL)
	{
		if (strncmp(e->kind, "tl.", 3) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("unknown reserved entry kind \"%s\"", e->kind),
					 errdetail("This node's tracelink does not know this kind of entry; it may be newer than this node.")));
		return;
	}
	if (p->sql_function == NULL && p->c_function == NULL)
		return;

	/*
	 * As the owner, and with search_path pinned: nothing the member who
	 * appended the entry put in search_path may run with the owner's rights.
	 * An error unwinds the pin with the (sub)transaction.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	pin = tl_pin_search_path();
	PG_TRY();
	{
		if (p->c_function)
			p->c_function(e, local);
		else
			run_sql_projector(p->sql_function, e, local);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	tl_unpin_search_path(pin);
}

/*
 * Is anything waiting in apply_queue?  Asked once per transaction (and
 * assumed once this transaction queues something): most entries complete
 * no one's dependencies, and the queue is usually empty.
 */
static LocalTransactionId queue_checked_in = InvalidLocalTransactionId;
static bool queue_nonempty = false;

static bool
queue_may_hold_entries(void)
{
	int			spi_nest;
	if (queue_checked_in != MyProc->lxid)
	{
		spi_nest = tl_spi_connect();
		if (SPI_execute("SELECT EXISTS (SELECT 1 FROM tracelink.apply_queue)", false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look at the apply queue");
		{
			bool		isnull;

			queue_nonempty = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 1, &isnull));
		}
		tl_spi_finish(spi_nest);
		queue_checked_in = MyProc->lxid;
	}
	return queue_nonempty;
}

/*
 * Entries that waited for `hash` and can now take effect.
 */
static void
release_waiting(const uint8 *hash)
{
	int			spi_nest;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	SPITupleTable *waiting;
	uint64		n;
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;

	if (!queue_may_hold_entries())
		return;
	args[0] = PointerGetDatum(tl_bytea_from(hash, TL_HASH_LEN));
	spi_nest = tl_spi_connect();
	/* in chain order: a voter's first ballot is its first everywhere */
	if (SPI_execute_with_args("WITH released AS ("
							  "  DELETE FROM tracelink.apply_queue q USING tracelink.ledger_entries e"
							  "   WHERE e.entry_hash = q.entry_hash AND $1 = ANY (q.waiting_for)"
							  "  RETURNING e.*)"
							  " SELECT r.* FROM released r"
							  "   JOIN tracelink.ledger_blocks b ON b.origin = r.origin AND b.tx = r.tx"
							  "  ORDER BY r.origin, b.block_no, r.seq",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up waiting entries");
	waiting = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		TlEntry		e;
		MemoryContext old = MemoryContextSwitchTo(caller);

		tl_read_entry(waiting->vals[i], waiting->tupdesc, &e);
		MemoryContextSwitchTo(old);
		/* re-queued by tl_project_entry if other dependencies still miss */
		tl_apply_effect(&e);
	}
	tl_spi_finish(spi_nest);
}

/*
 * Give an entry its effect: now if its dependencies have taken effect (a
 * local entry's always have), else once they have.  Raises if the entry is
 * not allowed.
 */
void
tl_project_entry(const TlEntry *e, bool local)
{
	int			spi_nest;
	if (!local && !dependencies_applied(e))
	{
		Oid			types[5] = {BYTEAOID, TEXTOID, INT8OID, INT4OID, BYTEAARRAYOID};
		Datum		args[5];

		args[0] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
		args[1] = CStringGetTextDatum(e->origin);
		args[2] = Int64GetDatum(e->tx);
		args[3] = Int32GetDatum(e->seq);
		args[4] = hashes_array(e->deps, e->ndeps);
		spi_nest = tl_spi_connect();
		queue_checked_in = MyProc->lxid;
		queue_nonempty = true;
		if (SPI_execute_with_args("INSERT INTO tracelink.apply_queue (entry_hash, origin, tx, seq, waiting_for)"
								  " VALUES ($1, $2, $3, $4, $5)",
								  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not queue an entry");
		tl_spi_finish(spi_nest);
		return;
	}
	run_projector(e, local);
	if (!local)
		release_waiting(e->hash);
}

/*
 * Errors that say nothing about the row (a deadlock, a serialization
 * failure, a cancellation, exhausted resources, a lock timeout, an I/O
 * error): the transaction must be retried, not the row refused for good.
 */
static bool
error_is_transient(const ErrorData *edata)
{
	int			class = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

	return class == ERRCODE_TRANSACTION_ROLLBACK ||
		class == ERRCODE_INSUFFICIENT_RESOURCES ||
		class == ERRCODE_OPERATOR_INTERVENTION ||
		class == ERRCODE_SYSTEM_ERROR ||
		edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY;
}

/*
 * Run fn(arg) in a subtransaction.  Returns NULL if it succeeded, or the
 * error it raised, rolled back; transient errors are raised again instead,
 * so that the transaction is retried rather than a good row refused.
 */
ErrorData *
tl_run_in_subtransaction(void (*fn) (void *arg), void *arg)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile failure = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (error_is_transient(edata))
			ReThrowError(edata);
		failure = edata;
	}
	PG_END_TRY();
	return failure;
}

static void
project_received(void *entry)
{
	tl_project_entry((const TlEntry *) entry, false);
}

/*
 * Give a received entry (already in the ledger) its effect, in a
 * subtransaction: if the projector refuses it, the refusal is quarantined
 * (what = 'effect') and the entry stays in the ledger without effect.
 */
void
tl_apply_effect(const TlEntry *e)
{
	ErrorData  *failure;

	/* applications' own kinds have no projector: nothing can be refused */
	if (find_projection(e->kind) == NULL && strncmp(e->kind, "tl.", 3) != 0)
	{
		if (e->ndeps == 0 || dependencies_applied(e))
			release_waiting(e->hash);
		else
			tl_project_entry(e, false);
		return;
	}

	failure = tl_run_in_subtransaction(project_received, (void *) e);
	if (failure != NULL)
		tl_quarantine_effect(e, failure->message);
}
