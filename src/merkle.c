/*-------------------------------------------------------------------------
 *
 * merkle.c
 *	  RFC 6962 / RFC 9162 Merkle trees over SHA-256: tree heads, inclusion
 *	  and consistency proofs, their verification, and the "frontier" that
 *	  extends a tree head one leaf at a time.
 *
 * The ledger gives every origin's entries one append-only Merkle tree, so
 * that an auditor can check a single entry (inclusion) or that history was
 * only appended to (consistency) from a signed tree head and O(log n)
 * hashes.  The hashing follows RFC 6962 section 2.1 exactly, with the leaf
 * and node prefixes 0x00 and 0x01 that keep a leaf from passing for an
 * inner node; the proof formats and the verification algorithms are those
 * of RFC 9162 sections 2.1.3 and 2.1.4.
 *
 * This file holds algorithms only: no fmgr, SPI or catalog access, so that
 * it compiles unchanged into a standalone verifier.  It needs tl_sha256,
 * palloc and ereport.  The SQL functions built on it live in crypto.c.
 *
 * Two independent computations of a tree head live here on purpose:
 * tl_merkle_root folds leaves through the frontier (O(log n) memory, as the
 * ledger does), while the proof generators hash subtrees by the recursive
 * definition of RFC 9162 2.1.1.  The tests check that proofs from the
 * latter verify against roots from the former.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "port/pg_bitutils.h"

#define HASH_AT(base, i)	((base) + (size_t) (i) * TL_HASH_LEN)

/*
 * SHA-256(0x00 || data): the hash of one leaf.
 */
void
tl_merkle_leaf_hash(const uint8 *data, size_t len, uint8 *out)
{
	static const uint8 prefix = 0x00;
	TlSha256	h;

	tl_sha256_begin(&h);
	tl_sha256_update(&h, &prefix, 1);
	tl_sha256_update(&h, data, len);
	tl_sha256_end(&h, out);
}

/*
 * SHA-256(0x01 || left || right): the hash of an inner node.  out may alias
 * left or right.
 */
void
tl_merkle_node_hash(const uint8 *left, const uint8 *right, uint8 *out)
{
	static const uint8 prefix = 0x01;
	TlSha256	h;

	tl_sha256_begin(&h);
	tl_sha256_update(&h, &prefix, 1);
	tl_sha256_update(&h, left, TL_HASH_LEN);
	tl_sha256_update(&h, right, TL_HASH_LEN);
	tl_sha256_end(&h, out);
}

/*
 * The largest power of two strictly less than n (n >= 2): where RFC 9162
 * splits a tree of n leaves into a perfect left subtree and the rest.
 */
static uint64
merkle_split(uint64 n)
{
	Assert(n >= 2);
	return UINT64CONST(1) << pg_leftmost_one_pos64(n - 1);
}

/*
 * MTH(D[n]) for n >= 1 leaf hashes, by the recursive definition of RFC 9162
 * 2.1.1.  The recursion is at most 64 deep.
 */
static void
merkle_subtree_hash(const uint8 *leaf_hashes, uint64 n, uint8 *out)
{
	uint64		k;
	uint8		left[TL_HASH_LEN];
	uint8		right[TL_HASH_LEN];

	Assert(n >= 1);
	if (n == 1)
	{
		memcpy(out, leaf_hashes, TL_HASH_LEN);
		return;
	}
	k = merkle_split(n);
	merkle_subtree_hash(leaf_hashes, k, left);
	merkle_subtree_hash(HASH_AT(leaf_hashes, k), n - k, right);
	tl_merkle_node_hash(left, right, out);
}

/*
 * The tree head of n leaf hashes: SHA-256("") for the empty tree, otherwise
 * the leaves folded through a frontier.
 */
void
tl_merkle_root(const uint8 *leaf_hashes, uint64 n, uint8 *out)
{
	TlMerkleFrontier f;
	uint64		i;

	tl_frontier_init(&f);
	for (i = 0; i < n; i++)
		tl_frontier_append(&f, HASH_AT(leaf_hashes, i));
	tl_frontier_root(&f, out);
}

/*
 * Append one hash to a proof under construction, guarding the caller's
 * buffer of TL_MERKLE_MAX_PATH hashes.  A tree small enough to be held in
 * memory never needs more.
 */
static int
merkle_path_push(uint8 *out, int count, const uint8 *hash)
{
	if (count >= TL_MERKLE_MAX_PATH)
		elog(ERROR, "proof longer than %d hashes", TL_MERKLE_MAX_PATH);
	memcpy(HASH_AT(out, count), hash, TL_HASH_LEN);
	return count + 1;
}

/*
 * PATH(m, D[n]) of RFC 9162 2.1.3.1, appended to out after `count` hashes
 * already there; returns the new count.  Hashes come leaf side first.
 */
static int
merkle_inclusion_subpath(const uint8 *leaf_hashes, uint64 n, uint64 m,
						 uint8 *out, int count)
{
	uint64		k;
	uint8		sibling[TL_HASH_LEN];

	if (n <= 1)
		return count;
	k = merkle_split(n);
	if (m < k)
	{
		count = merkle_inclusion_subpath(leaf_hashes, k, m, out, count);
		merkle_subtree_hash(HASH_AT(leaf_hashes, k), n - k, sibling);
	}
	else
	{
		count = merkle_inclusion_subpath(HASH_AT(leaf_hashes, k), n - k, m - k,
										 out, count);
		merkle_subtree_hash(leaf_hashes, k, sibling);
	}
	return merkle_path_push(out, count, sibling);
}

/*
 * The inclusion proof of leaf `index` (0-based) in the tree of the first n
 * leaf hashes.  The caller guarantees index < n.
 */
int
tl_merkle_inclusion_path(const uint8 *leaf_hashes, uint64 n, uint64 index,
						 uint8 *out)
{
	if (index >= n)
		elog(ERROR, "leaf index %llu outside a tree of size %llu",
			 (unsigned long long) index, (unsigned long long) n);
	return merkle_inclusion_subpath(leaf_hashes, n, index, out, 0);
}

/*
 * SUBPROOF(m, D[n], b) of RFC 9162 2.1.4.1, appended to out after `count`
 * hashes; returns the new count.
 */
static int
merkle_consistency_subproof(const uint8 *leaf_hashes, uint64 n, uint64 m,
							bool complete, uint8 *out, int count)
{
	uint64		k;
	uint8		hash[TL_HASH_LEN];

	if (m == n)
	{
		if (complete)
			return count;
		merkle_subtree_hash(leaf_hashes, n, hash);
		return merkle_path_push(out, count, hash);
	}
	k = merkle_split(n);
	if (m <= k)
	{
		count = merkle_consistency_subproof(leaf_hashes, k, m, complete,
											out, count);
		merkle_subtree_hash(HASH_AT(leaf_hashes, k), n - k, hash);
	}
	else
	{
		count = merkle_consistency_subproof(HASH_AT(leaf_hashes, k), n - k,
											m - k, false, out, count);
		merkle_subtree_hash(leaf_hashes, k, hash);
	}
	return merkle_path_push(out, count, hash);
}

/*
 * The consistency proof from the tree of the first m leaf hashes to the tree
 * of the first n.  The caller guarantees 0 < m <= n; m = n gives the empty
 * proof.
 */
int
tl_merkle_consistency_path(const uint8 *leaf_hashes, uint64 n, uint64 m,
						   uint8 *out)
{
	if (m == 0 || m > n)
		elog(ERROR, "consistency proof from size %llu to size %llu is not defined",
			 (unsigned long long) m, (unsigned long long) n);
	return merkle_consistency_subproof(leaf_hashes, n, m, true, out, 0);
}

/*
 * Shift fn and sn right together until fn's lowest bit is set or fn is 0:
 * the step RFC 9162 takes when a path reaches the right edge of a subtree.
 */
static void
merkle_skip_right_edge(uint64 *fn, uint64 *sn)
{
	while (*fn != 0 && (*fn & 1) == 0)
	{
		*fn >>= 1;
		*sn >>= 1;
	}
}

/*
 * Does `path` prove that `leaf_hash` is leaf `index` of the tree of `size`
 * leaves whose head is `root`?  RFC 9162 2.1.3.2.  A path that is too long
 * or too short, or an index outside the tree, gives false.
 */
bool
tl_merkle_verify_inclusion(uint64 index, uint64 size, const uint8 *leaf_hash,
						   const uint8 *path, int path_len, const uint8 *root)
{
	uint64		fn = index;
	uint64		sn;
	uint8		r[TL_HASH_LEN];
	int			i;

	if (index >= size || path_len < 0)
		return false;
	sn = size - 1;
	memcpy(r, leaf_hash, TL_HASH_LEN);
	for (i = 0; i < path_len; i++)
	{
		const uint8 *p = HASH_AT(path, i);

		if (sn == 0)
			return false;
		if ((fn & 1) != 0 || fn == sn)
		{
			tl_merkle_node_hash(p, r, r);
			merkle_skip_right_edge(&fn, &sn);
		}
		else
			tl_merkle_node_hash(r, p, r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, TL_HASH_LEN) == 0;
}

/*
 * Does `path` prove that the tree of old_size leaves with head old_root is a
 * prefix of the tree of new_size leaves with head new_root?  RFC 9162
 * 2.1.4.2, plus the cases that algorithm leaves out: equal sizes need equal
 * heads and an empty proof; old_size 0 is always false (nothing is proved
 * about an empty tree, as in transparency-dev/merkle); old_size > new_size
 * is false.
 */
bool
tl_merkle_verify_consistency(uint64 old_size, uint64 new_size,
							 const uint8 *old_root, const uint8 *new_root,
							 const uint8 *path, int path_len)
{
	uint64		fn;
	uint64		sn;
	uint8		fr[TL_HASH_LEN];
	uint8		sr[TL_HASH_LEN];
	int			i;

	if (old_size == 0 || old_size > new_size || path_len < 0)
		return false;
	if (old_size == new_size)
		return path_len == 0 && memcmp(old_root, new_root, TL_HASH_LEN) == 0;
	if (path_len == 0)
		return false;

	/*
	 * When old_size is a power of two the old tree is a perfect subtree of
	 * the new one and its head is not repeated in the proof: the RFC
	 * prepends old_root to the path.  Otherwise the first hash of the path
	 * seeds both running hashes.
	 */
	if ((old_size & (old_size - 1)) == 0)
	{
		memcpy(fr, old_root, TL_HASH_LEN);
		i = 0;
	}
	else
	{
		memcpy(fr, path, TL_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, TL_HASH_LEN);

	fn = old_size - 1;
	sn = new_size - 1;
	while ((fn & 1) != 0)
	{
		fn >>= 1;
		sn >>= 1;
	}

	for (; i < path_len; i++)
	{
		const uint8 *c = HASH_AT(path, i);

		if (sn == 0)
			return false;
		if ((fn & 1) != 0 || fn == sn)
		{
			tl_merkle_node_hash(c, fr, fr);
			tl_merkle_node_hash(c, sr, sr);
			merkle_skip_right_edge(&fn, &sn);
		}
		else
			tl_merkle_node_hash(sr, c, sr);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 &&
		memcmp(fr, old_root, TL_HASH_LEN) == 0 &&
		memcmp(sr, new_root, TL_HASH_LEN) == 0;
}

/* ----------------------------------------------------------------
 * Frontier (compact range)
 *
 * hashes[0 .. count-1] are the heads of the perfect subtrees that make up
 * the tree, largest (leftmost) first; subtree i covers 2^b leaves for the
 * i-th highest set bit b of size.  Appending a leaf is a binary increment:
 * equal-sized trailing subtrees merge like carries.
 * ----------------------------------------------------------------
 */

/*
 * The frontier of the empty tree.
 */
void
tl_frontier_init(TlMerkleFrontier *f)
{
	f->size = 0;
	f->count = 0;
}

/*
 * Append a perfect subtree of 2^height leaves whose head is `hash`; size
 * must be a multiple of 2^height.  Adding 2^height to size is a binary
 * increment from bit `height`: merge with one trailing subtree for every
 * one bit from there, then push the result.
 */
static void
frontier_push(TlMerkleFrontier *f, const uint8 *hash, int height)
{
	uint8		carry[TL_HASH_LEN];
	uint64		bits;

	Assert(height >= 0 && height < 64);
	Assert((f->size & ((UINT64CONST(1) << height) - 1)) == 0);
	if (PG_UINT64_MAX - f->size < (UINT64CONST(1) << height))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a Merkle tree cannot hold more than %llu leaves",
						(unsigned long long) PG_UINT64_MAX)));
	memcpy(carry, hash, TL_HASH_LEN);
	for (bits = f->size >> height; (bits & 1) != 0; bits >>= 1)
	{
		Assert(f->count > 0);
		f->count--;
		tl_merkle_node_hash(f->hashes[f->count], carry, carry);
	}
	memcpy(f->hashes[f->count], carry, TL_HASH_LEN);
	f->count++;
	f->size += UINT64CONST(1) << height;
}

/*
 * Append one leaf hash.
 */
void
tl_frontier_append(TlMerkleFrontier *f, const uint8 *leaf_hash)
{
	frontier_push(f, leaf_hash, 0);
}

/*
 * Leaves [start, start + n) of a tree, hashed without the tree before them:
 * as the perfect subtrees, aligned on their own size, that cover the run
 * (each as large as its position and the run's end allow).  Appending those
 * to a frontier of size `start` (tl_frontier_append_range) gives the
 * frontier that appending the leaves one by one gives, in O(log n) hashes;
 * so a block's share of its origin's tree can be hashed on another thread
 * than the one that keeps the frontier in order.
 */
void
tl_merkle_range_init(TlMerkleRange *r, uint64 start, const uint8 *leaf_hashes, uint64 n)
{
	uint64		at = start;

	if (PG_UINT64_MAX - start < n)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a Merkle tree cannot hold more than %llu leaves",
						(unsigned long long) PG_UINT64_MAX)));
	r->start = start;
	r->end = start + n;
	r->count = 0;
	while (at < r->end)
	{
		int			height = at == 0 ? 63 : pg_rightmost_one_pos64(at);

		while ((UINT64CONST(1) << height) > r->end - at)
			height--;
		Assert(r->count < lengthof(r->heights));
		merkle_subtree_hash(HASH_AT(leaf_hashes, at - start), UINT64CONST(1) << height,
							r->hashes[r->count]);
		r->heights[r->count++] = (uint8) height;
		at += UINT64CONST(1) << height;
	}
}

/*
 * Append the leaves a range holds; the frontier must end where it starts.
 */
void
tl_frontier_append_range(TlMerkleFrontier *f, const TlMerkleRange *r)
{
	int			i;

	Assert(f->size == r->start);
	for (i = 0; i < r->count; i++)
		frontier_push(f, r->hashes[i], r->heights[i]);
}

/*
 * The tree head: the subtree heads folded right to left (each smaller,
 * right-hand subtree hangs under the node joining it to the larger ones on
 * its left), or SHA-256("") for the empty tree.
 */
void
tl_frontier_root(const TlMerkleFrontier *f, uint8 *out)
{
	uint8		acc[TL_HASH_LEN];
	int			i;

	if (f->count == 0)
	{
		tl_sha256("", 0, out);
		return;
	}
	memcpy(acc, f->hashes[f->count - 1], TL_HASH_LEN);
	for (i = f->count - 2; i >= 0; i--)
		tl_merkle_node_hash(f->hashes[i], acc, acc);
	memcpy(out, acc, TL_HASH_LEN);
}

#ifndef FRONTEND
/*
 * The subtree heads as one bytea of count * 32 bytes, largest first, as
 * tracelink.heads stores them: server only (tools/ reads frontiers, never
 * writes them).
 */
bytea *
tl_frontier_to_bytea(const TlMerkleFrontier *f)
{
	return (bytea *) tl_bytea_from(&f->hashes[0][0],
								   (size_t) f->count * TL_HASH_LEN);
}
#endif

/*
 * Rebuild a frontier from its size and the bytes tl_frontier_to_bytea made.
 * The length must be exactly one hash per set bit of size; anything else is
 * a corrupt or mismatched record and is refused.
 */
void
tl_frontier_from_bytes(TlMerkleFrontier *f, uint64 size, const uint8 *data,
					   int len)
{
	int			count = pg_popcount64(size);

	if (len < 0 || len != count * TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Merkle frontier for tree size %llu",
						(unsigned long long) size),
				 errdetail("The frontier is %d bytes long; a tree of that size needs %d subtree hashes of %d bytes.",
						   len, count, TL_HASH_LEN)));
	f->size = size;
	f->count = count;
	if (len > 0)
		memcpy(f->hashes, data, len);
}
