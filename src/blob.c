/*-------------------------------------------------------------------------
 *
 * blob.c
 *	  Off-chain files: content-addressed blobs in chunks (docs/files.md).
 *
 * A file is stored as rows of tracelink.blob_chunks, TL_BLOB_CHUNK bytes
 * each (the last one shorter), each with its own SHA-256, and one row of
 * tracelink.blobs with the SHA-256 and size of the whole.  Nothing here
 * holds a whole file in memory: store_blob() reads a large object one chunk
 * at a time, read_blob() and blob_to_lo() read one chunk row at a time.
 *
 * A reader gets bytes only after they match: blob_check() reads every chunk
 * of a blob in order, checks each chunk's hash, the sizes and the whole
 * file's SHA-256, and only then does read_blob() return its first chunk
 * (from a cursor opened before the check, so under the same snapshot, and
 * each chunk is checked again as it goes out, against corruption at rest
 * in between).  verify_blobs() and fetch_blob() use the same check.
 *
 * Rows from peers pass tl_blob_row_inserted(), an ENABLE ALWAYS trigger:
 * a chunk whose bytes do not match its hash, or a header that does not
 * add up, is quarantined with the reason (never an error on the apply
 * path); a row already held is skipped.
 *
 * fetch_blob() asks a peer for chunks over libpq, with the connection
 * string of this node's subscription to that peer, through the peer's
 * tracelink._serve_blob_chunk(), which serves a chunk only to a peer in the
 * blob's audience.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "apply_int.h"
#include "trace_int.h"

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "libpq/libpq-fs.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* chunk size: 1 MiB, the same on every node (a peer's rows are checked against it) */
#define TL_BLOB_CHUNK			(1024 * 1024)
/* largest file: 1 TiB (a large object holds at most 4 TB) */
#define TL_BLOB_MAX_SIZE		(INT64CONST(1) << 40)

PG_FUNCTION_INFO_V1(tl_store_blob);
PG_FUNCTION_INFO_V1(tl_read_blob);
PG_FUNCTION_INFO_V1(tl_blob_to_lo);
PG_FUNCTION_INFO_V1(tl_verify_blobs);
PG_FUNCTION_INFO_V1(tl_fetch_blob);
PG_FUNCTION_INFO_V1(tl_blob_row_inserted);

/*
 * Writes a blob's header row (its chunks are written apart).  audience is a
 * text[] datum, or 0 for every peer.
 */
static void
insert_blob_header(Datum hash, const char *origin, int64 size, const char *media_type,
				   int32 chunk_count, Datum audience)
{
	Oid			types[7] = {BYTEAOID, TEXTOID, INT8OID, TEXTOID, INT4OID, INT4OID, TEXTARRAYOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = hash;
	values[1] = CStringGetTextDatum(origin);
	values[2] = Int64GetDatum(size);
	values[3] = media_type ? CStringGetTextDatum(media_type) : (Datum) 0;
	nulls[3] = media_type ? ' ' : 'n';
	values[4] = Int32GetDatum(TL_BLOB_CHUNK);
	values[5] = Int32GetDatum(chunk_count);
	values[6] = audience;
	nulls[6] = audience == (Datum) 0 ? 'n' : ' ';
	if (SPI_execute_with_args("INSERT INTO tracelink.blobs"
							  " (sha256, origin, size, media_type, chunk_size, chunk_count, audience)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7)",
							  7, types, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write a blob");
}

/* ----------------------------------------------------------------
 * Running as the extension's owner
 * ----------------------------------------------------------------
 */

typedef struct AsOwner
{
	Oid			userid;
	int			sec_context;
	int			spi_nest;
} AsOwner;

static void
owner_begin(AsOwner *o)
{
	GetUserIdAndSecContext(&o->userid, &o->sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), o->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	o->spi_nest = tl_spi_connect();
}

static void
owner_end(AsOwner *o)
{
	tl_spi_finish(o->spi_nest);
	SetUserIdAndSecContext(o->userid, o->sec_context);
}

static bytea *
hash_arg(Datum d)
{
	bytea	   *h = DatumGetByteaPP(d);

	if (VARSIZE_ANY_EXHDR(h) != TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a blob is named by its SHA-256: 32 bytes, not %d",
						(int) VARSIZE_ANY_EXHDR(h))));
	return h;
}

static char *
hex_of(const uint8 *h)
{
	char	   *s = palloc(2 * TL_HASH_LEN + 1);

	tl_hex_encode(h, TL_HASH_LEN, s);
	return s;
}

/* ----------------------------------------------------------------
 * The whole file's SHA-256
 *
 * tl_sha256() (hash.c) keeps one digest context per backend, which the
 * chunk hashes use; the whole file's hash runs beside them, so it has a
 * context of its own from PostgreSQL's cryptohash API (the same OpenSSL
 * SHA-256), freed by its resource owner on error.
 * ----------------------------------------------------------------
 */

static pg_cryptohash_ctx *
whole_begin(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialise SHA-256")));
	return ctx;
}

static void
whole_update(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, data, len) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
}

static void
whole_end(pg_cryptohash_ctx *ctx, uint8 *out)
{
	if (pg_cryptohash_final(ctx, out, TL_HASH_LEN) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256")));
	pg_cryptohash_free(ctx);
}

/* every name of text[] b in text[] a? */
static bool
names_contain(Datum a, Datum b)
{
	Datum	   *ae,
			   *be;
	bool	   *an,
			   *bn;
	int			na,
				nb,
				i,
				j;

	deconstruct_array(DatumGetArrayTypeP(a), TEXTOID, -1, false, TYPALIGN_INT, &ae, &an, &na);
	deconstruct_array(DatumGetArrayTypeP(b), TEXTOID, -1, false, TYPALIGN_INT, &be, &bn, &nb);
	for (j = 0; j < nb; j++)
	{
		bool		found = false;

		for (i = 0; i < na && !found; i++)
			found = !an[i] && !bn[j] && DatumGetBool(DirectFunctionCall2Coll(texteq, C_COLLATION_OID, ae[i], be[j]));
		if (!found)
			return false;
	}
	return true;
}

/*
 * Large objects through the functions behind lo_open() and the like, so
 * that the server closes what they open at the end of the transaction.
 */
static int
lo_open_fd(Oid lo, int mode)
{
	return DatumGetInt32(DirectFunctionCall2(be_lo_open, ObjectIdGetDatum(lo), Int32GetDatum(mode)));
}

static void
lo_close_fd(int fd)
{
	(void) DirectFunctionCall1(be_lo_close, Int32GetDatum(fd));
}

/* ----------------------------------------------------------------
 * Checking a blob
 * ----------------------------------------------------------------
 */

typedef enum BlobStatus
{
	BLOB_OK,
	BLOB_MISSING,
	BLOB_CORRUPT
} BlobStatus;

typedef struct BlobCheck
{
	BlobStatus	status;
	char	   *detail;			/* why not ok */
	bool		have_header;
	int64		size;
	char	   *media_type;
	char	   *origin;
	Datum		audience;		/* text[] or 0 (public) */
	int32		chunk_count;
	int32		nbad;			/* chunks missing or corrupt */
	int32	   *bad;			/* their numbers */
	bool		whole_bad;		/* chunks fine one by one, the file not */
} BlobCheck;

static void
add_bad(BlobCheck *c, int32 chunk_no)
{
	if (c->nbad % 64 == 0)
		c->bad = c->bad ? repalloc(c->bad, sizeof(int32) * (c->nbad + 64)) : palloc(sizeof(int32) * 64);
	c->bad[c->nbad++] = chunk_no;
}

static void
set_problem(BlobCheck *c, BlobStatus s, char *detail)
{
	/* corruption outranks missing pieces; the first detail of a kind is kept */
	if (c->status == BLOB_OK || (s == BLOB_CORRUPT && c->status == BLOB_MISSING))
	{
		c->status = s;
		c->detail = detail;
	}
}

/*
 * Read a blob's header and every chunk in order (one at a time, in a
 * context reset per chunk), within an SPI session of the caller (as the
 * owner).  Fills c; allocations that last are in the caller's context.
 */
static void
blob_check(const bytea *hash, BlobCheck *c, bool read_only)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext chunk_cxt;
	Oid			types[1] = {BYTEAOID};
	Datum		values[1] = {PointerGetDatum(hash)};
	SPIPlanPtr	plan;
	Portal		portal;
	pg_cryptohash_ctx *whole;
	uint8		digest[TL_HASH_LEN];
	int64		total = 0;
	int32		next = 0;
	bool		isnull;

	memset(c, 0, sizeof(*c));
	if (SPI_execute_with_args("SELECT size, media_type, origin, audience, chunk_size, chunk_count"
							  " FROM tracelink.blobs WHERE sha256 = $1",
							  1, types, values, NULL, read_only, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read tracelink.blobs");
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		c->status = BLOB_MISSING;
		c->detail = pstrdup("not held: no row in tracelink.blobs");
		return;
	}
	else
	{
		HeapTuple	t = SPI_tuptable->vals[0];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Datum		v;
		int32		chunk_size;

		c->have_header = true;
		c->size = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
		v = SPI_getbinval(t, d, 2, &isnull);
		MemoryContextSwitchTo(caller);
		c->media_type = isnull ? NULL : TextDatumGetCString(v);
		v = SPI_getbinval(t, d, 3, &isnull);
		c->origin = isnull ? NULL : TextDatumGetCString(v);
		v = SPI_getbinval(t, d, 4, &isnull);
		c->audience = isnull ? (Datum) 0 : PointerGetDatum(DatumGetArrayTypePCopy(v));
		chunk_size = DatumGetInt32(SPI_getbinval(t, d, 5, &isnull));
		c->chunk_count = DatumGetInt32(SPI_getbinval(t, d, 6, &isnull));
		/* verify_blobs() checks every blob in one SPI session: keep nothing */
		SPI_freetuptable(SPI_tuptable);
		if (chunk_size != TL_BLOB_CHUNK || c->size < 0 ||
			c->chunk_count != (c->size + TL_BLOB_CHUNK - 1) / TL_BLOB_CHUNK)
		{
			c->status = BLOB_CORRUPT;
			c->detail = psprintf("the row in tracelink.blobs does not add up: size %lld, chunk_size %d, chunk_count %d",
								 (long long) c->size, chunk_size, c->chunk_count);
			return;
		}
	}

	chunk_cxt = AllocSetContextCreate(caller, "tracelink blob chunk", ALLOCSET_DEFAULT_SIZES);
	plan = SPI_prepare("SELECT chunk_no, chunk_sha256, data FROM tracelink.blob_chunks"
					   " WHERE sha256 = $1 ORDER BY chunk_no", 1, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the chunk scan");
	portal = SPI_cursor_open(NULL, plan, values, NULL, read_only);
	whole = whole_begin();
	for (;;)
	{
		HeapTuple	t;
		TupleDesc	d;
		int32		no;
		bytea	   *want;
		bytea	   *data;
		bool		data_null;
		int64		expect_len;
		uint8		got[TL_HASH_LEN];
		MemoryContext old;

		SPI_cursor_fetch(portal, true, 1);
		if (SPI_processed == 0)
			break;
		t = SPI_tuptable->vals[0];
		d = SPI_tuptable->tupdesc;
		no = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
		if (no < next || no >= c->chunk_count)
		{
			MemoryContextSwitchTo(caller);
			set_problem(c, BLOB_CORRUPT, psprintf("chunk %d is not a chunk of a %d-chunk file", no, c->chunk_count));
			SPI_freetuptable(SPI_tuptable);
			continue;
		}
		while (next < no)
		{
			MemoryContextSwitchTo(caller);
			set_problem(c, BLOB_MISSING, psprintf("chunk %d of %d is missing", next, c->chunk_count));
			add_bad(c, next);
			next++;
		}
		next = no + 1;
		old = MemoryContextSwitchTo(chunk_cxt);
		want = (bytea *) PG_DETOAST_DATUM(SPI_getbinval(t, d, 2, &isnull));
		data = (bytea *) PG_DETOAST_DATUM(SPI_getbinval(t, d, 3, &data_null));
		MemoryContextSwitchTo(old);
		expect_len = (no == c->chunk_count - 1) ? c->size - (int64) no * TL_BLOB_CHUNK : TL_BLOB_CHUNK;
		if (data_null || isnull || VARSIZE_ANY_EXHDR(want) != TL_HASH_LEN ||
			VARSIZE_ANY_EXHDR(data) != expect_len)
		{
			MemoryContextSwitchTo(caller);
			set_problem(c, BLOB_CORRUPT,
						psprintf("chunk %d has %lld bytes, not %lld", no,
								 data_null ? -1LL : (long long) VARSIZE_ANY_EXHDR(data),
								 (long long) expect_len));
			add_bad(c, no);
		}
		else
		{
			tl_sha256(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), got);
			if (memcmp(got, VARDATA_ANY(want), TL_HASH_LEN) != 0)
			{
				MemoryContextSwitchTo(caller);
				set_problem(c, BLOB_CORRUPT,
							psprintf("chunk %d does not match its SHA-256 (%s held, %s read)",
									 no, hex_of((uint8 *) VARDATA_ANY(want)), hex_of(got)));
				add_bad(c, no);
			}
			else if (c->status == BLOB_OK)
			{
				whole_update(whole, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
				total += VARSIZE_ANY_EXHDR(data);
			}
		}
		SPI_freetuptable(SPI_tuptable);
		MemoryContextReset(chunk_cxt);
	}
	SPI_cursor_close(portal);
	SPI_freeplan(plan);
	MemoryContextSwitchTo(caller);
	while (next < c->chunk_count)
	{
		set_problem(c, BLOB_MISSING, psprintf("chunk %d of %d is missing", next, c->chunk_count));
		add_bad(c, next);
		next++;
	}
	whole_end(whole, digest);
	if (c->status == BLOB_OK &&
		(total != c->size || memcmp(digest, VARDATA_ANY(hash), TL_HASH_LEN) != 0))
	{
		c->status = BLOB_CORRUPT;
		c->whole_bad = true;
		c->detail = psprintf("every chunk matches its own SHA-256, but the file's %lld bytes hash to %s",
							 (long long) total, hex_of(digest));
	}
	MemoryContextDelete(chunk_cxt);
}

/* raise the error a reader gets for a blob that did not check out */
static void
blob_refuse(const bytea *hash, const BlobCheck *c)
{
	char	   *hex = hex_of((const uint8 *) VARDATA_ANY(hash));

	if (!c->have_header)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("blob %s is not held by this node", hex),
				 errhint("tracelink.fetch_blob() fetches it from a peer that holds it, if this node is in its audience.")));
	if (c->status == BLOB_MISSING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("blob %s is incomplete: %s", hex, c->detail),
				 errhint("tracelink.fetch_blob() fetches the missing chunks from a peer.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("blob %s is corrupt: %s", hex, c->detail),
			 errhint("tracelink.fetch_blob() replaces corrupt chunks with verified ones from a peer.")));
}

/* ----------------------------------------------------------------
 * Reading chunks once checked
 *
 * The cursor that hands out the chunks is opened before blob_check()
 * reads them, in the same SPI session, so both see one snapshot; each
 * chunk is checked again as it goes out (corruption at rest does not wait
 * for snapshots), and so is the whole file's hash at the end.
 * ----------------------------------------------------------------
 */

typedef struct ChunkReader
{
	char	   *portal_name;
	int32		next;
	int32		chunk_count;
	int64		size;
	int64		sent;
	uint8		hash[TL_HASH_LEN];
	pg_cryptohash_ctx *whole;
} ChunkReader;

/*
 * Open the cursor, check the blob, refuse it unless ok (as the owner, in
 * SPI); what lasts from call to call is allocated in cxt.
 */
static void
reader_open(ChunkReader *r, const bytea *hash, MemoryContext cxt)
{
	Oid			types[1] = {BYTEAOID};
	Datum		values[1] = {PointerGetDatum(hash)};
	SPIPlanPtr	plan;
	Portal		portal;
	BlobCheck	c;

	plan = SPI_prepare("SELECT chunk_no, chunk_sha256, data FROM tracelink.blob_chunks"
					   " WHERE sha256 = $1 ORDER BY chunk_no", 1, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the chunk scan");
	portal = SPI_cursor_open(NULL, plan, values, NULL, true);
	r->portal_name = MemoryContextStrdup(cxt, portal->name);
	blob_check(hash, &c, true);
	if (c.status != BLOB_OK)
		blob_refuse(hash, &c);
	r->next = 0;
	r->chunk_count = c.chunk_count;
	r->size = c.size;
	r->sent = 0;
	memcpy(r->hash, VARDATA_ANY(hash), TL_HASH_LEN);
	r->whole = whole_begin();
}

/*
 * The next chunk, checked, allocated in cxt; NULL after the last.  (As the
 * owner, in SPI.)
 */
static bytea *
reader_next(ChunkReader *r, MemoryContext cxt)
{
	Portal		portal = SPI_cursor_find(r->portal_name);
	HeapTuple	t;
	TupleDesc	d;
	bool		isnull;
	int32		no;
	bytea	   *want;
	bytea	   *data;
	uint8		got[TL_HASH_LEN];
	MemoryContext old;

	if (portal == NULL)
		elog(ERROR, "the chunk cursor of a blob is gone");
	SPI_cursor_fetch(portal, true, 1);
	if (SPI_processed == 0)
	{
		SPI_cursor_close(portal);
		r->portal_name = NULL;
		whole_end(r->whole, got);
		r->whole = NULL;
		if (r->next != r->chunk_count || r->sent != r->size ||
			memcmp(got, r->hash, TL_HASH_LEN) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("blob %s changed while it was read", hex_of(r->hash))));
		return NULL;
	}
	t = SPI_tuptable->vals[0];
	d = SPI_tuptable->tupdesc;
	no = DatumGetInt32(SPI_getbinval(t, d, 1, &isnull));
	old = MemoryContextSwitchTo(cxt);
	want = DatumGetByteaPCopy(SPI_getbinval(t, d, 2, &isnull));
	data = DatumGetByteaPCopy(SPI_getbinval(t, d, 3, &isnull));
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	if (no != r->next || isnull || VARSIZE(want) - VARHDRSZ != TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("blob %s changed while it was read (chunk %d)", hex_of(r->hash), r->next)));
	tl_sha256(VARDATA(data), VARSIZE(data) - VARHDRSZ, got);
	if (memcmp(got, VARDATA(want), TL_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("blob %s is corrupt: chunk %d does not match its SHA-256", hex_of(r->hash), no)));
	whole_update(r->whole, VARDATA(data), VARSIZE(data) - VARHDRSZ);
	r->sent += VARSIZE(data) - VARHDRSZ;
	r->next++;
	pfree(want);
	return data;
}

/*
 * A read that stops early (LIMIT, an error in the caller's query) leaves the
 * cursor and the hash context: let them go when the query's expression
 * context shuts down.
 */
static void
reader_shutdown(Datum arg)
{
	ChunkReader *r = (ChunkReader *) DatumGetPointer(arg);
	Portal		portal = r->portal_name ? GetPortalByName(r->portal_name) : NULL;

	if (portal != NULL)
		PortalDrop(portal, false);
	if (r->whole != NULL)
		pg_cryptohash_free(r->whole);
	r->whole = NULL;
	r->portal_name = NULL;
}

/*
 * tracelink.read_blob(sha256 bytea) returns setof bytea
 *
 * The chunks of a blob in order, after the whole blob checked out.  Value
 * per call: in a SELECT list (SELECT tracelink.read_blob(h)) one chunk is
 * in memory at a time; in FROM, the executor collects the rows in a
 * tuplestore that spills to disk beyond work_mem.
 */
Datum
tl_read_blob(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	ChunkReader *r;
	AsOwner		o;
	bytea	   *chunk;
	MemoryContext caller = CurrentMemoryContext;

	if (SRF_IS_FIRSTCALL())
	{
		bytea	   *hash = hash_arg(PG_GETARG_DATUM(0));
		MemoryContext old;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		r = palloc0(sizeof(ChunkReader));
		owner_begin(&o);
		reader_open(r, hash, funcctx->multi_call_memory_ctx);
		owner_end(&o);
		MemoryContextSwitchTo(old);
		funcctx->user_fctx = r;
		RegisterExprContextCallback(((ReturnSetInfo *) fcinfo->resultinfo)->econtext,
									reader_shutdown, PointerGetDatum(r));
	}
	funcctx = SRF_PERCALL_SETUP();
	r = funcctx->user_fctx;
	owner_begin(&o);
	chunk = reader_next(r, caller);
	owner_end(&o);
	if (chunk == NULL)
	{
		/* r goes with the multi-call context */
		UnregisterExprContextCallback(((ReturnSetInfo *) fcinfo->resultinfo)->econtext,
									  reader_shutdown, PointerGetDatum(r));
		SRF_RETURN_DONE(funcctx);
	}
	SRF_RETURN_NEXT(funcctx, PointerGetDatum(chunk));
}

/*
 * tracelink.blob_to_lo(sha256 bytea) returns oid
 *
 * A new large object (owned by the caller) with the blob's bytes, written
 * chunk by chunk once the blob checked out: for psql's \lo_export.
 */
Datum
tl_blob_to_lo(PG_FUNCTION_ARGS)
{
	bytea	   *hash = hash_arg(PG_GETARG_DATUM(0));
	ChunkReader r = {0};
	AsOwner		o;
	Oid			lo;
	int			fd;
	MemoryContext chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink blob chunk",
													ALLOCSET_DEFAULT_SIZES);
	bytea	   *chunk;
	MemoryContext chunk_cxt_parent = CurrentMemoryContext;

	/* created and opened as the caller: the caller owns it */
	lo = DatumGetObjectId(DirectFunctionCall1(be_lo_create, ObjectIdGetDatum(InvalidOid)));
	fd = lo_open_fd(lo, INV_WRITE);
	owner_begin(&o);
	reader_open(&r, hash, chunk_cxt_parent);
	while ((chunk = reader_next(&r, chunk_cxt)) != NULL)
	{
		if (DatumGetInt32(DirectFunctionCall2(be_lowrite, Int32GetDatum(fd), PointerGetDatum(chunk)))
			!= VARSIZE(chunk) - VARHDRSZ)
			elog(ERROR, "could not write a large object");
		MemoryContextReset(chunk_cxt);
	}
	owner_end(&o);
	lo_close_fd(fd);
	MemoryContextDelete(chunk_cxt);
	PG_RETURN_OID(lo);
}

/* ----------------------------------------------------------------
 * Storing a file
 * ----------------------------------------------------------------
 */

/* sort and dedupe names */
static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The audience as given (NULL: every peer), checked, with this node in it,
 * sorted and without repeats; returns a text[] or (Datum) 0.
 */
static Datum
blob_audience(ArrayType *given, const char *me)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				k = 0;
	char	  **names;
	Datum	   *out;

	if (given == NULL)
		return (Datum) 0;
	if (ARR_NDIM(given) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("the audience of a blob is a one-dimensional array of node names")));
	deconstruct_array(given, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the audience of a blob must not be empty"),
				 errhint("NULL makes the blob public (every peer receives it).")));
	names = palloc(sizeof(char *) * (n + 1));
	for (i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the audience of a blob must not contain NULL")));
		names[i] = TextDatumGetCString(elems[i]);
		if (!tl_valid_node_name(names[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid node name \"%s\" in the audience of a blob", names[i])));
	}
	names[n++] = pstrdup(me);
	qsort(names, n, sizeof(char *), cmp_cstr);
	out = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		if (k == 0 || strcmp(names[i], TextDatumGetCString(out[k - 1])) != 0)
			out[k++] = CStringGetTextDatum(names[i]);
	return PointerGetDatum(construct_array(out, k, TEXTOID, -1, false, TYPALIGN_INT));
}

/* every name of the audience a known node? (in SPI) */
static void
audience_known(Datum audience)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1] = {audience};

	if (audience == (Datum) 0)
		return;
	if (SPI_execute_with_args("SELECT a.name FROM pg_catalog.unnest($1) AS a(name)"
							  " WHERE NOT EXISTS (SELECT 1 FROM tracelink.nodes n WHERE n.name = a.name)"
							  " LIMIT 1", 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up nodes");
	if (SPI_processed > 0)
	{
		bool		isnull;

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown node \"%s\" in the audience of a blob",
						TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull))),
				 errhint("The audience names this node's peers (tracelink.peers).")));
	}
}

/*
 * Read up to one chunk from a large object into buf (a bytea of
 * TL_BLOB_CHUNK bytes); returns the bytes read.
 */
static int
lo_read_chunk(int fd, bytea *buf)
{
	int			got = 0;

	while (got < TL_BLOB_CHUNK)
	{
		bytea	   *part = DatumGetByteaPP(DirectFunctionCall2(be_loread, Int32GetDatum(fd),
															   Int32GetDatum(TL_BLOB_CHUNK - got)));
		int			n = VARSIZE_ANY_EXHDR(part);

		if (n == 0)
			break;
		memcpy(VARDATA(buf) + got, VARDATA_ANY(part), n);
		pfree(part);
		got += n;
		CHECK_FOR_INTERRUPTS();
	}
	return got;
}

/* the file reference {"sha256", "name", "media_type", "size"} as jsonb */
static Datum
file_reference(const uint8 *hash, const char *name, const char *media_type, int64 size)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"sha256\": \"%s\", \"name\": ", hex_of(hash));
	jcs_append_string(&s, name, strlen(name));
	if (media_type != NULL)
	{
		appendStringInfoString(&s, ", \"media_type\": ");
		jcs_append_string(&s, media_type, strlen(media_type));
	}
	appendStringInfo(&s, ", \"size\": " INT64_FORMAT "}", size);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

/* audience a (NULL public) covers audience b? */
static bool
audience_covers(Datum a, Datum b)
{
	if (a == (Datum) 0)
		return true;
	if (b == (Datum) 0)
		return false;
	return names_contain(a, b);
}

/*
 * tracelink.store_blob(content oid, name text, media_type text, audience text[])
 * returns jsonb
 *
 * Reads the large object twice, one chunk at a time: first for the file's
 * SHA-256 and size (the rows are named by it), then to write the chunk
 * rows, hashing again so that what is written is what was named.  The
 * large object is left to the caller.
 */
Datum
tl_store_blob(PG_FUNCTION_ARGS)
{
	Oid			content;
	char	   *name;
	char	   *media_type;
	char	   *me;
	const char *problem;
	Datum		audience;
	int			fd;
	bytea	   *buf;
	pg_cryptohash_ctx *whole;
	uint8		hash[TL_HASH_LEN];
	uint8		again[TL_HASH_LEN];
	int64		size = 0;
	int64		written = 0;
	int32		chunk_count;
	int32		no;
	AsOwner		o;
	SPIPlanPtr	insert;
	Oid			types[6] = {BYTEAOID, INT4OID, TEXTOID, TEXTARRAYOID, BYTEAOID, BYTEAOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *hash_bytea;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the content and name of a blob must not be null")));
	content = PG_GETARG_OID(0);
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	media_type = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!tl_trace_valid_code(name, strlen(name), &problem))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid file name \"%s\": %s", name, problem)));
	me = tl_local_node();
	if (me == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));
	audience = blob_audience(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3), me);

	/* opened as the caller: its privileges on the large object count */
	fd = lo_open_fd(content, INV_READ);
	buf = palloc(VARHDRSZ + TL_BLOB_CHUNK);

	/* first pass: the name of the blob */
	whole = whole_begin();
	for (;;)
	{
		int			n = lo_read_chunk(fd, buf);

		if (n == 0)
			break;
		size += n;
		if (size > TL_BLOB_MAX_SIZE)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a blob may hold at most 1 TiB"),
					 errdetail("Large object %u is larger.", content)));
		whole_update(whole, VARDATA(buf), n);
	}
	whole_end(whole, hash);
	chunk_count = (int32) ((size + TL_BLOB_CHUNK - 1) / TL_BLOB_CHUNK);
	hash_bytea = (bytea *) tl_bytea_from(hash, TL_HASH_LEN);

	owner_begin(&o);
	audience_known(audience);
	{
		Oid			t1[1] = {BYTEAOID};
		Datum		v1[1] = {PointerGetDatum(hash_bytea)};
		bool		isnull;

		if (SPI_execute_with_args("SELECT audience, audience::text FROM tracelink.blobs WHERE sha256 = $1 FOR UPDATE",
								  1, t1, v1, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read tracelink.blobs");
		if (SPI_processed > 0)
		{
			Datum		held = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!audience_covers(isnull ? (Datum) 0 : held, audience))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("blob %s is held already, for a narrower audience", hex_of(hash)),
						 errdetail("Its audience is %s.",
								   isnull ? "every peer" : SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
						 errhint("The audience of a blob cannot grow: its rows have been sent to its audience only.")));
			owner_end(&o);
			lo_close_fd(fd);
			PG_RETURN_DATUM(file_reference(hash, name, media_type, size));
		}
	}

	/* second pass: the chunks */
	insert = SPI_prepare("INSERT INTO tracelink.blob_chunks (sha256, chunk_no, origin, audience, chunk_sha256, data)"
						 " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING", 6, types);
	if (insert == NULL)
		elog(ERROR, "could not prepare the chunk insert");
	values[0] = PointerGetDatum(hash_bytea);
	values[2] = CStringGetTextDatum(me);
	values[3] = audience;
	nulls[3] = audience == (Datum) 0 ? 'n' : ' ';
	(void) DirectFunctionCall3(be_lo_lseek64, Int32GetDatum(fd), Int64GetDatum(0), Int32GetDatum(SEEK_SET));
	whole = whole_begin();
	for (no = 0; no < chunk_count; no++)
	{
		int			n = lo_read_chunk(fd, buf);
		uint8		chunk_hash[TL_HASH_LEN];
		bytea	   *chunk_hash_bytea;

		if (n != TL_BLOB_CHUNK && no != chunk_count - 1)
			break;				/* changed under us: caught below */
		SET_VARSIZE(buf, VARHDRSZ + n);
		whole_update(whole, VARDATA(buf), n);
		written += n;
		tl_sha256(VARDATA(buf), n, chunk_hash);
		chunk_hash_bytea = (bytea *) tl_bytea_from(chunk_hash, TL_HASH_LEN);
		values[1] = Int32GetDatum(no);
		values[4] = PointerGetDatum(chunk_hash_bytea);
		values[5] = PointerGetDatum(buf);
		if (SPI_execute_plan(insert, values, nulls, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write a chunk");
		pfree(chunk_hash_bytea);
		CHECK_FOR_INTERRUPTS();
	}
	whole_end(whole, again);
	if (written != size || memcmp(hash, again, TL_HASH_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("large object %u changed while it was stored", content)));
	insert_blob_header(PointerGetDatum(hash_bytea), me, size, media_type, chunk_count, audience);
	owner_end(&o);
	lo_close_fd(fd);
	PG_RETURN_DATUM(file_reference(hash, name, media_type, size));
}

/* ----------------------------------------------------------------
 * Checking every blob
 * ----------------------------------------------------------------
 */

/*
 * tracelink.verify_blobs() returns table(sha256 bytea, status text, detail text)
 *
 * Every blob this node holds or is entitled to hold (the file references
 * of tracelink._blob_references()), checked like read_blob() checks one.
 */
Datum
tl_verify_blobs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext per_blob;
	AsOwner		o;
	bytea	  **hashes;
	bool	   *referenced;
	uint64		n,
				i;

	InitMaterializedSRF(fcinfo, 0);
	owner_begin(&o);
	if (SPI_execute("SELECT h, pg_catalog.bool_or(referenced) FROM ("
					" SELECT b.sha256, false FROM tracelink.blobs b"
					" UNION ALL"
					" SELECT pg_catalog.decode(r.sha256, 'hex'), true FROM tracelink._blob_references() r"
					") AS x(h, referenced) GROUP BY h ORDER BY h", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list blobs");
	n = SPI_processed;
	MemoryContextSwitchTo(caller);
	hashes = palloc(sizeof(bytea *) * Max(n, 1));
	referenced = palloc(sizeof(bool) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		bool		isnull;

		hashes[i] = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		referenced[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	per_blob = AllocSetContextCreate(caller, "tracelink verify_blobs", ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < n; i++)
	{
		BlobCheck	c;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		MemoryContext old = MemoryContextSwitchTo(per_blob);

		blob_check(hashes[i], &c, false);
		MemoryContextSwitchTo(old);
		values[0] = PointerGetDatum(hashes[i]);
		values[1] = CStringGetTextDatum(c.status == BLOB_OK ? "ok" :
										c.status == BLOB_MISSING ? "missing" : "corrupt");
		if (c.status == BLOB_OK)
			nulls[2] = true;
		else if (!c.have_header)
			values[2] = CStringGetTextDatum(referenced[i] ? "referenced by a trace record this node holds, not held"
											: c.detail);
		else
			values[2] = CStringGetTextDatum(c.detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(per_blob);
	}
	owner_end(&o);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * Fetching chunks again from a peer
 * ----------------------------------------------------------------
 */

static PGresult *
peer_query(PGconn *conn, const char *sql, const uint8 *hash, int32 chunk_no, bool with_chunk)
{
	char		no_buf[16];
	const char *params[2];
	int			lengths[2];
	int			formats[2] = {1, 0};

	params[0] = (const char *) hash;
	lengths[0] = TL_HASH_LEN;
	snprintf(no_buf, sizeof(no_buf), "%d", chunk_no);
	params[1] = no_buf;
	lengths[1] = 0;
	return PQexecParams(conn, sql, with_chunk ? 2 : 1, NULL, params, lengths, formats, 1);
}

/* a binary int4/int8 column of a libpq result */
static int64
result_int(PGresult *res, int col)
{
	const unsigned char *p = (const unsigned char *) PQgetvalue(res, 0, col);
	int			len = PQgetlength(res, 0, col);
	uint64		v = 0;
	int			i;

	for (i = 0; i < len; i++)
		v = (v << 8) | p[i];
	return len == 4 ? (int64) (int32) v : (int64) v;
}

static int
fetch_with(PGconn *conn, const char *peer, const bytea *hash)
{
	int			replaced = 0;
	const uint8 *h = (const uint8 *) VARDATA_ANY(hash);

	{
		PGresult   *res;
		BlobCheck	c;
		int64		size;
		int32		chunk_count;
		char	   *origin;
		char	   *audience;
		char	   *media_type;
		int			i;
		SPIPlanPtr	del,
					ins;
		Oid			dtypes[2] = {BYTEAOID, INT4OID};
		Oid			itypes[6] = {BYTEAOID, INT4OID, TEXTOID, TEXTARRAYOID, BYTEAOID, BYTEAOID};

		res = peer_query(conn, "SELECT size, chunk_count, origin, audience::text, media_type"
						 " FROM tracelink._serve_blob($1)", h, 0, false);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("peer \"%s\" could not serve blob %s: %s", peer, hex_of(h), PQresultErrorMessage(res))));
		if (PQntuples(res) == 0)
		{
			PQclear(res);
			replaced = -1;
		}
		else
		{
			size = result_int(res, 0);
			chunk_count = (int32) result_int(res, 1);
			origin = pstrdup(PQgetvalue(res, 0, 2));
			audience = PQgetisnull(res, 0, 3) ? NULL : pstrdup(PQgetvalue(res, 0, 3));
			media_type = PQgetisnull(res, 0, 4) ? NULL : pstrdup(PQgetvalue(res, 0, 4));
			PQclear(res);
			if (size < 0 || size > TL_BLOB_MAX_SIZE ||
				chunk_count != (size + TL_BLOB_CHUNK - 1) / TL_BLOB_CHUNK || !tl_valid_node_name(origin))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("peer \"%s\" describes blob %s wrongly", peer, hex_of(h))));

			blob_check(hash, &c, false);
			if (!c.have_header || c.whole_bad || (c.status == BLOB_CORRUPT && c.nbad == 0))
			{
				/* the header is missing or wrong, or the file is: every chunk again */
				Oid			t[1] = {BYTEAOID};
				Datum		v[1] = {PointerGetDatum(hash)};

				if (SPI_execute_with_args("DELETE FROM tracelink.blobs WHERE sha256 = $1", 1, t, v, NULL, false, 0) < 0)
					elog(ERROR, "could not write a blob");
				insert_blob_header(PointerGetDatum(hash), origin, size, media_type, chunk_count,
								   audience ? DirectFunctionCall3(array_in, CStringGetDatum(audience),
																  ObjectIdGetDatum(TEXTOID), Int32GetDatum(-1))
								   : (Datum) 0);
				c.nbad = 0;
				for (i = 0; i < chunk_count; i++)
					add_bad(&c, i);
			}
			del = SPI_prepare("DELETE FROM tracelink.blob_chunks WHERE sha256 = $1 AND chunk_no = $2", 2, dtypes);
			ins = SPI_prepare("INSERT INTO tracelink.blob_chunks (sha256, chunk_no, origin, audience, chunk_sha256, data)"
							  " VALUES ($1, $2, $3, $4::text[], $5, $6)", 6, itypes);
			if (del == NULL || ins == NULL)
				elog(ERROR, "could not prepare the chunk writes");
			for (i = 0; i < c.nbad; i++)
			{
				int32		no = c.bad[i];
				int64		expect = (no == chunk_count - 1) ? size - (int64) no * TL_BLOB_CHUNK : TL_BLOB_CHUNK;
				uint8		got[TL_HASH_LEN];
				Datum		v[6];
				char		nl[6] = {' ', ' ', ' ', ' ', ' ', ' '};
				bytea	   *data;
				bytea	   *chunk_hash;

				res = peer_query(conn, "SELECT chunk_sha256, data FROM tracelink._serve_blob_chunk($1, $2)",
								 h, no, true);
				if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
					PQgetlength(res, 0, 0) != TL_HASH_LEN || PQgetlength(res, 0, 1) != expect)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("peer \"%s\" did not serve chunk %d of blob %s", peer, no, hex_of(h)),
							 errdetail("%s", PQresultStatus(res) == PGRES_TUPLES_OK ? "No chunk of the expected size came."
									   : PQresultErrorMessage(res))));
				tl_sha256(PQgetvalue(res, 0, 1), expect, got);
				if (memcmp(got, PQgetvalue(res, 0, 0), TL_HASH_LEN) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("chunk %d of blob %s from peer \"%s\" does not match its SHA-256", no, hex_of(h), peer)));
				data = (bytea *) tl_bytea_from((const uint8 *) PQgetvalue(res, 0, 1), expect);
				chunk_hash = (bytea *) tl_bytea_from(got, TL_HASH_LEN);
				PQclear(res);
				v[0] = PointerGetDatum(hash);
				v[1] = Int32GetDatum(no);
				if (SPI_execute_plan(del, v, NULL, false, 0) != SPI_OK_DELETE)
					elog(ERROR, "could not delete a chunk");
				v[2] = CStringGetTextDatum(origin);
				v[3] = audience ? CStringGetTextDatum(audience) : (Datum) 0;
				nl[3] = audience ? ' ' : 'n';
				v[4] = PointerGetDatum(chunk_hash);
				v[5] = PointerGetDatum(data);
				if (SPI_execute_plan(ins, v, nl, false, 0) != SPI_OK_INSERT)
					elog(ERROR, "could not write a chunk");
				pfree(data);
				pfree(chunk_hash);
				replaced++;
				CHECK_FOR_INTERRUPTS();
			}
		}
	}
	return replaced;
}

/*
 * Replace the bad chunks of a blob with the peer's (in SPI as the owner).
 * Returns the number replaced, or -1 if the peer does not serve the blob
 * to this node (or, not named, cannot be reached).
 */
static int
fetch_from(const char *peer, const char *conninfo, const bytea *hash, bool named)
{
	/* the peer asked for by name must answer; otherwise, the next */
	PGconn	   *volatile conn = tl_peer_connect(peer, conninfo, "tracelink fetch_blob", named);
	volatile int replaced = 0;

	if (conn == NULL)
		return -1;
	PG_TRY();
	{
		replaced = fetch_with(conn, peer, hash);
	}
	PG_CATCH();
	{
		PQfinish(conn);
		PG_RE_THROW();
	}
	PG_END_TRY();
	PQfinish(conn);
	return replaced;
}

/*
 * tracelink.fetch_blob(sha256 bytea, peer text) returns integer
 *
 * Replaces the missing or corrupt chunks of a blob (and a missing header)
 * with verified ones from a peer that serves the blob to this node (its
 * tracelink._serve_blob_chunk() serves only to nodes of the blob's
 * audience).  Without a peer, the blob's
 * origin is asked first, then the other peers by name.  Returns the number
 * of chunks replaced; raises unless the blob checks out afterwards.
 */
Datum
tl_fetch_blob(PG_FUNCTION_ARGS)
{
	bytea	   *hash = hash_arg(PG_GETARG_DATUM(0));
	char	   *peer = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *me = tl_local_node();
	MemoryContext caller = CurrentMemoryContext;
	AsOwner		o;
	BlobCheck	c;
	List	   *peers = NIL;
	ListCell   *lc;
	int			replaced = -1;
	char	   *tried = NULL;

	if (me == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet")));
	owner_begin(&o);
	blob_check(hash, &c, false);
	if (c.status == BLOB_OK)
	{
		owner_end(&o);
		PG_RETURN_INT32(0);
	}
	if (peer != NULL)
		peers = list_make1(peer);
	else
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1] = {c.origin ? CStringGetTextDatum(c.origin) : (Datum) 0};
		char		nulls[1] = {c.origin ? ' ' : 'n'};
		uint64		i;

		if (SPI_execute_with_args("SELECT n.name FROM tracelink.nodes n WHERE NOT n.is_local"
								  " ORDER BY n.name IS DISTINCT FROM $1, n.name",
								  1, types, values, nulls, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not list peers");
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			peers = lappend(peers, MemoryContextStrdup(caller,
													   TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i],
																						 SPI_tuptable->tupdesc, 1, &isnull))));
		}
	}
	foreach(lc, peers)
	{
		const char *p = lfirst(lc);
		char	   *conninfo = tl_peer_conninfo(p, caller);

		if (conninfo == NULL)
		{
			if (peer != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("this node has no subscription to peer \"%s\"", p)));
			continue;
		}
		replaced = fetch_from(p, conninfo, hash, peer != NULL);
		if (replaced >= 0)
			break;
		tried = tried ? psprintf("%s, %s", tried, p) : pstrdup(p);
	}
	if (replaced < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no peer serves blob %s to this node", hex_of((uint8 *) VARDATA_ANY(hash))),
				 errdetail("Peers asked: %s.", tried ? tried : "none"),
				 errhint("A peer serves a blob it holds to the nodes of its audience.")));
	blob_check(hash, &c, false);
	if (c.status != BLOB_OK)
		blob_refuse(hash, &c);
	owner_end(&o);
	PG_RETURN_INT32(replaced);
}

/* ----------------------------------------------------------------
 * Rows from peers
 * ----------------------------------------------------------------
 */

typedef struct IncomingRow
{
	HeapTuple	tup;
	TupleDesc	desc;
	bool		is_chunk;
	const char *me;
	char	   *origin;
	const char *problem;		/* why refused, or NULL */
	bool		held;			/* already here: skipped */
} IncomingRow;

static Datum
column(IncomingRow *r, const char *name, bool *isnull)
{
	int			attno = SPI_fnumber(r->desc, name);

	if (attno <= 0)
		elog(ERROR, "tracelink blob table has no column \"%s\"", name);
	return heap_getattr(r->tup, attno, r->desc, isnull);
}

/* check a row from a peer (in a subtransaction) */
static void
check_incoming(void *arg)
{
	IncomingRow *r = arg;
	bool		isnull;
	Datum		d;
	bytea	   *hash;
	int32		chunk_no = 0;
	AsOwner		o;

	d = column(r, "origin", &isnull);
	r->origin = isnull ? NULL : TextDatumGetCString(d);
	if (r->origin == NULL || !tl_valid_node_name(r->origin))
	{
		r->problem = "the row has no valid origin";
		return;
	}
	d = column(r, "sha256", &isnull);
	hash = isnull ? NULL : DatumGetByteaPP(d);
	if (hash == NULL || VARSIZE_ANY_EXHDR(hash) != TL_HASH_LEN)
	{
		r->problem = "sha256 is not 32 bytes";
		return;
	}
	d = column(r, "audience", &isnull);
	if (!isnull)
	{
		Datum		me_arr;
		Datum		one = CStringGetTextDatum(r->me);

		me_arr = PointerGetDatum(construct_array(&one, 1, TEXTOID, -1, false, TYPALIGN_INT));
		if (!names_contain(d, me_arr))
		{
			r->problem = "the row is not addressed to this node (its audience leaves it out)";
			return;
		}
	}
	if (r->is_chunk)
	{
		bytea	   *want;
		bytea	   *data;
		uint8		got[TL_HASH_LEN];

		chunk_no = DatumGetInt32(column(r, "chunk_no", &isnull));
		if (isnull || chunk_no < 0)
		{
			r->problem = "chunk_no is not a chunk number";
			return;
		}
		d = column(r, "chunk_sha256", &isnull);
		want = isnull ? NULL : DatumGetByteaPP(d);
		d = column(r, "data", &isnull);
		data = isnull ? NULL : DatumGetByteaPP(d);
		if (want == NULL || VARSIZE_ANY_EXHDR(want) != TL_HASH_LEN)
		{
			r->problem = "chunk_sha256 is not 32 bytes";
			return;
		}
		if (data == NULL || VARSIZE_ANY_EXHDR(data) == 0 || VARSIZE_ANY_EXHDR(data) > TL_BLOB_CHUNK)
		{
			r->problem = psprintf("a chunk holds 1 to %d bytes", TL_BLOB_CHUNK);
			return;
		}
		tl_sha256(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), got);
		if (memcmp(got, VARDATA_ANY(want), TL_HASH_LEN) != 0)
		{
			r->problem = psprintf("chunk %d of blob %s does not match its SHA-256 (%s sent, %s computed)",
								  chunk_no, hex_of((uint8 *) VARDATA_ANY(hash)),
								  hex_of((uint8 *) VARDATA_ANY(want)), hex_of(got));
			return;
		}
	}
	else
	{
		int64		size = DatumGetInt64(column(r, "size", &isnull));
		bool		n1 = isnull;
		int32		chunk_size = DatumGetInt32(column(r, "chunk_size", &isnull));
		bool		n2 = isnull;
		int32		chunk_count = DatumGetInt32(column(r, "chunk_count", &isnull));

		if (n1 || n2 || isnull || size < 0 || size > TL_BLOB_MAX_SIZE || chunk_size != TL_BLOB_CHUNK ||
			chunk_count != (size + TL_BLOB_CHUNK - 1) / TL_BLOB_CHUNK)
		{
			r->problem = psprintf("size, chunk_size and chunk_count of blob %s do not add up (chunks are %d bytes)",
								  hex_of((uint8 *) VARDATA_ANY(hash)), TL_BLOB_CHUNK);
			return;
		}
	}
	/* held already (the same content from another origin, or fetched) */
	owner_begin(&o);
	{
		Oid			types[2] = {BYTEAOID, INT4OID};
		Datum		values[2] = {PointerGetDatum(hash), Int32GetDatum(chunk_no)};

		if (SPI_execute_with_args(r->is_chunk
								  ? "SELECT 1 FROM tracelink.blob_chunks WHERE sha256 = $1 AND chunk_no = $2"
								  : "SELECT 1 FROM tracelink.blobs WHERE sha256 = $1",
								  r->is_chunk ? 2 : 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up a blob");
		r->held = SPI_processed > 0;
	}
	owner_end(&o);
}

/*
 * BEFORE INSERT (row), ENABLE ALWAYS, on tracelink.blobs and blob_chunks.
 * Rows written here by tracelink (store_blob, fetch_blob) or a restore
 * pass; rows from peers are checked, and quarantined or skipped rather
 * than raising (an error would stop the subscription).
 */
Datum
tl_blob_row_inserted(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	IncomingRow r = {0};
	ErrorData  *failure;
	MemoryContext cxt;
	MemoryContext old;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tl_blob_row_inserted: not called by trigger manager");
	if (!IsLogicalWorker())
		return PointerGetDatum(td->tg_trigtuple);

	tl_apply_begin();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink incoming blob row", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	r.tup = td->tg_trigtuple;
	r.desc = RelationGetDescr(td->tg_relation);
	r.is_chunk = strcmp(RelationGetRelationName(td->tg_relation), "blob_chunks") == 0;
	r.me = tl_local_node();
	failure = r.me == NULL ? NULL : tl_run_in_subtransaction(check_incoming, &r);
	if (r.me == NULL)
		r.problem = "this database is not a tracelink node";
	else if (failure != NULL)
		r.problem = psprintf("the row could not be checked: %s", failure->message);
	if (r.problem != NULL)
	{
		/* kept without its bytes: the quarantine is evidence, not storage */
		RowSource	src = {0};
		HeapTuple	copy = r.tup;

		if (r.is_chunk)
		{
			Datum		v = (Datum) 0;
			bool		isnull = true;
			int			col = SPI_fnumber(r.desc, "data");

			copy = heap_modify_tuple_by_cols(r.tup, r.desc, 1, &col, &v, &isnull);
		}
		src.tup = copy;
		src.desc = r.desc;
		tl_quarantine_source(r.is_chunk ? "chunk" : "blob", r.origin, r.problem, &src);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return PointerGetDatum(NULL);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return PointerGetDatum(r.held ? NULL : td->tg_trigtuple);
}

/* ----------------------------------------------------------------
 * File references in records (the recording node, src/trace.c)
 * ----------------------------------------------------------------
 */

/*
 * A record's file references (values of image, video and file items) that
 * name a blob this node holds must give its size and media type, where they
 * give them.  Malformed references are left to the projector's checks
 * (trace_values.c); blobs this node does not hold are not checked (another
 * node may hold them).
 */
void
tl_blob_check_references(const struct TlTraceForm *form, const JcsValue *data)
{
	int			i;

	if (form == NULL || data == NULL || data->kind != JCS_OBJECT)
		return;
	for (i = 0; i < form->nitems; i++)
	{
		const TlTraceItem *item = &form->items[i];
		JcsValue   *ref;
		JcsValue   *sha;
		JcsValue   *size;
		JcsValue   *media;
		uint8		hash[TL_HASH_LEN];
		AsOwner		o;
		Oid			types[1] = {BYTEAOID};
		Datum		values[1];
		bool		isnull;
		int64		held_size;
		char	   *held_media = NULL;

		if (item->type != TL_TYPE_IMAGE && item->type != TL_TYPE_VIDEO && item->type != TL_TYPE_FILE)
			continue;
		ref = jcs_object_get(data, item->name);
		if (ref == NULL || ref->kind != JCS_OBJECT)
			continue;
		sha = jcs_object_get(ref, "sha256");
		if (sha == NULL || sha->kind != JCS_STRING || sha->u.string.len != 2 * TL_HASH_LEN ||
			!tl_hex_decode(sha->u.string.str, sha->u.string.len, hash, TL_HASH_LEN))
			continue;
		values[0] = PointerGetDatum(tl_bytea_from(hash, TL_HASH_LEN));
		owner_begin(&o);
		if (SPI_execute_with_args("SELECT size, media_type FROM tracelink.blobs WHERE sha256 = $1",
								  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read tracelink.blobs");
		if (SPI_processed == 0)
		{
			owner_end(&o);
			continue;
		}
		held_size = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		{
			Datum		m = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

			if (!isnull)
				held_media = pstrdup(TextDatumGetCString(m));
		}
		owner_end(&o);
		size = jcs_object_get(ref, "size");
		if (size != NULL && (size->kind != JCS_NUMBER || size->u.number != (double) held_size))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("data item \"%s\" gives a size that is not the size of blob %s",
							item->name, hex_of(hash)),
					 errdetail("The blob holds " INT64_FORMAT " bytes.", held_size),
					 errhint("Put the file reference store_blob() returned into the record.")));
		media = jcs_object_get(ref, "media_type");
		if (media != NULL && held_media != NULL &&
			(media->kind != JCS_STRING || strlen(held_media) != media->u.string.len ||
			 memcmp(held_media, media->u.string.str, media->u.string.len) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("data item \"%s\" gives a media type that is not the media type of blob %s",
							item->name, hex_of(hash)),
					 errdetail("The blob was stored as %s.", held_media),
					 errhint("Put the file reference store_blob() returned into the record.")));
	}
}
