/*-------------------------------------------------------------------------
 *
 * trace_model.c
 *	  What checking and shaping trace records look up: the trace lock, the
 *	  adopted link versions (parsed once per backend), and this
 *	  transaction's view of links, trace codes and record slots.
 *
 * trace.c asks here while shaping a record (the version a code is bound to,
 * the form's trace-code items, the entries a record must depend on), and
 * the projector (trace_project.c) while checking and writing one.
 *
 * Locking: recording and projecting trace records take the trace lock
 * (pg_extension object, subid 3) until the end of the transaction, so that
 * the per-transaction caches below see every change: apply workers already
 * serialise on the apply lock, and local writers wait for each other here.
 *
 *-------------------------------------------------------------------------
 */
#include "trace_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(tl_link_id);

/* columns of tracelink.record_slots */
enum
{
	SLOT_ID, SLOT_VERSION, SLOT_LINK, SLOT_PROCESS, SLOT_STAGE, SLOT_FORM,
	SLOT_ORIGIN, SLOT_SOURCE, SLOT_NATTS
};

int			tl_trace_records_per_entry = 100;

/* ----------------------------------------------------------------
 * Caches
 * ----------------------------------------------------------------
 */

/*
 * Parsed versions, for the life of the backend: keyed by proposal id.  A
 * proposal's definition never changes, but the table it was read from
 * may go (DROP EXTENSION, as before a restore): its relcache invalidation
 * marks the cache stale, and the next transaction state (tl_trace_lock)
 * empties it, when no parsed version is in use.
 */
static HTAB *version_cache = NULL;
static MemoryContext version_cxt = NULL;
static Oid	version_cache_relid = InvalidOid;	/* link_version_history */
static bool version_cache_stale = false;

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
 * The table the version cache was read from has changed or gone (or every
 * relation cache entry is reset: InvalidOid).  Only marks the cache: this
 * runs wherever invalidation messages are taken in, maybe while a caller
 * holds a parsed version.
 */
static void
trace_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == version_cache_relid)
		version_cache_stale = true;
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
	CacheRegisterRelcacheCallback(trace_relcache_callback, (Datum) 0);
}

/* this transaction's cache of codes, looked up or written */
static HTAB *
codes_cache_create(MemoryContext cxt)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(CodeKey);
	ctl.entrysize = sizeof(CodeEntry);
	ctl.hash = code_key_hash;
	ctl.match = code_key_match;
	ctl.hcxt = cxt;
	return hash_create("tracelink codes", 1024, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * The codes cache keeps every code a transaction looked up or wrote: a
 * peer's transaction of a million records would keep a million.  Called
 * between two entries applied from a peer, when nothing points into it:
 * past TL_TRACE_CODES_CACHED codes it is emptied.  Every code it held is
 * in the codes table, this transaction's own too (looked up with
 * SnapshotSelf), and bindings changed since were written there.
 */
void
tl_trace_forget_codes_if_many(void)
{
	if (trace_state == NULL ||
		hash_get_num_entries(trace_state->codes) <= TL_TRACE_CODES_CACHED)
		return;
	hash_destroy(trace_state->codes);
	trace_state->codes = codes_cache_create(trace_state->cxt);
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
	tl_lock_extension(TL_LOCK_TRACE);

	/* no parsed version is in use between transaction states */
	if (version_cache_stale && version_cxt != NULL)
	{
		MemoryContextReset(version_cxt);
		version_cache = NULL;
	}
	version_cache_stale = false;

	cxt = AllocSetContextCreate(TopTransactionContext, "tracelink trace state",
								ALLOCSET_DEFAULT_SIZES);
	trace_state = MemoryContextAllocZero(cxt, sizeof(TraceState));
	trace_state->cxt = cxt;

	trace_state->codes = codes_cache_create(cxt);
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

/* ----------------------------------------------------------------
 * Versions
 * ----------------------------------------------------------------
 */

/*
 * Sort and search orders: names bytewise (node and process names, as
 * qsort/bsearch callbacks on arrays of C strings), forms by (stage, form).
 */
int
tl_trace_name_cmp(const void *a, const void *b)
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

/*
 * An item's effective audience (definition.h has the rule): public, or the
 * nodes it names, or the participants of its process; sorted.
 */
static void
item_audience(TlTraceItem *ti, const TlTraceProcess *tp, const JcsValue *form,
			  const JcsValue *item)
{
	const JcsValue *nodes = NULL;
	int			i;

	switch (tl_def_item_audience(form, item, &nodes))
	{
		case TL_AUDIENCE_PUBLIC:
			return;
		case TL_AUDIENCE_PROCESS:
			ti->naudience = tp->nparticipants;
			ti->audience = palloc(sizeof(char *) * Max(ti->naudience, 1));
			for (i = 0; i < ti->naudience; i++)
				ti->audience[i] = tp->participants[i];
			break;
		case TL_AUDIENCE_INVALID:
			/* validation refuses it, so an adopted version has none */
			elog(ERROR, "data item \"%s\" of an adopted version has an invalid audience", ti->name);
			break;
		case TL_AUDIENCE_NODES:
			ti->audience = palloc(sizeof(char *) * Max(nodes->u.array.count, 1));
			for (i = 0; i < nodes->u.array.count; i++)
				if (nodes->u.array.elems[i]->kind == JCS_STRING)
					ti->audience[ti->naudience++] = nodes->u.array.elems[i]->u.string.str;
			break;
	}
	ti->private_value = true;
	if (ti->naudience > 1)
		qsort(ti->audience, ti->naudience, sizeof(char *), tl_trace_name_cmp);
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
	const char *creator = jcs_get_string(link, "creator");
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

		tp->name = jcs_get_string(proc, "name");
		tp->participants = jcs_get_strings(invitations, tp->name, true, &tp->nparticipants);
		for (s = 0; s < tp->nparticipants; s++)
			group = lappend(group, (char *) tp->participants[s]);

		/* producers: the processes with a mesh edge into this one */
		tp->producers = palloc(sizeof(char *) * Max(mesh->nedges, 1));
		for (e = 0; e < mesh->nedges; e++)
			if (strcmp(mesh->processes[mesh->edges[e].consumer].name, tp->name) == 0)
				tp->producers[tp->nproducers++] = mesh->processes[mesh->edges[e].producer].name;
		if (tp->nproducers > 1)
			qsort(tp->producers, tp->nproducers, sizeof(char *), tl_trace_name_cmp);

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
			const char **members = jcs_get_strings(stage, "members", true, &nmembers);
			int			f;

			for (f = 0; forms && f < forms->u.array.count; f++)
			{
				JcsValue   *form = forms->u.array.elems[f];
				JcsValue   *items = jcs_object_get(form, "items");
				TlTraceForm *tf = &tp->forms[tp->nforms++];
				int			i;

				tf->stage = jcs_get_string(stage, "name");
				tf->form = jcs_get_string(form, "name");
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
					const char **sources = jcs_get_strings(item, "sources", false, &nsources);
					int			k;

					ti->name = jcs_get_string(item, "name");
					ti->type = tl_vocabulary_code(tl_data_type_names, jcs_get_string(item, "type"));
					ti->widget = tl_vocabulary_code(tl_widget_names, jcs_get_string(item, "widget"));
					for (k = 0; k < nsources; k++)
					{
						int			bit = tl_vocabulary_code(tl_source_names, sources[k]);

						if (bit >= 0)
							ti->sources |= 1 << bit;
					}
					ti->required = jcs_get_true(item, "required");
					ti->trace_code = jcs_get_true(item, "trace_code");
					ti->options = jcs_get_strings(item, "options", false, &ti->noptions);
					item_audience(ti, tp, form, item);
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
			qsort(v->audience, n, sizeof(char *), tl_trace_name_cmp);
		v->naudience = 0;
		for (p = 0; p < n; p++)
			if (v->naudience == 0 || strcmp(v->audience[v->naudience - 1], v->audience[p]) != 0)
				v->audience[v->naudience++] = v->audience[p];
	}

	/*
	 * A private item's audience is kept within the business group: only
	 * the group receives the record its values belong to.
	 */
	for (p = 0; p < v->nprocesses; p++)
	{
		int			f;

		for (f = 0; f < v->processes[p].nforms; f++)
		{
			TlTraceForm *tf = &v->processes[p].forms[f];
			int			i;

			for (i = 0; i < tf->nitems; i++)
			{
				TlTraceItem *ti = &tf->items[i];
				int			k;
				int			kept = 0;

				for (k = 0; ti->private_value && k < ti->naudience; k++)
					if (bsearch(&ti->audience[k], v->audience, v->naudience, sizeof(char *),
								tl_trace_name_cmp) != NULL &&
						(kept == 0 || strcmp(ti->audience[kept - 1], ti->audience[k]) != 0))
						ti->audience[kept++] = ti->audience[k];
				ti->naudience = kept;
			}
		}
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
 * A proposal's definition never changes (the cache is emptied only when
 * its table goes, see above); the caller has found that the link's version
 * holds this proposal.
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

		if (version_cxt == NULL)
			version_cxt = AllocSetContextCreate(CacheMemoryContext, "tracelink versions",
												ALLOCSET_DEFAULT_SIZES);
		version_cache_relid = tl_relid("link_version_history");
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
	if (SPI_execute_plan(tl_spi_plan(&plan,
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
		if (SPI_execute_plan(tl_spi_plan(&plan, "SELECT name FROM tracelink.trace_links WHERE link_id = $1",
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
 * A link given by name, or by id in hex (64 lowercase hex digits,
 * optionally after a backslash and "x", or "x"): its id, and its active
 * version (0: none yet) when active_version is not NULL.  With `latest`,
 * read with a snapshot of its own taken now (recording, after the trace
 * lock), else with the caller's (a stable function).  An unknown link, and
 * a name that several creators gave their links, are errors.  The one
 * lookup of a link by what a caller gave: tracelink.link_id(), recording
 * (trace.c) and provenance (trace_query.c) all come here, with two plans
 * prepared once per backend.
 */
void
tl_trace_find_link(const char *link, bool latest, uint8 *link_id, int32 *active_version)
{
	static SPIPlanPtr by_id = NULL;
	static SPIPlanPtr by_name = NULL;
	Oid			id_types[1] = {BYTEAOID};
	Oid			name_types[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	bytea	   *id;
	uint8		parsed[TL_HASH_LEN];
	const char *hex = link;
	int			len = strlen(link);
	SPIPlanPtr	plan;
	int			spi_nest;

	if (len > 0 && hex[0] == '\\')
		hex++, len--;
	if (len > 0 && hex[0] == 'x')
		hex++, len--;
	spi_nest = tl_spi_connect();
	if (tl_hex_decode(hex, len, parsed, TL_HASH_LEN))
	{
		plan = tl_spi_plan(&by_id,
							 "SELECT l.link_id, coalesce(l.active_version, 0)"
							 "  FROM tracelink.trace_links l WHERE l.link_id = $1",
							 1, id_types);
		args[0] = PointerGetDatum(tl_bytea_from(parsed, TL_HASH_LEN));
	}
	else
	{
		plan = tl_spi_plan(&by_name,
							 "SELECT l.link_id, coalesce(l.active_version, 0)"
							 "  FROM tracelink.trace_links l WHERE l.name = $1",
							 1, name_types);
		args[0] = CStringGetTextDatum(link);
	}
	if (SPI_execute_plan(plan, args, NULL, !latest, 2) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a trace link");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown trace link \"%s\"", link)));
	if (SPI_processed > 1)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("trace link name \"%s\" is ambiguous", link),
				 errhint("Several creators used this name: give the link id (hex) instead.")));
	id = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (VARSIZE_ANY_EXHDR(id) != TL_HASH_LEN)
		elog(ERROR, "trace link has a malformed id");
	memcpy(link_id, VARDATA_ANY(id), TL_HASH_LEN);
	if (active_version != NULL)
		*active_version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
													  2, &isnull));
	tl_spi_finish(spi_nest);
}

/*
 * tracelink.link_id(link text) returns bytea
 */
Datum
tl_link_id(PG_FUNCTION_ARGS)
{
	uint8		id[TL_HASH_LEN];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"link\" must not be null")));
	tl_trace_find_link(text_to_cstring(PG_GETARG_TEXT_PP(0)), false, id, NULL);
	PG_RETURN_BYTEA_P(tl_bytea_from(id, TL_HASH_LEN));
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
		if (SPI_execute_plan(tl_spi_plan(&plan,
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

TlTraceItem *
tl_trace_find_item(const TlTraceForm *f, const char *name)
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
				sizeof(char *), tl_trace_name_cmp) != NULL;
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

/*
 * A code the projector has just written: this transaction's cache holds it
 * from now on (it was looked up, and found absent, before).  The caller
 * fills in its binding.
 */
TlTraceCode *
tl_trace_code_add(const uint8 *link_id, const char *code)
{
	CodeKey		key;
	CodeEntry  *ce;

	code_key(&key, link_id, code);
	ce = hash_search(trace_state->codes, &key, HASH_ENTER, NULL);
	ce->exists = true;
	return &ce->code;
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
int32
tl_trace_slot(const uint8 *link_id, int32 version, const TlTraceForm *form, const char *origin,
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
		values[SLOT_SOURCE] = CStringGetTextDatum(tl_source_names[source]);
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
	if (SPI_execute_plan(tl_spi_plan(&plan,
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


/*
 * Is node in the business group of the link's active version, as this
 * database holds it?  False for an unknown link or one with no adopted
 * version.  The group is the parsed version's (creator and participants,
 * parse_version()); no trace lock is needed, since adopted versions never
 * change.  inbox.c's entitlement rule asks this for trace records whose
 * audience, the group of their time, leaves a later member out.
 */
bool
tl_trace_group_member(const uint8 *link_id, const char *node)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	int			spi_nest;
	bool		member = false;

	args[0] = PointerGetDatum(tl_bytea_from(link_id, TL_HASH_LEN));
	spi_nest = tl_spi_connect();
	if (SPI_execute_plan(tl_spi_plan(&plan,
									   "SELECT h.version, h.proposal_id"
									   "  FROM tracelink.trace_links l"
									   "  JOIN tracelink.link_version_history h"
									   "    ON h.link_id = l.link_id AND h.version = l.active_version"
									   " WHERE l.link_id = $1",
									   1, types),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the active version of a trace link");
	if (SPI_processed > 0)
	{
		bool		isnull;
		int32		version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1, &isnull));
		bytea	   *prop = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 2, &isnull));
		uint8		proposal[TL_HASH_LEN];
		TlTraceVersion *v;

		if (VARSIZE_ANY_EXHDR(prop) != TL_HASH_LEN)
			elog(ERROR, "link version has a malformed proposal id");
		memcpy(proposal, VARDATA_ANY(prop), TL_HASH_LEN);
		v = cached_version(link_id, version, proposal);
		member = bsearch(&node, v->audience, v->naudience, sizeof(char *),
						 tl_trace_name_cmp) != NULL;
	}
	tl_spi_finish(spi_nest);
	return member;
}
