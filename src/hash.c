/*-------------------------------------------------------------------------
 *
 * hash.c
 *	  SHA-256 for tracelink, on top of PostgreSQL's cryptohash API.
 *
 * Everything in the extension hashes through these few functions, so the
 * choice of implementation is made once.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "common/cryptohash.h"

void
tl_sha256_begin(TlSha256 *h)
{
	h->ctx = pg_cryptohash_create(PG_SHA256);
	if (h->ctx == NULL || pg_cryptohash_init(h->ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialise SHA-256: %s",
						pg_cryptohash_error(h->ctx))));
}

void
tl_sha256_update(TlSha256 *h, const void *data, size_t len)
{
	if (pg_cryptohash_update(h->ctx, data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256: %s",
						pg_cryptohash_error(h->ctx))));
}

void
tl_sha256_end(TlSha256 *h, uint8 *out)
{
	if (pg_cryptohash_final(h->ctx, out, TL_HASH_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256: %s",
						pg_cryptohash_error(h->ctx))));
	pg_cryptohash_free(h->ctx);
	h->ctx = NULL;
}

void
tl_sha256(const void *data, size_t len, uint8 *out)
{
	TlSha256	h;

	tl_sha256_begin(&h);
	tl_sha256_update(&h, data, len);
	tl_sha256_end(&h, out);
}

/*
 * A palloc'd bytea holding a copy of the given bytes.
 */
struct varlena *
tl_bytea_from(const uint8 *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}
