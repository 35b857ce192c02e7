/*-------------------------------------------------------------------------
 *
 * harness.h
 *	  What the fuzz targets share: running a step under PG_TRY, memory and
 *	  stack measured per input and freed between inputs, the input guards
 *	  and the output checks.
 *
 * The targets link tracelink's pure parts (src/jcs*.c, src/def_*.c,
 * src/ledger_json.c) outside the server, with the backend stand-in of
 * src/standin/ (errors, palloc, check_stack_depth, the database encoding),
 * the same one tools/tracelink-verify uses.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TL_FUZZ_HARNESS_H
#define TL_FUZZ_HARNESS_H

#include "postgres.h"

#include "standin.h"

/*
 * Deepest JSON nesting a target passes on.  PostgreSQL's JSON parser checks
 * the stack only in the server build; the frontend copy in libpgcommon.a
 * recurses without limit (it overflows an 8 MB stack somewhere between
 * 50,000 and 100,000 levels), so deeper documents are refused before
 * parsing.  20,000 levels parse safely and still reach the stack limit
 * below in jcs_serialize() (at about 10,000 levels with the sanitizers'
 * frames), so stack depth limit exceeded is exercised too.
 */
#define FUZZ_MAX_NESTING	20000

/* Largest input a target passes on (jcs_parse takes an int length). */
#define FUZZ_MAX_INPUT		(1024 * 1024)

/*
 * Stack the code under test may use before check_stack_depth() raises
 * 54001, like the server's max_stack_depth (2 MB by default, but its frames
 * are smaller than these instrumented ones).
 */
#define FUZZ_MAX_STACK		(1024 * 1024)

/*
 * Memory an input may take: the most bytes palloc'd at once while it runs
 * may not pass FUZZ_MEMORY_PER_BYTE per byte of input plus
 * FUZZ_MEMORY_BASE (fuzz_end_input).  The constant covers a parse tree and
 * what the targets build from it (docs/fuzzing.md gives the measured
 * figures); the base covers the fixed-size buffers of small inputs.
 */
#define FUZZ_MEMORY_PER_BYTE	256
#define FUZZ_MEMORY_BASE		(256 * 1024)

extern bool fuzz_verbose;

extern void fuzz_begin_input(const char *data, size_t len);
extern void fuzz_end_input(void);
extern ErrorData *fuzz_try(void (*step) (void *arg), void *arg);
extern bool fuzz_error_expected(const ErrorData *edata);
extern void fuzz_show(const char *what, const char *output, size_t outlen,
					  const ErrorData *edata);
extern void fuzz_fail(const char *what, const char *input, size_t inlen,
					  const char *output, size_t outlen,
					  const ErrorData *edata) pg_attribute_noreturn();

extern int	fuzz_json_nesting(const char *data, size_t len);
extern bool fuzz_is_text(const char *data, size_t len);
extern const char *fuzz_check_utf8(const char *data, size_t len);

#endif							/* TL_FUZZ_HARNESS_H */
