/*-------------------------------------------------------------------------
 *
 * trace.c
 *	  Recording trace data: record(), record_batch(), record_staged().
 *
 * These functions only shape records into "tl.trace.record" entries and
 * append them; the projector (trace_project.c) checks every record and
 * writes the projection, on this node at once (a refusal is an error here)
 * and on every node of the link's business group when the entry arrives.
 *
 * Shaping means deciding what the projector cannot: the version a record is
 * under (the version its trace code is bound to, or the link's active
 * version for a code never recorded), filling in the form's trace-code
 * items, the entry's dependencies (the entries that adopted the versions
 * used, the entries holding the binding of every code the records name,
 * and for each input a mention at a process that feeds the record's), its
 * audience (the business group of those versions) and its clock (later
 * than the bindings it depends on, so that codes created here rank after
 * their inputs).
 *
 * Records are batched into entries of tracelink.records_per_entry records
 * (docs/trace.md explains the choice); an entry also ends early when its
 * dependencies would exceed what one entry may hold.
 *
 *-------------------------------------------------------------------------
 */
#include "trace_int.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tl_trace_record);
PG_FUNCTION_INFO_V1(tl_trace_record_batch);
PG_FUNCTION_INFO_V1(tl_trace_record_staged);

/* an entry holds at most this many dependencies (ledger.c allows 1024) */
#define ENTRY_MAX_DEPS 1000
/* room kept for the proposal, ballots and close of a record's version */
#define MAX_ADOPTION_DEPS 200

/* one record as the caller gave it */
typedef struct RecordSpec
{
	const char *code;
	const char *process;
	const char *stage;
	const char *form;
	const char *source;
	JcsValue   *data;			/* object, or whatever was given */
	JcsValue   *inputs;			/* array, or NULL */
	JcsValue   *outputs;		/* array, or NULL */
	bool		has_time;
	TimestampTz occurred_at;
} RecordSpec;

/* a call's records, appended an entry at a time */
typedef struct Batch
{
	TlTraceLink *link;
	int32		active_version; /* new codes are bound to it */
	char	   *origin;
	int64		appended;		/* records appended so far */
	int64		last_clock;
	uint8		last_entry[TL_HASH_LEN];
	MemoryContext chunk_cxt;	/* specs waiting to be appended */
	RecordSpec *specs;
	int64	   *ids;			/* staging ids of the specs, or NULL */
	int			nspecs;
	int			capacity;
	bool		staged;
} Batch;

/* codes first named by the entry being shaped, and their version */
typedef struct ClaimEntry
{
	char		code[TL_TRACE_CODE_MAX + 1];
	int32		version;
} ClaimEntry;

/*
 * The private values of an entry's records going to one audience: they
 * leave the public entry (which keeps their commitments) for an entry of
 * kind tl.trace.private addressed to that audience only.
 */
typedef struct PrivateGroup
{
	const char **audience;		/* sorted */
	int			naudience;
	JcsValue   *values;			/* [{"item", "position", "salt", "value"}] */
} PrivateGroup;

/* an entry being shaped */
typedef struct Shape
{
	HTAB	   *claims;
	HTAB	   *deps;			/* set of dependency hashes */
	List	   *versions;		/* TlTraceVersion * of its records */
	int64		floor_clock;	/* the clock must exceed this */
	JcsValue   *records;		/* the "records" array so far */
	int			nrecords;
	List	   *private_groups; /* PrivateGroup * */
} Shape;

/* ----------------------------------------------------------------
 * Shaping an entry
 * ----------------------------------------------------------------
 */

/* An empty entry, its tables in the current (chunk) memory context. */
static void
shape_init(Shape *sh)
{
	HASHCTL		ctl;

	memset(sh, 0, sizeof(*sh));
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TL_TRACE_CODE_MAX + 1;
	ctl.entrysize = sizeof(ClaimEntry);
	ctl.hcxt = CurrentMemoryContext;
	sh->claims = hash_create("tracelink claims", 256, &ctl,
							 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TL_HASH_LEN;
	ctl.entrysize = TL_HASH_LEN;
	ctl.hcxt = CurrentMemoryContext;
	sh->deps = hash_create("tracelink dependencies", 64, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	sh->floor_clock = -1;
	sh->records = jcs_make_array(64);
}

/* qsort order of 32-byte hashes. */
static int
hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, TL_HASH_LEN);
}

/* Add a dependency (a set: repeats are kept once). */
static void
shape_dep(Shape *sh, const uint8 *hash)
{
	(void) hash_search(sh->deps, hash, HASH_ENTER, NULL);
}

/* the dependencies, sorted; returns how many */
static int
shape_sorted_deps(Shape *sh, uint8 **out)
{
	HASH_SEQ_STATUS seq;
	uint8	   *dep;
	int			n = 0;

	*out = palloc((size_t) Max(hash_get_num_entries(sh->deps), 1) * TL_HASH_LEN);
	hash_seq_init(&seq, sh->deps);
	while ((dep = hash_seq_search(&seq)) != NULL)
		memcpy(*out + (size_t) n++ * TL_HASH_LEN, dep, TL_HASH_LEN);
	if (n > 1)
		qsort(*out, n, TL_HASH_LEN, hash_cmp);
	return n;
}

/* a mention of an existing code: depend on its binding, rank after it */
static void
shape_depend_on_code(Shape *sh, const TlTraceCode *c)
{
	shape_dep(sh, c->entry);
	sh->floor_clock = Max(sh->floor_clock, c->clock);
}

/* the version of a code in this entry: bound, claimed here, or new */
static int32
shape_version_of(Shape *sh, const Batch *b, const char *code, int32 new_version, bool claim)
{
	TlTraceCode *c = tl_trace_code(b->link->link_id, code);
	ClaimEntry *ce;
	bool		found;

	if (c != NULL)
	{
		shape_depend_on_code(sh, c);
		return c->version;
	}
	if (strlen(code) > TL_TRACE_CODE_MAX)
		return new_version;		/* refused by the projector */
	ce = hash_search(sh->claims, code, claim ? HASH_ENTER : HASH_FIND, &found);
	if (ce == NULL)
		return new_version;
	if (!found)
		ce->version = new_version;
	return ce->version;
}

/*
 * Inputs and outputs as the payload holds them: a trace code given as a
 * string becomes {"code": ...}; anything else is passed on for the
 * projector to judge.
 */
static JcsValue *
shape_flows(JcsValue *given, const char *what)
{
	JcsValue   *out;
	int			i;

	if (given == NULL || given->kind != JCS_ARRAY)
		return given;
	if (given->u.array.count > TL_TRACE_MAX_FLOWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a record may have at most %d %s", TL_TRACE_MAX_FLOWS, what)));
	out = jcs_make_array(Max(given->u.array.count, 1));
	for (i = 0; i < given->u.array.count; i++)
	{
		JcsValue   *elem = given->u.array.elems[i];

		if (elem->kind == JCS_STRING)
		{
			JcsValue   *obj = jcs_make_object(1);

			jcs_object_put(obj, "code", elem);
			jcs_object_sort(obj);
			elem = obj;
		}
		jcs_array_append(out, elem);
	}
	return out;
}

/* The trace code of an input or output object, or NULL. */
static const char *
flow_code(const JcsValue *flow)
{
	JcsValue   *c = jcs_object_get(flow, "code");

	return (c != NULL && c->kind == JCS_STRING) ? c->u.string.str : NULL;
}

/* The group of private values going to this audience, made on first use. */
static PrivateGroup *
shape_private_group(Shape *sh, const char **audience, int naudience)
{
	ListCell   *lc;
	PrivateGroup *g;
	int			i;

	foreach(lc, sh->private_groups)
	{
		g = lfirst(lc);
		if (g->naudience != naudience)
			continue;
		for (i = 0; i < naudience; i++)
			if (strcmp(g->audience[i], audience[i]) != 0)
				break;
		if (i == naudience)
			return g;
	}
	g = palloc0(sizeof(PrivateGroup));
	g->audience = audience;
	g->naudience = naudience;
	g->values = jcs_make_array(8);
	sh->private_groups = lappend(sh->private_groups, g);
	return g;
}

/*
 * The record's public values, with its private ones moved out: each gets
 * a fresh salt, its commitment goes into *commitments (NULL when there is
 * none), and the value with its salt into the entry's private group for
 * the item's audience.  The caller's data is left as it was, since a
 * record may be shaped again into a smaller entry.
 */
static JcsValue *
shape_private_values(Shape *sh, const Batch *b, const TlTraceForm *form, JcsValue *data,
					 JcsValue **commitments)
{
	JcsValue   *pub = NULL;
	int			i;

	*commitments = NULL;
	for (i = 0; i < data->u.object.count; i++)
	{
		JcsMember  *m = &data->u.object.members[i];
		TlTraceItem *item = tl_trace_find_item(form, m->key);
		uint8		salt[TL_TRACE_SALT_LEN];
		char		hex[2 * TL_HASH_LEN + 1];
		JcsValue   *v;
		const char **audience;
		int			naudience;

		if (item == NULL || !item->private_value)
			continue;			/* an unknown item is the projector's to refuse */
		if (pub == NULL)
		{
			int			k;

			pub = jcs_make_object(data->u.object.count);
			for (k = 0; k < data->u.object.count; k++)
			{
				TlTraceItem *other = tl_trace_find_item(form, data->u.object.members[k].key);

				if (other == NULL || !other->private_value)
					jcs_object_put(pub, data->u.object.members[k].key, data->u.object.members[k].value);
			}
			*commitments = jcs_make_object(4);
		}
		if (!pg_strong_random(salt, sizeof(salt)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random salt")));
		tl_trace_commitment(salt, m->value, hex);
		jcs_object_put(*commitments, m->key, jcs_make_string(hex, 2 * TL_HASH_LEN));

		audience = tl_trace_private_audience(item, b->origin, &naudience);
		v = jcs_make_object(4);
		jcs_object_put(v, "item", jcs_make_string(m->key, m->keylen));
		jcs_object_put(v, "position", jcs_make_number(sh->nrecords));
		tl_hex_encode(salt, sizeof(salt), hex);
		jcs_object_put(v, "salt", jcs_make_string(hex, 2 * TL_TRACE_SALT_LEN));
		jcs_object_put(v, "value", m->value);
		jcs_object_sort(v);
		jcs_array_append(shape_private_group(sh, audience, naudience)->values, v);
	}
	if (pub == NULL)
		return data;
	jcs_object_sort(pub);
	jcs_object_sort(*commitments);
	return pub;
}

/*
 * Shape one record into the entry: its version, dependencies, audience and
 * payload object.
 */
static void
shape_record(Shape *sh, const Batch *b, const RecordSpec *rs)
{
	JcsValue   *rec = jcs_make_object(10);
	JcsValue   *inputs = shape_flows(rs->inputs, "inputs");
	JcsValue   *outputs = shape_flows(rs->outputs, "outputs");
	JcsValue   *data = rs->data;
	JcsValue   *commitments = NULL;
	int32		version;
	TlTraceVersion *def;
	TlTraceProcess *proc = NULL;
	TlTraceForm *form = NULL;
	int			i;

	tl_require_recorder(b->link->link_id, b->link->name, rs->process);
	version = shape_version_of(sh, b, rs->code, b->active_version, true);
	def = tl_trace_version(b->link, version, NULL);
	if (def == NULL)
		elog(ERROR, "trace code \"%s\" is bound to version %d, which is not adopted",
			 rs->code, version);
	{
		const uint8 *adopted_by;
		int			n = tl_trace_version_adopted_by(b->link, version, &adopted_by);

		for (i = 0; i < n; i++)
			shape_dep(sh, adopted_by + (size_t) i * TL_HASH_LEN);
	}
	sh->versions = list_append_unique_ptr(sh->versions, def);
	proc = tl_trace_find_process(def, rs->process);
	if (proc != NULL)
		form = tl_trace_find_form(proc, rs->stage, rs->form);

	/* the form's trace-code items hold the record's code */
	if (form != NULL && data->kind == JCS_OBJECT)
	{
		bool		added = false;

		for (i = 0; i < form->nitems; i++)
			if (form->items[i].trace_code && jcs_object_get(data, form->items[i].name) == NULL)
			{
				jcs_object_put(data, form->items[i].name,
							   jcs_make_string(rs->code, strlen(rs->code)));
				added = true;
			}
		if (added)
			jcs_object_sort(data);
		/* file references to blobs held here give their size and media type */
		tl_blob_check_references(form, data);
		data = shape_private_values(sh, b, form, data, &commitments);
	}

	/* inputs: depend on their bindings and on a mention that feeds us */
	for (i = 0; inputs != NULL && inputs->kind == JCS_ARRAY && i < inputs->u.array.count; i++)
	{
		const char *code = flow_code(inputs->u.array.elems[i]);
		TlTraceCode *c = code ? tl_trace_code(b->link->link_id, code) : NULL;
		uint8		mention[TL_HASH_LEN];

		if (c == NULL)
			continue;
		shape_depend_on_code(sh, c);
		if (proc != NULL && tl_trace_mention_at(c, proc, mention))
			shape_dep(sh, mention);
	}
	/* outputs: existing ones are depended on, new ones claimed here */
	for (i = 0; outputs != NULL && outputs->kind == JCS_ARRAY && i < outputs->u.array.count; i++)
	{
		const char *code = flow_code(outputs->u.array.elems[i]);

		if (code != NULL)
			shape_version_of(sh, b, code, version, true);
	}

	jcs_object_put(rec, "code", jcs_make_string(rs->code, strlen(rs->code)));
	if (commitments != NULL)
		jcs_object_put(rec, "commitments", commitments);
	jcs_object_put(rec, "data", data);
	jcs_object_put(rec, "form", jcs_make_string(rs->form, strlen(rs->form)));
	if (inputs != NULL)
		jcs_object_put(rec, "inputs", inputs);
	if (rs->has_time)
	{
		StringInfoData t;

		initStringInfo(&t);
		tl_trace_format_time(rs->occurred_at, &t);
		jcs_object_put(rec, "occurred_at", jcs_make_string(t.data, t.len));
	}
	if (outputs != NULL)
		jcs_object_put(rec, "outputs", outputs);
	jcs_object_put(rec, "process", jcs_make_string(rs->process, strlen(rs->process)));
	jcs_object_put(rec, "source", jcs_make_string(rs->source, strlen(rs->source)));
	jcs_object_put(rec, "stage", jcs_make_string(rs->stage, strlen(rs->stage)));
	jcs_object_put(rec, "version", jcs_make_number(version));
	jcs_object_sort(rec);
	jcs_array_append(sh->records, rec);
	sh->nrecords++;
}

/*
 * Append an entry, its records numbered in errors by their place in the
 * caller's batch.
 */
static void
append_entry(Batch *b, StringInfo payload, JcsValue *tree, uint8 *deps, int ndeps,
			 const char **audience, int naudience, int start)
{
	TlTraceHandoff handoff;

	handoff.tree = tree;
	handoff.batch_offset = (int) b->appended;
	handoff.batch_ids = b->ids ? b->ids + start : NULL;
	tl_ledger_append_arg(b->origin, TL_TRACE_KIND, payload->data, payload->len,
						 deps, ndeps, audience, naudience, b->last_entry, &handoff);
}

/*
 * Append the private values of the entry just appended (b->last_entry):
 * an entry of kind tl.trace.private per audience, depending on the public
 * entry, addressed to that audience only (the publications' row filter).
 * Its projector checks every value against the commitment the public
 * record holds (trace_private.c).
 */
static void
append_private_entries(Batch *b, Shape *sh)
{
	ListCell   *lc;
	char		hex[2 * TL_HASH_LEN + 1];

	foreach(lc, sh->private_groups)
	{
		PrivateGroup *g = lfirst(lc);
		JcsValue   *root = jcs_make_object(3);
		StringInfoData payload;
		uint8		hash[TL_HASH_LEN];

		tl_hex_encode(b->last_entry, TL_HASH_LEN, hex);
		jcs_object_put(root, "entry", jcs_make_string(hex, 2 * TL_HASH_LEN));
		tl_hex_encode(b->link->link_id, TL_HASH_LEN, hex);
		jcs_object_put(root, "link", jcs_make_string(hex, 2 * TL_HASH_LEN));
		jcs_object_put(root, "values", g->values);
		jcs_object_sort(root);
		initStringInfo(&payload);
		jcs_serialize(&payload, root);
		/* its projector gets the public records as shaped: no lookup */
		tl_ledger_append_arg(b->origin, TL_TRACE_PRIVATE_KIND, payload.data, payload.len,
							 b->last_entry, 1, g->audience, g->naudience, hash, sh->records);
		pfree(payload.data);
	}
}

/*
 * Does an entry of this payload fit TL_JSON_MAX_BYTES, the most its
 * canonical form (which tl_ledger_append() hashes) may have?  Counted with
 * the longest tx and seq.
 */
static bool
entry_fits(const Batch *b, int payload_len, const uint8 *deps, int ndeps,
		   const char **audience, int naudience)
{
	StringInfoData rest;
	bool		fits;

	initStringInfo(&rest);
	tl_entry_preimage(&rest, b->origin, PG_INT64_MAX, PG_INT32_MAX, TL_TRACE_KIND, "", 0,
					  deps, ndeps, audience, naudience);
	fits = (int64) rest.len + payload_len <= TL_JSON_MAX_BYTES;
	pfree(rest.data);
	return fits;
}

/*
 * Append the shaped entry.  Errors of the projector name records by their
 * place in the caller's batch.  An entry of several records that would
 * not fit TL_JSON_MAX_BYTES is not appended: returns false, and the caller
 * shapes fewer records.  (One record too large is left to
 * tl_ledger_append() to refuse.)
 */
static bool
append_shape(Batch *b, Shape *sh, int start)
{
	StringInfoData payload;
	char		hex[2 * TL_HASH_LEN + 1];
	const char **audience;
	int			naudience = 0;
	int64		clock = tl_unix_micros(GetCurrentTimestamp());
	ListCell   *lc;
	uint8	   *deps;
	int			ndeps = shape_sorted_deps(sh, &deps);
	int			capacity = 0;
	JcsValue   *root;

	/* later than every binding it depends on, and than this call's entries */
	clock = Max(clock, Max(sh->floor_clock, b->last_clock) + 1);

	/* the business groups of the versions its records are under */
	foreach(lc, sh->versions)
		capacity += ((TlTraceVersion *) lfirst(lc))->naudience;
	audience = palloc(sizeof(char *) * Max(capacity, 1));
	foreach(lc, sh->versions)
	{
		TlTraceVersion *v = lfirst(lc);
		int			i;

		for (i = 0; i < v->naudience; i++)
			audience[naudience++] = v->audience[i];
	}
	if (naudience > 1)
		qsort(audience, naudience, sizeof(char *), tl_trace_name_cmp);
	{
		int			kept = 0;
		int			i;

		for (i = 0; i < naudience; i++)
			if (kept == 0 || strcmp(audience[kept - 1], audience[i]) != 0)
				audience[kept++] = audience[i];
		naudience = kept;
	}

	tl_hex_encode(b->link->link_id, TL_HASH_LEN, hex);
	root = jcs_make_object(3);
	jcs_object_put(root, "clock", jcs_make_number((double) clock));
	jcs_object_put(root, "link", jcs_make_string(hex, 2 * TL_HASH_LEN));
	jcs_object_put(root, "records", sh->records);
	jcs_object_sort(root);
	initStringInfo(&payload);
	jcs_serialize(&payload, root);
	if (sh->nrecords > 1 &&
		!entry_fits(b, payload.len, deps, ndeps, audience, naudience))
		return false;

	append_entry(b, &payload, root, deps, ndeps, audience, naudience, start);
	append_private_entries(b, sh);
	b->appended += sh->nrecords;
	b->last_clock = clock;
	return true;
}

/*
 * The most dependencies a record can add: the entries that adopted its
 * version (at most MAX_ADOPTION_DEPS are reserved for them), its code's
 * binding, two per input, one per output.
 */
static int
spec_max_deps(const RecordSpec *rs)
{
	int			n = MAX_ADOPTION_DEPS + 1;

	if (rs->inputs != NULL && rs->inputs->kind == JCS_ARRAY)
		n += 2 * rs->inputs->u.array.count;
	if (rs->outputs != NULL && rs->outputs->kind == JCS_ARRAY)
		n += rs->outputs->u.array.count;
	return n;
}

/*
 * Append the waiting records: an entry per records_per_entry records, or
 * sooner when the dependencies would not fit, or when the payload would
 * not (then the entry is shaped again with half as many records; shaping
 * has no effect outside the Shape, and the discarded one is freed with
 * the batch's chunk).
 */
static void
batch_flush(Batch *b)
{
	MemoryContext old = MemoryContextSwitchTo(b->chunk_cxt);
	int			start = 0;

	if (b->nspecs > 0)
	{
		const char **codes = palloc(sizeof(char *) * 16);
		int			capacity = 16;
		int			n = 0;
		int			i;

		/* one lookup pass for every code the records name */
		for (i = 0; i < b->nspecs; i++)
		{
			JcsValue   *lists[2] = {b->specs[i].inputs, b->specs[i].outputs};
			int			l;

			if (n + 1 >= capacity)
				codes = repalloc(codes, sizeof(char *) * (capacity *= 2));
			codes[n++] = b->specs[i].code;
			for (l = 0; l < 2; l++)
			{
				int			k;

				for (k = 0; lists[l] != NULL && lists[l]->kind == JCS_ARRAY &&
					 k < lists[l]->u.array.count; k++)
				{
					JcsValue   *e = lists[l]->u.array.elems[k];
					const char *c = e->kind == JCS_STRING ? e->u.string.str : flow_code(e);

					if (n + 1 >= capacity)
						codes = repalloc(codes, sizeof(char *) * (capacity *= 2));
					if (c != NULL)
						codes[n++] = c;
				}
			}
		}
		tl_trace_prefetch_codes(b->link->link_id, codes, n);
	}
	while (start < b->nspecs)
	{
		Shape		sh;
		int			i;
		int			most = b->nspecs - start;

		for (;;)
		{
			shape_init(&sh);
			for (i = start; i < b->nspecs && i - start < most; i++)
			{
				/* end the entry before a record whose dependencies might not fit */
				if (i > start &&
					hash_get_num_entries(sh.deps) + spec_max_deps(&b->specs[i]) > ENTRY_MAX_DEPS)
					break;
				shape_record(&sh, b, &b->specs[i]);
			}
			if (append_shape(b, &sh, start))
				break;
			most = (i - start) / 2;
		}
		start = i;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(b->chunk_cxt);
	b->nspecs = 0;
	b->specs = NULL;
	b->ids = NULL;
}

/* ----------------------------------------------------------------
 * Collecting records
 * ----------------------------------------------------------------
 */

/* a batch for a link given by name or hex id */
static void
batch_begin(Batch *b, text *link_arg, MemoryContext parent, bool staged)
{
	uint8		link_id[TL_HASH_LEN];
	char	   *link_name = text_to_cstring(link_arg);

	memset(b, 0, sizeof(*b));
	b->staged = staged;
	b->origin = tl_require_local_node();
	tl_trace_lock();
	tl_trace_find_link(link_name, true, link_id, &b->active_version);
	b->link = tl_trace_link(link_id);
	if (b->link == NULL)
		elog(ERROR, "trace link \"%s\" vanished", link_name);
	if (b->active_version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("link \"%s\" has no adopted version yet", b->link->name),
				 errhint("Trace data is recorded once a version of the link has been voted on-chain.")));
	b->last_clock = -1;
	b->chunk_cxt = AllocSetContextCreate(parent, "tracelink records", ALLOCSET_DEFAULT_SIZES);
	b->capacity = tl_trace_records_per_entry;
}

/* room for one more record, in the batch's memory */
static RecordSpec *
batch_next(Batch *b)
{
	if (b->nspecs == b->capacity)
		batch_flush(b);
	if (b->specs == NULL)
	{
		b->specs = MemoryContextAllocZero(b->chunk_cxt, sizeof(RecordSpec) * b->capacity);
		if (b->staged)
			b->ids = MemoryContextAllocZero(b->chunk_cxt, sizeof(int64) * b->capacity);
	}
	return &b->specs[b->nspecs++];
}

/* Append what is left of a batch and free its memory. */
static void
batch_end(Batch *b)
{
	batch_flush(b);
	MemoryContextDelete(b->chunk_cxt);
}

/* a jsonb value (may be NULL) as a tree */
static JcsValue *
tree_of(Jsonb *jb)
{
	return jb == NULL ? NULL : jcs_from_jsonb(jb);
}

/* The fields without which a record cannot even be shaped. */
static void
require_fields(const RecordSpec *rs)
{
	if (rs->code == NULL || rs->process == NULL || rs->stage == NULL || rs->form == NULL ||
		rs->source == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("trace code, process, stage, form and source of a record must not be null")));
}

/* where collecting a caller's record failed */
static void
collect_error_context(void *arg)
{
	errcontext("trace record " INT64_FORMAT " of the batch", *(int64 *) arg);
}

/* Where collecting a staged row failed. */
static void
record_staging_error_context(void *arg)
{
	errcontext("staged record " INT64_FORMAT, *(int64 *) arg);
}

/*
 * tracelink.record(link, code, process, stage, form, data, source, inputs,
 *					outputs, occurred_at) returns bytea
 *
 * One record; returns the hash of its entry (the record is at position 0).
 */
Datum
tl_trace_record(PG_FUNCTION_ARGS)
{
	Batch		b;
	RecordSpec *rs;
	MemoryContext old;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("link of a record must not be null")));
	batch_begin(&b, PG_GETARG_TEXT_PP(0), CurrentMemoryContext, false);
	rs = batch_next(&b);
	old = MemoryContextSwitchTo(b.chunk_cxt);
	rs->code = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	rs->process = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	rs->stage = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	rs->form = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	rs->data = PG_ARGISNULL(5) ? jcs_make_object(1) : tree_of(PG_GETARG_JSONB_P(5));
	rs->source = PG_ARGISNULL(6) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(6));
	rs->inputs = PG_ARGISNULL(7) ? NULL : tree_of(PG_GETARG_JSONB_P(7));
	rs->outputs = PG_ARGISNULL(8) ? NULL : tree_of(PG_GETARG_JSONB_P(8));
	rs->has_time = !PG_ARGISNULL(9);
	if (rs->has_time)
		rs->occurred_at = PG_GETARG_TIMESTAMPTZ(9);
	MemoryContextSwitchTo(old);
	require_fields(rs);
	batch_end(&b);
	PG_RETURN_BYTEA_P(tl_bytea_from(b.last_entry, TL_HASH_LEN));
}

/* a member of a batch element: a string, or NULL when absent */
static const char *
member_string(JcsValue *obj, const char *key)
{
	JcsValue   *v = jcs_object_get(obj, key);

	if (v == NULL)
		return NULL;
	if (v->kind != JCS_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" of a record must be a string", key)));
	return v->u.string.str;
}

/* one element of record_batch()'s array */
static void
spec_from_json(RecordSpec *rs, JcsValue *obj)
{
	static const char *const keys[] = {"code", "data", "form", "inputs", "occurred_at", "outputs",
	"process", "source", "stage", NULL};
	const char *occurred;
	int			i;

	if (obj->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("each record of a batch must be a JSON object")));
	for (i = 0; i < obj->u.object.count; i++)
		if (tl_vocabulary_code(keys, obj->u.object.members[i].key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in a record of a batch",
							pnstrdup(obj->u.object.members[i].key, Min(obj->u.object.members[i].keylen, 64))),
					 errhint("A record has: code, process, stage, form, data, source, inputs, outputs, occurred_at.")));
	rs->code = member_string(obj, "code");
	rs->process = member_string(obj, "process");
	rs->stage = member_string(obj, "stage");
	rs->form = member_string(obj, "form");
	rs->source = member_string(obj, "source");
	if (rs->source == NULL)
		rs->source = tl_source_names[TL_SOURCE_MANUAL];
	rs->data = jcs_object_get(obj, "data");
	if (rs->data == NULL)
		rs->data = jcs_make_object(1);
	rs->inputs = jcs_object_get(obj, "inputs");
	rs->outputs = jcs_object_get(obj, "outputs");
	occurred = member_string(obj, "occurred_at");
	rs->has_time = occurred != NULL;
	if (occurred != NULL)
		rs->occurred_at = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																  CStringGetDatum(occurred),
																  ObjectIdGetDatum(InvalidOid),
																  Int32GetDatum(-1)));
	require_fields(rs);
}

/*
 * tracelink.record_batch(link text, records jsonb) returns bigint
 *
 * Many records of one link in one call and one transaction; returns how
 * many were recorded.  Any refused record refuses the batch.
 */
Datum
tl_trace_record_batch(PG_FUNCTION_ARGS)
{
	Jsonb	   *records;
	Batch		b;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int64		index = 0;
	ErrorContextCallback callback;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("link and records of a batch must not be null")));
	records = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_ARRAY(records) || JB_ROOT_IS_SCALAR(records))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("records of a batch must be a JSON array of record objects")));
	batch_begin(&b, PG_GETARG_TEXT_PP(0), CurrentMemoryContext, false);

	callback.callback = collect_error_context;
	callback.arg = &index;
	callback.previous = error_context_stack;
	it = JsonbIteratorInit(&records->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		RecordSpec *rs;
		MemoryContext old;

		if (tok != WJB_ELEM)
			continue;
		rs = batch_next(&b);
		index++;
		old = MemoryContextSwitchTo(b.chunk_cxt);
		error_context_stack = &callback;
		spec_from_json(rs, jcs_from_jsonb(JsonbValueToJsonb(&v)));
		error_context_stack = callback.previous;
		MemoryContextSwitchTo(old);
	}
	batch_end(&b);
	PG_RETURN_INT64(b.appended);
}

/*
 * tracelink.record_staged(link text default null) returns bigint
 *
 * Records the rows of tracelink.record_staging (of one link, or all) in id
 * order, in this transaction, and removes them; returns how many.  The
 * staging table is locked against concurrent loading meanwhile.
 */
Datum
tl_trace_record_staged(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	char		nulls[1];
	MemoryContext fn_cxt = CurrentMemoryContext;
	Batch		b;
	bool		have_batch = false;
	char	   *batch_link = NULL;
	int64		total = 0;
	int64		staged_id = 0;
	SPIPlanPtr	plan;
	Portal		portal;
	ErrorContextCallback callback;

	args[0] = PG_ARGISNULL(0) ? (Datum) 0 : PointerGetDatum(PG_GETARG_TEXT_PP(0));
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	(void) tl_require_local_node();
	spi_nest = tl_spi_connect();
	if (SPI_execute("LOCK TABLE tracelink.record_staging IN EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not lock the staging table");
	plan = SPI_prepare("SELECT id, link, code, process, stage, form, data, source, inputs, outputs,"
					   "       occurred_at"
					   "  FROM tracelink.record_staging WHERE $1::text IS NULL OR link = $1 ORDER BY id",
					   1, types);
	if (plan == NULL)
		elog(ERROR, "could not read the staging table");
	portal = SPI_cursor_open(NULL, plan, args, nulls, false);

	callback.callback = record_staging_error_context;
	callback.arg = &staged_id;
	callback.previous = error_context_stack;
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *link = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
			RecordSpec *rs;
			MemoryContext old;
			Datum		d;

			staged_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			if (!have_batch || strcmp(batch_link, link) != 0)
			{
				if (have_batch)
				{
					batch_end(&b);
					total += b.appended;
				}
				error_context_stack = &callback;
				batch_begin(&b, cstring_to_text(link), fn_cxt, true);
				error_context_stack = callback.previous;
				batch_link = MemoryContextStrdup(fn_cxt, link);
				have_batch = true;
			}
			rs = batch_next(&b);
			b.ids[b.nspecs - 1] = staged_id;
			error_context_stack = &callback;
			old = MemoryContextSwitchTo(b.chunk_cxt);
			rs->code = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
			rs->process = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
			rs->stage = TextDatumGetCString(SPI_getbinval(tup, desc, 5, &isnull));
			rs->form = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
			d = SPI_getbinval(tup, desc, 7, &isnull);
			rs->data = isnull ? jcs_make_object(1) : jcs_from_jsonb(DatumGetJsonbP(d));
			rs->source = TextDatumGetCString(SPI_getbinval(tup, desc, 8, &isnull));
			d = SPI_getbinval(tup, desc, 9, &isnull);
			rs->inputs = isnull ? NULL : jcs_from_jsonb(DatumGetJsonbP(d));
			d = SPI_getbinval(tup, desc, 10, &isnull);
			rs->outputs = isnull ? NULL : jcs_from_jsonb(DatumGetJsonbP(d));
			d = SPI_getbinval(tup, desc, 11, &isnull);
			rs->has_time = !isnull;
			if (!isnull)
				rs->occurred_at = DatumGetTimestampTz(d);
			MemoryContextSwitchTo(old);
			require_fields(rs);
			error_context_stack = callback.previous;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	if (have_batch)
	{
		batch_end(&b);
		total += b.appended;
	}
	if (SPI_execute_with_args("DELETE FROM tracelink.record_staging WHERE $1::text IS NULL OR link = $1",
							  1, types, args, nulls, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not empty the staging table");
	tl_spi_finish(spi_nest);
	PG_RETURN_INT64(total);
}
