/*-------------------------------------------------------------------------
 *
 * fuzz_merkle_range.c
 *	  libFuzzer target for tl_merkle_range_init() and
 *	  tl_frontier_append_range() (src/merkle.c): a run of leaves hashed
 *	  apart from the tree before it, then appended to the tree's frontier in
 *	  O(log n) hashes, as tracelink-verify's threads do for each block.
 *
 * An input is 8 bytes of tree size (host byte order, kept below 2^63 so
 * that the run fits), 2 bytes of run length (modulo 2049) and any bytes
 * that seed the hashes.  The frontier of a tree of that size is made up
 * from the seed (any hashes will do: appending depends on the size only).
 * Oracles:
 *
 * - the frontier after appending the range is the one appending its
 *	 leaves one by one gives: same size, same subtree hashes;
 * - the range of a whole tree (size 0) appended to the empty frontier
 *	 gives tl_merkle_root() of its leaves.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "tracelink.h"

#include "harness.h"

extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RUN		2048

/* the i-th made-up hash of a seed */
static void
seeded_hash(const uint8 *seed, size_t seed_len, uint32 i, uint8 *out)
{
	TlSha256	h;

	tl_sha256_begin(&h);
	tl_sha256_update(&h, &i, sizeof(i));
	tl_sha256_update(&h, seed, seed_len);
	tl_sha256_end(&h, out);
}

static bool
same_frontier(const TlMerkleFrontier *a, const TlMerkleFrontier *b)
{
	return a->size == b->size && a->count == b->count &&
		memcmp(a->hashes, b->hashes, (size_t) a->count * TL_HASH_LEN) == 0;
}

static void
check_range(uint64 start, uint32 n, const uint8 *seed, size_t seed_len,
			const char *input, size_t input_len)
{
	TlMerkleFrontier base;
	TlMerkleFrontier by_leaf;
	TlMerkleFrontier by_range;
	TlMerkleRange range;
	uint8	   *leaves = palloc((size_t) Max(n, 1) * TL_HASH_LEN);
	uint32		i;

	/* a frontier of `start` leaves: one made-up subtree per one bit */
	base.size = start;
	base.count = 0;
	for (i = 0; i < 64; i++)
		if (start & (UINT64CONST(1) << (63 - i)))
			seeded_hash(seed, seed_len, UINT32_MAX - i, base.hashes[base.count++]);
	for (i = 0; i < n; i++)
		seeded_hash(seed, seed_len, i, leaves + (size_t) i * TL_HASH_LEN);

	by_leaf = base;
	for (i = 0; i < n; i++)
		tl_frontier_append(&by_leaf, leaves + (size_t) i * TL_HASH_LEN);
	tl_merkle_range_init(&range, start, leaves, n);
	if (range.start != start || range.end != start + n)
		fuzz_fail(psprintf("range of %u leaves from %llu says [%llu, %llu)", n,
						   (unsigned long long) start, (unsigned long long) range.start,
						   (unsigned long long) range.end),
				  input, input_len, NULL, 0, NULL);
	by_range = base;
	tl_frontier_append_range(&by_range, &range);
	if (!same_frontier(&by_leaf, &by_range))
		fuzz_fail(psprintf("appending %u leaves from %llu as a range (%d subtrees) gives another frontier than one by one",
						   n, (unsigned long long) start, range.count),
				  input, input_len, NULL, 0, NULL);

	if (start == 0)
	{
		uint8		want[TL_HASH_LEN];
		uint8		got[TL_HASH_LEN];

		tl_merkle_root(leaves, n, want);
		tl_frontier_root(&by_range, got);
		if (memcmp(want, got, TL_HASH_LEN) != 0)
			fuzz_fail(psprintf("the range of a whole tree of %u leaves has another root than tl_merkle_root", n),
					  input, input_len, NULL, 0, NULL);
	}
	pfree(leaves);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64		start;
	uint16		run;

	if (size < sizeof(start) + sizeof(run))
		return -1;
	memcpy(&start, data, sizeof(start));
	memcpy(&run, data + sizeof(start), sizeof(run));
	start &= ~(UINT64CONST(1) << 63);
	fuzz_begin_input((const char *) data, size);
	check_range(start, run % (MAX_RUN + 1),
				data + sizeof(start) + sizeof(run), size - sizeof(start) - sizeof(run),
				(const char *) data, size);
	fuzz_end_input();
	return 0;
}
