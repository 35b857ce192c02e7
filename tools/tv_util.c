/*-------------------------------------------------------------------------
 *
 * tv_util.c
 *	  How tracelink-verify ends when it cannot go on, and malloc that never
 *	  returns NULL.
 *
 * Anything the verifier cannot verify (usage, I/O, malformed input, out of
 * memory) ends it with exit status 2, never 1, which means "verification
 * failed".  That includes a report raised by code running over the backend
 * stand-in (src/standin/): the verifier never calls code that raises on
 * purpose (src/merkle.c raises only for impossible sizes or proof requests,
 * which the verifier does not make), so such a report is printed as an
 * internal error; palloc running out of memory is printed as such.  There
 * is no PG_TRY() in the verifier.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "tv_util.h"

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

/*
 * The stand-in's hook (standin.h) for a report nothing catches: every one
 * ends the program with exit status 2.
 */
void
tv_uncaught_error(const char *what, const ErrorData *edata)
{
	if (edata == NULL)
		tv_fatal("internal error: %s", what);
	if (edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
		tv_fatal("out of memory%s%s",
				 edata->detail ? ": " : "",
				 edata->detail ? edata->detail : "");
	tv_fatal("internal error at %s:%d: %s%s%s",
			 edata->filename ? edata->filename : "?", edata->lineno,
			 edata->message ? edata->message : "(no message)",
			 edata->detail ? ": " : "",
			 edata->detail ? edata->detail : "");
}

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

char *
tv_strdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *p = tv_malloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}
