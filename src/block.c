/*-------------------------------------------------------------------------
 *
 * block.c
 *	  The rules a block and its entries follow: one checker for rows that
 *	  arrive (apply.c) and for the ledger at rest (verify.c).
 *
 * A block is checked against the block before it (or, for block 0, against
 * the origin's pinned key): it links to it, is signed by the key in force,
 * its hash follows from its header, its signature verifies, its entries
 * root is the Merkle root of its entry hashes, and its tree head extends
 * the origin's tree.  An entry is checked against its block: its place is
 * in the block, its hash follows from its content and is the hash the block
 * sealed there, its kind, dependencies and payload are well formed, the
 * genesis entry names its origin and the key of block 0, and a key rotation
 * entry names the key its block hands over to.  These checks need only the
 * block and the entry in hand, so the apply path makes every one of them as
 * rows arrive and verify() makes the same ones again later, with the same
 * words.
 *
 * One rule needs every entry of a block: a block that hands over to a new
 * key (next_key) must hold a key rotation entry, which is public.  A node
 * that does not receive every entry of a block (audiences) cannot check it;
 * tl_check_block_complete() is called when the last of them is there:
 * verify() at the end of a block, the apply path for the entry that would
 * complete it (which is then refused).
 *
 * What only a node's own tables can tell - a block number taken twice, an
 * entry replayed, an entry not addressed to this node, an entry deleted at
 * rest, the recorded head - stays with the caller.  Nothing here raises on
 * content: every problem comes back as a lowercase sentence.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* ----------------------------------------------------------------
 * Decoding rows of ledger_blocks and ledger_entries (and the inbox tables
 * shaped like them); a row from a peer reaches its trigger before NOT
 * NULL and lengths are checked
 * ----------------------------------------------------------------
 */

/*
 * Copy a fixed-size bytea column (attnum from 1) into out; false if it is
 * NULL or of another size.
 */
bool
tl_fixed_bytea(HeapTuple tup, TupleDesc desc, int attnum, uint8 *out, int len)
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
 * Decode a block row (columns in ledger_blocks order); returns why it
 * cannot be a block, or NULL.  Never raises on the row's content.
 */
const char *
tl_block_decode(HeapTuple tup, TupleDesc desc, TlBlock *b)
{
	bool		isnull;
	Datum		d;
	bytea	   *hashes;
	char	   *origin;
	int			att;

	memset(b, 0, sizeof(*b));
	for (att = 0; att < BLOCK_NATTS; att++)
		if (att != BLOCK_NEXT_KEY && heap_attisnull(tup, att + 1, desc))
			return "block has a null in a required column";
	origin = TextDatumGetCString(heap_getattr(tup, BLOCK_ORIGIN + 1, desc, &isnull));
	if (strlen(origin) >= NAMEDATALEN)
		return "block has no valid origin";
	strlcpy(b->h.origin, origin, NAMEDATALEN);
	b->h.block_no = DatumGetInt64(heap_getattr(tup, BLOCK_NO + 1, desc, &isnull));
	b->h.tx = DatumGetInt64(heap_getattr(tup, BLOCK_TX + 1, desc, &isnull));
	b->h.entry_count = DatumGetInt32(heap_getattr(tup, BLOCK_ENTRY_COUNT + 1, desc, &isnull));
	b->h.tree_size = DatumGetInt64(heap_getattr(tup, BLOCK_TREE_SIZE + 1, desc, &isnull));
	b->h.sealed_at = DatumGetTimestampTz(heap_getattr(tup, BLOCK_SEALED_AT + 1, desc, &isnull));
	if (!tl_fixed_bytea(tup, desc, BLOCK_ENTRIES_ROOT + 1, b->h.entries_root, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_TREE_ROOT + 1, b->h.tree_root, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_PREV_HASH + 1, b->h.prev_hash, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_SIGNER_KEY + 1, b->h.signer_key, TL_ED25519_PK_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_HASH + 1, b->block_hash, TL_HASH_LEN) ||
		!tl_fixed_bytea(tup, desc, BLOCK_SIGNATURE + 1, b->signature, TL_ED25519_SIG_LEN))
		return "a hash, key or signature of the block has the wrong length";
	b->h.has_next_key = !heap_attisnull(tup, BLOCK_NEXT_KEY + 1, desc);
	if (b->h.has_next_key &&
		!tl_fixed_bytea(tup, desc, BLOCK_NEXT_KEY + 1, b->h.next_key, TL_ED25519_PK_LEN))
		return "next_key of the block has the wrong length";
	if (b->h.entry_count < 0)
		return "entry_count is negative";
	d = heap_getattr(tup, BLOCK_ENTRY_HASHES + 1, desc, &isnull);
	hashes = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(hashes) != (size_t) b->h.entry_count * TL_HASH_LEN)
		return "entry_hashes does not hold entry_count hashes";
	b->entry_hashes = palloc((size_t) Max(b->h.entry_count, 1) * TL_HASH_LEN);
	memcpy(b->entry_hashes, VARDATA_ANY(hashes), VARSIZE_ANY_EXHDR(hashes));
	return NULL;
}

/*
 * Decode an entry row (columns in ledger_entries order); returns why it
 * cannot be an entry, or NULL.  Never raises on the row's content.
 */
const char *
tl_entry_decode(HeapTuple tup, TupleDesc desc, TlEntry *e)
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
 * Blocks
 * ----------------------------------------------------------------
 */

/*
 * Check a block against the block before it, `prev` (the origin's head),
 * or, when prev is NULL, as the first block of a chain whose genesis key
 * is `pinned_key`.  Returns why it does not follow, or NULL; on success
 * `frontier` holds the origin's tree extended by the block.  Block numbers
 * are the caller's: the apply path checks only the block that follows its
 * head, verify() reads them in order.  With frontier NULL the tree head
 * (tree_size, tree_root) is left to the caller, who holds the tree (the
 * parallel workers of verify(), which start in the middle of a chain):
 * prev then needs only its block_no, block_hash and signer_key.
 */
const char *
tl_check_block(const TlBlock *b, const TlHead *prev, const uint8 *pinned_key,
			   TlMerkleFrontier *frontier)
{
	static const uint8 zero[TL_HASH_LEN] = {0};
	uint8		computed[TL_HASH_LEN];
	uint8		entries_root[TL_HASH_LEN];
	uint8		tree_root[TL_HASH_LEN];
	TlMerkleFrontier alone;

	if (b->h.entry_count > TL_BLOCK_MAX_ENTRIES)
		return "block holds more entries than a block may (its export line would be too large)";
	if (prev == NULL)
	{
		if (memcmp(b->h.prev_hash, zero, TL_HASH_LEN) != 0)
			return "block does not start the chain (the prev_hash of block 0 is not 32 zero bytes): the chain was forked or rewritten";
	}
	else if (memcmp(b->h.prev_hash, prev->block_hash, TL_HASH_LEN) != 0)
		return psprintf("block does not link to block " INT64_FORMAT
						" (prev_hash differs): the chain was forked or rewritten",
						prev->block_no);
	if (memcmp(b->h.signer_key, prev ? prev->signer_key : pinned_key,
			   TL_ED25519_PK_LEN) != 0)
		return "block is signed by a key that is not the origin's current key";
	tl_block_hash(&b->h, computed);
	if (memcmp(computed, b->block_hash, TL_HASH_LEN) != 0)
		return "block hash does not match the block header";
	if (!tl_ed25519_verify(b->h.signer_key, b->block_hash, TL_HASH_LEN, b->signature))
		return "signature does not verify with the origin's key";
	/* without the tree, the block's own entries make a tree of their own */
	if (frontier == NULL)
		frontier = &alone;
	if (prev != NULL && frontier != &alone)
		*frontier = prev->frontier;
	else
		tl_frontier_init(frontier);
	tl_extend_tree(frontier, b->entry_hashes, b->h.entry_count, entries_root, tree_root);
	if (memcmp(entries_root, b->h.entries_root, TL_HASH_LEN) != 0)
		return "entries_root is not the Merkle root of the block's entry hashes";
	return frontier == &alone ? NULL : tl_check_block_tree(b, frontier, tree_root);
}

/*
 * The tree head of block `b` against the origin's tree once extended by
 * b's entries (`frontier`, whose root is `tree_root`): tl_check_block's
 * last check, which the leader of a parallel verify() makes alone.
 */
const char *
tl_check_block_tree(const TlBlock *b, const TlMerkleFrontier *frontier,
					const uint8 *tree_root)
{
	if ((uint64) b->h.tree_size != frontier->size ||
		memcmp(tree_root, b->h.tree_root, TL_HASH_LEN) != 0)
		return "tree head (tree_size, tree_root) does not follow from the blocks before it";
	return NULL;
}

/*
 * The origin's head once `b` (checked by tl_check_block, which gave
 * `frontier`) is its latest block: the next block is signed by next_key
 * when b hands over to one.  The heads row's tid is left alone.
 */
void
tl_head_after_block(TlHead *head, const TlBlock *b, const TlMerkleFrontier *frontier)
{
	head->block_no = b->h.block_no;
	memcpy(head->block_hash, b->block_hash, TL_HASH_LEN);
	head->tree_size = b->h.tree_size;
	head->frontier = *frontier;
	memcpy(head->signer_key, b->h.has_next_key ? b->h.next_key : b->h.signer_key,
		   TL_ED25519_PK_LEN);
}

/*
 * The rule that needs all of a block's entries: `present` of them are
 * there (all, when it equals entry_count), `holds_rotation` if one is a
 * key rotation entry.  Rotation entries are public, so a complete block
 * that hands over to a new key must hold one.
 */
const char *
tl_check_block_complete(const TlBlockHeader *h, int32 present, bool holds_rotation)
{
	if (h->has_next_key && !holds_rotation && present == h->entry_count)
		return "block hands over to a new key but holds no key rotation entry";
	return NULL;
}

/* ----------------------------------------------------------------
 * Entries
 * ----------------------------------------------------------------
 */

/*
 * Is an error one that the content of a document explains (class 22, data
 * exception: not JSON, a number out of range; class 54, a limit: too large,
 * too deep)?  Anything else (a cancellation, out of memory) is not ours to
 * swallow.
 */
static bool
content_error(int sqlerrcode)
{
	int			class = ERRCODE_TO_CATEGORY(sqlerrcode);

	return class == ERRCODE_DATA_EXCEPTION || class == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/*
 * Parse a payload into *tree (in the current memory context); false with
 * *why set when it is not JSON.  The parser is pure (palloc and ereport,
 * no locks, buffers or shared state), so its data errors are caught here
 * without a subtransaction; other errors propagate.
 */
static bool
parse_payload(const char *payload, int len, JcsValue **tree, char **why)
{
	MemoryContext cxt = CurrentMemoryContext;
	JcsValue   *volatile parsed = NULL;
	char	   *volatile message = NULL;

	PG_TRY();
	{
		parsed = jcs_parse(payload, len);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (!content_error(edata->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();
		message = edata->message;
	}
	PG_END_TRY();
	*tree = parsed;
	*why = message;
	return parsed != NULL;
}

/*
 * The 32-byte "public_key" (64 hex digits) of a parsed genesis or rotation
 * payload; false if absent or malformed.
 */
static bool
payload_public_key(const JcsValue *payload, uint8 *key)
{
	JcsValue   *pk = payload->kind == JCS_OBJECT ? jcs_object_get(payload, "public_key") : NULL;

	return pk != NULL && pk->kind == JCS_STRING &&
		tl_hex_decode(pk->u.string.str, pk->u.string.len, key, TL_ED25519_PK_LEN);
}

/*
 * What an entry shows on its own, without its block: its size, its hash
 * against its content, its kind, its dependencies (sorted, unique) and its
 * payload (RFC 8785 canonical JSON).  Returns the problem or NULL.  With
 * want_tree, *tree gets the parsed payload (or NULL on a problem); without,
 * a payload that jcs_text_is_canonical() settles is not parsed at all (the
 * usual case, and most of the cost of checking an entry).
 */
static const char *
check_entry_content(const TlEntry *e, bool want_tree, JcsValue **tree)
{
	StringInfoData pre;
	uint8		computed[TL_HASH_LEN];
	StringInfoData canon;
	char	   *why;
	int			i;

	*tree = NULL;
	if (e->payload_len > TL_JSON_MAX_BYTES)
		return psprintf("ledger entry is too large: its payload has %d bytes; an entry has at most %d",
						e->payload_len, TL_JSON_MAX_BYTES);
	initStringInfo(&pre);
	tl_entry_preimage(&pre, e->origin, e->tx, e->seq, e->kind, e->payload,
					  e->payload_len, e->deps, e->ndeps,
					  (const char *const *) e->audience, e->audience ? e->naudience : 0);
	if (pre.len > TL_JSON_MAX_BYTES)
		return psprintf("ledger entry is too large: its canonical form has %d bytes; an entry has at most %d",
						pre.len, TL_JSON_MAX_BYTES);
	tl_sha256(pre.data, pre.len, computed);
	pfree(pre.data);
	if (memcmp(computed, e->hash, TL_HASH_LEN) != 0)
		return "entry hash does not match the entry's content";
	if (!tl_valid_kind(e->kind))
		return "kind is not a valid entry kind";
	for (i = 1; i < e->ndeps; i++)
		if (memcmp(e->deps + (i - 1) * TL_HASH_LEN, e->deps + i * TL_HASH_LEN, TL_HASH_LEN) >= 0)
			return "deps are not sorted and unique";
	if (!want_tree &&
		jcs_text_is_canonical(e->payload, e->payload_len, GetDatabaseEncoding() == PG_UTF8))
		return NULL;
	if (!parse_payload(e->payload, e->payload_len, tree, &why))
		return psprintf("payload is not JSON: %s", why);
	initStringInfo(&canon);
	jcs_serialize(&canon, *tree);
	if (canon.len != e->payload_len || memcmp(canon.data, e->payload, canon.len) != 0)
		return "payload is not RFC 8785 canonical JSON";
	pfree(canon.data);
	return NULL;
}

/*
 * What an entry shows without its block (see check_entry_content): what
 * the apply path asks of an entry before it lets it wait for its block.
 */
const char *
tl_check_entry_content(const TlEntry *e)
{
	JcsValue   *tree;

	return check_entry_content(e, false, &tree);
}

/*
 * Check an entry as the entry its block `b` sealed at its position: in
 * range, well formed (check_entry_content), the hash the block sealed
 * there; the genesis entry (block 0, seq 0) names its origin and the key
 * that signed block 0; a key rotation entry names the key the block hands
 * over to (*is_rotation is set for one).  Returns the problem or NULL.
 * What is allocated is the caller's to free (its memory context).
 */
const char *
tl_check_entry(const TlEntry *e, const TlBlock *b, bool *is_rotation)
{
	const char *problem;
	JcsValue   *tree;
	uint8		key[TL_ED25519_PK_LEN];

	*is_rotation = false;
	if (e->seq < 0 || e->seq >= b->h.entry_count)
		return psprintf("seq %d is outside the block's %d entries", e->seq, b->h.entry_count);
	/* the genesis entry and key rotations are read, the others only checked */
	problem = check_entry_content(e, (b->h.block_no == 0 && e->seq == 0) ||
								  strcmp(e->kind, "tl.key_rotation") == 0, &tree);
	if (problem != NULL)
		return problem;
	if (memcmp(e->hash, b->entry_hashes + (size_t) e->seq * TL_HASH_LEN, TL_HASH_LEN) != 0)
		return "entry is not the one the block sealed at this position (moved or replaced)";
	if (b->h.block_no == 0 && e->seq == 0)
	{
		JcsValue   *node;

		if (strcmp(e->kind, "tl.genesis") != 0)
			return "the first entry of a chain must be its genesis entry";
		node = tree->kind == JCS_OBJECT ? jcs_object_get(tree, "node") : NULL;
		if (!payload_public_key(tree, key) ||
			node == NULL || node->kind != JCS_STRING ||
			strcmp(node->u.string.str, e->origin) != 0 ||
			memcmp(key, b->h.signer_key, TL_ED25519_PK_LEN) != 0)
			return "the genesis entry does not name its origin and the key that signed block 0";
	}
	if (strcmp(e->kind, "tl.key_rotation") == 0)
	{
		if (!payload_public_key(tree, key))
			return "key rotation entry does not name a 32-byte public key";
		if (!b->h.has_next_key || memcmp(key, b->h.next_key, TL_ED25519_PK_LEN) != 0)
			return "key rotation entry names another key than its block's next_key";
		*is_rotation = true;
	}
	return NULL;
}
