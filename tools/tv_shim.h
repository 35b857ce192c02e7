/*-------------------------------------------------------------------------
 *
 * tv_shim.h
 *	  Exit statuses and memory helpers shared by tracelink-verify's files
 *	  (tv_shim.c also stands in for the backend services src/merkle.c uses).
 *
 *-------------------------------------------------------------------------
 */
#ifndef TV_SHIM_H
#define TV_SHIM_H

/* exit statuses of tracelink-verify */
#define TV_EXIT_OK			0	/* every export verified */
#define TV_EXIT_FAILED		1	/* some export does not verify */
#define TV_EXIT_TROUBLE		2	/* usage, I/O or malformed input: could not
								 * verify */

extern void tv_fatal(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();
extern void *tv_malloc(size_t size);
extern void *tv_realloc(void *pointer, size_t size);

#endif							/* TV_SHIM_H */
