/*-------------------------------------------------------------------------
 *
 * peer_fetch.c
 *	  Asking a peer directly, over the connection this node's subscription
 *	  to it uses: the connection itself (for blob.c's fetch_blob()),
 *	  tracelink.resend(), which fetches the blocks of a chain this node is
 *	  missing from a peer that holds them, and tracelink.catch_up(), which
 *	  fetches the entries of blocks it holds that it became entitled to
 *	  later (trace records made before it joined a link's business group).
 *
 * A peer answers only its peers' logins (tracelink._serve_chain(),
 * tracelink._serve_entitled(), tracelink._serve_blob()), with what the
 * asking node is entitled to (tracelink._entitled(), inbox.c's rule).
 * Nothing fetched is trusted: it goes through ingest(), the replication
 * apply path, which verifies every block against its origin's key and
 * chain and every entry against its block, so any peer may relay any
 * origin's chain.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(tl_resend);
PG_FUNCTION_INFO_V1(tl_catch_up);
PG_FUNCTION_INFO_V1(tl_recover_own_chain);

/* lines handed to one ingest() call: about this many bytes */
#define TL_RESEND_BATCH_BYTES	(1024 * 1024)

/*
 * The connection string of this node's subscription to peer, or NULL.  In
 * SPI, as a role that may read pg_subscription.subconninfo (the extension's
 * owner); allocated in cxt.
 */
char *
tl_peer_conninfo(const char *peer, MemoryContext cxt)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(peer)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT s.subconninfo FROM pg_catalog.pg_subscription s"
							  " WHERE s.subname = tracelink.peer_subscription_name($1)"
							  " AND s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d"
							  "                   WHERE d.datname = pg_catalog.current_database())",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_subscription");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/*
 * Connect to a peer with its subscription's connection string.  When the
 * peer cannot be reached: an error if named (the caller asked for this
 * peer), else a notice and NULL (the caller tries another).
 */
PGconn *
tl_peer_connect(const char *peer, const char *conninfo, const char *purpose, bool named)
{
	/* the subscription's string, expanded last, overrides these defaults */
	const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *const vals[] = {"10", purpose, conninfo, NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *msg = pstrdup(PQerrorMessage(conn));

		PQfinish(conn);
		ereport(named ? ERROR : NOTICE,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not connect to peer \"%s\": %s", peer, msg)));
		return NULL;
	}
	return conn;
}

/*
 * The last block of origin's chain this node holds (this transaction's
 * own writes included), or -1.
 */
static int64
head_block(const char *origin)
{
	Relation	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
	TlHead		head;
	bool		have = tl_read_head(heads, SnapshotSelf, origin, &head);

	table_close(heads, AccessShareLock);
	return have ? head.block_no : -1;
}

/* ingest() the lines gathered so far, adding up what it reports */
static void
ingest_batch(StringInfo lines, int64 *ingested, int64 *quarantined)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	if (lines->len == 0)
		return;
	values[0] = CStringGetTextDatum(lines->data);
	if (SPI_execute_with_args("SELECT i.lines, i.quarantined FROM tracelink.ingest($1) i",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not ingest the lines a peer sent");
	*ingested += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*quarantined += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	pfree(DatumGetPointer(values[0]));
	resetStringInfo(lines);
}

/*
 * Send query (its parameters: params) to the peer and ingest the lines it
 * returns in batches of whole lines, one row at a time from the peer: a
 * block's entries may span batches, and wait for their block as replicated
 * rows do (in memory, then in the inbox: apply.c), so memory stays bounded.
 * With skip_held, entry lines whose entry this node holds already are left
 * out (a catch-up asked for twice).  what names the request in errors.
 */
static void
fetch_and_ingest(PGconn *conn, const char *peer, const char *origin, const char *what,
				 const char *query, int nparams, const char *const *params, bool skip_held,
				 int64 *ingested, int64 *quarantined)
{
	StringInfoData lines;
	PGresult   *res;

	if (!PQsendQueryParams(conn, query, nparams, NULL, params, NULL, NULL, 0) ||
		!PQsetSingleRowMode(conn))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not ask peer \"%s\" for a %s: %s", peer, what, PQerrorMessage(conn))));
	initStringInfo(&lines);
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType status = PQresultStatus(res);

		if (status == PGRES_SINGLE_TUPLE)
		{
			const char *line = PQgetvalue(res, 0, 0);
			int			len = PQgetlength(res, 0, 0);
			uint8		hash[TL_HASH_LEN];

			/* an entry line is its entry's preimage: its hash is the line's */
			if (skip_held)
				tl_sha256(line, len, hash);
			if (!skip_held || !tl_entry_exists(hash))
			{
				appendBinaryStringInfo(&lines, line, len);
				appendStringInfoChar(&lines, '\n');
				if (lines.len >= TL_RESEND_BATCH_BYTES)
					ingest_batch(&lines, ingested, quarantined);
			}
		}
		else if (status != PGRES_TUPLES_OK)
		{
			char	   *msg = pstrdup(PQresultErrorMessage(res));

			PQclear(res);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("peer \"%s\" did not answer the %s of chain \"%s\": %s",
							peer, what, origin, msg)));
		}
		PQclear(res);
	}
	ingest_batch(&lines, ingested, quarantined);
	pfree(lines.data);
}

/*
 * Fetch origin's chain from from_block on (up to to_block, if not negative)
 * from the peer, and ingest it.
 */
static void
resend_from(PGconn *conn, const char *peer, const char *origin, int64 from_block,
			int64 to_block, int64 *ingested, int64 *quarantined)
{
	char		from_buf[32];
	char		to_buf[32];
	const char *params[3] = {origin, from_buf, to_block >= 0 ? to_buf : NULL};

	snprintf(from_buf, sizeof(from_buf), INT64_FORMAT, from_block);
	snprintf(to_buf, sizeof(to_buf), INT64_FORMAT, to_block);
	fetch_and_ingest(conn, peer, origin, "re-send",
					 "SELECT c.line FROM tracelink._serve_chain($1, $2, $3) AS c(line)",
					 3, params, false, ingested, quarantined);
}

/*
 * tracelink.resend(peer text, origin text DEFAULT NULL) returns
 * tracelink.ingestion
 *
 * Asks peer for the blocks of origin's chain (default: the peer's own)
 * after the last one this node holds, up to the first one parked here
 * waiting for its predecessor (if any), with their entries this node is
 * entitled to, and applies them as ingest() does: for a gap that
 * replication will not fill (a subscription re-created after rows were
 * lost, a peer's restore).  Any peer may relay another origin's chain.  This node's own
 * chain is not fetched back.
 */
Datum
tl_resend(PG_FUNCTION_ARGS)
{
	char	   *peer;
	char	   *origin;
	char	   *me = tl_local_node();
	MemoryContext caller = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec_context;
	int			spi_nest;
	char	   *conninfo;
	PGconn	   *volatile conn;
	int64		from_block = 0;
	int64		to_block = -1;
	int64		ingested = 0;
	int64		quarantined = 0;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a peer is required")));
	peer = text_to_cstring(PG_GETARG_TEXT_PP(0));
	origin = PG_ARGISNULL(1) ? peer : text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (me == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));
	if (strcmp(origin, me) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this node's own chain cannot be fetched back from a peer"),
				 errhint("See docs/operations.md, \"Restoring a node from pg_dump\".")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	/* the subscription's connection string is the owner's to read */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	spi_nest = tl_spi_connect();
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(peer)};
		bool		isnull;
		Datum		d;

		if (SPI_execute_with_args("SELECT 1 FROM tracelink.nodes n WHERE n.name = $1 AND NOT n.is_local",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read tracelink.nodes");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unknown peer \"%s\"", peer)));
		args[0] = CStringGetTextDatum(origin);
		from_block = head_block(origin) + 1;
		/* up to the first block parked here: those after it are held */
		if (SPI_execute_with_args("SELECT pg_catalog.min(b.block_no) - 1 FROM tracelink.inbox_blocks b WHERE b.origin = $1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read tracelink.inbox_blocks");
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			to_block = DatumGetInt64(d);
	}
	conninfo = tl_peer_conninfo(peer, caller);
	tl_spi_finish(spi_nest);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (conninfo == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("this node has no subscription to peer \"%s\"", peer)));

	/* what comes in is applied as the caller, as ingest() would be */
	conn = tl_peer_connect(peer, conninfo, "tracelink resend", true);
	spi_nest = tl_spi_connect();
	PG_TRY();
	{
		if (to_block < 0 || to_block >= from_block)
			resend_from(conn, peer, origin, from_block, to_block, &ingested, &quarantined);
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(conn);
	tl_spi_finish(spi_nest);

	values[0] = Int64GetDatum(ingested);
	values[1] = Int64GetDatum(quarantined);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The first block of origin's chain that this node lacks or lacks entries
 * of: where a fetch of its own chain starts.  In SPI.
 */
static int64
first_incomplete_block(const char *origin)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(origin)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT pg_catalog.min(b.block_no) FROM tracelink.ledger_blocks b"
							  "  LEFT JOIN (SELECT e.tx, pg_catalog.count(*) AS n FROM tracelink.ledger_entries e"
							  "              WHERE e.origin OPERATOR(pg_catalog.=) $1 GROUP BY e.tx) e"
							  "    ON e.tx OPERATOR(pg_catalog.=) b.tx"
							  " WHERE b.origin OPERATOR(pg_catalog.=) $1"
							  "   AND COALESCE(e.n, 0) OPERATOR(pg_catalog.<) b.entry_count",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for incomplete blocks");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? head_block(origin) + 1 : DatumGetInt64(d);
}

/* receive this node's own chain from a peer, from from_block on */
static void
recover_from(PGconn *conn, const char *peer, const char *me, int64 from_block,
			 int64 *ingested, int64 *quarantined)
{
	int			spi_nest = tl_spi_connect();

	PG_TRY();
	{
		tl_apply_recover_own(true);
		resend_from(conn, peer, me, from_block, -1, ingested, quarantined);
		tl_apply_recover_own(false);
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(conn);
	tl_spi_finish(spi_nest);
}

/*
 * tracelink.recover_own_chain() returns table (peer text, from_block
 * bigint, lines bigint, quarantined bigint, head bigint)
 *
 * A node restored from a backup older than its last blocks: its peers hold
 * blocks of its chain it no longer has, and its next block would fork the
 * chain.  Ask each peer, in name order, for this node's chain from the
 * first block it lacks (or lacks entries of: each peer holds the entries
 * addressed to it, so entries meant for a few come from those few) and
 * receive it as a peer's chain is received: every block verified against
 * the node's pinned genesis key and its chain, every entry against its
 * block.  Only while the node is held (restore.c): it signs nothing then,
 * so nothing it signs races what comes back.  The transaction-number
 * sequence is moved past the recovered blocks: peers refuse a second block
 * sealing one transaction.
 */
Datum
tl_recover_own_chain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *me = tl_local_node();
	List	   *peers = NIL;
	List	   *conninfos = NIL;
	ListCell   *lp;
	ListCell   *lc;
	int			spi_nest;
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext caller = CurrentMemoryContext;

	if (me == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));
	if (tl_restore_hold_reason() == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" is not held after a restore", me),
				 errdetail("A node fetches its own chain back from its peers only between a restore and tracelink.finish_restore(), while it signs nothing.")));
	tl_require_apply_lock_first("tracelink.recover_own_chain()");
	InitMaterializedSRF(fcinfo, 0);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	spi_nest = tl_spi_connect();
	if (SPI_execute("SELECT c.name, c.conninfo FROM tracelink.peer_connections c ORDER BY c.name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read tracelink.peer_connections");
	{
		MemoryContext old = MemoryContextSwitchTo(caller);
		uint64		i;

		for (i = 0; i < SPI_processed; i++)
		{
			peers = lappend(peers, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
			conninfos = lappend(conninfos, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		}
		MemoryContextSwitchTo(old);
	}
	tl_spi_finish(spi_nest);

	forboth(lp, peers, lc, conninfos)
	{
		const char *peer = lfirst(lp);
		const char *conninfo = lfirst(lc);
		PGconn	   *conn;
		int64		from_block;
		int64		ingested = 0;
		int64		quarantined = 0;
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		spi_nest = tl_spi_connect();
		from_block = first_incomplete_block(me);
		tl_spi_finish(spi_nest);
		conn = conninfo ? tl_peer_connect(peer, conninfo, "tracelink recover", false) : NULL;
		if (conn != NULL)
			recover_from(conn, peer, me, from_block, &ingested, &quarantined);
		spi_nest = tl_spi_connect();
		values[0] = CStringGetTextDatum(peer);
		values[1] = Int64GetDatum(from_block);
		values[2] = Int64GetDatum(ingested);
		nulls[2] = conn == NULL;
		values[3] = Int64GetDatum(quarantined);
		nulls[3] = conn == NULL;
		values[4] = Int64GetDatum(head_block(me));
		tl_spi_finish(spi_nest);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	/* this node's next block seals a transaction number none has */
	spi_nest = tl_spi_connect();
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(me)};

		if (SPI_execute_with_args("SELECT pg_catalog.setval('tracelink.ledger_tx_seq', m.tx)"
								  "  FROM (SELECT pg_catalog.max(b.tx) AS tx FROM tracelink.ledger_blocks b"
								  "         WHERE b.origin OPERATOR(pg_catalog.=) $1) m,"
								  "       tracelink.ledger_tx_seq s"
								  " WHERE m.tx OPERATOR(pg_catalog.>) s.last_value",
								  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not move the transaction-number sequence");
	}
	tl_spi_finish(spi_nest);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return (Datum) 0;
}

/* an origin this node holds blocks of, and its last block here */
typedef struct HeldChain
{
	char	   *origin;
	int64		head;
} HeldChain;

/*
 * tracelink.catch_up(peer text) returns tracelink.ingestion
 *
 * Asks peer, for every other origin's chain this node holds, for the
 * entries of the blocks held here that this node is entitled to now but
 * that were not addressed to it (trace records made before it joined
 * their link's business group: tracelink._serve_entitled()), leaves out
 * those it holds already, and applies the rest as ingest() does, each
 * verified against its block.  Run after a link version naming this node
 * has taken effect here and on the peer.
 */
Datum
tl_catch_up(PG_FUNCTION_ARGS)
{
	char	   *peer;
	char	   *me = tl_local_node();
	MemoryContext caller = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec_context;
	int			spi_nest;
	char	   *conninfo;
	PGconn	   *volatile conn;
	List	   *chains = NIL;
	ListCell   *lc;
	int64		ingested = 0;
	int64		quarantined = 0;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a peer is required")));
	peer = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (me == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	/* the subscription's connection string is the owner's to read */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	spi_nest = tl_spi_connect();
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1] = {CStringGetTextDatum(peer)};
		uint64		i;

		if (SPI_execute_with_args("SELECT 1 FROM tracelink.nodes n WHERE n.name = $1 AND NOT n.is_local",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read tracelink.nodes");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unknown peer \"%s\"", peer)));
		args[0] = CStringGetTextDatum(me);
		if (SPI_execute_with_args("SELECT h.origin, h.block_no FROM tracelink.ledger_heads h"
								  " WHERE h.origin <> $1 ORDER BY h.origin",
								  1, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read tracelink.ledger_heads");
		for (i = 0; i < SPI_processed; i++)
		{
			MemoryContext old = MemoryContextSwitchTo(caller);
			HeldChain  *c = palloc(sizeof(HeldChain));
			bool		isnull;

			c->origin = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			c->head = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2,
												  &isnull));
			chains = lappend(chains, c);
			MemoryContextSwitchTo(old);
		}
	}
	conninfo = tl_peer_conninfo(peer, caller);
	tl_spi_finish(spi_nest);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (conninfo == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("this node has no subscription to peer \"%s\"", peer)));

	/* what comes in is applied as the caller, as ingest() would be */
	conn = tl_peer_connect(peer, conninfo, "tracelink catch-up", true);
	spi_nest = tl_spi_connect();
	PG_TRY();
	{
		foreach(lc, chains)
		{
			HeldChain  *c = lfirst(lc);
			char		to_buf[32];
			const char *params[2] = {c->origin, to_buf};

			snprintf(to_buf, sizeof(to_buf), INT64_FORMAT, c->head);
			fetch_and_ingest(conn, peer, c->origin, "catch-up",
							 "SELECT c.line FROM tracelink._serve_entitled($1, $2) AS c(line)",
							 2, params, true, &ingested, &quarantined);
		}
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(conn);
	tl_spi_finish(spi_nest);

	values[0] = Int64GetDatum(ingested);
	values[1] = Int64GetDatum(quarantined);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
