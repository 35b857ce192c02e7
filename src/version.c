/*-------------------------------------------------------------------------
 *
 * version.c
 *	  tracelink.versions(): the SQL version installed in this database and
 *	  the version of the loaded library.
 *
 * One library serves every SQL version it can be upgraded from
 * (docs/upgrades.md): a database may run an older SQL version than the
 * library until ALTER EXTENSION tracelink UPDATE.  The library's version,
 * TL_LIBRARY_VERSION, is the newest SQL version it serves, given by the
 * Makefile from tracelink.control.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tracelink.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#ifndef TL_LIBRARY_VERSION
#error "TL_LIBRARY_VERSION is defined by the Makefile"
#endif

PG_FUNCTION_INFO_V1(tl_versions);

/*
 * tracelink.versions(OUT extension text, OUT library text)
 *
 * pg_extension.extversion is read through the name index, as
 * tl_extension_owner() reads the owner.
 */
Datum
tl_versions(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("tracelink"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "tracelink is not installed in this database");
	values[0] = heap_getattr(tuple, Anum_pg_extension_extversion,
							 RelationGetDescr(rel), &nulls[0]);
	if (!nulls[0])
		values[0] = PointerGetDatum(DatumGetTextPCopy(values[0]));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	values[1] = CStringGetTextDatum(TL_LIBRARY_VERSION);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
