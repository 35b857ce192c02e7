/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Ledger rows arriving from peers by logical replication.
 *
 * The apply worker inserts a peer's ledger_entries and ledger_blocks rows;
 * an ENABLE ALWAYS trigger hands each to this file, which writes it itself
 * (or not) and always tells the executor to skip the row.  Nothing here may
 * stop replication: an ERROR in the apply worker would make it retry the
 * same row forever, so every row is handled in a subtransaction and anything
 * wrong with it - bad signature, broken chain, unknown or impersonated
 * origin, replay, malformed content, even an unexpected error - lands in
 * tracelink.quarantine with the reason, and replication goes on.
 *
 * A block is verified on its own (chain link, key, hash, signature, Merkle
 * roots, tree head) against the origin's head and applied; a block ahead of
 * the head waits in inbox_blocks for its predecessor.  An entry is applied
 * once its block is: its hash must follow from its content and be the hash
 * the block sealed at its position.  Entries reach us before their block
 * within a streamed transaction, so they wait in memory; whatever is still
 * waiting at commit (initial table sync copies entries and blocks
 * separately) goes to inbox_entries.  Entries addressed to other nodes never
 * reach us, which is why blocks must verify without their entries.
 *
 * Locking: the first row of a transaction takes the apply lock (pg_extension
 * object, subid 2), so that the table-sync workers of the two ledger tables
 * and the main apply worker see each other's parked rows.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/worker_internal.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "funcapi.h"

/* This transaction's apply state, in TopTransactionContext */
typedef struct PeerKey
{
	char		name[NAMEDATALEN];
	bool		known;
	uint8		key[TL_ED25519_PK_LEN];
} PeerKey;

typedef struct ApplyState
{
	char	   *local_node;
	char	   *source;			/* subscription the rows came through */
	List	   *peer_keys;		/* PeerKey *, looked up once per transaction */
	List	   *waiting_entries;	/* TlEntry *, waiting for their block */
	TlRowWriter *entries;
	TlRowWriter *blocks;
	TlRowWriter *heads;
} ApplyState;

static ApplyState *apply_state = NULL;

static void apply_xact_callback(XactEvent event, void *arg);
static void apply_block_and_successors(TlBlock *b);

PG_FUNCTION_INFO_V1(tl_ingest);

void
tl_apply_init(void)
{
	RegisterXactCallback(apply_xact_callback, NULL);
}

/* ----------------------------------------------------------------
 * State, writers, lock
 * ----------------------------------------------------------------
 */

static ApplyState *
state(void)
{
	MemoryContext old;

	if (apply_state != NULL)
		return apply_state;

	LockDatabaseObject(ExtensionRelationId, get_extension_oid("tracelink", false),
					   2, ExclusiveLock);
	old = MemoryContextSwitchTo(TopTransactionContext);
	apply_state = palloc0(sizeof(ApplyState));
	apply_state->local_node = tl_local_node();
	apply_state->source = MySubscription ? pstrdup(MySubscription->name) : NULL;
	MemoryContextSwitchTo(old);
	apply_state->entries = tl_writer_open_for_xact(tl_relid("ledger_entries"));
	apply_state->blocks = tl_writer_open_for_xact(tl_relid("ledger_blocks"));
	apply_state->heads = tl_writer_open_for_xact(tl_relid("ledger_heads"));
	return apply_state;
}

/* ----------------------------------------------------------------
 * Decoding and encoding rows
 * ----------------------------------------------------------------
 */

static bool
fixed_bytea(HeapTuple tup, TupleDesc desc, int attnum, uint8 *out, int len)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attnum, desc, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != len)
		return false;
	memcpy(out, VARDATA_ANY(b), len);
	return true;
}

/*
 * Decode a ledger_blocks (or inbox_blocks) row; returns why it cannot be a
 * block, or NULL.
 */
static const char *
decode_block(HeapTuple tup, TupleDesc desc, TlBlock *b)
{
	bool		isnull;
	Datum		d;
	bytea	   *hashes;

	memset(b, 0, sizeof(*b));
	d = heap_getattr(tup, BLOCK_ORIGIN + 1, desc, &isnull);
	if (isnull || strlen(TextDatumGetCString(d)) >= NAMEDATALEN)
		return "block has no valid origin";
	strlcpy(b->h.origin, TextDatumGetCString(d), NAMEDATALEN);
	b->h.block_no = DatumGetInt64(heap_getattr(tup, BLOCK_NO + 1, desc, &isnull));
	b->h.tx = DatumGetInt64(heap_getattr(tup, BLOCK_TX + 1, desc, &isnull));
	b->h.entry_count = DatumGetInt32(heap_getattr(tup, BLOCK_ENTRY_COUNT + 1, desc, &isnull));
	b->h.tree_size = DatumGetInt64(heap_getattr(tup, BLOCK_TREE_SIZE + 1, desc, &isnull));
	b->h.sealed_at = DatumGetTimestampTz(heap_getattr(tup, BLOCK_SEALED_AT + 1, desc, &isnull));
	if (!fixed_bytea(tup, desc, BLOCK_ENTRIES_ROOT + 1, b->h.entries_root, TL_HASH_LEN) ||
		!fixed_bytea(tup, desc, BLOCK_TREE_ROOT + 1, b->h.tree_root, TL_HASH_LEN) ||
		!fixed_bytea(tup, desc, BLOCK_PREV_HASH + 1, b->h.prev_hash, TL_HASH_LEN) ||
		!fixed_bytea(tup, desc, BLOCK_SIGNER_KEY + 1, b->h.signer_key, TL_ED25519_PK_LEN) ||
		!fixed_bytea(tup, desc, BLOCK_HASH + 1, b->block_hash, TL_HASH_LEN) ||
		!fixed_bytea(tup, desc, BLOCK_SIGNATURE + 1, b->signature, TL_ED25519_SIG_LEN))
		return "a hash, key or signature of the block has the wrong length";
	heap_getattr(tup, BLOCK_NEXT_KEY + 1, desc, &isnull);
	b->h.has_next_key = !isnull;
	if (b->h.has_next_key &&
		!fixed_bytea(tup, desc, BLOCK_NEXT_KEY + 1, b->h.next_key, TL_ED25519_PK_LEN))
		return "next_key of the block has the wrong length";
	if (b->h.entry_count < 0)
		return "entry_count is negative";
	d = heap_getattr(tup, BLOCK_ENTRY_HASHES + 1, desc, &isnull);
	if (isnull)
		return "block has no entry hashes";
	hashes = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(hashes) != (size_t) b->h.entry_count * TL_HASH_LEN)
		return "entry_hashes does not hold entry_count hashes";
	b->entry_hashes = palloc((size_t) Max(b->h.entry_count, 1) * TL_HASH_LEN);
	memcpy(b->entry_hashes, VARDATA_ANY(hashes), VARSIZE_ANY_EXHDR(hashes));
	return NULL;
}

/*
 * Where a row came from: a trigger's tuple, or a line given to ingest().
 * The quarantine keeps the row as received.
 */
typedef struct RowSource
{
	HeapTuple	tup;
	TupleDesc	desc;
	const char *line;			/* not NUL-terminated */
	int			line_len;
} RowSource;

static Datum
source_jsonb(const RowSource *src)
{
	if (src->tup != NULL)
	{
		Datum		composite = heap_copy_tuple_as_datum(src->tup, src->desc);
		Datum		json = DirectFunctionCall1(row_to_json, composite);

		return DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(json)));
	}
	/* a line that may not even be JSON: keep it as a string */
	{
		StringInfoData s;

		initStringInfo(&s);
		appendStringInfoString(&s, "{\"line\":");
		jcs_append_string(&s, src->line, src->line_len);
		appendStringInfoChar(&s, '}');
		return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
	}
}

static Datum
entry_jsonb(const TlEntry *e)
{
	JcsValue   *o = jcs_make_object(8);
	JcsValue   *deps = jcs_make_array(e->ndeps);
	char		hex[2 * TL_HASH_LEN + 1];
	StringInfoData s;
	int			i;

	jcs_object_put(o, "origin", jcs_make_string(e->origin, strlen(e->origin)));
	jcs_object_put(o, "tx", jcs_make_number((double) e->tx));
	jcs_object_put(o, "seq", jcs_make_number((double) e->seq));
	jcs_object_put(o, "kind", jcs_make_string(e->kind, strlen(e->kind)));
	jcs_object_put(o, "payload", jcs_make_string(e->payload, e->payload_len));
	for (i = 0; i < e->ndeps; i++)
	{
		tl_hex_encode(e->deps + i * TL_HASH_LEN, TL_HASH_LEN, hex);
		jcs_array_append(deps, jcs_make_string(hex, strlen(hex)));
	}
	jcs_object_put(o, "deps", deps);
	if (e->audience)
	{
		JcsValue   *aud = jcs_make_array(e->naudience);

		for (i = 0; i < e->naudience; i++)
			jcs_array_append(aud, jcs_make_string(e->audience[i], strlen(e->audience[i])));
		jcs_object_put(o, "audience", aud);
	}
	tl_hex_encode(e->hash, TL_HASH_LEN, hex);
	jcs_object_put(o, "entry_hash", jcs_make_string(hex, strlen(hex)));
	jcs_object_sort(o);
	initStringInfo(&s);
	jcs_serialize(&s, o);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

static Datum
block_jsonb(const TlBlock *b)
{
	StringInfoData s;

	initStringInfo(&s);
	tl_block_json(&s, &b->h, b->block_hash, b->signature, b->entry_hashes);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

/*
 * Decode a ledger_entries row from a peer without raising; returns why it
 * cannot be an entry, or NULL.  (The apply worker's trigger sees a row
 * before NOT NULL and types are checked beyond their input functions.)
 */
static const char *
decode_entry(HeapTuple tup, TupleDesc desc, TlEntry *e)
{
	bool		isnull;
	Datum		d;
	bytea	   *h;
	int			att;

	memset(e, 0, sizeof(*e));
	for (att = 0; att < ENTRY_NATTS; att++)
		if (att != ENTRY_DEPS && att != ENTRY_AUDIENCE && heap_attisnull(tup, att + 1, desc))
			return "entry has a null in a required column";
	e->origin = TextDatumGetCString(heap_getattr(tup, ENTRY_ORIGIN + 1, desc, &isnull));
	e->tx = DatumGetInt64(heap_getattr(tup, ENTRY_TX + 1, desc, &isnull));
	e->seq = DatumGetInt32(heap_getattr(tup, ENTRY_SEQ + 1, desc, &isnull));
	e->kind = TextDatumGetCString(heap_getattr(tup, ENTRY_KIND + 1, desc, &isnull));
	e->payload = TextDatumGetCString(heap_getattr(tup, ENTRY_PAYLOAD + 1, desc, &isnull));
	e->payload_len = strlen(e->payload);
	h = DatumGetByteaPP(heap_getattr(tup, ENTRY_HASH + 1, desc, &isnull));
	if (VARSIZE_ANY_EXHDR(h) != TL_HASH_LEN)
		return "entry_hash is not 32 bytes";
	memcpy(e->hash, VARDATA_ANY(h), TL_HASH_LEN);
	d = heap_getattr(tup, ENTRY_DEPS + 1, desc, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			i;

		if (ARR_NDIM(arr) > 1)
			return "deps is not a one-dimensional array";
		deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT, &elems, &nulls, &e->ndeps);
		e->deps = palloc((size_t) Max(e->ndeps, 1) * TL_HASH_LEN);
		for (i = 0; i < e->ndeps; i++)
		{
			bytea	   *b;

			if (nulls[i])
				return "deps holds a null";
			b = DatumGetByteaPP(elems[i]);
			if (VARSIZE_ANY_EXHDR(b) != TL_HASH_LEN)
				return "deps holds a value that is not a 32-byte hash";
			memcpy(e->deps + (size_t) i * TL_HASH_LEN, VARDATA_ANY(b), TL_HASH_LEN);
		}
	}
	d = heap_getattr(tup, ENTRY_AUDIENCE + 1, desc, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			i;

		if (ARR_NDIM(arr) > 1)
			return "audience is not a one-dimensional array";
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &e->naudience);
		e->audience = palloc(sizeof(char *) * Max(e->naudience, 1));
		for (i = 0; i < e->naudience; i++)
		{
			if (nulls[i])
				return "audience holds a null";
			e->audience[i] = TextDatumGetCString(elems[i]);
		}
	}
	return NULL;
}

/* ----------------------------------------------------------------
 * Quarantine
 * ----------------------------------------------------------------
 */

/*
 * Record a rejected row with its reason.  Identifying columns may be
 * unknown (NULL) when the row could not even be decoded.
 */
static void
quarantine(const char *what, const char *origin, int64 *block_no, int64 *tx,
		   int32 *seq, const uint8 *entry_hash, const char *reason, Datum row)
{
	int			spi_nest;
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT4OID,
	BYTEAOID, TEXTOID, JSONBOID};
	Datum		values[9];
	char		nulls[9];
	const char *source = apply_state ? apply_state->source : NULL;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = source ? CStringGetTextDatum(source) : (Datum) 0;
	nulls[0] = source ? ' ' : 'n';
	values[1] = CStringGetTextDatum(what);
	values[2] = origin ? CStringGetTextDatum(origin) : (Datum) 0;
	nulls[2] = origin ? ' ' : 'n';
	values[3] = block_no ? Int64GetDatum(*block_no) : (Datum) 0;
	nulls[3] = block_no ? ' ' : 'n';
	values[4] = tx ? Int64GetDatum(*tx) : (Datum) 0;
	nulls[4] = tx ? ' ' : 'n';
	values[5] = seq ? Int32GetDatum(*seq) : (Datum) 0;
	nulls[5] = seq ? ' ' : 'n';
	values[6] = entry_hash ? PointerGetDatum(tl_bytea_from(entry_hash, TL_HASH_LEN)) : (Datum) 0;
	nulls[6] = entry_hash ? ' ' : 'n';
	values[7] = CStringGetTextDatum(reason);
	values[8] = row;

	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("INSERT INTO tracelink.quarantine"
							  " (source, what, origin, block_no, tx, seq, entry_hash, reason, row_data)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
							  9, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a quarantined row");
	tl_spi_finish(spi_nest);
	ereport(LOG,
			(errmsg("tracelink quarantined a %s from origin \"%s\": %s",
					what, origin ? origin : "?", reason)));
}

/*
 * An entry is in the ledger but its projector refused its effect.
 */
void
tl_quarantine_effect(const TlEntry *e, const char *reason)
{
	quarantine("effect", e->origin, NULL, (int64 *) &e->tx, (int32 *) &e->seq,
			   e->hash, reason, entry_jsonb(e));
}

static void
quarantine_block(const TlBlock *b, const char *reason)
{
	quarantine("block", b->h.origin, (int64 *) &b->h.block_no, (int64 *) &b->h.tx,
			   NULL, NULL, reason, block_jsonb(b));
}

static void
quarantine_entry(const TlEntry *e, const char *reason)
{
	quarantine("entry", e->origin, NULL, (int64 *) &e->tx, (int32 *) &e->seq,
			   e->hash, reason, entry_jsonb(e));
}

/* ----------------------------------------------------------------
 * Lookups (SnapshotSelf: committed rows and this transaction's own)
 * ----------------------------------------------------------------
 */

/*
 * The applied block of (origin, tx), or of (origin, block_no) when tx < 0.
 */
static bool
find_block(const char *origin, int64 tx, int64 block_no, TlBlock *out)
{
	Relation	rel = table_open(tl_relid("ledger_blocks"), AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&keys[0], BLOCK_ORIGIN + 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(origin));
	keys[0].sk_collation = C_COLLATION_OID;
	if (tx >= 0)
	{
		ScanKeyInit(&keys[1], BLOCK_TX + 1, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(tx));
		scan = systable_beginscan(rel, tl_relid("ledger_blocks_tx"), true,
								  SnapshotSelf, 2, keys);
	}
	else
	{
		ScanKeyInit(&keys[1], BLOCK_NO + 1, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(block_no));
		scan = systable_beginscan(rel, tl_relid("ledger_blocks_pkey"), true,
								  SnapshotSelf, 2, keys);
	}
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		found = decode_block(tup, RelationGetDescr(rel), out) == NULL;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}


/*
 * The pinned genesis key of a peer; false if the origin is not a peer.
 * Looked up once per transaction and origin.
 */
static bool
peer_key(const char *origin, uint8 *key)
{
	int			spi_nest;
	ApplyState *st = state();
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	ListCell   *lc;
	PeerKey    *pk;
	MemoryContext old;

	foreach(lc, st->peer_keys)
	{
		pk = lfirst(lc);
		if (strcmp(pk->name, origin) == 0)
		{
			memcpy(key, pk->key, TL_ED25519_PK_LEN);
			return pk->known;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	pk = palloc0(sizeof(PeerKey));
	strlcpy(pk->name, origin, NAMEDATALEN);
	st->peer_keys = lappend(st->peer_keys, pk);
	MemoryContextSwitchTo(old);

	args[0] = CStringGetTextDatum(origin);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT public_key FROM tracelink.nodes WHERE name = $1 AND NOT is_local",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up node \"%s\"", origin);
	if (SPI_processed > 0)
		pk->known = fixed_bytea(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, pk->key,
								TL_ED25519_PK_LEN);
	tl_spi_finish(spi_nest);
	memcpy(key, pk->key, TL_ED25519_PK_LEN);
	return pk->known;
}

/*
 * The name of this node's subscription to `peer`, exactly as
 * tracelink.peer_subscription_name() (sqlsrc/50_replication.sql) makes it:
 * "tracelink_from_" and the name, or, when that is longer than an
 * identifier, "tracelink_from_0x", 16 hex digits of the SHA-256 of the name,
 * "_" and the name's first 29 characters.
 */
static char *
peer_subscription_name(const char *peer)
{
	static const char prefix[] = "tracelink_from_";
	uint8		hash[TL_HASH_LEN];
	char		hex[2 * 8 + 1];

	if (strlen(prefix) + strlen(peer) < NAMEDATALEN)
		return psprintf("%s%s", prefix, peer);
	tl_sha256(peer, strlen(peer), hash);
	tl_hex_encode(hash, 8, hex);
	return psprintf("%s0x%s_%.29s", prefix, hex, peer);
}

/*
 * Why a row of `origin` must not be accepted through this subscription, or
 * NULL.  Each peer publishes only its own rows: anything else is a forgery
 * or a relay.
 */
static const char *
origin_problem(const char *origin, uint8 *pinned_key)
{
	ApplyState *st = state();

	if (!tl_valid_node_name(origin))
		return "origin is not a valid node name";
	if (st->local_node && strcmp(origin, st->local_node) == 0)
		return "row claims to come from this node";
	if (!peer_key(origin, pinned_key))
		return "origin is not a known peer (no pinned key)";
	if (st->source &&
		strcmp(st->source, peer_subscription_name(origin)) != 0)
		return psprintf("row of origin \"%s\" arrived through subscription \"%s\", which carries only its own peer's rows",
						origin, st->source);
	return NULL;
}

/* ----------------------------------------------------------------
 * Blocks
 * ----------------------------------------------------------------
 */

/*
 * Check a block that should follow the head; returns why not, or NULL.
 * On success `frontier` has been extended to the block's tree.
 */
static const char *
check_block(const TlBlock *b, bool have_head, const TlHead *head,
			const uint8 *pinned_key, TlMerkleFrontier *frontier)
{
	static const uint8 zero[TL_HASH_LEN] = {0};
	uint8		computed[TL_HASH_LEN];
	uint8		entries_root[TL_HASH_LEN];
	uint8		tree_root[TL_HASH_LEN];

	if (b->h.entry_count > TL_BLOCK_MAX_ENTRIES)
		return "block holds more entries than a block may (its export line would be too large)";
	if (memcmp(b->h.prev_hash, have_head ? head->block_hash : zero, TL_HASH_LEN) != 0)
		return "block does not link to the origin's previous block (broken chain)";
	if (memcmp(b->h.signer_key, have_head ? head->signer_key : pinned_key,
			   TL_ED25519_PK_LEN) != 0)
		return "block is signed by a key that is not the origin's current key";
	tl_block_hash(&b->h, computed);
	if (memcmp(computed, b->block_hash, TL_HASH_LEN) != 0)
		return "block hash does not match the block header";
	if (!tl_ed25519_verify(b->h.signer_key, b->block_hash, TL_HASH_LEN, b->signature))
		return "signature does not verify with the origin's key";
	if (have_head)
		*frontier = head->frontier;
	else
		tl_frontier_init(frontier);
	tl_extend_tree(frontier, b->entry_hashes, b->h.entry_count, entries_root, tree_root);
	if (memcmp(entries_root, b->h.entries_root, TL_HASH_LEN) != 0)
		return "entries_root is not the Merkle root of the block's entry hashes";
	if ((uint64) b->h.tree_size != frontier->size ||
		memcmp(tree_root, b->h.tree_root, TL_HASH_LEN) != 0)
		return "tree head (tree_size, tree_root) does not follow from the origin's tree";
	return NULL;
}

/*
 * A block whose number is already taken: the same block again, or a
 * different one (equivocation, recorded as evidence by witness.c when both
 * blocks are validly signed by one key).
 */
static void
reject_known_block_number(const TlBlock *b, const uint8 *stored_hash, const char *where)
{
	const char *unproven;

	if (memcmp(stored_hash, b->block_hash, TL_HASH_LEN) == 0)
	{
		quarantine_block(b, psprintf("replayed block: block " INT64_FORMAT " of \"%s\" is already %s",
									 b->h.block_no, b->h.origin, where));
		return;
	}
	unproven = tl_witness_block_conflict(&b->h, b->block_hash, b->signature);
	if (unproven != NULL)
	{
		quarantine_block(b, unproven);
		return;
	}
	quarantine_block(b, psprintf("equivocation: origin \"%s\" shows two different blocks numbered " INT64_FORMAT,
								 b->h.origin, b->h.block_no));
}

/*
 * Park a block that is ahead of its origin's head.
 */
static void
park_block(const TlBlock *b)
{
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	TlRowWriter *w;

	args[0] = CStringGetTextDatum(b->h.origin);
	args[1] = Int64GetDatum(b->h.block_no);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT block_hash FROM tracelink.inbox_blocks WHERE origin = $1 AND block_no = $2",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up parked blocks");
	if (SPI_processed > 0)
	{
		uint8		parked[TL_HASH_LEN];

		fixed_bytea(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, parked, TL_HASH_LEN);
		tl_spi_finish(spi_nest);
		reject_known_block_number(b, parked, "waiting for its predecessor");
		return;
	}
	tl_spi_finish(spi_nest);
	w = tl_writer_open(tl_relid("inbox_blocks"));
	tl_write_block(w, &b->h, b->entry_hashes, b->block_hash, b->signature);
	tl_writer_close(w);
}

/*
 * Take the parked block that follows the origin's head out of the inbox.
 */
static bool
unpark_block(const char *origin, int64 block_no, TlBlock *b)
{
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	bool		found = false;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(block_no);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("DELETE FROM tracelink.inbox_blocks WHERE origin = $1 AND block_no = $2 RETURNING *",
							  2, types, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not take a block from the inbox");
	if (SPI_processed > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		const char *problem = decode_block(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, b);

		MemoryContextSwitchTo(old);
		found = problem == NULL;
	}
	tl_spi_finish(spi_nest);
	return found;
}

/* ----------------------------------------------------------------
 * Entries
 * ----------------------------------------------------------------
 */

/*
 * Why an entry cannot be the entry its block sealed at its position, or
 * NULL.  May raise on content so broken that checking it fails; the caller's
 * subtransaction turns that into a quarantine too.
 */
static const char *
check_entry(const TlEntry *e, const TlBlock *b)
{
	ApplyState *st = state();
	uint8		computed[TL_HASH_LEN];
	int			canon_len;
	char	   *canon;
	int			i;

	if (e->seq < 0 || e->seq >= b->h.entry_count)
		return "seq is outside its block";
	if (!tl_valid_kind(e->kind))
		return "kind is not a valid entry kind";
	for (i = 1; i < e->ndeps; i++)
		if (memcmp(e->deps + (i - 1) * TL_HASH_LEN, e->deps + i * TL_HASH_LEN, TL_HASH_LEN) >= 0)
			return "deps are not sorted and unique";
	if (e->audience != NULL)
	{
		bool		for_us = false;

		for (i = 0; i < e->naudience; i++)
			for_us |= st->local_node && strcmp(e->audience[i], st->local_node) == 0;
		if (!for_us)
			return "entry is not addressed to this node";
	}
	canon = jcs_canonical_text(e->payload, e->payload_len, &canon_len);
	if (canon_len != e->payload_len || memcmp(canon, e->payload, canon_len) != 0)
		return "payload is not RFC 8785 canonical JSON";
	tl_entry_hash(e, computed);
	if (memcmp(computed, e->hash, TL_HASH_LEN) != 0)
		return "entry hash does not match the entry's content";
	if (memcmp(e->hash, b->entry_hashes + (size_t) e->seq * TL_HASH_LEN, TL_HASH_LEN) != 0)
		return "entry is not the one its block sealed at this position";
	if (tl_entry_exists(e->hash))
		return "replayed entry: it is already in the ledger";
	return NULL;
}

/*
 * Check and apply an entry whose block is applied.
 */
static void
apply_entry(const TlEntry *e, const TlBlock *b)
{
	const char *problem = check_entry(e, b);

	if (problem)
	{
		quarantine_entry(e, problem);
		return;
	}
	tl_write_entry(state()->entries, e);
	tl_apply_effect(e);
}

static TlEntry *
copy_entry(const TlEntry *e, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TlEntry    *c = palloc(sizeof(TlEntry));
	int			i;

	*c = *e;
	c->origin = pstrdup(e->origin);
	c->kind = pstrdup(e->kind);
	c->payload = pnstrdup(e->payload, e->payload_len);
	if (e->ndeps > 0)
	{
		c->deps = palloc((size_t) e->ndeps * TL_HASH_LEN);
		memcpy(c->deps, e->deps, (size_t) e->ndeps * TL_HASH_LEN);
	}
	if (e->audience)
	{
		c->audience = palloc(sizeof(char *) * Max(e->naudience, 1));
		for (i = 0; i < e->naudience; i++)
			c->audience[i] = pstrdup(e->audience[i]);
	}
	MemoryContextSwitchTo(old);
	return c;
}

/* Free what copy_entry() allocated. */
static void
free_entry(TlEntry *e)
{
	int			i;

	pfree(e->origin);
	pfree(e->kind);
	pfree(e->payload);
	if (e->ndeps > 0)
		pfree(e->deps);
	if (e->audience)
	{
		for (i = 0; i < e->naudience; i++)
			pfree(e->audience[i]);
		pfree(e->audience);
	}
	pfree(e);
}

/*
 * Apply every waiting entry of a block just applied: those waiting in
 * memory since earlier in this transaction, then those parked in the inbox
 * by earlier transactions.
 */
static void
apply_waiting_entries(const TlBlock *b)
{
	int			spi_nest;
	ApplyState *st = state();
	ListCell   *lc;
	List	   *still = NIL;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;
	SPITupleTable *tuptable;
	uint64		n;

	/*
	 * What checking and projecting an entry allocates is freed after each:
	 * a block may hold thousands of entries (a bulk import of trace data).
	 */
	MemoryContext entry_cxt = AllocSetContextCreate(caller, "tracelink applied entry",
													ALLOCSET_DEFAULT_SIZES);

	foreach(lc, st->waiting_entries)
	{
		TlEntry    *e = lfirst(lc);

		if (strcmp(e->origin, b->h.origin) == 0 && e->tx == b->h.tx)
		{
			MemoryContext old = MemoryContextSwitchTo(entry_cxt);

			apply_entry(e, b);
			MemoryContextSwitchTo(old);
			MemoryContextReset(entry_cxt);
			free_entry(e);
		}
		else
			still = lappend(still, e);
	}
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		st->waiting_entries = list_copy(still);
		MemoryContextSwitchTo(old);
	}

	args[0] = CStringGetTextDatum(b->h.origin);
	args[1] = Int64GetDatum(b->h.tx);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("DELETE FROM tracelink.inbox_entries WHERE origin = $1 AND tx = $2 RETURNING *",
							  2, types, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not take entries from the inbox");
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		TlEntry		e;
		MemoryContext old = MemoryContextSwitchTo(entry_cxt);

		tl_read_entry(tuptable->vals[i], tuptable->tupdesc, &e);
		apply_entry(&e, b);
		MemoryContextSwitchTo(old);
		MemoryContextReset(entry_cxt);
	}
	tl_spi_finish(spi_nest);
	MemoryContextDelete(entry_cxt);
}

/* ----------------------------------------------------------------
 * Receiving rows
 * ----------------------------------------------------------------
 */

/*
 * Apply a block known to follow its origin's head, and then any parked
 * blocks that now follow it.
 */
static void
apply_block_and_successors(TlBlock *b)
{
	ApplyState *st = state();
	Relation	heads = table_open(tl_relid("ledger_heads"), RowExclusiveLock);
	uint8		pinned[TL_ED25519_PK_LEN];
	TlBlock		next;

	for (;;)
	{
		TlHead		head;
		bool		have_head = tl_read_head(heads, SnapshotSelf, b->h.origin, &head);
		TlMerkleFrontier frontier;
		const char *problem;

		if (!peer_key(b->h.origin, pinned))
			problem = "origin is not a known peer (no pinned key)";
		else
			problem = check_block(b, have_head, &head, pinned, &frontier);
		if (problem)
		{
			quarantine_block(b, problem);
			break;
		}

		tl_write_block(st->blocks, &b->h, b->entry_hashes, b->block_hash, b->signature);
		head.block_no = b->h.block_no;
		memcpy(head.block_hash, b->block_hash, TL_HASH_LEN);
		head.tree_size = b->h.tree_size;
		head.frontier = frontier;
		memcpy(head.signer_key, b->h.has_next_key ? b->h.next_key : b->h.signer_key,
			   TL_ED25519_PK_LEN);
		tl_write_head(st->heads, b->h.origin, &head, have_head, SnapshotSelf);
		CommandCounterIncrement();

		apply_waiting_entries(b);
		/* heads witnessed at this number; witness if it is time */
		tl_witness_block_applied(&b->h, b->block_hash, b->signature);

		if (!unpark_block(b->h.origin, b->h.block_no + 1, &next))
			break;
		b = &next;
	}
	table_close(heads, NoLock);
}

static void
receive_block(TlBlock *decoded, const char *decode_problem, const RowSource *src)
{
	TlBlock		b = *decoded;
	const char *problem = decode_problem;
	uint8		pinned[TL_ED25519_PK_LEN];
	Relation	heads;
	TlHead		head;
	bool		have_head;
	int64		expected;

	if (problem == NULL)
		problem = origin_problem(b.h.origin, pinned);
	if (problem)
	{
		quarantine("block", b.h.origin[0] ? b.h.origin : NULL, NULL, NULL, NULL, NULL,
				   problem, source_jsonb(src));
		return;
	}

	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
	have_head = tl_read_head(heads, SnapshotSelf, b.h.origin, &head);
	table_close(heads, AccessShareLock);
	expected = have_head ? head.block_no + 1 : 0;

	if (b.h.block_no < expected)
	{
		TlBlock		stored;

		if (find_block(b.h.origin, -1, b.h.block_no, &stored))
			reject_known_block_number(&b, stored.block_hash, "in the ledger");
		else
			quarantine_block(&b, "block number is below the origin's head but no such block is stored");
		return;
	}
	if (b.h.block_no > expected)
	{
		park_block(&b);
		return;
	}
	apply_block_and_successors(&b);
}

static void
receive_entry(TlEntry *decoded, const RowSource *src)
{
	ApplyState *st = state();
	TlEntry		e = *decoded;
	TlBlock		b;
	uint8		pinned[TL_ED25519_PK_LEN];
	const char *problem;

	problem = origin_problem(e.origin, pinned);
	if (problem)
	{
		quarantine("entry", e.origin, NULL, &e.tx, &e.seq, e.hash, problem,
				   source_jsonb(src));
		return;
	}
	if (find_block(e.origin, e.tx, -1, &b))
	{
		apply_entry(&e, &b);
		return;
	}
	/* its block comes later: wait */
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		st->waiting_entries = lappend(st->waiting_entries,
									  copy_entry(&e, TopTransactionContext));
		MemoryContextSwitchTo(old);
	}
}

/* a replicated row, for receive_row() */
typedef struct IncomingRow
{
	RowSource	src;
	bool		is_block;
} IncomingRow;

/* decode a replicated row and receive it (run in a subtransaction) */
static void
receive_row(void *arg)
{
	IncomingRow *row = arg;

	if (row->is_block)
	{
		TlBlock		b;
		const char *problem = decode_block(row->src.tup, row->src.desc, &b);

		receive_block(&b, problem, &row->src);
	}
	else
	{
		TlEntry		e;

		if (decode_entry(row->src.tup, row->src.desc, &e) == NULL)
			receive_entry(&e, &row->src);
	}
}

/*
 * Entry point from the ledger tables' BEFORE INSERT trigger, in the apply
 * worker.  Returns NULL: the row is written here or not at all.
 */
HeapTuple
tl_apply_incoming(TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	HeapTuple	tup = trigdata->tg_trigtuple;
	TupleDesc	desc = RelationGetDescr(rel);
	bool		is_block = RelationGetRelid(rel) == tl_relid("ledger_blocks");

	state();

	/*
	 * The common case, an entry of a streamed transaction whose block comes
	 * after it, only waits in memory: no subtransaction needed.
	 */
	if (!is_block)
	{
		TlEntry		e;
		TlBlock		b;
		uint8		pinned[TL_ED25519_PK_LEN];
		const char *problem = decode_entry(tup, desc, &e);
		RowSource	src = {tup, desc, NULL, 0};

		if (problem == NULL)
			problem = origin_problem(e.origin, pinned);
		if (problem != NULL)
		{
			quarantine("entry", tl_valid_node_name(e.origin ? e.origin : "") ? e.origin : NULL,
					   NULL, NULL, NULL, NULL, problem, source_jsonb(&src));
			return NULL;
		}
		if (!find_block(e.origin, e.tx, -1, &b))
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			apply_state->waiting_entries = lappend(apply_state->waiting_entries,
												   copy_entry(&e, TopTransactionContext));
			MemoryContextSwitchTo(old);
			return NULL;
		}
	}

	{
		IncomingRow row = {{tup, desc, NULL, 0}, is_block};
		ErrorData  *failure = tl_run_in_subtransaction(receive_row, &row);

		if (failure != NULL)
			quarantine(is_block ? "block" : "entry", NULL, NULL, NULL, NULL, NULL,
					   psprintf("row could not be processed: %s", failure->message),
					   source_jsonb(&row.src));
	}
	return NULL;
}

/* ----------------------------------------------------------------
 * Ingesting exported lines
 * ----------------------------------------------------------------
 */

/*
 * Parse an exported line and receive it (run in a subtransaction).  The
 * line's tree is freed as soon as the entry or block is taken out of it.
 */
static void
receive_line(void *arg)
{
	RowSource  *src = arg;
	TlEntry		e;
	TlBlock		b;
	bool		is_block = false;
	const char *problem;
	MemoryContext tree_cxt = AllocSetContextCreate(CurrentMemoryContext,
												   "tracelink export line",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(tree_cxt);
	JcsValue   *tree = jcs_parse(src->line, src->line_len);

	MemoryContextSwitchTo(old);
	problem = tl_export_line(tree, &is_block, &e, &b);
	MemoryContextDelete(tree_cxt);
	/* the line is the entry's preimage: its hash is the line's */
	if (problem == NULL && !is_block && e.origin != NULL)
		tl_sha256(src->line, src->line_len, e.hash);
	if (problem)
		quarantine(is_block ? "block" : "entry", NULL, NULL, NULL, NULL, NULL,
				   problem, source_jsonb(src));
	else if (is_block)
		receive_block(&b, NULL, src);
	else if (e.origin != NULL)
		receive_entry(&e, src);
}

/*
 * tracelink.ingest(lines text) returns table(lines bigint, quarantined bigint)
 *
 * Applies exported ledger lines (tracelink.export() output, one per line)
 * exactly as rows arriving by replication are applied: every block and
 * entry is verified; what fails is quarantined; what comes early waits.
 * For exchanging ledgers without a replication connection, and for feeding
 * many nodes' signed entries to one node in tests and benchmarks.
 */
Datum
tl_ingest(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *input = PG_GETARG_TEXT_PP(0);
	const char *line = VARDATA_ANY(input);
	const char *end = line + VARSIZE_ANY_EXHDR(input);
	MemoryContext line_cxt;
	int64		lines = 0;
	int64		quarantined_before;
	int64		quarantined_after;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		isnull;
	Oid			save_userid;
	int			save_sec_context;

	InitMaterializedSRF(fcinfo, 0);
	if (tl_local_node() == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));

	/*
	 * Lines are applied as replicated rows are, by the extension's owner:
	 * tracelink_admin may call ingest() but writes none of tracelink's
	 * tables itself (inboxes, quarantine).
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	spi_nest = tl_spi_connect();
	SPI_execute("SELECT pg_catalog.count(*) FROM tracelink.quarantine", false, 1);
	quarantined_before = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);

	state();

	/*
	 * Lines are read in place; what one line allocates (its tree, its
	 * entry, a quarantine row) is freed before the next, so memory is that
	 * of the input and of its longest line.
	 */
	line_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink ingested line",
									 ALLOCSET_DEFAULT_SIZES);
	while (line < end)
	{
		const char *newline = memchr(line, '\n', end - line);
		RowSource	src = {NULL, NULL, line, (newline ? newline : end) - line};
		ErrorData  *failure;
		MemoryContext old;

		line = newline ? newline + 1 : end;
		if (src.line_len == 0)
			continue;
		lines++;
		old = MemoryContextSwitchTo(line_cxt);
		failure = tl_run_in_subtransaction(receive_line, &src);
		if (failure != NULL)
			quarantine("entry", NULL, NULL, NULL, NULL, NULL,
					   psprintf("line could not be processed: %s", failure->message),
					   source_jsonb(&src));
		MemoryContextSwitchTo(old);
		MemoryContextReset(line_cxt);
	}
	MemoryContextDelete(line_cxt);

	spi_nest = tl_spi_connect();
	SPI_execute("SELECT pg_catalog.count(*) FROM tracelink.quarantine", false, 1);
	quarantined_after = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	values[0] = Int64GetDatum(lines);
	values[1] = Int64GetDatum(quarantined_after - quarantined_before);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * At commit, entries still waiting for their block go to the inbox, and
 * the writers are closed.  No snapshot is active at pre-commit, and writing
 * a table that has a TOAST table needs one (heap_insert asserts it): the
 * inbox is written under a snapshot pushed for it.
 */
static void
apply_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (apply_state == NULL)
		return;
	if (event == XACT_EVENT_PRE_COMMIT)
	{
		/* as for the seal: work under the top transaction's owner */
		ResourceOwner save_owner = CurrentResourceOwner;

		CurrentResourceOwner = TopTransactionResourceOwner;
		if (apply_state->waiting_entries != NIL)
		{
			TlRowWriter *w;

			PushActiveSnapshot(GetTransactionSnapshot());
			w = tl_writer_open(tl_relid("inbox_entries"));
			foreach(lc, apply_state->waiting_entries)
				tl_write_entry(w, lfirst(lc));
			tl_writer_close(w);
			PopActiveSnapshot();
		}
		tl_writer_close(apply_state->entries);
		tl_writer_close(apply_state->blocks);
		tl_writer_close(apply_state->heads);
		CurrentResourceOwner = save_owner;
		apply_state = NULL;
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE)
		apply_state = NULL;
}
