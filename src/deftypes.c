/*-------------------------------------------------------------------------
 *
 * deftypes.c
 *	  SQL side of the trace link definition types tracelink.stage,
 *	  tracelink.process and tracelink.link.
 *
 * A value is a TlDefinition: a small header and the canonical JSON text.
 * Every way into a value (text input, binary receive, the cast from jsonb,
 * merge patches) goes through def_normalize.c's normalisation, so each checks
 * and normalises exactly alike; the output is the canonical text, and
 * equality is equality of those bytes.  Accessors, validation and the mesh
 * read the canonical text back into a jcs tree, whose shape normalisation
 * guarantees.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

/* Version byte that starts the binary (send/recv) form. */
#define TL_DEF_BINARY_VERSION 1

PG_FUNCTION_INFO_V1(tl_stage_in);
PG_FUNCTION_INFO_V1(tl_process_in);
PG_FUNCTION_INFO_V1(tl_link_in);
PG_FUNCTION_INFO_V1(tl_definition_out);
PG_FUNCTION_INFO_V1(tl_stage_recv);
PG_FUNCTION_INFO_V1(tl_process_recv);
PG_FUNCTION_INFO_V1(tl_link_recv);
PG_FUNCTION_INFO_V1(tl_definition_send);
PG_FUNCTION_INFO_V1(tl_stage_from_jsonb);
PG_FUNCTION_INFO_V1(tl_process_from_jsonb);
PG_FUNCTION_INFO_V1(tl_link_from_jsonb);
PG_FUNCTION_INFO_V1(tl_definition_to_jsonb);
PG_FUNCTION_INFO_V1(tl_definition_eq);
PG_FUNCTION_INFO_V1(tl_definition_ne);
PG_FUNCTION_INFO_V1(tl_definition_hash);
PG_FUNCTION_INFO_V1(tl_definition_hash_extended);
PG_FUNCTION_INFO_V1(tl_definition_digest);
PG_FUNCTION_INFO_V1(tl_definition_name);
PG_FUNCTION_INFO_V1(tl_definition_validate_rows);
PG_FUNCTION_INFO_V1(tl_definition_validate_strict);
PG_FUNCTION_INFO_V1(tl_definition_merge_patch);
PG_FUNCTION_INFO_V1(tl_process_stages);
PG_FUNCTION_INFO_V1(tl_stage_forms);
PG_FUNCTION_INFO_V1(tl_definition_data_items);
PG_FUNCTION_INFO_V1(tl_process_trace_code_items);
PG_FUNCTION_INFO_V1(tl_process_inputs);
PG_FUNCTION_INFO_V1(tl_process_outputs);
PG_FUNCTION_INFO_V1(tl_link_processes);
PG_FUNCTION_INFO_V1(tl_link_process);
PG_FUNCTION_INFO_V1(tl_link_process_order);
PG_FUNCTION_INFO_V1(tl_link_invitations);
PG_FUNCTION_INFO_V1(tl_link_voting_rule);
PG_FUNCTION_INFO_V1(tl_link_info);
PG_FUNCTION_INFO_V1(tl_link_with_process_sql);
PG_FUNCTION_INFO_V1(tl_link_mesh);
PG_FUNCTION_INFO_V1(tl_link_mesh_layers);

/* ----------------------------------------------------------------
 * Values
 * ----------------------------------------------------------------
 */

/*
 * A new value holding the canonical text json of the given kind.  Its
 * canonical form, which normalisation may have made larger than the input
 * (defaults), is a JSON document like any other: at most TL_JSON_MAX_BYTES.
 */
static TlDefinition *
definition_make(TlDefKind kind, const char *json, int len)
{
	Size		size = add_size(TL_DEF_HEADER_SIZE, len);
	TlDefinition *def;

	if (len > TL_JSON_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("tracelink.%s value is too large",
						tl_definition_kind_name(kind)),
				 errdetail("The canonical form has %d bytes; at most %d are allowed.",
						   len, TL_JSON_MAX_BYTES)));
	def = palloc(size);
	SET_VARSIZE(def, size);
	def->kind = (uint8) kind;
	def->format = TL_DEF_FORMAT;
	def->reserved = 0;
	memcpy(def->json, json, len);
	return def;
}

/*
 * Detoast a definition argument and check its header, which no input path
 * can produce wrongly: a mismatch means the stored bytes are damaged.
 */
static TlDefinition *
definition_arg(FunctionCallInfo fcinfo, int argno)
{
	TlDefinition *def;

	def = (TlDefinition *) PG_DETOAST_DATUM(PG_GETARG_DATUM(argno));

	if (VARSIZE(def) < TL_DEF_HEADER_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid tracelink definition value"),
				 errdetail("The value has %d bytes, less than its header.",
						   (int) VARSIZE(def))));
	if (def->format != TL_DEF_FORMAT || def->kind > TL_DEF_LINK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid tracelink definition value"),
				 errdetail("The value has storage format %d and kind %d.",
						   def->format, def->kind)));
	return def;
}

/* The value's canonical text parsed into a tree. */
static JcsValue *
definition_tree(const TlDefinition *def)
{
	return jcs_parse(def->json, TL_DEF_JSON_LEN(def));
}

/* A value of the given kind from a normalised tree. */
static TlDefinition *
definition_from_normalised(TlDefKind kind, const JcsValue *tree)
{
	StringInfoData buf;

	initStringInfo(&buf);
	jcs_serialize(&buf, tree);
	return definition_make(kind, buf.data, buf.len);
}

/*
 * A context for the parse and normalised trees of one definition, deleted
 * once the canonical text is copied out.
 */
static MemoryContext
definition_work_context(void)
{
	return AllocSetContextCreate(CurrentMemoryContext,
								 "tracelink definition input",
								 ALLOCSET_DEFAULT_SIZES);
}

/* A value from JSON text: the common path of input and receive. */
static TlDefinition *
definition_from_text(TlDefKind kind, const char *json, int len)
{
	MemoryContext work = definition_work_context();
	MemoryContext old = MemoryContextSwitchTo(work);
	char	   *canonical;
	int			canonical_len;
	TlDefinition *result;

	canonical = tl_definition_normalise(kind, json, len, &canonical_len);
	MemoryContextSwitchTo(old);
	result = definition_make(kind, canonical, canonical_len);
	MemoryContextDelete(work);
	return result;
}

/* A value from a tree of any origin, normalised in a context of its own. */
static TlDefinition *
definition_from_tree(TlDefKind kind, JcsValue *(*build) (void *), void *arg)
{
	MemoryContext work = definition_work_context();
	MemoryContext old = MemoryContextSwitchTo(work);
	StringInfoData buf;
	TlDefinition *result;

	initStringInfo(&buf);
	jcs_serialize(&buf, tl_definition_normalise_tree(kind, build(arg)));
	MemoryContextSwitchTo(old);
	result = definition_make(kind, buf.data, buf.len);
	MemoryContextDelete(work);
	return result;
}

static JcsValue *
build_from_jsonb(void *arg)
{
	return jcs_from_jsonb((Jsonb *) arg);
}

/* ----------------------------------------------------------------
 * Text and binary I/O, casts to and from jsonb
 * ----------------------------------------------------------------
 */

static Datum
definition_in(FunctionCallInfo fcinfo, TlDefKind kind)
{
	char	   *str = PG_GETARG_CSTRING(0);

	PG_RETURN_POINTER(definition_from_text(kind, str, strlen(str)));
}

Datum
tl_stage_in(PG_FUNCTION_ARGS)
{
	return definition_in(fcinfo, TL_DEF_STAGE);
}

Datum
tl_process_in(PG_FUNCTION_ARGS)
{
	return definition_in(fcinfo, TL_DEF_PROCESS);
}

Datum
tl_link_in(PG_FUNCTION_ARGS)
{
	return definition_in(fcinfo, TL_DEF_LINK);
}

/* Output of all three types: the canonical text. */
Datum
tl_definition_out(PG_FUNCTION_ARGS)
{
	TlDefinition *def = definition_arg(fcinfo, 0);

	PG_RETURN_CSTRING(pnstrdup(def->json, TL_DEF_JSON_LEN(def)));
}

/*
 * Binary form: a version byte, then the JSON text (in the client encoding,
 * like jsonb's).  Receive accepts any JSON text the input accepts and runs
 * the same normalisation, so it refuses exactly what input refuses.
 */
static Datum
definition_recv(FunctionCallInfo fcinfo, TlDefKind kind)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			version = pq_getmsgint(buf, 1);
	char	   *str;
	int			nbytes;

	if (version != TL_DEF_BINARY_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported binary format version %d for type tracelink.%s",
						version, tl_definition_kind_name(kind)),
				 errdetail("Only version %d is known.", TL_DEF_BINARY_VERSION)));
	str = pq_getmsgtext(buf, buf->len - buf->cursor, &nbytes);
	PG_RETURN_POINTER(definition_from_text(kind, str, nbytes));
}

Datum
tl_stage_recv(PG_FUNCTION_ARGS)
{
	return definition_recv(fcinfo, TL_DEF_STAGE);
}

Datum
tl_process_recv(PG_FUNCTION_ARGS)
{
	return definition_recv(fcinfo, TL_DEF_PROCESS);
}

Datum
tl_link_recv(PG_FUNCTION_ARGS)
{
	return definition_recv(fcinfo, TL_DEF_LINK);
}

Datum
tl_definition_send(PG_FUNCTION_ARGS)
{
	TlDefinition *def = definition_arg(fcinfo, 0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint8(&buf, TL_DEF_BINARY_VERSION);
	pq_sendtext(&buf, def->json, TL_DEF_JSON_LEN(def));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * jsonb -> definition: the same checks and normalisation as input.  jsonb
 * has already kept only the last of repeated keys, and its numbers must
 * fit IEEE-754 doubles as everywhere in canonical JSON.
 */
static Datum
definition_from_jsonb(FunctionCallInfo fcinfo, TlDefKind kind)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);

	PG_RETURN_POINTER(definition_from_tree(kind, build_from_jsonb, jb));
}

Datum
tl_stage_from_jsonb(PG_FUNCTION_ARGS)
{
	return definition_from_jsonb(fcinfo, TL_DEF_STAGE);
}

Datum
tl_process_from_jsonb(PG_FUNCTION_ARGS)
{
	return definition_from_jsonb(fcinfo, TL_DEF_PROCESS);
}

Datum
tl_link_from_jsonb(PG_FUNCTION_ARGS)
{
	return definition_from_jsonb(fcinfo, TL_DEF_LINK);
}

/* jsonb of a JSON tree. */
static Datum
tree_jsonb(const JcsValue *v)
{
	return JsonbPGetDatum(jcs_to_jsonb(v));
}

Datum
tl_definition_to_jsonb(PG_FUNCTION_ARGS)
{
	TlDefinition *def = definition_arg(fcinfo, 0);

	return DirectFunctionCall1(jsonb_in,
							   CStringGetDatum(pnstrdup(def->json,
														TL_DEF_JSON_LEN(def))));
}

/* ----------------------------------------------------------------
 * Equality, hashing, digests
 * ----------------------------------------------------------------
 */

/* Byte equality of two values (header and canonical text). */
static bool
definition_equal(FunctionCallInfo fcinfo)
{
	struct varlena *a = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	struct varlena *b = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1));
	bool		result;

	result = VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
	PG_FREE_IF_COPY(a, 0);
	PG_FREE_IF_COPY(b, 1);
	return result;
}

Datum
tl_definition_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(definition_equal(fcinfo));
}

Datum
tl_definition_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!definition_equal(fcinfo));
}

Datum
tl_definition_hash(PG_FUNCTION_ARGS)
{
	struct varlena *a = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	Datum		result;

	result = hash_any((unsigned char *) VARDATA_ANY(a), VARSIZE_ANY_EXHDR(a));
	PG_FREE_IF_COPY(a, 0);
	return result;
}

Datum
tl_definition_hash_extended(PG_FUNCTION_ARGS)
{
	struct varlena *a = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0));
	Datum		result;

	result = hash_any_extended((unsigned char *) VARDATA_ANY(a),
							   VARSIZE_ANY_EXHDR(a), PG_GETARG_INT64(1));
	PG_FREE_IF_COPY(a, 0);
	return result;
}

/* SHA-256 of the canonical bytes: equals tracelink.digest(value::jsonb). */
Datum
tl_definition_digest(PG_FUNCTION_ARGS)
{
	TlDefinition *def = definition_arg(fcinfo, 0);
	uint8		hash[TL_HASH_LEN];

	tl_sha256(def->json, TL_DEF_JSON_LEN(def), hash);
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}

/* ----------------------------------------------------------------
 * Reading normalised trees into SQL values (members: jcs_member*, jcs.h)
 * ----------------------------------------------------------------
 */

static Datum
tree_text(const JcsValue *v)
{
	return PointerGetDatum(cstring_to_text_with_len(v->u.string.str,
													v->u.string.len));
}

static Datum
tree_member_text(const JcsValue *obj, const char *key)
{
	return tree_text(jcs_member(obj, key));
}

/* text[] of an array of strings. */
static Datum
tree_text_array(const JcsValue *arr)
{
	int			n = arr->u.array.count;
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = tree_text(arr->u.array.elems[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/* ----------------------------------------------------------------
 * Accessors
 * ----------------------------------------------------------------
 */

/* tracelink.name(stage | process | link) returns text */
Datum
tl_definition_name(PG_FUNCTION_ARGS)
{
	TlDefinition *def = definition_arg(fcinfo, 0);

	return tree_member_text(definition_tree(def), "name");
}

/*
 * The elements of the array member "key" of a value, as values of kind
 * child (value-per-call set-returning function).
 */
static Datum
definition_elements_srf(FunctionCallInfo fcinfo, const char *key,
						TlDefKind child)
{
	FuncCallContext *funcctx;
	Datum	   *values;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		const JcsValue *arr;
		int			i;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		arr = jcs_member(definition_tree(definition_arg(fcinfo, 0)), key);
		values = palloc(sizeof(Datum) * Max(arr->u.array.count, 1));
		for (i = 0; i < arr->u.array.count; i++)
		{
			const JcsValue *elem = arr->u.array.elems[i];

			values[i] = PointerGetDatum(definition_from_normalised(child, elem));
		}
		funcctx->user_fctx = values;
		funcctx->max_calls = arr->u.array.count;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	values = funcctx->user_fctx;
	if (funcctx->call_cntr < funcctx->max_calls)
	{
		/* SRF_RETURN_NEXT counts the call before it evaluates its result */
		Datum		result = values[funcctx->call_cntr];

		SRF_RETURN_NEXT(funcctx, result);
	}
	SRF_RETURN_DONE(funcctx);
}

/* tracelink.stages(process) returns setof stage, in stage order */
Datum
tl_process_stages(PG_FUNCTION_ARGS)
{
	return definition_elements_srf(fcinfo, "stages", TL_DEF_STAGE);
}

/* tracelink.processes(link) returns setof process, in process order */
Datum
tl_link_processes(PG_FUNCTION_ARGS)
{
	return definition_elements_srf(fcinfo, "processes", TL_DEF_PROCESS);
}

/*
 * tracelink.forms(stage) returns table(position int, name text,
 * key boolean, description text, items jsonb)
 */
Datum
tl_stage_forms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const JcsValue *stage;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	stage = definition_tree(definition_arg(fcinfo, 0));
	for (i = 0; i < jcs_member_count(stage, "forms"); i++)
	{
		const JcsValue *form = jcs_member_elem(stage, "forms", i);
		const JcsValue *audience = jcs_object_get(form, "audience");
		Datum		values[6];
		bool		nulls[6] = {false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = tree_member_text(form, "name");
		values[2] = BoolGetDatum(jcs_member_true(form, "key"));
		values[3] = tree_member_text(form, "description");
		values[4] = tree_jsonb(jcs_member(form, "items"));
		if (audience != NULL)
			values[5] = tree_jsonb(audience);
		else
			nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* One row of data_items() per item of a stage. */
static void
put_stage_items(ReturnSetInfo *rsinfo, const JcsValue *stage)
{
	int			nforms = jcs_member_count(stage, "forms");
	int			f;

	for (f = 0; f < nforms; f++)
	{
		const JcsValue *form = jcs_member_elem(stage, "forms", f);
		int			nitems = jcs_member_count(form, "items");
		int			i;

		for (i = 0; i < nitems; i++)
		{
			const JcsValue *item = jcs_member_elem(form, "items", i);
			const JcsValue *creator = jcs_object_get(item, "creator");
			const JcsValue *options = jcs_object_get(item, "options");
			const JcsValue *nodes;
			TlAudienceKind audience = tl_def_item_audience(form, item, &nodes);
			Datum		values[13];
			bool		nulls[13] = {false};

			values[0] = tree_member_text(stage, "name");
			values[1] = tree_member_text(form, "name");
			values[2] = BoolGetDatum(jcs_member_true(form, "key"));
			values[3] = tree_member_text(item, "name");
			values[4] = tree_member_text(item, "description");
			if (creator != NULL)
				values[5] = tree_text(creator);
			else
				nulls[5] = true;
			values[6] = tree_text_array(jcs_member(item, "sources"));
			values[7] = BoolGetDatum(jcs_member_true(item, "required"));
			values[8] = tree_member_text(item, "type");
			values[9] = tree_member_text(item, "widget");
			if (options != NULL)
				values[10] = tree_text_array(options);
			else
				nulls[10] = true;
			values[11] = BoolGetDatum(jcs_member_true(item, "trace_code"));
			/*
			 * The effective audience: a word, the array of nodes, or an
			 * unknown word (which validation refuses) as it is.
			 */
			if (audience == TL_AUDIENCE_NODES)
				values[12] = tree_jsonb(nodes);
			else if (audience == TL_AUDIENCE_INVALID)
			{
				const JcsValue *own = jcs_object_get(item, "audience");

				values[12] = tree_jsonb(own ? own : jcs_object_get(form, "audience"));
			}
			else
				values[12] = tree_jsonb(jcs_make_string(tl_audience_names[audience],
														strlen(tl_audience_names[audience])));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
								 values, nulls);
		}
	}
}

/*
 * tracelink.data_items(process | stage) returns table(stage text,
 * form text, key_form boolean, item text, description text, creator text,
 * sources text[], required boolean, data_type text, widget text,
 * options text[], trace_code boolean, audience jsonb): every data item, in
 * order, with its effective audience (tl_def_item_audience).
 */
Datum
tl_definition_data_items(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlDefinition *def;
	const JcsValue *tree;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	def = definition_arg(fcinfo, 0);
	tree = definition_tree(def);
	if (def->kind == TL_DEF_STAGE)
		put_stage_items(rsinfo, tree);
	else
	{
		for (i = 0; i < jcs_member_count(tree, "stages"); i++)
			put_stage_items(rsinfo, jcs_member_elem(tree, "stages", i));
	}
	return (Datum) 0;
}

/*
 * tracelink.trace_code_items(process) returns table(stage text, form text,
 * item text): the trace-code acquisition items.
 */
Datum
tl_process_trace_code_items(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const JcsValue *process;
	int			s;

	InitMaterializedSRF(fcinfo, 0);
	process = definition_tree(definition_arg(fcinfo, 0));
	for (s = 0; s < jcs_member_count(process, "stages"); s++)
	{
		const JcsValue *stage = jcs_member_elem(process, "stages", s);
		int			f;

		for (f = 0; f < jcs_member_count(stage, "forms"); f++)
		{
			const JcsValue *form = jcs_member_elem(stage, "forms", f);
			int			i;

			for (i = 0; i < jcs_member_count(form, "items"); i++)
			{
				const JcsValue *item = jcs_member_elem(form, "items", i);
				Datum		values[3];
				bool		nulls[3] = {false};

				if (!jcs_member_true(item, "trace_code"))
					continue;
				values[0] = tree_member_text(stage, "name");
				values[1] = tree_member_text(form, "name");
				values[2] = tree_member_text(item, "name");
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
									 values, nulls);
			}
		}
	}
	return (Datum) 0;
}

/*
 * tracelink.inputs(process) returns table(position int, name text,
 * producer text, output text, level int)
 */
Datum
tl_process_inputs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const JcsValue *process;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	process = definition_tree(definition_arg(fcinfo, 0));
	for (i = 0; i < jcs_member_count(process, "inputs"); i++)
	{
		const JcsValue *input = jcs_member_elem(process, "inputs", i);
		Datum		values[5];
		bool		nulls[5] = {false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = tree_member_text(input, "name");
		values[2] = tree_member_text(input, "from");
		values[3] = tree_member_text(input, "output");
		values[4] = Int32GetDatum(jcs_member_int(input, "level"));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * tracelink.outputs(process) returns table(position int, name text,
 * level int, description text)
 */
Datum
tl_process_outputs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const JcsValue *process;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	process = definition_tree(definition_arg(fcinfo, 0));
	for (i = 0; i < jcs_member_count(process, "outputs"); i++)
	{
		const JcsValue *output = jcs_member_elem(process, "outputs", i);
		Datum		values[4];
		bool		nulls[4] = {false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = tree_member_text(output, "name");
		values[2] = Int32GetDatum(jcs_member_int(output, "level"));
		values[3] = tree_member_text(output, "description");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * tracelink.process(link, name text) returns process: the first process of
 * that name, or NULL.
 */
Datum
tl_link_process(PG_FUNCTION_ARGS)
{
	const JcsValue *link = definition_tree(definition_arg(fcinfo, 0));
	text	   *name = PG_GETARG_TEXT_PP(1);
	int			len = VARSIZE_ANY_EXHDR(name);
	int			i;

	for (i = 0; i < jcs_member_count(link, "processes"); i++)
	{
		const JcsValue *process = jcs_member_elem(link, "processes", i);
		const JcsValue *pname = jcs_member(process, "name");

		if (pname->u.string.len == len &&
			memcmp(pname->u.string.str, VARDATA_ANY(name), len) == 0)
			PG_RETURN_POINTER(definition_from_normalised(TL_DEF_PROCESS,
														 process));
	}
	PG_RETURN_NULL();
}

/* tracelink.process_order(link) returns text[] */
Datum
tl_link_process_order(PG_FUNCTION_ARGS)
{
	const JcsValue *link = definition_tree(definition_arg(fcinfo, 0));

	return tree_text_array(jcs_member(link, "process_order"));
}

/* Put the invitation rows of one process. */
static void
put_invitations(ReturnSetInfo *rsinfo, const JcsValue *process,
				const JcsValue *nodes)
{
	int			i;

	for (i = 0; i < nodes->u.array.count; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false};

		values[0] = tree_text(process);
		values[1] = tree_text(nodes->u.array.elems[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * tracelink.invitations(link) returns table(process text, node text): the
 * invited nodes of the processes in process order, then those of other
 * processes in canonical (RFC 8785) order of their names; nodes as listed.
 */
Datum
tl_link_invitations(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const JcsValue *link;
	const JcsValue *order;
	const JcsValue *invitations;
	bool	   *done;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	link = definition_tree(definition_arg(fcinfo, 0));
	order = jcs_member(link, "process_order");
	invitations = jcs_member(link, "invitations");
	done = palloc0(sizeof(bool) * Max(invitations->u.object.count, 1));
	for (i = 0; i < order->u.array.count; i++)
	{
		const JcsValue *name = order->u.array.elems[i];
		int			m;

		for (m = 0; m < invitations->u.object.count; m++)
		{
			const JcsMember *member = &invitations->u.object.members[m];

			if (!done[m] && member->keylen == name->u.string.len &&
				memcmp(member->key, name->u.string.str, member->keylen) == 0)
			{
				put_invitations(rsinfo, name, member->value);
				done[m] = true;
			}
		}
	}
	for (i = 0; i < invitations->u.object.count; i++)
	{
		const JcsMember *member = &invitations->u.object.members[i];

		if (!done[i])
			put_invitations(rsinfo,
							jcs_make_string(member->key, member->keylen),
							member->value);
	}
	return (Datum) 0;
}

/*
 * tracelink.voting_rule(link, purpose text) returns jsonb: the link's rule
 * for 'adoption' or 'modification'.  A missing modification rule is the
 * adoption rule; NULL means the link leaves the rule to the system default.
 */
Datum
tl_link_voting_rule(PG_FUNCTION_ARGS)
{
	const JcsValue *link = definition_tree(definition_arg(fcinfo, 0));
	char	   *purpose = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const JcsValue *voting = jcs_object_get(link, "voting");
	const JcsValue *rule = NULL;

	if (strcmp(purpose, "adoption") != 0 && strcmp(purpose, "modification") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown voting purpose \"%s\"", purpose),
				 errhint("The purposes are \"adoption\" and \"modification\".")));
	if (voting != NULL)
	{
		rule = jcs_object_get(voting, purpose);
		if (rule == NULL && strcmp(purpose, "modification") == 0)
			rule = jcs_object_get(voting, "adoption");
	}
	if (rule == NULL)
		PG_RETURN_NULL();
	return tree_jsonb(rule);
}

/* tracelink.link_info(link) returns jsonb: the free-form basic info */
Datum
tl_link_info(PG_FUNCTION_ARGS)
{
	return tree_jsonb(jcs_member(definition_tree(definition_arg(fcinfo, 0)),
							   "info"));
}

/*
 * tracelink.with_process(link, process) returns link: the process added, or
 * replacing the first process of its name; process_order unchanged.
 */
Datum
tl_link_with_process_sql(PG_FUNCTION_ARGS)
{
	TlDefinition *link = definition_arg(fcinfo, 0);
	TlDefinition *process = definition_arg(fcinfo, 1);
	MemoryContext work = definition_work_context();
	MemoryContext old = MemoryContextSwitchTo(work);
	TlDefinition *result;
	char	   *json;
	int			len;

	json = tl_link_with_process(link->json, TL_DEF_JSON_LEN(link),
								process->json, TL_DEF_JSON_LEN(process), &len);
	MemoryContextSwitchTo(old);
	result = definition_make(TL_DEF_LINK, json, len);
	MemoryContextDelete(work);
	PG_RETURN_POINTER(result);
}

typedef struct MergePatchArgs
{
	const TlDefinition *def;
	Jsonb	   *changes;
} MergePatchArgs;

static JcsValue *
build_merge_patch(void *arg)
{
	MergePatchArgs *a = arg;

	return jcs_merge_patch(definition_tree(a->def),
						   jcs_from_jsonb(a->changes));
}

/*
 * tracelink.merge_patch(definition, changes jsonb) returns a definition of
 * the same type: RFC 7386 merge patch of the canonical JSON, then checked
 * and normalised as input is.
 */
Datum
tl_definition_merge_patch(PG_FUNCTION_ARGS)
{
	TlDefinition *def = definition_arg(fcinfo, 0);
	Jsonb	   *changes = PG_GETARG_JSONB_P(1);
	MergePatchArgs args;

	if (!JB_ROOT_IS_OBJECT(changes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("changes to a tracelink.%s must be a JSON object",
						tl_definition_kind_name(def->kind)),
				 errdetail("A merge patch that is not an object would replace the whole definition.")));
	args.def = def;
	args.changes = changes;
	PG_RETURN_POINTER(definition_from_tree(def->kind, build_merge_patch,
										   &args));
}

/* ----------------------------------------------------------------
 * Validation and the mesh
 * ----------------------------------------------------------------
 */

/*
 * tracelink.validate(stage | process | link) returns table(path text,
 * code text, message text): every problem, in document order.
 */
Datum
tl_definition_validate_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlDefinition *def;
	TlDefProblem *problems;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	def = definition_arg(fcinfo, 0);
	problems = tl_definition_validate(def->kind, def->json,
									  TL_DEF_JSON_LEN(def), &n);
	for (i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false};

		values[0] = CStringGetTextDatum(problems[i].path);
		values[1] = CStringGetTextDatum(problems[i].code);
		values[2] = CStringGetTextDatum(problems[i].message);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * tracelink.validate_strict(stage | process | link) returns void: raise the
 * first problem (in document order) with its own SQLSTATE.
 */
Datum
tl_definition_validate_strict(PG_FUNCTION_ARGS)
{
	TlDefinition *def = definition_arg(fcinfo, 0);
	TlDefProblem *problems;
	int			n;

	problems = tl_definition_validate(def->kind, def->json,
									  TL_DEF_JSON_LEN(def), &n);
	if (n > 0)
		tl_definition_raise(&problems[0]);
	PG_RETURN_VOID();
}

/*
 * tracelink.mesh(link) returns table(producer text, output text,
 * consumer text, input text, level int, producer_layer int,
 * consumer_layer int): the data edges, by consumer in process order.
 */
Datum
tl_link_mesh(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlDefinition *def;
	TlMesh	   *mesh;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	def = definition_arg(fcinfo, 0);
	mesh = tl_definition_mesh(def->json, TL_DEF_JSON_LEN(def));
	for (i = 0; i < mesh->nedges; i++)
	{
		const TlMeshEdge *e = &mesh->edges[i];
		const TlMeshProcess *p = &mesh->processes[e->producer];
		const TlMeshProcess *c = &mesh->processes[e->consumer];
		Datum		values[7];
		bool		nulls[7] = {false};

		values[0] = CStringGetTextDatum(p->name);
		values[1] = CStringGetTextDatum(e->output);
		values[2] = CStringGetTextDatum(c->name);
		values[3] = CStringGetTextDatum(e->input);
		values[4] = Int32GetDatum(e->level);
		values[5] = Int32GetDatum(p->layer);
		values[6] = Int32GetDatum(c->layer);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

static int
mesh_layer_cmp(const void *a, const void *b, void *arg)
{
	const TlMesh *mesh = arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;
	int			lx = mesh->processes[x].layer;
	int			ly = mesh->processes[y].layer;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x - y;
}

/*
 * tracelink.mesh_layers(link) returns table(process text, layer int,
 * position int): the topological layering, by layer then process order;
 * position is the place in process_order (NULL when not there).
 */
Datum
tl_link_mesh_layers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TlDefinition *def;
	TlMesh	   *mesh;
	int		   *by_layer;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	def = definition_arg(fcinfo, 0);
	mesh = tl_definition_mesh(def->json, TL_DEF_JSON_LEN(def));
	by_layer = palloc(sizeof(int) * Max(mesh->nprocesses, 1));
	for (i = 0; i < mesh->nprocesses; i++)
		by_layer[i] = i;
	qsort_arg(by_layer, mesh->nprocesses, sizeof(int), mesh_layer_cmp, mesh);
	for (i = 0; i < mesh->nprocesses; i++)
	{
		const TlMeshProcess *p = &mesh->processes[by_layer[i]];
		Datum		values[3];
		bool		nulls[3] = {false};

		values[0] = CStringGetTextDatum(p->name);
		values[1] = Int32GetDatum(p->layer);
		if (p->position > 0)
			values[2] = Int32GetDatum(p->position);
		else
			nulls[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
