/*-------------------------------------------------------------------------
 *
 * rowwriter.c
 *	  Direct inserts into and updates of tracelink's own tables.
 *
 * The append and seal paths write ledger rows without going through the
 * executor: no plan, no triggers, no per-row SPI.  That is what makes
 * appending nearly as fast as a plain INSERT, and it lets the seal run in the
 * pre-commit callback, where no user code may run.  Rows written here are
 * ordinary heap tuples: WAL-logged, indexed, and published by logical
 * replication like any other.  Only tracelink's own tables, whose indexes are
 * plain column indexes, are written this way.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/table.h"
#include "access/tableam.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

/*
 * Open a writer on a table.  The caller holds no lock yet; RowExclusiveLock
 * is taken here and kept until the end of the transaction.  Resources belong
 * to CurrentResourceOwner and memory to CurrentMemoryContext.
 */
TlRowWriter *
tl_writer_open(Oid relid)
{
	TlRowWriter *w = palloc0(sizeof(TlRowWriter));

	w->rel = table_open(relid, RowExclusiveLock);
	w->estate = CreateExecutorState();
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	ExecOpenIndices(w->rri, false);
	w->slot = MakeSingleTupleTableSlot(RelationGetDescr(w->rel), &TTSOpsVirtual);
	return w;
}

void
tl_writer_close(TlRowWriter *w)
{
	ExecDropSingleTupleTableSlot(w->slot);
	ExecCloseIndices(w->rri);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
	pfree(w);
}

static void
writer_fill_slot(TlRowWriter *w, const Datum *values, const bool *nulls)
{
	int			natts = RelationGetDescr(w->rel)->natts;

	ExecClearTuple(w->slot);
	memcpy(w->slot->tts_values, values, sizeof(Datum) * natts);
	memcpy(w->slot->tts_isnull, nulls, sizeof(bool) * natts);
	ExecStoreVirtualTuple(w->slot);
}

/*
 * Insert one row given as values/nulls in attribute order; unique indexes
 * are enforced.
 */
void
tl_writer_insert(TlRowWriter *w, const Datum *values, const bool *nulls)
{
	writer_fill_slot(w, values, nulls);
	simple_table_tuple_insert(w->rel, w->slot);
	if (w->rri->ri_NumIndices > 0)
		ExecInsertIndexTuples(w->rri, w->slot, w->estate, false, false,
							  NULL, NIL);
	ResetPerTupleExprContext(w->estate);
}

/*
 * Replace the row at `tid` (found by the caller under a lock that excludes
 * concurrent writers of that row).
 */
void
tl_writer_update(TlRowWriter *w, ItemPointer tid, const Datum *values,
				 const bool *nulls, Snapshot snapshot)
{
	bool		update_indexes;

	writer_fill_slot(w, values, nulls);
	simple_table_tuple_update(w->rel, tid, w->slot, snapshot, &update_indexes);

	/*
	 * update = false: "true" only hints bottom-up index deletion, and asks
	 * the executor for the updated columns through a range table this
	 * minimal executor state does not have.
	 */
	if (update_indexes && w->rri->ri_NumIndices > 0)
		ExecInsertIndexTuples(w->rri, w->slot, w->estate, false, false,
							  NULL, NIL);
	ResetPerTupleExprContext(w->estate);
}

/*
 * A writer for the rest of the transaction: memory and resources belong to
 * the top transaction, so that savepoints rolling back do not close it under
 * its user; close it with CurrentResourceOwner set to the top
 * transaction's (pre-commit callbacks do).
 */
TlRowWriter *
tl_writer_open_for_xact(Oid relid)
{
	ResourceOwner save_owner = CurrentResourceOwner;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	TlRowWriter *w;

	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		w = tl_writer_open(relid);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save_owner;
		MemoryContextSwitchTo(old);
	}
	PG_END_TRY();
	return w;
}
