/*-------------------------------------------------------------------------
 *
 * tv_check.c
 *	  tracelink-verify's checks, in tracelink.verify()'s order: signed tree
 *	  heads (--sth), the header and entry lines of an export, and each
 *	  block with its entries (chain, signature, Merkle roots, key
 *	  hand-overs).
 *
 *-------------------------------------------------------------------------
 */
#include "tv_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <sodium.h>

static const uint8 zero_hash[TL_HASH_LEN];

/* ----------------------------------------------------------------
 * Signed tree heads (--sth)
 * ----------------------------------------------------------------
 */

/*
 * Read and parse a signed tree head file; anything unreadable or malformed
 * ends the program (exit status 2).  Its hash and signature are checked
 * with its export.
 */
void
load_tree_head(const char *path, TreeHead *th)
{
	int			fd = open(path, O_RDONLY);
	char	   *text = tv_malloc(MAX_TREE_HEAD_BYTES + 1);
	size_t		len = 0;
	const char *problem;
	TvJson	   *tree;

	if (fd < 0)
		tv_fatal("could not open signed tree head \"%s\": %s", path, strerror(errno));
	for (;;)
	{
		ssize_t		got = read(fd, text + len, MAX_TREE_HEAD_BYTES + 1 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			tv_fatal("could not read signed tree head \"%s\": %s", path, strerror(errno));
		if (got == 0)
			break;
		len += got;
		if (len > MAX_TREE_HEAD_BYTES)
			tv_fatal("signed tree head \"%s\" is larger than %d bytes", path,
					 MAX_TREE_HEAD_BYTES);
	}
	close(fd);
	tree = tvj_parse(text, len, &problem);
	if (tree == NULL)
		tv_fatal("signed tree head \"%s\" is not valid JSON: %s", path, problem);
	th->path = path;
	problem = read_block_fields(tree, true, &th->b);
	if (problem)
		tv_fatal("\"%s\" is not a signed tree head (as tracelink.signed_tree_head() returns it): %s",
				 path, problem);
	tvj_reset();
	free(text);
}

/* "signed tree head FILE", for messages */
static char *
tree_head_name(const TreeHead *th)
{
	return psprintf("signed tree head %s (block " INT64_FORMAT ")",
					th->path, th->b.block_no);
}

/*
 * Check each signed tree head of this export's origin on its own: its hash
 * follows from its fields and its signer_key signed it.  Which key that
 * must be is known only when its block is reached.
 */
bool
check_tree_heads_alone(Export *x)
{
	int			i;

	for (i = 0; i < ntree_heads; i++)
	{
		TreeHead   *th = &tree_heads[i];
		const char *problem;

		if (strcmp(th->b.origin, x->origin) != 0)
			continue;
		problem = check_block_signature(&th->b);
		if (problem)
			return fail(x, VERDICT_FAILED, tree_head_name(th),
						"%s: the head is corrupt or forged", problem);
	}
	return true;
}

/*
 * A block of the export has passed its checks: every signed tree head of
 * the same block must be that block, unchanged.
 */
static bool
match_tree_heads(Export *x, const BlockFields *b)
{
	char		root[2 * TL_HASH_LEN + 1];
	int			i;

	for (i = 0; i < ntree_heads; i++)
	{
		TreeHead   *th = &tree_heads[i];

		if (strcmp(th->b.origin, x->origin) != 0 || th->b.block_no != b->block_no)
			continue;
		if (memcmp(th->b.block_hash, b->block_hash, TL_HASH_LEN) == 0)
		{
			th->matched = true;
			x->heads_matched++;
			continue;
		}
		hex_encode(th->b.tree_root, TL_HASH_LEN, root);
		if (memcmp(th->b.signer_key, b->signer_key, TL_ED25519_PK_LEN) != 0)
			return fail(x, VERDICT_FAILED, tree_head_name(th),
						"the head is signed by a key that is not the origin's key at block " INT64_FORMAT
						": it belongs to another ledger", b->block_no);
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block differs from %s (tree size " INT64_FORMAT ", tree root %s), which the origin's key signed: the ledger was rewritten or forked after that head was published",
					tree_head_name(th), th->b.tree_size, root);
	}
	return true;
}

/*
 * After the last block: signed tree heads whose block the export did not
 * reach.
 */
bool
check_unmatched_tree_heads(Export *x)
{
	int			i;

	for (i = 0; i < ntree_heads; i++)
	{
		TreeHead   *th = &tree_heads[i];
		int64		last = x->expect_block - 1;

		if (strcmp(th->b.origin, x->origin) != 0 || th->matched)
			continue;
		if (th->b.block_no < x->first_block)
			return fail(x, VERDICT_FAILED, tree_head_name(th),
						"the head is older than the export, which starts at block " INT64_FORMAT
						": export from block " INT64_FORMAT " or earlier to check it",
						x->first_block, th->b.block_no);
		if (memcmp(th->b.signer_key, x->key, TL_ED25519_PK_LEN) == 0)
			return fail(x, VERDICT_FAILED, block_name(last + 1),
						"the export is truncated: it ends at block " INT64_FORMAT
						" (tree size " INT64_FORMAT "), but %s has tree size " INT64_FORMAT,
						last, x->tree_size, tree_head_name(th), th->b.tree_size);
		return fail(x, VERDICT_FAILED, tree_head_name(th),
					"the head lies beyond the export's last block " INT64_FORMAT
					" and is signed by a key the export does not lead to (another ledger, or a key rotation after block " INT64_FORMAT ")",
					last, last);
	}
	return true;
}

/* ----------------------------------------------------------------
 * Header and entry lines
 * ----------------------------------------------------------------
 */

/*
 * The header line: what the export is of, and the key it starts from.
 */
bool
read_header(Export *x, const TvJson *line)
{
	static const char *const fields[] = {
		"format", "from_block", "genesis_key", "origin", "type", "version", NULL
	};
	const char *problem;
	int64		version;
	PinnedKey  *pin;
	char		key[2 * TL_ED25519_PK_LEN + 1];

	if ((problem = tvj_check_fields(line, fields, NULL)) ||
		(problem = get_constant(line, "type", "header")) ||
		(problem = get_node_name(line, "origin", x->origin)))
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"not a tracelink export header: %s", problem);

	/* from here on the origin names the export */
	x->have_header = true;
	if (origin_seen(x->origin))
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"a second export of origin \"%s\": give one export per origin",
					x->origin);
	origins_seen[norigins_seen++] = pstrdup(x->origin);

	if ((problem = get_constant(line, "format", "tracelink-ledger")) ||
		(problem = get_int64(line, "version", PG_INT64_MIN, PG_INT64_MAX, &version)) ||
		(problem = get_int64(line, "from_block", 0, PG_INT64_MAX - 1, &x->from_block)) ||
		(problem = get_hex(line, "genesis_key", x->genesis_key, TL_ED25519_PK_LEN)))
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"not a tracelink export header: %s", problem);
	if (version != 1)
		return fail(x, VERDICT_TROUBLE, pstrdup("line 1"),
					"export format version " INT64_FORMAT " is not supported (only version 1 is)",
					version);
	x->expect_block = x->from_block;
	x->first_block = x->from_block;
	x->tree_known = x->from_block == 0;
	x->have_prev = false;
	tl_frontier_init(&x->frontier);

	hex_encode(x->genesis_key, TL_ED25519_PK_LEN, key);
	pin = pinned_key_of(x->origin);
	if (pin != NULL)
	{
		x->key_pinned = true;
		memcpy(x->key, pin->key, TL_ED25519_PK_LEN);
		if (x->from_block == 0 &&
			memcmp(pin->key, x->genesis_key, TL_ED25519_PK_LEN) != 0)
			return fail(x, VERDICT_FAILED, pstrdup("header"),
						"the export's genesis_key %s is not the pinned key of origin \"%s\"",
						key, x->origin);
	}
	else
	{
		memcpy(x->key, x->genesis_key, TL_ED25519_PK_LEN);
		warn(x, "no --key given: trusting the genesis key the export names itself (%s); "
			 "pin the key you obtained out of band with --key %s=HEX",
			 key, x->origin);
	}
	if (x->from_block > 0)
		warn(x, "the export starts at block " INT64_FORMAT ": that block's link to block "
			 INT64_FORMAT " (prev_hash) is taken on trust, and tree roots cannot be "
			 "recomputed without the entries before it (tree sizes are checked)",
			 x->from_block, x->from_block - 1);
	return true;
}

/*
 * The public key a genesis or key rotation payload names, if well formed.
 */
static bool
payload_key(const TvJson *payload, uint8 *key)
{
	const TvJson *pk = tvj_get(payload, "public_key");

	return pk != NULL && pk->kind == TVJ_STRING &&
		hex_decode(pk->text, pk->len, key, TL_ED25519_PK_LEN, false);
}

/*
 * Read an entry line of the export of `origin` into *e: its hash is SHA-256
 * of the line's bytes; what the checks need waits in x->pending for the
 * block line (add_entry).  Returns what is wrong with the line, or NULL.
 * Depends on nothing but its arguments, so lines are read on several
 * threads (the problem may be field_error, the calling thread's).
 */
const char *
parse_entry(const char *origin, const TvJson *line, const char *bytes, size_t len,
			EntryLine *e)
{
	static const char *const fields[] = {
		"audience", "deps", "kind", "origin", "payload", "seq", "tx", "type", NULL
	};
	const char *problem;
	const TvJson *v;
	const TvJson *item;
	int64		seq;
	int			i;

	memset(e, 0, sizeof(*e));

	if ((problem = tvj_check_fields(line, fields, NULL)) ||
		(problem = get_int64(line, "seq", 0, PG_INT32_MAX, &seq)) ||
		(problem = get_int64(line, "tx", PG_INT64_MIN, PG_INT64_MAX, &e->tx)))
		goto bad;
	e->seq = (int32) seq;

	v = tvj_get(line, "origin");
	if (v->kind != TVJ_STRING)
	{
		problem = "field \"origin\" is not a string";
		goto bad;
	}
	e->same_origin = strcmp(v->text, origin) == 0 &&
		(size_t) v->len == strlen(origin);
	tvj_printable(v->text, v->len, e->origin, sizeof(e->origin));

	v = tvj_get(line, "kind");
	if (v->kind != TVJ_STRING)
	{
		problem = "field \"kind\" is not a string";
		goto bad;
	}
	if (strcmp(v->text, "tl.genesis") == 0)
		e->role = ROLE_GENESIS;
	else if (strcmp(v->text, "tl.key_rotation") == 0)
		e->role = ROLE_ROTATION;

	v = tvj_get(line, "deps");
	if (v->kind != TVJ_ARRAY)
	{
		problem = "field \"deps\" is not an array";
		goto bad;
	}
	for (item = v->first, i = 1; item != NULL; item = item->next, i++)
	{
		uint8		dep[TL_HASH_LEN];

		if (item->kind != TVJ_STRING ||
			!hex_decode(item->text, item->len, dep, TL_HASH_LEN, false))
		{
			snprintf(field_error, sizeof(field_error),
					 "element %d of field \"deps\" is not 64 lowercase hex digits", i);
			problem = field_error;
			goto bad;
		}
	}

	v = tvj_get(line, "audience");
	if (v->kind != TVJ_NULL && v->kind != TVJ_ARRAY)
	{
		problem = "field \"audience\" is neither null nor an array";
		goto bad;
	}
	for (item = v->first, i = 1; item != NULL; item = item->next, i++)
		if (item->kind != TVJ_STRING)
		{
			snprintf(field_error, sizeof(field_error),
					 "element %d of field \"audience\" is not a string", i);
			problem = field_error;
			goto bad;
		}

	if (e->role != ROLE_OTHER)
	{
		v = tvj_get(line, "payload");
		e->has_key = payload_key(v, e->key);
		if (e->role == ROLE_GENESIS)
		{
			const TvJson *node = tvj_get(v, "node");

			e->names_origin = node != NULL && node->kind == TVJ_STRING &&
				strcmp(node->text, origin) == 0 &&
				(size_t) node->len == strlen(origin);
		}
	}

	crypto_hash_sha256(e->hash, (const unsigned char *) bytes, len);
	return NULL;

bad:
	return problem;
}

/*
 * Take an entry line that parse_entry() read (problem: what it found
 * wrong, or NULL) as the next line of the export.  Returns false once the
 * export has a verdict.
 */
bool
add_entry(Export *x, const EntryLine *parsed, const char *problem)
{
	if (x->npending == PG_INT32_MAX)
		return fail(x, VERDICT_FAILED, psprintf("line %ld", x->line_no),
					"more entry lines before a block line than a block can hold");
	if (x->npending == x->pending_capacity)
	{
		x->pending_capacity = Max(64, Min((int64) x->pending_capacity * 2, PG_INT32_MAX));
		x->pending = tv_realloc(x->pending, sizeof(EntryLine) * (size_t) x->pending_capacity);
	}
	if (problem != NULL)
		return fail(x, VERDICT_TROUBLE, psprintf("line %ld", x->line_no),
					"not a tracelink entry line: %s", problem);
	x->pending[x->npending] = *parsed;
	x->pending[x->npending].line_no = x->line_no;
	x->npending++;
	return true;
}

/* ----------------------------------------------------------------
 * Blocks
 * ----------------------------------------------------------------
 */

/* "entry origin:ordinal (block N, seq S)", as verify() names entries */
static char *
entry_name(const Export *x, const BlockFields *b, int32 seq)
{
	return psprintf("entry %s:" INT64_FORMAT " (block " INT64_FORMAT ", seq %d)",
					x->origin, b->tree_size - b->entry_count + seq, b->block_no, seq);
}

/* entries seq from..to-1 of a block are not in the export */
static bool
entries_absent(Export *x, const BlockFields *b, int32 from, int32 to)
{
	if (from >= to)
		return true;
	if (require_complete)
		return fail(x, VERDICT_FAILED, entry_name(x, b, from),
					"entry is missing from the export (deleted?)");
	x->missing += to - from;
	return true;
}

/*
 * The entry lines before a block line against the block: each belongs to
 * the block's transaction, is at its place, and hashes to the hash the
 * block sealed there; the genesis and key rotation entries say what the
 * block headers say.
 */
static bool
check_block_entries(Export *x, const BlockFields *b)
{
	int32		expect_seq = 0;
	int32		present = 0;
	bool		rotation_entry = false;
	int			i;

	for (i = 0; i < x->npending; i++)
	{
		EntryLine  *e = &x->pending[i];

		if (!e->same_origin)
			return fail(x, VERDICT_FAILED, psprintf("line %ld", e->line_no),
						"entry belongs to origin \"%s\", not to the export's origin", e->origin);
		if (e->tx != b->tx)
			return fail(x, VERDICT_FAILED, psprintf("line %ld", e->line_no),
						"entry of transaction " INT64_FORMAT " stands before block " INT64_FORMAT
						", which seals transaction " INT64_FORMAT " (lines moved, or its block is missing)",
						e->tx, b->block_no, b->tx);
		if (e->seq >= b->entry_count)
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"seq %d is outside the block's %d entries", e->seq, b->entry_count);
		if (e->seq == expect_seq - 1)
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"entry appears twice in the export");
		if (e->seq < expect_seq)
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"entry lines are out of order (seq %d comes after seq %d)",
						e->seq, expect_seq - 1);
		if (!entries_absent(x, b, expect_seq, e->seq))
			return false;
		if (memcmp(e->hash, b->entry_hashes + (size_t) e->seq * TL_HASH_LEN, TL_HASH_LEN) != 0)
		{
			int			j;

			for (j = 0; j < b->entry_count; j++)
				if (memcmp(e->hash, b->entry_hashes + (size_t) j * TL_HASH_LEN, TL_HASH_LEN) == 0)
					return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
								"entry is not the one the block sealed at this position (moved or replaced)");
			return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
						"entry hash does not match the hash its block sealed: the entry's content was changed");
		}
		if (b->block_no == 0 && e->seq == 0)
		{
			if (e->role != ROLE_GENESIS)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"the first entry of a chain must be its genesis entry");
			if (!e->has_key ||
				memcmp(e->key, b->signer_key, TL_ED25519_PK_LEN) != 0)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"genesis entry does not name the key that signs block 0");
			if (!e->names_origin)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"genesis entry does not name the origin as its node");
		}
		if (e->role == ROLE_ROTATION)
		{
			if (!e->has_key)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"key rotation entry does not name a 32-byte public key");
			if (!b->has_next_key ||
				memcmp(e->key, b->next_key, TL_ED25519_PK_LEN) != 0)
				return fail(x, VERDICT_FAILED, entry_name(x, b, e->seq),
							"key rotation entry names another key than its block's next_key");
			rotation_entry = true;
		}
		x->entries++;
		present++;
		expect_seq = e->seq + 1;
	}
	if (!entries_absent(x, b, expect_seq, b->entry_count))
		return false;
	/* rotation entries are public, so a complete block must hold one */
	if (b->has_next_key && !rotation_entry && present == b->entry_count)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block hands over to a new key but holds no key rotation entry");
	return true;
}

/*
 * What a block line shows on its own, worked out ahead of the chain's
 * checks (on a thread of its own when there are several): its signature
 * check, the leaf hashes of its entries and their Merkle root.  Depends on
 * nothing but the block; entry_hashes must hold entry_count hashes.  The
 * leaves are also hashed into the subtrees they add to the origin's tree
 * where tree_size says they start, so that check_block() extends the
 * chain's frontier by a few hashes per block, not one per entry.
 */
void
precompute_block(BlockFields *b)
{
	int			i;

	Assert(b->nhashes == b->entry_count);
	b->signature_problem = check_block_signature(b);
	b->leaves = tv_malloc((size_t) Max(b->entry_count, 1) * TL_HASH_LEN);
	for (i = 0; i < b->entry_count; i++)
		tl_merkle_leaf_hash(b->entry_hashes + (size_t) i * TL_HASH_LEN, TL_HASH_LEN,
							b->leaves + (size_t) i * TL_HASH_LEN);
	tl_merkle_root(b->leaves, b->entry_count, b->computed_root);
	/* the block's share of the origin's tree, if tree_size is sound */
	if (b->tree_size >= b->entry_count)
	{
		b->range = tv_malloc(sizeof(TlMerkleRange));
		tl_merkle_range_init(b->range, (uint64) (b->tree_size - b->entry_count),
							 b->leaves, (uint64) b->entry_count);
	}
	b->precomputed = true;
}

/*
 * A block line: check the block against the chain so far (in verify()'s
 * order), then the entry lines before it, then the signed tree heads of
 * this block; advance the chain.
 */
bool
check_block(Export *x, BlockFields *b)
{
	bool		first = x->blocks == 0;
	const char *problem;
	int			i;

	if (b->block_no != x->expect_block)
	{
		if (first)
			return fail(x, VERDICT_FAILED, block_name(x->expect_block),
						"block is missing: the export says it starts at block " INT64_FORMAT
						" but its first block is " INT64_FORMAT,
						x->from_block, b->block_no);
		return fail(x, VERDICT_FAILED, block_name(x->expect_block),
					"block is missing: the chain jumps from block " INT64_FORMAT " to " INT64_FORMAT,
					x->expect_block - 1, b->block_no);
	}
	if (strcmp(b->origin, x->origin) != 0)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block belongs to origin \"%s\", not to the export's origin", b->origin);
	if (b->nhashes != b->entry_count)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"entry_hashes does not hold entry_count hashes");

	if (b->block_no == 0)
	{
		if (memcmp(b->prev_hash, zero_hash, TL_HASH_LEN) != 0)
			return fail(x, VERDICT_FAILED, block_name(b->block_no),
						"block does not start the chain (the prev_hash of block 0 is not 32 zero bytes): the chain was forked or rewritten");
	}
	else if (x->have_prev && memcmp(b->prev_hash, x->prev_hash, TL_HASH_LEN) != 0)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block does not link to block " INT64_FORMAT
					" (prev_hash differs): the chain was forked or rewritten",
					x->expect_block - 1);

	if (first && x->from_block > 0 && !x->key_pinned &&
		memcmp(b->signer_key, x->key, TL_ED25519_PK_LEN) != 0)
	{
		char		key[2 * TL_ED25519_PK_LEN + 1];

		/* a partial export after a key rotation, no key pinned */
		hex_encode(b->signer_key, TL_ED25519_PK_LEN, key);
		warn(x, "block " INT64_FORMAT " is signed by key %s, which the export cannot trace back to the genesis key: taken as the anchor",
			 b->block_no, key);
		memcpy(x->key, b->signer_key, TL_ED25519_PK_LEN);
	}
	if (memcmp(b->signer_key, x->key, TL_ED25519_PK_LEN) != 0)
	{
		if (first && x->from_block > 0)
			return fail(x, VERDICT_FAILED, block_name(b->block_no),
						"block is signed by a key that is not the origin's current key (an export that starts after a key rotation needs --key %s=HEX with the key that signs its first block)",
						x->origin);
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"block is signed by a key that is not the origin's current key");
	}
	if (!b->precomputed)
		precompute_block(b);
	if ((problem = b->signature_problem) != NULL)
		return fail(x, VERDICT_FAILED, block_name(b->block_no), "%s", problem);

	if (x->tree_known)
	{
		if (b->range != NULL && b->range->start == x->frontier.size)
			tl_frontier_append_range(&x->frontier, b->range);
		else
			for (i = 0; i < b->entry_count; i++)
				tl_frontier_append(&x->frontier, b->leaves + (size_t) i * TL_HASH_LEN);
	}
	if (memcmp(b->computed_root, b->entries_root, TL_HASH_LEN) != 0)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"entries_root is not the Merkle root of the block's entry hashes");
	if (x->tree_known)
	{
		uint8		tree_root[TL_HASH_LEN];

		tl_frontier_root(&x->frontier, tree_root);
		if ((uint64) b->tree_size != x->frontier.size ||
			memcmp(tree_root, b->tree_root, TL_HASH_LEN) != 0)
			return fail(x, VERDICT_FAILED, block_name(b->block_no),
						"tree head (tree_size, tree_root) does not follow from the blocks before it");
	}
	else if (first ? b->tree_size < b->entry_count :
			 b->tree_size - b->entry_count != x->tree_size)
		return fail(x, VERDICT_FAILED, block_name(b->block_no),
					"tree head (tree_size, tree_root) does not follow from the blocks before it");

	if (!check_block_entries(x, b))
		return false;
	if (!match_tree_heads(x, b))
		return false;

	if (b->has_next_key)
		memcpy(x->key, b->next_key, TL_ED25519_PK_LEN);
	memcpy(x->prev_hash, b->block_hash, TL_HASH_LEN);
	x->have_prev = true;
	x->tree_size = b->tree_size;
	memcpy(x->tree_root, b->tree_root, TL_HASH_LEN);
	x->expect_block = b->block_no + 1;
	x->blocks++;
	x->npending = 0;
	return true;
}

