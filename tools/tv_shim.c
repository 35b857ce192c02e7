/*-------------------------------------------------------------------------
 *
 * tv_shim.c
 *	  The few backend services src/merkle.c and PostgreSQL's frontend
 *	  libraries need inside tracelink-verify, and SHA-256 on libsodium.
 *
 * tracelink-verify compiles src/merkle.c unchanged (with FRONTEND defined)
 * and links PostgreSQL's libpgcommon.a/libpgport.a for the JSON lexer,
 * StringInfo and psprintf.  What the backend would supply is here:
 *
 * - tl_sha256 and friends, on libsodium rather than PostgreSQL's
 *	 cryptohash (OpenSSL in the server build): the verifier computes every
 *	 hash with a second implementation, so a fault in one is caught by the
 *	 other.  TlSha256's opaque context is libsodium's state here.
 * - palloc and friends, on malloc.  Running out of memory ends the program
 *	 with exit status 2 ("could not verify"), never 1 (the frontend palloc in
 *	 libpgcommon would exit with 1, which means "verification failed").
 *	 Defining them here keeps fe_memutils.o out of the link.
 * - ereport/elog: the verifier never calls code that raises on purpose
 *	 (src/merkle.c raises only for impossible sizes or proof requests, which
 *	 the verifier does not make), so any report reaching errfinish() is
 *	 printed as an internal error and ends the program with exit status 2.
 *	 There is no PG_TRY() here.
 *
 * The fuzz harness (fuzz/shim.c) stands in for the same services with
 * other semantics (errors longjmp into the target, memory is freed per
 * input, failures abort for libFuzzer); only the shape is shared.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "utils/memutils.h"

#include "tv_shim.h"

/* libsodium's state behind tracelink.h's opaque SHA-256 context */
typedef struct TvSha256State
{
	crypto_hash_sha256_state state;
} TvSha256State;

/* what errstart() .. errfinish() are building */
static ErrorData current_error;

/* ----------------------------------------------------------------
 * Exit paths
 * ----------------------------------------------------------------
 */

/*
 * End the program because it cannot go on: exit status 2, as for any
 * input or environment it cannot verify.
 */
void
tv_fatal(const char *fmt,...)
{
	va_list		args;

	fflush(stdout);
	fprintf(stderr, "tracelink-verify: error: ");
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fprintf(stderr, "\n");
	exit(TV_EXIT_TROUBLE);
}

/* ----------------------------------------------------------------
 * SHA-256 (libsodium)
 * ----------------------------------------------------------------
 */

void
tl_sha256_begin(TlSha256 *h)
{
	TvSha256State *st = tv_malloc(sizeof(TvSha256State));

	crypto_hash_sha256_init(&st->state);
	h->ctx = st;
}

void
tl_sha256_update(TlSha256 *h, const void *data, size_t len)
{
	crypto_hash_sha256_update(&((TvSha256State *) h->ctx)->state, data, len);
}

void
tl_sha256_end(TlSha256 *h, uint8 *out)
{
	crypto_hash_sha256_final(&((TvSha256State *) h->ctx)->state, out);
	free(h->ctx);
	h->ctx = NULL;
}

void
tl_sha256(const void *data, size_t len, uint8 *out)
{
	crypto_hash_sha256(out, data, len);
}

/*
 * A palloc'd bytea holding a copy of the given bytes (src/merkle.c's
 * tl_frontier_to_bytea refers to it; the verifier does not call that).
 */
struct varlena *
tl_bytea_from(const uint8 *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* ----------------------------------------------------------------
 * Memory
 * ----------------------------------------------------------------
 */

/*
 * malloc that never returns NULL: out of memory is exit status 2.
 */
void *
tv_malloc(size_t size)
{
	void	   *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
		tv_fatal("out of memory (requested %zu bytes)", size);
	return p;
}

void *
tv_realloc(void *pointer, size_t size)
{
	void	   *p = realloc(pointer, size > 0 ? size : 1);

	if (p == NULL)
		tv_fatal("out of memory (requested %zu bytes)", size);
	return p;
}

/*
 * The server's limit on one request, as libpgcommon's callers expect.
 */
static void
check_alloc_size(Size size)
{
	if (!AllocSizeIsValid(size))
		tv_fatal("invalid memory alloc request size %zu", (size_t) size);
}

void *
palloc(Size size)
{
	check_alloc_size(size);
	return tv_malloc(size);
}

void *
palloc0(Size size)
{
	void	   *p = palloc(size);

	memset(p, 0, size);
	return p;
}

void *
repalloc(void *pointer, Size size)
{
	check_alloc_size(size);
	return tv_realloc(pointer, size);
}

void
pfree(void *pointer)
{
	free(pointer);
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

/* ----------------------------------------------------------------
 * Error reporting (utils/elog.h): every report is an internal error
 * ----------------------------------------------------------------
 */

/* format a message as elog.c does, into palloc'd memory */
#define FORMAT_MESSAGE(target, fmt) \
	do { \
		StringInfoData buf; \
		initStringInfo(&buf); \
		for (;;) \
		{ \
			va_list		args; \
			int			needed; \
			va_start(args, fmt); \
			needed = appendStringInfoVA(&buf, fmt, args); \
			va_end(args); \
			if (needed == 0) \
				break; \
			enlargeStringInfo(&buf, needed); \
		} \
		(target) = buf.data; \
	} while (0)

/*
 * Reports below ERROR would at most be logged: skip them (false means
 * their arguments are not even evaluated).
 */
bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
		return false;
	memset(&current_error, 0, sizeof(current_error));
	current_error.elevel = elevel;
	current_error.domain = domain;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	tv_fatal("internal error at %s:%d: %s%s%s", filename, lineno,
			 current_error.message ? current_error.message : "(no message)",
			 current_error.detail ? ": " : "",
			 current_error.detail ? current_error.detail : "");
}

int
errcode(int sqlerrcode)
{
	current_error.sqlerrcode = sqlerrcode;
	return 0;
}

int
errmsg(const char *fmt,...)
{
	FORMAT_MESSAGE(current_error.message, fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_MESSAGE(current_error.message, fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_MESSAGE(current_error.detail, fmt);
	return 0;
}

int
errhint(const char *fmt,...)
{
	FORMAT_MESSAGE(current_error.hint, fmt);
	return 0;
}
