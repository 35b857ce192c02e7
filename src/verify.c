/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  Checking the ledger, exporting it, and proving entries to auditors.
 *
 * verify() trusts nothing but each origin's pinned genesis key: it rebuilds
 * every entry hash from the entry's content, every block's Merkle roots,
 * header hash, chain link and signature, follows key rotations, and
 * compares the result with the recorded heads, naming the first thing that
 * does not fit.  A superuser can bypass the append-only triggers; this is
 * what makes such tampering visible.
 *
 * export() writes an origin's ledger as JSON Lines that the standalone
 * verifier (tools/tracelink-verify) checks outside PostgreSQL; the format is
 * in docs/ledger.md.  The proof functions read an origin's entry hashes from
 * its blocks (which every node holds, private entries included) and answer
 * with RFC 6962 proofs against signed tree heads, which are simply blocks:
 * a block's hash covers its tree size and tree root and is signed.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tl_verify);
PG_FUNCTION_INFO_V1(tl_export);
PG_FUNCTION_INFO_V1(tl_signed_tree_head);
PG_FUNCTION_INFO_V1(tl_tree_root);
PG_FUNCTION_INFO_V1(tl_inclusion_proof);
PG_FUNCTION_INFO_V1(tl_consistency_proof);
PG_FUNCTION_INFO_V1(tl_verify_tree_head);

#define FETCH_BATCH 1000

/* ----------------------------------------------------------------
 * Reading blocks and entries through SPI cursors
 * ----------------------------------------------------------------
 */

static const char *const blocks_query =
"SELECT block_no, tx, entry_count, entry_hashes, entries_root, tree_size,"
"       tree_root, prev_hash, sealed_at, signer_key, block_hash, signature, next_key"
"  FROM tracelink.ledger_blocks WHERE origin = $1 AND block_no >= $2"
" ORDER BY block_no";

static const char *const entries_query =
"SELECT b.block_no, e.seq, e.kind, e.payload, e.deps, e.audience, e.entry_hash"
"  FROM tracelink.ledger_blocks b"
"  JOIN tracelink.ledger_entries e ON e.origin = b.origin AND e.tx = b.tx"
" WHERE b.origin = $1 AND b.block_no >= $2"
" ORDER BY b.block_no, e.seq";

/* A block as read back, with its entry hashes */
typedef struct StoredBlock
{
	TlBlockHeader h;
	uint8		block_hash[TL_HASH_LEN];
	uint8		signature[TL_ED25519_SIG_LEN];
	uint8	   *entry_hashes;	/* entry_count * 32, or NULL if malformed */
	const char *malformed;		/* why a column had the wrong size */
} StoredBlock;

/* An entry as read back */
typedef struct StoredEntry
{
	int64		block_no;
	int32		seq;
	char	   *kind;
	char	   *payload;
	uint8	   *deps;
	int			ndeps;
	char	  **audience;
	int			naudience;
	uint8		entry_hash[TL_HASH_LEN];
	bool		hash_ok_size;
} StoredEntry;

/* A forward cursor over query results, fetched in batches */
typedef struct RowCursor
{
	Portal		portal;
	SPITupleTable *batch;
	uint64		n;
	uint64		pos;
	bool		done;
} RowCursor;

static void
cursor_open(RowCursor *c, const char *query, const char *origin, int64 from_block)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(from_block);
	memset(c, 0, sizeof(*c));
	c->portal = SPI_cursor_open_with_args(NULL, query, 2, types, args, NULL, true, 0);
}

/* next row, or NULL at the end; valid until the next call */
static HeapTuple
cursor_next(RowCursor *c, TupleDesc *desc)
{
	if (c->done)
		return NULL;
	if (c->batch == NULL || c->pos >= c->n)
	{
		if (c->batch)
			SPI_freetuptable(c->batch);
		SPI_cursor_fetch(c->portal, true, FETCH_BATCH);
		c->batch = SPI_tuptable;
		c->n = SPI_processed;
		c->pos = 0;
		if (c->n == 0)
		{
			c->done = true;
			return NULL;
		}
	}
	*desc = c->batch->tupdesc;
	return c->batch->vals[c->pos++];
}

static void
cursor_close(RowCursor *c)
{
	if (c->batch)
		SPI_freetuptable(c->batch);
	SPI_cursor_close(c->portal);
}

/* copy a fixed-size bytea column; false if NULL or of another size */
static bool
get_fixed_bytea(HeapTuple tup, TupleDesc desc, int col, uint8 *out, int len)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != len)
		return false;
	memcpy(out, VARDATA_ANY(b), len);
	return true;
}

static void
read_block(HeapTuple tup, TupleDesc desc, const char *origin, StoredBlock *b)
{
	bool		isnull;
	bytea	   *hashes;

	memset(b, 0, sizeof(*b));
	strlcpy(b->h.origin, origin, sizeof(b->h.origin));
	b->h.block_no = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	b->h.tx = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	b->h.entry_count = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	b->h.tree_size = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	b->h.sealed_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 9, &isnull));
	if (!get_fixed_bytea(tup, desc, 5, b->h.entries_root, TL_HASH_LEN) ||
		!get_fixed_bytea(tup, desc, 7, b->h.tree_root, TL_HASH_LEN) ||
		!get_fixed_bytea(tup, desc, 8, b->h.prev_hash, TL_HASH_LEN) ||
		!get_fixed_bytea(tup, desc, 10, b->h.signer_key, TL_ED25519_PK_LEN) ||
		!get_fixed_bytea(tup, desc, 11, b->block_hash, TL_HASH_LEN) ||
		!get_fixed_bytea(tup, desc, 12, b->signature, TL_ED25519_SIG_LEN))
		b->malformed = "a hash, key or signature column has the wrong length";
	SPI_getbinval(tup, desc, 13, &isnull);
	b->h.has_next_key = !isnull;
	if (b->h.has_next_key &&
		!get_fixed_bytea(tup, desc, 13, b->h.next_key, TL_ED25519_PK_LEN))
		b->malformed = "next_key has the wrong length";
	hashes = DatumGetByteaPP(SPI_getbinval(tup, desc, 4, &isnull));
	if (b->h.entry_count < 0 ||
		VARSIZE_ANY_EXHDR(hashes) != (size_t) b->h.entry_count * TL_HASH_LEN)
		b->malformed = "entry_hashes does not hold entry_count hashes";
	else
	{
		b->entry_hashes = palloc((size_t) Max(b->h.entry_count, 1) * TL_HASH_LEN);
		memcpy(b->entry_hashes, VARDATA_ANY(hashes), VARSIZE_ANY_EXHDR(hashes));
	}
}

static void
read_entry(HeapTuple tup, TupleDesc desc, StoredEntry *e)
{
	bool		isnull;
	Datum		d;

	memset(e, 0, sizeof(*e));
	e->block_no = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	e->seq = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	e->kind = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
	e->payload = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
	d = SPI_getbinval(tup, desc, 5, &isnull);
	e->ndeps = isnull ? 0 : tl_hash_array(DatumGetArrayTypeP(d), "deps", &e->deps);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			i;

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &e->naudience);
		e->audience = palloc(sizeof(char *) * Max(e->naudience, 1));
		for (i = 0; i < e->naudience; i++)
			e->audience[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	}
	e->hash_ok_size = get_fixed_bytea(tup, desc, 7, e->entry_hash, TL_HASH_LEN);
}

static void
entry_hash_of(const char *origin, int64 tx, const StoredEntry *e, uint8 *out)
{
	StringInfoData pre;

	initStringInfo(&pre);
	tl_entry_preimage(&pre, origin, tx, e->seq, e->kind, e->payload,
					  strlen(e->payload), e->deps, e->ndeps,
					  (const char *const *) e->audience,
					  e->audience ? e->naudience : 0);
	tl_sha256(pre.data, pre.len, out);
	pfree(pre.data);
}

/*
 * Pull "public_key" (64 hex characters) out of a genesis or rotation
 * payload; false if absent or malformed.
 */
static bool
payload_public_key(const char *payload, uint8 *key)
{
	JcsValue   *v;
	JcsValue   *pk;
	int			i;
	volatile bool ok = false;
	MemoryContext ctx = CurrentMemoryContext;

	PG_TRY();
	{
		v = jcs_parse(payload, strlen(payload));
		pk = jcs_object_get(v, "public_key");
		if (pk != NULL && pk->kind == JCS_STRING &&
			pk->u.string.len == 2 * TL_ED25519_PK_LEN)
		{
			ok = true;
			for (i = 0; i < TL_ED25519_PK_LEN && ok; i++)
			{
				unsigned int byte;

				if (sscanf(pk->u.string.str + 2 * i, "%2x", &byte) != 1)
					ok = false;
				key[i] = (uint8) byte;
			}
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* ----------------------------------------------------------------
 * verify()
 * ----------------------------------------------------------------
 */

typedef struct VerifyResult
{
	int64		entries;
	int64		blocks;
	char	   *first_bad;
	char	   *reason;
	MemoryContext cxt;			/* where first_bad and reason live: the
								 * caller's, not the per-block context that
								 * is reset and deleted under them */
} VerifyResult;

#define BAD(res, where, ...) \
	do { \
		char	   *reason_ = psprintf(__VA_ARGS__); \
		(res)->first_bad = MemoryContextStrdup((res)->cxt, (where)); \
		(res)->reason = MemoryContextStrdup((res)->cxt, reason_); \
	} while (0)

/*
 * Verify one block's entries (those present) against the block; advance
 * the entries cursor past them.  Returns false and fills res on a problem.
 */
static bool
verify_block_entries(RowCursor *ec, HeapTuple *etup, TupleDesc *edesc,
					 const char *origin, const StoredBlock *b, bool local,
					 VerifyResult *res)
{
	int32		expect_seq = 0;
	int64		first_ordinal = b->h.tree_size - b->h.entry_count;
	int32		present = 0;
	bool		rotation_entry = false;

	/*
	 * What reading and checking one entry allocates (its payload, its
	 * preimage) is freed before the next: a block may hold many entries.
	 * Problems are reported in the caller's context.
	 */
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext entry_cxt = AllocSetContextCreate(caller, "tracelink verify entry",
													ALLOCSET_DEFAULT_SIZES);

	while (*etup != NULL)
	{
		StoredEntry e;
		uint8		computed[TL_HASH_LEN];
		char	   *where;

		MemoryContextReset(entry_cxt);
		MemoryContextSwitchTo(entry_cxt);
		read_entry(*etup, *edesc, &e);
		where = psprintf("entry %s:" INT64_FORMAT " (block " INT64_FORMAT ", seq %d)",
						 origin, first_ordinal + e.seq, b->h.block_no, e.seq);
		MemoryContextSwitchTo(caller);
		if (e.block_no != b->h.block_no)
			break;
		if (e.seq < 0 || e.seq >= b->h.entry_count)
		{
			BAD(res, where, "seq %d is outside the block's %d entries", e.seq,
				b->h.entry_count);
			return false;
		}
		if (e.seq < expect_seq)
		{
			BAD(res, where, "entry appears more than once in the ledger");
			return false;
		}
		if (e.seq != expect_seq && local)
		{
			BAD(res, psprintf("entry %s:" INT64_FORMAT " (block " INT64_FORMAT ", seq %d)",
							  origin, first_ordinal + expect_seq, b->h.block_no, expect_seq),
				"entry is missing from the ledger (deleted?)");
			return false;
		}
		MemoryContextSwitchTo(entry_cxt);
		entry_hash_of(origin, b->h.tx, &e, computed);
		MemoryContextSwitchTo(caller);
		if (!e.hash_ok_size || memcmp(computed, e.entry_hash, TL_HASH_LEN) != 0)
		{
			BAD(res, where, "entry hash does not match the entry's content");
			return false;
		}
		if (memcmp(computed, b->entry_hashes + (size_t) e.seq * TL_HASH_LEN, TL_HASH_LEN) != 0)
		{
			BAD(res, where, "entry is not the one the block sealed at this position (moved or replaced)");
			return false;
		}
		if (b->h.block_no == 0 && e.seq == 0)
		{
			uint8		genesis_key[TL_ED25519_PK_LEN];
			JcsValue   *node = NULL;

			if (strcmp(e.kind, "tl.genesis") != 0)
			{
				BAD(res, where, "the first entry of a chain must be its genesis entry");
				return false;
			}
			MemoryContextSwitchTo(entry_cxt);
			if (payload_public_key(e.payload, genesis_key))
				node = jcs_object_get(jcs_parse(e.payload, strlen(e.payload)), "node");
			MemoryContextSwitchTo(caller);
			if (node == NULL || node->kind != JCS_STRING || strcmp(node->u.string.str, origin) != 0 ||
				memcmp(genesis_key, b->h.signer_key, TL_ED25519_PK_LEN) != 0)
			{
				BAD(res, where, "the genesis entry does not name its origin and the key that signed block 0");
				return false;
			}
		}
		if (strcmp(e.kind, "tl.key_rotation") == 0)
		{
			uint8		announced[TL_ED25519_PK_LEN];
			bool		named;

			MemoryContextSwitchTo(entry_cxt);
			named = payload_public_key(e.payload, announced);
			MemoryContextSwitchTo(caller);
			if (!named)
			{
				BAD(res, where, "key rotation entry does not name a 32-byte public key");
				return false;
			}
			if (!b->h.has_next_key ||
				memcmp(announced, b->h.next_key, TL_ED25519_PK_LEN) != 0)
			{
				BAD(res, where, "key rotation entry names another key than its block's next_key");
				return false;
			}
			rotation_entry = true;
		}
		res->entries++;
		present++;
		expect_seq = e.seq + 1;
		*etup = cursor_next(ec, edesc);
	}
	MemoryContextDelete(entry_cxt);
	if (expect_seq != b->h.entry_count && local)
	{
		BAD(res, psprintf("entry %s:" INT64_FORMAT " (block " INT64_FORMAT ", seq %d)",
						  origin, first_ordinal + expect_seq, b->h.block_no, expect_seq),
			"entry is missing from the ledger (deleted?)");
		return false;
	}
	/* rotation entries are public, so a complete block must hold one */
	if (b->h.has_next_key && !rotation_entry && present == b->h.entry_count)
	{
		BAD(res, psprintf("block " INT64_FORMAT, b->h.block_no),
			"block hands over to a new key but holds no key rotation entry");
		return false;
	}
	return true;
}

/*
 * Verify an origin's whole chain.
 */
static void
verify_origin(const char *origin, const uint8 *pinned_key, bool local,
			  VerifyResult *res)
{
	RowCursor	bc;
	RowCursor	ec;
	HeapTuple	btup;
	HeapTuple	etup;
	TupleDesc	bdesc;
	TupleDesc	edesc = NULL;
	TlMerkleFrontier frontier;
	uint8		prev_hash[TL_HASH_LEN];
	uint8		key[TL_ED25519_PK_LEN];
	int64		expect_block = 0;
	bool		ok = true;
	MemoryContext percall = AllocSetContextCreate(CurrentMemoryContext,
												  "tracelink verify block",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	memset(res, 0, sizeof(*res));
	res->cxt = CurrentMemoryContext;
	memset(prev_hash, 0, sizeof(prev_hash));
	memcpy(key, pinned_key, TL_ED25519_PK_LEN);
	tl_frontier_init(&frontier);

	cursor_open(&bc, blocks_query, origin, 0);
	cursor_open(&ec, entries_query, origin, 0);
	etup = cursor_next(&ec, &edesc);
	while (ok && (btup = cursor_next(&bc, &bdesc)) != NULL)
	{
		StoredBlock b;
		uint8		computed[TL_HASH_LEN];
		uint8		entries_root[TL_HASH_LEN];
		uint8		tree_root[TL_HASH_LEN];
		char	   *where;

		old = MemoryContextSwitchTo(percall);
		read_block(btup, bdesc, origin, &b);
		MemoryContextSwitchTo(old);
		where = psprintf("block " INT64_FORMAT, b.h.block_no);

		if (b.h.block_no != expect_block)
		{
			BAD(res, psprintf("block " INT64_FORMAT, expect_block),
				"block is missing: the chain jumps from block " INT64_FORMAT " to " INT64_FORMAT,
				expect_block - 1, b.h.block_no);
			ok = false;
			break;
		}
		if (b.malformed)
		{
			BAD(res, where, "%s", b.malformed);
			ok = false;
			break;
		}
		if (memcmp(b.h.prev_hash, prev_hash, TL_HASH_LEN) != 0)
		{
			BAD(res, where, "block does not link to block " INT64_FORMAT
				" (prev_hash differs): the chain was forked or rewritten", expect_block - 1);
			ok = false;
			break;
		}
		if (memcmp(b.h.signer_key, key, TL_ED25519_PK_LEN) != 0)
		{
			BAD(res, where, "block is signed by a key that is not the origin's current key");
			ok = false;
			break;
		}
		tl_block_hash(&b.h, computed);
		if (memcmp(computed, b.block_hash, TL_HASH_LEN) != 0)
		{
			BAD(res, where, "block hash does not match the block header");
			ok = false;
			break;
		}
		if (!tl_ed25519_verify(b.h.signer_key, b.block_hash, TL_HASH_LEN, b.signature))
		{
			BAD(res, where, "signature does not verify with the origin's key");
			ok = false;
			break;
		}
		old = MemoryContextSwitchTo(percall);
		tl_extend_tree(&frontier, b.entry_hashes, b.h.entry_count, entries_root, tree_root);
		MemoryContextSwitchTo(old);
		if (memcmp(entries_root, b.h.entries_root, TL_HASH_LEN) != 0)
		{
			BAD(res, where, "entries_root is not the Merkle root of the block's entry hashes");
			ok = false;
			break;
		}
		if ((uint64) b.h.tree_size != frontier.size ||
			memcmp(tree_root, b.h.tree_root, TL_HASH_LEN) != 0)
		{
			BAD(res, where, "tree head (tree_size, tree_root) does not follow from the blocks before it");
			ok = false;
			break;
		}
		old = MemoryContextSwitchTo(percall);
		ok = verify_block_entries(&ec, &etup, &edesc, origin, &b, local, res);
		MemoryContextSwitchTo(old);
		if (!ok)
			break;
		if (b.h.has_next_key)
			memcpy(key, b.h.next_key, TL_ED25519_PK_LEN);
		memcpy(prev_hash, b.block_hash, TL_HASH_LEN);
		expect_block++;
		res->blocks++;
		MemoryContextReset(percall);
	}
	cursor_close(&bc);
	cursor_close(&ec);
	/* BAD() put any problem in res->cxt, not in percall */
	MemoryContextDelete(percall);

	/* this node's own chain starts with its genesis block (init_node) */
	if (ok && local && expect_block == 0)
	{
		BAD(res, "block 0", "this node has no ledger: its genesis block is missing (were the ledger tables restored?)");
		ok = false;
	}
	if (ok)
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1];

		/* entries that no block seals */
		args[0] = CStringGetTextDatum(origin);
		if (SPI_execute_with_args("SELECT e.tx, e.seq FROM tracelink.ledger_entries e"
								  " WHERE e.origin = $1 AND NOT EXISTS"
								  " (SELECT 1 FROM tracelink.ledger_blocks b"
								  "   WHERE b.origin = e.origin AND b.tx = e.tx)"
								  " ORDER BY e.tx, e.seq LIMIT 1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look for unsealed entries");
		if (SPI_processed > 0)
		{
			BAD(res, psprintf("entry %s tx %s seq %s", origin,
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				"entry belongs to no block (inserted behind tracelink's back?)");
			ok = false;
		}
	}
	if (ok)
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1];

		/* the recorded head must be where the chain ends */
		args[0] = CStringGetTextDatum(origin);
		if (SPI_execute_with_args("SELECT block_no, block_hash, tree_size FROM tracelink.ledger_heads"
								  " WHERE origin = $1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the head of origin \"%s\"", origin);
		if (SPI_processed == 0 && expect_block > 0)
		{
			BAD(res, "head", "origin has blocks but no recorded head");
			ok = false;
		}
		else if (SPI_processed > 0)
		{
			bool		isnull;
			HeapTuple	t = SPI_tuptable->vals[0];
			TupleDesc	d = SPI_tuptable->tupdesc;
			int64		head_block = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
			uint8		head_hash[TL_HASH_LEN];
			int64		head_size = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));

			if (head_block != expect_block - 1)
			{
				BAD(res, psprintf("block " INT64_FORMAT, expect_block),
					"ledger is truncated: its head records block " INT64_FORMAT
					" but the chain ends at block " INT64_FORMAT,
					head_block, expect_block - 1);
				ok = false;
			}
			else if (!get_fixed_bytea(t, d, 2, head_hash, TL_HASH_LEN) ||
					 memcmp(head_hash, prev_hash, TL_HASH_LEN) != 0 ||
					 (uint64) head_size != frontier.size)
			{
				BAD(res, "head", "the recorded head does not match the last block");
				ok = false;
			}
		}
	}
}

/*
 * tracelink.verify(origin text default null)
 *	returns table(origin, entries, blocks, ok, first_bad, reason)
 */
Datum
tl_verify(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *only = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext caller = CurrentMemoryContext;
	uint64		norigins;
	uint64		i;
	char	  **origins;
	uint8	   *keys;
	bool	   *known;
	bool	   *local;

	InitMaterializedSRF(fcinfo, 0);

	spi_nest = tl_spi_connect();
	/* every origin that has anything, and every known node */
	if (SPI_execute("SELECT o.origin, n.public_key, n.is_local"
					"  FROM (SELECT origin FROM tracelink.ledger_blocks"
					"        UNION SELECT origin FROM tracelink.ledger_entries"
					"        UNION SELECT origin FROM tracelink.ledger_heads"
					"        UNION SELECT name FROM tracelink.nodes) o"
					"  LEFT JOIN tracelink.nodes n ON n.name = o.origin"
					" ORDER BY n.is_local DESC NULLS LAST, o.origin",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list ledger origins");
	norigins = SPI_processed;
	origins = MemoryContextAlloc(caller, sizeof(char *) * Max(norigins, 1));
	keys = MemoryContextAlloc(caller, (size_t) TL_ED25519_PK_LEN * Max(norigins, 1));
	known = MemoryContextAlloc(caller, sizeof(bool) * Max(norigins, 1));
	local = MemoryContextAlloc(caller, sizeof(bool) * Max(norigins, 1));
	for (i = 0; i < norigins; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		bool		isnull;

		origins[i] = MemoryContextStrdup(caller, SPI_getvalue(t, SPI_tuptable->tupdesc, 1));
		known[i] = get_fixed_bytea(t, SPI_tuptable->tupdesc, 2,
								   keys + i * TL_ED25519_PK_LEN, TL_ED25519_PK_LEN);
		local[i] = DatumGetBool(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull)) && !isnull;
	}

	for (i = 0; i < norigins; i++)
	{
		VerifyResult res;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		MemoryContext old;

		if (only != NULL && strcmp(only, origins[i]) != 0)
			continue;
		if (!known[i])
		{
			memset(&res, 0, sizeof(res));
			res.first_bad = "origin";
			res.reason = "origin is not a known node: its blocks cannot be checked against a pinned key";
		}
		else
			verify_origin(origins[i], keys + i * TL_ED25519_PK_LEN, local[i], &res);

		old = MemoryContextSwitchTo(caller);
		values[0] = CStringGetTextDatum(origins[i]);
		values[1] = Int64GetDatum(res.entries);
		values[2] = Int64GetDatum(res.blocks);
		values[3] = BoolGetDatum(res.first_bad == NULL);
		if (res.first_bad)
		{
			values[4] = CStringGetTextDatum(res.first_bad);
			values[5] = CStringGetTextDatum(res.reason);
		}
		else
			nulls[4] = nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	/* no origin at all: say so rather than return nothing (read as "all ok") */
	if (norigins == 0 && only == NULL)
	{
		Datum		values[6];
		bool		nulls[6] = {true, false, false, false, false, false};
		MemoryContext old = MemoryContextSwitchTo(caller);

		values[1] = Int64GetDatum(0);
		values[2] = Int64GetDatum(0);
		values[3] = BoolGetDatum(false);
		values[4] = CStringGetTextDatum("ledger");
		values[5] = CStringGetTextDatum("this database holds no ledger: it is not a tracelink node (run tracelink.init_node()), or its ledger was not restored");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	if (only != NULL)
	{
		bool		seen = false;

		for (i = 0; i < norigins; i++)
			seen |= strcmp(only, origins[i]) == 0;
		if (!seen)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unknown origin \"%s\"", only),
					 errdetail("No node of that name and no ledger rows from it.")));
	}
	tl_spi_finish(spi_nest);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * export()
 * ----------------------------------------------------------------
 */

static void
append_hex_json(StringInfo out, const uint8 *data, int len)
{
	char	   *hex = palloc(2 * len + 1);

	tl_hex_encode(data, len, hex);
	appendStringInfoChar(out, '"');
	appendStringInfoString(out, hex);
	appendStringInfoChar(out, '"');
	pfree(hex);
}

/*
 * tracelink.export(origin text, from_block bigint default 0) returns setof text
 *
 * A header line, then for each block its entries (their hashed canonical
 * JSON, verbatim) followed by the block line.
 */
Datum
tl_export(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *origin;
	int64		from_block = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	MemoryContext caller = CurrentMemoryContext;
	RowCursor	bc;
	RowCursor	ec;
	HeapTuple	btup;
	HeapTuple	etup;
	TupleDesc	bdesc;
	TupleDesc	edesc = NULL;
	uint8		genesis_key[TL_ED25519_PK_LEN];
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	StringInfoData line;
	MemoryContext block_cxt;
	MemoryContext entry_cxt;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("origin must not be null")));
	if (from_block < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_block must not be negative")));
	origin = text_to_cstring(PG_GETARG_TEXT_PP(0));

	spi_nest = tl_spi_connect();
	args[0] = CStringGetTextDatum(origin);
	if (SPI_execute_with_args("SELECT public_key FROM tracelink.nodes WHERE name = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up node \"%s\"", origin);
	if (SPI_processed == 0 ||
		!get_fixed_bytea(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 genesis_key, TL_ED25519_PK_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown node \"%s\"", origin)));

	initStringInfo(&line);
	appendStringInfoString(&line, "{\"format\":\"tracelink-ledger\",\"from_block\":");
	appendStringInfo(&line, INT64_FORMAT ",\"genesis_key\":", from_block);
	append_hex_json(&line, genesis_key, TL_ED25519_PK_LEN);
	appendStringInfoString(&line, ",\"origin\":");
	jcs_append_string(&line, origin, strlen(origin));
	appendStringInfoString(&line, ",\"type\":\"header\",\"version\":1}");
	{
		Datum		v = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
		bool		n = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
	}

	/*
	 * What a block or an entry needs (its columns read back, its line as
	 * text) is freed once the line is in the tuplestore, which spills to
	 * disk: memory is that of the longest line, not of the ledger.
	 */
	block_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink export block",
									  ALLOCSET_DEFAULT_SIZES);
	entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink export entry",
									  ALLOCSET_DEFAULT_SIZES);
	cursor_open(&bc, blocks_query, origin, from_block);
	cursor_open(&ec, entries_query, origin, from_block);
	etup = cursor_next(&ec, &edesc);
	while ((btup = cursor_next(&bc, &bdesc)) != NULL)
	{
		StoredBlock b;
		Datum		v;
		bool		n = false;
		MemoryContext old;

		MemoryContextReset(block_cxt);
		old = MemoryContextSwitchTo(block_cxt);
		read_block(btup, bdesc, origin, &b);
		if (b.malformed)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block " INT64_FORMAT " of origin \"%s\" is malformed: %s",
							b.h.block_no, origin, b.malformed),
					 errhint("Run tracelink.verify() for details.")));
		while (etup != NULL)
		{
			StoredEntry e;

			MemoryContextReset(entry_cxt);
			MemoryContextSwitchTo(entry_cxt);
			read_entry(etup, edesc, &e);
			if (e.block_no != b.h.block_no)
				break;
			resetStringInfo(&line);
			tl_entry_preimage(&line, origin, b.h.tx, e.seq, e.kind, e.payload,
							  strlen(e.payload), e.deps, e.ndeps,
							  (const char *const *) e.audience,
							  e.audience ? e.naudience : 0);
			v = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
			etup = cursor_next(&ec, &edesc);
		}
		MemoryContextSwitchTo(block_cxt);
		resetStringInfo(&line);
		tl_block_json(&line, &b.h, b.block_hash, b.signature, b.entry_hashes);
		v = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
		MemoryContextSwitchTo(old);
	}
	cursor_close(&bc);
	cursor_close(&ec);
	MemoryContextDelete(entry_cxt);
	MemoryContextDelete(block_cxt);
	tl_spi_finish(spi_nest);
	MemoryContextSwitchTo(caller);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * Tree heads and proofs
 * ----------------------------------------------------------------
 */

/*
 * Resolve origin (NULL = this node) and tree size (NULL = the latest) to the
 * block whose tree head that is.  Errors if there is no such block;
 * argname names the size in the error for a negative one.
 */
static void
find_tree_head_block(char **origin, int64 *tree_size, bool latest,
					 const char *argname, StoredBlock *b)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];

	if (!latest && *tree_size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname)));
	if (*origin == NULL)
		*origin = tl_require_local_node();
	args[0] = CStringGetTextDatum(*origin);
	args[1] = Int64GetDatum(latest ? 0 : *tree_size);
	if (SPI_execute_with_args(latest ?
							  "SELECT block_no, tx, entry_count, entry_hashes, entries_root,"
							  " tree_size, tree_root, prev_hash, sealed_at, signer_key,"
							  " block_hash, signature, next_key FROM tracelink.ledger_blocks"
							  " WHERE origin = $1 AND $2 = 0 ORDER BY block_no DESC LIMIT 1" :
							  "SELECT block_no, tx, entry_count, entry_hashes, entries_root,"
							  " tree_size, tree_root, prev_hash, sealed_at, signer_key,"
							  " block_hash, signature, next_key FROM tracelink.ledger_blocks"
							  " WHERE origin = $1 AND tree_size = $2",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a tree head");
	if (SPI_processed == 0)
	{
		if (latest)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("origin \"%s\" has no blocks", *origin)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("origin \"%s\" has no signed tree head of size " INT64_FORMAT,
						*origin, *tree_size),
				 errdetail("Tree heads are signed at block boundaries."),
				 errhint("Use tracelink.tree_root() for an unsigned root at any size, or the size of a block's tree.")));
	}
	read_block(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, *origin, b);
	if (b->malformed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block " INT64_FORMAT " of origin \"%s\" is malformed: %s",
						b->h.block_no, *origin, b->malformed)));
	*tree_size = b->h.tree_size;
}

/*
 * The number of entries in an origin's tree: the tree size of its latest
 * block (0 when it has none).  Sizes asked for are checked against it
 * before anything is read or allocated.
 */
static int64
origin_tree_size(const char *origin)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;

	args[0] = CStringGetTextDatum(origin);
	if (SPI_execute_with_args("SELECT tree_size FROM tracelink.ledger_blocks"
							  " WHERE origin OPERATOR(pg_catalog.=) $1"
							  " ORDER BY block_no DESC LIMIT 1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the tree size of origin \"%s\"", origin);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Refuse a tree size outside 0 .. the origin's number of entries.
 */
static void
check_tree_size(const char *origin, int64 n)
{
	int64		have;

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tree_size must not be negative")));
	have = origin_tree_size(origin);
	if (n > have)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("origin \"%s\" has only " INT64_FORMAT " entries", origin, have)));
}

/*
 * Hand the leaf hashes of an origin's first n entries, read from its
 * blocks in order, to `each`.  The caller has checked n with
 * check_tree_size().
 */
static void
for_each_leaf_hash(const char *origin, int64 n,
				   void (*each) (void *arg, int64 i, const uint8 *hash),
				   void *arg)
{
	int64		have = 0;
	RowCursor	bc;
	HeapTuple	tup;
	TupleDesc	desc;
	uint8		leaf[TL_HASH_LEN];

	cursor_open(&bc, blocks_query, origin, 0);
	while (have < n && (tup = cursor_next(&bc, &desc)) != NULL)
	{
		bool		isnull;
		bytea	   *hashes = DatumGetByteaPP(SPI_getbinval(tup, desc, 4, &isnull));
		int64		count = VARSIZE_ANY_EXHDR(hashes) / TL_HASH_LEN;
		int64		i;

		for (i = 0; i < count && have < n; i++, have++)
		{
			tl_merkle_leaf_hash((uint8 *) VARDATA_ANY(hashes) + i * TL_HASH_LEN,
								TL_HASH_LEN, leaf);
			each(arg, have, leaf);
		}
		CHECK_FOR_INTERRUPTS();
	}
	cursor_close(&bc);
	if (have < n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("origin \"%s\" has only " INT64_FORMAT " entries", origin, have)));
}

/* for_each_leaf_hash callback: store the i-th leaf hash in a buffer */
static void
leaf_to_buffer(void *arg, int64 i, const uint8 *hash)
{
	memcpy((uint8 *) arg + (size_t) i * TL_HASH_LEN, hash, TL_HASH_LEN);
}

/* for_each_leaf_hash callback: extend a frontier */
static void
leaf_to_frontier(void *arg, int64 i, const uint8 *hash)
{
	tl_frontier_append((TlMerkleFrontier *) arg, hash);
}

/*
 * The leaf hashes of an origin's first n entries, for a proof: n is
 * checked against the origin's tree and the in-memory limit of proofs
 * before the buffer is allocated.
 */
static uint8 *
load_leaf_hashes(const char *origin, int64 n)
{
	uint8	   *leaves;

	check_tree_size(origin, n);
	tl_merkle_check_proof_leaves(n);
	leaves = palloc((size_t) Max(n, 1) * TL_HASH_LEN);
	for_each_leaf_hash(origin, n, leaf_to_buffer, leaves);
	return leaves;
}

/*
 * A block's tree head as jsonb: the header fields, block_hash and signature
 * (everything needed to check the signature; no entry hashes).
 */
static Datum
tree_head_jsonb(const StoredBlock *b)
{
	StringInfoData s;

	initStringInfo(&s);
	tl_block_json(&s, &b->h, b->block_hash, b->signature, NULL);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

/*
 * tracelink.signed_tree_head(origin text default null, tree_size bigint default null)
 */
Datum
tl_signed_tree_head(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	char	   *origin = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		size = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	StoredBlock b;
	Datum		result;
	MemoryContext caller = CurrentMemoryContext;

	spi_nest = tl_spi_connect();
	find_tree_head_block(&origin, &size, PG_ARGISNULL(1), "tree_size", &b);
	MemoryContextSwitchTo(caller);
	result = tree_head_jsonb(&b);
	tl_spi_finish(spi_nest);
	PG_RETURN_DATUM(result);
}

/*
 * tracelink.tree_root(origin text, tree_size bigint) returns bytea: the
 * (unsigned) root at any size.
 */
Datum
tl_tree_root(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	char	   *origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		size = PG_GETARG_INT64(1);
	TlMerkleFrontier frontier;
	uint8		root[TL_HASH_LEN];
	bytea	   *result;
	MemoryContext caller = CurrentMemoryContext;

	spi_nest = tl_spi_connect();
	check_tree_size(origin, size);
	/* folded through a frontier as the ledger does: O(log n) memory */
	tl_frontier_init(&frontier);
	for_each_leaf_hash(origin, size, leaf_to_frontier, &frontier);
	tl_frontier_root(&frontier, root);
	result = (bytea *) MemoryContextAlloc(caller, VARHDRSZ + TL_HASH_LEN);
	SET_VARSIZE(result, VARHDRSZ + TL_HASH_LEN);
	memcpy(VARDATA(result), root, TL_HASH_LEN);
	tl_spi_finish(spi_nest);
	PG_RETURN_BYTEA_P(result);
}

static Datum
hashes_to_array(const uint8 *hashes, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(tl_bytea_from(hashes + (size_t) i * TL_HASH_LEN, TL_HASH_LEN));
	return PointerGetDatum(construct_array(elems, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

/*
 * tracelink.inclusion_proof(entry_hash bytea, tree_size bigint default null)
 *	returns table(origin, leaf_index, tree_size, leaf_hash, proof, tree_root,
 *				  signed_tree_head)
 */
Datum
tl_inclusion_proof(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *entry_hash;
	MemoryContext caller = CurrentMemoryContext;
	char	   *origin;
	int64		leaf_index;
	int64		size = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	StoredBlock b;
	uint8	   *leaves;
	uint8		path[TL_MERKLE_MAX_PATH * TL_HASH_LEN];
	int			npath;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	bool		isnull;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("entry_hash must not be null")));
	entry_hash = PG_GETARG_BYTEA_PP(0);
	if (VARSIZE_ANY_EXHDR(entry_hash) != TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry_hash must be a 32-byte SHA-256 hash")));

	spi_nest = tl_spi_connect();
	args[0] = PointerGetDatum(entry_hash);
	if (SPI_execute_with_args("SELECT e.origin, b.tree_size - b.entry_count + e.seq"
							  "  FROM tracelink.ledger_entries e"
							  "  JOIN tracelink.ledger_blocks b ON b.origin = e.origin AND b.tx = e.tx"
							  " WHERE e.entry_hash = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up an entry");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no sealed ledger entry has this hash")));
	origin = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	leaf_index = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	find_tree_head_block(&origin, &size, PG_ARGISNULL(1), "tree_size", &b);
	if (leaf_index >= size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry " INT64_FORMAT " of origin \"%s\" is not in the tree of size " INT64_FORMAT,
						leaf_index, origin, size)));
	leaves = load_leaf_hashes(origin, size);
	npath = tl_merkle_inclusion_path(leaves, size, leaf_index, path);

	MemoryContextSwitchTo(caller);
	values[0] = CStringGetTextDatum(origin);
	values[1] = Int64GetDatum(leaf_index);
	values[2] = Int64GetDatum(size);
	values[3] = PointerGetDatum(tl_bytea_from(leaves + leaf_index * TL_HASH_LEN, TL_HASH_LEN));
	values[4] = hashes_to_array(path, npath);
	values[5] = PointerGetDatum(tl_bytea_from(b.h.tree_root, TL_HASH_LEN));
	values[6] = tree_head_jsonb(&b);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	tl_spi_finish(spi_nest);
	return (Datum) 0;
}

/*
 * tracelink.consistency_proof(origin text, old_size bigint, new_size bigint default null)
 *	returns table(old_size, new_size, old_root, new_root, proof, signed_tree_head)
 */
Datum
tl_consistency_proof(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	char	   *origin;
	int64		old_size;
	int64		new_size = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	StoredBlock b;
	uint8	   *leaves;
	uint8		old_root[TL_HASH_LEN];
	uint8		path[TL_MERKLE_MAX_PATH * TL_HASH_LEN];
	int			npath;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("origin and old_size must not be null")));
	origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	old_size = PG_GETARG_INT64(1);

	spi_nest = tl_spi_connect();
	find_tree_head_block(&origin, &new_size, PG_ARGISNULL(2), "new_size", &b);
	if (old_size < 1 || old_size > new_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old_size must be between 1 and the new tree size " INT64_FORMAT, new_size)));
	leaves = load_leaf_hashes(origin, new_size);
	tl_merkle_root(leaves, old_size, old_root);
	npath = tl_merkle_consistency_path(leaves, new_size, old_size, path);

	MemoryContextSwitchTo(caller);
	values[0] = Int64GetDatum(old_size);
	values[1] = Int64GetDatum(new_size);
	values[2] = PointerGetDatum(tl_bytea_from(old_root, TL_HASH_LEN));
	values[3] = PointerGetDatum(tl_bytea_from(b.h.tree_root, TL_HASH_LEN));
	values[4] = hashes_to_array(path, npath);
	values[5] = tree_head_jsonb(&b);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	tl_spi_finish(spi_nest);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * Checking a signed tree head
 * ----------------------------------------------------------------
 */

/*
 * The tree of a jsonb tree head, or NULL if it cannot be one (say, a number
 * no double can hold).
 */
static JcsValue *
tree_head_fields(Jsonb *jb)
{
	MemoryContext ctx = CurrentMemoryContext;
	JcsValue   *volatile v = NULL;

	PG_TRY();
	{
		v = jcs_from_jsonb(jb);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		FlushErrorState();
		v = NULL;
	}
	PG_END_TRY();
	return v;
}

/*
 * tracelink.verify_tree_head(tree_head jsonb, public_key bytea) returns boolean
 *
 * True when the tree head (as signed_tree_head() gives it) is well formed,
 * its block hash matches its fields, and public_key signed it.  Never raises
 * on malformed input (a document over TL_JSON_MAX_BYTES included).  The
 * tree is read in a context of its own, deleted before returning.
 */
Datum
tl_verify_tree_head(PG_FUNCTION_ARGS)
{
	JcsValue   *v;
	TlBlock		b;
	uint8		computed[TL_HASH_LEN];
	bytea	   *key;
	bool		ok;
	MemoryContext work;
	MemoryContext old;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	key = PG_GETARG_BYTEA_PP(1);
	if (VARSIZE_ANY_EXHDR(key) != TL_ED25519_PK_LEN)
		PG_RETURN_BOOL(false);
	work = AllocSetContextCreate(CurrentMemoryContext, "tracelink tree head",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	v = tree_head_fields(PG_GETARG_JSONB_P(0));
	ok = v != NULL && tl_json_block_header(v, &b) == NULL &&
		memcmp(b.h.signer_key, VARDATA_ANY(key), TL_ED25519_PK_LEN) == 0;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	if (!ok)
		PG_RETURN_BOOL(false);
	tl_block_hash(&b.h, computed);
	if (memcmp(computed, b.block_hash, TL_HASH_LEN) != 0)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(tl_ed25519_verify(b.h.signer_key, b.block_hash, TL_HASH_LEN, b.signature));
}
