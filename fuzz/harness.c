/*-------------------------------------------------------------------------
 *
 * harness.c
 *	  What the fuzz targets share (harness.h): each input measured and
 *	  freed, one step run under PG_TRY(), the input guards and the output
 *	  checks.  The backend stand-in itself is src/standin/standin.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "mb/pg_wchar.h"

#include "harness.h"

/* TL_FUZZ_VERBOSE set: print what happens to each input (fuzz_show) */
bool		fuzz_verbose = false;

/*
 * The most bytes one step of code under test (fuzz_try) palloc'd at once,
 * measured from what was live when it began: what the call took, whatever
 * the harness's own checks keep around it.  fuzz_end_input() holds it to a
 * bound linear in the input (FUZZ_MEMORY_PER_BYTE, FUZZ_MEMORY_BASE).
 */
static Size step_peak_bytes = 0;

/* the current input, for the memory check and its report */
static const char *input_data = NULL;
static size_t input_len = 0;

/*
 * The stand-in's hook for an error nothing catches, or one above ERROR:
 * a broken oracle (the targets run code under test only in fuzz_try()).
 */
static void
fuzz_uncaught_error(const char *what, const ErrorData *edata)
{
	fuzz_fail(what, NULL, 0, NULL, 0, edata);
}

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
	standin_uncaught_error = fuzz_uncaught_error;
	standin_stack_base = __builtin_frame_address(0);
	standin_max_stack = FUZZ_MAX_STACK;
	input_data = data;
	input_len = len;
	standin_live_bytes = 0;
	standin_peak_bytes = 0;
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
	standin_free_all();
	FlushErrorState();
	standin_stack_base = NULL;
}

/*
 * Run step(arg); return NULL, or the error it raised.
 */
ErrorData *
fuzz_try(void (*step) (void *arg), void *arg)
{
	ErrorData  *edata = NULL;
	Size		base = standin_live_bytes;
	Size		outer_peak = standin_peak_bytes;

	standin_peak_bytes = standin_live_bytes;
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
	step_peak_bytes = Max(step_peak_bytes, standin_peak_bytes - base);
	standin_peak_bytes = Max(outer_peak, standin_peak_bytes);
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
