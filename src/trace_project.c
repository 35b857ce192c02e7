/*-------------------------------------------------------------------------
 *
 * trace_project.c
 *	  The projector of "tl.trace.record" entries: trace records take
 *	  effect.
 *
 * An entry holds a batch of records of one link.  Each record names its
 * trace code, the version it is recorded under, a process, stage and form
 * of that version, the data source, the form's values, and optionally the
 * codes it consumes (inputs) and produces (outputs).  The projector checks
 * every record (against the version, trace_model.c; its values,
 * trace_values.c) and writes the projection: records, codes, slots and
 * transformations (sqlsrc/70_trace.sql), all through rowwriter.
 *
 * Determinism.  On receiving nodes the projector judges only by facts in
 * the entry's causal past that never go away: the version (its proposal is
 * a dependency), the version's definition, the existence of consumed codes
 * and a mention of each at a process that feeds the consumer (the recording
 * node makes the entries holding them dependencies).  A code is bound to the
 * version of its earliest mention, earliest meaning the lowest (clock, entry
 * hash, place in the entry): a total order that every node computes alike
 * whatever the arrival order, so concurrent first records of one code on
 * different nodes resolve the same way everywhere.  A transformation is
 * effective while its parent ranks below its child in that order, so
 * effective transformations can never form a cycle; the recording node
 * refuses a transformation that is not effective when it is made.
 *
 * Locking: the projector takes the trace lock (trace_model.c) before it
 * reads anything of the trace state.
 *
 *-------------------------------------------------------------------------
 */
#include "trace_int.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

/* columns of tracelink.records, transformations */
enum
{
	REC_CODE, REC_OCCURRED, REC_RECORDED, REC_SLOT, REC_POSITION, REC_ENTRY,
	REC_DATA, REC_COMMITMENTS, REC_NATTS
};
enum
{
	EDGE_PARENT, EDGE_CHILD, EDGE_SLOT, EDGE_POSITION, EDGE_EFFECTIVE,
	EDGE_OCCURRED, EDGE_RECORDED, EDGE_DIRECTION, EDGE_QUANTITY, EDGE_UNIT,
	EDGE_ENTRY, EDGE_NATTS
};

/* ----------------------------------------------------------------
 * The projector
 * ----------------------------------------------------------------
 */

#define MAX_RECORDS 10000		/* records of one entry */

typedef struct Projection
{
	const TlEntry *e;
	const TlTraceHandoff *handoff;	/* from the API, on the appending node */
	bool		local;
	TlTraceLink *link;
	int64		clock;			/* microseconds since the Unix epoch */
	TimestampTz recorded_at;
	int32		next_ord;		/* place of the next mention in the entry */
	TlRowWriter *records;
	TlRowWriter *edges;
	TlRowWriter *codes;
} Projection;

/* order of mentions: (clock, entry hash, place in the entry) */
static int
rank_cmp(int64 clock1, const uint8 *entry1, int32 ord1,
		 int64 clock2, const uint8 *entry2, int32 ord2)
{
	int			c;

	if (clock1 != clock2)
		return clock1 < clock2 ? -1 : 1;
	c = memcmp(entry1, entry2, TL_HASH_LEN);
	if (c != 0)
		return c;
	return ord1 < ord2 ? -1 : (ord1 > ord2 ? 1 : 0);
}

/* Is a's binding earlier than b's? */
static bool
ranks_below(const TlTraceCode *a, const TlTraceCode *b)
{
	return rank_cmp(a->clock, a->entry, a->ord, b->clock, b->entry, b->ord) < 0;
}

/*
 * A mention that is earlier than a code's binding: it becomes the binding
 * (version, rank), and the transformations touching the code are
 * re-ranked.  Happens only when nodes record a new code concurrently.
 */
static void
rebind_code(TlTraceCode *c, const Projection *pj, int32 version, int32 ord, int32 slot)
{
	int			spi_nest;
	Oid			types[6] = {INT8OID, INT4OID, INT8OID, INT4OID, INT4OID, BYTEAOID};
	Datum		args[6];

	c->version = version;
	c->clock = pj->clock;
	memcpy(c->entry, pj->e->hash, TL_HASH_LEN);
	c->ord = ord;
	c->slot = slot;
	args[0] = Int64GetDatum(c->code_id);
	args[1] = Int32GetDatum(version);
	args[2] = Int64GetDatum(pj->clock);
	args[3] = Int32GetDatum(ord);
	args[4] = Int32GetDatum(slot);
	args[5] = PointerGetDatum(tl_bytea_from(pj->e->hash, TL_HASH_LEN));
	CommandCounterIncrement();
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("UPDATE tracelink.codes SET version = $2, bind_clock = $3, bind_ord = $4,"
							  " bind_slot = $5, bind_entry = $6 WHERE code_id = $1",
							  6, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not rebind a trace code");
	if (SPI_execute_with_args("UPDATE tracelink.transformations t"
							  "   SET effective = ((p.bind_clock, p.bind_entry, p.bind_ord)"
							  "                    < (c.bind_clock, c.bind_entry, c.bind_ord))"
							  "  FROM tracelink.codes p, tracelink.codes c"
							  " WHERE (t.parent_id = $1 OR t.child_id = $1)"
							  "   AND p.code_id = t.parent_id AND c.code_id = t.child_id",
							  1, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not re-rank transformations");
	tl_spi_finish(spi_nest);
}

/*
 * A mention of a code by this entry: a record of it, or its production as
 * an output.  A code never mentioned before is created, bound to this
 * version; an earlier mention than its binding rebinds it.
 */
static TlTraceCode *
mention_code(Projection *pj, const char *code, int32 version, int32 slot)
{
	TlTraceCode *c = tl_trace_code(pj->link->link_id, code);
	int32		ord = pj->next_ord++;

	if (c == NULL)
	{
		TlTraceCode fresh;
		Datum		values[CODE_NATTS];
		bool		nulls[CODE_NATTS] = {false};

		fresh.code_id = nextval_internal(tl_relid("code_id_seq"), false);
		fresh.version = version;
		fresh.clock = pj->clock;
		memcpy(fresh.entry, pj->e->hash, TL_HASH_LEN);
		fresh.ord = ord;
		fresh.slot = slot;
		values[CODE_ID] = Int64GetDatum(fresh.code_id);
		values[CODE_LINK] = PointerGetDatum(tl_bytea_from(pj->link->link_id, TL_HASH_LEN));
		values[CODE_CODE] = CStringGetTextDatum(code);
		values[CODE_VERSION] = Int32GetDatum(version);
		values[CODE_CLOCK] = Int64GetDatum(pj->clock);
		values[CODE_ORD] = Int32GetDatum(ord);
		values[CODE_SLOT] = Int32GetDatum(slot);
		values[CODE_ENTRY] = PointerGetDatum(tl_bytea_from(pj->e->hash, TL_HASH_LEN));
		tl_writer_insert(pj->codes, values, nulls);
		c = tl_trace_code_add(pj->link->link_id, code);
		*c = fresh;
	}
	else if (rank_cmp(pj->clock, pj->e->hash, ord, c->clock, c->entry, c->ord) < 0)
		rebind_code(c, pj, version, ord, slot);
	return c;
}

/* is `descendant` reachable from `ancestor` through effective transformations? */
static bool
reaches(int64 ancestor, int64 descendant)
{
	int			spi_nest;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		args[2];
	bool		isnull;
	bool		found;

	args[0] = Int64GetDatum(ancestor);
	args[1] = Int64GetDatum(descendant);
	CommandCounterIncrement();
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("WITH RECURSIVE down(id) AS ("
							  "  SELECT $1 UNION"
							  "  SELECT t.child_id FROM down JOIN tracelink.transformations t"
							  "    ON t.parent_id = down.id AND t.effective)"
							  " SELECT EXISTS (SELECT 1 FROM down WHERE id = $2)",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not follow transformations");
	found = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);
	return found;
}

/* an input or output of a record, as the payload states it */
typedef struct Flow
{
	const char *code;
	Datum		quantity;
	bool		has_quantity;
	const char *unit;
} Flow;

/* Check the shape of one input or output. */
static void
parse_flow(const JcsValue *spec, const char *what, Flow *flow)
{
	static const char *const keys[] = {"code", "quantity", "unit", NULL};
	JcsValue   *code;
	JcsValue   *quantity;
	JcsValue   *unit;
	const char *problem;
	int			i;

	if (spec->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each of the %s of a record must be a trace code or an object with \"code\", \"quantity\" and \"unit\"",
						what)));
	for (i = 0; i < spec->u.object.count; i++)
		if (tl_vocabulary_code(keys, spec->u.object.members[i].key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in the %s of a record",
							pnstrdup(spec->u.object.members[i].key, Min(spec->u.object.members[i].keylen, 64)),
							what),
					 errhint("An input or output has \"code\", and optionally \"quantity\" and \"unit\".")));
	code = jcs_object_get(spec, "code");
	quantity = jcs_object_get(spec, "quantity");
	unit = jcs_object_get(spec, "unit");
	if (code == NULL || code->kind != JCS_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each of the %s of a record needs a trace code (\"code\")", what)));
	if (!tl_trace_valid_code(code->u.string.str, code->u.string.len, &problem))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid trace code \"%s\" in the %s of a record: it %s",
						pnstrdup(code->u.string.str, Min(code->u.string.len, 64)), what, problem)));
	flow->code = code->u.string.str;
	flow->has_quantity = quantity != NULL;
	if (quantity != NULL)
	{
		bool		positive;

		if (quantity->kind == JCS_NUMBER)
			positive = quantity->u.number > 0;
		else if (quantity->kind == JCS_STRING && tl_trace_decimal_string(quantity->u.string.str, quantity->u.string.len))
			positive = quantity->u.string.str[0] != '-' &&
				strspn(quantity->u.string.str, "0.") < strcspn(quantity->u.string.str, "eE");
		else
			positive = false;
		if (!positive)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("quantity of trace code \"%s\" must be a positive number", flow->code),
					 errhint("Give a JSON number, or a decimal string such as \"12.50\" to keep every digit.")));
		flow->quantity = quantity->kind == JCS_NUMBER ? NumericGetDatum(jcs_number_numeric(quantity)) :
			DirectFunctionCall3(numeric_in, CStringGetDatum(quantity->u.string.str),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	}
	flow->unit = NULL;
	if (unit != NULL)
	{
		if (unit->kind != JCS_STRING || !tl_trace_valid_code(unit->u.string.str, unit->u.string.len, &problem))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unit of trace code \"%s\" must be a non-empty string of at most 200 bytes without surrounding whitespace",
							flow->code)));
		flow->unit = unit->u.string.str;
	}
}

/* the inputs or outputs of a record, parsed and checked for repeats */
static Flow *
parse_flows(const JcsValue *record, const char *key, const char *code, int *n)
{
	JcsValue   *list = jcs_object_get(record, key);
	Flow	   *flows;
	int			i;
	int			j;

	*n = 0;
	if (list == NULL)
		return NULL;
	if (list->kind != JCS_ARRAY || list->u.array.count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the %s of a record must be a non-empty array", key),
				 errhint("Leave \"%s\" out for none.", key)));
	if (list->u.array.count > TL_TRACE_MAX_FLOWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a record may have at most %d %s", TL_TRACE_MAX_FLOWS, key)));
	flows = palloc(sizeof(Flow) * list->u.array.count);
	for (i = 0; i < list->u.array.count; i++)
	{
		parse_flow(list->u.array.elems[i], key, &flows[i]);
		if (strcmp(flows[i].code, code) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_TL_DATA_CYCLE),
					 errmsg("trace code \"%s\" cannot be among its own %s", code, key),
					 errdetail("A trace code can never become its own ancestor.")));
		for (j = 0; j < i; j++)
			if (strcmp(flows[j].code, flows[i].code) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("trace code \"%s\" is listed twice among the %s of a record", flows[i].code, key)));
	}
	*n = list->u.array.count;
	return flows;
}

/*
 * Write a transformation parent -> child stated by a record.  The recording
 * node refuses one that would not be effective (see the file header).
 */
static void
add_edge(Projection *pj, const TlTraceRecordContext *rc, const TlTraceCode *parent, const char *parent_code,
		 const TlTraceCode *child, const char *child_code, int32 slot, TimestampTz occurred_at,
		 bool input, const Flow *flow)
{
	Datum		values[EDGE_NATTS];
	bool		nulls[EDGE_NATTS] = {false};
	bool		effective = ranks_below(parent, child);

	if (!effective && pj->local)
	{
		if (reaches(child->code_id, parent->code_id))
			ereport(ERROR,
					(errcode(ERRCODE_TL_DATA_CYCLE),
					 errmsg("trace code \"%s\" would become its own ancestor", child_code),
					 errdetail("Trace code \"%s\" is already made, directly or not, from trace code \"%s\".",
							   parent_code, child_code)));
		ereport(ERROR,
				(errcode(ERRCODE_TL_INPUT_TOO_LATE),
				 errmsg("trace code \"%s\" was first recorded after trace code \"%s\", so it cannot go into it",
						parent_code, child_code),
				 errdetail("A trace code can take in only codes first recorded before it."),
				 errhint("Record the result under a new trace code.")));
	}
	values[EDGE_PARENT] = Int64GetDatum(parent->code_id);
	values[EDGE_CHILD] = Int64GetDatum(child->code_id);
	values[EDGE_SLOT] = Int32GetDatum(slot);
	values[EDGE_POSITION] = Int32GetDatum(rc->position);
	values[EDGE_EFFECTIVE] = BoolGetDatum(effective);
	values[EDGE_OCCURRED] = TimestampTzGetDatum(occurred_at);
	values[EDGE_RECORDED] = TimestampTzGetDatum(pj->recorded_at);
	values[EDGE_DIRECTION] = CStringGetTextDatum(input ? "input" : "output");
	values[EDGE_QUANTITY] = flow->has_quantity ? flow->quantity : (Datum) 0;
	nulls[EDGE_QUANTITY] = !flow->has_quantity;
	values[EDGE_UNIT] = flow->unit ? CStringGetTextDatum(flow->unit) : (Datum) 0;
	nulls[EDGE_UNIT] = flow->unit == NULL;
	values[EDGE_ENTRY] = PointerGetDatum(tl_bytea_from(pj->e->hash, TL_HASH_LEN));
	tl_writer_insert(pj->edges, values, nulls);
}

/*
 * Error context: which record of the caller's batch, of the staging table,
 * or of a received entry.
 */
static void
record_error_context(void *arg)
{
	TlTraceRecordContext *rc = arg;

	if (rc->handoff != NULL && rc->handoff->batch_ids != NULL)
		errcontext("staged record " INT64_FORMAT "%s%s%s", rc->handoff->batch_ids[rc->position],
				   rc->code ? " (trace code \"" : "", rc->code ? rc->code : "", rc->code ? "\")" : "");
	else if (rc->handoff != NULL)
		errcontext("trace record %d of the batch%s%s%s", rc->handoff->batch_offset + rc->position + 1,
				   rc->code ? " (trace code \"" : "", rc->code ? rc->code : "", rc->code ? "\")" : "");
	else
	{
		char		hex[2 * TL_HASH_LEN + 1];

		tl_hex_encode(rc->entry->hash, TL_HASH_LEN, hex);
		errcontext("trace record %d of entry \\x%s of node \"%s\"", rc->position, hex,
				   rc->entry->origin);
	}
}

/* a string member of a record, required */
static const char *
record_string(const JcsValue *record, const char *key)
{
	JcsValue   *v = jcs_object_get(record, key);

	if (v == NULL || v->kind != JCS_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trace record needs \"%s\" as a string", key)));
	return v->u.string.str;
}

/* bsearch order of sorted dependency hashes. */
static int
hash_memcmp(const void *a, const void *b)
{
	return memcmp(a, b, TL_HASH_LEN);
}

/*
 * Check one record of the entry and write its projection.
 */
static void
project_record(Projection *pj, int position, const JcsValue *r)
{
	static const char *const keys[] = {"code", "commitments", "data", "form", "inputs", "occurred_at",
	"outputs", "process", "source", "stage", "version", NULL};
	TlTraceRecordContext rc;
	ErrorContextCallback callback;
	TlTraceVersion *def;
	TlTraceProcess *proc;
	TlTraceForm *form;
	uint8		proposal[TL_HASH_LEN];
	int64		version;
	const char *code;
	const char *process;
	const char *stage;
	const char *form_name;
	const char *source;
	const char *problem;
	JcsValue   *data;
	JcsValue   *commitments;
	JcsValue   *occurred;
	TimestampTz occurred_at;
	int			source_bit;
	int32		slot;
	TlTraceCode *own;
	Flow	   *inputs;
	Flow	   *outputs;
	int			ninputs;
	int			noutputs;
	int			i;

	memset(&rc, 0, sizeof(rc));
	rc.entry = pj->e;
	rc.handoff = pj->handoff;
	rc.position = position;
	rc.link = pj->link;
	callback.callback = record_error_context;
	callback.arg = &rc;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	if (r->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trace record must be a JSON object")));
	for (i = 0; i < r->u.object.count; i++)
		if (tl_vocabulary_code(keys, r->u.object.members[i].key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in a trace record",
							pnstrdup(r->u.object.members[i].key, Min(r->u.object.members[i].keylen, 64))),
					 errhint("A record has: code, process, stage, form, data, commitments, source, inputs, outputs, occurred_at.")));

	/* the code, the version and the form */
	code = record_string(r, "code");
	if (!tl_trace_valid_code(code, strlen(code), &problem))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid trace code \"%s\": it %s", pnstrdup(code, 64), problem)));
	rc.code = code;
	if (!tl_json_int64((JcsValue *) r, "version", &version) || version < 1 || version > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trace record needs the link version it is recorded under (\"version\")")));
	rc.version = (int32) version;
	def = tl_trace_version(pj->link, rc.version, proposal);
	if (def == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("link \"%s\" has no adopted version %d", pj->link->name, rc.version)));
	if (pj->e->ndeps == 0 ||
		bsearch(proposal, pj->e->deps, pj->e->ndeps, TL_HASH_LEN, hash_memcmp) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a record under version %d of link \"%s\" must depend on the version's proposal",
						rc.version, pj->link->name)));
	process = record_string(r, "process");
	stage = record_string(r, "stage");
	form_name = record_string(r, "form");
	proc = tl_trace_find_process(def, process);
	if (proc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("link \"%s\" has no process \"%s\" in version %d",
						pj->link->name, pnstrdup(process, 64), rc.version)));
	form = tl_trace_find_form(proc, stage, form_name);
	if (form == NULL)
	{
		bool		stage_known = false;

		for (i = 0; i < proc->nforms; i++)
			stage_known |= strcmp(proc->forms[i].stage, stage) == 0;
		if (!stage_known)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("process \"%s\" has no stage \"%s\" in version %d of link \"%s\"",
							proc->name, pnstrdup(stage, 64), rc.version, pj->link->name)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stage \"%s\" of process \"%s\" has no form \"%s\" in version %d of link \"%s\"",
						stage, proc->name, pnstrdup(form_name, 64), rc.version, pj->link->name)));
	}
	rc.form = form;

	/* who records, from which source */
	if (form->nmembers > 0)
	{
		if (bsearch(&pj->e->origin, form->members, form->nmembers, sizeof(char *), tl_trace_name_cmp) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("node \"%s\" is not a member of stage \"%s\" of process \"%s\"",
							pj->e->origin, stage, proc->name),
					 errdetail("Version %d of link \"%s\" lets these nodes record at that stage: %s.",
							   rc.version, pj->link->name, tl_trace_quoted_list(form->members, form->nmembers))));
	}
	else if (bsearch(&pj->e->origin, proc->participants, proc->nparticipants, sizeof(char *),
					 tl_trace_name_cmp) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("node \"%s\" does not take part in process \"%s\" of link \"%s\"",
						pj->e->origin, proc->name, pj->link->name),
				 errdetail("Participants of the process in version %d: %s.",
						   rc.version, tl_trace_quoted_list(proc->participants, proc->nparticipants))));
	source = record_string(r, "source");
	source_bit = tl_vocabulary_code(tl_source_names, source);
	if (source_bit < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown data source \"%s\"", pnstrdup(source, 64)),
				 errhint("Sources: manual, upload, external, device.")));

	/* the values and the time */
	data = jcs_object_get(r, "data");
	if (data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trace record needs its values (\"data\")")));
	commitments = jcs_object_get(r, "commitments");
	tl_trace_check_data(&rc, data, commitments, source_bit);
	occurred = jcs_object_get(r, "occurred_at");
	occurred_at = pj->recorded_at;
	if (occurred != NULL &&
		(occurred->kind != JCS_STRING ||
		 !tl_trace_parse_time(occurred->u.string.str, occurred->u.string.len, true, &occurred_at)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("\"occurred_at\" of a trace record must be an ISO 8601 date-time with an offset")));
	inputs = parse_flows(r, "inputs", code, &ninputs);
	outputs = parse_flows(r, "outputs", code, &noutputs);
	for (i = 0; i < noutputs; i++)
	{
		int			j;

		for (j = 0; j < ninputs; j++)
			if (strcmp(outputs[i].code, inputs[j].code) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_TL_DATA_CYCLE),
						 errmsg("trace code \"%s\" cannot be both an input and an output of a record",
								outputs[i].code),
						 errdetail("A trace code can never become its own ancestor.")));
	}

	/* the record */
	slot = tl_trace_slot(pj->link->link_id, rc.version, form, pj->e->origin, source_bit);
	own = mention_code(pj, code, rc.version, slot);
	{
		Datum		values[REC_NATTS];
		bool		nulls[REC_NATTS] = {false};

		values[REC_CODE] = Int64GetDatum(own->code_id);
		values[REC_OCCURRED] = TimestampTzGetDatum(occurred_at);
		values[REC_RECORDED] = TimestampTzGetDatum(pj->recorded_at);
		values[REC_SLOT] = Int32GetDatum(slot);
		values[REC_POSITION] = Int32GetDatum(position);
		values[REC_ENTRY] = PointerGetDatum(tl_bytea_from(pj->e->hash, TL_HASH_LEN));
		values[REC_DATA] = JsonbPGetDatum(jcs_to_jsonb(data));
		if (commitments != NULL)
			values[REC_COMMITMENTS] = JsonbPGetDatum(jcs_to_jsonb(commitments));
		else
			nulls[REC_COMMITMENTS] = true;
		tl_writer_insert(pj->records, values, nulls);
	}

	/* what went into it */
	for (i = 0; i < ninputs; i++)
	{
		TlTraceCode *in = tl_trace_code(pj->link->link_id, inputs[i].code);

		if (in == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unknown input trace code \"%s\"", inputs[i].code),
					 errdetail("Link \"%s\" has no record of it.", pj->link->name),
					 errhint("Record it at the process that makes it first.")));
		if (!tl_trace_mention_at(in, proc, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_TL_NOT_IN_MESH),
					 errmsg("trace code \"%s\" has no record at a process that feeds process \"%s\"",
							inputs[i].code, proc->name),
					 errdetail("In version %d of link \"%s\", process \"%s\" takes data from: %s.",
							   rc.version, pj->link->name, proc->name,
							   tl_trace_quoted_list(proc->producers, proc->nproducers))));
		add_edge(pj, &rc, in, inputs[i].code, own, code, slot, occurred_at, true, &inputs[i]);
	}
	/* what came out of it */
	for (i = 0; i < noutputs; i++)
	{
		TlTraceCode *out = mention_code(pj, outputs[i].code, rc.version, slot);

		add_edge(pj, &rc, own, code, out, outputs[i].code, slot, occurred_at, false, &outputs[i]);
	}
	error_context_stack = callback.previous;
}

/* every trace code an entry names, for one lookup pass */
static void
prefetch_entry_codes(const uint8 *link_id, const JcsValue *records)
{
	const char **codes = palloc(sizeof(char *) * 16);
	int			capacity = 16;
	int			n = 0;
	int			i;

	for (i = 0; i < records->u.array.count; i++)
	{
		JcsValue   *r = records->u.array.elems[i];
		JcsValue   *c = jcs_object_get(r, "code");
		const char *lists[2] = {"inputs", "outputs"};
		int			l;

		if (n + 1 >= capacity)
			codes = repalloc(codes, sizeof(char *) * (capacity *= 2));
		if (c != NULL && c->kind == JCS_STRING)
			codes[n++] = c->u.string.str;
		for (l = 0; l < 2; l++)
		{
			JcsValue   *list = jcs_object_get(r, lists[l]);
			int			k;

			for (k = 0; list != NULL && list->kind == JCS_ARRAY && k < list->u.array.count; k++)
			{
				JcsValue   *fc = jcs_object_get(list->u.array.elems[k], "code");

				if (n + 1 >= capacity)
					codes = repalloc(codes, sizeof(char *) * (capacity *= 2));
				if (fc != NULL && fc->kind == JCS_STRING)
					codes[n++] = fc->u.string.str;
			}
		}
	}
	tl_trace_prefetch_codes(link_id, codes, n);
	pfree(codes);
}

/*
 * The projector of tl.trace.record: payload
 * {"clock": microseconds since the Unix epoch, "link": link id in hex,
 *  "records": [record, ...]} (docs/trace.md).
 */
void
tl_project_trace_records(const TlEntry *e, bool local)
{
	static const char *const keys[] = {"clock", "link", "records", NULL};
	const TlTraceHandoff *handoff = local ? e->local_arg : NULL;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext entry_cxt = AllocSetContextCreate(caller, "tracelink trace entry",
													ALLOCSET_DEFAULT_SIZES);
	MemoryContext record_cxt = AllocSetContextCreate(entry_cxt, "tracelink trace record",
													 ALLOCSET_DEFAULT_SIZES);
	JcsValue   *payload;
	JcsValue   *records;
	uint8		link_id[TL_HASH_LEN];
	Projection	pj;
	int			i;

	/* the entry's tree and everything of this projection die with entry_cxt */
	MemoryContextSwitchTo(entry_cxt);
	payload = handoff != NULL ? handoff->tree : jcs_parse(e->payload, e->payload_len);
	records = jcs_object_get(payload, "records");

	if (payload->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trace entry must be a JSON object")));
	for (i = 0; i < payload->u.object.count; i++)
		if (tl_vocabulary_code(keys, payload->u.object.members[i].key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in a trace entry",
							pnstrdup(payload->u.object.members[i].key,
									 Min(payload->u.object.members[i].keylen, 64)))));
	memset(&pj, 0, sizeof(pj));
	pj.e = e;
	pj.handoff = handoff;
	pj.local = local;
	if (!tl_json_hex(payload, "link", link_id, TL_HASH_LEN) ||
		!tl_json_int64(payload, "clock", &pj.clock) || pj.clock < 0 ||
		records == NULL || records->kind != JCS_ARRAY || records->u.array.count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trace entry needs \"link\" (a link id in hex), \"clock\" and a non-empty array of \"records\"")));
	if (records->u.array.count > MAX_RECORDS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a trace entry may hold at most %d records", MAX_RECORDS)));
	pj.recorded_at = pj.clock - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	if (!IS_VALID_TIMESTAMP(pj.recorded_at))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("clock of a trace entry is out of range")));

	tl_trace_lock();
	pj.link = tl_trace_link(link_id);
	if (pj.link == NULL)
	{
		char		hex[2 * TL_HASH_LEN + 1];

		tl_hex_encode(link_id, TL_HASH_LEN, hex);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown trace link \\x%s", hex)));
	}

	/* a peer's entry: nothing of an earlier entry points into the cache */
	if (!local)
		tl_trace_forget_codes_if_many();
	prefetch_entry_codes(link_id, records);
	pj.records = tl_writer_open(tl_relid("records"));
	pj.edges = tl_writer_open(tl_relid("transformations"));
	pj.codes = tl_writer_open(tl_relid("codes"));
	for (i = 0; i < records->u.array.count; i++)
	{
		/* each record's garbage goes with it: a block may hold thousands */
		MemoryContext old = MemoryContextSwitchTo(record_cxt);

		project_record(&pj, i, records->u.array.elems[i]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(record_cxt);
	}
	tl_writer_close(pj.records);
	tl_writer_close(pj.edges);
	tl_writer_close(pj.codes);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(entry_cxt);
}

