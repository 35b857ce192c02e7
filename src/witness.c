/*-------------------------------------------------------------------------
 *
 * witness.c
 *	  Witnessing the signed heads of other origins, to catch split views.
 *
 * Each origin's chain is its own: a rogue origin can sign two different
 * blocks with one number and show one to some peers and the other to the
 * rest (a split view).  No node then receives both blocks, so the apply
 * path's check of a block number already taken never fires.  As in
 * Certificate Transparency's gossip, nodes therefore compare what they hold:
 *
 *	- A node appends a "tl.witness" entry to its own chain holding, for every
 *	  other origin, the latest signed head it holds (the block header,
 *	  block_hash and signature, as signed_tree_head() gives them), and the
 *	  equivocations it recorded and has not passed on yet.  Witnesses are
 *	  signed, chained and replicated like any entry.
 *	- A node that receives a witness checks each head of origin O against its
 *	  own copy of O.  It holds block n of O: same hash, nothing to do; else,
 *	  validly signed by the key in force at that block, an equivocation,
 *	  recorded with both signed heads as evidence.  Its copy is behind: the
 *	  head waits in witness_pending and is checked when the copy reaches n
 *	  (a table: restarts forget nothing).  A head of this node's own chain
 *	  that it never signed, validly signed by one of its keys, is proof that
 *	  someone else holds its key (or that it lost blocks to a restore).
 *	- Pairs of heads carried as evidence are checked the same way and
 *	  recorded too, so that a node whose copy stops short still learns of a
 *	  split its peers saw.
 *
 * Outcomes depend only on the entries held (the node's own copy included),
 * not on their order: a head is compared with the block of its number once
 * both are here, whichever came first, and a pair is stored in a canonical
 * order (lower block hash first), so nodes that hold the same blocks record
 * the same rows.  Problems with a witness are quarantined (what = 'effect')
 * head by head; a payload that is no witness at all raises in its
 * projector, whose subtransaction quarantines the whole effect (project.c).
 * Nothing here stops replication: the apply path's hook runs in a
 * subtransaction of its own and only warns.
 *
 * When.  There is no background worker.  The replication apply worker
 * appends a witness in the transaction that applies a peer's block when
 * that block is news (not itself only a witness, which would make witnesses
 * answer witnesses forever) or an equivocation waits to be passed on, and
 * the last witness is older than tracelink.witness_interval; otherwise it
 * notes the news in witness_state, and the first applied block after the
 * interval (or tracelink.witness(), for cron) witnesses it.  The apply path
 * pays, per applied block, one index probe of witness_pending and one of
 * witness_state (docs/benchmarks.md).
 *
 * Locking: witness() takes the apply lock (the pg_extension object, subid 2,
 * as apply.c does), so that witnessing and applying are serialised and the
 * news a witness clears is exactly what it saw.  Before the apply path
 * appends, it loads the node's key under the seal lock (subid 1), for a
 * moment, as rotate_key() does: always after the apply lock.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "witness_int.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/logicalworker.h"
#include "replication/worker_internal.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tl_witness);

/* seconds; -1: the apply path never witnesses on its own */
int			tl_witness_interval = 60;

/* a received witness may name this many heads and carry this many pairs */
#define WITNESS_MAX_HEADS 10000
#define WITNESS_MAX_PAIRS 1000
/* evidence pairs this node passes on per witness (the rest: next time) */
#define WITNESS_PAIRS_PER_ENTRY 64

/*
 * The tl.witness entries of the block being applied, counted by the
 * projector: a block all of whose entries are witnesses is no news.
 */
static struct
{
	LocalTransactionId lxid;
	char		origin[NAMEDATALEN];
	int64		tx;
	int32		count;
}			seen_witnesses;

/* whether this transaction already appended a witness */
static LocalTransactionId witnessed_in = InvalidLocalTransactionId;

/*
 * Define tracelink.witness_interval (called from _PG_init).  Superuser-set:
 * a member must not be able to silence witnessing.
 */
void
tl_witness_init(void)
{
	DefineCustomIntVariable("tracelink.witness_interval",
							gettext_noop("Least time between two witness entries the replication apply path appends on its own."),
							gettext_noop("-1: the apply path never witnesses (tracelink.witness() still does); 0: in every transaction that applies news."),
							&tl_witness_interval,
							60, -1, INT_MAX / 1000,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* ----------------------------------------------------------------
 * This node's witnessing state (tracelink.witness_state)
 * ----------------------------------------------------------------
 */

typedef struct WitnessState
{
	bool		has_last;
	TimestampTz last_at;
	bool		has_news;
	TimestampTz news_since;
} WitnessState;

/*
 * Read the one row through its primary key (no query to plan: the apply
 * path reads it for every block it applies).
 */
static void
read_state(WitnessState *ws)
{
	Relation	rel = table_open(tl_relid("witness_state"), AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	memset(ws, 0, sizeof(*ws));
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_BOOLEQ, BoolGetDatum(true));
	scan = systable_beginscan(rel, tl_relid("witness_state_pkey"), true, SnapshotSelf, 1, &key);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d;

		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);
		ws->has_last = !isnull;
		ws->last_at = isnull ? 0 : DatumGetTimestampTz(d);
		d = heap_getattr(tup, 4, RelationGetDescr(rel), &isnull);
		ws->has_news = !isnull;
		ws->news_since = isnull ? 0 : DatumGetTimestampTz(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* Something waits to be witnessed (kept if something already waited). */
static void
note_news(void)
{
	int			spi_nest = tl_spi_connect();

	if (SPI_execute("INSERT INTO tracelink.witness_state AS s (singleton, news_since)"
					" VALUES (true, pg_catalog.clock_timestamp())"
					" ON CONFLICT (singleton) DO UPDATE"
					" SET news_since = COALESCE(s.news_since, excluded.news_since)",
					false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not note news to witness");
	tl_spi_finish(spi_nest);
}

/* ----------------------------------------------------------------
 * Recording equivocations
 * ----------------------------------------------------------------
 */

/*
 * Record that an origin signed two different blocks with one number, both
 * heads validly signed (checked by the caller); or, with a == NULL, that a
 * head of this node's own chain exists that it never signed.  The pair is
 * stored lower block hash first, so every node holding the same two heads
 * records the same row.  A new record is logged, noted as news (to be passed
 * on in this node's next witness) and announced on channel
 * tracelink_equivocation with the two block hashes (ids only: any login may
 * LISTEN).
 */
static void
record_equivocation(const TlSignedHead *a, const TlSignedHead *b,
					const char *detected_by, const uint8 *witness_entry)
{
	int			spi_nest;
	Oid			types[8] = {TEXTOID, INT8OID, BYTEAOID, BYTEAOID, JSONBOID, JSONBOID,
	TEXTOID, BYTEAOID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		inserted;
	StringInfoData note;

	if (a != NULL && memcmp(a->block_hash, b->block_hash, TL_HASH_LEN) > 0)
	{
		const TlSignedHead *t = a;

		a = b;
		b = t;
	}
	args[0] = CStringGetTextDatum(b->h.origin);
	args[1] = Int64GetDatum(b->h.block_no);
	if (a != NULL)
	{
		args[2] = PointerGetDatum(tl_bytea_from(a->block_hash, TL_HASH_LEN));
		args[4] = tl_head_jsonb(a);
	}
	else
		nulls[2] = nulls[4] = 'n';
	args[3] = PointerGetDatum(tl_bytea_from(b->block_hash, TL_HASH_LEN));
	args[5] = tl_head_jsonb(b);
	args[6] = CStringGetTextDatum(detected_by);
	if (witness_entry != NULL)
		args[7] = PointerGetDatum(tl_bytea_from(witness_entry, TL_HASH_LEN));
	else
		nulls[7] = 'n';

	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("INSERT INTO tracelink.equivocations"
							  " (origin, block_no, first_hash, second_hash, first_block, second_block,"
							  "  detected_by, witness_entry)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
							  8, types, args, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record an equivocation");
	inserted = SPI_processed > 0;
	tl_spi_finish(spi_nest);
	if (!inserted)
		return;

	note_news();
	initStringInfo(&note);
	appendStringInfoString(&note, "{\"first\":");
	if (a != NULL)
		appendStringInfo(&note, "\"%s\"", tl_hex_of(a->block_hash, TL_HASH_LEN));
	else
		appendStringInfoString(&note, "null");
	appendStringInfo(&note, ",\"second\":\"%s\"}", tl_hex_of(b->block_hash, TL_HASH_LEN));
	Async_Notify("tracelink_equivocation", note.data);

	if (a == NULL || strcmp(detected_by, "own chain") == 0)
		ereport(WARNING,
				(errmsg("a block numbered " INT64_FORMAT " of this node \"%s\" that it never signed is validly signed by its key",
						b->h.block_no, b->h.origin),
				 errdetail("Block hash %s (%s); tracelink.equivocations keeps the signed heads.",
						   tl_hex_of(b->block_hash, TL_HASH_LEN), detected_by),
				 errhint("Someone else holds this node's key, or the node was restored from a backup that lacks blocks it had signed.")));
	else
		ereport(WARNING,
				(errmsg("origin \"%s\" signed two different blocks numbered " INT64_FORMAT,
						b->h.origin, b->h.block_no),
				 errdetail("Block hashes %s and %s (%s); tracelink.equivocations keeps both signed heads as evidence.",
						   tl_hex_of(a->block_hash, TL_HASH_LEN),
						   tl_hex_of(b->block_hash, TL_HASH_LEN), detected_by)));
}

/*
 * A block whose number the origin already used here (apply.c), with a
 * different hash: recorded as an equivocation if both blocks are validly
 * signed by the same key (for a block in the ledger, the key in force at
 * that block).  Returns NULL when recorded (now or before), else why the
 * two blocks prove nothing.
 */
const char *
tl_witness_block_conflict(const TlBlockHeader *h, const uint8 *block_hash,
						  const uint8 *signature)
{
	TlSignedHead held;
	TlSignedHead got;
	uint8		computed[TL_HASH_LEN];
	bool		in_ledger;

	memset(&got, 0, sizeof(got));
	got.h = *h;
	memcpy(got.block_hash, block_hash, TL_HASH_LEN);
	memcpy(got.signature, signature, TL_ED25519_SIG_LEN);
	in_ledger = tl_read_block_head(h->origin, h->block_no, false, &held);
	if (!in_ledger && !tl_read_block_head(h->origin, h->block_no, true, &held))
		return "block number is taken but the block holding it cannot be read";
	tl_block_hash(&got.h, computed);
	if (memcmp(computed, got.block_hash, TL_HASH_LEN) != 0)
		return "block hash does not match the block header";
	if (memcmp(got.h.signer_key, held.h.signer_key, TL_ED25519_PK_LEN) != 0)
		return psprintf("block " INT64_FORMAT " differs from the one already %s and is signed by another key than that one",
						h->block_no, in_ledger ? "in the ledger" : "waiting for its predecessor");
	if (!tl_head_signature_ok(&got))
		return "signature does not verify with the origin's key";
	if (!in_ledger)
	{
		/* a parked block has not been checked yet */
		tl_block_hash(&held.h, computed);
		if (memcmp(computed, held.block_hash, TL_HASH_LEN) != 0 || !tl_head_signature_ok(&held))
			return psprintf("block " INT64_FORMAT " differs from the one waiting for its predecessor, which does not verify",
							h->block_no);
	}
	record_equivocation(&held, &got, "received", NULL);
	return NULL;
}

/* ----------------------------------------------------------------
 * Checking received witnesses
 * ----------------------------------------------------------------
 */

/* quarantine one head of witness entry w (what = 'effect') */
static void
refuse_head(const TlEntry *w, const TlSignedHead *hd, const char *problem)
{
	tl_quarantine_effect(w, psprintf("witnessed head of \"%s\" at block " INT64_FORMAT ": %s",
									 hd->h.origin, hd->h.block_no, problem));
}

/* keep a head beyond this node's copy until the copy gets there */
static void
keep_pending(const TlEntry *w, const TlSignedHead *hd)
{
	int			spi_nest;
	Oid			types[6] = {TEXTOID, INT8OID, BYTEAOID, JSONBOID, BYTEAOID, TEXTOID};
	Datum		args[6];

	args[0] = CStringGetTextDatum(hd->h.origin);
	args[1] = Int64GetDatum(hd->h.block_no);
	args[2] = PointerGetDatum(tl_bytea_from(hd->block_hash, TL_HASH_LEN));
	args[3] = tl_head_jsonb(hd);
	args[4] = PointerGetDatum(tl_bytea_from(w->hash, TL_HASH_LEN));
	args[5] = CStringGetTextDatum(w->origin);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("INSERT INTO tracelink.witness_pending"
							  " (origin, block_no, block_hash, head, witness_entry, witnessed_by)"
							  " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
							  6, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not keep a witnessed head");
	tl_spi_finish(spi_nest);
}

/*
 * A witnessed head of this node's own chain: the node holds every block it
 * signed (once its restore is finished), so a different (or further) block
 * validly signed by one of its keys was signed by someone else.
 */
static void
check_own_head(const TlEntry *w, const TlSignedHead *hd, const char *me)
{
	TlSignedHead mine;
	bool		have = tl_read_block_head(me, hd->h.block_no, false, &mine);

	if (have && tl_same_block(&mine, hd))
		return;
	if (!tl_head_signature_ok(hd))
		refuse_head(w, hd, "signature does not verify with its signer_key");

	/*
	 * A node held after a restore (or rebuilt) lacks blocks it signed and
	 * fetches them back from its peers (recover_own_chain()): the head is
	 * checked when its chain gets there, as a peer's is.
	 */
	else if (!have && tl_restore_hold_reason() != NULL)
		keep_pending(w, hd);
	else if (!tl_one_of_my_keys(me, hd->h.signer_key))
		refuse_head(w, hd, "it names this node but is signed by a key this node never had");
	else
		record_equivocation(have ? &mine : NULL, hd, "own chain", w->hash);
}

/*
 * Check one witnessed head against this node's copy of its origin: equal,
 * an equivocation, refused, or kept until the copy gets there.
 */
static void
check_head(const TlEntry *w, const TlSignedHead *hd, const char *me)
{
	TlOriginView	ov;
	TlSignedHead mine;

	/* the common case, this node holds the same block: one index probe */
	if (tl_holds_block(hd))
		return;
	if (me != NULL && strcmp(hd->h.origin, me) == 0)
	{
		check_own_head(w, hd, me);
		return;
	}
	tl_origin_view(hd->h.origin, &ov);
	if (!ov.known)
		return;					/* an origin this node does not follow */
	if (ov.have_head && hd->h.block_no <= ov.head_no)
	{
		if (!tl_read_block_head(hd->h.origin, hd->h.block_no, false, &mine))
			elog(ERROR, "block " INT64_FORMAT " of \"%s\" is missing below its head",
				 hd->h.block_no, hd->h.origin);
		if (tl_same_block(&mine, hd))
			return;
		if (memcmp(hd->h.signer_key, mine.h.signer_key, TL_ED25519_PK_LEN) != 0)
			refuse_head(w, hd, psprintf("it differs from the block held here but is signed by key %s, not by %s, the key in force at that block here",
										tl_hex_of(hd->h.signer_key, TL_ED25519_PK_LEN),
										tl_hex_of(mine.h.signer_key, TL_ED25519_PK_LEN)));
		else if (!tl_head_signature_ok(hd))
			refuse_head(w, hd, "signature does not verify with the origin's key");
		else
			record_equivocation(&mine, hd, "witness", w->hash);
		return;
	}
	/* beyond this node's copy: keep it, checked when the copy gets there */
	if (!tl_head_signature_ok(hd))
		refuse_head(w, hd, "signature does not verify with its signer_key");
	else
		keep_pending(w, hd);
}

/*
 * Two heads a peer passed on as an equivocation.  Each is checked as a
 * witnessed head (against this node's copy, or kept until it gets there);
 * the pair itself is recorded when both are validly signed by the key in
 * force at that block here (the origin's current key here, for a block
 * beyond this node's copy).
 */
static void
check_pair(const TlEntry *w, const TlSignedHead *a, const TlSignedHead *b, const char *me)
{
	TlOriginView	ov;
	TlSignedHead mine;
	const uint8 *key;

	check_head(w, a, me);
	check_head(w, b, me);
	if (me != NULL && strcmp(a->h.origin, me) == 0)
		return;
	tl_origin_view(a->h.origin, &ov);
	if (!ov.known)
		return;
	if (ov.have_head && a->h.block_no <= ov.head_no)
	{
		if (!tl_read_block_head(a->h.origin, a->h.block_no, false, &mine))
			return;
		key = mine.h.signer_key;
	}
	else
		key = ov.have_head ? ov.head_key : ov.pinned_key;
	if (memcmp(a->h.signer_key, key, TL_ED25519_PK_LEN) == 0 &&
		memcmp(b->h.signer_key, key, TL_ED25519_PK_LEN) == 0 &&
		tl_head_signature_ok(a) && tl_head_signature_ok(b))
		record_equivocation(a, b, "evidence", w->hash);
}

/*
 * Note a witness entry of the block being applied (for news_block()).
 */
static void
count_witness(const TlEntry *e)
{
	if (seen_witnesses.lxid != MyProc->lxid ||
		strcmp(seen_witnesses.origin, e->origin) != 0 || seen_witnesses.tx != e->tx)
	{
		seen_witnesses.lxid = MyProc->lxid;
		strlcpy(seen_witnesses.origin, e->origin, NAMEDATALEN);
		seen_witnesses.tx = e->tx;
		seen_witnesses.count = 0;
	}
	seen_witnesses.count++;
}

/*
 * Projector of tl.witness (project.c).  On the node that appended it there
 * is nothing to check.  A received witness is checked head by head; a head
 * or pair that is malformed, forged or signed by the wrong key is
 * quarantined with the reason (what = 'effect'), and the others still count.
 * A payload that is not a witness at all raises, which quarantines the
 * whole entry's effect.
 */
void
tl_project_witness(const TlEntry *e, bool local)
{
	JcsValue   *v;
	JcsValue   *heads;
	JcsValue   *pairs;
	char	   *me;
	char		previous[NAMEDATALEN] = "";
	int			i;

	if (local)
		return;
	count_witness(e);
	v = jcs_parse(e->payload, e->payload_len);
	heads = v->kind == JCS_OBJECT ? jcs_object_get(v, "heads") : NULL;
	pairs = v->kind == JCS_OBJECT ? jcs_object_get(v, "equivocations") : NULL;
	if (v->kind != JCS_OBJECT || v->u.object.count != 2 ||
		heads == NULL || heads->kind != JCS_ARRAY || pairs == NULL || pairs->kind != JCS_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("witness entry is malformed: its payload must be an object with exactly the arrays \"equivocations\" and \"heads\"")));
	if (heads->u.array.count > WITNESS_MAX_HEADS || pairs->u.array.count > WITNESS_MAX_PAIRS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("witness entry is malformed: it names %d heads and %d equivocations, more than the %d and %d a witness may",
						heads->u.array.count, pairs->u.array.count,
						WITNESS_MAX_HEADS, WITNESS_MAX_PAIRS)));
	me = tl_local_node();

	for (i = 0; i < heads->u.array.count; i++)
	{
		TlSignedHead hd;
		const char *problem = tl_parse_head(heads->u.array.elems[i], &hd);

		if (problem == NULL && strcmp(previous, hd.h.origin) >= 0)
			problem = "heads are not in order of origin, or name an origin twice";
		if (problem != NULL)
		{
			tl_quarantine_effect(e, psprintf("witnessed head %d is malformed: %s", i + 1, problem));
			continue;
		}
		strlcpy(previous, hd.h.origin, NAMEDATALEN);
		check_head(e, &hd, me);
	}

	for (i = 0; i < pairs->u.array.count; i++)
	{
		JcsValue   *pair = pairs->u.array.elems[i];
		TlSignedHead a;
		TlSignedHead b;
		const char *problem = NULL;

		if (pair->kind != JCS_ARRAY || pair->u.array.count != 2)
			problem = "an equivocation is an array of two signed heads";
		if (problem == NULL)
			problem = tl_parse_head(pair->u.array.elems[0], &a);
		if (problem == NULL)
			problem = tl_parse_head(pair->u.array.elems[1], &b);
		if (problem == NULL &&
			(strcmp(a.h.origin, b.h.origin) != 0 || a.h.block_no != b.h.block_no ||
			 tl_same_block(&a, &b)))
			problem = "its two heads are not two different blocks of one origin with one number";
		if (problem != NULL)
		{
			tl_quarantine_effect(e, psprintf("witnessed equivocation %d is malformed: %s", i + 1, problem));
			continue;
		}
		check_pair(e, &a, &b, me);
	}
}

/* ----------------------------------------------------------------
 * Heads waiting for this node's copy
 * ----------------------------------------------------------------
 */

/* Does a witnessed head of (origin, block_no) wait?  (No query to plan.) */
static bool
pending_exists(const char *origin, int64 block_no)
{
	Relation	rel = table_open(tl_relid("witness_pending"), AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(origin));
	keys[0].sk_collation = C_COLLATION_OID;
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(block_no));
	scan = systable_beginscan(rel, tl_relid("witness_pending_pkey"), true, SnapshotSelf, 2, keys);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* the witness entry with this hash (it is in the ledger: it was applied) */
static bool
read_entry(const uint8 *hash, TlEntry *e)
{
	int			spi_nest;
	Oid			types[1] = {BYTEAOID};
	Datum		args[1];
	bool		found = false;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = PointerGetDatum(tl_bytea_from(hash, TL_HASH_LEN));
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT * FROM tracelink.ledger_entries WHERE entry_hash = $1",
							  1, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up a witness entry");
	if (SPI_processed > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		tl_read_entry(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, e);
		MemoryContextSwitchTo(old);
		found = true;
	}
	tl_spi_finish(spi_nest);
	return found;
}

/*
 * This node now holds block `mine`: check the heads witnessed at its number
 * and take them out of witness_pending.
 */
static void
resolve_pending(const TlSignedHead *mine)
{
	int			spi_nest;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	SPITupleTable *tuptable;
	uint64		n;
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = CStringGetTextDatum(mine->h.origin);
	args[1] = Int64GetDatum(mine->h.block_no);
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("DELETE FROM tracelink.witness_pending WHERE origin = $1 AND block_no = $2"
							  " RETURNING head::text, witness_entry",
							  2, types, args, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "could not take witnessed heads out of witness_pending");
	tuptable = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		char	   *text = SPI_getvalue(tuptable->vals[i], tuptable->tupdesc, 1);
		uint8		entry_hash[TL_HASH_LEN];
		TlSignedHead hd;
		TlEntry		w;
		const char *problem;
		MemoryContext old = MemoryContextSwitchTo(caller);

		problem = tl_parse_head(jcs_parse(text, strlen(text)), &hd);
		MemoryContextSwitchTo(old);
		if (problem != NULL || tl_same_block(mine, &hd) ||
			!tl_fixed_bytea(tuptable->vals[i], tuptable->tupdesc, 2, entry_hash, TL_HASH_LEN))
			continue;
		if (!read_entry(entry_hash, &w))
			continue;
		if (memcmp(hd.h.signer_key, mine->h.signer_key, TL_ED25519_PK_LEN) != 0)
			refuse_head(&w, &hd, psprintf("it differs from the block held here but is signed by key %s, not by %s, the key in force at that block here",
										  tl_hex_of(hd.h.signer_key, TL_ED25519_PK_LEN),
										  tl_hex_of(mine->h.signer_key, TL_ED25519_PK_LEN)));
		else if (!tl_head_signature_ok(&hd))
			refuse_head(&w, &hd, "signature does not verify with the origin's key");
		else
			record_equivocation(mine, &hd, "witness", entry_hash);
	}
	tl_spi_finish(spi_nest);
}

/* ----------------------------------------------------------------
 * Appending witnesses
 * ----------------------------------------------------------------
 */

/*
 * Append a witness entry to this node's chain: the latest signed head it
 * holds of every other origin, and up to WITNESS_PAIRS_PER_ENTRY
 * equivocations not passed on yet.  Returns false when there is nothing to
 * witness (no other origin, no evidence).  The caller holds the apply lock.
 */
static bool
append_witness(const char *me, uint8 *hash_out)
{
	int			spi_nest;
	StringInfoData payload;
	char	   *canon;
	int			canon_len;
	uint64		i;
	uint64		nheads;
	uint64		npairs;
	bool		more_pairs;
	MemoryContext caller = CurrentMemoryContext;

	initStringInfo(&payload);
	spi_nest = tl_spi_connect();

	if (SPI_execute_with_args("SELECT pg_catalog.jsonb_build_array(first_block, second_block)::text"
							  "  FROM tracelink.equivocations"
							  " WHERE published_in IS NULL AND first_hash IS NOT NULL"
							  " ORDER BY origin, block_no, first_hash, second_hash"
							  " LIMIT " CppAsString2(WITNESS_PAIRS_PER_ENTRY) " + 1",
							  0, NULL, NULL, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read equivocations to witness");
	npairs = SPI_processed;
	more_pairs = npairs > WITNESS_PAIRS_PER_ENTRY;
	if (more_pairs)
		npairs = WITNESS_PAIRS_PER_ENTRY;
	appendStringInfoString(&payload, "{\"equivocations\":[");
	for (i = 0; i < npairs; i++)
	{
		if (i > 0)
			appendStringInfoChar(&payload, ',');
		appendStringInfoString(&payload, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}

	tl_spi_finish(spi_nest);
	MemoryContextSwitchTo(caller);

	/*
	 * The heads, in order of origin (the primary key's, C collation), each
	 * with its block: index scans, whatever the planner would think of a
	 * large ledger_blocks.
	 */
	appendStringInfoString(&payload, "],\"heads\":[");
	nheads = 0;
	{
		Relation	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
		Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
		Relation	index = index_open(tl_relid("ledger_heads_pkey"), AccessShareLock);
		SysScanDesc scan = systable_beginscan_ordered(heads, index, snapshot, 0, NULL);
		HeapTuple	tup;

		while (HeapTupleIsValid(tup = systable_getnext_ordered(scan, ForwardScanDirection)))
		{
			bool		isnull;
			char	   *origin = TextDatumGetCString(heap_getattr(tup, HEAD_ORIGIN + 1,
																  RelationGetDescr(heads), &isnull));
			int64		block_no = DatumGetInt64(heap_getattr(tup, HEAD_BLOCK_NO + 1,
															  RelationGetDescr(heads), &isnull));
			TlSignedHead hd;

			if (strcmp(origin, me) == 0)
				continue;
			if (!tl_block_at(origin, block_no, snapshot, &hd))
				elog(ERROR, "the head block " INT64_FORMAT " of \"%s\" is missing or corrupt",
					 block_no, origin);
			if (nheads++ > 0)
				appendStringInfoChar(&payload, ',');
			tl_head_json(&payload, &hd);
		}
		systable_endscan_ordered(scan);
		index_close(index, AccessShareLock);
		UnregisterSnapshot(snapshot);
		table_close(heads, AccessShareLock);
	}
	appendStringInfoString(&payload, "]}");
	if (nheads == 0 && npairs == 0)
		return false;

	/* the stored heads print canonically; this makes sure of it */
	canon = jcs_canonical_text(payload.data, payload.len, &canon_len);
	tl_ledger_append(me, TL_WITNESS_KIND, canon, canon_len, NULL, 0, NULL, 0, hash_out);
	witnessed_in = MyProc->lxid;

	{
		Oid			wtypes[2] = {BYTEAOID, BOOLOID};
		Datum		wargs[2];

		wargs[0] = PointerGetDatum(tl_bytea_from(hash_out, TL_HASH_LEN));
		wargs[1] = BoolGetDatum(more_pairs);
		spi_nest = tl_spi_connect();
		if (SPI_execute_with_args("INSERT INTO tracelink.witness_state AS s"
								  "  (singleton, last_witness_at, last_witness, news_since)"
								  " VALUES (true, pg_catalog.clock_timestamp(), $1,"
								  "         CASE WHEN $2 THEN pg_catalog.clock_timestamp() END)"
								  " ON CONFLICT (singleton) DO UPDATE"
								  " SET last_witness_at = excluded.last_witness_at,"
								  "     last_witness = excluded.last_witness,"
								  "     news_since = excluded.news_since",
								  2, wtypes, wargs, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not record a witness");
		if (npairs > 0 &&
			SPI_execute_with_args("UPDATE tracelink.equivocations e SET published_in = $1"
								  "  FROM (SELECT origin, block_no, first_hash, second_hash"
								  "          FROM tracelink.equivocations"
								  "         WHERE published_in IS NULL AND first_hash IS NOT NULL"
								  "         ORDER BY origin, block_no, first_hash, second_hash"
								  "         LIMIT " CppAsString2(WITNESS_PAIRS_PER_ENTRY) ") p"
								  " WHERE e.origin = p.origin AND e.block_no = p.block_no"
								  "   AND e.first_hash = p.first_hash AND e.second_hash = p.second_hash",
								  1, wtypes, wargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not mark equivocations as passed on");
		tl_spi_finish(spi_nest);
	}
	return true;
}

/*
 * Can this node sign now?  The apply path appends a witness only then: the
 * block is sealed at commit, where a failure would abort the apply
 * transaction and stop replication.  Loads the key (as the seal will) and
 * signs a dummy message; raises if it cannot.  Key files are read only
 * under the seal lock (keys.c), taken here for a moment, as rotate_key()
 * does, after the apply lock.
 */
static void
check_can_sign(const char *me)
{
	Relation	heads;
	Snapshot	snapshot;
	TlHead		head;
	bool		found;
	uint8		dummy[TL_HASH_LEN] = {0};
	uint8		signature[TL_ED25519_SIG_LEN];

	tl_lock_extension(TL_LOCK_SEAL);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
	found = tl_read_head(heads, snapshot, me, &head);
	table_close(heads, AccessShareLock);
	UnregisterSnapshot(snapshot);
	if (!found)
		elog(ERROR, "node \"%s\" has no head", me);
	tl_keys_sign(me, head.signer_key, dummy, TL_HASH_LEN, signature);
	tl_unlock_extension(TL_LOCK_SEAL);
}

/* ----------------------------------------------------------------
 * The apply path
 * ----------------------------------------------------------------
 */

typedef struct AppliedBlock
{
	TlSignedHead block;
	bool		resolve;		/* witnessed heads wait at its number */
	bool		witness;		/* append a witness */
	bool		note;			/* note news */
} AppliedBlock;

/* the work of tl_witness_block_applied(), in a subtransaction */
static void
after_block(void *arg)
{
	AppliedBlock *ab = arg;

	if (ab->resolve)
		resolve_pending(&ab->block);
	if (ab->witness)
	{
		char	   *me = tl_local_node();
		uint8		hash[TL_HASH_LEN];

		if (me == NULL)
			return;
		check_can_sign(me);
		append_witness(me, hash);
	}
	else if (ab->note)
		note_news();
}

/* the block holds entries other than witnesses (or ones not here) */
static bool
news_block(const TlBlockHeader *h)
{
	return !(seen_witnesses.lxid == MyProc->lxid &&
			 strcmp(seen_witnesses.origin, h->origin) == 0 &&
			 seen_witnesses.tx == h->tx &&
			 seen_witnesses.count == h->entry_count);
}

/*
 * apply.c has applied a peer's block (and the entries of it that are here).
 * Check the heads witnessed at its number, and in the replication apply
 * worker witness if it is time (see the file's comment).  Never raises for
 * a failure of its own (a warning says what failed): the block stays
 * applied, and what was not witnessed is noted to be witnessed later.
 */
void
tl_witness_block_applied(const TlBlockHeader *h, const uint8 *block_hash,
						 const uint8 *signature)
{
	AppliedBlock ab;
	ErrorData  *failure;

	memset(&ab, 0, sizeof(ab));
	ab.block.h = *h;
	memcpy(ab.block.block_hash, block_hash, TL_HASH_LEN);
	memcpy(ab.block.signature, signature, TL_ED25519_SIG_LEN);
	ab.resolve = pending_exists(h->origin, h->block_no);
	{
		bool		news = news_block(h);
		WitnessState ws;

		read_state(&ws);
		if (news || ws.has_news)
		{
			/*
			 * Only the apply worker appends: not ingest() (the caller may
			 * witness()), not the initial copy of a subscription.  One witness
			 * per transaction, and one per interval.
			 */
			bool		may_append = IsLogicalWorker() && !am_tablesync_worker() &&
				tl_witness_interval >= 0 && witnessed_in != MyProc->lxid;

			if (may_append &&
				(!ws.has_last ||
				 GetCurrentTimestamp() - ws.last_at >= (int64) tl_witness_interval * USECS_PER_SEC))
				ab.witness = true;
			else
				ab.note = news && !ws.has_news;
		}
	}
	if (!ab.resolve && !ab.witness && !ab.note)
		return;

	failure = tl_run_in_subtransaction(after_block, &ab);
	if (failure == NULL)
		return;
	ereport(WARNING,
			(errmsg("tracelink could not check or witness heads after applying block " INT64_FORMAT " of \"%s\": %s",
					h->block_no, h->origin, failure->message)));
	if (ab.witness)
	{
		/* keep it for later: the block stays applied, unwitnessed */
		ab.resolve = false;
		ab.witness = false;
		ab.note = true;
		failure = tl_run_in_subtransaction(after_block, &ab);
		if (failure != NULL)
			ereport(WARNING,
					(errmsg("tracelink could not note news to witness: %s", failure->message)));
	}
}

/* ----------------------------------------------------------------
 * SQL
 * ----------------------------------------------------------------
 */

/*
 * tracelink.witness(force boolean default false) returns bytea
 *
 * Appends a witness entry when something waits to be witnessed (blocks
 * applied or equivocations recorded since the last witness), or always with
 * force; returns its hash, or NULL.  For cron, so that a split view is
 * caught within a bounded time even when no block arrives after it.
 */
Datum
tl_witness(PG_FUNCTION_ARGS)
{
	bool		force = PG_GETARG_BOOL(0);
	char	   *me = tl_require_local_node();
	WitnessState ws;
	bool		due;
	bool		appended = false;
	uint8		hash[TL_HASH_LEN];
	Oid			save_userid;
	int			save_sec_context;

	PreventCommandIfReadOnly("tracelink.witness()");
	/* the caller appends: it must belong to this node (roles.c) */
	tl_require_database_member(GetUserId());
	tl_require_apply_lock_first("tracelink.witness()");
	tl_lock_extension(TL_LOCK_APPLY);

	/* the witnessing tables are written as the extension's owner */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	read_state(&ws);
	due = force || ws.has_news;
	if (!due)
	{
		int			spi_nest = tl_spi_connect();
		bool		isnull;

		if (SPI_execute("SELECT EXISTS (SELECT 1 FROM tracelink.equivocations"
						"                WHERE published_in IS NULL AND first_hash IS NOT NULL)",
						false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read equivocations to witness");
		due = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		tl_spi_finish(spi_nest);
	}
	if (due)
		appended = append_witness(me, hash);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (!appended)
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}
