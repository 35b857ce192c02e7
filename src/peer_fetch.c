/*-------------------------------------------------------------------------
 *
 * peer_fetch.c
 *	  Asking a peer directly, over the connection this node's subscription
 *	  to it uses: the connection itself (for blob.c's fetch_blob()) and
 *	  tracelink.resend(), which fetches the blocks of a chain this node is
 *	  missing from a peer that holds them.
 *
 * A peer answers only its peers' logins (tracelink._serve_chain(),
 * tracelink._serve_blob()), with what the asking node is entitled to:
 * entries addressed to it.  Nothing fetched is trusted: it goes through
 * ingest(), the replication apply path, which verifies every block against
 * its origin's key and chain, so any peer may relay any origin's chain.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(tl_resend);

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
 * Fetch origin's chain from from_block on from the peer, and ingest it in
 * batches of whole lines, one row at a time from the peer: a block's
 * entries may span batches, and wait for their block as replicated rows do
 * (in memory, then in the inbox: apply.c), so memory stays bounded.
 */
static void
resend_from(PGconn *conn, const char *peer, const char *origin, int64 from_block,
			int64 to_block, int64 *ingested, int64 *quarantined)
{
	char		from_buf[32];
	char		to_buf[32];
	const char *params[3] = {origin, from_buf, to_block >= 0 ? to_buf : NULL};
	StringInfoData lines;
	PGresult   *res;

	snprintf(from_buf, sizeof(from_buf), INT64_FORMAT, from_block);
	snprintf(to_buf, sizeof(to_buf), INT64_FORMAT, to_block);
	if (!PQsendQueryParams(conn, "SELECT c.line FROM tracelink._serve_chain($1, $2, $3) AS c(line)",
						   3, NULL, params, NULL, NULL, 0) ||
		!PQsetSingleRowMode(conn))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not ask peer \"%s\" for a re-send: %s", peer, PQerrorMessage(conn))));
	initStringInfo(&lines);
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType status = PQresultStatus(res);

		if (status == PGRES_SINGLE_TUPLE)
		{
			appendBinaryStringInfo(&lines, PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
			appendStringInfoChar(&lines, '\n');
			if (lines.len >= TL_RESEND_BATCH_BYTES)
				ingest_batch(&lines, ingested, quarantined);
		}
		else if (status != PGRES_TUPLES_OK)
		{
			char	   *msg = pstrdup(PQresultErrorMessage(res));

			PQclear(res);
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("peer \"%s\" did not re-send chain \"%s\": %s", peer, origin, msg)));
		}
		PQclear(res);
	}
	ingest_batch(&lines, ingested, quarantined);
	pfree(lines.data);
}

/*
 * tracelink.resend(peer text, origin text DEFAULT NULL) returns
 * tracelink.ingestion
 *
 * Asks peer for the blocks of origin's chain (default: the peer's own)
 * after the last one this node holds, up to the first one parked here
 * waiting for its predecessor (if any), with their entries addressed to this
 * node, and applies them as ingest() does: for a gap that replication will
 * not fill (a subscription re-created after rows were lost, a peer's
 * restore).  Any peer may relay another origin's chain.  This node's own
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
		if (SPI_execute_with_args("SELECT h.block_no + 1 FROM tracelink.ledger_heads h WHERE h.origin = $1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read tracelink.ledger_heads");
		if (SPI_processed > 0)
			from_block = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
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
