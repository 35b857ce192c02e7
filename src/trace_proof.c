/*-------------------------------------------------------------------------
 *
 * trace_proof.c
 *	  The proof of one trace record against its origin's signed tree head.
 *
 * A record lives inside a ledger entry that holds a batch of records.  Its
 * proof is therefore the entry's exact preimage (whose SHA-256 is the entry
 * hash, and whose payload holds the record at its position) plus the
 * entry's RFC 6962 inclusion proof against a signed tree head of the
 * entry's origin.  tracelink.verify_record_proof() (SQL) checks all of it;
 * docs/trace.md gives the steps for an outside verifier.
 *
 *-------------------------------------------------------------------------
 */
#include "trace_int.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(tl_trace_record_proof);

/* Bytes as a JSON string of lowercase hex. */
static void
append_hex(StringInfo out, const uint8 *data, int len)
{
	char	   *hex = palloc(2 * len + 1);

	tl_hex_encode(data, len, hex);
	appendStringInfo(out, "\"%s\"", hex);
	pfree(hex);
}

/*
 * tracelink.record_proof(entry_hash bytea, position integer) returns jsonb
 *
 * {"entry": the entry's canonical preimage (a string: hash its UTF-8 bytes),
 *  "entry_hash", "leaf_index", "origin", "position", "proof": [sibling
 *  hashes], "record": the record as the entry holds it, "signed_tree_head",
 *  "tree_root", "tree_size"}; hashes in hex.
 *
 * Everything is built in a context of its own, the entry's tree in a
 * shorter-lived one still (freed once the record is serialised), and only
 * the jsonb result is copied to the caller's context: a proof holds its
 * entry twice (payload and preimage), so nothing else should stay.
 */
Datum
tl_trace_record_proof(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	bytea	   *hash_arg = PG_GETARG_BYTEA_PP(0);
	int32		position = PG_GETARG_INT32(1);
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	TlEntry		e;
	StringInfoData pre;
	StringInfoData out;
	StringInfoData record;
	JcsValue   *payload;
	JcsValue   *records;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "tracelink record proof",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext tree_cxt;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	Datum		result;
	int			i;

	if (VARSIZE_ANY_EXHDR(hash_arg) != TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry_hash must be a 32-byte SHA-256 hash")));
	args[0] = PointerGetDatum(hash_arg);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT * FROM tracelink.ledger_entries WHERE entry_hash = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up an entry");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no ledger entry has this hash")));
	MemoryContextSwitchTo(work);
	tl_read_entry(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &e);
	if (strcmp(e.kind, TL_TRACE_KIND) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry is a \"%s\" entry, not a trace entry", e.kind)));
	tree_cxt = AllocSetContextCreate(work, "tracelink record proof entry",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(tree_cxt);
	payload = jcs_parse(e.payload, e.payload_len);
	records = jcs_object_get(payload, "records");
	if (records == NULL || records->kind != JCS_ARRAY || position < 0 ||
		position >= records->u.array.count)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trace entry has no record at position %d", position),
				 errdetail("It holds %d records, at positions from 0.",
						   records && records->kind == JCS_ARRAY ? records->u.array.count : 0)));
	MemoryContextSwitchTo(work);
	initStringInfo(&record);
	jcs_serialize(&record, records->u.array.elems[position]);
	MemoryContextDelete(tree_cxt);

	initStringInfo(&pre);
	tl_entry_preimage(&pre, e.origin, e.tx, e.seq, e.kind, e.payload, e.payload_len,
					  e.deps, e.ndeps, (const char *const *) e.audience, e.naudience);

	if (SPI_execute_with_args("SELECT leaf_index, tree_size, proof, tree_root, signed_tree_head::text"
							  "  FROM tracelink.inclusion_proof($1)",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not prove the inclusion of an entry");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	/* keys in RFC 8785 order */
	MemoryContextSwitchTo(work);
	initStringInfo(&out);
	appendStringInfoString(&out, "{\"entry\":");
	jcs_append_string(&out, pre.data, pre.len);
	pfree(pre.data);
	appendStringInfoString(&out, ",\"entry_hash\":");
	append_hex(&out, e.hash, TL_HASH_LEN);
	appendStringInfo(&out, ",\"leaf_index\":%s,\"origin\":",
					 SPI_getvalue(tup, desc, 1));
	jcs_append_string(&out, e.origin, strlen(e.origin));
	appendStringInfo(&out, ",\"position\":%d,\"proof\":[", position);
	d = SPI_getbinval(tup, desc, 3, &isnull);
	{
		uint8	   *path;
		int			n = tl_hash_array(DatumGetArrayTypeP(d), "proof", &path);

		for (i = 0; i < n; i++)
		{
			if (i > 0)
				appendStringInfoChar(&out, ',');
			append_hex(&out, path + (size_t) i * TL_HASH_LEN, TL_HASH_LEN);
		}
	}
	appendStringInfoString(&out, "],\"record\":");
	appendBinaryStringInfo(&out, record.data, record.len);
	pfree(record.data);
	appendStringInfo(&out, ",\"signed_tree_head\":%s,\"tree_root\":", SPI_getvalue(tup, desc, 5));
	{
		bytea	   *root = DatumGetByteaPP(SPI_getbinval(tup, desc, 4, &isnull));

		append_hex(&out, (uint8 *) VARDATA_ANY(root), VARSIZE_ANY_EXHDR(root));
	}
	appendStringInfo(&out, ",\"tree_size\":%s}", SPI_getvalue(tup, desc, 2));
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
	MemoryContextSwitchTo(caller);
	result = datumCopy(result, false, -1);
	tl_spi_finish(spi_nest);
	MemoryContextDelete(work);
	PG_RETURN_DATUM(result);
}
