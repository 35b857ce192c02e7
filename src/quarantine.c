/*-------------------------------------------------------------------------
 *
 * quarantine.c
 *	  Subtransactions that catch what a row from a peer breaks, and the
 *	  quarantine that keeps the row with the reason it was refused.
 *
 * Nothing a peer sends may stop replication (apply.c's banner): every
 * step that a row could make fail runs in tl_run_in_subtransaction(), and
 * a row refused, or whose effect failed, is recorded in tracelink.quarantine
 * with its reason.  apply.c, ingest.c and inbox.c quarantine the rows they
 * receive and park; project.c and witness.c the effects that failed.
 *
 * The quarantine's source column names the subscription the rows of the
 * current apply transaction come through: apply.c says which for as long
 * as its transaction state lives (tl_quarantine_set_subscription).
 *
 * Every row put in quarantine is announced (NOTIFY tracelink_quarantine,
 * an ENABLE ALWAYS trigger, so by any path).  tracelink.retry_quarantined()
 * takes retryable rows out (quarantine_retryable(), sqlsrc/50_replication.sql:
 * the one rule) and hands them to the apply path again through ingest.c's
 * entry points, under the subscription they came through, so every check
 * of their arrival runs again; a row refused again is put back under its
 * id with the new reason (quarantine() sees it is the row being retried).
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "apply_int.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(tl_quarantine_notify);
PG_FUNCTION_INFO_V1(tl_retry_quarantined);

/* subscription of the apply transaction under way, or NULL */
static const char *quarantine_subscription = NULL;

/*
 * The row retry_quarantined() is reading back, while it goes through the
 * apply path: if that path refuses it again, the refusal is not recorded
 * as a new row; its reason is kept here (in the retry's memory context),
 * and retry_quarantined() puts the row back under its own id.  A refusal
 * made in a subtransaction that rolls back is forgotten with it.
 */
typedef struct RetryTarget
{
	bool		active;
	const char *what;			/* "entry", "block" or "effect" */
	bool		has_hash;		/* entry_hash known (entries, effects) */
	uint8		hash[TL_HASH_LEN];
	MemoryContext cxt;
	char	   *reason;			/* the new refusal, or NULL */
	SubTransactionId refused_in;
} RetryTarget;

static RetryTarget retry_target;

/* a row put back by retry_quarantined(): no new notification */
static bool putting_back = false;

/*
 * apply.c names the subscription its rows come through (NULL for ingest()
 * or when its transaction state ends); the string must live as long.
 */
void
tl_quarantine_set_subscription(const char *subscription)
{
	quarantine_subscription = subscription;
}

/* ----------------------------------------------------------------
 * Subtransactions
 * ----------------------------------------------------------------
 */

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

/* ----------------------------------------------------------------
 * Encoding rows for the quarantine
 * ----------------------------------------------------------------
 */

static Datum
source_jsonb(const RowSource *src)
{
	if (src->tup != NULL)
	{
		Datum		composite = heap_copy_tuple_as_datum(src->tup, src->desc);
		Datum		json = DirectFunctionCall1(row_to_json, composite);

		return DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(json)));
	}
	/* a line that may not even be JSON: keep it as a string */
	{
		StringInfoData s;

		initStringInfo(&s);
		appendStringInfoString(&s, "{\"line\":");
		jcs_append_string(&s, src->line, src->line_len);
		appendStringInfoChar(&s, '}');
		return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
	}
}

static Datum
entry_jsonb(const TlEntry *e)
{
	JcsValue   *o = jcs_make_object(8);
	JcsValue   *deps = jcs_make_array(e->ndeps);
	char		hex[2 * TL_HASH_LEN + 1];
	StringInfoData s;
	int			i;

	jcs_object_put(o, "origin", jcs_make_string(e->origin, strlen(e->origin)));
	jcs_object_put(o, "tx", jcs_make_number((double) e->tx));
	jcs_object_put(o, "seq", jcs_make_number((double) e->seq));
	jcs_object_put(o, "kind", jcs_make_string(e->kind, strlen(e->kind)));
	jcs_object_put(o, "payload", jcs_make_string(e->payload, e->payload_len));
	for (i = 0; i < e->ndeps; i++)
	{
		tl_hex_encode(e->deps + i * TL_HASH_LEN, TL_HASH_LEN, hex);
		jcs_array_append(deps, jcs_make_string(hex, strlen(hex)));
	}
	jcs_object_put(o, "deps", deps);
	if (e->audience)
	{
		JcsValue   *aud = jcs_make_array(e->naudience);

		for (i = 0; i < e->naudience; i++)
			jcs_array_append(aud, jcs_make_string(e->audience[i], strlen(e->audience[i])));
		jcs_object_put(o, "audience", aud);
	}
	tl_hex_encode(e->hash, TL_HASH_LEN, hex);
	jcs_object_put(o, "entry_hash", jcs_make_string(hex, strlen(hex)));
	jcs_object_sort(o);
	initStringInfo(&s);
	jcs_serialize(&s, o);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

static Datum
block_jsonb(const TlBlock *b)
{
	StringInfoData s;

	initStringInfo(&s);
	tl_block_json(&s, &b->h, b->block_hash, b->signature, b->entry_hashes);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

/* ----------------------------------------------------------------
 * Quarantine
 * ----------------------------------------------------------------
 */

/*
 * A rejected row with its reason.  Identifying columns may be unknown
 * (NULL) when the row could not even be decoded.  The row itself is one of
 * src (as received), entry or block.
 */
typedef struct QuarantineRow
{
	const char *what;
	const char *origin;
	const int64 *block_no;
	const int64 *tx;
	const int32 *seq;
	const uint8 *entry_hash;
	const char *reason;
	const RowSource *src;
	const TlEntry *entry;
	const TlBlock *block;
	const char *unrecordable;	/* why the row itself could not be kept */
} QuarantineRow;

/* insert a quarantine row (run in a subtransaction, or as the fallback) */
static void
insert_quarantine_row(void *arg)
{
	const QuarantineRow *q = arg;
	int			spi_nest;
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT4OID,
	BYTEAOID, TEXTOID, JSONBOID};
	Datum		values[9];
	char		nulls[9];
	const char *source = quarantine_subscription;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[0] = source ? ' ' : 'n';
	values[1] = CStringGetTextDatum(q->what);
	values[2] = q->origin ? CStringGetTextDatum(q->origin) : (Datum) 0;
	nulls[2] = q->origin ? ' ' : 'n';
	values[3] = q->block_no ? Int64GetDatum(*q->block_no) : (Datum) 0;
	nulls[3] = q->block_no ? ' ' : 'n';
	values[4] = q->tx ? Int64GetDatum(*q->tx) : (Datum) 0;
	nulls[4] = q->tx ? ' ' : 'n';
	values[5] = q->seq ? Int32GetDatum(*q->seq) : (Datum) 0;
	nulls[5] = q->seq ? ' ' : 'n';
	values[6] = q->entry_hash ? PointerGetDatum(tl_bytea_from(q->entry_hash, TL_HASH_LEN)) : (Datum) 0;
	nulls[6] = q->entry_hash ? ' ' : 'n';
	values[7] = CStringGetTextDatum(q->reason);
	if (q->unrecordable)
	{
		StringInfoData s;

		initStringInfo(&s);
		appendStringInfoString(&s, "{\"unrecordable\":");
		jcs_append_string(&s, q->unrecordable, strlen(q->unrecordable));
		appendStringInfoChar(&s, '}');
		values[8] = DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
	}
	else if (q->src)
		values[8] = source_jsonb(q->src);
	else if (q->entry)
		values[8] = entry_jsonb(q->entry);
	else
		values[8] = block_jsonb(q->block);

	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("INSERT INTO tracelink.quarantine"
							  " (source, what, origin, block_no, tx, seq, entry_hash, reason, row_data)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							  9, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a quarantined row");
	tl_spi_finish(spi_nest);
}

/*
 * Is q the row retry_quarantined() is reading back, refused again?  Then
 * its reason is kept for retry_quarantined().  The first refusal of a
 * block is its own: blocks after it are refused only once it was applied.
 */
static bool
retry_target_refused(const QuarantineRow *q)
{
	RetryTarget *t = &retry_target;

	if (!t->active || strcmp(q->what, t->what) != 0 || t->reason != NULL)
		return false;
	if (t->has_hash && q->entry_hash != NULL && memcmp(q->entry_hash, t->hash, TL_HASH_LEN) != 0)
		return false;
	t->reason = MemoryContextStrdup(t->cxt, q->reason);
	t->refused_in = GetCurrentSubTransactionId();
	return true;
}

/* a subtransaction that refused the retried row rolled back: forget it */
static void
retry_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && retry_target.active &&
		retry_target.reason != NULL && retry_target.refused_in >= mySubid)
	{
		pfree(retry_target.reason);
		retry_target.reason = NULL;
	}
}

/* from tl_apply_init(), at _PG_init */
void
tl_quarantine_init(void)
{
	RegisterSubXactCallback(retry_subxact_callback, NULL);
}

/*
 * Record a rejected row with its reason.  The row is kept as received; if
 * that fails (a row jsonb cannot hold, say), the identifying columns and
 * the reason are kept, with why the row could not be: the quarantine never
 * stops replication over what a peer sent.
 */
static void
quarantine(QuarantineRow *q)
{
	ErrorData  *failure;

	if (retry_target_refused(q))
		return;
	failure = tl_run_in_subtransaction(insert_quarantine_row, q);

	if (failure != NULL)
	{
		q->unrecordable = psprintf("the row could not be recorded: %s", failure->message);
		insert_quarantine_row(q);
	}
	ereport(LOG,
			(errmsg("tracelink quarantined a %s from origin \"%s\": %s",
					q->what, q->origin ? q->origin : "?", q->reason)));
}

/* a valid origin for a quarantine row, or NULL */
const char *
tl_known_origin(const char *origin)
{
	return origin != NULL && tl_valid_node_name(origin) ? origin : NULL;
}

/*
 * Record a row as received (src) that is refused before it was understood
 * as a block or an entry.
 */
void
tl_quarantine_source(const char *what, const char *origin, const char *reason,
				  const RowSource *src)
{
	QuarantineRow q = {0};

	q.what = what;
	q.origin = tl_known_origin(origin);
	q.reason = reason;
	q.src = src;
	quarantine(&q);
}

/*
 * An entry is in the ledger but its projector refused its effect.
 */
void
tl_quarantine_effect(const TlEntry *e, const char *reason)
{
	QuarantineRow q = {0};

	q.what = "effect";
	q.origin = e->origin;
	q.tx = &e->tx;
	q.seq = &e->seq;
	q.entry_hash = e->hash;
	q.reason = reason;
	q.entry = e;
	quarantine(&q);
}

/*
 * An entry refused: kept as received if src is given, else as decoded.
 */
static void
quarantine_entry_row(const TlEntry *e, const char *reason, const RowSource *src)
{
	QuarantineRow q = {0};

	q.what = "entry";
	q.origin = tl_known_origin(e->origin);
	q.tx = &e->tx;
	q.seq = &e->seq;
	q.entry_hash = e->hash;
	q.reason = reason;
	q.src = src;
	q.entry = e;
	quarantine(&q);
}

/* an entry refused by a check */
void
tl_quarantine_entry(const TlEntry *e, const char *reason)
{
	quarantine_entry_row(e, reason, NULL);
}

/* an entry refused before it was checked (its origin may not send it) */
void
tl_quarantine_entry_as_received(const TlEntry *e, const char *reason, const RowSource *src)
{
	quarantine_entry_row(e, reason, src);
}

/*
 * A block refused, its row as received if src is given; the entries that
 * wait for it are apply.c's business.
 */
void
tl_quarantine_block_only(const TlBlock *b, const char *reason, const RowSource *src)
{
	QuarantineRow q = {0};

	q.what = "block";
	q.origin = tl_known_origin(b->h.origin);
	q.block_no = &b->h.block_no;
	q.tx = &b->h.tx;
	q.reason = reason;
	q.src = src;
	q.block = b;
	quarantine(&q);
}

/* ----------------------------------------------------------------
 * Notifications
 * ----------------------------------------------------------------
 */

/*
 * AFTER INSERT trigger on tracelink.quarantine (ENABLE ALWAYS: apply
 * workers run as replicas): every row put in quarantine, by any path, is
 * announced on channel tracelink_quarantine with its id and what it is
 * (ids only, as for tracelink_equivocation: any login may LISTEN).  A row
 * that retry_quarantined() puts back was announced when it first came.
 */
Datum
tl_quarantine_notify(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	bool		isnull;
	Datum		id;
	Datum		what;
	StringInfoData note;
	char	   *what_text;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tl_quarantine_notify: not called by trigger manager");
	if (putting_back)
		return PointerGetDatum(NULL);
	desc = RelationGetDescr(trigdata->tg_relation);
	id = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "id"), desc, &isnull);
	what = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "what"), desc, &isnull);
	what_text = TextDatumGetCString(what);
	initStringInfo(&note);
	appendStringInfo(&note, "{\"id\":" INT64_FORMAT ",\"what\":", DatumGetInt64(id));
	jcs_append_string(&note, what_text, strlen(what_text));
	appendStringInfoChar(&note, '}');
	Async_Notify("tracelink_quarantine", note.data);
	return PointerGetDatum(NULL);
}

/* ----------------------------------------------------------------
 * Retrying quarantined rows
 * ----------------------------------------------------------------
 */

/* how a quarantined row can be read back */
typedef enum RetryForm
{
	FORM_NONE,					/* not kept (unrecordable), or not a ledger row */
	FORM_ROW,					/* a ledger table row as received */
	FORM_LINE,					/* an export line as received */
	FORM_ENTRY,					/* an entry as decoded (entry_jsonb) */
	FORM_BLOCK,					/* a block as decoded (block_jsonb: a line) */
	FORM_EFFECT					/* an entry in the ledger without effect */
} RetryForm;

typedef struct RetryRow
{
	int64		id;
	char	   *what;
	char	   *origin;
	char	   *source;
	char	   *reason;
	bool		retryable;
	bool		has_tx;
	int64		tx;
	bool		has_hash;
	uint8		hash[TL_HASH_LEN];
	/* during and after the retry */
	char	   *saved;			/* the row as to_jsonb text, to put back */
	RetryForm	form;
	char	   *data;			/* row_data as text */
	RowIdentity ident;
	const char *outcome;
	char	   *detail;
} RetryRow;

static char *
spi_text(int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? NULL : TextDatumGetCString(d);
}

/* the rows the filters select, in the order they are retried */
static List *
select_rows(Datum ids, bool ids_null, Datum origin, bool origin_null, Datum reason, bool reason_null)
{
	int			spi_nest;
	Oid			types[3] = {INT8ARRAYOID, TEXTOID, TEXTOID};
	Datum		args[3] = {ids, origin, reason};
	char		nulls[3] = {ids_null ? 'n' : ' ', origin_null ? 'n' : ' ', reason_null ? 'n' : ' '};
	List	   *rows = NIL;
	MemoryContext caller = CurrentMemoryContext;
	uint64		i;

	spi_nest = tl_spi_connect();

	/*
	 * Blocks first, in chain order, so that entries find theirs; effects
	 * last, once the entries they may wait for are in.
	 */
	if (SPI_execute_with_args("SELECT q.id, q.what, q.origin, q.source, q.reason,"
							  "       tracelink.quarantine_retryable(q.what, q.reason, coalesce(q.id = ANY ($1), false)),"
							  "       q.tx, q.entry_hash"
							  "  FROM tracelink.quarantine q"
							  " WHERE ($1 IS NULL OR q.id = ANY ($1))"
							  "   AND ($2 IS NULL OR q.origin = $2)"
							  "   AND ($3 IS NULL OR q.reason LIKE $3)"
							  " ORDER BY CASE q.what WHEN 'block' THEN 0 WHEN 'entry' THEN 1"
							  "                      WHEN 'effect' THEN 2 ELSE 3 END,"
							  "          q.origin, q.block_no, q.id",
							  3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the quarantine");
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(caller);
		RetryRow   *r = palloc0(sizeof(RetryRow));
		bool		isnull;
		Datum		d;

		r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->what = SPI_getvalue(tup, desc, 2);
		r->origin = SPI_getvalue(tup, desc, 3);
		r->source = SPI_getvalue(tup, desc, 4);
		r->reason = SPI_getvalue(tup, desc, 5);
		r->retryable = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		d = SPI_getbinval(tup, desc, 7, &isnull);
		r->has_tx = !isnull;
		if (!isnull)
			r->tx = DatumGetInt64(d);
		r->has_hash = tl_fixed_bytea(tup, desc, 8, r->hash, TL_HASH_LEN);
		rows = lappend(rows, r);
		MemoryContextSwitchTo(old);
	}
	tl_spi_finish(spi_nest);
	return rows;
}

/*
 * An entry quarantined because its block was: retried only once a block
 * of its (origin, tx) is in the ledger or waits in the inbox.  Otherwise it
 * would wait in the inbox for a block that is itself refused.
 */
static bool
block_of_entry_here(const RetryRow *r)
{
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	bool		isnull;
	bool		here;

	if (r->origin == NULL || !r->has_tx)
		return false;
	args[0] = CStringGetTextDatum(r->origin);
	args[1] = Int64GetDatum(r->tx);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM tracelink.ledger_blocks WHERE origin = $1 AND tx = $2)"
							  "    OR EXISTS (SELECT 1 FROM tracelink.inbox_blocks WHERE origin = $1 AND tx = $2)",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a block");
	here = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);
	return here;
}

/*
 * Take a row out of the quarantine to retry it: keep it (to put it back
 * under its own id) and its data, and how the data reads back.
 */
static void
take_out(RetryRow *r, MemoryContext cxt)
{
	int			spi_nest;
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(r->id)};
	bool		isnull;
	char	   *form;
	MemoryContext old;

	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("DELETE FROM tracelink.quarantine q WHERE q.id = $1"
							  " RETURNING pg_catalog.to_jsonb(q.*)::text,"
							  "   CASE WHEN q.what = 'effect' THEN 'effect'"
							  "        WHEN q.row_data ? 'unrecordable' THEN 'none'"
							  "        WHEN q.row_data ? 'line' THEN 'line'"
							  "        WHEN q.what = 'block' AND q.row_data ? 'type' THEN 'block'"
							  "        WHEN q.what = 'entry'"
							  "         AND NOT pg_catalog.starts_with(q.row_data ->> 'entry_hash', '\\x') THEN 'entry'"
							  "        WHEN q.what IN ('entry', 'block') THEN 'row'"
							  "        ELSE 'none' END,"
							  "   CASE WHEN q.row_data ? 'line' THEN q.row_data ->> 'line'"
							  "        WHEN q.what = 'block' AND q.row_data ? 'type' THEN tracelink.jcs(q.row_data)"
							  "        ELSE q.row_data::text END",
							  1, types, args, NULL, false, 1) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not take a row out of the quarantine");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("quarantined row " INT64_FORMAT " is gone", r->id)));
	old = MemoryContextSwitchTo(cxt);
	r->saved = spi_text(1, &isnull);
	form = spi_text(2, &isnull);
	r->data = spi_text(3, &isnull);
	MemoryContextSwitchTo(old);
	r->form = strcmp(form, "effect") == 0 ? FORM_EFFECT :
		strcmp(form, "line") == 0 ? FORM_LINE :
		strcmp(form, "block") == 0 ? FORM_BLOCK :
		strcmp(form, "entry") == 0 ? FORM_ENTRY :
		strcmp(form, "row") == 0 ? FORM_ROW : FORM_NONE;
	tl_spi_finish(spi_nest);
}

/* Put a row back in the quarantine, under its own id, with a reason. */
static void
put_back(const RetryRow *r, const char *reason)
{
	int			spi_nest;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];

	args[0] = CStringGetTextDatum(r->saved);
	args[1] = CStringGetTextDatum(reason);
	spi_nest = tl_spi_connect();
	putting_back = true;
	PG_TRY();
	{
		if (SPI_execute_with_args("INSERT INTO tracelink.quarantine"
								  " SELECT (pg_catalog.jsonb_populate_record(NULL::tracelink.quarantine,"
								  "   $1::jsonb || pg_catalog.jsonb_build_object('reason', $2))).*",
								  2, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not put a row back in the quarantine");
	}
	PG_FINALLY();
	{
		putting_back = false;
	}
	PG_END_TRY();
	tl_spi_finish(spi_nest);
}

/*
 * Read the row back and hand it to the apply path, as it came (run in a
 * subtransaction: reading back may fail on what a peer sent).
 */
static void
feed(void *arg)
{
	RetryRow   *r = arg;
	int			spi_nest;
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(r->data);
	switch (r->form)
	{
		case FORM_LINE:
		case FORM_BLOCK:
			{
				RowSource	src = {NULL, NULL, r->data, strlen(r->data)};

				tl_receive_line(&src, &r->ident);
				break;
			}
		case FORM_ROW:
		case FORM_ENTRY:
			{
				bool		is_block = strcmp(r->what, "block") == 0;
				RowSource	src = {NULL, NULL, NULL, 0};
				const char *sql;

				if (r->form == FORM_ENTRY)
					sql = "SELECT r ->> 'origin', (r ->> 'tx')::bigint, (r ->> 'seq')::integer,"
						"       r ->> 'kind', r ->> 'payload',"
						"       ARRAY(SELECT pg_catalog.decode(d, 'hex')"
						"               FROM pg_catalog.jsonb_array_elements_text(r -> 'deps')"
						"                    WITH ORDINALITY AS x(d, n) ORDER BY n),"
						"       CASE WHEN r ? 'audience' THEN"
						"            ARRAY(SELECT a FROM pg_catalog.jsonb_array_elements_text(r -> 'audience')"
						"                         WITH ORDINALITY AS x(a, n) ORDER BY n) END,"
						"       pg_catalog.decode(r ->> 'entry_hash', 'hex')"
						"  FROM (SELECT $1::jsonb AS r) s";
				else if (is_block)
					sql = "SELECT (pg_catalog.jsonb_populate_record(NULL::tracelink.ledger_blocks, $1::jsonb)).*";
				else
					sql = "SELECT (pg_catalog.jsonb_populate_record(NULL::tracelink.ledger_entries, $1::jsonb)).*";
				spi_nest = tl_spi_connect();
				if (SPI_execute_with_args(sql, 1, types, args, NULL, true, 1) != SPI_OK_SELECT ||
					SPI_processed != 1)
					elog(ERROR, "could not read a quarantined row back");
				src.tup = SPI_tuptable->vals[0];
				src.desc = SPI_tuptable->tupdesc;
				tl_receive_row(&src, is_block, &r->ident);
				tl_spi_finish(spi_nest);
				break;
			}
		case FORM_EFFECT:
			{
				TlEntry		e;

				args[0] = PointerGetDatum(tl_bytea_from(r->hash, TL_HASH_LEN));
				types[0] = BYTEAOID;
				spi_nest = tl_spi_connect();
				if (SPI_execute_with_args("SELECT * FROM tracelink.ledger_entries WHERE entry_hash = $1",
										  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
					elog(ERROR, "could not look up an entry");
				if (SPI_processed == 1)
				{
					tl_read_entry(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &e);
					r->ident.known = true;
					strlcpy(r->ident.origin, e.origin, NAMEDATALEN);
					memcpy(r->ident.hash, e.hash, TL_HASH_LEN);
					tl_apply_effect(&e);
				}
				tl_spi_finish(spi_nest);
				break;
			}
		case FORM_NONE:
			break;
	}
}

/* After the retries: what became of a row that was not refused again. */
static void
settle(RetryRow *r)
{
	int			spi_nest;
	Oid			types[3] = {BYTEAOID, TEXTOID, INT8OID};
	Datum		args[3];
	bool		isnull;
	bool		in_ledger;
	bool		queued;
	char	   *refused;

	args[0] = PointerGetDatum(tl_bytea_from(r->ident.hash, TL_HASH_LEN));
	args[1] = CStringGetTextDatum(r->ident.origin);
	args[2] = Int64GetDatum(r->ident.block_no);
	spi_nest = tl_spi_connect();
	if (r->ident.is_block)
	{
		if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM tracelink.ledger_blocks"
								  "                WHERE origin = $2 AND block_no = $3 AND block_hash = $1),"
								  "       false, NULL::text",
								  3, types, args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up a block");
	}
	else if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM tracelink.ledger_entries WHERE entry_hash = $1),"
								   "       EXISTS (SELECT 1 FROM tracelink.apply_queue WHERE entry_hash = $1),"
								   "       (SELECT q.id || ': ' || q.reason FROM tracelink.quarantine q"
								   "         WHERE q.what = 'effect' AND q.entry_hash = $1 ORDER BY q.id LIMIT 1)",
								   1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up an entry");
	in_ledger = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	queued = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	refused = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	tl_spi_finish(spi_nest);

	if (r->ident.is_block)
	{
		r->outcome = in_ledger ? "applied" : "waiting";
		r->detail = in_ledger ? NULL : "the block waits for its predecessor (inbox_blocks)";
	}
	else if (!in_ledger)
	{
		r->outcome = "waiting";
		r->detail = "the entry waits for its block (inbox_entries)";
	}
	else if (queued)
	{
		r->outcome = "waiting";
		r->detail = "in the ledger; its effect waits for its dependencies (apply_queue)";
	}
	else if (refused != NULL)
	{
		r->outcome = "applied";
		r->detail = psprintf("in the ledger, but its effect was refused: quarantine row %s", refused);
	}
	else
	{
		r->outcome = "applied";
		r->detail = NULL;
	}
}

/* Retry one row: take it out, read it back through the apply path. */
static void
retry_row(RetryRow *r, MemoryContext cxt)
{
	ErrorData  *failure;

	if (!r->retryable)
	{
		r->outcome = "not retried";
		r->detail = psprintf(strcmp(r->what, "effect") == 0 ?
							 "permanent unless named by id: %s" : "permanent: %s", r->reason);
		return;
	}
	if (strcmp(r->what, "entry") == 0 && strncmp(r->reason, "its block ", 10) == 0 &&
		!block_of_entry_here(r))
	{
		r->outcome = "quarantined";
		r->detail = r->reason;
		return;
	}
	take_out(r, cxt);
	if (r->form == FORM_NONE)
	{
		put_back(r, r->reason);
		r->outcome = "not retried";
		r->detail = "the row itself was not kept";
		return;
	}

	memset(&retry_target, 0, sizeof(retry_target));
	retry_target.what = r->what;
	retry_target.has_hash = r->has_hash;
	memcpy(retry_target.hash, r->hash, TL_HASH_LEN);
	retry_target.cxt = cxt;
	retry_target.active = true;
	tl_apply_set_source(r->source);
	failure = tl_run_in_subtransaction(feed, r);
	tl_apply_set_source(NULL);
	retry_target.active = false;

	if (failure != NULL)
		r->detail = psprintf("row could not be processed: %s", failure->message);
	else if (retry_target.reason != NULL)
		r->detail = retry_target.reason;
	else if (!r->ident.known)
		r->detail = r->reason;
	else
	{
		/* applied or waiting: settled once every row is retried */
		ereport(LOG,
				(errmsg("tracelink released quarantined %s " INT64_FORMAT " from origin \"%s\"",
						r->what, r->id, r->ident.origin)));
		return;
	}
	put_back(r, r->detail);
	r->outcome = "quarantined";
}

/*
 * tracelink.retry_quarantined(ids bigint[], origin text, reason_like text)
 *	  returns table(id, what, origin, outcome, reason)
 *
 * Quarantined rows (all, or those the filters select) whose reason is one
 * a fixed cause can lift (tracelink.quarantine_retryable(); effects only
 * when named by id) go through the
 * apply path again, exactly as when they arrived: through the same
 * subscription's checks (source), block.c's, the projectors.  A row that
 * passes leaves the quarantine (applied, or waiting like any row that
 * arrives early); one refused again goes back under its own id with the
 * new reason.  Others are left as they are.
 */
Datum
tl_retry_quarantined(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *volatile rows = NIL;
	ListCell   *lc;
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext row_cxt;

	InitMaterializedSRF(fcinfo, 0);
	if (tl_local_node() == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));
	tl_require_apply_lock_first("tracelink.retry_quarantined()");
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("tracelink.retry_quarantined() cannot run in a repeatable read or serializable transaction"),
				 errdetail("Rows take effect against the latest committed state, which such a transaction does not see."),
				 errhint("Call it in a read committed transaction.")));
	if (retry_target.active)
		elog(ERROR, "tracelink.retry_quarantined() is already running");

	/* rows are applied as replicated rows are, by the extension's owner */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		tl_apply_begin();
		rows = select_rows(PG_GETARG_DATUM(0), PG_ARGISNULL(0),
						   PG_GETARG_DATUM(1), PG_ARGISNULL(1),
						   PG_GETARG_DATUM(2), PG_ARGISNULL(2));
		/* what one row allocates (its data, decoding it) goes with it */
		row_cxt = AllocSetContextCreate(cxt, "tracelink retried row", ALLOCSET_DEFAULT_SIZES);
		foreach(lc, rows)
		{
			RetryRow   *r = lfirst(lc);
			MemoryContext old = MemoryContextSwitchTo(row_cxt);

			retry_row(r, row_cxt);
			MemoryContextSwitchTo(old);
			if (r->detail != NULL)
				r->detail = MemoryContextStrdup(cxt, r->detail);
			r->saved = r->data = NULL;
			MemoryContextReset(row_cxt);
		}
		MemoryContextDelete(row_cxt);
		foreach(lc, rows)
		{
			RetryRow   *r = lfirst(lc);

			if (r->outcome == NULL)
				settle(r);
		}
	}
	PG_FINALLY();
	{
		retry_target.active = false;
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();

	foreach(lc, rows)
	{
		RetryRow   *r = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int64GetDatum(r->id);
		values[1] = CStringGetTextDatum(r->what);
		values[2] = r->origin ? CStringGetTextDatum(r->origin) : (Datum) 0;
		nulls[2] = r->origin == NULL;
		values[3] = CStringGetTextDatum(r->outcome);
		values[4] = r->detail ? CStringGetTextDatum(r->detail) : (Datum) 0;
		nulls[4] = r->detail == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
