/*-------------------------------------------------------------------------
 *
 * standin.h
 *	  The one stand-in for the PostgreSQL backend, for programs that link
 *	  tracelink's pure parts outside the server: the fuzz targets (fuzz/)
 *	  and the standalone verifier (tools/tracelink-verify).
 *
 * The pure parts (src/jcs*.c but jcs_jsonb.c, src/def_*.c, src/merkle.c,
 * src/ledger_json.c) are compiled with FRONTEND defined and linked with
 * PostgreSQL's frontend libraries libpgcommon.a and libpgport.a (the JSON
 * parser, StringInfo, psprintf, shortest double formatting).  standin.c
 * supplies what those libraries lack or would do differently from the
 * server:
 *
 * - ereport/elog with the server's semantics: errstart() records the
 *	 report (SQLSTATE XX000 unless errcode() says otherwise), errfinish()
 *	 longjmps to the innermost PG_TRY() for ERROR.  An ERROR no PG_TRY()
 *	 catches, or any report above ERROR, goes to the program's
 *	 standin_uncaught_error hook, which must not return.  Reports below
 *	 ERROR are dropped.
 * - palloc and friends with the server's checks (MaxAllocSize, 53200 out
 *	 of memory): every chunk is a separate malloc() (so AddressSanitizer
 *	 sees each one) on a list, so that standin_free_all() frees whatever a
 *	 run left behind, as the server resets a memory context.  Live and peak
 *	 bytes are counted (unless standin_track_chunks is off).  Defining the palloc family here keeps the linker
 *	 from pulling fe_memutils.o (the frontend palloc) out of libpgcommon.a.
 * - check_stack_depth(): the server's test, the stack used since
 *	 standin_stack_base against standin_max_stack (no test until a program
 *	 sets the base).
 * - GetDatabaseEncoding(): UTF8 (RFC 8785 text is UTF-8).
 * - json_errdetail(): absent from the frontend libpgcommon.a in PostgreSQL
 *	 15; a plain detail naming the parser's error code stands in for it.
 *
 * standin_sha256.c adds tracelink's SHA-256 functions (hash.c's in the
 * server) on libsodium, for programs that hash; it is a separate object so
 * that programs that do not hash need not link libsodium.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_STANDIN_H
#define TL_STANDIN_H

#include "postgres.h"

/*
 * Called with an ERROR that no PG_TRY() catches, a report above ERROR, or
 * a PG_RE_THROW() with nowhere to go (edata then NULL when there is no
 * error): what says which.  Must not return.  The default prints the
 * report to stderr and aborts.
 */
typedef void (*StandinErrorHook) (const char *what, const ErrorData *edata);

extern StandinErrorHook standin_uncaught_error;

/*
 * Bytes palloc'd and not yet freed, and the most there were at once since
 * a program last set standin_peak_bytes (which it may lower to measure a
 * step from where it began).
 */
extern Size standin_live_bytes;
extern Size standin_peak_bytes;

extern void standin_free_all(void);

/*
 * Whether chunks are kept on the list and counted (the default).  A
 * program that needs neither standin_free_all() nor the counts (the
 * threads of tracelink-verify, which would otherwise contend for the
 * list's lock on every palloc) sets it false before its first palloc and
 * never changes it again.
 */
extern bool standin_track_chunks;

/* check_stack_depth(): stack allowed below standin_stack_base */
extern char *standin_stack_base;
extern Size standin_max_stack;

#endif							/* TL_STANDIN_H */
