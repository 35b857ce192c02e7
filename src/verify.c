/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  Checking the ledger, exporting it, and proving entries to auditors.
 *
 * verify() trusts nothing but each origin's pinned genesis key: it rebuilds
 * every entry hash from the entry's content, every block's Merkle roots,
 * header hash, chain link and signature, follows key rotations, and
 * compares the result with the recorded heads, naming the first thing that
 * does not fit.  A superuser can bypass the append-only triggers; this is
 * what makes such tampering visible.  Large origins are checked by the
 * backend and parallel workers together ("Parallel verify()" below), with
 * the same answer.
 *
 * export() writes an origin's ledger as JSON Lines that the standalone
 * verifier (tools/tracelink-verify) checks outside PostgreSQL; the format is
 * in docs/ledger.md.  The proof functions read an origin's entry hashes from
 * its blocks (which every node holds, private entries included) and answer
 * with RFC 6962 proofs against signed tree heads, which are simply blocks:
 * a block's hash covers its tree size and tree root and is signed.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "port/atomics.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tl_verify);
PG_FUNCTION_INFO_V1(tl_export);
PG_FUNCTION_INFO_V1(tl_signed_tree_head);
PG_FUNCTION_INFO_V1(tl_tree_root);
PG_FUNCTION_INFO_V1(tl_inclusion_proof);
PG_FUNCTION_INFO_V1(tl_consistency_proof);
PG_FUNCTION_INFO_V1(tl_verify_tree_head);

#define FETCH_BATCH 1000

/* largest number of processes verify() uses on one origin, its own included */
#define VERIFY_MAX_PROCESSES 65

/*
 * Parts an origin's chain is cut into, per process: the processes take them
 * one at a time, so that they finish together however their speeds differ
 * (a busy core, the leader's tree pass).
 */
#define VERIFY_PARTS_PER_PROCESS 4
#define VERIFY_MAX_PARTS 256

/* GUCs (docs/ledger.md "Verifying on every core") */
static int	tl_verify_workers = 2;
static int	tl_verify_parallel_min_entries = 10000;

void
tl_verify_init(void)
{
	DefineCustomIntVariable("tracelink.verify_workers",
							gettext_noop("Parallel workers verify() uses per origin, besides the backend itself."),
							gettext_noop("0 verifies in the backend alone; workers come from max_parallel_workers."),
							&tl_verify_workers,
							2, 0, VERIFY_MAX_PROCESSES - 1,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("tracelink.verify_parallel_min_entries",
							gettext_noop("Entries an origin needs before verify() checks it with parallel workers."),
							NULL,
							&tl_verify_parallel_min_entries,
							10000, 0, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * Reading blocks and entries through SPI cursors
 * ----------------------------------------------------------------
 */

/*
 * Rows come back with the tables' columns in their order, so that block.c
 * decodes them as it decodes rows that arrive from peers; an entry row is
 * followed by the number of its block.
 */
static const char *const blocks_range_query =
"SELECT * FROM tracelink.ledger_blocks WHERE origin = $1 AND block_no >= $2"
" AND block_no < $3 ORDER BY block_no";

static const char *const entries_range_query =
"SELECT e.*, b.block_no"
"  FROM tracelink.ledger_blocks b"
"  JOIN tracelink.ledger_entries e ON e.origin = b.origin AND e.tx = b.tx"
" WHERE b.origin = $1 AND b.block_no >= $2 AND b.block_no < $3"
" ORDER BY b.block_no, e.seq";

/*
 * The origin's entries that lie in heap range [$2, $3) of ledger_entries,
 * with their blocks' numbers (NULL, last: no block seals the entry): a
 * part of a parallel verify() reads its share of the table rather than
 * all of it, and the parts together read every entry of the origin
 */
static const char *const entries_heap_query =
"SELECT e.*, b.block_no"
"  FROM tracelink.ledger_entries e"
"  LEFT JOIN tracelink.ledger_blocks b ON b.origin = e.origin AND b.tx = e.tx"
" WHERE e.origin = $1 AND e.ctid >= $2 AND e.ctid < $3"
" ORDER BY b.block_no, e.seq";

/* A forward cursor over query results, fetched in batches */
typedef struct RowCursor
{
	Portal		portal;
	SPITupleTable *batch;
	uint64		n;
	uint64		pos;
	bool		done;
} RowCursor;

/* blocks [lo, hi) of an origin (hi PG_INT64_MAX: to the end) */
static void
cursor_open_range(RowCursor *c, const char *query, const char *origin, int64 lo, int64 hi)
{
	Oid			types[3] = {TEXTOID, INT8OID, INT8OID};
	Datum		args[3];

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(lo);
	args[2] = Int64GetDatum(hi);
	memset(c, 0, sizeof(*c));
	c->portal = SPI_cursor_open_with_args(NULL, query, 3, types, args, NULL, true, 0);
}

static void
cursor_open_heap(RowCursor *c, const char *origin, ItemPointer lo, ItemPointer hi)
{
	Oid			types[3] = {TEXTOID, TIDOID, TIDOID};
	Datum		args[3];

	args[0] = CStringGetTextDatum(origin);
	args[1] = PointerGetDatum(lo);
	args[2] = PointerGetDatum(hi);
	memset(c, 0, sizeof(*c));
	c->portal = SPI_cursor_open_with_args(NULL, entries_heap_query, 3, types, args,
										  NULL, true, 0);
}

/* next row, or NULL at the end; valid until the next call */
static HeapTuple
cursor_next(RowCursor *c, TupleDesc *desc)
{
	if (c->done)
		return NULL;
	if (c->batch == NULL || c->pos >= c->n)
	{
		if (c->batch)
			SPI_freetuptable(c->batch);
		SPI_cursor_fetch(c->portal, true, FETCH_BATCH);
		c->batch = SPI_tuptable;
		c->n = SPI_processed;
		c->pos = 0;
		if (c->n == 0)
		{
			c->done = true;
			return NULL;
		}
	}
	*desc = c->batch->tupdesc;
	return c->batch->vals[c->pos++];
}

static void
cursor_close(RowCursor *c)
{
	if (c->batch)
		SPI_freetuptable(c->batch);
	SPI_cursor_close(c->portal);
}

/*
 * The block number an entry row of the entries queries ends with: -1 for
 * none (entries_heap_query: no block seals the entry)
 */
static int64
entry_block_no(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, ENTRY_NATTS + 1, &isnull);

	return isnull ? -1 : DatumGetInt64(d);
}

/*
 * Read an entry row of entries_range_query: the entry, and the number of its
 * block; returns why the row is no entry, or NULL.
 */
static const char *
read_entry(HeapTuple tup, TupleDesc desc, TlEntry *e, int64 *block_no)
{
	*block_no = entry_block_no(tup, desc);
	return tl_entry_decode(tup, desc, e);
}

/* ----------------------------------------------------------------
 * verify()
 * ----------------------------------------------------------------
 */

typedef struct VerifyResult
{
	int64		entries;
	int64		blocks;
	char	   *first_bad;
	char	   *reason;
	MemoryContext cxt;			/* where first_bad and reason live: the
								 * caller's, not the per-block context that
								 * is reset and deleted under them */
} VerifyResult;

#define BAD(res, where, ...) \
	do { \
		char	   *reason_ = psprintf(__VA_ARGS__); \
		(res)->first_bad = MemoryContextStrdup((res)->cxt, (where)); \
		(res)->reason = MemoryContextStrdup((res)->cxt, reason_); \
	} while (0)

/*
 * Where a part of a parallel verify() reads only its share of the heap
 * (entries_heap_query), an entry may lie in another part's share: the
 * heap's free space is reused after a vacuum.  The part that meets such a
 * row lets it be when the entry's block seals exactly this row at its seq
 * and no other row of the origin has its hash (foreign_entry_ok()); the
 * part of its block then finds it by the hash its block seals
 * (displaced_entry()).  Anything else makes the parts read the whole table
 * (a "stray": the part fails without a reason).
 */

/*
 * Rows of other parts' blocks a part checks before it gives up on its
 * share (a table rewritten in another order: reading it whole is cheaper)
 */
#define VERIFY_MAX_FOREIGN 2000

/* the hash block `block_no` of an origin seals at `seq`: false if none */
static bool
sealed_hash(const char *origin, int64 block_no, int32 seq, uint8 *hash)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	bool		isnull;
	bytea	   *sealed;
	bool		found;

	args[0] = CStringGetTextDatum(origin);
	args[1] = Int64GetDatum(block_no);
	if (SPI_execute_plan(tl_spi_plan(&plan, "SELECT entry_hashes FROM tracelink.ledger_blocks"
									 " WHERE origin = $1 AND block_no = $2", 2, types),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read a block of origin \"%s\"", origin);
	found = SPI_processed == 1 && seq >= 0;
	if (found)
	{
		sealed = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		found = !isnull && (Size) VARSIZE_ANY_EXHDR(sealed) >= ((Size) seq + 1) * TL_HASH_LEN;
		if (found)
			memcpy(hash, VARDATA_ANY(sealed) + (Size) seq * TL_HASH_LEN, TL_HASH_LEN);
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * The origin's entry rows whose entry_hash is `hash`, each followed by its
 * ctid, in SPI_tuptable (the caller frees it)
 */
static void
rows_with_hash(const char *origin, const uint8 *hash)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {BYTEAOID, TEXTOID};
	Datum		args[2];

	args[0] = PointerGetDatum(tl_bytea_from(hash, TL_HASH_LEN));
	args[1] = CStringGetTextDatum(origin);
	if (SPI_execute_plan(tl_spi_plan(&plan, "SELECT e.*, e.ctid FROM tracelink.ledger_entries e"
									 " WHERE e.entry_hash = $1 AND e.origin = $2", 2, types),
						 args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up an entry of origin \"%s\"", origin);
}

/* the ctid that follows an entry row of rows_with_hash() */
static ItemPointer
row_ctid(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;

	return (ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, ENTRY_NATTS + 1, &isnull));
}

/*
 * Is the entry row of another part's block one that part will find?  What
 * it allocates goes into `scratch`, reset before returning.
 */
static bool
foreign_entry_ok(HeapTuple tup, TupleDesc desc, const char *origin, int64 block_no,
				 MemoryContext scratch)
{
	MemoryContext old = MemoryContextSwitchTo(scratch);
	TlEntry		e;
	uint8		sealed[TL_HASH_LEN];
	bool		ok;

	ok = block_no >= 0 && tl_entry_decode(tup, desc, &e) == NULL &&
		sealed_hash(origin, block_no, e.seq, sealed) &&
		memcmp(sealed, e.hash, TL_HASH_LEN) == 0;
	if (ok)
	{
		rows_with_hash(origin, e.hash);
		ok = SPI_processed == 1;
		SPI_freetuptable(SPI_tuptable);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(scratch);
	return ok;
}

/*
 * The entry at `seq` of block b that is not in this part's heap share
 * [heap_lo, heap_hi): found by the hash the block seals there.  1 (in *e,
 * allocated in the current context) or 0 (none: for another node's chain,
 * an entry for others), or -1 when what is found is more than the one row
 * foreign_entry_ok() lets be (read the whole table).
 */
static int
displaced_entry(const char *origin, const TlBlock *b, int32 seq,
				ItemPointer heap_lo, ItemPointer heap_hi, TlEntry *e)
{
	int			found = 0;
	uint64		i;

	rows_with_hash(origin, b->entry_hashes + (Size) seq * TL_HASH_LEN);
	for (i = 0; i < SPI_processed && found >= 0; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		ItemPointer tid;
		TlEntry		row;

		if (tl_entry_decode(tup, desc, &row) != NULL)
			found = -1;
		/* a row of another (origin, tx, seq) is its own part's business */
		else if (row.tx == b->h.tx && row.seq == seq)
		{
			tid = row_ctid(tup, desc);
			if (found > 0 ||
				(ItemPointerCompare(tid, heap_lo) >= 0 && ItemPointerCompare(tid, heap_hi) < 0))
				found = -1;
			else
			{
				*e = row;		/* decoded into copies: the rows can go */
				found = 1;
			}
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/* how verify() names the entry at `seq` of block b */
static char *
entry_name(const char *origin, const TlBlock *b, int32 seq)
{
	return psprintf("entry %s:" INT64_FORMAT " (block " INT64_FORMAT ", seq %d)",
					origin, b->h.tree_size - b->h.entry_count + seq, b->h.block_no, seq);
}

/*
 * Verify one block's entries (those present) against the block, with the
 * checks the apply path makes as they arrive (block.c), and that none is
 * there twice (nor, on this node's own chain, missing); advance the entries
 * cursor past them.  With heap_lo (a part reading its heap share), entries
 * the share lacks are looked up (displaced_entry()).  Returns false and
 * fills res on a problem; false without a reason for a stray.
 */
static bool
verify_block_entries(RowCursor *ec, HeapTuple *etup, TupleDesc *edesc,
					 const char *origin, const TlBlock *b, bool local,
					 ItemPointer heap_lo, ItemPointer heap_hi,
					 VerifyResult *res)
{
	int32		expect_seq = 0;
	int32		present = 0;
	bool		rotation_entry = false;
	const char *problem;

	/*
	 * What reading and checking one entry allocates (its payload, its
	 * preimage) is freed before the next: a block may hold many entries.
	 * Problems are reported in the caller's context.
	 */
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext entry_cxt = AllocSetContextCreate(caller, "tracelink verify entry",
													ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TlEntry		e;
		int64		block_no = -1;
		bool		is_rotation;
		bool		looked_up = false;
		char	   *where;

		MemoryContextReset(entry_cxt);
		MemoryContextSwitchTo(entry_cxt);
		problem = NULL;
		if (*etup != NULL)
			problem = read_entry(*etup, *edesc, &e, &block_no);
		if (heap_lo != NULL && expect_seq < b->h.entry_count &&
			(block_no != b->h.block_no || (problem == NULL && e.seq > expect_seq)))
		{
			/* an entry before this row (or after the last) the share lacks */
			int			n = displaced_entry(origin, b, expect_seq, heap_lo, heap_hi, &e);

			if (n < 0)
			{
				MemoryContextSwitchTo(caller);
				MemoryContextDelete(entry_cxt);
				return false;
			}
			if (n == 0 && !local)
			{
				/* none: another node's entry for others */
				expect_seq++;
				MemoryContextSwitchTo(caller);
				continue;
			}
			/* none on this node's own chain: missing, as said below */
			if (n > 0)
			{
				looked_up = true;
				problem = NULL;
				block_no = b->h.block_no;
			}
		}
		MemoryContextSwitchTo(caller);
		if (block_no != b->h.block_no)
			break;
		MemoryContextSwitchTo(entry_cxt);
		where = entry_name(origin, b, e.seq);
		MemoryContextSwitchTo(caller);
		if (problem == NULL && e.seq >= 0 && e.seq < expect_seq)
			problem = "entry appears more than once in the ledger";
		if (problem == NULL && e.seq > expect_seq && e.seq < b->h.entry_count && local)
		{
			BAD(res, entry_name(origin, b, expect_seq),
				"entry is missing from the ledger (deleted?)");
			return false;
		}
		if (problem == NULL)
		{
			MemoryContextSwitchTo(entry_cxt);
			problem = tl_check_entry(&e, b, &is_rotation);
			MemoryContextSwitchTo(caller);
		}
		if (problem != NULL)
		{
			BAD(res, where, "%s", problem);
			return false;
		}
		rotation_entry |= is_rotation;
		res->entries++;
		present++;
		expect_seq = e.seq + 1;
		if (!looked_up)
			*etup = cursor_next(ec, edesc);
	}
	MemoryContextDelete(entry_cxt);
	if (expect_seq != b->h.entry_count && local)
	{
		BAD(res, entry_name(origin, b, expect_seq),
			"entry is missing from the ledger (deleted?)");
		return false;
	}
	problem = tl_check_block_complete(&b->h, present, rotation_entry);
	if (problem != NULL)
	{
		BAD(res, psprintf("block " INT64_FORMAT, b->h.block_no), "%s", problem);
		return false;
	}
	return true;
}

/*
 * Check blocks [lo, hi) of an origin's chain in order, each with its
 * entries.  `start` is the head after block lo - 1 as its row has it (NULL
 * when lo is 0: the chain then starts at the pinned key).  With `tree` the
 * tree heads are checked too, as the serial verify() does; without, they
 * are left to the caller (a part of a parallel verify(): start then has no
 * tree).  Counts go to res, *tip gets the head after the last block checked
 * and *next_block the number after it.  Returns false and fills res on a
 * problem.
 */
static bool
verify_blocks(const char *origin, const uint8 *pinned_key, bool local,
			  int64 lo, int64 hi, ItemPointer heap_lo, ItemPointer heap_hi,
			  const TlHead *start, bool tree,
			  VerifyResult *res, TlHead *tip, int64 *next_block)
{
	RowCursor	bc;
	RowCursor	ec;
	HeapTuple	btup;
	HeapTuple	etup;
	TupleDesc	bdesc;
	TupleDesc	edesc = NULL;
	bool		started = false;
	int64		expect_block = lo;
	bool		ok = true;
	int			foreign = 0;
	MemoryContext percall = AllocSetContextCreate(CurrentMemoryContext,
												  "tracelink verify block",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	memset(tip, 0, sizeof(*tip));
	cursor_open_range(&bc, blocks_range_query, origin, lo, hi);
	if (heap_lo != NULL)
		cursor_open_heap(&ec, origin, heap_lo, heap_hi);
	else
		cursor_open_range(&ec, entries_range_query, origin, lo, hi);
	etup = cursor_next(&ec, &edesc);
	/* entries of earlier parts' blocks in this share (sorted first) */
	while (heap_lo != NULL && ok && etup != NULL && entry_block_no(etup, edesc) < lo)
	{
		ok = ++foreign <= VERIFY_MAX_FOREIGN &&
			foreign_entry_ok(etup, edesc, origin, entry_block_no(etup, edesc), percall);
		etup = cursor_next(&ec, &edesc);
	}
	while (ok && (btup = cursor_next(&bc, &bdesc)) != NULL)
	{
		TlBlock		b;
		TlMerkleFrontier frontier;
		const char *problem;
		char	   *where;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(percall);
		problem = tl_block_decode(btup, bdesc, &b);
		MemoryContextSwitchTo(old);
		where = psprintf("block " INT64_FORMAT, b.h.block_no);

		if (problem == NULL && b.h.block_no != expect_block)
		{
			BAD(res, psprintf("block " INT64_FORMAT, expect_block),
				"block is missing: the chain jumps from block " INT64_FORMAT " to " INT64_FORMAT,
				expect_block - 1, b.h.block_no);
			ok = false;
			break;
		}
		if (problem == NULL)
		{
			/* the checks the apply path makes as blocks arrive (block.c) */
			old = MemoryContextSwitchTo(percall);
			problem = tl_check_block(&b, started ? tip : start, pinned_key,
									 tree ? &frontier : NULL);
			MemoryContextSwitchTo(old);
		}
		if (problem != NULL)
		{
			BAD(res, where, "%s", problem);
			ok = false;
			break;
		}
		old = MemoryContextSwitchTo(percall);
		ok = verify_block_entries(&ec, &etup, &edesc, origin, &b, local,
								  heap_lo, heap_hi, res);
		MemoryContextSwitchTo(old);
		if (!ok)
			break;
		if (!tree)
			tl_frontier_init(&frontier);
		tl_head_after_block(tip, &b, &frontier);
		started = true;
		expect_block++;
		res->blocks++;
		MemoryContextReset(percall);
	}
	/* entries of later parts' blocks, or of no block (sorted last) */
	while (heap_lo != NULL && ok && etup != NULL)
	{
		int64		block_no = entry_block_no(etup, edesc);

		ok = block_no >= expect_block && ++foreign <= VERIFY_MAX_FOREIGN &&
			foreign_entry_ok(etup, edesc, origin, block_no, percall);
		etup = cursor_next(&ec, &edesc);
	}
	cursor_close(&bc);
	cursor_close(&ec);
	/* BAD() put any problem in res->cxt, not in percall */
	MemoryContextDelete(percall);
	*next_block = expect_block;
	return ok;
}

/* ----------------------------------------------------------------
 * Parallel verify()
 *
 * Every check of a block but its tree head needs only the block, its
 * entries and the row of the block before it; the tree head needs the
 * whole tree before it.  So an origin's blocks are cut into ranges of
 * about as many entries each, VERIFY_PARTS_PER_PROCESS per process, which
 * the leader and parallel workers (access/parallel.h: the leader's
 * snapshot, transaction and user) take one at a time and check, each from
 * the row of the block before its range, with verify_blocks().  The leader
 * first folds every block's entry hashes into the tree in order and checks
 * each tree head and that the block numbers run on, then takes parts too:
 * whoever is slower (the leader with its tree, a process on a busy core)
 * takes fewer.  When all of that passes, the chain
 * is what the serial check would have found, with the same counts.  On
 * anything else the origin is checked again serially, which names the
 * first problem exactly as it always has: a failing ledger costs a little
 * more, a sound one is checked on every core.  (How each part reads its
 * entries: verify_origin_parallel().)
 * ----------------------------------------------------------------
 */

#define VERIFY_SHM_KEY	UINT64CONST(0x74726c7665726966)

typedef struct VerifyPart
{
	int64		lo;				/* blocks [lo, hi) */
	int64		hi;
	ItemPointerData heap_lo;	/* their entries in ledger_entries' heap */
	ItemPointerData heap_hi;	/* [heap_lo, heap_hi), when heap_parts */
	bool		done;
	bool		ok;
	bool		stray;			/* not ok only for an entry of another part */
	int64		entries;
	int64		blocks;
} VerifyPart;

typedef struct VerifyShared
{
	char		origin[NAMEDATALEN];
	uint8		pinned_key[TL_ED25519_PK_LEN];
	bool		local;
	int			nworkers;		/* parallel workers wanted */
	int			nparts;
	bool		heap_parts;		/* each part reads its heap range only */
	pg_atomic_uint32 next_part; /* the next part nobody has taken */
	VerifyPart	parts[VERIFY_MAX_PARTS];
} VerifyShared;

PGDLLEXPORT void tl_verify_worker_main(dsm_segment *seg, shm_toc *toc);

/* check one part; its outcome goes to shared memory */
static void
verify_part(VerifyShared *sh, int i)
{
	VerifyPart *p = &sh->parts[i];
	VerifyResult res;
	TlHead		start;
	TlHead		tip;
	int64		next_block;
	bool		ok = true;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "tracelink verify part",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);

	memset(&res, 0, sizeof(res));
	res.cxt = cxt;
	memset(&start, 0, sizeof(start));
	if (p->lo > 0)
	{
		Oid			types[2] = {TEXTOID, INT8OID};
		Datum		args[2];
		TlBlock		prev;

		/* the range starts from the row of the block before it */
		args[0] = CStringGetTextDatum(sh->origin);
		args[1] = Int64GetDatum(p->lo - 1);
		if (SPI_execute_with_args("SELECT * FROM tracelink.ledger_blocks"
								  " WHERE origin = $1 AND block_no = $2",
								  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read a block of origin \"%s\"", sh->origin);
		if (SPI_processed == 0 ||
			tl_block_decode(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, &prev) != NULL)
			ok = false;
		else
		{
			TlMerkleFrontier none;

			tl_frontier_init(&none);
			tl_head_after_block(&start, &prev, &none);
		}
	}
	if (ok)
	{
		ok = verify_blocks(sh->origin, sh->pinned_key, sh->local, p->lo, p->hi,
						   sh->heap_parts ? &p->heap_lo : NULL,
						   sh->heap_parts ? &p->heap_hi : NULL,
						   p->lo > 0 ? &start : NULL, false, &res, &tip, &next_block);
		/* it fails without a reason only for an entry of another part */
		p->stray = !ok && res.first_bad == NULL;
	}
	p->ok = ok;
	p->entries = res.entries;
	p->blocks = res.blocks;
	p->done = true;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * Check parts nobody has taken until none is left; after a part that does
 * not pass, none is taken by anybody (the origin is checked again anyway).
 */
static void
take_parts(VerifyShared *sh)
{
	uint32		i;

	while ((i = pg_atomic_fetch_add_u32(&sh->next_part, 1)) < (uint32) sh->nparts)
	{
		verify_part(sh, (int) i);
		if (!sh->parts[i].ok)
			pg_atomic_write_u32(&sh->next_part, (uint32) sh->nparts);
	}
}

/*
 * Entry point of verify()'s parallel workers (parallel.c calls it in the
 * leader's transaction and snapshot, as the leader's user).
 */
void
tl_verify_worker_main(dsm_segment *seg, shm_toc *toc)
{
	VerifyShared *sh = shm_toc_lookup(toc, VERIFY_SHM_KEY, false);
	int			spi_nest = tl_spi_connect();

	take_parts(sh);
	tl_spi_finish(spi_nest);
}

/*
 * The leader's pass over every block: numbers in sequence from 0, each
 * tree head following from the tree before it.  Fills *tip, *next_block
 * and *blocks; false when anything does not fit.
 */
static bool
verify_tree_heads(const char *origin, TlHead *tip, int64 *next_block, int64 *blocks)
{
	RowCursor	bc;
	HeapTuple	btup;
	TupleDesc	bdesc;
	TlMerkleFrontier frontier;
	int64		expect_block = 0;
	bool		ok = true;
	MemoryContext percall = AllocSetContextCreate(CurrentMemoryContext,
												  "tracelink verify tree",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;

	tl_frontier_init(&frontier);
	memset(tip, 0, sizeof(*tip));
	cursor_open_range(&bc, blocks_range_query, origin, 0, PG_INT64_MAX);
	while (ok && (btup = cursor_next(&bc, &bdesc)) != NULL)
	{
		TlBlock		b;
		uint8		leaf[TL_HASH_LEN];
		uint8		root[TL_HASH_LEN];
		int32		i;

		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(percall);
		ok = tl_block_decode(btup, bdesc, &b) == NULL &&
			b.h.block_no == expect_block &&
			b.h.entry_count <= TL_BLOCK_MAX_ENTRIES;
		if (ok)
		{
			for (i = 0; i < b.h.entry_count; i++)
			{
				tl_merkle_leaf_hash(b.entry_hashes + (size_t) i * TL_HASH_LEN,
									TL_HASH_LEN, leaf);
				tl_frontier_append(&frontier, leaf);
			}
			tl_frontier_root(&frontier, root);
			ok = tl_check_block_tree(&b, &frontier, root) == NULL;
		}
		MemoryContextSwitchTo(old);
		if (ok)
		{
			tl_head_after_block(tip, &b, &frontier);
			expect_block++;
		}
		MemoryContextReset(percall);
	}
	cursor_close(&bc);
	MemoryContextDelete(percall);
	*next_block = expect_block;
	*blocks = expect_block;
	return ok;
}

/* how the parts of a parallel verify() went */
typedef enum PartsOutcome
{
	PARTS_OK,
	PARTS_STRAY,				/* an entry lay in another part's heap range */
	PARTS_FAILED				/* anything else: check serially */
} PartsOutcome;

/*
 * Run the parts of `plan` on the leader and parallel workers; with `tree`,
 * the leader then checks the tree heads (verify_tree_heads()).  Sums the
 * parts' counts into *entries and *blocks.
 */
static PartsOutcome
run_parts(const VerifyShared *plan, bool tree, TlHead *tip, int64 *next_block,
		  int64 *entries, int64 *blocks)
{
	ParallelContext *pcxt;
	VerifyShared *sh;
	bool		failed = false;
	bool		stray = false;
	int64		tree_blocks = 0;
	int			i;

	EnterParallelMode();
	pcxt = CreateParallelContext("$libdir/tracelink", "tl_verify_worker_main",
								 plan->nworkers);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(VerifyShared));
	shm_toc_estimate_keys(&pcxt->estimator, 1);
	InitializeParallelDSM(pcxt);
	sh = shm_toc_allocate(pcxt->toc, sizeof(VerifyShared));
	memcpy(sh, plan, sizeof(VerifyShared));
	pg_atomic_init_u32(&sh->next_part, 0);
	shm_toc_insert(pcxt->toc, VERIFY_SHM_KEY, sh);
	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched == 0)
	{
		/* no worker (max_parallel_workers): the serial check is cheaper */
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return PARTS_FAILED;
	}

	/* the tree while the workers start on the parts, then parts */
	if (tree && !verify_tree_heads(sh->origin, tip, next_block, &tree_blocks))
	{
		failed = true;
		pg_atomic_write_u32(&sh->next_part, (uint32) sh->nparts);
	}
	take_parts(sh);
	WaitForParallelWorkersToFinish(pcxt);
	*entries = *blocks = 0;
	for (i = 0; i < sh->nparts; i++)
	{
		stray |= sh->parts[i].stray;
		failed |= !sh->parts[i].done || !sh->parts[i].ok;
		*entries += sh->parts[i].entries;
		*blocks += sh->parts[i].blocks;
	}
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	if (tree && *blocks != tree_blocks)
		failed = true;

	/*
	 * An entry of another part's block in a part's heap range is also an
	 * entry missing from that other part, whatever that part found:
	 * checking again, each part reading the whole table, tells.  Without
	 * one, each part read all entries of its blocks, and a problem is one.
	 */
	if (stray)
		return PARTS_STRAY;
	return failed ? PARTS_FAILED : PARTS_OK;
}

/*
 * Where in ledger_entries' heap block `block_no` of an origin has its
 * first entry: false when that cannot be found.
 */
static bool
first_entry_position(const char *origin, int64 block_no, ItemPointer tid)
{
	uint8		first[TL_HASH_LEN];
	bool		found = false;
	uint64		i;

	if (!sealed_hash(origin, block_no, 0, first))
		return false;
	rows_with_hash(origin, first);
	for (i = 0; i < SPI_processed; i++)
	{
		ItemPointer t = row_ctid(SPI_tuptable->vals[i], SPI_tuptable->tupdesc);

		if (!found || ItemPointerCompare(t, tid) < 0)
			ItemPointerCopy(t, tid);
		found = true;
	}
	SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * Check an origin's chain with parallel workers, when it is worth it.
 * True when every block and entry passed: res has the counts, *tip the
 * head after the last block, *next_block the number after it.  False
 * when the chain is to be checked serially (too small, no workers
 * wanted, or something did not fit).
 *
 * Each part first reads only its range of ledger_entries' heap, from the
 * first entry of its first block to that of the next part's: a chain
 * written in order (its entries in the heap in the order of their blocks)
 * is then read once in all, not once per part.  An entry out of place
 * is found by its hash (foreign_entry_ok(), displaced_entry()); a part
 * that meets anything else there says so (no entry is then missed: the
 * ranges cover the heap), and the parts run again, each reading the whole
 * table for its blocks.
 */
static bool
verify_origin_parallel(const char *origin, const uint8 *pinned_key, bool local,
					   VerifyResult *res, TlHead *tip, int64 *next_block,
					   bool *every_entry_sealed)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	bool		isnull;
	int64		last_block;
	int64		total;
	int			nparts;
	int			i;
	VerifyShared *plan;
	PartsOutcome outcome;
	int64		entries;
	int64		blocks;

	if (tl_verify_workers <= 0 || IsInParallelMode() ||
		strlen(origin) >= NAMEDATALEN)
		return false;

	/* the size of the chain, and where to cut it */
	args[0] = CStringGetTextDatum(origin);
	if (SPI_execute_with_args("SELECT block_no, tree_size FROM tracelink.ledger_blocks"
							  " WHERE origin = $1 ORDER BY block_no DESC LIMIT 1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the last block of origin \"%s\"", origin);
	if (SPI_processed == 0)
		return false;
	last_block = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (total < tl_verify_parallel_min_entries || last_block < 1 || total < 2)
		return false;
	nparts = (int) Min((int64) Min((Min(tl_verify_workers, VERIFY_MAX_PROCESSES - 1) + 1) *
									VERIFY_PARTS_PER_PROCESS, VERIFY_MAX_PARTS),
					   last_block + 1);

	plan = palloc0(sizeof(VerifyShared));
	strlcpy(plan->origin, origin, NAMEDATALEN);
	memcpy(plan->pinned_key, pinned_key, TL_ED25519_PK_LEN);
	plan->local = local;
	plan->nworkers = Min(tl_verify_workers, nparts - 1);
	plan->nparts = nparts;
	plan->parts[0].lo = 0;
	for (i = 1; i < nparts; i++)
	{
		int64		lo = plan->parts[i - 1].lo;

		/* the block that holds the first entry of part i */
		args[1] = Int64GetDatum((int64) ((double) total * i / nparts) + 1);
		if (SPI_execute_with_args("SELECT block_no FROM tracelink.ledger_blocks"
								  " WHERE origin = $1 AND tree_size >= $2"
								  " ORDER BY tree_size LIMIT 1",
								  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not cut the chain of origin \"%s\"", origin);
		if (SPI_processed > 0)
			lo = Max(lo, DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													 SPI_tuptable->tupdesc, 1, &isnull)));
		plan->parts[i].lo = Max(lo, 1);
		plan->parts[i - 1].hi = plan->parts[i].lo;
	}
	plan->parts[nparts - 1].hi = PG_INT64_MAX;

	/* the parts' heap ranges: from (0,0) to past any tuple */
	plan->heap_parts = true;
	ItemPointerSet(&plan->parts[0].heap_lo, 0, 0);
	for (i = 1; i < nparts && plan->heap_parts; i++)
	{
		plan->heap_parts =
			first_entry_position(origin, plan->parts[i].lo, &plan->parts[i].heap_lo) &&
			ItemPointerCompare(&plan->parts[i - 1].heap_lo, &plan->parts[i].heap_lo) <= 0;
		plan->parts[i - 1].heap_hi = plan->parts[i].heap_lo;
	}
	ItemPointerSet(&plan->parts[nparts - 1].heap_hi, InvalidBlockNumber, 0);
	elog(DEBUG1, "verify(): origin \"%s\" in %d parts%s", origin, nparts,
		 plan->heap_parts ? ", each reading its range of the heap" : "");

	outcome = run_parts(plan, true, tip, next_block, &entries, &blocks);
	if (outcome == PARTS_STRAY)
	{
		elog(DEBUG1, "verify(): entries of origin \"%s\" lie in the heap out of their blocks' order: each part reads the whole table",
			 origin);
		plan->heap_parts = false;
		outcome = run_parts(plan, false, tip, next_block, &entries, &blocks);
	}
	if (outcome != PARTS_OK)
	{
		pfree(plan);
		return false;
	}
	/* the heap ranges cover the table: every entry was read, with its block */
	*every_entry_sealed = plan->heap_parts;
	pfree(plan);
	res->entries = entries;
	res->blocks = blocks;
	return true;
}

/*
 * Verify an origin's whole chain.
 */
static void
verify_origin(const char *origin, const uint8 *pinned_key, bool local,
			  VerifyResult *res)
{
	TlHead		tip;			/* the chain so far: its last block */
	int64		expect_block = 0;
	bool		every_entry_sealed = false;
	bool		ok;

	memset(res, 0, sizeof(*res));
	res->cxt = CurrentMemoryContext;
	ok = verify_origin_parallel(origin, pinned_key, local, res, &tip, &expect_block,
								&every_entry_sealed);
	if (!ok)
	{
		memset(res, 0, sizeof(*res));
		res->cxt = CurrentMemoryContext;
		ok = verify_blocks(origin, pinned_key, local, 0, PG_INT64_MAX, NULL, NULL,
						   NULL, true, res, &tip, &expect_block);
	}

	/* this node's own chain starts with its genesis block (init_node) */
	if (ok && local && expect_block == 0)
	{
		BAD(res, "block 0", "this node has no ledger: its genesis block is missing (were the ledger tables restored?)");
		ok = false;
	}
	if (ok && !every_entry_sealed)
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1];

		/* entries that no block seals (the parts' heap reads tell otherwise) */
		args[0] = CStringGetTextDatum(origin);
		if (SPI_execute_with_args("SELECT e.tx, e.seq FROM tracelink.ledger_entries e"
								  " WHERE e.origin = $1 AND NOT EXISTS"
								  " (SELECT 1 FROM tracelink.ledger_blocks b"
								  "   WHERE b.origin = e.origin AND b.tx = e.tx)"
								  " ORDER BY e.tx, e.seq LIMIT 1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look for unsealed entries");
		if (SPI_processed > 0)
		{
			BAD(res, psprintf("entry %s tx %s seq %s", origin,
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
							  SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				"entry belongs to no block (inserted behind tracelink's back?)");
			ok = false;
		}
	}
	if (ok)
	{
		Oid			types[1] = {TEXTOID};
		Datum		args[1];

		/* the recorded head must be where the chain ends */
		args[0] = CStringGetTextDatum(origin);
		if (SPI_execute_with_args("SELECT block_no, block_hash, tree_size FROM tracelink.ledger_heads"
								  " WHERE origin = $1",
								  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the head of origin \"%s\"", origin);
		if (SPI_processed == 0 && expect_block > 0)
		{
			BAD(res, "head", "origin has blocks but no recorded head");
			ok = false;
		}
		else if (SPI_processed > 0)
		{
			bool		isnull;
			HeapTuple	t = SPI_tuptable->vals[0];
			TupleDesc	d = SPI_tuptable->tupdesc;
			int64		head_block = DatumGetInt64(SPI_getbinval(t, d, 1, &isnull));
			uint8		head_hash[TL_HASH_LEN];
			int64		head_size = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));

			if (head_block != expect_block - 1)
			{
				BAD(res, psprintf("block " INT64_FORMAT, expect_block),
					"ledger is truncated: its head records block " INT64_FORMAT
					" but the chain ends at block " INT64_FORMAT,
					head_block, expect_block - 1);
				ok = false;
			}
			else if (!tl_fixed_bytea(t, d, 2, head_hash, TL_HASH_LEN) ||
					 memcmp(head_hash, tip.block_hash, TL_HASH_LEN) != 0 ||
					 (uint64) head_size != tip.frontier.size)
			{
				BAD(res, "head", "the recorded head does not match the last block");
				ok = false;
			}
		}
	}
}

/*
 * tracelink.verify(origin text default null)
 *	returns table(origin, entries, blocks, ok, first_bad, reason)
 */
Datum
tl_verify(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	int			guc_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *only = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext caller = CurrentMemoryContext;
	uint64		norigins;
	uint64		i;
	char	  **origins;
	uint8	   *keys;
	bool	   *known;
	bool	   *local;

	InitMaterializedSRF(fcinfo, 0);

	spi_nest = tl_spi_connect();

	/*
	 * A block's entries are found by a join with no index on the entries'
	 * side.  Before the ledger's statistics are gathered (a bulk load just
	 * before), the planner may scan the entries once per block: quadratic.
	 * A hash or merge join reads them once.  Parallel workers inherit it.
	 */
	guc_nest = NewGUCNestLevel();
	(void) set_config_option("enable_nestloop", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * Listing the origins reads every entry: with as many parallel workers
	 * as the chains are checked with (none, when verify_workers is 0).
	 */
	if (tl_verify_workers < max_parallel_workers_per_gather)
		(void) set_config_option("max_parallel_workers_per_gather",
								 psprintf("%d", tl_verify_workers), PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	/* every origin that has anything, and every known node */
	if (SPI_execute("SELECT o.origin, n.public_key, n.is_local"
					"  FROM (SELECT origin FROM tracelink.ledger_blocks"
					"        UNION SELECT e.origin FROM (SELECT DISTINCT origin FROM tracelink.ledger_entries) e"
					"        UNION SELECT origin FROM tracelink.ledger_heads"
					"        UNION SELECT name FROM tracelink.nodes) o"
					"  LEFT JOIN tracelink.nodes n ON n.name = o.origin"
					" ORDER BY n.is_local DESC NULLS LAST, o.origin",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list ledger origins");
	norigins = SPI_processed;
	origins = MemoryContextAlloc(caller, sizeof(char *) * Max(norigins, 1));
	keys = MemoryContextAlloc(caller, (size_t) TL_ED25519_PK_LEN * Max(norigins, 1));
	known = MemoryContextAlloc(caller, sizeof(bool) * Max(norigins, 1));
	local = MemoryContextAlloc(caller, sizeof(bool) * Max(norigins, 1));
	for (i = 0; i < norigins; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		bool		isnull;

		origins[i] = MemoryContextStrdup(caller, SPI_getvalue(t, SPI_tuptable->tupdesc, 1));
		known[i] = tl_fixed_bytea(t, SPI_tuptable->tupdesc, 2,
								   keys + i * TL_ED25519_PK_LEN, TL_ED25519_PK_LEN);
		local[i] = DatumGetBool(SPI_getbinval(t, SPI_tuptable->tupdesc, 3, &isnull)) && !isnull;
	}

	for (i = 0; i < norigins; i++)
	{
		VerifyResult res;
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};
		MemoryContext old;

		if (only != NULL && strcmp(only, origins[i]) != 0)
			continue;
		if (!known[i])
		{
			memset(&res, 0, sizeof(res));
			res.first_bad = "origin";
			res.reason = "origin is not a known node: its blocks cannot be checked against a pinned key";
		}
		else
			verify_origin(origins[i], keys + i * TL_ED25519_PK_LEN, local[i], &res);

		old = MemoryContextSwitchTo(caller);
		values[0] = CStringGetTextDatum(origins[i]);
		values[1] = Int64GetDatum(res.entries);
		values[2] = Int64GetDatum(res.blocks);
		values[3] = BoolGetDatum(res.first_bad == NULL);
		if (res.first_bad)
		{
			values[4] = CStringGetTextDatum(res.first_bad);
			values[5] = CStringGetTextDatum(res.reason);
		}
		else
			nulls[4] = nulls[5] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	/* no origin at all: say so rather than return nothing (read as "all ok") */
	if (norigins == 0 && only == NULL)
	{
		Datum		values[6];
		bool		nulls[6] = {true, false, false, false, false, false};
		MemoryContext old = MemoryContextSwitchTo(caller);

		values[1] = Int64GetDatum(0);
		values[2] = Int64GetDatum(0);
		values[3] = BoolGetDatum(false);
		values[4] = CStringGetTextDatum("ledger");
		values[5] = CStringGetTextDatum("this database holds no ledger: it is not a tracelink node (run tracelink.init_node()), or its ledger was not restored");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(old);
	}
	if (only != NULL)
	{
		bool		seen = false;

		for (i = 0; i < norigins; i++)
			seen |= strcmp(only, origins[i]) == 0;
		if (!seen)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("unknown origin \"%s\"", only),
					 errdetail("No node of that name and no ledger rows from it.")));
	}
	AtEOXact_GUC(true, guc_nest);
	tl_spi_finish(spi_nest);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * export()
 * ----------------------------------------------------------------
 */

static void
append_hex_json(StringInfo out, const uint8 *data, int len)
{
	char	   *hex = palloc(2 * len + 1);

	tl_hex_encode(data, len, hex);
	appendStringInfoChar(out, '"');
	appendStringInfoString(out, hex);
	appendStringInfoChar(out, '"');
	pfree(hex);
}

/*
 * tracelink.export(origin text, from_block bigint default 0) returns setof text
 *
 * A header line, then for each block its entries (their hashed canonical
 * JSON, verbatim) followed by the block line.
 */
Datum
tl_export(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *origin;
	int64		from_block = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	MemoryContext caller = CurrentMemoryContext;
	RowCursor	bc;
	RowCursor	ec;
	HeapTuple	btup;
	HeapTuple	etup;
	TupleDesc	bdesc;
	TupleDesc	edesc = NULL;
	uint8		genesis_key[TL_ED25519_PK_LEN];
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	StringInfoData line;
	MemoryContext block_cxt;
	MemoryContext entry_cxt;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("origin must not be null")));
	if (from_block < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_block must not be negative")));
	origin = text_to_cstring(PG_GETARG_TEXT_PP(0));

	spi_nest = tl_spi_connect();
	args[0] = CStringGetTextDatum(origin);
	if (SPI_execute_with_args("SELECT public_key FROM tracelink.nodes WHERE name = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up node \"%s\"", origin);
	if (SPI_processed == 0 ||
		!tl_fixed_bytea(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 genesis_key, TL_ED25519_PK_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("unknown node \"%s\"", origin)));

	initStringInfo(&line);
	appendStringInfoString(&line, "{\"format\":\"tracelink-ledger\",\"from_block\":");
	appendStringInfo(&line, INT64_FORMAT ",\"genesis_key\":", from_block);
	append_hex_json(&line, genesis_key, TL_ED25519_PK_LEN);
	appendStringInfoString(&line, ",\"origin\":");
	jcs_append_string(&line, origin, strlen(origin));
	appendStringInfoString(&line, ",\"type\":\"header\",\"version\":1}");
	{
		Datum		v = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
		bool		n = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
	}

	/*
	 * What a block or an entry needs (its columns read back, its line as
	 * text) is freed once the line is in the tuplestore, which spills to
	 * disk: memory is that of the longest line, not of the ledger.
	 */
	block_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink export block",
									  ALLOCSET_DEFAULT_SIZES);
	entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink export entry",
									  ALLOCSET_DEFAULT_SIZES);
	cursor_open_range(&bc, blocks_range_query, origin, from_block, PG_INT64_MAX);
	cursor_open_range(&ec, entries_range_query, origin, from_block, PG_INT64_MAX);
	etup = cursor_next(&ec, &edesc);
	while ((btup = cursor_next(&bc, &bdesc)) != NULL)
	{
		TlBlock		b;
		const char *malformed;
		Datum		v;
		bool		n = false;
		MemoryContext old;

		MemoryContextReset(block_cxt);
		old = MemoryContextSwitchTo(block_cxt);
		malformed = tl_block_decode(btup, bdesc, &b);
		if (malformed)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("block " INT64_FORMAT " of origin \"%s\" is malformed: %s",
							b.h.block_no, origin, malformed),
					 errhint("Run tracelink.verify() for details.")));
		while (etup != NULL)
		{
			TlEntry		e;
			int64		block_no;

			MemoryContextReset(entry_cxt);
			MemoryContextSwitchTo(entry_cxt);
			malformed = read_entry(etup, edesc, &e, &block_no);
			if (block_no != b.h.block_no)
				break;
			if (malformed)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("an entry of block " INT64_FORMAT " of origin \"%s\" is malformed: %s",
								b.h.block_no, origin, malformed),
						 errhint("Run tracelink.verify() for details.")));
			resetStringInfo(&line);
			tl_entry_preimage(&line, origin, b.h.tx, e.seq, e.kind, e.payload,
							  e.payload_len, e.deps, e.ndeps,
							  (const char *const *) e.audience,
							  e.audience ? e.naudience : 0);
			v = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
			etup = cursor_next(&ec, &edesc);
		}
		MemoryContextSwitchTo(block_cxt);
		resetStringInfo(&line);
		tl_block_json(&line, &b.h, b.block_hash, b.signature, b.entry_hashes);
		v = PointerGetDatum(cstring_to_text_with_len(line.data, line.len));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &v, &n);
		MemoryContextSwitchTo(old);
	}
	cursor_close(&bc);
	cursor_close(&ec);
	MemoryContextDelete(entry_cxt);
	MemoryContextDelete(block_cxt);
	tl_spi_finish(spi_nest);
	MemoryContextSwitchTo(caller);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * Tree heads and proofs
 * ----------------------------------------------------------------
 */

/*
 * Resolve origin (NULL = this node) and tree size (NULL = the latest) to the
 * block whose tree head that is.  Errors if there is no such block;
 * argname names the size in the error for a negative one.
 */
static void
find_tree_head_block(char **origin, int64 *tree_size, bool latest,
					 const char *argname, TlBlock *b)
{
	const char *malformed;

	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];

	if (!latest && *tree_size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", argname)));
	if (*origin == NULL)
		*origin = tl_require_local_node();
	args[0] = CStringGetTextDatum(*origin);
	args[1] = Int64GetDatum(latest ? 0 : *tree_size);
	if (SPI_execute_with_args(latest ?
							  "SELECT * FROM tracelink.ledger_blocks"
							  " WHERE origin = $1 AND $2 = 0 ORDER BY block_no DESC LIMIT 1" :
							  "SELECT * FROM tracelink.ledger_blocks"
							  " WHERE origin = $1 AND tree_size = $2",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a tree head");
	if (SPI_processed == 0)
	{
		if (latest)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("origin \"%s\" has no blocks", *origin)));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("origin \"%s\" has no signed tree head of size " INT64_FORMAT,
						*origin, *tree_size),
				 errdetail("Tree heads are signed at block boundaries."),
				 errhint("Use tracelink.tree_root() for an unsigned root at any size, or the size of a block's tree.")));
	}
	malformed = tl_block_decode(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, b);
	if (malformed)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("block " INT64_FORMAT " of origin \"%s\" is malformed: %s",
						b->h.block_no, *origin, malformed)));
	*tree_size = b->h.tree_size;
}

/*
 * The number of entries in an origin's tree: the tree size of its latest
 * block (0 when it has none).  Sizes asked for are checked against it
 * before anything is read or allocated.
 */
static int64
origin_tree_size(const char *origin)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;

	args[0] = CStringGetTextDatum(origin);
	if (SPI_execute_with_args("SELECT tree_size FROM tracelink.ledger_blocks"
							  " WHERE origin OPERATOR(pg_catalog.=) $1"
							  " ORDER BY block_no DESC LIMIT 1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the tree size of origin \"%s\"", origin);
	if (SPI_processed == 0)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Refuse a tree size outside 0 .. the origin's number of entries.
 */
static void
check_tree_size(const char *origin, int64 n)
{
	int64		have;

	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tree_size must not be negative")));
	have = origin_tree_size(origin);
	if (n > have)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("origin \"%s\" has only " INT64_FORMAT " entries", origin, have)));
}

/*
 * Hand the leaf hashes of an origin's first n entries, read from its
 * blocks in order, to `each`.  The caller has checked n with
 * check_tree_size().
 */
static void
for_each_leaf_hash(const char *origin, int64 n,
				   void (*each) (void *arg, int64 i, const uint8 *hash),
				   void *arg)
{
	int64		have = 0;
	RowCursor	bc;
	HeapTuple	tup;
	TupleDesc	desc;
	uint8		leaf[TL_HASH_LEN];

	cursor_open_range(&bc, blocks_range_query, origin, 0, PG_INT64_MAX);
	while (have < n && (tup = cursor_next(&bc, &desc)) != NULL)
	{
		bool		isnull;
		bytea	   *hashes = DatumGetByteaPP(SPI_getbinval(tup, desc, BLOCK_ENTRY_HASHES + 1,
															 &isnull));
		int64		count = VARSIZE_ANY_EXHDR(hashes) / TL_HASH_LEN;
		int64		i;

		for (i = 0; i < count && have < n; i++, have++)
		{
			tl_merkle_leaf_hash((uint8 *) VARDATA_ANY(hashes) + i * TL_HASH_LEN,
								TL_HASH_LEN, leaf);
			each(arg, have, leaf);
		}
		CHECK_FOR_INTERRUPTS();
	}
	cursor_close(&bc);
	if (have < n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("origin \"%s\" has only " INT64_FORMAT " entries", origin, have)));
}

/* for_each_leaf_hash callback: store the i-th leaf hash in a buffer */
static void
leaf_to_buffer(void *arg, int64 i, const uint8 *hash)
{
	memcpy((uint8 *) arg + (size_t) i * TL_HASH_LEN, hash, TL_HASH_LEN);
}

/* for_each_leaf_hash callback: extend a frontier */
static void
leaf_to_frontier(void *arg, int64 i, const uint8 *hash)
{
	tl_frontier_append((TlMerkleFrontier *) arg, hash);
}

/*
 * The leaf hashes of an origin's first n entries, for a proof: n is
 * checked against the origin's tree and the in-memory limit of proofs
 * before the buffer is allocated.
 */
static uint8 *
load_leaf_hashes(const char *origin, int64 n)
{
	uint8	   *leaves;

	check_tree_size(origin, n);
	tl_merkle_check_proof_leaves(n);
	leaves = palloc((size_t) Max(n, 1) * TL_HASH_LEN);
	for_each_leaf_hash(origin, n, leaf_to_buffer, leaves);
	return leaves;
}

/*
 * A block's tree head as jsonb: the header fields, block_hash and signature
 * (everything needed to check the signature; no entry hashes).
 */
static Datum
tree_head_jsonb(const TlBlock *b)
{
	StringInfoData s;

	initStringInfo(&s);
	tl_block_json(&s, &b->h, b->block_hash, b->signature, NULL);
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
}

/*
 * tracelink.signed_tree_head(origin text default null, tree_size bigint default null)
 */
Datum
tl_signed_tree_head(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	char	   *origin = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		size = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	TlBlock		b;
	Datum		result;
	MemoryContext caller = CurrentMemoryContext;

	spi_nest = tl_spi_connect();
	find_tree_head_block(&origin, &size, PG_ARGISNULL(1), "tree_size", &b);
	MemoryContextSwitchTo(caller);
	result = tree_head_jsonb(&b);
	tl_spi_finish(spi_nest);
	PG_RETURN_DATUM(result);
}

/*
 * tracelink.tree_root(origin text, tree_size bigint) returns bytea: the
 * (unsigned) root at any size.
 */
Datum
tl_tree_root(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	char	   *origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int64		size = PG_GETARG_INT64(1);
	TlMerkleFrontier frontier;
	uint8		root[TL_HASH_LEN];
	bytea	   *result;
	MemoryContext caller = CurrentMemoryContext;

	spi_nest = tl_spi_connect();
	check_tree_size(origin, size);
	/* folded through a frontier as the ledger does: O(log n) memory */
	tl_frontier_init(&frontier);
	for_each_leaf_hash(origin, size, leaf_to_frontier, &frontier);
	tl_frontier_root(&frontier, root);
	result = (bytea *) MemoryContextAlloc(caller, VARHDRSZ + TL_HASH_LEN);
	SET_VARSIZE(result, VARHDRSZ + TL_HASH_LEN);
	memcpy(VARDATA(result), root, TL_HASH_LEN);
	tl_spi_finish(spi_nest);
	PG_RETURN_BYTEA_P(result);
}

static Datum
hashes_to_array(const uint8 *hashes, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = PointerGetDatum(tl_bytea_from(hashes + (size_t) i * TL_HASH_LEN, TL_HASH_LEN));
	return PointerGetDatum(construct_array(elems, n, BYTEAOID, -1, false, TYPALIGN_INT));
}

/*
 * tracelink.inclusion_proof(entry_hash bytea, tree_size bigint default null)
 *	returns table(origin, leaf_index, tree_size, leaf_hash, proof, tree_root,
 *				  signed_tree_head)
 */
Datum
tl_inclusion_proof(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *entry_hash;
	MemoryContext caller = CurrentMemoryContext;
	char	   *origin;
	int64		leaf_index;
	int64		size = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	TlBlock		b;
	uint8	   *leaves;
	uint8		path[TL_MERKLE_MAX_PATH * TL_HASH_LEN];
	int			npath;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	bool		isnull;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("entry_hash must not be null")));
	entry_hash = PG_GETARG_BYTEA_PP(0);
	if (VARSIZE_ANY_EXHDR(entry_hash) != TL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry_hash must be a 32-byte SHA-256 hash")));

	spi_nest = tl_spi_connect();
	args[0] = PointerGetDatum(entry_hash);
	if (SPI_execute_with_args("SELECT e.origin, b.tree_size - b.entry_count + e.seq"
							  "  FROM tracelink.ledger_entries e"
							  "  JOIN tracelink.ledger_blocks b ON b.origin = e.origin AND b.tx = e.tx"
							  " WHERE e.entry_hash = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up an entry");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no sealed ledger entry has this hash")));
	origin = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	leaf_index = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	find_tree_head_block(&origin, &size, PG_ARGISNULL(1), "tree_size", &b);
	if (leaf_index >= size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entry " INT64_FORMAT " of origin \"%s\" is not in the tree of size " INT64_FORMAT,
						leaf_index, origin, size)));
	leaves = load_leaf_hashes(origin, size);
	npath = tl_merkle_inclusion_path(leaves, size, leaf_index, path);

	MemoryContextSwitchTo(caller);
	values[0] = CStringGetTextDatum(origin);
	values[1] = Int64GetDatum(leaf_index);
	values[2] = Int64GetDatum(size);
	values[3] = PointerGetDatum(tl_bytea_from(leaves + leaf_index * TL_HASH_LEN, TL_HASH_LEN));
	values[4] = hashes_to_array(path, npath);
	values[5] = PointerGetDatum(tl_bytea_from(b.h.tree_root, TL_HASH_LEN));
	values[6] = tree_head_jsonb(&b);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	tl_spi_finish(spi_nest);
	return (Datum) 0;
}

/*
 * tracelink.consistency_proof(origin text, old_size bigint, new_size bigint default null)
 *	returns table(old_size, new_size, old_root, new_root, proof, signed_tree_head)
 */
Datum
tl_consistency_proof(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	char	   *origin;
	int64		old_size;
	int64		new_size = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	TlBlock		b;
	uint8	   *leaves;
	uint8		old_root[TL_HASH_LEN];
	uint8		path[TL_MERKLE_MAX_PATH * TL_HASH_LEN];
	int			npath;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("origin and old_size must not be null")));
	origin = text_to_cstring(PG_GETARG_TEXT_PP(0));
	old_size = PG_GETARG_INT64(1);

	spi_nest = tl_spi_connect();
	find_tree_head_block(&origin, &new_size, PG_ARGISNULL(2), "new_size", &b);
	if (old_size < 1 || old_size > new_size)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("old_size must be between 1 and the new tree size " INT64_FORMAT, new_size)));
	leaves = load_leaf_hashes(origin, new_size);
	tl_merkle_root(leaves, old_size, old_root);
	npath = tl_merkle_consistency_path(leaves, new_size, old_size, path);

	MemoryContextSwitchTo(caller);
	values[0] = Int64GetDatum(old_size);
	values[1] = Int64GetDatum(new_size);
	values[2] = PointerGetDatum(tl_bytea_from(old_root, TL_HASH_LEN));
	values[3] = PointerGetDatum(tl_bytea_from(b.h.tree_root, TL_HASH_LEN));
	values[4] = hashes_to_array(path, npath);
	values[5] = tree_head_jsonb(&b);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	tl_spi_finish(spi_nest);
	return (Datum) 0;
}

/* ----------------------------------------------------------------
 * Checking a signed tree head
 * ----------------------------------------------------------------
 */

/*
 * The tree of a jsonb tree head, or NULL if it cannot be one (say, a number
 * no double can hold).
 */
static JcsValue *
tree_head_fields(Jsonb *jb)
{
	MemoryContext ctx = CurrentMemoryContext;
	JcsValue   *volatile v = NULL;

	PG_TRY();
	{
		v = jcs_from_jsonb(jb);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(ctx);
		FlushErrorState();
		v = NULL;
	}
	PG_END_TRY();
	return v;
}

/*
 * tracelink.verify_tree_head(tree_head jsonb, public_key bytea) returns boolean
 *
 * True when the tree head (as signed_tree_head() gives it) is well formed,
 * its block hash matches its fields, and public_key signed it.  Never raises
 * on malformed input (a document over TL_JSON_MAX_BYTES included).  The
 * tree is read in a context of its own, deleted before returning.
 */
Datum
tl_verify_tree_head(PG_FUNCTION_ARGS)
{
	JcsValue   *v;
	TlBlock		b;
	uint8		computed[TL_HASH_LEN];
	bytea	   *key;
	bool		ok;
	MemoryContext work;
	MemoryContext old;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	key = PG_GETARG_BYTEA_PP(1);
	if (VARSIZE_ANY_EXHDR(key) != TL_ED25519_PK_LEN)
		PG_RETURN_BOOL(false);
	work = AllocSetContextCreate(CurrentMemoryContext, "tracelink tree head",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);
	v = tree_head_fields(PG_GETARG_JSONB_P(0));
	ok = v != NULL && tl_json_block_header(v, &b) == NULL &&
		memcmp(b.h.signer_key, VARDATA_ANY(key), TL_ED25519_PK_LEN) == 0;
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	if (!ok)
		PG_RETURN_BOOL(false);
	tl_block_hash(&b.h, computed);
	if (memcmp(computed, b.block_hash, TL_HASH_LEN) != 0)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(tl_ed25519_verify(b.h.signer_key, b.block_hash, TL_HASH_LEN, b.signature));
}
