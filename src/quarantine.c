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
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "apply_int.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

/* subscription of the apply transaction under way, or NULL */
static const char *quarantine_subscription = NULL;

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
 * Record a rejected row with its reason.  The row is kept as received; if
 * that fails (a row jsonb cannot hold, say), the identifying columns and
 * the reason are kept, with why the row could not be: the quarantine never
 * stops replication over what a peer sent.
 */
static void
quarantine(QuarantineRow *q)
{
	ErrorData  *failure = tl_run_in_subtransaction(insert_quarantine_row, q);

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
