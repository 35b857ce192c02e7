/*-------------------------------------------------------------------------
 *
 * trace_private.c
 *	  Private values of trace records (docs/privacy.md): commitments, the
 *	  audience of a private value, and the projector of
 *	  "tl.trace.private" entries.
 *
 * A data item whose effective audience is not public (definition.h has
 * the rule) never has its value in the public record.  The record holds a
 * commitment, the hex SHA-256 of a 32-byte random salt followed by the
 * value's canonical JSON; the value and its salt travel in an entry of
 * kind tl.trace.private that depends on the public entry and is addressed
 * to the item's audience (within the link's business group, plus the
 * recording node), so the publications never send it to anyone else.
 * Every node of the group verifies the chain and follows the provenance
 * with the commitments alone; the audience checks each value against its
 * commitment, and against its item, when the entry arrives, and keeps it
 * in tracelink.private_values.  A value handed to an outsider with its salt
 * and the record's proof is checked with the same commitment function
 * (tracelink.commitment(), used by tracelink.verify_disclosure()).
 *
 *-------------------------------------------------------------------------
 */
#include "trace_int.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(tl_trace_commitment_sql);

#define MAX_PRIVATE_VALUES	1000000 /* values of one private entry */

/* columns of tracelink.private_values */
enum
{
	PV_ENTRY, PV_POSITION, PV_ITEM, PV_VALUE, PV_SALT, PV_PRIVATE_ENTRY, PV_NATTS
};

/*
 * The commitment to a value: lowercase hex of SHA-256(salt || canonical
 * JSON of the value), salt TL_TRACE_SALT_LEN bytes.  The one definition:
 * recording, the projector and verify_disclosure() all use it.
 */
void
tl_trace_commitment(const uint8 *salt, const JcsValue *value, char *hex_out)
{
	StringInfoData canon;
	TlSha256	h;
	uint8		digest[TL_HASH_LEN];

	initStringInfo(&canon);
	jcs_serialize(&canon, (JcsValue *) value);
	tl_sha256_begin(&h);
	tl_sha256_update(&h, salt, TL_TRACE_SALT_LEN);
	tl_sha256_update(&h, canon.data, canon.len);
	tl_sha256_end(&h, digest);
	pfree(canon.data);
	tl_hex_encode(digest, TL_HASH_LEN, hex_out);
}

/*
 * tracelink.commitment(salt bytea, value jsonb) returns text
 */
Datum
tl_trace_commitment_sql(PG_FUNCTION_ARGS)
{
	bytea	   *salt = PG_GETARG_BYTEA_PP(0);
	Jsonb	   *value = PG_GETARG_JSONB_P(1);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "tracelink commitment",
											   ALLOCSET_DEFAULT_SIZES);
	char		hex[2 * TL_HASH_LEN + 1];

	if (VARSIZE_ANY_EXHDR(salt) != TL_TRACE_SALT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a commitment's salt must be %d bytes", TL_TRACE_SALT_LEN)));
	MemoryContextSwitchTo(work);
	tl_trace_commitment((const uint8 *) VARDATA_ANY(salt), jcs_from_jsonb(value), hex);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
	PG_RETURN_TEXT_P(cstring_to_text(hex));
}

/*
 * The audience of an entry carrying a private item's values recorded by
 * origin: the item's audience (within the business group) and origin,
 * sorted, distinct.
 */
const char **
tl_trace_private_audience(const TlTraceItem *item, const char *origin, int *n)
{
	const char **out = palloc(sizeof(char *) * (item->naudience + 1));
	int			i;
	int			k = 0;
	bool		placed = false;

	for (i = 0; i < item->naudience; i++)
	{
		int			c = placed ? 1 : strcmp(origin, item->audience[i]);

		if (c < 0)
			out[k++] = origin;
		placed |= c <= 0;
		out[k++] = item->audience[i];
	}
	if (!placed)
		out[k++] = origin;
	*n = k;
	return out;
}

/* Is the entry addressed to exactly these nodes (sorted)? */
static bool
same_audience(const TlEntry *e, const char **audience, int n)
{
	const char **given;
	int			i;

	if (e->audience == NULL || e->naudience != n)
		return false;
	given = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		given[i] = e->audience[i];
	qsort(given, n, sizeof(char *), tl_trace_name_cmp);
	for (i = 0; i < n; i++)
		if (strcmp(given[i], audience[i]) != 0)
			return false;
	return true;
}

static int
hash_memcmp(const void *a, const void *b)
{
	return memcmp(a, b, TL_HASH_LEN);
}

/*
 * The records of the public entry a private entry completes: a trace
 * entry of the same origin, which has taken effect here (it is a
 * dependency), so its records passed the projector.  NULL when there is
 * no such entry.  One lookup through the entry-hash index per private
 * entry, not one per value.
 */
static JcsValue *
public_records(const uint8 *entry, const char *origin)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[3] = {BYTEAOID, TEXTOID, TEXTOID};
	Datum		args[3];
	MemoryContext caller = CurrentMemoryContext;
	JcsValue   *records = NULL;
	int			spi_nest;

	args[0] = PointerGetDatum(tl_bytea_from(entry, TL_HASH_LEN));
	args[1] = CStringGetTextDatum(origin);
	args[2] = CStringGetTextDatum(TL_TRACE_KIND);
	spi_nest = tl_spi_connect();
	/* not read-only: the public entry may be this transaction's own */
	if (SPI_execute_plan(tl_spi_plan(&plan,
									   "SELECT e.payload FROM tracelink.ledger_entries e"
									   " WHERE e.entry_hash OPERATOR(pg_catalog.=) $1"
									   "   AND e.origin OPERATOR(pg_catalog.=) $2"
									   "   AND e.kind OPERATOR(pg_catalog.=) $3",
									   3, types),
						 args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a trace entry");
	if (SPI_processed > 0)
	{
		bool		isnull;
		text	   *payload = DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 1, &isnull));

		MemoryContextSwitchTo(caller);
		records = jcs_object_get(jcs_parse(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload)), "records");
	}
	tl_spi_finish(spi_nest);
	MemoryContextSwitchTo(caller);
	return records;
}

/* What errors of the private projector say about the value being checked. */
static void
private_error_context(void *arg)
{
	const TlTraceRecordContext *rc = arg;

	if (rc->code != NULL)
		errcontext("private value of trace record %d (trace code \"%s\")", rc->position, rc->code);
	else
		errcontext("private value of trace record %d", rc->position);
}

/*
 * The projector of tl.trace.private: payload
 * {"entry": hash of the public entry in hex, "link": link id in hex,
 *  "values": [{"item", "position", "salt", "value"}, ...]} in increasing
 * (position, item), the entry depending on the public entry and addressed
 * to exactly the items' audience.  Every value must fit its item and match
 * the commitment the public record holds; then it is kept in
 * tracelink.private_values.
 */
void
tl_project_trace_private(const TlEntry *e, bool local)
{
	static const char *const keys[] = {"entry", "link", "values", NULL};
	static const char *const value_keys[] = {"item", "position", "salt", "value", NULL};
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "tracelink private entry",
											   ALLOCSET_DEFAULT_SIZES);
	JcsValue   *payload;
	JcsValue   *values;
	JcsValue   *records;
	uint8		entry[TL_HASH_LEN];
	uint8		link_id[TL_HASH_LEN];
	TlTraceLink *link;
	TlRowWriter *writer;
	TlTraceRecordContext rc;
	ErrorContextCallback callback;
	const char *last_item = NULL;
	int64		last_position = -1;
	int			i;

	MemoryContextSwitchTo(work);
	payload = jcs_parse(e->payload, e->payload_len);
	if (payload->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a private trace entry must be a JSON object")));
	for (i = 0; i < payload->u.object.count; i++)
		if (tl_vocabulary_code(keys, payload->u.object.members[i].key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in a private trace entry",
							pnstrdup(payload->u.object.members[i].key,
									 Min(payload->u.object.members[i].keylen, 64)))));
	values = jcs_object_get(payload, "values");
	if (!tl_json_hex(payload, "entry", entry, TL_HASH_LEN) ||
		!tl_json_hex(payload, "link", link_id, TL_HASH_LEN) ||
		values == NULL || values->kind != JCS_ARRAY || values->u.array.count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a private trace entry needs \"entry\" (the public entry's hash in hex), \"link\" and a non-empty array of \"values\"")));
	if (values->u.array.count > MAX_PRIVATE_VALUES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a private trace entry may hold at most %d values", MAX_PRIVATE_VALUES)));
	if (e->ndeps == 0 || bsearch(entry, e->deps, e->ndeps, TL_HASH_LEN, hash_memcmp) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a private trace entry must depend on the public entry it completes")));

	tl_trace_lock();
	/* the public entry's records, written by this transaction's projector */
	CommandCounterIncrement();
	link = tl_trace_link(link_id);
	if (link == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("a private trace entry names an unknown trace link")));

	/* the appending node hands over the public entry's records it shaped */
	records = local && e->local_arg != NULL ? (JcsValue *) e->local_arg
		: public_records(entry, e->origin);
	if (records == NULL || records->kind != JCS_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a private trace entry must complete a trace entry of its own origin")));

	memset(&rc, 0, sizeof(rc));
	rc.entry = e;
	rc.link = link;
	callback.callback = private_error_context;
	callback.arg = &rc;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	writer = tl_writer_open(tl_relid("private_values"));
	for (i = 0; i < values->u.array.count; i++)
	{
		JcsValue   *v = values->u.array.elems[i];
		JcsValue   *value;
		JcsValue   *committed;
		const char *item_name;
		int64		position;
		uint8		salt[TL_TRACE_SALT_LEN];
		char		hex[2 * TL_HASH_LEN + 1];
		JcsValue   *record;
		JcsValue   *commitments;
		int64		version;
		int			source;
		TlTraceVersion *def;
		TlTraceProcess *proc;
		TlTraceItem *item;
		const char **audience;
		int			naudience;
		int			k;

		rc.code = NULL;
		if (v->kind != JCS_OBJECT)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a private value must be a JSON object")));
		for (k = 0; k < v->u.object.count; k++)
			if (tl_vocabulary_code(value_keys, v->u.object.members[k].key) < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown key \"%s\" in a private value",
								pnstrdup(v->u.object.members[k].key, Min(v->u.object.members[k].keylen, 64)))));
		item_name = jcs_get_string(v, "item");
		value = jcs_object_get(v, "value");
		if (item_name == NULL || value == NULL ||
			!tl_json_int64(v, "position", &position) || position < 0 || position > PG_INT32_MAX ||
			!tl_json_hex(v, "salt", salt, TL_TRACE_SALT_LEN))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a private value needs \"item\", \"position\", \"salt\" (%d bytes in hex) and \"value\"",
							TL_TRACE_SALT_LEN)));
		rc.position = (int) position;
		if (position < last_position ||
			(position == last_position && strcmp(item_name, last_item) <= 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the values of a private trace entry must be in increasing order of position and item, each once")));
		last_position = position;
		last_item = item_name;

		if (position >= records->u.array.count)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the public entry has no trace record at position %d", (int) position)));
		record = records->u.array.elems[position];
		rc.code = jcs_get_string(record, "code");
		if (!tl_json_int64(record, "version", &version))
			elog(ERROR, "a projected trace record has no version");
		rc.version = (int32) version;
		def = tl_trace_version(link, rc.version, NULL);
		proc = def ? tl_trace_find_process(def, jcs_get_string(record, "process")) : NULL;
		rc.form = proc ? tl_trace_find_form(proc, jcs_get_string(record, "stage"),
											jcs_get_string(record, "form")) : NULL;
		if (rc.form == NULL)
			elog(ERROR, "the form of a projected trace record is missing from its version");
		source = tl_vocabulary_code(tl_source_names, jcs_get_string(record, "source"));
		commitments = jcs_object_get(record, "commitments");
		item = tl_trace_find_item(rc.form, item_name);
		if (item == NULL || !item->private_value)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("form \"%s\" has no private data item \"%s\"", rc.form->form,
							pnstrdup(item_name, 64))));
		audience = tl_trace_private_audience(item, e->origin, &naudience);
		if (!same_audience(e, audience, naudience))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("private data item \"%s\" must be addressed to exactly its audience", item->name),
					 errdetail("Its audience: %s.", tl_trace_quoted_list(audience, naudience))));
		committed = commitments ? jcs_object_get(commitments, item_name) : NULL;
		tl_trace_commitment(salt, value, hex);
		if (committed == NULL || committed->kind != JCS_STRING ||
			strcmp(committed->u.string.str, hex) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_TL_COMMITMENT_MISMATCH),
					 errmsg("the value of private data item \"%s\" does not match the record's commitment",
							item->name)));
		tl_trace_check_value(&rc, item, value, source);

		{
			Datum		row[PV_NATTS];
			bool		nulls[PV_NATTS] = {false};

			row[PV_ENTRY] = PointerGetDatum(tl_bytea_from(entry, TL_HASH_LEN));
			row[PV_POSITION] = Int32GetDatum((int32) position);
			row[PV_ITEM] = CStringGetTextDatum(item_name);
			row[PV_VALUE] = JsonbPGetDatum(jcs_to_jsonb(value));
			row[PV_SALT] = PointerGetDatum(tl_bytea_from(salt, TL_TRACE_SALT_LEN));
			row[PV_PRIVATE_ENTRY] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
			tl_writer_insert(writer, row, nulls);
		}
	}
	tl_writer_close(writer);
	error_context_stack = callback.previous;
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
}
