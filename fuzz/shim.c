/*-------------------------------------------------------------------------
 *
 * shim.c
 *	  A stand-in for the few backend services src/jcs.c and
 *	  src/definition.c use, so that they run inside a libFuzzer target.
 *
 * Everything else those files need (the JSON parser, StringInfo, psprintf,
 * shortest double formatting) comes from PostgreSQL's frontend libraries
 * libpgcommon.a and libpgport.a.  What those libraries lack, or would do
 * differently from the server, is here:
 *
 * - ereport/elog: errstart() records the report, errfinish() longjmps to
 *	 the innermost PG_TRY() exactly as the server does for ERROR; FATAL and
 *	 above, or an ERROR with no PG_TRY(), fail the run.  Reports below ERROR
 *	 are dropped.  errcode() defaults to XX000 as in the server, so elog()
 *	 and missing errcode()s are visible to the targets.
 * - palloc and friends: every chunk is a separate malloc() (so AddressSanitizer
 *	 sees each one) kept on a list, and fuzz_end_input() frees the list:
 *	 the per-input equivalent of the server resetting a memory context after
 *	 an error.  We define the palloc family ourselves, so the linker never
 *	 pulls fe_memutils.o (the frontend palloc) out of libpgcommon.a.
 * - check_stack_depth(): the server's test, stack used since the input began
 *	 against a limit (FUZZ_MAX_STACK).
 * - GetDatabaseEncoding(): UTF8 (RFC 8785 text is UTF-8; other database
 *	 encodings are not fuzzed).
 * - json_errdetail(): absent from the frontend libpgcommon.a in PostgreSQL
 *	 15; a plain detail naming the parser's error code stands in for it.
 *
 * The rest of the file is shared by the targets: fuzz_try() runs one step
 * under PG_TRY(), the input guards and the output checks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "shim.h"

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

/* the report being built or last raised; its strings are palloc'd */
static ErrorData current_error;
static bool have_error = false;

/* TL_FUZZ_VERBOSE set: print what happens to each input (fuzz_show) */
bool		fuzz_verbose = false;

/* where the stack stood when the current input began */
static char *stack_base = NULL;

/* ----------------------------------------------------------------
 * Memory
 * ----------------------------------------------------------------
 */

/*
 * Each palloc'd chunk sits behind this header on a circular list, so that
 * everything an input allocated, including what an error left behind, is
 * freed by fuzz_end_input().  The header keeps the chunk MAXALIGNed.
 */
typedef struct FuzzChunk
{
	struct FuzzChunk *prev;
	struct FuzzChunk *next;
	Size		size;			/* bytes requested */
} FuzzChunk;

StaticAssertDecl(sizeof(FuzzChunk) % MAXIMUM_ALIGNOF == 0,
				 "chunk header must keep palloc'd memory MAXALIGNed");

static FuzzChunk chunks = {&chunks, &chunks, 0};

/*
 * Bytes palloc'd and not freed, and the most there were at once.  Each
 * step of code under test (fuzz_try) is measured from what was live when
 * it began: its peak is what the call took at once, whatever the
 * harness's own checks keep around it.  fuzz_end_input() holds the largest
 * step to a bound linear in the input (FUZZ_MEMORY_PER_BYTE,
 * FUZZ_MEMORY_BASE).
 */
static Size live_bytes = 0;
static Size peak_bytes = 0;
static Size step_peak_bytes = 0;

/* the current input, for the memory check and its report */
static const char *input_data = NULL;
static size_t input_len = 0;

static void
count_bytes(Size added, Size removed)
{
	live_bytes = live_bytes + added - removed;
	if (live_bytes > peak_bytes)
		peak_bytes = live_bytes;
}

static void
chunk_link(FuzzChunk *c)
{
	c->next = chunks.next;
	c->prev = &chunks;
	chunks.next->prev = c;
	chunks.next = c;
}

static void
chunk_unlink(FuzzChunk *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
}

/*
 * The server's checks on a request: at most MaxAllocSize (an elog, hence
 * XX000, which the targets treat as a bug) and out of memory (53200).
 */
static void
check_request(Size size, void *result)
{
	if (!AllocSizeIsValid(size))
		elog(ERROR, "invalid memory alloc request size %zu", size);
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu.", size)));
}

/*
 * palloc, palloc0, repalloc, pfree, pstrdup, pnstrdup: the server's
 * semantics (including its errors) over chunks on the list above.
 */
void *
palloc(Size size)
{
	FuzzChunk  *c = NULL;

	if (AllocSizeIsValid(size))
		c = malloc(sizeof(FuzzChunk) + size);
	check_request(size, c);
	chunk_link(c);
	c->size = size;
	count_bytes(size, 0);
	return c + 1;
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
	FuzzChunk  *c = (FuzzChunk *) pointer - 1;
	FuzzChunk  *moved = NULL;

	Assert(pointer != NULL);
	if (AllocSizeIsValid(size))
	{
		Size		old_size = c->size;

		chunk_unlink(c);
		moved = realloc(c, sizeof(FuzzChunk) + size);
		/* on failure the old chunk is still valid: keep it on the list */
		chunk_link(moved ? moved : c);
		if (moved)
		{
			moved->size = size;
			count_bytes(size, old_size);
		}
	}
	check_request(size, moved);
	return moved + 1;
}

void
pfree(void *pointer)
{
	FuzzChunk  *c = (FuzzChunk *) pointer - 1;

	Assert(pointer != NULL);
	chunk_unlink(c);
	count_bytes(0, c->size);
	free(c);
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
 * Error reporting (utils/elog.h)
 * ----------------------------------------------------------------
 */

/* format a message the way elog.c does, into palloc'd memory */
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
 * Start a report.  Below ERROR the server would at most log it, which
 * changes nothing here: such reports are skipped (returning false means
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
	current_error.sqlerrcode = ERRCODE_INTERNAL_ERROR;
	have_error = true;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

/*
 * Raise the report: ERROR jumps to the innermost PG_TRY(), as in the
 * server; anything worse would end the backend, so it fails the run.
 */
void
errfinish(const char *filename, int lineno, const char *funcname)
{
	current_error.filename = filename;
	current_error.lineno = lineno;
	current_error.funcname = funcname;
	if (current_error.elevel > ERROR)
		fuzz_fail("ereport above ERROR", NULL, 0, NULL, 0, &current_error);
	if (PG_exception_stack == NULL)
		fuzz_fail("ereport(ERROR) outside fuzz_try()", NULL, 0, NULL, 0,
				  &current_error);
	siglongjmp(*PG_exception_stack, 1);
}

/* PG_RE_THROW(): pass the current error to the next PG_TRY() out */
void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL || !have_error)
		fuzz_fail("PG_RE_THROW() with nowhere to go", NULL, 0, NULL, 0,
				  have_error ? &current_error : NULL);
	siglongjmp(*PG_exception_stack, 1);
}

/*
 * The parts of a report.  Each records its text in the current report and
 * returns a dummy value, like elog.c's.
 */
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
	current_error.message_id = fmt;
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_MESSAGE(current_error.message, fmt);
	current_error.message_id = fmt;
	return 0;
}

int
errdetail(const char *fmt,...)
{
	FORMAT_MESSAGE(current_error.detail, fmt);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
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

/*
 * A palloc'd copy of the error being handled (strings are shared: they live
 * until fuzz_end_input() anyway).
 */
ErrorData *
CopyErrorData(void)
{
	ErrorData  *copy = palloc(sizeof(ErrorData));

	Assert(have_error);
	memcpy(copy, &current_error, sizeof(ErrorData));
	return copy;
}

/* Forget the error being handled, as after recovering from it */
void
FlushErrorState(void)
{
	memset(&current_error, 0, sizeof(current_error));
	have_error = false;
}

/* ----------------------------------------------------------------
 * The rest of the backend the code under test touches
 * ----------------------------------------------------------------
 */

/*
 * The server's test: stack used since the input began (the stack grows
 * down on every platform the fuzz build supports) against a limit.
 */
void
check_stack_depth(void)
{
	char	   *here = __builtin_frame_address(0);

	if (stack_base != NULL && stack_base - here > FUZZ_MAX_STACK)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("stack depth limit exceeded"),
				 errhint("The fuzz shim allows %d bytes of stack.",
						 FUZZ_MAX_STACK)));
}

/* UTF8: the JSON parser decodes \u escapes to this encoding */
int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

/*
 * Detail for a JSON syntax error.  The PostgreSQL 15 frontend library lacks
 * json_errdetail(); the targets check SQLSTATEs, not wording, so naming the
 * parser's error code and position is enough.
 */
char *
json_errdetail(JsonParseErrorType error, JsonLexContext *lex)
{
	return psprintf("The JSON parser reported error %d near byte %d.",
					(int) error, (int) (lex->token_terminator - lex->input));
}

/* ----------------------------------------------------------------
 * Shared by the targets
 * ----------------------------------------------------------------
 */

/*
 * Call at the start of every input (the bytes the target was given): stack
 * use and memory are measured from here.
 */
void
fuzz_begin_input(const char *data, size_t len)
{
	static bool environment_read = false;

	if (!environment_read)
	{
		fuzz_verbose = getenv("TL_FUZZ_VERBOSE") != NULL;
		environment_read = true;
	}
	stack_base = __builtin_frame_address(0);
	input_data = data;
	input_len = len;
	live_bytes = 0;
	peak_bytes = 0;
	step_peak_bytes = 0;
}

/*
 * Call at the end of every input: holds the input to the memory bound,
 * then frees everything it palloc'd.  The bound makes a leak such as one
 * buffer per JSON number (issue 9) an oracle failure with the input saved,
 * however little memory the fuzzing process has in all: memory must be
 * linear in the input with a small constant, as in the server.
 */
void
fuzz_end_input(void)
{
	if (step_peak_bytes > FUZZ_MEMORY_PER_BYTE * input_len + FUZZ_MEMORY_BASE)
	{
		char		what[200];

		snprintf(what, sizeof(what),
				 "memory is not linear in the input: one step palloc'd %zu bytes at once "
				 "for %zu bytes of input (bound %d per byte + %d)",
				 step_peak_bytes, input_len, FUZZ_MEMORY_PER_BYTE, FUZZ_MEMORY_BASE);
		fuzz_fail(what, input_data, input_len, NULL, 0, NULL);
	}
	if (fuzz_verbose)
		fprintf(stderr, "memory: a step palloc'd at most %zu bytes at once for %zu bytes of input\n",
				step_peak_bytes, input_len);
	while (chunks.next != &chunks)
	{
		FuzzChunk  *c = chunks.next;

		chunk_unlink(c);
		free(c);
	}
	FlushErrorState();
	stack_base = NULL;
}

/*
 * Run step(arg); return NULL, or the error it raised.
 */
ErrorData *
fuzz_try(void (*step) (void *arg), void *arg)
{
	ErrorData  *edata = NULL;
	Size		base = live_bytes;
	Size		outer_peak = peak_bytes;

	peak_bytes = live_bytes;
	PG_TRY();
	{
		step(arg);
	}
	PG_CATCH();
	{
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	step_peak_bytes = Max(step_peak_bytes, peak_bytes - base);
	peak_bytes = Max(outer_peak, peak_bytes);
	return edata;
}

/*
 * The errors bad input may raise: invalid text representation (22P02),
 * untranslatable character (22P05, \u0000), numeric value out of range
 * (22003) and stack depth limit exceeded (54001).  Anything else (XX000
 * from an elog() above all) is a bug.
 */
bool
fuzz_error_expected(const ErrorData *edata)
{
	return edata->elevel == ERROR &&
		(edata->sqlerrcode == ERRCODE_INVALID_TEXT_REPRESENTATION ||
		 edata->sqlerrcode == ERRCODE_UNTRANSLATABLE_CHARACTER ||
		 edata->sqlerrcode == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE ||
		 edata->sqlerrcode == ERRCODE_STATEMENT_TOO_COMPLEX);
}

/* print bytes readably: printable ASCII as is, the rest as \xNN */
static void
print_bytes(const char *label, const char *data, size_t len)
{
	size_t		shown = Min(len, 4000);
	size_t		i;

	fprintf(stderr, "%s (%zu bytes): ", label, len);
	for (i = 0; i < shown; i++)
	{
		unsigned char c = (unsigned char) data[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "%s\n", shown < len ? "..." : "");
}

/* print an error's SQLSTATE, place and message */
static void
print_error(const ErrorData *edata)
{
	int			code = edata->sqlerrcode;

	fprintf(stderr, "error: level %d, SQLSTATE %c%c%c%c%c at %s:%d (%s)\n",
			edata->elevel,
			PGUNSIXBIT(code), PGUNSIXBIT(code >> 6), PGUNSIXBIT(code >> 12),
			PGUNSIXBIT(code >> 18), PGUNSIXBIT(code >> 24),
			edata->filename ? edata->filename : "?", edata->lineno,
			edata->funcname ? edata->funcname : "?");
	fprintf(stderr, "message: %s\n",
			edata->message ? edata->message : "(none)");
	if (edata->detail)
		fprintf(stderr, "detail: %s\n", edata->detail);
}

/*
 * With TL_FUZZ_VERBOSE set, say what became of an input: its output or the
 * error it raised (for looking at seeds and reproducing artifacts).
 */
void
fuzz_show(const char *what, const char *output, size_t outlen,
		  const ErrorData *edata)
{
	if (!fuzz_verbose)
		return;
	fprintf(stderr, "%s\n", what);
	if (output != NULL)
		print_bytes("output", output, outlen);
	if (edata != NULL)
		print_error(edata);
}

/*
 * Report a broken oracle and abort, which libFuzzer records as a crash
 * (with the input saved as an artifact).
 */
void
fuzz_fail(const char *what, const char *input, size_t inlen,
		  const char *output, size_t outlen, const ErrorData *edata)
{
	fprintf(stderr, "\n==== tracelink fuzz oracle failed: %s\n", what);
	if (input != NULL)
		print_bytes("input", input, inlen);
	if (output != NULL)
		print_bytes("output", output, outlen);
	if (edata != NULL)
		print_error(edata);
	fflush(stderr);
	abort();
}

/*
 * Deepest nesting of [ and { outside strings: an upper bound on how deep
 * PostgreSQL's recursive-descent parser can go on this input.
 */
int
fuzz_json_nesting(const char *data, size_t len)
{
	int			depth = 0;
	int			deepest = 0;
	bool		in_string = false;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		char		c = data[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			depth++;
			deepest = Max(deepest, depth);
		}
		else if ((c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return deepest;
}

/*
 * Could these bytes be a text value in a UTF8 database?  The server
 * verifies every text value this way (valid UTF-8, no NUL) before any
 * function sees it; other inputs still must not crash anything, but are not
 * held to the output checks.
 */
bool
fuzz_is_text(const char *data, size_t len)
{
	return len <= FUZZ_MAX_INPUT &&
		pg_encoding_verifymbstr(PG_UTF8, data, (int) len) == (int) len;
}

/*
 * Output check shared by the targets, written independently of
 * PostgreSQL's verifier: strict UTF-8 (shortest forms, no surrogates,
 * nothing above U+10FFFF) and no raw control character (canonical JSON
 * escapes every one below U+0020).  Returns NULL, or what is wrong.
 */
const char *
fuzz_check_utf8(const char *data, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = (unsigned char) data[i];
		unsigned char lo = 0x80;
		unsigned char hi = 0xBF;
		int			more;
		int			k;

		if (c < 0x20)
			return psprintf("raw control character 0x%02x at byte %zu", c, i);
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			more = 1;
		else if (c >= 0xE0 && c <= 0xEF)
		{
			more = 2;
			if (c == 0xE0)
				lo = 0xA0;		/* no overlong forms */
			else if (c == 0xED)
				hi = 0x9F;		/* no surrogates */
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			more = 3;
			if (c == 0xF0)
				lo = 0x90;		/* no overlong forms */
			else if (c == 0xF4)
				hi = 0x8F;		/* nothing above U+10FFFF */
		}
		else
			return psprintf("invalid UTF-8 lead byte 0x%02x at byte %zu", c, i);
		if (i + more >= len)
			return psprintf("truncated UTF-8 sequence at byte %zu", i);
		for (k = 1; k <= more; k++)
		{
			unsigned char cc = (unsigned char) data[i + k];

			if (cc < (k == 1 ? lo : 0x80) || cc > (k == 1 ? hi : 0xBF))
				return psprintf("invalid UTF-8 continuation byte 0x%02x at byte %zu",
								cc, i + k);
		}
		i += more + 1;
	}
	return NULL;
}
