/*-------------------------------------------------------------------------
 *
 * workflow.c
 *	  The C side of the consortium workflow: appending workflow entries and
 *	  the default voting rule.
 *
 * The workflow's rules are SQL: the API functions, projectors and every
 * vote rule (eligibility, thresholds, the ballot tally, closing early,
 * decisions) are in sqlsrc/60_workflow.sql and sqlsrc/65_votes.sql, run by
 * project.c.  What is here is what SQL cannot do: append an entry of a
 * reserved kind (tl.link.*, tl.process.*) to this node's chain, and the
 * tracelink.default_voting_rule setting.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(tl_append_action);

static char *default_voting_rule = NULL;

void
tl_workflow_init(void)
{
	DefineCustomStringVariable("tracelink.default_voting_rule",
							   gettext_noop("Voting rule of links requested without one."),
							   gettext_noop("A JSON rule: {\"rule\": \"unanimous\"}, {\"rule\": \"majority\"}, "
											"{\"rule\": \"fraction\", \"numerator\": 2, \"denominator\": 3} "
											"or {\"rule\": \"k_of_n\", \"k\": 3}."),
							   &default_voting_rule,
							   "{\"rule\": \"unanimous\"}",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Appending workflow actions
 * ----------------------------------------------------------------
 */

/*
 * tracelink._append_action(kind text, payload jsonb, deps bytea[]) returns bytea
 *
 * Appends a workflow entry; its projector (run at once) decides whether it
 * is allowed, so this is safe to grant to members: it can only record what
 * the rules accept.
 */
Datum
tl_append_action(PG_FUNCTION_ARGS)
{
	char	   *kind;
	StringInfoData canon;
	uint8	   *deps = NULL;
	int			ndeps = 0;
	uint8		hash[TL_HASH_LEN];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind and payload of a ledger entry must not be null")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strncmp(kind, "tl.link.", 8) != 0 && strncmp(kind, "tl.process.", 11) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a workflow entry kind", kind)));
	if (!PG_ARGISNULL(2))
		ndeps = tl_hash_array(PG_GETARG_ARRAYTYPE_P(2), "deps", &deps);
	initStringInfo(&canon);
	jcs_serialize_jsonb(&canon, PG_GETARG_JSONB_P(1));
	tl_ledger_append(tl_require_local_node(), kind, canon.data, canon.len,
					 deps, ndeps, NULL, 0, hash);
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}
