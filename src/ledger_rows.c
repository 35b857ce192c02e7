/*-------------------------------------------------------------------------
 *
 * ledger_rows.c
 *	  The ledger's rows and canonical forms: entry and block preimages and
 *	  hashes, reading and writing entry, block and head rows.
 *
 * Everything here is a pure function of its arguments and the tables:
 * no transaction state.  ledger.c (appending and sealing), apply.c
 * (blocks and entries from peers), restore.c, witness.c and verify.c all
 * read and write rows through these, so that one row has one format.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tl_valid_node_name_sql);

/* ----------------------------------------------------------------
 * Node and kind names
 * ----------------------------------------------------------------
 */

/*
 * Node and kind names are identifiers ([a-z][a-z0-9_]*, dot-separated for
 * kinds), so that they need no escaping in canonical JSON and an outside
 * verifier can rebuild the hashed bytes without a JSON library.
 *
 * A node name is 1 to 63 bytes: a lowercase ASCII letter, then lowercase
 * letters, digits or underscores.  This is the one rule: C callers (init_node,
 * the apply path, restore checks) call tl_valid_node_name(), and SQL calls
 * tracelink._valid_node_name(text) below (the CHECK of tracelink.nodes,
 * add_peer, the workflow projectors that read names out of entries).  Each
 * caller raises its own error, as it knows what it was checking
 * (tools/tracelink-verify.c, outside the server, carries its own copy).
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

/*
 * tracelink._valid_node_name(text) returns boolean: immutable and strict,
 * so a NULL name gives NULL and each SQL caller keeps its own handling of
 * it.
 */
Datum
tl_valid_node_name_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(t);
	char		buf[64];

	/* too long (or empty) is decided without copying */
	if (len < 1 || len > 63)
		PG_RETURN_BOOL(false);
	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
	/* a text cannot hold a NUL byte, so buf is the whole name */
	PG_RETURN_BOOL(tl_valid_node_name(buf));
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
static void
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

/* ----------------------------------------------------------------
 * Entry rows
 * ----------------------------------------------------------------
 */

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

/* ----------------------------------------------------------------
 * Heads and blocks
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

