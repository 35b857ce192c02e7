/*-------------------------------------------------------------------------
 *
 * standin_sha256.c
 *	  tracelink's SHA-256 functions (src/hash.c in the server) on libsodium,
 *	  for programs that hash outside the server (tracelink-verify).
 *
 * libsodium rather than PostgreSQL's cryptohash (OpenSSL in the server
 * build): the verifier computes every hash with a second implementation,
 * so a fault in one is caught by the other.  TlSha256's opaque context is
 * libsodium's state here.  Kept apart from standin.c so that programs that
 * do not hash (the fuzz targets) need not link libsodium.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <sodium.h>

#include "standin.h"

/* libsodium's state behind tracelink.h's opaque SHA-256 context */
typedef struct StandinSha256State
{
	crypto_hash_sha256_state state;
} StandinSha256State;

void
tl_sha256_begin(TlSha256 *h)
{
	StandinSha256State *st = palloc(sizeof(StandinSha256State));

	crypto_hash_sha256_init(&st->state);
	h->ctx = st;
}

void
tl_sha256_update(TlSha256 *h, const void *data, size_t len)
{
	crypto_hash_sha256_update(&((StandinSha256State *) h->ctx)->state, data, len);
}

void
tl_sha256_end(TlSha256 *h, uint8 *out)
{
	crypto_hash_sha256_final(&((StandinSha256State *) h->ctx)->state, out);
	pfree(h->ctx);
	h->ctx = NULL;
}

void
tl_sha256(const void *data, size_t len, uint8 *out)
{
	crypto_hash_sha256(out, data, len);
}
