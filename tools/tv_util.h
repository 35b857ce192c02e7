/*-------------------------------------------------------------------------
 *
 * tv_util.h
 *	  Exit statuses, fatal errors and malloc shared by tracelink-verify's
 *	  files (the backend stand-in is src/standin/).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TV_UTIL_H
#define TV_UTIL_H

/* exit statuses of tracelink-verify */
#define TV_EXIT_OK			0	/* every export verified */
#define TV_EXIT_FAILED		1	/* some export does not verify */
#define TV_EXIT_TROUBLE		2	/* usage, I/O or malformed input: could not
								 * verify */

extern void tv_fatal(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();
extern void *tv_malloc(size_t size);
extern void *tv_realloc(void *pointer, size_t size);
extern char *tv_strdup(const char *s);
extern void tv_uncaught_error(const char *what, const ErrorData *edata) pg_attribute_noreturn();

#endif							/* TV_UTIL_H */
