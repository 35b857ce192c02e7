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
 * entry_hash, deps, local): all of the workflow's and the votes'
 * (sqlsrc/60_workflow.sql, 65_votes.sql).  Projectors run as the
 * extension's owner: members hold no write privilege on the projection
 * tables, so the ledger is the only way to change them.
 *
 * An entry takes effect only after the entries it depends on: a received
 * entry whose dependencies have not taken effect yet waits in
 * tracelink.apply_queue and is applied, in turn, by the entry that completes
 * them, or at the latest by the commit that does ("Entries that wait, and
 * commits" below).  Entries whose effect was refused never complete a
 * dependency.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(tl_recheck_waiting);

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
	/* the consortium workflow (sqlsrc/60_workflow.sql, 65_votes.sql) */
	{"tl.link.request", "_project_link_request", NULL},
	{"tl.link.reply", "_project_invitation_reply", NULL},
	{"tl.link.reinvite", "_project_reinvite", NULL},
	{"tl.process.submit", "_project_process_submit", NULL},
	{"tl.process.confirm", "_project_process_confirm", NULL},
	{"tl.link.proposal", "_project_proposal", NULL},
	{"tl.link.ballot", "_project_ballot", NULL},
	{"tl.link.close_vote", "_project_close_vote", NULL},
	{"tl.link.modify", "_project_modification_request", NULL},
	/* trace data (trace_project.c) */
	{TL_TRACE_KIND, NULL, tl_project_trace_records},
	{TL_TRACE_PRIVATE_KIND, NULL, tl_project_trace_private},
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

/*
 * Whether entries of a kind have an effect here (a projector that writes
 * tracelink's tables).
 */
bool
tl_kind_has_effect(const char *kind)
{
	const TlProjection *p = find_projection(kind);

	return p != NULL && (p->sql_function != NULL || p->c_function != NULL);
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
	static SPIPlanPtr plan = NULL;
	int			spi_nest;
	if (queue_checked_in != MyProc->lxid)
	{
		spi_nest = tl_spi_connect();
		if (SPI_execute_plan(tl_spi_plan(&plan, "SELECT EXISTS (SELECT 1 FROM tracelink.apply_queue)", 0, NULL),
						 NULL, NULL, false, 1) != SPI_OK_SELECT)
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
 * What this transaction did with peers' entries, for its commit
 * (tl_release_waiting_at_commit): the entries it gave their effect (or
 * tried to) and the entries it queued.  The arrays live in
 * TopTransactionContext; lxid says which transaction they belong to.
 */
typedef struct HashList
{
	uint8	   *hashes;
	int			count;
	int			capacity;
} HashList;

static struct
{
	LocalTransactionId lxid;
	HashList	effected;
	HashList	queued;
}			peer_work;

static void
remember(HashList *list, const uint8 *hash)
{
	if (peer_work.lxid != MyProc->lxid)
	{
		memset(&peer_work, 0, sizeof(peer_work));
		peer_work.lxid = MyProc->lxid;
	}
	if (list->count == list->capacity)
	{
		int			capacity = Max(16, list->capacity * 2);

		list->hashes = list->hashes == NULL ?
			MemoryContextAlloc(TopTransactionContext, (Size) capacity * TL_HASH_LEN) :
			repalloc(list->hashes, (Size) capacity * TL_HASH_LEN);
		list->capacity = capacity;
	}
	memcpy(list->hashes + (Size) list->count * TL_HASH_LEN, hash, TL_HASH_LEN);
	list->count++;
}

/* where recheck_waiting() lists what it releases, while it runs */
static ReturnSetInfo *released_out = NULL;

/*
 * The condition for an apply_queue row q to be released: every entry it
 * waits for is in the ledger, waits for nothing itself, and was not
 * refused (as dependencies_applied() checks one entry).
 */
#define TL_QUEUED_ENTRY_READY \
	"NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(q.waiting_for) d" \
	"             WHERE NOT EXISTS (SELECT 1 FROM tracelink.ledger_entries l WHERE l.entry_hash = d)" \
	"                OR EXISTS (SELECT 1 FROM tracelink.apply_queue w WHERE w.entry_hash = d)" \
	"                OR EXISTS (SELECT 1 FROM tracelink.quarantine x" \
	"                            WHERE x.what = 'effect' AND x.entry_hash = d))"

static void log_released(const TlEntry *e);

/* which queued entries release_ready() considers */
typedef enum ReleaseScope
{
	WAITING_FOR_ANY_OF,			/* those waiting for one of the hashes */
	THESE,						/* those the hashes name */
	ALL_QUEUED					/* all */
} ReleaseScope;

/*
 * A plan prepared once per backend: these run for every entry applied while
 * entries wait, and at commits.  (Plans are kept with the pinned
 * search_path of tl_spi_connect(), and replanned when the tables change.)
 */
static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql, int nargs)
{
	Oid			types[2] = {BYTEAARRAYOID, BYTEAARRAYOID};

	Assert(nargs <= lengthof(types));
	if (*plan == NULL)
	{
		/* generic: replanning for each call's arrays would cost more than the lookup */
		SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\"", sql);
		*plan = p;
	}
	return *plan;
}

/*
 * Take out of apply_queue the entries in `scope` whose dependencies have
 * now all taken effect, and give them their effect.  In chain order: a
 * voter's first ballot is its first everywhere, whatever order entries
 * arrived in.  Each released entry releases in turn those that waited for
 * it (tl_project_entry).  Entries still missing a dependency stay as they
 * are.  Returns how many were released.
 */
static uint64
release_ready(ReleaseScope scope, const uint8 *hashes, int n)
{
	static SPIPlanPtr plans[3];
	static const char *const conditions[3] = {
		[WAITING_FOR_ANY_OF] = "q.waiting_for && $1",
		[THESE] = "q.entry_hash = ANY ($1)",
		[ALL_QUEUED] = "true",
	};
	int			spi_nest;
	Datum		args[1];
	SPITupleTable *ready;
	uint64		count;
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = hashes_array(hashes, n);
	spi_nest = tl_spi_connect();
	if (plans[scope] == NULL)
		kept_plan(&plans[scope],
				  psprintf("WITH released AS ("
						   "  DELETE FROM tracelink.apply_queue q USING tracelink.ledger_entries e"
						   "   WHERE e.entry_hash = q.entry_hash AND %s"
						   "     AND " TL_QUEUED_ENTRY_READY
						   "  RETURNING e.*)"
						   " SELECT r.* FROM released r"
						   "   JOIN tracelink.ledger_blocks b ON b.origin = r.origin AND b.tx = r.tx"
						   "  ORDER BY r.origin, b.block_no, r.seq",
						   conditions[scope]), 1);
	if (SPI_execute_plan(plans[scope], args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up waiting entries");
	ready = SPI_tuptable;
	count = SPI_processed;
	/* what still waits may wait for these: release_waiting() must look */
	if (count > 0)
	{
		queue_checked_in = MyProc->lxid;
		queue_nonempty = true;
	}
	for (i = 0; i < count; i++)
	{
		TlEntry		e;
		MemoryContext old = MemoryContextSwitchTo(caller);

		tl_read_entry(ready->vals[i], ready->tupdesc, &e);
		MemoryContextSwitchTo(old);
		tl_apply_effect(&e);
		log_released(&e);
	}
	tl_spi_finish(spi_nest);
	return count;
}

/*
 * Entries that waited for `hash` and can now take effect.
 */
static void
release_waiting(const uint8 *hash)
{
	if (queue_may_hold_entries())
		(void) release_ready(WAITING_FOR_ANY_OF, hash, 1);
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
		remember(&peer_work.queued, e->hash);
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

	remember(&peer_work.effected, e->hash);
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

/* ----------------------------------------------------------------
 * Entries that wait, and commits
 *
 * Two transactions race.  W, applying rows from a peer (the apply worker,
 * or ingest()), receives entry P, finds a dependency D not yet taken effect
 * as far as it can see, and queues P.  X makes D take effect: a local
 * transaction appending D, or one applying or releasing D.  Neither sees
 * the other's uncommitted rows, so checks made during the two transactions
 * can both miss: W queues P because D is not visible, X releases nothing
 * because it cannot see P, and P waits for good.  This is not rare: logical
 * decoding sends a local transaction to the peers once its commit record is
 * flushed, before the commit is visible here (with synchronous replication,
 * long before), so a peer's answer can arrive while the local entry it
 * answers is still invisible to this node's apply worker.
 *
 * So the last look at apply_queue is taken at commit, in ledger.c's
 * pre-commit callback before sealing, under the seal lock, and the lock is
 * kept from that look to the end of the commit, when this transaction's rows
 * are visible to everyone.  A transaction looks for the queued entries that
 * concern it: those it queued itself, and those waiting for an entry it
 * appended (it seals: it takes the lock anyway) or gave its effect; and
 * releases those that are ready.  Of W and X, the one that takes the lock
 * second sees the other's rows committed and releases P; two transactions
 * that each complete one of P's dependencies are ordered the same way.  (Two
 * transactions that queue entries are ordered by the apply lock: only the
 * apply path queues.)
 *
 * Entries are never given their effect under the lock: a projector may wait
 * for a row lock held by an apply worker that is itself waiting for the
 * seal lock.  So the lock is let go, the ready entries released, and the
 * look taken again; a transaction keeps the lock only after a look that
 * found nothing to do, and waits under it for nothing but sealing.  Lock
 * order: the apply lock (apply.c; it is also rotate_key()'s rotation lock)
 * before the seal lock; no row lock is awaited while the seal lock is held.
 *
 * Cost: when apply_queue is empty, the usual case, the look is a scan that
 * finds no row, not a query.  A short queue is scanned too, and a query
 * runs only if an entry concerns the transaction.  A long one, which a peer
 * can fill with entries that wait for good, is never read whole: the
 * entries that concern the transaction are looked up through
 * apply_queue_waiting_for, with a plan kept per backend.  An apply
 * transaction takes the lock only when some queued entry concerns it.
 *
 * Anything still waiting though ready (entries left by a repeatable read
 * transaction, below, or by a version of tracelink without this check) is
 * released by later transactions applying a peer's entries, a batch at a
 * time (release_ready_now_and_then), and by tracelink.recheck_waiting() on
 * demand.
 *
 * A repeatable read or serializable transaction cannot give a peer's entry
 * its effect at commit: the projector would read the transaction's old
 * snapshot and could refuse what the latest state allows.  It still takes
 * the lock, so that the others' looks are ordered with its commit, and
 * releases nothing itself.
 * ----------------------------------------------------------------
 */

/*
 * Is apply_queue empty, counting rows committed by now and this
 * transaction's own?  A scan that stops at the first row, not a query:
 * every sealing commit asks.
 */
static bool
queue_is_empty_now(void)
{
	Relation	rel;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		empty;

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(tl_relid("apply_queue"), AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	empty = !table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return empty;
}

/*
 * Run a kept plan over two bytea[] arguments and return the hashes its
 * first column holds (how many, the hashes in *found).
 */
static int
hashes_from_plan(SPIPlanPtr plan, Datum *args, uint8 **found)
{
	int			count = 0;
	uint64		i;

	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look at the apply queue");
	PopActiveSnapshot();
	*found = palloc((Size) Max(SPI_processed, 1) * TL_HASH_LEN);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		bytea	   *h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

		if (isnull || VARSIZE_ANY_EXHDR(h) != TL_HASH_LEN)
			continue;
		memcpy(*found + (Size) count * TL_HASH_LEN, VARDATA_ANY(h), TL_HASH_LEN);
		count++;
	}
	return count;
}

static int
hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, TL_HASH_LEN);
}

static bool
bytea_hash_in(Datum d, const uint8 *sorted, int n)
{
	bytea	   *h = DatumGetByteaPP(d);

	return n > 0 && VARSIZE_ANY_EXHDR(h) == TL_HASH_LEN &&
		bsearch(VARDATA_ANY(h), sorted, n, TL_HASH_LEN, hash_cmp) != NULL;
}

/*
 * The hashes this transaction's commit looks for (see above): those of the
 * entries it gave effect (the n `local` ones it appended, the peers' ones
 * it applied or released) and of those it queued; sorted, for bsearch().
 */
typedef struct Concerns
{
	uint8	   *effected;
	int			neffected;
	uint8	   *queued;
	int			nqueued;
} Concerns;

static void
concerns_of_this_xact(const uint8 *local, int n, Concerns *c)
{
	bool		peers = peer_work.lxid == MyProc->lxid;

	c->neffected = n + (peers ? peer_work.effected.count : 0);
	c->nqueued = peers ? peer_work.queued.count : 0;
	c->effected = palloc((Size) Max(c->neffected, 1) * TL_HASH_LEN);
	c->queued = palloc((Size) Max(c->nqueued, 1) * TL_HASH_LEN);
	if (n > 0)
		memcpy(c->effected, local, (Size) n * TL_HASH_LEN);
	if (c->neffected > n)
		memcpy(c->effected + (Size) n * TL_HASH_LEN, peer_work.effected.hashes,
			   (Size) (c->neffected - n) * TL_HASH_LEN);
	if (c->nqueued > 0)
		memcpy(c->queued, peer_work.queued.hashes, (Size) c->nqueued * TL_HASH_LEN);
	qsort(c->effected, c->neffected, TL_HASH_LEN, hash_cmp);
	qsort(c->queued, c->nqueued, TL_HASH_LEN, hash_cmp);
}

/*
 * Scan apply_queue as of now (rows committed by now, and this
 * transaction's own) for the entries that concern this transaction,
 * reading at most TL_QUEUE_SCAN_ROWS rows: returns how many (their hashes
 * in *found), 0 at once when the queue is empty, or -1 if it holds more
 * rows than that.  What to look for is worked out only when there is a row.
 */
#define TL_QUEUE_SCAN_ROWS 64

static int
scan_queue_for(const uint8 *local, int n, Concerns *c, uint8 **found)
{
	Relation	rel;
	TupleDesc	desc;
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	AttrNumber	entry_hash = InvalidAttrNumber;
	AttrNumber	waiting_for = InvalidAttrNumber;
	int			rows = 0;
	int			count = 0;
	int			att;

	*found = NULL;
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	rel = table_open(tl_relid("apply_queue"), AccessShareLock);
	desc = RelationGetDescr(rel);
	for (att = 0; att < desc->natts; att++)
	{
		if (strcmp(NameStr(TupleDescAttr(desc, att)->attname), "entry_hash") == 0)
			entry_hash = att + 1;
		else if (strcmp(NameStr(TupleDescAttr(desc, att)->attname), "waiting_for") == 0)
			waiting_for = att + 1;
	}
	if (entry_hash == InvalidAttrNumber || waiting_for == InvalidAttrNumber)
		elog(ERROR, "tracelink.apply_queue has an unexpected shape");
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, snapshot, 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		hash = slot_getattr(slot, entry_hash, &isnull);
		Datum		d = slot_getattr(slot, waiting_for, &isnull);
		bool		concerns;

		if (rows++ == 0)
		{
			concerns_of_this_xact(local, n, c);
			*found = palloc(TL_HASH_LEN * TL_QUEUE_SCAN_ROWS);
		}
		if (rows > TL_QUEUE_SCAN_ROWS)
		{
			count = -1;
			break;
		}
		concerns = bytea_hash_in(hash, c->queued, c->nqueued);
		if (!concerns && !isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			nelems;
			int			i;

			deconstruct_array(DatumGetArrayTypeP(d), BYTEAOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &nelems);
			for (i = 0; i < nelems && !concerns; i++)
				concerns = !nulls[i] && bytea_hash_in(elems[i], c->effected, c->neffected);
		}
		if (concerns && VARSIZE_ANY_EXHDR(DatumGetByteaPP(hash)) == TL_HASH_LEN)
			memcpy(*found + (Size) count++ * TL_HASH_LEN, VARDATA_ANY(DatumGetByteaPP(hash)), TL_HASH_LEN);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, AccessShareLock);
	UnregisterSnapshot(snapshot);
	return count;
}

/*
 * The queued entries that concern this transaction (see above): those it
 * queued, and those waiting for one of the n `local` entries it appended
 * or for a peer's entry it gave its effect; only those ready to take
 * effect, when `ready`.  Returns how many, their hashes in *found.  A short
 * queue is scanned (and an empty one costs no more); a long one (a peer can
 * fill it with entries that wait for good) is never read whole: the
 * entries are looked up through the index on waiting_for and the primary
 * key.
 */
static int
queued_entries_concerning(const uint8 *local, int n, bool ready, uint8 **found)
{
	static SPIPlanPtr plans[3];
	Concerns	c;
	Datum		args[2];
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext old;
	int			spi_nest;
	int			count;
	uint8	   *spi_found;
	int			which;

	memset(&c, 0, sizeof(c));
	count = scan_queue_for(local, n, &c, found);
	if (count == 0 || (count > 0 && !ready))
		return count;
	if (count > 0)
	{
		/* which of the entries found are ready */
		which = 2;
		args[0] = hashes_array(*found, count);
		args[1] = args[0];
	}
	else
	{
		which = ready ? 1 : 0;
		args[0] = hashes_array(c.effected, c.neffected);
		args[1] = hashes_array(c.queued, c.nqueued);
	}
	spi_nest = tl_spi_connect();
	if (plans[which] == NULL)
		kept_plan(&plans[which],
				  which == 2 ?
				  "SELECT q.entry_hash FROM tracelink.apply_queue q"
				  " WHERE q.entry_hash = ANY ($1) AND " TL_QUEUED_ENTRY_READY :
				  which == 1 ?
				  "SELECT q.entry_hash FROM tracelink.apply_queue q"
				  " WHERE (q.waiting_for && $1 OR q.entry_hash = ANY ($2)) AND " TL_QUEUED_ENTRY_READY :
				  "SELECT q.entry_hash FROM tracelink.apply_queue q"
				  " WHERE q.waiting_for && $1 OR q.entry_hash = ANY ($2)",
				  which == 2 ? 1 : 2);
	count = hashes_from_plan(plans[which], args, &spi_found);
	old = MemoryContextSwitchTo(caller);
	*found = palloc((Size) Max(count, 1) * TL_HASH_LEN);
	MemoryContextSwitchTo(old);
	memcpy(*found, spi_found, (Size) count * TL_HASH_LEN);
	tl_spi_finish(spi_nest);
	return count;
}

/*
 * release_ready() as the extension's owner, whose tables apply_queue and
 * the projections are (a member's commit may release a peer's entries),
 * with the outer snapshot SPI needs where no portal is (at commit).
 */
static uint64
release_ready_as_owner(ReleaseScope scope, const uint8 *hashes, int n)
{
	Oid			save_userid;
	int			save_sec_context;
	volatile uint64 count = 0;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		count = release_ready(scope, hashes, n);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	PopActiveSnapshot();
	return count;
}

/*
 * Now and then, release what is ready among the entries in apply_queue,
 * whatever they wait for: the safety net for what a repeatable read commit
 * left (see above).  At an apply transaction's commit, at most every
 * TL_HEAL_INTERVAL_MS in a backend, and a batch of TL_HEAL_BATCH entries at
 * a time, taking turns through the queue in entry_hash order: a node may
 * hold many entries that wait for good (for rows not addressed to it, or
 * a peer's that never come), and looking at all of them is
 * recheck_waiting()'s job.  Within a batch, released entries take effect
 * in chain order.
 */
#define TL_HEAL_INTERVAL_MS 10000
#define TL_HEAL_BATCH 1000

static void
release_ready_now_and_then(void)
{
	static TimestampTz last = 0;
	static uint8 after[TL_HASH_LEN];	/* where the next batch starts */
	static SPIPlanPtr plan = NULL;
	TimestampTz now = GetCurrentTimestamp();
	Datum		args[2];
	uint8	   *batch;
	int			n;
	int			spi_nest;
	MemoryContext caller = CurrentMemoryContext;

	if (last != 0 && !TimestampDifferenceExceeds(last, now, TL_HEAL_INTERVAL_MS))
		return;
	if (queue_is_empty_now())
		return;
	last = now;
	args[0] = PointerGetDatum(tl_bytea_from(after, TL_HASH_LEN));
	args[1] = Int32GetDatum(TL_HEAL_BATCH);
	spi_nest = tl_spi_connect();
	if (plan == NULL)
	{
		Oid			types[2] = {BYTEAOID, INT4OID};
		SPIPlanPtr	p = SPI_prepare("SELECT q.entry_hash FROM tracelink.apply_queue q"
									" WHERE q.entry_hash > $1 ORDER BY q.entry_hash LIMIT $2",
									2, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare the look at the apply queue");
		plan = p;
	}
	{
		MemoryContext old;
		uint8	   *spi_batch;

		n = hashes_from_plan(plan, args, &spi_batch);
		old = MemoryContextSwitchTo(caller);
		batch = palloc((Size) Max(n, 1) * TL_HASH_LEN);
		MemoryContextSwitchTo(old);
		memcpy(batch, spi_batch, (Size) n * TL_HASH_LEN);
	}
	tl_spi_finish(spi_nest);
	/* a short batch is the end of the queue: start again next time */
	if (n < TL_HEAL_BATCH)
		memset(after, 0, TL_HASH_LEN);
	else
		memcpy(after, batch + (Size) (n - 1) * TL_HASH_LEN, TL_HASH_LEN);
	if (n > 0)
		(void) release_ready_as_owner(THESE, batch, n);
}

/*
 * At commit, before sealing (ledger.c): release the queued entries this
 * transaction lets take effect, then return holding the seal lock, which
 * the commit keeps until its rows are visible.  `local` are the n entries
 * this transaction appended to the local chain.  See the comment above.
 */
void
tl_release_waiting_at_commit(const uint8 *local, int n)
{
	bool		peers = peer_work.lxid == MyProc->lxid;
	uint8	   *found;
	int			nfound;
	bool		released_nothing = false;

	if (!peers && n == 0)
		return;
	/* the transaction may have dropped the extension after applying entries */
	if (n == 0 && !OidIsValid(get_extension_oid("tracelink", true)))
		return;
	if (peers && !IsolationUsesXactSnapshot())
		release_ready_now_and_then();
	/* an apply transaction that concerns no queued entry needs no ordering */
	if (n == 0 && queued_entries_concerning(local, n, false, &found) == 0)
		return;
	for (;;)
	{
		tl_lock_seal();
		if (IsolationUsesXactSnapshot())
			break;
		nfound = queued_entries_concerning(local, n, true, &found);
		if (nfound == 0 || released_nothing)
			break;
		/* released with the lock let go; a release that finds nothing is not repeated */
		tl_unlock_seal();
		released_nothing = release_ready_as_owner(THESE, found, nfound) == 0;
	}
}

/*
 * A prepared transaction commits later, possibly in another session, and
 * would hold the seal lock until then: a transaction that applied entries
 * from peers cannot be prepared (as one that appended cannot, ledger.c).
 */
void
tl_release_waiting_at_prepare(void)
{
	if (peer_work.lxid == MyProc->lxid)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot prepare a transaction that applied ledger entries from peers"),
				 errdetail("Entries waiting for their dependencies are re-checked when the transaction commits.")));
}

/*
 * Did a released entry take effect (rather than being refused)?
 */
static bool
took_effect(const TlEntry *e)
{
	int			spi_nest;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	bool		isnull;
	bool		result;

	args[0] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT NOT EXISTS (SELECT 1 FROM tracelink.apply_queue q WHERE q.entry_hash = $1)"
							  "   AND NOT EXISTS (SELECT 1 FROM tracelink.quarantine x"
							  "                    WHERE x.what = 'effect' AND x.entry_hash = $1)",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a released entry");
	result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);
	return result;
}

/*
 * Note a released entry in recheck_waiting()'s result, while it runs.
 */
static void
log_released(const TlEntry *e)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (released_out == NULL)
		return;
	values[0] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
	values[1] = CStringGetTextDatum(e->origin);
	values[2] = Int64GetDatum(e->tx);
	values[3] = Int32GetDatum(e->seq);
	values[4] = BoolGetDatum(took_effect(e));
	tuplestore_putvalues(released_out->setResult, released_out->setDesc, values, nulls);
}

/*
 * tracelink.recheck_waiting() returns setof (entry_hash, origin, tx, seq,
 * took_effect)
 *
 * Releases every entry waiting in apply_queue whose dependencies have all
 * taken effect, in chain order, as commits and the apply path do on their
 * own; returns the entries it took out of the queue and whether each took
 * effect (a refused one is in tracelink.quarantined).  For operators, and
 * for entries left by a repeatable read transaction.
 */
Datum
tl_recheck_waiting(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("tracelink.recheck_waiting() cannot run in a repeatable read or serializable transaction"),
				 errdetail("Waiting entries take effect against the latest committed state, which such a transaction does not see."),
				 errhint("Call it in a read committed transaction.")));
	if (released_out != NULL)
		elog(ERROR, "tracelink.recheck_waiting() is already running");
	released_out = rsinfo;
	PG_TRY();
	{
		(void) release_ready_as_owner(ALL_QUEUED, NULL, 0);
	}
	PG_FINALLY();
	{
		released_out = NULL;
	}
	PG_END_TRY();
	return (Datum) 0;
}
