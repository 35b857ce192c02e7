/*-------------------------------------------------------------------------
 *
 * trace_query.c
 *	  Provenance: the codes upstream and downstream of a trace code, and
 *	  every record of them (tracelink.trace, tracelink._provenance).
 *
 * The walk follows effective transformations breadth-first in both
 * directions with direct index scans (transformations_child for parents,
 * transformations_parent for children), so a code's depth is its shortest
 * distance and a code reached twice is visited once.  trace() then reads
 * each code's records through records_code and the few record slots
 * through their primary key.  Doing this in C rather than as one SQL
 * statement avoids planning a recursive query on every call, which cost
 * more than the walk itself (docs/benchmarks.md).
 *
 *-------------------------------------------------------------------------
 */
#include "trace_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(tl_trace);
PG_FUNCTION_INFO_V1(tl_trace_bound);
PG_FUNCTION_INFO_V1(tl_trace_provenance);
PG_FUNCTION_INFO_V1(tl_trace_start);

/* a code reached by the walk */
typedef struct Reached
{
	int64		code_id;		/* hash key */
	int32		depth;			/* < 0 upstream, 0 the code itself, > 0 downstream */
} Reached;

/* columns used here (sqlsrc/70_trace.sql) */
#define CODES_ID		1
#define CODES_LINK		2
#define CODES_CODE		3
#define CODES_VERSION	4
#define EDGES_PARENT	1
#define EDGES_CHILD		2
#define EDGES_EFFECTIVE	5
#define RECORDS_OCCURRED	2
#define RECORDS_RECORDED	3
#define RECORDS_SLOT	4
#define RECORDS_POSITION	5
#define RECORDS_ENTRY	6
#define RECORDS_DATA	7
#define RECORDS_COMMITMENTS	8
#define PRIVATE_ITEM	3
#define PRIVATE_VALUE	4

/* refuse unless the caller may read the table (the scans below bypass the executor) */
static Relation
open_readable(const char *name)
{
	Relation	rel = table_open(tl_relid(name), AccessShareLock);
	AclResult	acl = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(rel));
	return rel;
}

/*
 * Walk one direction from the start through an index on the column
 * searched (transformations_child to go up, transformations_parent to go
 * down), following column `other`.  Codes first seen in this direction get
 * depth sign * distance; returns them in the order reached.
 */
static List *
walk(Relation edges, Oid indexoid, AttrNumber other, int64 start, int sign, HTAB *seen)
{
	List	   *frontier = list_make1(palloc(sizeof(int64)));
	List	   *reached = NIL;
	int			distance = 0;
	Snapshot	snapshot = GetActiveSnapshot();
	Relation	index = index_open(indexoid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(edges, NULL);
	IndexScanDesc scan = index_beginscan(edges, index, snapshot, 1, 0);

	*(int64 *) linitial(frontier) = start;
	while (frontier != NIL)
	{
		List	   *next = NIL;
		ListCell   *lc;

		distance++;
		foreach(lc, frontier)
		{
			ScanKeyData skey;

			ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ,
						Int64GetDatum(*(int64 *) lfirst(lc)));
			index_rescan(scan, &skey, 1, NULL, 0);
			while (index_getnext_slot(scan, ForwardScanDirection, slot))
			{
				bool		isnull;
				int64		id;
				Reached    *r;
				bool		found;

				if (!DatumGetBool(slot_getattr(slot, EDGES_EFFECTIVE, &isnull)))
					continue;
				id = DatumGetInt64(slot_getattr(slot, other, &isnull));
				r = hash_search(seen, &id, HASH_ENTER, &found);
				if (found)
					continue;	/* the start, or reached by a shorter way */
				r->depth = sign * distance;
				reached = lappend(reached, r);
				{
					int64	   *p = palloc(sizeof(int64));

					*p = id;
					next = lappend(next, p);
				}
			}
			CHECK_FOR_INTERRUPTS();
		}
		list_free_deep(frontier);
		frontier = next;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	return reached;
}

/*
 * The start and every code upstream and downstream of it, start first,
 * then upstream, then downstream, each in the order reached.
 */
static List *
provenance(int64 start)
{
	HASHCTL		ctl;
	HTAB	   *seen;
	Relation	edges = open_readable("transformations");
	Reached    *self;
	bool		found;
	List	   *up;
	List	   *down;
	List	   *all;
	ListCell   *lc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(Reached);
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("tracelink provenance", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	self = hash_search(seen, &start, HASH_ENTER, &found);
	self->depth = 0;
	up = walk(edges, tl_relid("transformations_child"), EDGES_PARENT, start, -1, seen);
	down = walk(edges, tl_relid("transformations_parent"), EDGES_CHILD, start, 1, seen);
	table_close(edges, AccessShareLock);

	/* copies: the hash table's entries move when it grows */
	all = NIL;
	{
		Reached    *r = palloc(sizeof(Reached));

		*r = *self;
		all = lappend(all, r);
	}
	foreach(lc, list_concat(up, down))
	{
		Reached    *r = palloc(sizeof(Reached));
		Reached    *entry = hash_search(seen, &((Reached *) lfirst(lc))->code_id, HASH_FIND, NULL);

		*r = *entry;
		all = lappend(all, r);
	}
	return all;
}

/* upstream, self or downstream, from the sign of a depth. */
static const char *
relation_of(int32 depth)
{
	return depth < 0 ? "upstream" : (depth > 0 ? "downstream" : "self");
}

/*
 * tracelink._provenance(start bigint)
 *	returns table (code_id bigint, relation text, depth integer)
 */
Datum
tl_trace_provenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, provenance(PG_GETARG_INT64(0)))
	{
		Reached    *r = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int64GetDatum(r->code_id);
		values[1] = CStringGetTextDatum(relation_of(r->depth));
		values[2] = Int32GetDatum(r->depth);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * trace()
 * ----------------------------------------------------------------
 */

/* where records were made, by slot id */
typedef struct SlotInfo
{
	int32		slot_id;		/* hash key */
	int32		version;
	Datum		link_name;
	Datum		process;
	Datum		stage;
	Datum		form;
	Datum		origin;
	Datum		source;
} SlotInfo;

/* one output row before sorting */
typedef struct TraceRow
{
	Reached    *code;
	char	   *code_text;
	int32		bound_version;	/* the version the code is bound to */
	TimestampTz occurred_at;
	TimestampTz recorded_at;
	int32		slot_id;
	int32		position;
	bytea	   *entry_hash;
	Datum		data;
	Datum		commitments;	/* 0 when the record has none */
} TraceRow;

/* trace()'s order: depth, code, time, entry, position. */
static int
row_cmp(const void *a, const void *b)
{
	const TraceRow *x = a;
	const TraceRow *y = b;
	int			c;

	if (x->code->depth != y->code->depth)
		return x->code->depth < y->code->depth ? -1 : 1;
	if ((c = strcmp(x->code_text, y->code_text)) != 0)
		return c;
	if (x->occurred_at != y->occurred_at)
		return x->occurred_at < y->occurred_at ? -1 : 1;
	if ((c = memcmp(VARDATA_ANY(x->entry_hash), VARDATA_ANY(y->entry_hash), TL_HASH_LEN)) != 0)
		return c;
	return x->position < y->position ? -1 : (x->position > y->position ? 1 : 0);
}

/*
 * The code_id of a trace code (of one link when several use it), or an
 * error: where trace() and tracelink._trace_start() (trace_json(),
 * trace_dot()) start.
 */
static int64
start_code(text *code_arg, text *link_arg)
{
	char	   *code;
	Relation	codes;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	uint8		link_id[TL_HASH_LEN];
	int64		found_id = 0;
	int			found = 0;

	if (code_arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("trace code must not be null")));
	code = text_to_cstring(code_arg);
	if (link_arg != NULL)
		tl_trace_find_link(text_to_cstring(link_arg), false, link_id, NULL);
	codes = open_readable("codes");
	ScanKeyInit(&skey, CODES_CODE, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(code));
	skey.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(codes, tl_relid("codes_code_link"), true, GetActiveSnapshot(), 1, &skey);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		bytea	   *row_link = DatumGetByteaPP(heap_getattr(tup, CODES_LINK, RelationGetDescr(codes), &isnull));

		if (link_arg != NULL &&
			(VARSIZE_ANY_EXHDR(row_link) != TL_HASH_LEN ||
			 memcmp(VARDATA_ANY(row_link), link_id, TL_HASH_LEN) != 0))
			continue;
		found_id = DatumGetInt64(heap_getattr(tup, CODES_ID, RelationGetDescr(codes), &isnull));
		found++;
	}
	systable_endscan(scan);
	table_close(codes, AccessShareLock);
	if (found == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown trace code \"%s\"", code),
				 link_arg == NULL ?
				 errdetail("No link on this node has a record of it.") :
				 errdetail("Link \"%s\" has no record of it on this node.", text_to_cstring(link_arg))));
	if (found > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("trace code \"%s\" is used by %d links", code, found),
				 errhint("Name the link as well.")));
	return found_id;
}

/*
 * tracelink._trace_start(p_code text, p_link text) returns bigint
 */
Datum
tl_trace_start(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(start_code(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0),
							   PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1)));
}

/*
 * Slots described so far, for the life of the backend: a slot never
 * changes, and its id is never given to another (ids come from a
 * sequence, restored with the rows by pg_dump).  Only new tables (the
 * extension dropped and created again, say for a restore) reuse ids, so
 * the relcache invalidation of record_slots or trace_links (where link
 * names come from) marks the cache stale, and the next slot_info()
 * empties it: the callback may run while a description is in use.
 */
static HTAB *slot_cache = NULL;
static MemoryContext slot_cache_cxt = NULL;
static Oid	slot_cache_relids[2];	/* record_slots, trace_links */
static bool slot_cache_stale = false;

static void
slot_cache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == slot_cache_relids[0] || relid == slot_cache_relids[1])
		slot_cache_stale = true;
}

/* a slot's description: version, names, link name */
static SlotInfo *
slot_info(Relation slot_rel, Relation links, int32 slot_id)
{
	SlotInfo   *si;
	bool		found;

	if (slot_cache != NULL && slot_cache_stale)
	{
		MemoryContextReset(slot_cache_cxt);
		slot_cache = NULL;
	}
	if (slot_cache == NULL)
	{
		HASHCTL		ctl;

		if (slot_cache_cxt == NULL)
		{
			slot_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
												   "tracelink record slots",
												   ALLOCSET_SMALL_SIZES);
			CacheRegisterRelcacheCallback(slot_cache_callback, (Datum) 0);
		}
		slot_cache_relids[0] = RelationGetRelid(slot_rel);
		slot_cache_relids[1] = RelationGetRelid(links);
		slot_cache_stale = false;
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(SlotInfo);
		ctl.hcxt = slot_cache_cxt;
		slot_cache = hash_create("tracelink record slots", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	si = hash_search(slot_cache, &slot_id, HASH_FIND, NULL);
	if (si == NULL)
	{
		SlotInfo	fresh;
		MemoryContext old;
		ScanKeyData skey;
		SysScanDesc scan;
		HeapTuple	tup;
		TupleDesc	desc = RelationGetDescr(slot_rel);
		bool		isnull;
		Datum		link_id;

		ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(slot_id));
		scan = systable_beginscan(slot_rel, tl_relid("record_slots_pkey"), true, GetActiveSnapshot(), 1, &skey);
		tup = systable_getnext(scan);
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "record slot %d is missing", slot_id);
		si = &fresh;
		si->slot_id = slot_id;
		si->version = DatumGetInt32(heap_getattr(tup, 2, desc, &isnull));
		link_id = PointerGetDatum(DatumGetByteaPCopy(heap_getattr(tup, 3, desc, &isnull)));
		old = MemoryContextSwitchTo(slot_cache_cxt);
		si->process = PointerGetDatum(DatumGetTextPCopy(heap_getattr(tup, 4, desc, &isnull)));
		si->stage = PointerGetDatum(DatumGetTextPCopy(heap_getattr(tup, 5, desc, &isnull)));
		si->form = PointerGetDatum(DatumGetTextPCopy(heap_getattr(tup, 6, desc, &isnull)));
		si->origin = PointerGetDatum(DatumGetTextPCopy(heap_getattr(tup, 7, desc, &isnull)));
		si->source = PointerGetDatum(DatumGetTextPCopy(heap_getattr(tup, 8, desc, &isnull)));
		MemoryContextSwitchTo(old);
		systable_endscan(scan);

		ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_BYTEAEQ, link_id);
		scan = systable_beginscan(links, tl_relid("trace_links_pkey"), true, GetActiveSnapshot(), 1, &skey);
		tup = systable_getnext(scan);
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "trace link of record slot %d is missing", slot_id);
		old = MemoryContextSwitchTo(slot_cache_cxt);
		si->link_name = PointerGetDatum(DatumGetTextPCopy(heap_getattr(tup, 2, RelationGetDescr(links), &isnull)));
		MemoryContextSwitchTo(old);
		systable_endscan(scan);
		si = hash_search(slot_cache, &slot_id, HASH_ENTER, &found);
		*si = fresh;
	}
	return si;
}

/*
 * A record's values with the private ones this node holds: public values
 * and, when the caller may read tracelink.private_values, the private
 * values (their commitments are in the record's commitments column
 * either way, so every node shows the same structure).
 */
static Datum
with_private_values(Relation private_rel, Relation private_index, const TraceRow *row)
{
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData skeys[2];
	JcsValue   *tree = NULL;
	bool		isnull;

	ScanKeyInit(&skeys[0], 1, BTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(row->entry_hash));
	ScanKeyInit(&skeys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(row->position));
	scan = index_beginscan(private_rel, private_index, GetActiveSnapshot(), 2, 0);
	slot = table_slot_create(private_rel, NULL);
	index_rescan(scan, skeys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		char	   *item = TextDatumGetCString(slot_getattr(slot, PRIVATE_ITEM, &isnull));
		Jsonb	   *value = DatumGetJsonbP(slot_getattr(slot, PRIVATE_VALUE, &isnull));

		if (tree == NULL)
			tree = jcs_from_jsonb(DatumGetJsonbP(row->data));
		if (jcs_object_get(tree, item) == NULL)
			jcs_object_put(tree, item, jcs_from_jsonb(value));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	if (tree == NULL)
		return row->data;
	jcs_object_sort(tree);
	return JsonbPGetDatum(jcs_to_jsonb(tree));
}

/*
 * tracelink.trace(code text, link text default null)
 *	returns table (code, relation, depth, link, version, process, stage, form,
 *				   data, source, node, occurred_at, recorded_at, entry_hash,
 *				   position, commitments, bound_version)
 *
 * tl_trace_bound since 0.2.0; tl_trace serves 0.1.0's trace(), whose result
 * has the first 16 columns (without bound_version): rows are written with
 * the caller's result descriptor (rsinfo->setDesc), which drops the rest.
 * One library serves every SQL version it upgrades from (docs/upgrades.md).
 */
Datum
tl_trace_bound(PG_FUNCTION_ARGS)
{
	return tl_trace(fcinfo);
}

Datum
tl_trace(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *codes;
	ListCell   *lc;
	Relation	code_rel;
	Relation	records;
	Relation	slot_rel;
	Relation	links;
	Relation	private_rel = NULL;
	Relation	private_index = NULL;
	Relation	code_index;
	Relation	record_index;
	IndexScanDesc code_scan;
	IndexScanDesc record_scan;
	TupleTableSlot *code_slot;
	TupleTableSlot *record_slot;
	TraceRow   *rows;
	int			nrows = 0;
	int			capacity = 64;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	codes = provenance(start_code(PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0),
								  PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1)));

	code_rel = open_readable("codes");
	records = open_readable("records");
	slot_rel = open_readable("record_slots");
	links = open_readable("trace_links");
	/* private values only for roles that may read them (docs/privacy.md) */
	if (pg_class_aclcheck(tl_relid("private_values"), GetUserId(), ACL_SELECT) == ACLCHECK_OK)
	{
		private_rel = table_open(tl_relid("private_values"), AccessShareLock);
		private_index = index_open(tl_relid("private_values_record"), AccessShareLock);
	}
	code_index = index_open(tl_relid("codes_pkey"), AccessShareLock);
	record_index = index_open(tl_relid("records_code"), AccessShareLock);
	code_scan = index_beginscan(code_rel, code_index, GetActiveSnapshot(), 1, 0);
	record_scan = index_beginscan(records, record_index, GetActiveSnapshot(), 1, 0);
	code_slot = table_slot_create(code_rel, NULL);
	record_slot = table_slot_create(records, NULL);
	rows = palloc(sizeof(TraceRow) * capacity);

	foreach(lc, codes)
	{
		Reached    *r = lfirst(lc);
		ScanKeyData skey;
		char	   *code_text;
		int32		bound_version;
		bool		isnull;

		ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(r->code_id));
		index_rescan(code_scan, &skey, 1, NULL, 0);
		if (!index_getnext_slot(code_scan, ForwardScanDirection, code_slot))
			elog(ERROR, "trace code " INT64_FORMAT " is missing", r->code_id);
		code_text = TextDatumGetCString(slot_getattr(code_slot, CODES_CODE, &isnull));
		bound_version = DatumGetInt32(slot_getattr(code_slot, CODES_VERSION, &isnull));

		index_rescan(record_scan, &skey, 1, NULL, 0);
		while (index_getnext_slot(record_scan, ForwardScanDirection, record_slot))
		{
			TraceRow   *row;

			if (nrows == capacity)
				rows = repalloc(rows, sizeof(TraceRow) * (capacity *= 2));
			row = &rows[nrows++];
			row->code = r;
			row->code_text = code_text;
			row->bound_version = bound_version;
			row->occurred_at = DatumGetTimestampTz(slot_getattr(record_slot, RECORDS_OCCURRED, &isnull));
			row->recorded_at = DatumGetTimestampTz(slot_getattr(record_slot, RECORDS_RECORDED, &isnull));
			row->slot_id = DatumGetInt32(slot_getattr(record_slot, RECORDS_SLOT, &isnull));
			row->position = DatumGetInt32(slot_getattr(record_slot, RECORDS_POSITION, &isnull));
			row->entry_hash = DatumGetByteaPCopy(slot_getattr(record_slot, RECORDS_ENTRY, &isnull));
			row->data = PointerGetDatum(PG_DETOAST_DATUM_COPY(slot_getattr(record_slot, RECORDS_DATA, &isnull)));
			row->commitments = slot_getattr(record_slot, RECORDS_COMMITMENTS, &isnull);
			row->commitments = isnull ? (Datum) 0 : PointerGetDatum(PG_DETOAST_DATUM_COPY(row->commitments));
		}
		CHECK_FOR_INTERRUPTS();
	}
	if (nrows > 1)
		qsort(rows, nrows, sizeof(TraceRow), row_cmp);

	for (i = 0; i < nrows; i++)
	{
		TraceRow   *row = &rows[i];
		SlotInfo   *si = slot_info(slot_rel, links, row->slot_id);
		Datum		values[17];
		bool		nulls[17];

		memset(nulls, false, sizeof(nulls));
		values[0] = CStringGetTextDatum(row->code_text);
		values[1] = CStringGetTextDatum(relation_of(row->code->depth));
		values[2] = Int32GetDatum(row->code->depth);
		values[3] = si->link_name;
		values[4] = Int32GetDatum(si->version);
		values[5] = si->process;
		values[6] = si->stage;
		values[7] = si->form;
		values[8] = (row->commitments != (Datum) 0 && private_rel != NULL)
			? with_private_values(private_rel, private_index, row) : row->data;
		values[9] = si->source;
		values[10] = si->origin;
		values[11] = TimestampTzGetDatum(row->occurred_at);
		values[12] = TimestampTzGetDatum(row->recorded_at);
		values[13] = PointerGetDatum(row->entry_hash);
		values[14] = Int32GetDatum(row->position);
		values[15] = row->commitments;
		nulls[15] = row->commitments == (Datum) 0;
		values[16] = Int32GetDatum(row->bound_version);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	index_endscan(code_scan);
	index_endscan(record_scan);
	ExecDropSingleTupleTableSlot(code_slot);
	ExecDropSingleTupleTableSlot(record_slot);
	index_close(code_index, AccessShareLock);
	index_close(record_index, AccessShareLock);
	table_close(code_rel, AccessShareLock);
	table_close(records, AccessShareLock);
	table_close(slot_rel, AccessShareLock);
	table_close(links, AccessShareLock);
	if (private_rel != NULL)
	{
		index_close(private_index, AccessShareLock);
		table_close(private_rel, AccessShareLock);
	}
	return (Datum) 0;
}
