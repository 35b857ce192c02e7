/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  Appending entries to this node's chain and sealing them into blocks.
 *
 * An entry is written the moment it is appended (so the rest of the
 * transaction sees it), identified by (origin, tx, seq): tx numbers the
 * appending transaction, seq counts its entries from 0.  Its hash covers
 * those and its content, so it is known at once and returned to the caller.
 *
 * Block number, ordinals and tree head are only assigned when the
 * transaction commits: the pre-commit callback takes the origin's seal lock,
 * reads the head, computes the block's Merkle root and the origin's new tree
 * head, signs the block and writes it with the head.  Concurrent writers thus
 * serialise only for the seal, never fork the chain (the lock orders them,
 * and each reads the head its predecessor committed) and never leave a gap
 * (a transaction that aborts takes its block with it).  Savepoints that roll
 * back take their entries with them: seq is rewound so a block's entries are
 * always numbered 0..n-1.
 *
 * Locking: the seal lock is a transaction-duration ExclusiveLock on the
 * database object (pg_extension, tracelink's oid, 1).  Sealing takes it, and
 * so does the commit-time re-check of entries waiting in apply_queue
 * (project.c, "Entries that wait, and commits"), which must be ordered with
 * sealers; whoever holds it waits for nothing but other sealers.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "executor/tuptable.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tl_append);
PG_FUNCTION_INFO_V1(tl_init_node);
PG_FUNCTION_INFO_V1(tl_node_name);
PG_FUNCTION_INFO_V1(tl_node_public_key);
PG_FUNCTION_INFO_V1(tl_rotate_key);
PG_FUNCTION_INFO_V1(tl_entry_preimage_sql);
PG_FUNCTION_INFO_V1(tl_refuse_ledger_change);
PG_FUNCTION_INFO_V1(tl_ledger_row_inserted);

#define MAX_DEPS 1024

/*
 * Advisory locks on the extension object (LockDatabaseObject sub-ids):
 * sealing takes TL_LOCK_SEAL from its pre-commit callback to the end of the
 * commit; rotate_key() takes TL_LOCK_ROTATION to the end of its transaction,
 * then TL_LOCK_SEAL for a moment.  Always in this order.  The apply lock
 * (apply.c) is sub-id 2 as well: an apply worker holds it to the end of its
 * transaction and may take TL_LOCK_SEAL at commit (project.c), the same
 * order.
 */
#define TL_LOCK_SEAL 1
#define TL_LOCK_ROTATION 2

/*
 * This transaction's unsealed block, in TopTransactionContext.
 */
typedef struct PendingBlock
{
	char	   *origin;
	int64		tx;
	int32		count;			/* entries appended so far = next seq */
	int32		capacity;
	uint8	   *hashes;			/* count entry hashes */
	SubTransactionId *subids;	/* the subtransaction each was appended in */
	bool		genesis;		/* first block of a node created now */
	uint8		genesis_key[TL_ED25519_PK_LEN];
	int32		rotation_at;	/* seq of the key hand-over entry, or -1 */
	uint8		next_key[TL_ED25519_PK_LEN];
	TlRowWriter *entries;		/* open on ledger_entries */
} PendingBlock;

static PendingBlock *pending = NULL;

/* catalog lookups cached across transactions (see ledger_relcache_callback) */
static struct
{
	char		name[NAMEDATALEN];
	Oid			relid;
}			cached_relids[32];
static int	n_cached_relids = 0;
static Oid	cached_extension_oid = InvalidOid;
static char cached_node[NAMEDATALEN] = "";

static void ledger_xact_callback(XactEvent event, void *arg);
static void ledger_relcache_callback(Datum arg, Oid relid);
static void ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);

void
tl_ledger_init(void)
{
	RegisterXactCallback(ledger_xact_callback, NULL);
	RegisterSubXactCallback(ledger_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(ledger_relcache_callback, (Datum) 0);
}

/* ----------------------------------------------------------------
 * Catalog helpers
 * ----------------------------------------------------------------
 */

Oid
tl_relid(const char *relname)
{
	int			i;
	Oid			relid;

	for (i = 0; i < n_cached_relids; i++)
		if (strcmp(cached_relids[i].name, relname) == 0)
			return cached_relids[i].relid;

	relid = get_relname_relid(relname, get_namespace_oid("tracelink", false));
	if (!OidIsValid(relid))
		elog(ERROR, "tracelink relation \"%s\" is missing", relname);
	if (n_cached_relids < lengthof(cached_relids))
	{
		strlcpy(cached_relids[n_cached_relids].name, relname, NAMEDATALEN);
		cached_relids[n_cached_relids++].relid = relid;
	}
	return relid;
}

static Oid
tl_extension_oid(void)
{
	if (!OidIsValid(cached_extension_oid))
		cached_extension_oid = get_extension_oid("tracelink", false);
	return cached_extension_oid;
}

/*
 * The seal lock, for project.c's commit-time look at apply_queue: taken
 * there first, it is held to the end of the commit (sealing takes it again,
 * which costs nothing); let go only to give waiting entries their effect.
 */
void
tl_lock_seal(void)
{
	LockDatabaseObject(ExtensionRelationId, tl_extension_oid(), TL_LOCK_SEAL, ExclusiveLock);
}

void
tl_unlock_seal(void)
{
	UnlockDatabaseObject(ExtensionRelationId, tl_extension_oid(), TL_LOCK_SEAL, ExclusiveLock);
}

/*
 * The caches above and the local node's name hold until the relation cache
 * is invalidated (DROP EXTENSION drops the tables, which does that).  A
 * node's name never changes once it is set.
 */
static void
ledger_relcache_callback(Datum arg, Oid relid)
{
	n_cached_relids = 0;
	cached_extension_oid = InvalidOid;
	cached_node[0] = '\0';
}

/*
 * Node and kind names are identifiers ([a-z][a-z0-9_]*, dot-separated for
 * kinds), so that they need no escaping in canonical JSON and an outside
 * verifier can rebuild the hashed bytes without a JSON library.
 */
bool
tl_valid_node_name(const char *name)
{
	int			i;

	if (name[0] < 'a' || name[0] > 'z')
		return false;
	for (i = 1; name[i]; i++)
	{
		if (i >= 63)
			return false;
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
			  (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return false;
	}
	return true;
}

bool
tl_valid_kind(const char *kind)
{
	bool		at_start = true;
	int			i;

	for (i = 0; kind[i]; i++)
	{
		char		c = kind[i];

		if (i >= 63)
			return false;
		if (at_start)
		{
			if (c < 'a' || c > 'z')
				return false;
			at_start = false;
		}
		else if (c == '.')
			at_start = true;
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return i > 0 && !at_start;
}

/* ----------------------------------------------------------------
 * Canonical preimages
 * ----------------------------------------------------------------
 */

static void
append_hex_string(StringInfo out, const uint8 *data, int len)
{
	char		hex[2 * 64 + 1];

	Assert(len <= 64);
	tl_hex_encode(data, len, hex);
	appendStringInfoChar(out, '"');
	appendBinaryStringInfo(out, hex, 2 * len);
	appendStringInfoChar(out, '"');
}

/*
 * The canonical JSON whose SHA-256 is an entry's hash (RFC 8785 key order):
 * {"audience":null|[..],"deps":[..],"kind":..,"origin":..,"payload":..,
 *  "seq":n,"tx":n,"type":"entry"}.  deps are sorted 32-byte hashes, the
 * payload is already canonical.
 */
void
tl_entry_preimage(StringInfo out, const char *origin, int64 tx, int32 seq,
				  const char *kind, const char *payload, int payload_len,
				  const uint8 *deps, int ndeps,
				  const char *const *audience, int naudience)
{
	int			i;

	appendStringInfoString(out, "{\"audience\":");
	if (audience == NULL)
		appendStringInfoString(out, "null");
	else
	{
		appendStringInfoChar(out, '[');
		for (i = 0; i < naudience; i++)
		{
			if (i > 0)
				appendStringInfoChar(out, ',');
			jcs_append_string(out, audience[i], strlen(audience[i]));
		}
		appendStringInfoChar(out, ']');
	}
	appendStringInfoString(out, ",\"deps\":[");
	for (i = 0; i < ndeps; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		append_hex_string(out, deps + i * TL_HASH_LEN, TL_HASH_LEN);
	}
	appendStringInfoString(out, "],\"kind\":");
	jcs_append_string(out, kind, strlen(kind));
	appendStringInfoString(out, ",\"origin\":");
	jcs_append_string(out, origin, strlen(origin));
	appendStringInfoString(out, ",\"payload\":");
	appendBinaryStringInfo(out, payload, payload_len);
	appendStringInfo(out, ",\"seq\":%d,\"tx\":" INT64_FORMAT ",\"type\":\"entry\"}",
					 seq, tx);
}

/*
 * Unix-epoch microseconds of a timestamptz, as block headers carry them.
 */
int64
tl_unix_micros(TimestampTz ts)
{
	return ts + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

/*
 * The canonical JSON of a block header, whose SHA-256 is the block hash:
 * {"block_no","entries_root","entry_count","next_key","origin","prev_hash",
 *  "sealed_at","signer_key","tree_root","tree_size","tx","type":"block"}.
 * next_key is null unless the block hands over to a new key; it is in the
 * header so that a key's successor is known from blocks alone.
 */
void
tl_block_preimage(StringInfo out, const TlBlockHeader *h)
{
	appendStringInfo(out, "{\"block_no\":" INT64_FORMAT ",\"entries_root\":",
					 h->block_no);
	append_hex_string(out, h->entries_root, TL_HASH_LEN);
	appendStringInfo(out, ",\"entry_count\":%d,\"next_key\":", h->entry_count);
	if (h->has_next_key)
		append_hex_string(out, h->next_key, TL_ED25519_PK_LEN);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ",\"origin\":");
	jcs_append_string(out, h->origin, strlen(h->origin));
	appendStringInfoString(out, ",\"prev_hash\":");
	append_hex_string(out, h->prev_hash, TL_HASH_LEN);
	appendStringInfo(out, ",\"sealed_at\":" INT64_FORMAT ",\"signer_key\":",
					 tl_unix_micros(h->sealed_at));
	append_hex_string(out, h->signer_key, TL_ED25519_PK_LEN);
	appendStringInfoString(out, ",\"tree_root\":");
	append_hex_string(out, h->tree_root, TL_HASH_LEN);
	appendStringInfo(out, ",\"tree_size\":" INT64_FORMAT ",\"tx\":" INT64_FORMAT
					 ",\"type\":\"block\"}", h->tree_size, h->tx);
}

void
tl_block_hash(const TlBlockHeader *h, uint8 *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	tl_block_preimage(&buf, h);
	tl_sha256(buf.data, buf.len, out);
	pfree(buf.data);
}

/*
 * A block as canonical JSON: its header fields plus block_hash, signature
 * and (when entry_hashes is given) entry_hashes.  The export format's block
 * line; without entry hashes, a signed tree head (docs/ledger.md).
 */
void
tl_block_json(StringInfo out, const TlBlockHeader *h, const uint8 *block_hash,
			  const uint8 *signature, const uint8 *entry_hashes)
{
	int			i;

	appendStringInfoString(out, "{\"block_hash\":");
	append_hex_string(out, block_hash, TL_HASH_LEN);
	appendStringInfo(out, ",\"block_no\":" INT64_FORMAT ",\"entries_root\":", h->block_no);
	append_hex_string(out, h->entries_root, TL_HASH_LEN);
	appendStringInfo(out, ",\"entry_count\":%d", h->entry_count);
	if (entry_hashes != NULL)
	{
		appendStringInfoString(out, ",\"entry_hashes\":[");
		for (i = 0; i < h->entry_count; i++)
		{
			if (i > 0)
				appendStringInfoChar(out, ',');
			append_hex_string(out, entry_hashes + (size_t) i * TL_HASH_LEN, TL_HASH_LEN);
		}
		appendStringInfoChar(out, ']');
	}
	appendStringInfoString(out, ",\"next_key\":");
	if (h->has_next_key)
		append_hex_string(out, h->next_key, TL_ED25519_PK_LEN);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ",\"origin\":");
	jcs_append_string(out, h->origin, strlen(h->origin));
	appendStringInfoString(out, ",\"prev_hash\":");
	append_hex_string(out, h->prev_hash, TL_HASH_LEN);
	appendStringInfo(out, ",\"sealed_at\":" INT64_FORMAT ",\"signature\":",
					 tl_unix_micros(h->sealed_at));
	append_hex_string(out, signature, TL_ED25519_SIG_LEN);
	appendStringInfoString(out, ",\"signer_key\":");
	append_hex_string(out, h->signer_key, TL_ED25519_PK_LEN);
	appendStringInfoString(out, ",\"tree_root\":");
	append_hex_string(out, h->tree_root, TL_HASH_LEN);
	appendStringInfo(out, ",\"tree_size\":" INT64_FORMAT ",\"tx\":" INT64_FORMAT
					 ",\"type\":\"block\"}", h->tree_size, h->tx);
}

/* ----------------------------------------------------------------
 * The pending block
 * ----------------------------------------------------------------
 */

/*
 * The local node's name, or NULL if this database is not a node yet.
 */
char *
tl_local_node(void)
{
	int			spi_nest;
	MemoryContext caller = CurrentMemoryContext;
	char	   *name = NULL;

	if (pending != NULL)
		return pstrdup(pending->origin);
	if (cached_node[0] != '\0')
		return pstrdup(cached_node);
	spi_nest = tl_spi_connect();
	if (SPI_execute("SELECT name FROM tracelink.nodes WHERE is_local", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the local node");
	if (SPI_processed > 0)
		name = MemoryContextStrdup(caller,
								   SPI_getvalue(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1));
	tl_spi_finish(spi_nest);
	/* only a committed name is cached: init_node's transaction may abort */
	if (name != NULL)
		strlcpy(cached_node, name, NAMEDATALEN);
	return name;
}

/*
 * Start this transaction's block for `origin` if not started yet.
 */
static PendingBlock *
pending_block(const char *origin)
{
	MemoryContext old;

	if (pending != NULL)
		return pending;

	PreventCommandIfReadOnly("tracelink.append()");
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot append to the ledger during recovery")));
	/* once per transaction: is this role a member of this node? (roles.c) */
	tl_require_database_member(GetUserId());
	/* a restored node signs nothing before finish_restore() */
	tl_restore_check_hold();

	old = MemoryContextSwitchTo(TopTransactionContext);
	pending = palloc0(sizeof(PendingBlock));
	pending->origin = pstrdup(origin);
	pending->tx = nextval_internal(tl_relid("ledger_tx_seq"), false);
	pending->capacity = 16;
	pending->hashes = palloc(TL_HASH_LEN * pending->capacity);
	pending->subids = palloc(sizeof(SubTransactionId) * pending->capacity);
	pending->rotation_at = -1;

	/* the writer outlives savepoints that roll back */
	pending->entries = tl_writer_open_for_xact(tl_relid("ledger_entries"));
	MemoryContextSwitchTo(old);
	return pending;
}

/*
 * Does an entry with this hash exist (committed, or written earlier by this
 * transaction)?
 */
bool
tl_entry_exists(const uint8 *hash)
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData key;
	bool		found = false;
	bytea	   *value = (bytea *) tl_bytea_from(hash, TL_HASH_LEN);

	heap = table_open(tl_relid("ledger_entries"), AccessShareLock);
	index = index_open(tl_relid("ledger_entries_hash"), AccessShareLock);
	slot = table_slot_create(heap, NULL);
	ScanKeyInit(&key, 1, HTEqualStrategyNumber, F_BYTEAEQ, PointerGetDatum(value));
	scan = index_beginscan(heap, index, SnapshotSelf, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (!found && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		bytea	   *h = DatumGetByteaPP(slot_getattr(slot, ENTRY_HASH + 1, &isnull));

		/* a hash index is lossy: compare the real values */
		found = !isnull && VARSIZE_ANY_EXHDR(h) == TL_HASH_LEN &&
			memcmp(VARDATA_ANY(h), hash, TL_HASH_LEN) == 0;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);
	pfree(value);
	return found;
}

static int
hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, TL_HASH_LEN);
}

/*
 * Sort, de-duplicate and check dependencies: each must be a 32-byte hash of
 * an existing entry.  Returns the number kept (in place).
 */
static int
normalise_deps(uint8 *deps, int ndeps)
{
	int			kept = 0;
	int			i;

	if (ndeps > 1)
		qsort(deps, ndeps, TL_HASH_LEN, hash_cmp);
	for (i = 0; i < ndeps; i++)
	{
		uint8	   *d = deps + i * TL_HASH_LEN;

		if (kept > 0 && memcmp(deps + (kept - 1) * TL_HASH_LEN, d, TL_HASH_LEN) == 0)
			continue;
		if (!tl_entry_exists(d))
		{
			char		hex[2 * TL_HASH_LEN + 1];

			tl_hex_encode(d, TL_HASH_LEN, hex);
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("dependency \\x%s is not a ledger entry", hex),
					 errdetail("An entry may only depend on entries already in the ledger.")));
		}
		if (kept != i)
			memmove(deps + kept * TL_HASH_LEN, d, TL_HASH_LEN);
		kept++;
	}
	return kept;
}

/*
 * An entry's hash: SHA-256 of its canonical preimage.  The preimage is the
 * entry's export line, which every node must be able to read back, so an
 * entry larger than TL_JSON_MAX_BYTES is refused here, where local appends
 * and entries from peers both pass.
 */
void
tl_entry_hash(const TlEntry *e, uint8 *out)
{
	StringInfoData pre;

	initStringInfo(&pre);
	tl_entry_preimage(&pre, e->origin, e->tx, e->seq, e->kind, e->payload,
					  e->payload_len, e->deps, e->ndeps,
					  (const char *const *) e->audience, e->naudience);
	if (pre.len > TL_JSON_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ledger entry is too large"),
				 errdetail("Its canonical form (payload, dependencies and audience) has %d bytes; an entry has at most %d.",
						   pre.len, TL_JSON_MAX_BYTES)));
	tl_sha256(pre.data, pre.len, out);
	pfree(pre.data);
}

/*
 * Write an entry row (its hash already computed).
 */
void
tl_write_entry(TlRowWriter *w, const TlEntry *e)
{
	Datum		values[ENTRY_NATTS];
	bool		nulls[ENTRY_NATTS];
	int			i;

	if (RelationGetDescr(w->rel)->natts != ENTRY_NATTS)
		elog(ERROR, "tracelink.ledger_entries has an unexpected shape");
	memset(nulls, false, sizeof(nulls));
	values[ENTRY_ORIGIN] = CStringGetTextDatum(e->origin);
	values[ENTRY_TX] = Int64GetDatum(e->tx);
	values[ENTRY_SEQ] = Int32GetDatum(e->seq);
	values[ENTRY_KIND] = CStringGetTextDatum(e->kind);
	values[ENTRY_PAYLOAD] = PointerGetDatum(cstring_to_text_with_len(e->payload, e->payload_len));
	if (e->ndeps == 0)
		nulls[ENTRY_DEPS] = true;
	else
	{
		Datum	   *dep_datums = palloc(sizeof(Datum) * e->ndeps);

		for (i = 0; i < e->ndeps; i++)
			dep_datums[i] = PointerGetDatum(tl_bytea_from(e->deps + i * TL_HASH_LEN, TL_HASH_LEN));
		values[ENTRY_DEPS] = PointerGetDatum(construct_array(dep_datums, e->ndeps, BYTEAOID,
															 -1, false, TYPALIGN_INT));
	}
	if (e->audience == NULL)
		nulls[ENTRY_AUDIENCE] = true;
	else
	{
		Datum	   *aud = palloc(sizeof(Datum) * Max(e->naudience, 1));

		for (i = 0; i < e->naudience; i++)
			aud[i] = CStringGetTextDatum(e->audience[i]);
		values[ENTRY_AUDIENCE] = PointerGetDatum(construct_array(aud, e->naudience, TEXTOID,
																 -1, false, TYPALIGN_INT));
	}
	values[ENTRY_HASH] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
	tl_writer_insert(w, values, nulls);
}

/*
 * Read an entry row back into a TlEntry (palloc'd copies).
 */
void
tl_read_entry(HeapTuple tup, TupleDesc desc, TlEntry *e)
{
	bool		isnull;
	Datum		d;
	bytea	   *h;

	memset(e, 0, sizeof(*e));
	/* rows from peers reach the trigger before NOT NULL is checked */
	for (int att = 0; att < ENTRY_NATTS; att++)
	{
		if (att != ENTRY_DEPS && att != ENTRY_AUDIENCE &&
			heap_attisnull(tup, att + 1, desc))
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("ledger entry has a null in column %d", att + 1)));
	}
	e->origin = TextDatumGetCString(heap_getattr(tup, ENTRY_ORIGIN + 1, desc, &isnull));
	e->tx = DatumGetInt64(heap_getattr(tup, ENTRY_TX + 1, desc, &isnull));
	e->seq = DatumGetInt32(heap_getattr(tup, ENTRY_SEQ + 1, desc, &isnull));
	e->kind = TextDatumGetCString(heap_getattr(tup, ENTRY_KIND + 1, desc, &isnull));
	e->payload = TextDatumGetCString(heap_getattr(tup, ENTRY_PAYLOAD + 1, desc, &isnull));
	e->payload_len = strlen(e->payload);
	d = heap_getattr(tup, ENTRY_DEPS + 1, desc, &isnull);
	if (!isnull)
		e->ndeps = tl_hash_array(DatumGetArrayTypeP(d), "deps", &e->deps);
	d = heap_getattr(tup, ENTRY_AUDIENCE + 1, desc, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *elem_nulls;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elem_nulls, &e->naudience);
		e->audience = palloc(sizeof(char *) * Max(e->naudience, 1));
		for (i = 0; i < e->naudience; i++)
		{
			if (elem_nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("audience must not contain NULL")));
			e->audience[i] = TextDatumGetCString(elems[i]);
		}
	}
	h = DatumGetByteaPP(heap_getattr(tup, ENTRY_HASH + 1, desc, &isnull));
	if (VARSIZE_ANY_EXHDR(h) != TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry_hash must be a 32-byte SHA-256 hash")));
	memcpy(e->hash, VARDATA_ANY(h), TL_HASH_LEN);
}

/*
 * Append an entry to the local chain (any kind, reserved ones included: this
 * is the internal entry point).  The payload must be canonical JSON.
 * Returns the entry hash in `hash_out`.
 */
void
tl_ledger_append(const char *origin, const char *kind, const char *payload,
				 int payload_len, uint8 *deps, int ndeps,
				 const char *const *audience, int naudience, uint8 *hash_out)
{
	tl_ledger_append_arg(origin, kind, payload, payload_len, deps, ndeps,
						 audience, naudience, hash_out, NULL);
}

/*
 * The same, handing `local_arg` to the kind's projector as the entry's
 * local_arg, for what the appender knows and the payload does not say (as
 * the tree it serialised the payload from): an argument of this one call,
 * not state left behind for the projector.
 */
void
tl_ledger_append_arg(const char *origin, const char *kind, const char *payload,
					 int payload_len, uint8 *deps, int ndeps,
					 const char *const *audience, int naudience, uint8 *hash_out,
					 const void *local_arg)
{
	PendingBlock *pb;
	TlEntry		e;

	if (ndeps > MAX_DEPS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an entry may have at most %d dependencies", MAX_DEPS)));
	ndeps = normalise_deps(deps, ndeps);

	pb = pending_block(origin);
	if (strcmp(pb->origin, origin) != 0)
		elog(ERROR, "entries of one transaction must share one origin");
	if (pb->count >= TL_BLOCK_MAX_ENTRIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a transaction may append at most %d ledger entries",
						TL_BLOCK_MAX_ENTRIES),
				 errdetail("A transaction's entries make one block, whose export line must stay within the size limit of JSON documents."),
				 errhint("Append the rest in another transaction.")));

	e.origin = (char *) origin;
	e.tx = pb->tx;
	e.seq = pb->count;
	e.kind = (char *) kind;
	e.payload = (char *) payload;
	e.payload_len = payload_len;
	e.deps = deps;
	e.ndeps = ndeps;
	e.audience = (char **) audience;
	e.naudience = naudience;
	e.local_arg = local_arg;
	tl_entry_hash(&e, e.hash);
	tl_write_entry(pb->entries, &e);
	memcpy(hash_out, e.hash, TL_HASH_LEN);

	if (pb->count == pb->capacity)
	{
		pb->capacity *= 2;
		pb->hashes = repalloc(pb->hashes, TL_HASH_LEN * pb->capacity);
		pb->subids = repalloc(pb->subids, sizeof(SubTransactionId) * pb->capacity);
	}
	memcpy(pb->hashes + pb->count * TL_HASH_LEN, hash_out, TL_HASH_LEN);
	pb->subids[pb->count] = GetCurrentSubTransactionId();
	pb->count++;

	/* last: a projector may append entries of its own */
	if (strncmp(kind, "tl.", 3) == 0)
		tl_project_entry(&e, true);
}

/* ----------------------------------------------------------------
 * Heads
 * ----------------------------------------------------------------
 */

/*
 * Read an origin's head with `snapshot`; false if it has none yet.  The
 * heads table holds one row per origin, so a scan is as cheap as an index
 * probe.
 */
bool
tl_read_head(Relation heads, Snapshot snapshot, const char *origin,
			 TlHead *head)
{
	TupleDesc	desc = RelationGetDescr(heads);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	/* one row per origin, found through the primary key (C collation) */
	ScanKeyInit(&key, HEAD_ORIGIN + 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(origin));
	key.sk_collation = C_COLLATION_OID;
	scan = systable_beginscan(heads, tl_relid("ledger_heads_pkey"), true,
							  snapshot, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		bytea	   *bh = DatumGetByteaPP(heap_getattr(tup, HEAD_BLOCK_HASH + 1, desc, &isnull));
		bytea	   *fr = DatumGetByteaPP(heap_getattr(tup, HEAD_FRONTIER + 1, desc, &isnull));
		bytea	   *sk = DatumGetByteaPP(heap_getattr(tup, HEAD_SIGNER_KEY + 1, desc, &isnull));

		head->block_no = DatumGetInt64(heap_getattr(tup, HEAD_BLOCK_NO + 1, desc, &isnull));
		head->tree_size = DatumGetInt64(heap_getattr(tup, HEAD_TREE_SIZE + 1, desc, &isnull));
		if (VARSIZE_ANY_EXHDR(bh) != TL_HASH_LEN ||
			VARSIZE_ANY_EXHDR(sk) != TL_ED25519_PK_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("ledger head of origin \"%s\" is corrupt", origin)));
		memcpy(head->block_hash, VARDATA_ANY(bh), TL_HASH_LEN);
		memcpy(head->signer_key, VARDATA_ANY(sk), TL_ED25519_PK_LEN);
		tl_frontier_from_bytes(&head->frontier, head->tree_size,
							   (uint8 *) VARDATA_ANY(fr), VARSIZE_ANY_EXHDR(fr));
		head->tid = tup->t_self;
		found = true;
	}
	systable_endscan(scan);
	return found;
}

/*
 * Insert or update an origin's head.
 */
void
tl_write_head(TlRowWriter *w, const char *origin, const TlHead *head,
			  bool exists, Snapshot snapshot)
{
	Datum		values[HEAD_NATTS];
	bool		nulls[HEAD_NATTS];

	memset(nulls, false, sizeof(nulls));
	values[HEAD_ORIGIN] = CStringGetTextDatum(origin);
	values[HEAD_BLOCK_NO] = Int64GetDatum(head->block_no);
	values[HEAD_BLOCK_HASH] = PointerGetDatum(tl_bytea_from(head->block_hash, TL_HASH_LEN));
	values[HEAD_TREE_SIZE] = Int64GetDatum(head->tree_size);
	values[HEAD_FRONTIER] = PointerGetDatum(tl_frontier_to_bytea(&head->frontier));
	values[HEAD_SIGNER_KEY] = PointerGetDatum(tl_bytea_from(head->signer_key, TL_ED25519_PK_LEN));
	values[HEAD_APPLIED_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	if (exists)
		tl_writer_update(w, (ItemPointer) &head->tid, values, nulls, snapshot);
	else
		tl_writer_insert(w, values, nulls);
}

/*
 * Write a block row.
 */
void
tl_write_block(TlRowWriter *w, const TlBlockHeader *h, const uint8 *entry_hashes,
			   const uint8 *block_hash, const uint8 *signature)
{
	Datum		values[BLOCK_NATTS];
	bool		nulls[BLOCK_NATTS];

	memset(nulls, false, sizeof(nulls));
	values[BLOCK_ORIGIN] = CStringGetTextDatum(h->origin);
	values[BLOCK_NO] = Int64GetDatum(h->block_no);
	values[BLOCK_TX] = Int64GetDatum(h->tx);
	values[BLOCK_ENTRY_COUNT] = Int32GetDatum(h->entry_count);
	values[BLOCK_ENTRY_HASHES] = PointerGetDatum(tl_bytea_from(entry_hashes,
															   (size_t) h->entry_count * TL_HASH_LEN));
	values[BLOCK_ENTRIES_ROOT] = PointerGetDatum(tl_bytea_from(h->entries_root, TL_HASH_LEN));
	values[BLOCK_TREE_SIZE] = Int64GetDatum(h->tree_size);
	values[BLOCK_TREE_ROOT] = PointerGetDatum(tl_bytea_from(h->tree_root, TL_HASH_LEN));
	values[BLOCK_PREV_HASH] = PointerGetDatum(tl_bytea_from(h->prev_hash, TL_HASH_LEN));
	values[BLOCK_SEALED_AT] = TimestampTzGetDatum(h->sealed_at);
	values[BLOCK_SIGNER_KEY] = PointerGetDatum(tl_bytea_from(h->signer_key, TL_ED25519_PK_LEN));
	if (h->has_next_key)
		values[BLOCK_NEXT_KEY] = PointerGetDatum(tl_bytea_from(h->next_key, TL_ED25519_PK_LEN));
	else
		nulls[BLOCK_NEXT_KEY] = true;
	values[BLOCK_HASH] = PointerGetDatum(tl_bytea_from(block_hash, TL_HASH_LEN));
	values[BLOCK_SIGNATURE] = PointerGetDatum(tl_bytea_from(signature, TL_ED25519_SIG_LEN));
	tl_writer_insert(w, values, nulls);
}

/*
 * Extend a tree (given by its frontier) by the entries of a block, giving
 * the block's own root and the new tree root.
 */
void
tl_extend_tree(TlMerkleFrontier *frontier, const uint8 *entry_hashes, int count,
			   uint8 *entries_root, uint8 *tree_root)
{
	uint8	   *leaves = palloc((size_t) Max(count, 1) * TL_HASH_LEN);
	int			i;

	for (i = 0; i < count; i++)
	{
		tl_merkle_leaf_hash(entry_hashes + (size_t) i * TL_HASH_LEN, TL_HASH_LEN,
							leaves + (size_t) i * TL_HASH_LEN);
		tl_frontier_append(frontier, leaves + (size_t) i * TL_HASH_LEN);
	}
	tl_merkle_root(leaves, count, entries_root);
	tl_frontier_root(frontier, tree_root);
	pfree(leaves);
}

/* ----------------------------------------------------------------
 * Sealing
 * ----------------------------------------------------------------
 */

/*
 * Seal the pending block: runs in the pre-commit callback, so it writes with
 * rowwriter (no triggers, no user code) and any error aborts the commit.
 */
static void
seal_pending_block(void)
{
	PendingBlock *pb = pending;
	Relation	heads;
	Snapshot	snapshot;
	TlHead		head;
	bool		have_head;
	TlBlockHeader h;
	uint8		block_hash[TL_HASH_LEN];
	uint8		signature[TL_ED25519_SIG_LEN];
	TlRowWriter *blocks;
	TlRowWriter *heads_writer;

	/* serialise sealers, then read what the previous one committed */
	LockDatabaseObject(ExtensionRelationId, tl_extension_oid(), TL_LOCK_SEAL, ExclusiveLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	heads = table_open(tl_relid("ledger_heads"), RowExclusiveLock);
	have_head = tl_read_head(heads, snapshot, pb->origin, &head);

	memset(&h, 0, sizeof(h));
	strlcpy(h.origin, pb->origin, sizeof(h.origin));
	h.tx = pb->tx;
	h.entry_count = pb->count;
	if (have_head)
	{
		h.block_no = head.block_no + 1;
		memcpy(h.prev_hash, head.block_hash, TL_HASH_LEN);
		memcpy(h.signer_key, head.signer_key, TL_ED25519_PK_LEN);
	}
	else
	{
		if (!pb->genesis)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("node \"%s\" has no genesis block", pb->origin),
					 errdetail("tracelink.ledger_heads has no row for this node.")));
		tl_frontier_init(&head.frontier);
		h.block_no = 0;
		memcpy(h.signer_key, pb->genesis_key, TL_ED25519_PK_LEN);
	}
	tl_extend_tree(&head.frontier, pb->hashes, pb->count, h.entries_root, h.tree_root);
	h.tree_size = head.frontier.size;
	h.has_next_key = pb->rotation_at >= 0;
	if (h.has_next_key)
		memcpy(h.next_key, pb->next_key, TL_ED25519_PK_LEN);
	h.sealed_at = GetCurrentTimestamp();

	tl_block_hash(&h, block_hash);
	tl_keys_sign(pb->origin, h.signer_key, block_hash, TL_HASH_LEN, signature);
	if (h.has_next_key)
		tl_keys_rotation_sealed(pb->origin, h.next_key);

	blocks = tl_writer_open(tl_relid("ledger_blocks"));
	tl_write_block(blocks, &h, pb->hashes, block_hash, signature);
	tl_writer_close(blocks);

	head.block_no = h.block_no;
	memcpy(head.block_hash, block_hash, TL_HASH_LEN);
	head.tree_size = h.tree_size;
	memcpy(head.signer_key, h.has_next_key ? h.next_key : h.signer_key,
		   TL_ED25519_PK_LEN);
	heads_writer = tl_writer_open(RelationGetRelid(heads));
	tl_write_head(heads_writer, pb->origin, &head, have_head, snapshot);
	tl_writer_close(heads_writer);

	table_close(heads, NoLock);
	UnregisterSnapshot(snapshot);
}

static void
ledger_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			{
				/*
				 * Under a procedure's COMMIT the current owner is the
				 * portal's, which is being detached: seal under the top
				 * transaction's.
				 */
				ResourceOwner save_owner = CurrentResourceOwner;
				bool		appended = pending != NULL && pending->count > 0;

				CurrentResourceOwner = TopTransactionResourceOwner;
				/* first the peers' entries waiting for this transaction */
				tl_release_waiting_at_commit(appended ? pending->hashes : NULL,
											 appended ? pending->count : 0);
				if (pending != NULL)
				{
					if (pending->count > 0)
						seal_pending_block();
					tl_writer_close(pending->entries);
				}
				CurrentResourceOwner = save_owner;
			}
			pending = NULL;
			break;
		case XACT_EVENT_PRE_PREPARE:
			tl_release_waiting_at_prepare();
			if (pending != NULL && pending->count > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that appended ledger entries"),
						 errdetail("Blocks are sealed and signed at commit.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* memory went with TopTransactionContext, resources with the owner */
			pending = NULL;
			break;
		default:
			break;
	}
}

/*
 * A savepoint rolling back takes its entries with it.  Everything appended
 * since the savepoint began belongs to it or to its (higher-numbered)
 * children, so those entries are exactly the tail whose subtransaction ids
 * are not below its own: drop that tail, and the numbering rewinds.
 */
static void
ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB || pending == NULL)
		return;
	while (pending->count > 0 && pending->subids[pending->count - 1] >= mySubid)
		pending->count--;
	if (pending->rotation_at >= pending->count)
		pending->rotation_at = -1;
	if (pending->count == 0)
		pending->genesis = false;
}

/* ----------------------------------------------------------------
 * SQL: appending
 * ----------------------------------------------------------------
 */

/*
 * The local node, or an error saying how to become one.
 */
char *
tl_require_local_node(void)
{
	char	   *node = tl_local_node();

	if (node == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet"),
				 errhint("Run SELECT tracelink.init_node('name') first.")));
	return node;
}

/*
 * Copy a bytea[] of 32-byte hashes into contiguous memory.
 */
int
tl_hash_array(ArrayType *arr, const char *what, uint8 **out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	*out = palloc((size_t) Max(n, 1) * TL_HASH_LEN);
	for (i = 0; i < n; i++)
	{
		bytea	   *b;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what)));
		b = DatumGetByteaPP(elems[i]);
		if (VARSIZE_ANY_EXHDR(b) != TL_HASH_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must hold 32-byte SHA-256 hashes", what),
					 errdetail("Element %d has %d bytes.", i + 1,
							   (int) VARSIZE_ANY_EXHDR(b))));
		memcpy(*out + (size_t) i * TL_HASH_LEN, VARDATA_ANY(b), TL_HASH_LEN);
	}
	return n;
}

/*
 * tracelink.append(kind text, payload jsonb, deps bytea[] default '{}')
 */
Datum
tl_append(PG_FUNCTION_ARGS)
{
	char	   *kind;
	Jsonb	   *payload;
	StringInfoData canon;
	uint8	   *deps = NULL;
	int			ndeps = 0;
	uint8		hash[TL_HASH_LEN];
	char	   *origin;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind and payload of a ledger entry must not be null")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!tl_valid_kind(kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid entry kind \"%s\"", kind),
				 errdetail("A kind is up to 63 characters: lowercase words of letters, digits and underscores, separated by dots, e.g. \"acme.scan\".")));
	if (strncmp(kind, "tl.", 3) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("entry kind \"%s\" is reserved", kind),
				 errdetail("Kinds starting with \"tl.\" are written only by tracelink's own functions.")));
	payload = PG_GETARG_JSONB_P(1);
	if (!PG_ARGISNULL(2))
		ndeps = tl_hash_array(PG_GETARG_ARRAYTYPE_P(2), "deps", &deps);

	origin = tl_require_local_node();
	initStringInfo(&canon);
	jcs_serialize_jsonb(&canon, payload);
	tl_ledger_append(origin, kind, canon.data, canon.len, deps, ndeps, NULL, 0, hash);
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}

/*
 * tracelink.entry_preimage(kind, payload, deps, origin, tx, seq, audience)
 */
Datum
tl_entry_preimage_sql(PG_FUNCTION_ARGS)
{
	StringInfoData canon;
	StringInfoData out;
	uint8	   *deps = NULL;
	int			ndeps = 0;
	const char **audience = NULL;
	int			naudience = 0;
	int			i;

	/* deps NULL means none, as in the ledger */
	for (i = 0; i < 6; i++)
		if (i != 2 && PG_ARGISNULL(i))
			PG_RETURN_NULL();
	initStringInfo(&canon);
	jcs_serialize_jsonb(&canon, PG_GETARG_JSONB_P(1));
	if (!PG_ARGISNULL(2))
		ndeps = tl_hash_array(PG_GETARG_ARRAYTYPE_P(2), "deps", &deps);
	if (ndeps > 1)
		qsort(deps, ndeps, TL_HASH_LEN, hash_cmp);
	if (!PG_ARGISNULL(6))
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &naudience);
		audience = palloc(sizeof(char *) * Max(naudience, 1));
		for (i = 0; i < naudience; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("audience must not contain NULL")));
			audience[i] = TextDatumGetCString(elems[i]);
		}
	}
	initStringInfo(&out);
	tl_entry_preimage(&out, text_to_cstring(PG_GETARG_TEXT_PP(3)),
					  PG_GETARG_INT64(4), PG_GETARG_INT32(5),
					  text_to_cstring(PG_GETARG_TEXT_PP(0)), canon.data, canon.len,
					  deps, ndeps, audience, naudience);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* ----------------------------------------------------------------
 * SQL: node identity
 * ----------------------------------------------------------------
 */

/*
 * tracelink.init_node(name text) returns bytea
 */
Datum
tl_init_node(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *existing;
	uint8		pk[TL_ED25519_PK_LEN];
	char		pkhex[2 * TL_ED25519_PK_LEN + 1];
	Oid			argtypes[2] = {TEXTOID, BYTEAOID};
	Datum		args[2];
	StringInfoData payload;
	uint8		hash[TL_HASH_LEN];
	PendingBlock *pb;
	Oid			save_userid;
	int			save_sec_context;

	if (!tl_valid_node_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid node name \"%s\"", name),
				 errdetail("A node name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits or underscores.")));
	existing = tl_local_node();
	if (existing != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("this database is already node \"%s\"", existing)));

	/*
	 * tracelink_admin may call init_node() but holds no write privilege on
	 * tracelink's tables: the node row is written as the extension's owner.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	spi_nest = tl_spi_connect();
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT 1 FROM tracelink.nodes WHERE name = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up node \"%s\"", name);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node name \"%s\" is already used by a peer", name)));

	/*
	 * A chain this database holds of a node it does not know is a local
	 * node's chain whose tracelink.nodes row is missing (a partial restore,
	 * or rows written behind tracelink's back): a new genesis would fork it
	 * (same name) or leave it orphaned (another name).
	 */
	if (SPI_execute_with_args("SELECT o.origin, o.origin OPERATOR(pg_catalog.=) $1"
							  "  FROM (SELECT origin FROM tracelink.ledger_blocks"
							  "        UNION SELECT origin FROM tracelink.ledger_entries"
							  "        UNION SELECT origin FROM tracelink.ledger_heads) o"
							  " WHERE NOT EXISTS (SELECT 1 FROM tracelink.nodes n"
							  "                    WHERE n.name OPERATOR(pg_catalog.=) o.origin)"
							  " ORDER BY 2 DESC LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for chains of unknown nodes");
	if (SPI_processed > 0)
	{
		bool		isnull;
		char	   *origin = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("the ledger already holds the chain of node \"%s\"", name),
					 errdetail("A second genesis block would fork that chain."),
					 errhint("The database was restored without its tracelink.nodes rows: restore the whole dump, then run CALL tracelink.finish_restore();.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database already holds the chain of node \"%s\", which is not a known node",
						origin),
				 errdetail("A node's chain without its tracelink.nodes row is left by a partial restore or by rows written behind tracelink's back."),
				 errhint("Restore the whole dump, then run CALL tracelink.finish_restore();.")));
	}

	tl_keys_create(name, pk);
	args[1] = PointerGetDatum(tl_bytea_from(pk, TL_ED25519_PK_LEN));
	if (SPI_execute_with_args("INSERT INTO tracelink.nodes (name, public_key, is_local) "
							  "VALUES ($1, $2, true)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not register node \"%s\"", name);
	tl_spi_finish(spi_nest);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	pb = pending_block(name);
	pb->genesis = true;
	memcpy(pb->genesis_key, pk, TL_ED25519_PK_LEN);

	tl_hex_encode(pk, TL_ED25519_PK_LEN, pkhex);
	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"node\":\"%s\",\"public_key\":\"%s\"}", name, pkhex);
	tl_ledger_append(name, "tl.genesis", payload.data, payload.len, NULL, 0, NULL, 0, hash);

	PG_RETURN_BYTEA_P(tl_bytea_from(pk, TL_ED25519_PK_LEN));
}

/*
 * tracelink.node_name() returns text
 */
Datum
tl_node_name(PG_FUNCTION_ARGS)
{
	char	   *node = tl_local_node();

	if (node == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(node));
}

/*
 * The key that signs the local node's next block: the head's (read with
 * `snapshot`), or for a node created in this transaction its genesis key.
 */
static bool
current_signer_key(const char *node, uint8 *key, Snapshot snapshot)
{
	Relation	heads;
	TlHead		head;
	bool		found;

	if (pending != NULL && pending->genesis)
	{
		memcpy(key, pending->genesis_key, TL_ED25519_PK_LEN);
		return true;
	}
	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
	found = tl_read_head(heads, snapshot, node, &head);
	table_close(heads, AccessShareLock);
	if (found)
		memcpy(key, head.signer_key, TL_ED25519_PK_LEN);
	return found;
}

/*
 * tracelink.node_public_key() returns bytea
 */
Datum
tl_node_public_key(PG_FUNCTION_ARGS)
{
	char	   *node = tl_local_node();
	uint8		key[TL_ED25519_PK_LEN];

	if (node == NULL || !current_signer_key(node, key, GetActiveSnapshot()))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(tl_bytea_from(key, TL_ED25519_PK_LEN));
}

/*
 * tracelink.rotate_key() returns bytea
 */
Datum
tl_rotate_key(PG_FUNCTION_ARGS)
{
	char	   *node = tl_require_local_node();
	uint8		current_key[TL_ED25519_PK_LEN];
	uint8		new_key[TL_ED25519_PK_LEN];
	char		hex[2 * TL_ED25519_PK_LEN + 1];
	StringInfoData payload;
	uint8		hash[TL_HASH_LEN];
	PendingBlock *pb;
	Snapshot	snapshot;
	bool		found;

	/*
	 * One rotation at a time, to the end of this transaction; and while the
	 * key files are settled against the current head (keys.c), no block is
	 * sealed.  The head is read after the locks are taken.
	 */
	LockDatabaseObject(ExtensionRelationId, tl_extension_oid(), TL_LOCK_ROTATION,
					   ExclusiveLock);
	LockDatabaseObject(ExtensionRelationId, tl_extension_oid(), TL_LOCK_SEAL,
					   ExclusiveLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	found = current_signer_key(node, current_key, snapshot);
	UnregisterSnapshot(snapshot);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("node \"%s\" has no genesis block", node),
				 errdetail("tracelink.ledger_heads has no row for this node.")));
	tl_keys_begin_rotation(node, current_key, new_key);
	UnlockDatabaseObject(ExtensionRelationId, tl_extension_oid(), TL_LOCK_SEAL,
						 ExclusiveLock);
	tl_hex_encode(new_key, TL_ED25519_PK_LEN, hex);
	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"public_key\":\"%s\"}", hex);
	tl_ledger_append(node, "tl.key_rotation", payload.data, payload.len,
					 NULL, 0, NULL, 0, hash);
	pb = pending_block(node);
	pb->rotation_at = pb->count - 1;
	memcpy(pb->next_key, new_key, TL_ED25519_PK_LEN);
	PG_RETURN_BYTEA_P(tl_bytea_from(new_key, TL_ED25519_PK_LEN));
}

/* ----------------------------------------------------------------
 * Triggers guarding the ledger tables
 * ----------------------------------------------------------------
 */

/*
 * BEFORE UPDATE/DELETE (row) and TRUNCATE (statement): always refused.
 */
Datum
tl_refuse_ledger_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tl_refuse_ledger_change: not called by trigger manager");
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE";
	else
		op = "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_TL_APPEND_ONLY),
			 errmsg("ledger table \"%s\" is append-only",
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s is refused: the ledger only grows, through tracelink's functions.", op)));
	PG_RETURN_NULL();
}

/*
 * BEFORE INSERT (row): tracelink writes ledger rows without the executor, so
 * a row arriving here was written by SQL.  The logical replication apply
 * worker hands rows from peers to the apply path; a restore from a dump
 * (one statement filling an empty table, by its owner: restore.c) keeps its
 * rows once each is checked; anyone else is refused.
 */
Datum
tl_ledger_row_inserted(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tl_ledger_row_inserted: not called by trigger manager");
	if (IsLogicalWorker())
		return PointerGetDatum(tl_apply_incoming(trigdata));
	/* a restore (restore.c) or nothing: raises unless it is one */
	return PointerGetDatum(tl_restore_incoming(trigdata));
}
