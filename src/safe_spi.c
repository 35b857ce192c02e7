/*-------------------------------------------------------------------------
 *
 * safe_spi.c
 *	  Running SQL from C with a search_path nobody else controls.
 *
 * tracelink's C code runs SQL on behalf of members (append, record, trace,
 * proofs), of the replication apply worker, and as the extension's owner
 * (projectors).  Every name in that SQL is either schema-qualified or a
 * pg_catalog builtin; operators (=, ->>, ...) and type names are resolved
 * through search_path.  If the caller's search_path were in force, a member
 * who can create objects in any schema could put a schema of theirs first
 * and have its "=" or "cardinality()" run inside tracelink, as the owner.
 *
 * So every SPI session tracelink opens goes through tl_spi_connect(), which
 * pins search_path to "pg_catalog, pg_temp" (pg_temp is never searched for
 * functions or operators) for the duration, and tl_spi_finish(), which puts
 * the caller's back.  The pin is a GUC nest level, as a function's own
 * "SET search_path" clause is: an error unwinds it with the (sub)transaction.
 * When search_path already is the pinned value (nested calls, SQL functions
 * declared with the same SET clause) nothing is pushed, so inner pins cost a
 * string comparison.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "utils/guc.h"

#define TL_PINNED_SEARCH_PATH "pg_catalog, pg_temp"

/*
 * Pin search_path for what follows; returns the GUC nest level to give to
 * tl_unpin_search_path(), or 0 when the path was already pinned.
 */
int
tl_pin_search_path(void)
{
	int			nest_level;

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, TL_PINNED_SEARCH_PATH) == 0)
		return 0;
	nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", TL_PINNED_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest_level;
}

/*
 * Restore the search_path a matching tl_pin_search_path() replaced.
 */
void
tl_unpin_search_path(int nest_level)
{
	if (nest_level > 0)
		AtEOXact_GUC(true, nest_level);
}

/*
 * SPI_connect() with search_path pinned; returns what tl_spi_finish() needs.
 */
int
tl_spi_connect(void)
{
	int			nest_level = tl_pin_search_path();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return nest_level;
}

/*
 * SPI_finish(), then the caller's search_path again.
 */
void
tl_spi_finish(int nest_level)
{
	SPI_finish();
	tl_unpin_search_path(nest_level);
}

/*
 * A statement planned once per backend and kept (SPI_keepplan), for the
 * hot paths (recording a record, applying a block) that would otherwise
 * spend much of their time planning the same few lookups.  PostgreSQL's
 * plan cache replans it when a table it uses changes or is dropped and
 * made again (DROP and CREATE EXTENSION), and when search_path differs from
 * the one it was planned under: run it inside tl_spi_connect(), pinned.
 */
SPIPlanPtr
tl_spi_plan(SPIPlanPtr *plan, const char *query, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(query, nargs, types);

		if (p == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", query, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "could not keep the plan of \"%s\"", query);
		*plan = p;
	}
	return *plan;
}
