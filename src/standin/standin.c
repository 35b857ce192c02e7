/*-------------------------------------------------------------------------
 *
 * standin.c
 *	  The one stand-in for the backend services tracelink's pure parts use
 *	  outside the server (fuzz targets, tracelink-verify): errors, memory,
 *	  stack depth, the database encoding.  standin.h says what each does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "standin.h"

static void standin_default_hook(const char *what, const ErrorData *edata);

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

StandinErrorHook standin_uncaught_error = standin_default_hook;

/* the report being built or last raised; its strings are palloc'd */
static ErrorData current_error;
static bool have_error = false;

/* check_stack_depth(): no test until a program sets the base */
char	   *standin_stack_base = NULL;
Size		standin_max_stack = 1024 * 1024;

/* ----------------------------------------------------------------
 * Memory
 * ----------------------------------------------------------------
 */

/*
 * Each palloc'd chunk sits behind this header on a circular list, so that
 * everything a run allocated, including what an error left behind, is
 * freed by standin_free_all().  The header keeps the chunk MAXALIGNed.
 */
typedef struct StandinChunk
{
	struct StandinChunk *prev;
	struct StandinChunk *next;
	Size		size;			/* bytes requested */
} StandinChunk;

StaticAssertDecl(sizeof(StandinChunk) % MAXIMUM_ALIGNOF == 0,
				 "chunk header must keep palloc'd memory MAXALIGNed");

static StandinChunk chunks = {&chunks, &chunks, 0};

/*
 * The list and the counts are shared by tracelink-verify's threads, which
 * may free a chunk another allocated: one lock guards them.
 */
static pthread_mutex_t chunks_lock = PTHREAD_MUTEX_INITIALIZER;

bool		standin_track_chunks = true;

/* bytes palloc'd and not freed, and the most at once (standin.h) */
Size		standin_live_bytes = 0;
Size		standin_peak_bytes = 0;

static void
count_bytes(Size added, Size removed)
{
	standin_live_bytes = standin_live_bytes + added - removed;
	if (standin_live_bytes > standin_peak_bytes)
		standin_peak_bytes = standin_live_bytes;
}

static void
chunk_link(StandinChunk *c)
{
	c->next = chunks.next;
	c->prev = &chunks;
	chunks.next->prev = c;
	chunks.next = c;
}

static void
chunk_unlink(StandinChunk *c)
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
	StandinChunk  *c = NULL;

	if (AllocSizeIsValid(size))
		c = malloc(sizeof(StandinChunk) + size);
	check_request(size, c);
	c->size = size;
	if (standin_track_chunks)
	{
		pthread_mutex_lock(&chunks_lock);
		chunk_link(c);
		count_bytes(size, 0);
		pthread_mutex_unlock(&chunks_lock);
	}
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
	StandinChunk  *c = (StandinChunk *) pointer - 1;
	StandinChunk  *moved = NULL;

	Assert(pointer != NULL);
	if (AllocSizeIsValid(size) && !standin_track_chunks)
	{
		moved = realloc(c, sizeof(StandinChunk) + size);
		if (moved)
			moved->size = size;
	}
	else if (AllocSizeIsValid(size))
	{
		Size		old_size = c->size;

		pthread_mutex_lock(&chunks_lock);
		chunk_unlink(c);
		moved = realloc(c, sizeof(StandinChunk) + size);
		/* on failure the old chunk is still valid: keep it on the list */
		chunk_link(moved ? moved : c);
		if (moved)
		{
			moved->size = size;
			count_bytes(size, old_size);
		}
		pthread_mutex_unlock(&chunks_lock);
	}
	check_request(size, moved);
	return moved + 1;
}

void
pfree(void *pointer)
{
	StandinChunk  *c = (StandinChunk *) pointer - 1;

	Assert(pointer != NULL);
	if (standin_track_chunks)
	{
		pthread_mutex_lock(&chunks_lock);
		chunk_unlink(c);
		count_bytes(0, c->size);
		pthread_mutex_unlock(&chunks_lock);
	}
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

/*
 * Free every palloc'd chunk, as the server resets a memory context; the
 * counts start again from zero.
 */
void
standin_free_all(void)
{
	pthread_mutex_lock(&chunks_lock);
	while (chunks.next != &chunks)
	{
		StandinChunk *c = chunks.next;

		chunk_unlink(c);
		free(c);
	}
	standin_live_bytes = 0;
	standin_peak_bytes = 0;
	pthread_mutex_unlock(&chunks_lock);
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
 * server; anything worse would end the backend, and an ERROR nothing
 * catches would end the statement: both go to the program's hook.
 */
void
errfinish(const char *filename, int lineno, const char *funcname)
{
	current_error.filename = filename;
	current_error.lineno = lineno;
	current_error.funcname = funcname;
	if (current_error.elevel > ERROR)
		standin_uncaught_error("ereport above ERROR", &current_error);
	if (PG_exception_stack == NULL)
		standin_uncaught_error("ereport(ERROR) outside PG_TRY()",
							   &current_error);
	siglongjmp(*PG_exception_stack, 1);
}

/* PG_RE_THROW(): pass the current error to the next PG_TRY() out */
void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL || !have_error)
		standin_uncaught_error("PG_RE_THROW() with nowhere to go",
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
 * until standin_free_all() anyway).
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
 * The server's test: stack used since standin_stack_base (the stack grows
 * down on every platform tracelink builds on) against a limit.
 */
void
check_stack_depth(void)
{
	char	   *here = __builtin_frame_address(0);

	if (standin_stack_base != NULL &&
		(Size) (standin_stack_base - here) > standin_max_stack)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errmsg("stack depth limit exceeded"),
				 errhint("The stand-in allows %zu bytes of stack.",
						 standin_max_stack)));
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

/*
 * Without a hook of the program's: print what is known and abort.
 */
static void
standin_default_hook(const char *what, const ErrorData *edata)
{
	fprintf(stderr, "%s", what);
	if (edata != NULL)
		fprintf(stderr, " at %s:%d: %s", edata->filename ? edata->filename : "?",
				edata->lineno, edata->message ? edata->message : "(no message)");
	fprintf(stderr, "\n");
	abort();
}
