/*-------------------------------------------------------------------------
 *
 * project.c
 *	  Applying ledger entries to the projected state.
 *
 * The ledger is the only source of truth; the other tables are projections
 * of it, and every node that holds the same entries must hold the same
 * projections.  Each reserved kind ("tl.*") has a projector that applies it;
 * the same projector runs on the node that appended the entry (at once) and
 * on every node that receives it (once its block is verified).
 *
 * An entry takes effect only after the entries it depends on: a received
 * entry whose dependencies have not taken effect yet waits in
 * tracelink.apply_queue and is applied, in turn, by the entry that completes
 * them.  Projectors must not depend on arrival order otherwise: outcomes are
 * a function of the set of entries.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"

/* A projector applies one kind of entry */
typedef void (*TlProjector) (const TlEntry *e, JcsValue *payload, bool local);

typedef struct TlProjection
{
	const char *kind;
	TlProjector apply;
} TlProjection;

/* Kinds whose projection is the ledger itself (heads, key chain) */
static void
project_nothing(const TlEntry *e, JcsValue *payload, bool local)
{
}

static const TlProjection projections[] = {
	{"tl.genesis", project_nothing},
	{"tl.key_rotation", project_nothing},
	{NULL, NULL}
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
	Oid			types[1] = {BYTEAARRAYOID};
	Datum		args[1];
	bool		isnull;
	int64		missing;

	if (e->ndeps == 0)
		return true;
	args[0] = hashes_array(e->deps, e->ndeps);
	SPI_connect();
	if (SPI_execute_with_args("SELECT count(*) FROM unnest($1) d"
							  " WHERE NOT EXISTS (SELECT 1 FROM tracelink.ledger_entries e WHERE e.entry_hash = d)"
							  "    OR EXISTS (SELECT 1 FROM tracelink.apply_queue q WHERE q.entry_hash = d)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not check the dependencies of an entry");
	missing = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return missing == 0;
}

static void
run_projector(const TlEntry *e, bool local)
{
	const TlProjection *p;

	for (p = projections; p->kind != NULL; p++)
	{
		if (strcmp(p->kind, e->kind) == 0)
		{
			p->apply(e, jcs_parse(e->payload, e->payload_len), local);
			return;
		}
	}
}

/*
 * Entries that waited for `hash` and can now take effect.
 */
static void
release_waiting(const uint8 *hash)
{
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	SPITupleTable *waiting;
	uint64		n;
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = PointerGetDatum(tl_bytea_from(hash, TL_HASH_LEN));
	SPI_connect();
	if (SPI_execute_with_args("SELECT e.* FROM tracelink.apply_queue q"
							  "  JOIN tracelink.ledger_entries e ON e.entry_hash = q.entry_hash"
							  " WHERE $1 = ANY (q.waiting_for) ORDER BY q.queued_at, e.origin, e.tx, e.seq",
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
		/* it stays queued until all of its dependencies have taken effect */
		SPI_execute_with_args("DELETE FROM tracelink.apply_queue WHERE entry_hash = $1",
							  1, types, (Datum[]) {PointerGetDatum(tl_bytea_from(e.hash, TL_HASH_LEN))},
							  NULL, false, 0);
		tl_project_entry(&e, false);
	}
	SPI_finish();
}

/*
 * Give an entry its effect: now if its dependencies have taken effect (a
 * local entry's always have), else once they have.
 */
void
tl_project_entry(const TlEntry *e, bool local)
{
	if (!local && !dependencies_applied(e))
	{
		Oid			types[5] = {BYTEAOID, TEXTOID, INT8OID, INT4OID, BYTEAARRAYOID};
		Datum		args[5];

		args[0] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
		args[1] = CStringGetTextDatum(e->origin);
		args[2] = Int64GetDatum(e->tx);
		args[3] = Int32GetDatum(e->seq);
		args[4] = hashes_array(e->deps, e->ndeps);
		SPI_connect();
		if (SPI_execute_with_args("INSERT INTO tracelink.apply_queue (entry_hash, origin, tx, seq, waiting_for)"
								  " VALUES ($1, $2, $3, $4, $5)",
								  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not queue an entry");
		SPI_finish();
		return;
	}
	run_projector(e, local);
	if (!local)
		release_waiting(e->hash);
}
