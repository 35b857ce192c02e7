/*-------------------------------------------------------------------------
 *
 * hash.c
 *	  SHA-256 for tracelink.
 *
 * Everything in the extension hashes through these few functions, so the
 * choice of implementation is made once.  When the server is built with
 * OpenSSL (as Debian's is) they call the same OpenSSL SHA-256 that
 * PostgreSQL's cryptohash API wraps, but keep one digest context for the
 * backend's life: the cryptohash API creates, registers with a resource
 * owner and frees a context per hash, and OpenSSL 3 looks the algorithm up
 * again on each, which costs more than hashing a Merkle node (65 bytes)
 * or a typical entry.  Without OpenSSL, the cryptohash API is used as is.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "common/cryptohash.h"

#ifdef USE_OPENSSL
#include <openssl/evp.h>

static EVP_MD *sha256_md = NULL;
static EVP_MD_CTX *sha256_ctx = NULL;

static void sha256_failed(const char *what) pg_attribute_noreturn();

static void
sha256_failed(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not %s SHA-256", what)));
}

void
tl_sha256_begin(TlSha256 *h)
{
	if (sha256_ctx == NULL)
	{
		if (sha256_md == NULL && (sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
			sha256_failed("initialise");
		if ((sha256_ctx = EVP_MD_CTX_new()) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
	}
	if (EVP_DigestInit_ex(sha256_ctx, sha256_md, NULL) != 1)
		sha256_failed("initialise");
	h->ctx = sha256_ctx;
}

void
tl_sha256_update(TlSha256 *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate((EVP_MD_CTX *) h->ctx, data, len) != 1)
		sha256_failed("compute");
}

void
tl_sha256_end(TlSha256 *h, uint8 *out)
{
	unsigned int len;

	if (EVP_DigestFinal_ex((EVP_MD_CTX *) h->ctx, out, &len) != 1 || len != TL_HASH_LEN)
		sha256_failed("compute");
	h->ctx = NULL;
}
#else							/* !USE_OPENSSL */

void
tl_sha256_begin(TlSha256 *h)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not initialise SHA-256: %s",
						pg_cryptohash_error(ctx))));
	h->ctx = ctx;
}

void
tl_sha256_update(TlSha256 *h, const void *data, size_t len)
{
	if (pg_cryptohash_update((pg_cryptohash_ctx *) h->ctx, data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256: %s",
						pg_cryptohash_error((pg_cryptohash_ctx *) h->ctx))));
}

void
tl_sha256_end(TlSha256 *h, uint8 *out)
{
	pg_cryptohash_ctx *ctx = (pg_cryptohash_ctx *) h->ctx;

	if (pg_cryptohash_final(ctx, out, TL_HASH_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256: %s",
						pg_cryptohash_error(ctx))));
	pg_cryptohash_free(ctx);
	h->ctx = NULL;
}
#endif							/* USE_OPENSSL */

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
