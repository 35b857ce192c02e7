/*-------------------------------------------------------------------------
 *
 * trace_project.c
 *	  Trace records take effect: checks against the link version, the
 *	  trace-code cache, and the projector of "tl.trace.record" entries.
 *
 * An entry holds a batch of records of one link.  Each record names its
 * trace code, the version it is recorded under, a process, stage and form
 * of that version, the data source, the form's values, and optionally the
 * codes it consumes (inputs) and produces (outputs).  The projector checks
 * every record and writes the projection: records, codes, slots and
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
 * Locking: recording and projecting trace records take the trace lock
 * (pg_extension object, subid 3) until the end of the transaction, so that
 * the per-transaction caches below see every change: apply workers already
 * serialise on the apply lock, and local writers wait for each other here.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* data types, widgets and sources of data items (docs/definitions.md) */
enum
{
	TYPE_TEXT, TYPE_NUMERIC, TYPE_TIME, TYPE_IMAGE, TYPE_VIDEO, TYPE_FILE
};
static const char *const type_names[] = {"text", "numeric", "time", "image", "video", "file", NULL};

enum
{
	WIDGET_TEXTBOX, WIDGET_CHECKBOX, WIDGET_DROPDOWN, WIDGET_TEXTAREA
};
static const char *const widget_names[] = {"textbox", "checkbox", "dropdown", "textarea", NULL};

static const char *const source_names[] = {"manual", "upload", "external", "device", NULL};

/* columns of tracelink.codes, record_slots, records, transformations */
enum
{
	CODE_ID, CODE_LINK, CODE_CODE, CODE_VERSION, CODE_CLOCK, CODE_ORD, CODE_SLOT,
	CODE_ENTRY, CODE_NATTS
};
enum
{
	SLOT_ID, SLOT_VERSION, SLOT_LINK, SLOT_PROCESS, SLOT_STAGE, SLOT_FORM,
	SLOT_ORIGIN, SLOT_SOURCE, SLOT_NATTS
};
enum
{
	REC_CODE, REC_OCCURRED, REC_RECORDED, REC_SLOT, REC_POSITION, REC_ENTRY,
	REC_DATA, REC_NATTS
};
enum
{
	EDGE_PARENT, EDGE_CHILD, EDGE_SLOT, EDGE_POSITION, EDGE_EFFECTIVE,
	EDGE_OCCURRED, EDGE_RECORDED, EDGE_DIRECTION, EDGE_QUANTITY, EDGE_UNIT,
	EDGE_ENTRY, EDGE_NATTS
};

int			tl_trace_records_per_entry = 100;

/*
 * Where the caller's batch starts, for error context: the API sets it
 * before appending (records are numbered from 1 in the caller's batch);
 * -1 on receiving nodes (records are numbered in their entry).
 */
int			tl_trace_batch_offset = -1;
const int64 *tl_trace_batch_ids = NULL;	/* staging ids, for record_staged() */

/*
 * The payload the API is appending and the tree it serialised it from: the
 * local projector takes the tree instead of parsing the same bytes again.
 */
const char *tl_trace_handoff_payload = NULL;
JcsValue   *tl_trace_handoff_tree = NULL;

/* ----------------------------------------------------------------
 * Caches
 * ----------------------------------------------------------------
 */

/* parsed versions, for the life of the backend: keyed by proposal id */
static HTAB *version_cache = NULL;
static MemoryContext version_cxt = NULL;

typedef struct CodeKey
{
	uint8		link[TL_HASH_LEN];
	char		code[TL_TRACE_CODE_MAX + 1];
} CodeKey;

typedef struct CodeEntry
{
	CodeKey		key;
	bool		exists;
	TlTraceCode code;
} CodeEntry;

/* a slot: where a record was made (the form pins link, version, process, stage) */
typedef struct SlotKey
{
	const TlTraceForm *form;
	int32		source;
	char		origin[NAMEDATALEN];
} SlotKey;

typedef struct SlotEntry
{
	SlotKey		key;
	int32		slot_id;
} SlotEntry;

typedef struct SlotProcessEntry
{
	int32		slot_id;
	char	   *process;
} SlotProcessEntry;

typedef struct LinkEntry
{
	uint8		link_id[TL_HASH_LEN];
	TlTraceLink link;
	HTAB	   *versions;		/* version number -> VersionRef */
} LinkEntry;

typedef struct VersionRef
{
	int32		version;
	bool		adopted;
	uint8		proposal[TL_HASH_LEN];
	uint8	   *adopted_by;		/* proposal, its ballots and close, if any */
	int			nadopted_by;
	TlTraceVersion *def;
} VersionRef;

/*
 * This transaction's view of the trace state.  Valid while the trace lock
 * is held; thrown away when a subtransaction rolls back (its rows, and
 * maybe the lock, went with it) and at the end of the transaction.
 */
typedef struct TraceState
{
	MemoryContext cxt;
	HTAB	   *codes;
	HTAB	   *slots;
	HTAB	   *slot_processes;
	HTAB	   *links;
} TraceState;

static TraceState *trace_state = NULL;

/* codes are hashed and compared on what they hold, not all of CodeKey */
static uint32
code_key_hash(const void *key, Size keysize)
{
	const CodeKey *k = key;
	uint32		link_part;

	memcpy(&link_part, k->link, sizeof(link_part));
	return hash_bytes((const unsigned char *) k->code, strlen(k->code)) ^ link_part;
}

static int
code_key_match(const void *key1, const void *key2, Size keysize)
{
	const CodeKey *a = key1;
	const CodeKey *b = key2;

	if (memcmp(a->link, b->link, TL_HASH_LEN) != 0)
		return 1;
	return strcmp(a->code, b->code);
}

/* At the end of a transaction its trace state is gone. */
static void
trace_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		trace_state = NULL;		/* its memory went with the transaction */
}

/*
 * A subtransaction that rolls back may take rows (and the lock) the
 * caches describe: forget them.
 */
static void
trace_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && trace_state != NULL)
	{
		MemoryContextDelete(trace_state->cxt);
		trace_state = NULL;
	}
}

/*
 * GUC and callbacks; called from _PG_init.
 */
void
tl_trace_init(void)
{
	DefineCustomIntVariable("tracelink.records_per_entry",
							gettext_noop("Trace records per ledger entry when recording in bulk."),
							gettext_noop("A record's proof carries its whole entry; larger entries record faster."),
							&tl_trace_records_per_entry,
							100, 1, 10000,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	RegisterXactCallback(trace_xact_callback, NULL);
	RegisterSubXactCallback(trace_subxact_callback, NULL);
}

/*
 * Take the trace lock (see the file header) and set up this transaction's
 * caches.
 */
void
tl_trace_lock(void)
{
	HASHCTL		ctl;
	MemoryContext cxt;

	if (trace_state != NULL)
		return;
	LockDatabaseObject(ExtensionRelationId, get_extension_oid("tracelink", false),
					   3, ExclusiveLock);

	cxt = AllocSetContextCreate(TopTransactionContext, "tracelink trace state",
								ALLOCSET_DEFAULT_SIZES);
	trace_state = MemoryContextAllocZero(cxt, sizeof(TraceState));
	trace_state->cxt = cxt;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(CodeKey);
	ctl.entrysize = sizeof(CodeEntry);
	ctl.hash = code_key_hash;
	ctl.match = code_key_match;
	ctl.hcxt = cxt;
	trace_state->codes = hash_create("tracelink codes", 1024, &ctl,
									 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(SlotKey);
	ctl.entrysize = sizeof(SlotEntry);
	ctl.hcxt = cxt;
	trace_state->slots = hash_create("tracelink slots", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(SlotProcessEntry);
	ctl.hcxt = cxt;
	trace_state->slot_processes = hash_create("tracelink slot processes", 64, &ctl,
											  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = TL_HASH_LEN;
	ctl.entrysize = sizeof(LinkEntry);
	ctl.hcxt = cxt;
	trace_state->links = hash_create("tracelink links", 8, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * A query prepared once per backend: recording a single record would
 * otherwise spend most of its time planning the same few lookups.
 */
SPIPlanPtr
tl_trace_plan(SPIPlanPtr *plan, const char *query, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(query, nargs, types);

		if (p == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", query, SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/* ----------------------------------------------------------------
 * Versions
 * ----------------------------------------------------------------
 */

/* Sort and search orders: names bytewise, forms by (stage, form). */
static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int
item_cmp(const void *a, const void *b)
{
	return strcmp(((const TlTraceItem *) a)->name, ((const TlTraceItem *) b)->name);
}

static int
form_cmp(const void *a, const void *b)
{
	const TlTraceForm *x = a;
	const TlTraceForm *y = b;
	int			c = strcmp(x->stage, y->stage);

	return c != 0 ? c : strcmp(x->form, y->form);
}

static int
process_cmp(const void *a, const void *b)
{
	return strcmp(((const TlTraceProcess *) a)->name, ((const TlTraceProcess *) b)->name);
}

/* Members of a definition tree, with defaults for absent ones. */
static const char *
tree_string(const JcsValue *obj, const char *key)
{
	JcsValue   *v = jcs_object_get(obj, key);

	return (v != NULL && v->kind == JCS_STRING) ? v->u.string.str : NULL;
}

static bool
tree_bool(const JcsValue *obj, const char *key)
{
	JcsValue   *v = jcs_object_get(obj, key);

	return v != NULL && v->kind == JCS_TRUE;
}

/* the strings of an array member, sorted when asked; *n = how many */
static const char **
tree_strings(const JcsValue *obj, const char *key, bool sort, int *n)
{
	JcsValue   *v = jcs_object_get(obj, key);
	const char **out;
	int			i;

	*n = 0;
	if (v == NULL || v->kind != JCS_ARRAY)
		return NULL;
	out = palloc(sizeof(char *) * Max(v->u.array.count, 1));
	for (i = 0; i < v->u.array.count; i++)
		if (v->u.array.elems[i]->kind == JCS_STRING)
			out[(*n)++] = v->u.array.elems[i]->u.string.str;
	if (sort && *n > 1)
		qsort(out, *n, sizeof(char *), cstring_cmp);
	return out;
}

/* Index of a name in a NULL-terminated list, -1 if absent. */
static int
name_index(const char *const *names, const char *name)
{
	int			i;

	for (i = 0; names[i] != NULL; i++)
		if (name != NULL && strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/*
 * Parse an adopted link definition (canonical JSON, already validated when
 * it was proposed) into what checking records needs.
 */
static TlTraceVersion *
parse_version(const char *json, int len, int32 version, const uint8 *proposal)
{
	JcsValue   *link = jcs_parse(json, len);
	JcsValue   *processes = jcs_object_get(link, "processes");
	JcsValue   *invitations = jcs_object_get(link, "invitations");
	TlTraceVersion *v = palloc0(sizeof(TlTraceVersion));
	TlMesh	   *mesh = tl_mesh_from_tree(link);
	List	   *group = NIL;
	const char *creator = tree_string(link, "creator");
	int			p;

	memcpy(v->proposal, proposal, TL_HASH_LEN);
	v->version = version;
	v->nprocesses = (processes && processes->kind == JCS_ARRAY) ? processes->u.array.count : 0;
	v->processes = palloc0(sizeof(TlTraceProcess) * Max(v->nprocesses, 1));
	if (creator)
		group = lappend(group, (char *) creator);
	for (p = 0; p < v->nprocesses; p++)
	{
		JcsValue   *proc = processes->u.array.elems[p];
		JcsValue   *stages = jcs_object_get(proc, "stages");
		TlTraceProcess *tp = &v->processes[p];
		int			nforms = 0;
		int			s;
		int			e;

		tp->name = tree_string(proc, "name");
		tp->participants = tree_strings(invitations, tp->name, true, &tp->nparticipants);
		for (s = 0; s < tp->nparticipants; s++)
			group = lappend(group, (char *) tp->participants[s]);

		/* producers: the processes with a mesh edge into this one */
		tp->producers = palloc(sizeof(char *) * Max(mesh->nedges, 1));
		for (e = 0; e < mesh->nedges; e++)
			if (strcmp(mesh->processes[mesh->edges[e].consumer].name, tp->name) == 0)
				tp->producers[tp->nproducers++] = mesh->processes[mesh->edges[e].producer].name;
		if (tp->nproducers > 1)
			qsort(tp->producers, tp->nproducers, sizeof(char *), cstring_cmp);

		for (s = 0; stages && s < stages->u.array.count; s++)
		{
			JcsValue   *forms = jcs_object_get(stages->u.array.elems[s], "forms");

			nforms += forms ? forms->u.array.count : 0;
		}
		tp->forms = palloc0(sizeof(TlTraceForm) * Max(nforms, 1));
		for (s = 0; stages && s < stages->u.array.count; s++)
		{
			JcsValue   *stage = stages->u.array.elems[s];
			JcsValue   *forms = jcs_object_get(stage, "forms");
			int			nmembers;
			const char **members = tree_strings(stage, "members", true, &nmembers);
			int			f;

			for (f = 0; forms && f < forms->u.array.count; f++)
			{
				JcsValue   *form = forms->u.array.elems[f];
				JcsValue   *items = jcs_object_get(form, "items");
				TlTraceForm *tf = &tp->forms[tp->nforms++];
				int			i;

				tf->stage = tree_string(stage, "name");
				tf->form = tree_string(form, "name");
				tf->members = members;
				tf->nmembers = nmembers;
				tf->process = tp;
				tf->nitems = items ? items->u.array.count : 0;
				tf->items = palloc0(sizeof(TlTraceItem) * Max(tf->nitems, 1));
				for (i = 0; i < tf->nitems; i++)
				{
					JcsValue   *item = items->u.array.elems[i];
					TlTraceItem *ti = &tf->items[i];
					int			nsources;
					const char **sources = tree_strings(item, "sources", false, &nsources);
					int			k;

					ti->name = tree_string(item, "name");
					ti->type = name_index(type_names, tree_string(item, "type"));
					ti->widget = name_index(widget_names, tree_string(item, "widget"));
					for (k = 0; k < nsources; k++)
					{
						int			bit = name_index(source_names, sources[k]);

						if (bit >= 0)
							ti->sources |= 1 << bit;
					}
					ti->required = tree_bool(item, "required");
					ti->trace_code = tree_bool(item, "trace_code");
					ti->options = tree_strings(item, "options", false, &ti->noptions);
				}
				qsort(tf->items, tf->nitems, sizeof(TlTraceItem), item_cmp);
			}
		}
		qsort(tp->forms, tp->nforms, sizeof(TlTraceForm), form_cmp);
	}
	/* the processes' forms point at them: sort a copy and repoint */
	qsort(v->processes, v->nprocesses, sizeof(TlTraceProcess), process_cmp);
	for (p = 0; p < v->nprocesses; p++)
	{
		int			f;

		for (f = 0; f < v->processes[p].nforms; f++)
			v->processes[p].forms[f].process = &v->processes[p];
	}

	/* the business group: creator and participants, sorted, distinct */
	{
		ListCell   *lc;
		int			n = 0;

		v->audience = palloc(sizeof(char *) * Max(list_length(group), 1));
		foreach(lc, group)
			v->audience[n++] = lfirst(lc);
		if (n > 1)
			qsort(v->audience, n, sizeof(char *), cstring_cmp);
		v->naudience = 0;
		for (p = 0; p < n; p++)
			if (v->naudience == 0 || strcmp(v->audience[v->naudience - 1], v->audience[p]) != 0)
				v->audience[v->naudience++] = v->audience[p];
	}
	return v;
}

typedef struct VersionCacheEntry
{
	uint8		proposal[TL_HASH_LEN];
	TlTraceVersion *version;
} VersionCacheEntry;

/*
 * A version by proposal id, parsed once per backend: its definition (tens
 * of kilobytes, often compressed) is read only when it is not cached yet.
 * A proposal's definition never changes, so the cache needs no invalidation;
 * the caller has found that the link's version holds this proposal.
 */
static TlTraceVersion *
cached_version(const uint8 *link_id, int32 version, const uint8 *proposal)
{
	static SPIPlanPtr plan = NULL;
	VersionCacheEntry *entry;
	bool		found;
	Oid			types[2] = {BYTEAOID, INT4OID};
	Datum		args[2];
	char	   *json;
	TlTraceVersion *v;
	MemoryContext old;

	if (version_cache == NULL)
	{
		HASHCTL		ctl;

		version_cxt = AllocSetContextCreate(CacheMemoryContext, "tracelink versions",
											ALLOCSET_DEFAULT_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = TL_HASH_LEN;
		ctl.entrysize = sizeof(VersionCacheEntry);
		ctl.hcxt = version_cxt;
		version_cache = hash_create("tracelink versions", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(version_cache, proposal, HASH_FIND, &found);
	if (found)
		return entry->version;

	/* the caller is connected to SPI */
	args[0] = PointerGetDatum(tl_bytea_from(link_id, TL_HASH_LEN));
	args[1] = Int32GetDatum(version);
	if (SPI_execute_plan(tl_trace_plan(&plan,
									   "SELECT h.definition::text FROM tracelink.link_version_history h"
									   " WHERE h.link_id = $1 AND h.version = $2",
									   2, types),
						 args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the definition of a link version");
	json = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	old = MemoryContextSwitchTo(version_cxt);
	v = parse_version(json, strlen(json), version, proposal);
	MemoryContextSwitchTo(old);
	entry = hash_search(version_cache, proposal, HASH_ENTER, &found);
	entry->version = v;
	return v;
}

/* A link's entry in this transaction's cache, read when first asked for. */
static LinkEntry *
link_entry(const uint8 *link_id)
{
	int			spi_nest;
	LinkEntry  *le;
	bool		found;

	Assert(trace_state != NULL);
	le = hash_search(trace_state->links, link_id, HASH_ENTER, &found);
	if (!found)
	{
		HASHCTL		ctl;

		memset(&le->link, 0, sizeof(le->link));
		memcpy(le->link.link_id, link_id, TL_HASH_LEN);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(VersionRef);
		ctl.hcxt = trace_state->cxt;
		le->versions = hash_create("tracelink link versions", 8, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* an unknown link may become known later in the transaction: ask again */
	if (le->link.name == NULL)
	{
		static SPIPlanPtr plan = NULL;
		Oid			types[1] = {BYTEAOID};
		Datum		args[1];
		MemoryContext caller = CurrentMemoryContext;

		args[0] = PointerGetDatum(tl_bytea_from(link_id, TL_HASH_LEN));
		spi_nest = tl_spi_connect();
		if (SPI_execute_plan(tl_trace_plan(&plan, "SELECT name FROM tracelink.trace_links WHERE link_id = $1",
										   1, types),
							 args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up a trace link");
		if (SPI_processed > 0)
			le->link.name = MemoryContextStrdup(trace_state->cxt,
												SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
		tl_spi_finish(spi_nest);
		MemoryContextSwitchTo(caller);
	}
	return le;
}

/*
 * A link by id, or NULL if this node does not know it.
 */
TlTraceLink *
tl_trace_link(const uint8 *link_id)
{
	LinkEntry  *le = link_entry(link_id);

	return le->link.name != NULL ? &le->link : NULL;
}

/*
 * An adopted version of a link (its proposal id in proposal_out), or NULL
 * if the link has no such adopted version here.
 */
TlTraceVersion *
tl_trace_version(const TlTraceLink *link, int32 version, uint8 *proposal_out)
{
	int			spi_nest;
	LinkEntry  *le = link_entry(link->link_id);
	VersionRef *ref;
	bool		found;

	ref = hash_search(le->versions, &version, HASH_ENTER, &found);
	/* a version not adopted yet may be adopted later in the transaction */
	if (!found || !ref->adopted)
	{
		static SPIPlanPtr plan = NULL;
		Oid			types[2] = {BYTEAOID, INT4OID};
		Datum		args[2];
		MemoryContext caller = CurrentMemoryContext;

		ref->adopted = false;
		ref->def = NULL;
		args[0] = PointerGetDatum(tl_bytea_from(link->link_id, TL_HASH_LEN));
		args[1] = Int32GetDatum(version);
		spi_nest = tl_spi_connect();
		if (SPI_execute_plan(tl_trace_plan(&plan,
										   "SELECT h.proposal_id,"
										   "       pg_catalog.array_remove(ARRAY[h.proposal_id, p.close_entry], NULL)"
										   "       || (SELECT coalesce(pg_catalog.array_agg(b.entry_hash), '{}')"
										   "             FROM tracelink.ballots b WHERE b.proposal_id = h.proposal_id)"
										   "  FROM tracelink.link_version_history h"
										   "  JOIN tracelink.proposals p ON p.proposal_id = h.proposal_id"
										   " WHERE h.link_id = $1 AND h.version = $2",
										   2, types),
							 args, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up a link version");
		if (SPI_processed > 0)
		{
			bool		isnull;
			bytea	   *prop = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 1, &isnull));
			Datum		adopted_by = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
			MemoryContext old = MemoryContextSwitchTo(trace_state->cxt);

			if (VARSIZE_ANY_EXHDR(prop) != TL_HASH_LEN)
				elog(ERROR, "link version has a malformed proposal id");
			memcpy(ref->proposal, VARDATA_ANY(prop), TL_HASH_LEN);
			ref->nadopted_by = tl_hash_array(DatumGetArrayTypeP(adopted_by), "adoption entries",
											 &ref->adopted_by);
			MemoryContextSwitchTo(old);
			ref->def = cached_version(link->link_id, version, ref->proposal);
			ref->adopted = true;
		}
		tl_spi_finish(spi_nest);
		MemoryContextSwitchTo(caller);
	}
	if (!ref->adopted)
		return NULL;
	if (proposal_out)
		memcpy(proposal_out, ref->proposal, TL_HASH_LEN);
	return ref->def;
}

/*
 * The entries that adopted a version on this node: its proposal, the
 * ballots counted and the early close, if any.  A record under the version
 * depends on them all, so that it takes effect on a receiving node only
 * once the version is adopted there too.  Returns how many (0: the version
 * is not adopted here).
 */
int
tl_trace_version_adopted_by(const TlTraceLink *link, int32 version, const uint8 **hashes)
{
	LinkEntry  *le;
	VersionRef *ref;

	if (tl_trace_version(link, version, NULL) == NULL)
		return 0;
	le = link_entry(link->link_id);
	ref = hash_search(le->versions, &version, HASH_FIND, NULL);
	*hashes = ref->adopted_by;
	return ref->nadopted_by;
}

/*
 * Lookups in a parsed version: a process, a form of it, an item of a form;
 * NULL when absent.
 */
TlTraceProcess *
tl_trace_find_process(const TlTraceVersion *v, const char *name)
{
	TlTraceProcess key;

	key.name = name;
	return bsearch(&key, v->processes, v->nprocesses, sizeof(TlTraceProcess), process_cmp);
}

TlTraceForm *
tl_trace_find_form(const TlTraceProcess *p, const char *stage, const char *form)
{
	TlTraceForm key;

	key.stage = stage;
	key.form = form;
	return bsearch(&key, p->forms, p->nforms, sizeof(TlTraceForm), form_cmp);
}

static TlTraceItem *
find_item(const TlTraceForm *f, const char *name)
{
	TlTraceItem key;

	key.name = name;
	return bsearch(&key, f->items, f->nitems, sizeof(TlTraceItem), item_cmp);
}

/*
 * Does data flow from `producer` into `consumer`: the same process, or a
 * mesh edge between them in the consumer's version?
 */
static bool
process_feeds(const TlTraceProcess *consumer, const char *producer)
{
	return strcmp(consumer->name, producer) == 0 ||
		bsearch(&producer, consumer->producers, consumer->nproducers,
				sizeof(char *), cstring_cmp) != NULL;
}

/* ----------------------------------------------------------------
 * Codes
 * ----------------------------------------------------------------
 */

/* The cache key of a code of a link (zero-padded). */
static void
code_key(CodeKey *key, const uint8 *link_id, const char *code)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->link, link_id, TL_HASH_LEN);
	strlcpy(key->code, code, sizeof(key->code));
}

/* A codes row as a TlTraceCode. */
static void
read_code(HeapTuple tup, TupleDesc desc, TlTraceCode *c)
{
	bool		isnull;
	bytea	   *entry;

	c->code_id = DatumGetInt64(heap_getattr(tup, CODE_ID + 1, desc, &isnull));
	c->version = DatumGetInt32(heap_getattr(tup, CODE_VERSION + 1, desc, &isnull));
	c->clock = DatumGetInt64(heap_getattr(tup, CODE_CLOCK + 1, desc, &isnull));
	c->ord = DatumGetInt32(heap_getattr(tup, CODE_ORD + 1, desc, &isnull));
	c->slot = DatumGetInt32(heap_getattr(tup, CODE_SLOT + 1, desc, &isnull));
	entry = DatumGetByteaPP(heap_getattr(tup, CODE_ENTRY + 1, desc, &isnull));
	if (VARSIZE_ANY_EXHDR(entry) != TL_HASH_LEN)
		elog(ERROR, "trace code has a malformed binding entry");
	memcpy(c->entry, VARDATA_ANY(entry), TL_HASH_LEN);
}

/*
 * Look codes up in the table (committed rows and this transaction's) and
 * remember the answers, present or absent, in this transaction's cache.
 */
void
tl_trace_prefetch_codes(const uint8 *link_id, const char **codes, int n)
{
	Relation	rel = NULL;
	Oid			indexoid = InvalidOid;
	Datum		link_datum = PointerGetDatum(tl_bytea_from(link_id, TL_HASH_LEN));
	int			i;

	for (i = 0; i < n; i++)
	{
		CodeKey		key;
		CodeEntry  *ce;
		bool		found;
		ScanKeyData keys[2];
		SysScanDesc scan;
		HeapTuple	tup;

		if (strlen(codes[i]) > TL_TRACE_CODE_MAX)
			continue;			/* not a valid code: refused by its check */
		code_key(&key, link_id, codes[i]);
		ce = hash_search(trace_state->codes, &key, HASH_ENTER, &found);
		if (found)
			continue;
		ce->exists = false;
		if (rel == NULL)
		{
			rel = table_open(tl_relid("codes"), AccessShareLock);
			indexoid = tl_relid("codes_code_link");
		}
		ScanKeyInit(&keys[0], CODE_CODE + 1, BTEqualStrategyNumber, F_TEXTEQ,
					CStringGetTextDatum(codes[i]));
		keys[0].sk_collation = C_COLLATION_OID;
		ScanKeyInit(&keys[1], CODE_LINK + 1, BTEqualStrategyNumber, F_BYTEAEQ, link_datum);
		scan = systable_beginscan(rel, indexoid, true, SnapshotSelf, 2, keys);
		if (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			read_code(tup, RelationGetDescr(rel), &ce->code);
			ce->exists = true;
		}
		systable_endscan(scan);
	}
	if (rel != NULL)
		table_close(rel, AccessShareLock);
}

/*
 * A code of a link, or NULL if it has never been mentioned.
 */
TlTraceCode *
tl_trace_code(const uint8 *link_id, const char *code)
{
	CodeKey		key;
	CodeEntry  *ce;

	if (strlen(code) > TL_TRACE_CODE_MAX)
		return NULL;
	code_key(&key, link_id, code);
	ce = hash_search(trace_state->codes, &key, HASH_FIND, NULL);
	if (ce == NULL)
	{
		tl_trace_prefetch_codes(link_id, &code, 1);
		ce = hash_search(trace_state->codes, &key, HASH_FIND, NULL);
	}
	return ce->exists ? &ce->code : NULL;
}

/* ----------------------------------------------------------------
 * Slots
 * ----------------------------------------------------------------
 */

/* the process a slot belongs to */
static const char *
slot_process(int32 slot_id)
{
	SlotProcessEntry *sp;
	bool		found;

	sp = hash_search(trace_state->slot_processes, &slot_id, HASH_ENTER, &found);
	if (!found)
	{
		Relation	rel = table_open(tl_relid("record_slots"), AccessShareLock);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		sp->process = NULL;
		ScanKeyInit(&key, SLOT_ID + 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(slot_id));
		scan = systable_beginscan(rel, tl_relid("record_slots_pkey"), true, SnapshotSelf, 1, &key);
		if (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;

			sp->process = MemoryContextStrdup(trace_state->cxt,
											  TextDatumGetCString(heap_getattr(tup, SLOT_PROCESS + 1,
																			   RelationGetDescr(rel), &isnull)));
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
		if (sp->process == NULL)
			elog(ERROR, "record slot %d is missing", slot_id);
	}
	return sp->process;
}

/*
 * The slot of a record made at `form` of a version of a link, by `origin`,
 * from data source number `source`: created when new.
 */
static int32
record_slot(const uint8 *link_id, int32 version, const TlTraceForm *form, const char *origin,
			int source)
{
	SlotKey		key;
	SlotEntry  *se;
	bool		found;

	memset(&key, 0, sizeof(key));
	key.form = form;
	key.source = source;
	strlcpy(key.origin, origin, NAMEDATALEN);
	se = hash_search(trace_state->slots, &key, HASH_ENTER, &found);
	if (!found)
	{
		Relation	rel = table_open(tl_relid("record_slots"), RowExclusiveLock);
		ScanKeyData keys[7];
		SysScanDesc scan;
		HeapTuple	tup;
		Datum		values[SLOT_NATTS];
		bool		nulls[SLOT_NATTS] = {false};
		int			i;

		values[SLOT_ID] = (Datum) 0;
		values[SLOT_VERSION] = Int32GetDatum(version);
		values[SLOT_LINK] = PointerGetDatum(tl_bytea_from(link_id, TL_HASH_LEN));
		values[SLOT_PROCESS] = CStringGetTextDatum(form->process->name);
		values[SLOT_STAGE] = CStringGetTextDatum(form->stage);
		values[SLOT_FORM] = CStringGetTextDatum(form->form);
		values[SLOT_ORIGIN] = CStringGetTextDatum(origin);
		values[SLOT_SOURCE] = CStringGetTextDatum(source_names[source]);
		ScanKeyInit(&keys[0], SLOT_LINK + 1, BTEqualStrategyNumber, F_BYTEAEQ, values[SLOT_LINK]);
		ScanKeyInit(&keys[1], SLOT_VERSION + 1, BTEqualStrategyNumber, F_INT4EQ, values[SLOT_VERSION]);
		for (i = 2; i < 7; i++)
		{
			ScanKeyInit(&keys[i], SLOT_PROCESS + i - 1, BTEqualStrategyNumber, F_TEXTEQ,
						values[SLOT_PROCESS + i - 2]);
			keys[i].sk_collation = i == 5 ? C_COLLATION_OID : DEFAULT_COLLATION_OID;
		}
		scan = systable_beginscan(rel, tl_relid("record_slots_key"), true, SnapshotSelf, 7, keys);
		if (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;

			se->slot_id = DatumGetInt32(heap_getattr(tup, SLOT_ID + 1, RelationGetDescr(rel), &isnull));
			systable_endscan(scan);
		}
		else
		{
			TlRowWriter *w;

			systable_endscan(scan);
			se->slot_id = (int32) nextval_internal(tl_relid("slot_id_seq"), false);
			values[SLOT_ID] = Int32GetDatum(se->slot_id);
			w = tl_writer_open(RelationGetRelid(rel));
			tl_writer_insert(w, values, nulls);
			tl_writer_close(w);
		}
		table_close(rel, NoLock);
		{
			SlotProcessEntry *sp = hash_search(trace_state->slot_processes, &se->slot_id,
											   HASH_ENTER, &found);

			if (!found)
				sp->process = MemoryContextStrdup(trace_state->cxt, form->process->name);
		}
	}
	return se->slot_id;
}

/*
 * Has the code been mentioned (recorded, or produced as an output) at a
 * process that feeds `consumer`?  Looks at its earliest mention first, then
 * at every mention.  entry_out (may be NULL) receives the entry holding a
 * mention found.
 */
bool
tl_trace_mention_at(const TlTraceCode *code, const TlTraceProcess *consumer,
					uint8 *entry_out)
{
	int			spi_nest;
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	bool		found = false;
	uint64		i;

	if (process_feeds(consumer, slot_process(code->slot)))
	{
		if (entry_out)
			memcpy(entry_out, code->entry, TL_HASH_LEN);
		return true;
	}
	CommandCounterIncrement();
	args[0] = Int64GetDatum(code->code_id);
	spi_nest = tl_spi_connect();
	if (SPI_execute_plan(tl_trace_plan(&plan,
									   "SELECT s.process, r.entry_hash FROM tracelink.records r"
									   "  JOIN tracelink.record_slots s ON s.slot_id = r.slot_id WHERE r.code_id = $1"
									   " UNION ALL"
									   " SELECT s.process, t.entry_hash FROM tracelink.transformations t"
									   "  JOIN tracelink.record_slots s ON s.slot_id = t.slot_id"
									   " WHERE t.child_id = $1 AND t.direction = 'output'",
									   1, types),
						 args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the mentions of a trace code");
	for (i = 0; i < SPI_processed && !found; i++)
	{
		char	   *process = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (process_feeds(consumer, process))
		{
			bool		isnull;
			bytea	   *h = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 2, &isnull));

			if (entry_out && VARSIZE_ANY_EXHDR(h) == TL_HASH_LEN)
				memcpy(entry_out, VARDATA_ANY(h), TL_HASH_LEN);
			found = true;
		}
	}
	tl_spi_finish(spi_nest);
	return found;
}

/* ----------------------------------------------------------------
 * Syntax of codes, times, decimals and file references
 * ----------------------------------------------------------------
 */

/* ASCII whitespace, as in the rules of names in definitions */
static bool
ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * Trace codes follow the rules of names in definitions (non-empty, at most
 * 200 bytes, no surrounding whitespace) and hold no control characters.
 */
static bool
valid_code(const char *code, int len, const char **problem)
{
	int			i;

	if (len == 0)
		*problem = "must not be empty";
	else if (len > TL_TRACE_CODE_MAX)
		*problem = "must not be longer than 200 bytes";
	else if (ascii_space(code[0]) || ascii_space(code[len - 1]))
		*problem = "must not begin or end with whitespace";
	else
	{
		*problem = NULL;
		for (i = 0; i < len && *problem == NULL; i++)
			if ((unsigned char) code[i] < 0x20 || code[i] == 0x7f)
				*problem = "must not contain control characters";
	}
	return *problem == NULL;
}

/* n digits at s, as a number; false unless all are digits */
static bool
digits(const char *s, int n, int *out)
{
	int			i;

	*out = 0;
	for (i = 0; i < n; i++)
	{
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

/*
 * An ISO 8601 date (YYYY-MM-DD) or date-time in extended format with an
 * offset (YYYY-MM-DDThh:mm[:ss[.ffffff]] followed by Z or +hh:mm/-hh:mm),
 * years 0001 to 9999, checked strictly and without any setting (DateStyle,
 * TimeZone), so that every node agrees.  With require_time, a date alone is
 * refused.  out (may be NULL) receives the instant; a date is its midnight
 * UTC.
 */
static bool
parse_time(const char *s, int len, bool require_time, TimestampTz *out)
{
	int			year,
				month,
				day,
				hour = 0,
				minute = 0,
				second = 0,
				offset = 0;
	int64		fraction = 0;
	int			pos;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool		leap;

	if (len < 10 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) ||
		s[7] != '-' || !digits(s + 8, 2, &day))
		return false;
	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	if (year < 1 || month < 1 || month > 12 || day < 1 ||
		day > mdays[month - 1] + (month == 2 && leap ? 1 : 0))
		return false;
	pos = 10;
	if (len == 10)
	{
		if (require_time)
			return false;
	}
	else
	{
		if (len < pos + 6 || s[pos] != 'T' || !digits(s + pos + 1, 2, &hour) ||
			s[pos + 3] != ':' || !digits(s + pos + 4, 2, &minute) || hour > 23 || minute > 59)
			return false;
		pos += 6;
		if (pos < len && s[pos] == ':')
		{
			if (len < pos + 3 || !digits(s + pos + 1, 2, &second) || second > 59)
				return false;
			pos += 3;
			if (pos < len && s[pos] == '.')
			{
				int			n = 0;

				pos++;
				while (pos < len && s[pos] >= '0' && s[pos] <= '9' && n < 7)
				{
					fraction = fraction * 10 + (s[pos] - '0');
					pos++;
					n++;
				}
				if (n == 0 || n > 6)
					return false;
				while (n++ < 6)
					fraction *= 10;
			}
		}
		if (pos < len && s[pos] == 'Z')
			pos++;
		else if (pos < len && (s[pos] == '+' || s[pos] == '-'))
		{
			int			oh,
						om;

			if (len < pos + 6 || !digits(s + pos + 1, 2, &oh) || s[pos + 3] != ':' ||
				!digits(s + pos + 4, 2, &om) || oh > 23 || om > 59)
				return false;
			offset = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
			pos += 6;
		}
		else
			return false;
		if (pos != len)
			return false;
	}
	if (out)
	{
		int64		days = date2j(year, month, day) - POSTGRES_EPOCH_JDATE;
		TimestampTz t = days * USECS_PER_DAY +
			((int64) ((hour * 60 + minute) * 60 + second)) * USECS_PER_SEC + fraction -
			(int64) offset * 60 * USECS_PER_SEC;

		if (!IS_VALID_TIMESTAMP(t))
			return false;
		*out = t;
	}
	return true;
}

/*
 * The canonical form of an instant in payloads:
 * YYYY-MM-DDThh:mm:ss.ffffffZ (UTC, six fraction digits).
 */
void
tl_trace_format_time(TimestampTz t, StringInfo out)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time of a trace record must lie in the years 0001 to 9999")));
	appendStringInfo(out, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min,
					 tm.tm_sec, (int) fsec);
}

/* a decimal number in JSON number syntax, as a string (exact decimals) */
static bool
decimal_string(const char *s, int len)
{
	int			i = 0;
	int			start;

	if (len > 1000)
		return false;
	if (i < len && s[i] == '-')
		i++;
	start = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == start || (s[start] == '0' && i - start > 1))
		return false;
	if (i < len && s[i] == '.')
	{
		start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start)
			return false;
	}
	return i == len;
}

/* Exactly `want` lowercase hex digits? */
static bool
lower_hex(const char *s, int len, int want)
{
	int			i;

	if (len != want)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * Why a file reference (image, video, file) is malformed, or NULL.  Format:
 * {"sha256": 64 lowercase hex digits of the content, "name": file name,
 * "uri": where it is kept (optional), "media_type": "type/subtype"
 * (optional; image/... for images, video/... for videos), "size": bytes
 * (optional)}.
 */
static const char *
file_reference_problem(const JcsValue *v, int type)
{
	static const char *const keys[] = {"media_type", "name", "sha256", "size", "uri", NULL};
	JcsValue   *sha = jcs_object_get(v, "sha256");
	JcsValue   *name = jcs_object_get(v, "name");
	JcsValue   *uri = jcs_object_get(v, "uri");
	JcsValue   *media = jcs_object_get(v, "media_type");
	JcsValue   *size = jcs_object_get(v, "size");
	const char *problem;
	int			i;

	if (v->kind != JCS_OBJECT)
		return "a file reference must be an object";
	for (i = 0; i < v->u.object.count; i++)
		if (name_index(keys, v->u.object.members[i].key) < 0)
			return psprintf("a file reference has no key \"%s\" (keys: sha256, name, uri, media_type, size)",
							pnstrdup(v->u.object.members[i].key, Min(v->u.object.members[i].keylen, 64)));
	if (sha == NULL || sha->kind != JCS_STRING || !lower_hex(sha->u.string.str, sha->u.string.len, 64))
		return "a file reference needs \"sha256\": the SHA-256 of the content in 64 lowercase hex digits";
	if (name == NULL || name->kind != JCS_STRING ||
		!valid_code(name->u.string.str, name->u.string.len, &problem))
		return "a file reference needs a \"name\": non-empty, at most 200 bytes, no surrounding whitespace or control characters";
	if (uri != NULL && (uri->kind != JCS_STRING || uri->u.string.len == 0 || uri->u.string.len > 2048))
		return "\"uri\" of a file reference must be a non-empty string of at most 2048 bytes";
	if (media != NULL)
	{
		const char *slash;

		if (media->kind != JCS_STRING || media->u.string.len > 255 ||
			(slash = strchr(media->u.string.str, '/')) == NULL ||
			slash == media->u.string.str || slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
			strpbrk(media->u.string.str, " \t\r\n;,\"") != NULL)
			return "\"media_type\" of a file reference must look like \"type/subtype\"";
		if (type == TYPE_IMAGE && strncmp(media->u.string.str, "image/", 6) != 0)
			return "\"media_type\" of an image must be image/...";
		if (type == TYPE_VIDEO && strncmp(media->u.string.str, "video/", 6) != 0)
			return "\"media_type\" of a video must be video/...";
	}
	if (size != NULL && (size->kind != JCS_NUMBER || size->u.number < 0 ||
						 size->u.number != floor(size->u.number) || size->u.number > 9007199254740992.0))
		return "\"size\" of a file reference must be a whole number of bytes";
	return NULL;
}

/* ----------------------------------------------------------------
 * Checking a record
 * ----------------------------------------------------------------
 */

/* what errors say about the record being checked */
typedef struct RecordContext
{
	const TlEntry *entry;
	int			position;		/* in the entry */
	const char *code;
	const TlTraceLink *link;
	int32		version;
	const TlTraceForm *form;
} RecordContext;

/*
 * Error context: which record of the caller's batch, of the staging table,
 * or of a received entry.
 */
static void
record_error_context(void *arg)
{
	RecordContext *rc = arg;

	if (tl_trace_batch_ids != NULL)
		errcontext("staged record " INT64_FORMAT "%s%s%s", tl_trace_batch_ids[rc->position],
				   rc->code ? " (trace code \"" : "", rc->code ? rc->code : "", rc->code ? "\")" : "");
	else if (tl_trace_batch_offset >= 0)
		errcontext("trace record %d of the batch%s%s%s", tl_trace_batch_offset + rc->position + 1,
				   rc->code ? " (trace code \"" : "", rc->code ? rc->code : "", rc->code ? "\")" : "");
	else
	{
		char		hex[2 * TL_HASH_LEN + 1];

		tl_hex_encode(rc->entry->hash, TL_HASH_LEN, hex);
		errcontext("trace record %d of entry \\x%s of node \"%s\"", rc->position, hex,
				   rc->entry->origin);
	}
}

/* "Form "F" of stage "S" of process "P" in version N of link "L"." */
static char *
where(const RecordContext *rc)
{
	return psprintf("Form \"%s\" of stage \"%s\" of process \"%s\" in version %d of link \"%s\".",
					rc->form->form, rc->form->stage, rc->form->process->name, rc->version,
					rc->link->name);
}

/* A JSON kind, for messages. */
static const char *
kind_phrase(const JcsValue *v)
{
	switch (v->kind)
	{
		case JCS_NULL:
			return "null";
		case JCS_TRUE:
		case JCS_FALSE:
			return "a boolean";
		case JCS_NUMBER:
			return "a number";
		case JCS_STRING:
			return "a string";
		case JCS_ARRAY:
			return "an array";
		case JCS_OBJECT:
			return "an object";
	}
	return "a value";
}

/* "a", "b", "c" (or none), for details. */
static char *
quoted_list(const char *const *names, int n)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	for (i = 0; i < n; i++)
		appendStringInfo(&s, "%s\"%s\"", i > 0 ? ", " : "", names[i]);
	if (n == 0)
		appendStringInfoString(&s, "none");
	return s.data;
}

/* The sources of a bitmask, for details. */
static char *
source_list(int sources)
{
	const char *names[4];
	int			n = 0;
	int			i;

	for (i = 0; source_names[i] != NULL; i++)
		if (sources & (1 << i))
			names[n++] = source_names[i];
	return quoted_list(names, n);
}

/*
 * Check the value of one data item: its JSON kind and syntax against the
 * item's data type and widget.
 */
static void
check_value(const RecordContext *rc, const TlTraceItem *item, const JcsValue *v)
{
	const char *problem;

	if (v->kind == JCS_NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("data item \"%s\" must not be null", item->name),
				 errdetail("%s", where(rc)),
				 errhint("Leave an item without a value out.")));
	if (item->widget == WIDGET_CHECKBOX)
	{
		if (v->kind != JCS_TRUE && v->kind != JCS_FALSE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("data item \"%s\" is a check box: its value must be true or false, not %s",
							item->name, kind_phrase(v)),
					 errdetail("%s", where(rc))));
		return;
	}
	if (item->widget == WIDGET_DROPDOWN)
	{
		int			i;

		if (v->kind == JCS_STRING)
			for (i = 0; i < item->noptions; i++)
				if (strcmp(item->options[i], v->u.string.str) == 0)
					return;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("data item \"%s\" is a drop-down: its value must be one of its options", item->name),
				 errdetail("%s Options: %s.", where(rc), quoted_list(item->options, item->noptions))));
	}
	switch (item->type)
	{
		case TYPE_TEXT:
			if (v->kind != JCS_STRING)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes text, not %s", item->name, kind_phrase(v)),
						 errdetail("%s", where(rc))));
			break;
		case TYPE_NUMERIC:
			if (v->kind == JCS_STRING)
			{
				if (!decimal_string(v->u.string.str, v->u.string.len))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
							 errmsg("invalid decimal number \"%s\" for data item \"%s\"",
									pnstrdup(v->u.string.str, Min(v->u.string.len, 64)), item->name),
							 errdetail("%s", where(rc)),
							 errhint("A numeric item takes a JSON number, or a decimal string such as \"12.50\" to keep every digit.")));
			}
			else if (v->kind != JCS_NUMBER)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes a number, not %s", item->name, kind_phrase(v)),
						 errdetail("%s", where(rc))));
			break;
		case TYPE_TIME:
			if (v->kind != JCS_STRING)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes an ISO 8601 time string, not %s",
								item->name, kind_phrase(v)),
						 errdetail("%s", where(rc))));
			if (!parse_time(v->u.string.str, v->u.string.len, false, NULL))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						 errmsg("invalid ISO 8601 time \"%s\" for data item \"%s\"",
								pnstrdup(v->u.string.str, Min(v->u.string.len, 64)), item->name),
						 errdetail("%s", where(rc)),
						 errhint("Give a date (2026-05-01) or a date and time with an offset (2026-05-01T08:15:00Z, 2026-05-01T10:15:00+02:00).")));
			break;
		case TYPE_IMAGE:
		case TYPE_VIDEO:
		case TYPE_FILE:
			if ((problem = file_reference_problem(v, item->type)) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("data item \"%s\" takes a file reference: %s", item->name, problem),
						 errdetail("%s", where(rc)),
						 errhint("For example {\"sha256\": \"<64 hex digits>\", \"name\": \"leaf.jpg\", \"media_type\": \"image/jpeg\"}.")));
			break;
		default:
			elog(ERROR, "data item \"%s\" of an adopted version has an unknown type", item->name);
	}
}

/*
 * Check a record's values: known items, values that fit, the record's data
 * source allowed for each, required items present, trace-code items equal
 * to the record's code.
 */
static void
check_data(const RecordContext *rc, const JcsValue *data, int source)
{
	const TlTraceForm *f = rc->form;
	int			i;

	if (data->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the values of a record must be a JSON object of data item names and values, not %s",
						kind_phrase(data))));
	for (i = 0; i < data->u.object.count; i++)
	{
		JcsMember  *m = &data->u.object.members[i];
		TlTraceItem *item = find_item(f, m->key);

		if (item == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("form \"%s\" has no data item \"%s\"", f->form,
							pnstrdup(m->key, Min(m->keylen, 64))),
					 errdetail("%s", where(rc))));
		check_value(rc, item, m->value);
		if (!(item->sources & (1 << source)))
			ereport(ERROR,
					(errcode(ERRCODE_TL_SOURCE_NOT_ALLOWED),
					 errmsg("data item \"%s\" cannot be given by data source \"%s\"",
							item->name, source_names[source]),
					 errdetail("%s The item allows: %s.", where(rc), source_list(item->sources))));
		if (item->trace_code &&
			(m->value->kind != JCS_STRING || strcmp(m->value->u.string.str, rc->code) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("trace-code item \"%s\" must hold the record's trace code \"%s\"",
							item->name, rc->code),
					 errdetail("%s", where(rc))));
	}
	for (i = 0; i < f->nitems; i++)
		if (f->items[i].required && jcs_object_get(data, f->items[i].name) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("data item \"%s\" is required", f->items[i].name),
					 errdetail("%s", where(rc))));
}

/* ----------------------------------------------------------------
 * Values as jsonb
 * ----------------------------------------------------------------
 */

/* A JSON number as numeric, from its canonical text. */
static Datum
jcs_number_numeric(const JcsValue *v)
{
	if (v->number_text != NULL)
		return DirectFunctionCall3(numeric_in, CStringGetDatum(v->number_text),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	{
		StringInfoData s;

		initStringInfo(&s);
		jcs_append_number(&s, v->u.number);
		return DirectFunctionCall3(numeric_in, CStringGetDatum(s.data),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	}
}

/*
 * Push a tree into a jsonb under construction.  Recursive like
 * jcs_serialize(), so it checks the stack as that does.
 */
static JsonbValue *
push_jcs(JsonbParseState **ps, const JcsValue *v, JsonbIteratorToken token)
{
	JsonbValue	s;
	int			i;

	check_stack_depth();
	switch (v->kind)
	{
		case JCS_OBJECT:
			pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
			for (i = 0; i < v->u.object.count; i++)
			{
				JsonbValue	k;

				k.type = jbvString;
				k.val.string.val = v->u.object.members[i].key;
				k.val.string.len = v->u.object.members[i].keylen;
				pushJsonbValue(ps, WJB_KEY, &k);
				push_jcs(ps, v->u.object.members[i].value, WJB_VALUE);
			}
			return pushJsonbValue(ps, WJB_END_OBJECT, NULL);
		case JCS_ARRAY:
			pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
			for (i = 0; i < v->u.array.count; i++)
				push_jcs(ps, v->u.array.elems[i], WJB_ELEM);
			return pushJsonbValue(ps, WJB_END_ARRAY, NULL);
		case JCS_NULL:
			s.type = jbvNull;
			break;
		case JCS_TRUE:
		case JCS_FALSE:
			s.type = jbvBool;
			s.val.boolean = v->kind == JCS_TRUE;
			break;
		case JCS_NUMBER:
			s.type = jbvNumeric;
			s.val.numeric = DatumGetNumeric(jcs_number_numeric(v));
			break;
		case JCS_STRING:
			s.type = jbvString;
			s.val.string.val = v->u.string.str;
			s.val.string.len = v->u.string.len;
			break;
	}
	return pushJsonbValue(ps, token, &s);
}

/* an object tree as a jsonb datum */
static Datum
jcs_object_jsonb(const JcsValue *object)
{
	JsonbParseState *ps = NULL;

	Assert(object->kind == JCS_OBJECT);
	return JsonbPGetDatum(JsonbValueToJsonb(push_jcs(&ps, object, WJB_VALUE)));
}

/* ----------------------------------------------------------------
 * The projector
 * ----------------------------------------------------------------
 */

#define MAX_RECORDS 10000		/* records of one entry */

typedef struct Projection
{
	const TlEntry *e;
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

/* A code's cache entry (present or absent), looked up when new. */
static CodeEntry *
code_entry(const uint8 *link_id, const char *code)
{
	CodeKey		key;
	CodeEntry  *ce;

	code_key(&key, link_id, code);
	ce = hash_search(trace_state->codes, &key, HASH_FIND, NULL);
	if (ce == NULL)
	{
		tl_trace_prefetch_codes(link_id, &code, 1);
		ce = hash_search(trace_state->codes, &key, HASH_FIND, NULL);
	}
	return ce;
}

/*
 * A mention that is earlier than a code's binding: it becomes the binding
 * (version, rank), and the transformations touching the code are
 * re-ranked.  Happens only when nodes record a new code concurrently.
 */
static void
rebind_code(CodeEntry *ce, const Projection *pj, int32 version, int32 ord, int32 slot)
{
	int			spi_nest;
	Oid			types[6] = {INT8OID, INT4OID, INT8OID, INT4OID, INT4OID, BYTEAOID};
	Datum		args[6];

	ce->code.version = version;
	ce->code.clock = pj->clock;
	memcpy(ce->code.entry, pj->e->hash, TL_HASH_LEN);
	ce->code.ord = ord;
	ce->code.slot = slot;
	args[0] = Int64GetDatum(ce->code.code_id);
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
	CodeEntry  *ce = code_entry(pj->link->link_id, code);
	int32		ord = pj->next_ord++;

	if (!ce->exists)
	{
		Datum		values[CODE_NATTS];
		bool		nulls[CODE_NATTS] = {false};

		ce->code.code_id = nextval_internal(tl_relid("code_id_seq"), false);
		ce->code.version = version;
		ce->code.clock = pj->clock;
		memcpy(ce->code.entry, pj->e->hash, TL_HASH_LEN);
		ce->code.ord = ord;
		ce->code.slot = slot;
		values[CODE_ID] = Int64GetDatum(ce->code.code_id);
		values[CODE_LINK] = PointerGetDatum(tl_bytea_from(pj->link->link_id, TL_HASH_LEN));
		values[CODE_CODE] = CStringGetTextDatum(code);
		values[CODE_VERSION] = Int32GetDatum(version);
		values[CODE_CLOCK] = Int64GetDatum(pj->clock);
		values[CODE_ORD] = Int32GetDatum(ord);
		values[CODE_SLOT] = Int32GetDatum(slot);
		values[CODE_ENTRY] = PointerGetDatum(tl_bytea_from(pj->e->hash, TL_HASH_LEN));
		tl_writer_insert(pj->codes, values, nulls);
		ce->exists = true;
	}
	else if (rank_cmp(pj->clock, pj->e->hash, ord, ce->code.clock, ce->code.entry, ce->code.ord) < 0)
		rebind_code(ce, pj, version, ord, slot);
	return &ce->code;
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
		if (name_index(keys, spec->u.object.members[i].key) < 0)
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
	if (!valid_code(code->u.string.str, code->u.string.len, &problem))
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
		else if (quantity->kind == JCS_STRING && decimal_string(quantity->u.string.str, quantity->u.string.len))
			positive = quantity->u.string.str[0] != '-' &&
				strspn(quantity->u.string.str, "0.") < strcspn(quantity->u.string.str, "eE");
		else
			positive = false;
		if (!positive)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("quantity of trace code \"%s\" must be a positive number", flow->code),
					 errhint("Give a JSON number, or a decimal string such as \"12.50\" to keep every digit.")));
		flow->quantity = quantity->kind == JCS_NUMBER ? jcs_number_numeric(quantity) :
			DirectFunctionCall3(numeric_in, CStringGetDatum(quantity->u.string.str),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	}
	flow->unit = NULL;
	if (unit != NULL)
	{
		if (unit->kind != JCS_STRING || !valid_code(unit->u.string.str, unit->u.string.len, &problem))
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
add_edge(Projection *pj, const RecordContext *rc, const TlTraceCode *parent, const char *parent_code,
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
	static const char *const keys[] = {"code", "data", "form", "inputs", "occurred_at", "outputs",
	"process", "source", "stage", "version", NULL};
	RecordContext rc;
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
		if (name_index(keys, r->u.object.members[i].key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in a trace record",
							pnstrdup(r->u.object.members[i].key, Min(r->u.object.members[i].keylen, 64))),
					 errhint("A record has: code, process, stage, form, data, source, inputs, outputs, occurred_at.")));

	/* the code, the version and the form */
	code = record_string(r, "code");
	if (!valid_code(code, strlen(code), &problem))
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
		if (bsearch(&pj->e->origin, form->members, form->nmembers, sizeof(char *), cstring_cmp) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("node \"%s\" is not a member of stage \"%s\" of process \"%s\"",
							pj->e->origin, stage, proc->name),
					 errdetail("Version %d of link \"%s\" lets these nodes record at that stage: %s.",
							   rc.version, pj->link->name, quoted_list(form->members, form->nmembers))));
	}
	else if (bsearch(&pj->e->origin, proc->participants, proc->nparticipants, sizeof(char *),
					 cstring_cmp) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("node \"%s\" does not take part in process \"%s\" of link \"%s\"",
						pj->e->origin, proc->name, pj->link->name),
				 errdetail("Participants of the process in version %d: %s.",
						   rc.version, quoted_list(proc->participants, proc->nparticipants))));
	source = record_string(r, "source");
	source_bit = name_index(source_names, source);
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
	check_data(&rc, data, source_bit);
	occurred = jcs_object_get(r, "occurred_at");
	occurred_at = pj->recorded_at;
	if (occurred != NULL &&
		(occurred->kind != JCS_STRING ||
		 !parse_time(occurred->u.string.str, occurred->u.string.len, true, &occurred_at)))
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
	slot = record_slot(pj->link->link_id, rc.version, form, pj->e->origin, source_bit);
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
		values[REC_DATA] = jcs_object_jsonb(data);
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
							   quoted_list(proc->producers, proc->nproducers))));
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
	payload = (local && e->payload == tl_trace_handoff_payload) ?
		tl_trace_handoff_tree : jcs_parse(e->payload, e->payload_len);
	records = jcs_object_get(payload, "records");

	if (payload->kind != JCS_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a trace entry must be a JSON object")));
	for (i = 0; i < payload->u.object.count; i++)
		if (name_index(keys, payload->u.object.members[i].key) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown key \"%s\" in a trace entry",
							pnstrdup(payload->u.object.members[i].key,
									 Min(payload->u.object.members[i].keylen, 64)))));
	memset(&pj, 0, sizeof(pj));
	pj.e = e;
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
