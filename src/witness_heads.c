/*-------------------------------------------------------------------------
 *
 * witness_heads.c
 *	  Signed heads for witnessing: read out of a witness's JSON or out of
 *	  block rows, compared, written back as JSON; and what this node holds
 *	  of an origin to compare them with.
 *
 * witness.c decides what a head proves (witness.c's banner); this file
 * only reads and shapes heads, and calls nothing of it.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "witness_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* ----------------------------------------------------------------
 * Signed heads
 * ----------------------------------------------------------------
 */

/* an exact integer member within [min, max] */
static bool
json_int64_in(JcsValue *v, const char *key, int64 *out, int64 min, int64 max)
{
	return tl_json_int64(v, key, out) && *out >= min && *out <= max;
}

/*
 * A signed head (signed_tree_head() form: the header's fields, block_hash
 * and signature, nothing else) out of JSON; returns why it is not one, or
 * NULL.  The block hash must follow from the fields; the signature is not
 * checked here.
 */
const char *
tl_parse_head(JcsValue *v, TlSignedHead *out)
{
	JcsValue   *origin;
	JcsValue   *type;
	JcsValue   *next;
	int64		n;
	int64		sealed_us;
	uint8		computed[TL_HASH_LEN];

	memset(out, 0, sizeof(*out));
	if (v == NULL || v->kind != JCS_OBJECT)
		return "a head must be a JSON object";
	if (v->u.object.count != 14)
		return "a head has exactly the members of a signed tree head";
	origin = jcs_object_get(v, "origin");
	type = jcs_object_get(v, "type");
	next = jcs_object_get(v, "next_key");
	if (origin == NULL || origin->kind != JCS_STRING || origin->u.string.len >= NAMEDATALEN ||
		memchr(origin->u.string.str, '\0', origin->u.string.len) != NULL)
		return "origin is missing or not a string";
	memcpy(out->h.origin, origin->u.string.str, origin->u.string.len);
	out->h.origin[origin->u.string.len] = '\0';
	if (!tl_valid_node_name(out->h.origin))
		return "origin is not a valid node name";
	if (type == NULL || type->kind != JCS_STRING || type->u.string.len != 5 ||
		memcmp(type->u.string.str, "block", 5) != 0)
		return "type is not \"block\"";
	if (!json_int64_in(v, "block_no", &out->h.block_no, 0, PG_INT64_MAX) ||
		!json_int64_in(v, "tx", &out->h.tx, 0, PG_INT64_MAX) ||
		!json_int64_in(v, "entry_count", &n, 1, PG_INT32_MAX) ||
		!json_int64_in(v, "tree_size", &out->h.tree_size, 1, PG_INT64_MAX) ||
		!tl_json_int64(v, "sealed_at", &sealed_us))
		return "block_no, tx, entry_count, tree_size or sealed_at is missing or out of range";
	out->h.entry_count = (int32) n;
	if (out->h.tree_size < out->h.entry_count)
		return "tree_size is smaller than entry_count";
	out->h.sealed_at = sealed_us - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	if (!tl_json_hex(v, "entries_root", out->h.entries_root, TL_HASH_LEN) ||
		!tl_json_hex(v, "tree_root", out->h.tree_root, TL_HASH_LEN) ||
		!tl_json_hex(v, "prev_hash", out->h.prev_hash, TL_HASH_LEN) ||
		!tl_json_hex(v, "signer_key", out->h.signer_key, TL_ED25519_PK_LEN) ||
		!tl_json_hex(v, "block_hash", out->block_hash, TL_HASH_LEN) ||
		!tl_json_hex(v, "signature", out->signature, TL_ED25519_SIG_LEN))
		return "a hash, key or signature is missing or not lowercase hex of the right length";
	if (next == NULL)
		return "next_key is missing";
	out->h.has_next_key = next->kind != JCS_NULL;
	if (out->h.has_next_key && !tl_json_hex_value(next, out->h.next_key, TL_ED25519_PK_LEN))
		return "next_key is neither null nor a 32-byte key in hex";
	tl_block_hash(&out->h, computed);
	if (memcmp(computed, out->block_hash, TL_HASH_LEN) != 0)
		return "block_hash does not match the head's fields";
	return NULL;
}

/* is the head validly signed by the key it names? */
bool
tl_head_signature_ok(const TlSignedHead *hd)
{
	return tl_ed25519_verify(hd->h.signer_key, hd->block_hash, TL_HASH_LEN, hd->signature);
}

/* do two heads name the same block? */
bool
tl_same_block(const TlSignedHead *a, const TlSignedHead *b)
{
	return memcmp(a->block_hash, b->block_hash, TL_HASH_LEN) == 0;
}

/* a head as canonical JSON (signed_tree_head() form) */
void
tl_head_json(StringInfo out, const TlSignedHead *hd)
{
	tl_block_json(out, &hd->h, hd->block_hash, hd->signature, NULL);
}

/* the same as jsonb */
Datum
tl_head_jsonb(const TlSignedHead *hd)
{
	StringInfoData s;

	initStringInfo(&s);
	tl_head_json(&s, hd);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

/* lowercase hex of some bytes, palloc'd */
char *
tl_hex_of(const uint8 *data, int len)
{
	char	   *hex = palloc(2 * len + 1);

	tl_hex_encode(data, len, hex);
	return hex;
}

/*
 * A ledger_blocks (or inbox_blocks) row as a signed head; false if a
 * column does not have its length.
 */
static bool
head_from_row(HeapTuple tup, TupleDesc desc, TlSignedHead *out)
{
	bool		isnull;
	char	   *origin;

	memset(out, 0, sizeof(*out));
	origin = TextDatumGetCString(heap_getattr(tup, BLOCK_ORIGIN + 1, desc, &isnull));
	strlcpy(out->h.origin, origin, NAMEDATALEN);
	out->h.block_no = DatumGetInt64(heap_getattr(tup, BLOCK_NO + 1, desc, &isnull));
	out->h.tx = DatumGetInt64(heap_getattr(tup, BLOCK_TX + 1, desc, &isnull));
	out->h.entry_count = DatumGetInt32(heap_getattr(tup, BLOCK_ENTRY_COUNT + 1, desc, &isnull));
	out->h.tree_size = DatumGetInt64(heap_getattr(tup, BLOCK_TREE_SIZE + 1, desc, &isnull));
	out->h.sealed_at = DatumGetTimestampTz(heap_getattr(tup, BLOCK_SEALED_AT + 1, desc, &isnull));
	heap_getattr(tup, BLOCK_NEXT_KEY + 1, desc, &isnull);
	out->h.has_next_key = !isnull;
	return tl_fixed_bytea(tup, desc, BLOCK_ENTRIES_ROOT + 1, out->h.entries_root, TL_HASH_LEN) &&
		tl_fixed_bytea(tup, desc, BLOCK_TREE_ROOT + 1, out->h.tree_root, TL_HASH_LEN) &&
		tl_fixed_bytea(tup, desc, BLOCK_PREV_HASH + 1, out->h.prev_hash, TL_HASH_LEN) &&
		tl_fixed_bytea(tup, desc, BLOCK_SIGNER_KEY + 1, out->h.signer_key, TL_ED25519_PK_LEN) &&
		(!out->h.has_next_key ||
		 tl_fixed_bytea(tup, desc, BLOCK_NEXT_KEY + 1, out->h.next_key, TL_ED25519_PK_LEN)) &&
		tl_fixed_bytea(tup, desc, BLOCK_HASH + 1, out->block_hash, TL_HASH_LEN) &&
		tl_fixed_bytea(tup, desc, BLOCK_SIGNATURE + 1, out->signature, TL_ED25519_SIG_LEN);
}

/*
 * Block `block_no` of `origin` as a signed head, from ledger_blocks or (with
 * parked) inbox_blocks; false if there is none.
 */
bool
tl_read_block_head(const char *origin, int64 block_no, bool parked, TlSignedHead *out)
{
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	bool		found = false;

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(block_no);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args(parked
							  ? "SELECT * FROM tracelink.inbox_blocks WHERE origin = $1 AND block_no = $2"
							  : "SELECT * FROM tracelink.ledger_blocks WHERE origin = $1 AND block_no = $2",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up block " INT64_FORMAT " of \"%s\"", block_no, origin);
	if (SPI_processed > 0)
		found = head_from_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, out);
	tl_spi_finish(spi_nest);
	return found;
}

/* what this node knows of `origin` (known = false if nothing) */
void
tl_origin_view(const char *origin, TlOriginView *ov)
{
	int			spi_nest;
	Oid			types[1] = {TEXTOID};
	Datum		args[1];

	memset(ov, 0, sizeof(*ov));
	args[0] = CStringGetTextDatum(origin);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT n.is_local, n.public_key, h.block_no, h.signer_key"
							  "  FROM tracelink.nodes n"
							  "  LEFT JOIN tracelink.ledger_heads h ON h.origin = n.name"
							  " WHERE n.name = $1",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up node \"%s\"", origin);
	if (SPI_processed > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		ov->known = tl_fixed_bytea(tup, desc, 2, ov->pinned_key, TL_ED25519_PK_LEN);
		ov->is_local = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		ov->head_no = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		ov->have_head = !isnull && tl_fixed_bytea(tup, desc, 4, ov->head_key, TL_ED25519_PK_LEN);
	}
	tl_spi_finish(spi_nest);
}

/*
 * Block `block_no` of `origin` in the ledger, read through the primary key
 * with `snapshot`; false if there is none (or it is corrupt).
 */
bool
tl_block_at(const char *origin, int64 block_no, Snapshot snapshot, TlSignedHead *out)
{
	Relation	rel = table_open(tl_relid("ledger_blocks"), AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&keys[0], BLOCK_ORIGIN + 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(origin));
	keys[0].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&keys[1], BLOCK_NO + 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(block_no));
	scan = systable_beginscan(rel, tl_relid("ledger_blocks_pkey"), true, snapshot, 2, keys);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		found = head_from_row(tup, RelationGetDescr(rel), out);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Does this node hold the block a head names (same origin, number and
 * hash)?  Read through the primary key, with no query to plan: most
 * witnessed heads are blocks the receiver holds.
 */
bool
tl_holds_block(const TlSignedHead *hd)
{
	Relation	rel = table_open(tl_relid("ledger_blocks"), AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		same = false;

	ScanKeyInit(&keys[0], BLOCK_ORIGIN + 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(hd->h.origin));
	keys[0].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&keys[1], BLOCK_NO + 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(hd->h.block_no));
	scan = systable_beginscan(rel, tl_relid("ledger_blocks_pkey"), true, SnapshotSelf, 2, keys);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		uint8		hash[TL_HASH_LEN];

		same = tl_fixed_bytea(tup, RelationGetDescr(rel), BLOCK_HASH + 1, hash, TL_HASH_LEN) &&
			memcmp(hash, hd->block_hash, TL_HASH_LEN) == 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return same;
}

/* Has this node's chain ever been signed by (or handed over to) `key`? */
bool
tl_one_of_my_keys(const char *me, const uint8 *key)
{
	int			spi_nest;
	Oid			types[2] = {TEXTOID, BYTEAOID};
	Datum		args[2];
	bool		isnull;
	bool		mine;

	args[0] = CStringGetTextDatum(me);
	args[1] = PointerGetDatum(tl_bytea_from(key, TL_ED25519_PK_LEN));
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT EXISTS (SELECT 1 FROM tracelink.nodes WHERE name = $1 AND public_key = $2)"
							  "    OR EXISTS (SELECT 1 FROM tracelink.ledger_blocks WHERE origin = $1 AND next_key = $2)",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the keys of node \"%s\"", me);
	mine = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	tl_spi_finish(spi_nest);
	return mine;
}
