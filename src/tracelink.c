/*-------------------------------------------------------------------------
 *
 * tracelink.c
 *	  Module entry point: _PG_init only asks each part to initialise itself.
 *
 * The extension needs no shared_preload_libraries entry: everything it
 * registers (GUCs, transaction callbacks) is per backend.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	tl_util_init();
	tl_crypto_init();
	tl_keys_init();
	tl_ledger_init();
	tl_apply_init();
	tl_vote_init();
	tl_trace_init();
	tl_witness_init();
	MarkGUCPrefixReserved("tracelink");
}
