/*-------------------------------------------------------------------------
 *
 * vote.c
 *	  Votes on link versions: thresholds, the ballot tally, closing early.
 *
 * A proposal fixes its eligible voters, rule and threshold when it is made.
 * Each ballot is tallied as it takes effect, in O(1): the proposal row is
 * locked, the ballot inserted (the first ballot of a voter counts; a voter's
 * ballots reach every node in the order of the voter's chain, so "first" is
 * the same everywhere), and the counters moved.  The proposal passes as soon
 * as approvals reach the threshold and fails as soon as they no longer can;
 * both are final, so the outcome depends only on the set of ballots.
 * Ballots cast after the decision are still recorded (they change nothing),
 * so that every node ends with the same ballots whatever the arrival order.
 *
 * Closing early: the creator's close names, as its dependencies, the ballots
 * it has seen; the vote is decided on exactly those, missing ballots
 * counting as rejections.  A ballot the creator had not seen is late, on
 * every node: refused if it comes after the close, withdrawn if it came
 * before (and a decision it caused is undone: the close overrules it).
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(tl_vote_threshold);
PG_FUNCTION_INFO_V1(tl_append_action);

static char *default_voting_rule = NULL;

void
tl_vote_init(void)
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
 * Thresholds
 * ----------------------------------------------------------------
 */

static int
rule_integer(JcsValue *rule, const char *key)
{
	JcsValue   *v = jcs_object_get(rule, key);

	if (v == NULL || v->kind != JCS_NUMBER || v->u.number != floor(v->u.number) ||
		v->u.number < 1 || v->u.number > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_TL_BAD_VOTING_RULE),
				 errmsg("voting rule needs a positive integer \"%s\"", key)));
	return (int) v->u.number;
}

/*
 * Refuse a member of the rule object that the rule does not take, as link
 * validation does (TL012), so that no rule means one thing here and is
 * refused there.
 */
static void
refuse_other_parameters(JcsValue *rule, const char *r,
						const char *const *takes, int ntakes)
{
	int			i;
	int			j;

	for (i = 0; i < rule->u.object.count; i++)
	{
		const JcsMember *m = &rule->u.object.members[i];
		bool		taken = m->keylen == 4 && memcmp(m->key, "rule", 4) == 0;

		for (j = 0; j < ntakes && !taken; j++)
			taken = m->keylen == strlen(takes[j]) &&
				memcmp(m->key, takes[j], m->keylen) == 0;
		if (!taken)
			ereport(ERROR,
					(errcode(ERRCODE_TL_BAD_VOTING_RULE),
					 errmsg("voting rule \"%s\" takes no parameter \"%s\"",
							r, pnstrdup(m->key, m->keylen))));
	}
}

/*
 * Approvals a rule needs among n voters.
 */
int
tl_threshold(JcsValue *rule, int n)
{
	static const char *const fraction_takes[] = {"numerator", "denominator"};
	static const char *const k_of_n_takes[] = {"k"};
	JcsValue   *name = jcs_object_get(rule, "rule");
	const char *r;

	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_TL_BAD_VOTING_RULE),
				 errmsg("a vote needs at least one voter")));
	if (name == NULL || name->kind != JCS_STRING)
		ereport(ERROR,
				(errcode(ERRCODE_TL_BAD_VOTING_RULE),
				 errmsg("voting rule must be an object with a \"rule\" name"),
				 errhint("Rules: unanimous, majority, fraction (numerator, denominator), k_of_n (k).")));
	r = name->u.string.str;
	if (strcmp(r, "fraction") == 0)
		refuse_other_parameters(rule, r, fraction_takes,
								lengthof(fraction_takes));
	else if (strcmp(r, "k_of_n") == 0)
		refuse_other_parameters(rule, r, k_of_n_takes,
								lengthof(k_of_n_takes));
	else if (strcmp(r, "unanimous") == 0 || strcmp(r, "majority") == 0)
		refuse_other_parameters(rule, r, NULL, 0);
	if (strcmp(r, "unanimous") == 0)
		return n;
	if (strcmp(r, "majority") == 0)
		return n / 2 + 1;
	if (strcmp(r, "fraction") == 0)
	{
		int64		num = rule_integer(rule, "numerator");
		int64		den = rule_integer(rule, "denominator");

		if (num > den)
			ereport(ERROR,
					(errcode(ERRCODE_TL_BAD_VOTING_RULE),
					 errmsg("a fraction rule needs numerator <= denominator")));
		/* at least num/den of the voters, rounded up */
		return (int) Max(1, (n * num + den - 1) / den);
	}
	if (strcmp(r, "k_of_n") == 0)
	{
		int			k = rule_integer(rule, "k");

		if (k > n)
			ereport(ERROR,
					(errcode(ERRCODE_TL_BAD_VOTING_RULE),
					 errmsg_plural("a k_of_n rule with k = %d cannot be met by %d voter",
								   "a k_of_n rule with k = %d cannot be met by %d voters",
								   n, k, n)));
		return k;
	}
	ereport(ERROR,
			(errcode(ERRCODE_TL_BAD_VOTING_RULE),
			 errmsg("unknown voting rule \"%s\"", r),
			 errhint("Rules: unanimous, majority, fraction (numerator, denominator), k_of_n (k).")));
	return 0;					/* keep compiler quiet */
}

/*
 * tracelink.vote_threshold(rule jsonb, voters integer) returns integer
 */
Datum
tl_vote_threshold(PG_FUNCTION_ARGS)
{
	JcsValue   *rule = jcs_from_jsonb(PG_GETARG_JSONB_P(0));

	PG_RETURN_INT32(tl_threshold(rule, PG_GETARG_INT32(1)));
}

/* ----------------------------------------------------------------
 * Ballots
 * ----------------------------------------------------------------
 */

/*
 * The proposal a ballot or close names, which it must list among its
 * dependencies: that keeps every node from judging it before the proposal
 * has taken effect there.
 */
static Datum
payload_proposal(const TlEntry *e, JcsValue *payload)
{
	JcsValue   *p = jcs_object_get(payload, "proposal");
	Datum		hex;

	if (p == NULL || p->kind != JCS_STRING || p->u.string.len != 2 * TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a ballot names its proposal by its 32-byte hash")));
	hex = CStringGetTextDatum(p->u.string.str);
	{
		bytea	   *proposal = DatumGetByteaPP(DirectFunctionCall2(binary_decode, hex,
																	CStringGetTextDatum("hex")));
		int			i;

		for (i = 0; i < e->ndeps; i++)
			if (memcmp(e->deps + i * TL_HASH_LEN, VARDATA_ANY(proposal), TL_HASH_LEN) == 0)
				return PointerGetDatum(proposal);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("a ballot or close must depend on the proposal it names")));
	return (Datum) 0;			/* keep compiler quiet */
}

typedef struct ProposalState
{
	char	   *link_name;
	char	   *creator;
	char	   *status;
	int			nvoters;
	int			threshold;
	int			approvals;
	int			rejections;
	bool		closed;
	bool		voter_eligible;
} ProposalState;

/*
 * Lock a proposal and read its tally; `voter` (may be NULL) is checked for
 * eligibility.
 */
static void
lock_proposal(Datum proposal, const char *voter, ProposalState *st)
{
	Oid			types[2] = {BYTEAOID, TEXTOID};
	Datum		args[2];
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;

	args[0] = proposal;
	args[1] = CStringGetTextDatum(voter ? voter : "");
	if (SPI_execute_with_args("SELECT l.name, l.creator, p.status, pg_catalog.cardinality(p.voters), p.threshold,"
							  "       p.approvals, p.rejections, p.close_entry IS NOT NULL,"
							  "       $2 = ANY (p.voters)"
							  "  FROM tracelink.proposals p JOIN tracelink.trace_links l USING (link_id)"
							  " WHERE p.proposal_id = $1 FOR UPDATE OF p",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read a proposal");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown proposal")));
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	st->link_name = SPI_getvalue(t, d, 1);
	st->creator = SPI_getvalue(t, d, 2);
	st->status = SPI_getvalue(t, d, 3);
	st->nvoters = DatumGetInt32(SPI_getbinval(t, d, 4, &isnull));
	st->threshold = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
	st->approvals = DatumGetInt32(SPI_getbinval(t, d, 6, &isnull));
	st->rejections = DatumGetInt32(SPI_getbinval(t, d, 7, &isnull));
	st->closed = DatumGetBool(SPI_getbinval(t, d, 8, &isnull));
	st->voter_eligible = DatumGetBool(SPI_getbinval(t, d, 9, &isnull));
}

static void
decide(Datum proposal, bool passed)
{
	Oid			types[2] = {BYTEAOID, BOOLOID};
	Datum		args[2];

	args[0] = proposal;
	args[1] = BoolGetDatum(passed);
	if (SPI_execute_with_args("SELECT tracelink._decide($1, $2)", 2, types, args, NULL,
							  false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not record the outcome of a vote");
}

/*
 * The projector of tl.link.ballot.
 */
void
tl_project_ballot(const TlEntry *e, bool local)
{
	int			spi_nest;
	JcsValue   *payload = jcs_parse(e->payload, e->payload_len);
	JcsValue   *approve_v = jcs_object_get(payload, "approve");
	JcsValue   *reason_v = jcs_object_get(payload, "reason");
	Datum		proposal = payload_proposal(e, payload);
	bool		approve;
	ProposalState st;
	Oid			types[5] = {BYTEAOID, TEXTOID, BOOLOID, TEXTOID, BYTEAOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (approve_v == NULL || (approve_v->kind != JCS_TRUE && approve_v->kind != JCS_FALSE))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a ballot must approve (true) or reject (false)")));
	approve = approve_v->kind == JCS_TRUE;

	spi_nest = tl_spi_connect();
	lock_proposal(proposal, e->origin, &st);
	if (!st.voter_eligible)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("node \"%s\" is not an eligible voter on this proposal for link \"%s\"",
						e->origin, st.link_name)));
	if (st.closed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the vote on this proposal for link \"%s\" was closed", st.link_name)));
	if (local && strcmp(st.status, "open") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the vote on this proposal for link \"%s\" is already decided (%s)",
						st.link_name, st.status)));

	args[0] = proposal;
	args[1] = CStringGetTextDatum(e->origin);
	args[2] = BoolGetDatum(approve);
	if (reason_v != NULL && reason_v->kind == JCS_STRING)
		args[3] = CStringGetTextDatum(reason_v->u.string.str);
	else
		nulls[3] = 'n';
	args[4] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));
	if (SPI_execute_with_args("INSERT INTO tracelink.ballots (proposal_id, voter, approve, reason, entry_hash)"
							  " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
							  5, types, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a ballot");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("node \"%s\" already voted on this proposal for link \"%s\"",
						e->origin, st.link_name),
				 errdetail("Only a voter's first ballot counts.")));

	if (approve)
		st.approvals++;
	else
		st.rejections++;
	if (SPI_execute_with_args("UPDATE tracelink.proposals SET approvals = approvals + $2::int,"
							  " rejections = rejections + 1 - $2::int WHERE proposal_id = $1",
							  2, (Oid[]) {BYTEAOID, BOOLOID},
							  (Datum[]) {proposal, BoolGetDatum(approve)},
							  NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not tally a ballot");

	/* decided as soon as it is certain, and only once */
	if (strcmp(st.status, "open") == 0)
	{
		if (st.approvals >= st.threshold)
			decide(proposal, true);
		else if (st.approvals + (st.nvoters - st.approvals - st.rejections) < st.threshold)
			decide(proposal, false);
	}
	tl_spi_finish(spi_nest);
}

/*
 * The projector of tl.link.close_vote.
 */
void
tl_project_close_vote(const TlEntry *e, bool local)
{
	int			spi_nest;
	JcsValue   *payload = jcs_parse(e->payload, e->payload_len);
	Datum		proposal = payload_proposal(e, payload);
	ProposalState st;
	Oid			types[3] = {BYTEAOID, BYTEAARRAYOID, BYTEAOID};
	Datum		args[3];
	Datum	   *deps = palloc(sizeof(Datum) * Max(e->ndeps, 1));
	int			i;
	bool		isnull;
	int			approvals;
	int			rejections;

	spi_nest = tl_spi_connect();
	lock_proposal(proposal, NULL, &st);
	if (strcmp(e->origin, st.creator) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the creator of link \"%s\" (%s) can close its vote",
						st.link_name, st.creator)));
	if (st.closed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the vote on this proposal for link \"%s\" is already closed", st.link_name)));
	if (local && strcmp(st.status, "open") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the vote on this proposal for link \"%s\" is already decided (%s)",
						st.link_name, st.status)));

	for (i = 0; i < e->ndeps; i++)
		deps[i] = PointerGetDatum(tl_bytea_from(e->deps + i * TL_HASH_LEN, TL_HASH_LEN));
	args[0] = proposal;
	args[1] = PointerGetDatum(construct_array(deps, e->ndeps, BYTEAOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(tl_bytea_from(e->hash, TL_HASH_LEN));

	/* a decision taken on ballots the creator had not seen is overruled */
	if (strcmp(st.status, "open") != 0)
	{
		if (SPI_execute_with_args("SELECT tracelink._undecide($1)", 1, types, args, NULL,
								  false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not reopen a vote");
	}
	/* ballots the creator had not seen are late: withdrawn */
	if (SPI_execute_with_args("WITH late AS (DELETE FROM tracelink.ballots b"
							  "               WHERE b.proposal_id = $1 AND NOT b.entry_hash = ANY ($2)"
							  "              RETURNING b.*)"
							  " INSERT INTO tracelink.quarantine (what, origin, entry_hash, reason, row_data)"
							  " SELECT 'effect', voter, entry_hash,"
							  "        'ballot arrived after the creator closed the vote', pg_catalog.to_jsonb(late)"
							  "   FROM late",
							  2, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not withdraw late ballots");
	if (SPI_execute_with_args("UPDATE tracelink.proposals p"
							  "   SET approvals = (SELECT pg_catalog.count(*) FILTER (WHERE approve) FROM tracelink.ballots b"
							  "                     WHERE b.proposal_id = p.proposal_id),"
							  "       rejections = (SELECT pg_catalog.count(*) FILTER (WHERE NOT approve) FROM tracelink.ballots b"
							  "                     WHERE b.proposal_id = p.proposal_id),"
							  "       close_entry = $3"
							  " WHERE p.proposal_id = $1 RETURNING approvals, rejections",
							  3, types, args, NULL, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not close a vote");
	approvals = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	rejections = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	(void) rejections;
	/* missing ballots count as rejections */
	decide(proposal, approvals >= st.threshold);
	tl_spi_finish(spi_nest);
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
