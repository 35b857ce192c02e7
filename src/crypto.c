/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Ed25519 signatures through libsodium, and the SQL functions for
 *	  SHA-256, Ed25519 and RFC 6962 Merkle trees and proofs.
 *
 * The ledger signs block hashes with the node's Ed25519 key and checks
 * peers' blocks against their pinned public keys; auditors and external
 * tooling need the same primitives from SQL.  Every length is checked here
 * before libsodium sees a pointer.
 *
 * The SQL wrappers of the Merkle algorithms live here rather than at the end
 * of merkle.c so that merkle.c stays free of fmgr and compiles unchanged
 * into a standalone verifier; this file is the SQL face of all the hash,
 * signature and proof primitives.
 *
 * Two policies hold for every function below.  Functions that build
 * (hashes, proofs, signatures) are STRICT and raise a specific error on bad
 * input.  Functions that verify are not STRICT and never raise on their
 * input: NULLs, wrong lengths, wrong shapes and impossible sizes all give
 * false, because a verifier is called on untrusted data (a peer's row, an
 * auditor's file) and a false is the only honest answer to garbage.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <sodium.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(tl_sha256_sql);
PG_FUNCTION_INFO_V1(tl_merkle_leaf_hash_sql);
PG_FUNCTION_INFO_V1(tl_merkle_root_sql);
PG_FUNCTION_INFO_V1(tl_merkle_inclusion_proof_sql);
PG_FUNCTION_INFO_V1(tl_merkle_consistency_proof_sql);
PG_FUNCTION_INFO_V1(tl_verify_inclusion_sql);
PG_FUNCTION_INFO_V1(tl_verify_consistency_sql);
PG_FUNCTION_INFO_V1(tl_ed25519_public_key_sql);
PG_FUNCTION_INFO_V1(tl_ed25519_sign_sql);
PG_FUNCTION_INFO_V1(tl_ed25519_verify_sql);

/* ----------------------------------------------------------------
 * Ed25519
 * ----------------------------------------------------------------
 */

/*
 * Initialise libsodium once per backend.  sodium_init() is idempotent and
 * only fails when the system offers no usable randomness.
 */
void
tl_crypto_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libsodium")));
}

/*
 * Is `signature` (TL_ED25519_SIG_LEN bytes) a valid Ed25519 signature of
 * `message` by `public_key` (TL_ED25519_PK_LEN bytes)?  The lengths are
 * the caller's to guarantee.  libsodium's policy applies: non-canonical S,
 * small-order or non-canonical public keys and small-order R are refused,
 * and the verification equation is the cofactorless one.
 */
bool
tl_ed25519_verify(const uint8 *public_key, const uint8 *message, size_t len,
				  const uint8 *signature)
{
	return crypto_sign_verify_detached(signature, message,
									   (unsigned long long) len,
									   public_key) == 0;
}

/*
 * Refuse an Ed25519 seed (the 32-byte "secret key" of RFC 8032) of the
 * wrong length.  The seed itself is never echoed.
 */
static void
check_ed25519_seed(const bytea *seed)
{
	if (VARSIZE_ANY_EXHDR(seed) != TL_ED25519_SEED_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid Ed25519 seed length %d",
						(int) VARSIZE_ANY_EXHDR(seed)),
				 errdetail("An Ed25519 seed (the RFC 8032 secret key) is exactly %d bytes.",
						   TL_ED25519_SEED_LEN)));
}

/*
 * Expand a checked seed into libsodium's key pair.  The caller wipes sk.
 */
static void
ed25519_keypair_from_seed(const bytea *seed, uint8 *pk, uint8 *sk)
{
	if (crypto_sign_seed_keypair(pk, sk,
								 (const unsigned char *) VARDATA_ANY(seed)) != 0)
	{
		sodium_memzero(sk, TL_ED25519_SK_LEN);
		elog(ERROR, "crypto_sign_seed_keypair failed");
	}
}

/*
 * tracelink.ed25519_public_key(seed bytea) returns bytea
 */
Datum
tl_ed25519_public_key_sql(PG_FUNCTION_ARGS)
{
	bytea	   *seed = PG_GETARG_BYTEA_PP(0);
	uint8		pk[TL_ED25519_PK_LEN];
	uint8		sk[TL_ED25519_SK_LEN];

	check_ed25519_seed(seed);
	ed25519_keypair_from_seed(seed, pk, sk);
	sodium_memzero(sk, sizeof(sk));
	PG_RETURN_BYTEA_P(tl_bytea_from(pk, sizeof(pk)));
}

/*
 * tracelink.ed25519_sign(seed bytea, message bytea) returns bytea
 *
 * Signs with a key the caller supplies (test vectors, external tooling);
 * the node's own key is never reachable from SQL.  The expanded secret key
 * is wiped before returning.
 */
Datum
tl_ed25519_sign_sql(PG_FUNCTION_ARGS)
{
	bytea	   *seed = PG_GETARG_BYTEA_PP(0);
	bytea	   *message = PG_GETARG_BYTEA_PP(1);
	uint8		pk[TL_ED25519_PK_LEN];
	uint8		sk[TL_ED25519_SK_LEN];
	uint8		sig[TL_ED25519_SIG_LEN];
	int			rc;

	check_ed25519_seed(seed);
	ed25519_keypair_from_seed(seed, pk, sk);
	rc = crypto_sign_detached(sig, NULL,
							  (const unsigned char *) VARDATA_ANY(message),
							  (unsigned long long) VARSIZE_ANY_EXHDR(message),
							  sk);
	sodium_memzero(sk, sizeof(sk));
	if (rc != 0)
		elog(ERROR, "crypto_sign_detached failed");
	PG_RETURN_BYTEA_P(tl_bytea_from(sig, sizeof(sig)));
}

/*
 * tracelink.ed25519_verify(public_key bytea, message bytea, signature bytea)
 * returns boolean
 *
 * Not STRICT: a NULL or a key or signature of the wrong length is false.
 */
Datum
tl_ed25519_verify_sql(PG_FUNCTION_ARGS)
{
	bytea	   *public_key;
	bytea	   *message;
	bytea	   *signature;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	public_key = PG_GETARG_BYTEA_PP(0);
	message = PG_GETARG_BYTEA_PP(1);
	signature = PG_GETARG_BYTEA_PP(2);
	if (VARSIZE_ANY_EXHDR(public_key) != TL_ED25519_PK_LEN ||
		VARSIZE_ANY_EXHDR(signature) != TL_ED25519_SIG_LEN)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(tl_ed25519_verify((const uint8 *) VARDATA_ANY(public_key),
									 (const uint8 *) VARDATA_ANY(message),
									 VARSIZE_ANY_EXHDR(message),
									 (const uint8 *) VARDATA_ANY(signature)));
}

/* ----------------------------------------------------------------
 * SHA-256 and Merkle trees
 * ----------------------------------------------------------------
 */

/*
 * tracelink.sha256_digest(data bytea) returns bytea, through tl_sha256 so that the
 * conformance vectors test the path everything else hashes through.
 */
Datum
tl_sha256_sql(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	uint8		hash[TL_HASH_LEN];

	tl_sha256(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), hash);
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}

/*
 * tracelink.merkle_leaf_hash(data bytea) returns bytea
 */
Datum
tl_merkle_leaf_hash_sql(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	uint8		hash[TL_HASH_LEN];

	tl_merkle_leaf_hash((const uint8 *) VARDATA_ANY(data),
						VARSIZE_ANY_EXHDR(data), hash);
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}

/*
 * Refuse a proof over more leaves than tracelink holds in memory at once.
 * Proofs are built from every leaf hash of the tree (32 bytes each) in one
 * allocation, which palloc limits to MaxAllocSize; the check comes before
 * the allocation (and before reading any leaf) so that a huge or wrong size
 * is a clean error rather than a failed allocation.
 */
void
tl_merkle_check_proof_leaves(int64 n)
{
	if (n > (int64) (MaxAllocSize / TL_HASH_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a Merkle proof over " INT64_FORMAT " leaves is too large", n),
				 errdetail("Proofs are built in memory from every leaf hash of the tree, at most %d leaves.",
						   (int) (MaxAllocSize / TL_HASH_LEN))));
}

/*
 * Refuse a leaves argument of more than one dimension, and return the
 * number of leaves.
 */
static int
merkle_leaf_count(ArrayType *leaves)
{
	if (ARR_NDIM(leaves) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("leaves must be a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(leaves))));
	return ArrayGetNItems(ARR_NDIM(leaves), ARR_DIMS(leaves));
}

/*
 * Hash each raw leaf of the array in array order, handing each leaf hash
 * to `each` (the frontier of a root, or the buffer of a proof).  Leaf
 * positions are 0-based whatever the array's lower bound.  A NULL leaf is
 * an error: a tree has no place for it.
 */
static void
merkle_hash_leaves(ArrayType *leaves,
				   void (*each) (void *arg, int i, const uint8 *hash),
				   void *arg)
{
	ArrayIterator it;
	Datum		value;
	bool		isnull;
	int			i = 0;
	uint8		hash[TL_HASH_LEN];

	it = array_create_iterator(leaves, 0, NULL);
	while (array_iterate(it, &value, &isnull))
	{
		bytea	   *leaf;

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("leaf %d of the Merkle tree is null", i),
					 errdetail("Leaves are numbered from 0; an empty bytea is a valid leaf, NULL is not.")));
		leaf = DatumGetByteaPP(value);
		tl_merkle_leaf_hash((const uint8 *) VARDATA_ANY(leaf),
							VARSIZE_ANY_EXHDR(leaf), hash);
		each(arg, i, hash);
		i++;
	}
	array_free_iterator(it);
}

/* merkle_hash_leaves callback: extend a frontier */
static void
merkle_leaf_to_frontier(void *arg, int i, const uint8 *hash)
{
	tl_frontier_append((TlMerkleFrontier *) arg, hash);
}

/* merkle_hash_leaves callback: store the i-th leaf hash in a buffer */
static void
merkle_leaf_to_buffer(void *arg, int i, const uint8 *hash)
{
	memcpy((uint8 *) arg + (Size) i * TL_HASH_LEN, hash, TL_HASH_LEN);
}

/*
 * The leaf hashes of an array of raw leaf data, contiguous and in array
 * order, for a proof.  The caller has counted the leaves with
 * merkle_leaf_count() and checked its index or size against that count.
 */
static uint8 *
merkle_leaf_hashes(ArrayType *leaves, int nitems)
{
	uint8	   *hashes;

	tl_merkle_check_proof_leaves(nitems);
	hashes = palloc(Max(nitems, 1) * (Size) TL_HASH_LEN);
	merkle_hash_leaves(leaves, merkle_leaf_to_buffer, hashes);
	return hashes;
}

/*
 * A one-dimensional bytea[] of `count` hashes laid out contiguously.
 */
static ArrayType *
merkle_hash_array(const uint8 *hashes, int count)
{
	Datum	   *elems;
	int			i;

	if (count == 0)
		return construct_empty_array(BYTEAOID);
	elems = palloc(sizeof(Datum) * count);
	for (i = 0; i < count; i++)
		elems[i] = PointerGetDatum(tl_bytea_from(hashes + (Size) i * TL_HASH_LEN,
												 TL_HASH_LEN));
	return construct_array(elems, count, BYTEAOID, -1, false, TYPALIGN_INT);
}

/*
 * tracelink.merkle_root(leaves bytea[]) returns bytea
 *
 * The RFC 6962 tree head of raw leaf data; SHA-256("") for no leaves.
 */
Datum
tl_merkle_root_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *leaves = PG_GETARG_ARRAYTYPE_P(0);
	TlMerkleFrontier f;
	uint8		root[TL_HASH_LEN];

	/* folded through a frontier: O(log n) memory whatever the array size */
	merkle_leaf_count(leaves);
	tl_frontier_init(&f);
	merkle_hash_leaves(leaves, merkle_leaf_to_frontier, &f);
	tl_frontier_root(&f, root);
	PG_RETURN_BYTEA_P(tl_bytea_from(root, TL_HASH_LEN));
}

/*
 * tracelink.merkle_inclusion_proof(leaves bytea[], leaf_index bigint)
 * returns bytea[]
 *
 * The RFC 9162 inclusion proof of the 0-based leaf_index, leaf side first.
 */
Datum
tl_merkle_inclusion_proof_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *leaves = PG_GETARG_ARRAYTYPE_P(0);
	int64		leaf_index = PG_GETARG_INT64(1);
	int			n = merkle_leaf_count(leaves);
	uint8	   *hashes;
	uint8		path[TL_MERKLE_MAX_PATH * TL_HASH_LEN];
	int			count;

	if (leaf_index < 0 || leaf_index >= n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("leaf index %lld is out of range for a Merkle tree of %d leaves",
						(long long) leaf_index, n),
				 errdetail("Leaf indexes start at 0 and are less than the number of leaves.")));
	hashes = merkle_leaf_hashes(leaves, n);
	count = tl_merkle_inclusion_path(hashes, n, (uint64) leaf_index, path);
	PG_RETURN_ARRAYTYPE_P(merkle_hash_array(path, count));
}

/*
 * tracelink.merkle_consistency_proof(leaves bytea[], old_size bigint)
 * returns bytea[]
 *
 * The RFC 9162 consistency proof from the tree of the first old_size leaves
 * to the tree of all of them; empty when old_size is the whole tree.
 */
Datum
tl_merkle_consistency_proof_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *leaves = PG_GETARG_ARRAYTYPE_P(0);
	int64		old_size = PG_GETARG_INT64(1);
	int			n = merkle_leaf_count(leaves);
	uint8	   *hashes;
	uint8		path[TL_MERKLE_MAX_PATH * TL_HASH_LEN];
	int			count;

	if (old_size < 1 || old_size > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old size %lld is out of range for a Merkle tree of %d leaves",
						(long long) old_size, n),
				 errdetail("A consistency proof starts from a tree of at least 1 and at most all of the leaves.")));
	hashes = merkle_leaf_hashes(leaves, n);
	count = tl_merkle_consistency_path(hashes, n, (uint64) old_size, path);
	PG_RETURN_ARRAYTYPE_P(merkle_hash_array(path, count));
}

/*
 * Argument argno as a 32-byte hash, or NULL when it is NULL or of another
 * length.
 */
static const uint8 *
hash_arg_or_null(FunctionCallInfo fcinfo, int argno)
{
	bytea	   *b;

	if (PG_ARGISNULL(argno))
		return NULL;
	b = PG_GETARG_BYTEA_PP(argno);
	if (VARSIZE_ANY_EXHDR(b) != TL_HASH_LEN)
		return NULL;
	return (const uint8 *) VARDATA_ANY(b);
}

/*
 * Argument argno as a proof: *path_len hashes laid out contiguously in
 * *path.  False when the argument is NULL, has more than one dimension,
 * holds a NULL or a value that is not 32 bytes, or holds more hashes than
 * any proof for a tree of at most 2^63 - 1 leaves has (TL_MERKLE_MAX_PATH).
 */
static bool
proof_arg(FunctionCallInfo fcinfo, int argno, uint8 **path, int *path_len)
{
	ArrayType  *proof;
	int			nitems;
	ArrayIterator it;
	Datum		value;
	bool		isnull;
	int			i = 0;
	bool		ok = true;

	*path_len = 0;
	if (PG_ARGISNULL(argno))
		return false;
	proof = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(proof) > 1)
		return false;
	nitems = ArrayGetNItems(ARR_NDIM(proof), ARR_DIMS(proof));
	if (nitems > TL_MERKLE_MAX_PATH)
		return false;

	*path = palloc(Max(nitems, 1) * TL_HASH_LEN);
	it = array_create_iterator(proof, 0, NULL);
	while (array_iterate(it, &value, &isnull))
	{
		bytea	   *hash;

		if (isnull)
		{
			ok = false;
			break;
		}
		hash = DatumGetByteaPP(value);
		if (VARSIZE_ANY_EXHDR(hash) != TL_HASH_LEN)
		{
			ok = false;
			break;
		}
		memcpy(*path + i * TL_HASH_LEN, VARDATA_ANY(hash), TL_HASH_LEN);
		i++;
	}
	array_free_iterator(it);
	*path_len = i;
	return ok;
}

/*
 * tracelink.verify_inclusion(leaf_index bigint, tree_size bigint,
 *							  leaf_hash bytea, proof bytea[], root bytea)
 * returns boolean
 *
 * Not STRICT, never raises on its input: anything malformed is false.
 */
Datum
tl_verify_inclusion_sql(PG_FUNCTION_ARGS)
{
	int64		leaf_index;
	int64		tree_size;
	const uint8 *leaf_hash = hash_arg_or_null(fcinfo, 2);
	const uint8 *root = hash_arg_or_null(fcinfo, 4);
	uint8	   *path;
	int			path_len;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || leaf_hash == NULL || root == NULL)
		PG_RETURN_BOOL(false);
	leaf_index = PG_GETARG_INT64(0);
	tree_size = PG_GETARG_INT64(1);
	if (leaf_index < 0 || tree_size < 0)
		PG_RETURN_BOOL(false);
	if (!proof_arg(fcinfo, 3, &path, &path_len))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(tl_merkle_verify_inclusion((uint64) leaf_index,
											  (uint64) tree_size,
											  leaf_hash, path, path_len,
											  root));
}

/*
 * tracelink.verify_consistency(old_size bigint, new_size bigint,
 *								old_root bytea, new_root bytea,
 *								proof bytea[]) returns boolean
 *
 * Not STRICT, never raises on its input: anything malformed is false, and
 * so is any proof from the empty tree.
 */
Datum
tl_verify_consistency_sql(PG_FUNCTION_ARGS)
{
	int64		old_size;
	int64		new_size;
	const uint8 *old_root = hash_arg_or_null(fcinfo, 2);
	const uint8 *new_root = hash_arg_or_null(fcinfo, 3);
	uint8	   *path;
	int			path_len;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || old_root == NULL || new_root == NULL)
		PG_RETURN_BOOL(false);
	old_size = PG_GETARG_INT64(0);
	new_size = PG_GETARG_INT64(1);
	if (old_size < 0 || new_size < 0)
		PG_RETURN_BOOL(false);
	if (!proof_arg(fcinfo, 4, &path, &path_len))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(tl_merkle_verify_consistency((uint64) old_size,
												(uint64) new_size,
												old_root, new_root,
												path, path_len));
}
