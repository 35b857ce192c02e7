/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Ledger rows arriving from peers by logical replication.
 *
 * The apply worker inserts a peer's ledger_entries and ledger_blocks rows;
 * an ENABLE ALWAYS trigger (ingest.c, which also reads exported lines for
 * ingest()) hands each to this file, which writes it itself (or not) and
 * always tells the executor to skip the row.  Nothing a peer
 * sends may stop replication: an ERROR in the apply worker would make it
 * retry the same transaction forever, and nothing more would arrive from
 * that peer.  So anything wrong with a row - bad signature, broken chain,
 * unknown or impersonated origin, replay, malformed content, even an
 * unexpected error - lands in tracelink.quarantine with the reason, and
 * replication goes on.  Every write of this file runs where a failure is
 * caught: a block in a subtransaction of its own (and each parked block
 * that follows it in one more), a block's entries in one subtransaction
 * (on a failure, again one subtransaction each, so that only the entry at
 * fault is refused), the quarantine record itself in one (a row that
 * cannot be recorded as received is recorded by its identifying columns).
 * Errors that say nothing about the row (tl_run_in_subtransaction: a
 * deadlock, out of memory, a cancellation) are raised again on purpose:
 * the worker retries the transaction, which is then right to do.
 *
 * A block is checked (block.c, the checks verify() makes too) against the
 * origin's head and applied; a block ahead of the head waits in
 * inbox_blocks for its predecessor.  An entry is applied once its block
 * is, checked by block.c against the block (as verify() checks it) and for
 * what only arrival can tell: addressed to this node, not a replay.  The
 * rule that a block handing over to a new key holds a rotation entry needs
 * all of its entries: it is checked when the entry that completes the
 * block arrives, and that entry is refused if the block would break it.
 *
 * Entries reach us before their block within a streamed transaction, so
 * they wait in memory; whatever is still waiting at commit (initial table
 * sync copies entries and blocks separately, a peer may withhold a block)
 * goes to inbox_entries, after the checks an entry allows without its
 * block, and unless it is a replay of a row waiting already.  The entries
 * of a block that is quarantined do not wait: they are quarantined with the
 * block's reason (in memory, in the inbox, and any that arrive later).
 * Entries addressed to other nodes never reach us, which is why blocks
 * must verify without their entries.
 *
 * The apply part: this file checks and applies; inbox.c reads and writes
 * the inbox tables; quarantine.c runs the subtransactions and records what
 * is refused; ingest.c is where rows come in.  Their private header is
 * apply_int.h.
 *
 * Locking: the first row of a transaction takes the apply lock (pg_extension
 * object, subid 2), so that the table-sync workers of the two ledger tables
 * and the main apply worker see each other's parked rows.  The order of all
 * of tracelink's locks is in tracelink.c's banner.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"
#include "apply_int.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "replication/worker_internal.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* This transaction's apply state, in TopTransactionContext */
typedef struct PeerKey
{
	char		name[NAMEDATALEN];
	bool		known;
	uint8		key[TL_ED25519_PK_LEN];
} PeerKey;

/*
 * An entry waiting in memory for its block.  A block that takes it moves
 * it to the "taken" list; if the subtransaction that took it rolls back,
 * it waits again (apply_subxact_callback); once the row that took it is
 * done, it is freed.
 */
typedef struct WaitingEntry
{
	dlist_node	node;
	TlEntry    *e;
	SubTransactionId taken_in;
} WaitingEntry;

/*
 * How many entries of a block that hands over to a new key are in the
 * ledger, and whether one is its rotation entry: read once per transaction
 * and block, counted on as entries are written, read again when a
 * subtransaction that read or changed it rolls back.
 */
typedef struct RotationTally
{
	char		origin[NAMEDATALEN];
	int64		tx;
	int32		present;
	bool		rotation;
	SubTransactionId counted_in;
} RotationTally;

typedef struct ApplyState
{
	char	   *local_node;
	char	   *source;			/* subscription the rows came through */
	List	   *peer_keys;		/* PeerKey *, looked up once per transaction */
	dlist_head	waiting;		/* WaitingEntry: waiting for their block */
	Size		waiting_bytes;	/* about what they take in memory */
	dlist_head	taken;			/* WaitingEntry taken since the last row,
								 * latest last */
	List	   *tallies;		/* RotationTally * */
	TlRowWriter *entries;
	TlRowWriter *blocks;
	TlRowWriter *heads;
	bool		recovering_own; /* this node's own chain, from its peers */
	bool		relays_read;	/* the two below, read once per transaction */
	bool		source_relays;	/* the source's peer may pass others' rows on */
	bool		any_relay;		/* some peer may: rows come by several paths */

	/*
	 * Entries of one transaction of a peer arrive one by one before its
	 * block: the (origin, tx) that find_block() last found no block for,
	 * until this transaction writes a block (tx -1: none).
	 */
	char		blockless_origin[NAMEDATALEN];
	int64		blockless_tx;

	/*
	 * The block this transaction applied last, and the highest seq of its
	 * entries written since.  An entry's hash covers (origin, tx, seq), and
	 * entries are written only once their block is (and the block's (origin,
	 * tx) is unique): when the block was applied, none of its entries were
	 * in the ledger, so one of a higher seq than any written since cannot be
	 * a replay, and needs no lookup (tx -1: none).
	 */
	char		fresh_origin[NAMEDATALEN];
	int64		fresh_tx;
	int32		fresh_last_seq;

	/* the origin origin_problem() last found none with, and its key */
	char		accepted_origin[NAMEDATALEN];
	uint8		accepted_key[TL_ED25519_PK_LEN];
} ApplyState;

static ApplyState *apply_state = NULL;

/* tracelink.apply_waiting_memory, in kB */
static int	tl_apply_waiting_kb = 16 * 1024;

static void apply_xact_callback(XactEvent event, void *arg);
static void apply_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);
static void apply_block_and_successors(TlBlock *b);
static void park_waiting_entries(const char *origin, int64 tx);
static void apply_entries(const TlBlock *b, List *entries);
static bool find_block(const char *origin, int64 tx, int64 block_no, TlBlock *out);

void
tl_apply_init(void)
{
	DefineCustomIntVariable("tracelink.apply_waiting_memory",
							gettext_noop("Memory a transaction applying peers' rows lets entries take while they wait for their block."),
							gettext_noop("Past it they wait in tracelink.inbox_entries; a block then takes them out a few at a time."),
							&tl_apply_waiting_kb,
							16 * 1024, 64, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	RegisterXactCallback(apply_xact_callback, NULL);
	RegisterSubXactCallback(apply_subxact_callback, NULL);
	tl_quarantine_init();
}

/* ----------------------------------------------------------------
 * State, writers, lock
 * ----------------------------------------------------------------
 */

static ApplyState *
state(void)
{
	MemoryContext old;

	if (apply_state != NULL)
		return apply_state;

	tl_lock_extension(TL_LOCK_APPLY);
	old = MemoryContextSwitchTo(TopTransactionContext);
	apply_state = palloc0(sizeof(ApplyState));
	apply_state->local_node = tl_local_node();
	apply_state->source = MySubscription ? pstrdup(MySubscription->name) : NULL;
	tl_quarantine_set_subscription(apply_state->source);
	dlist_init(&apply_state->waiting);
	dlist_init(&apply_state->taken);
	apply_state->blockless_tx = -1;
	apply_state->fresh_tx = -1;
	MemoryContextSwitchTo(old);
	apply_state->entries = tl_writer_open_for_xact(tl_relid("ledger_entries"));
	apply_state->blocks = tl_writer_open_for_xact(tl_relid("ledger_blocks"));
	apply_state->heads = tl_writer_open_for_xact(tl_relid("ledger_heads"));
	return apply_state;
}

/*
 * Begin (once per transaction) to receive rows: the apply lock, the
 * writers, what this node is and which subscription the rows come through.
 */
void
tl_apply_begin(void)
{
	state();
}

/*
 * tracelink.recover_own_chain() (peer_fetch.c): while on, this node's own
 * blocks and entries are received from its peers like a peer's (verified
 * against its pinned genesis key and its chain), and what it holds already
 * is passed over rather than quarantined as a replay: each peer sends what
 * it holds of the chain, which overlaps.  Only a held node recovers
 * (restore.c), so nothing it signs can race these rows.
 */
void
tl_apply_recover_own(bool on)
{
	state()->recovering_own = on;
	state()->accepted_origin[0] = '\0';
}

/*
 * retry_quarantined() (quarantine.c) names the subscription a quarantined
 * row came through (NULL: ingest()), so that origin_problem() holds it to
 * that subscription's peer exactly as on arrival.  Outside an apply worker
 * only: there MySubscription says.
 */
void
tl_apply_set_source(const char *source)
{
	ApplyState *st = state();

	Assert(MySubscription == NULL);
	st->source = source ? MemoryContextStrdup(TopTransactionContext, source) : NULL;
	/* whether rows of other origins may come this way depends on the source */
	st->relays_read = false;
	st->accepted_origin[0] = '\0';
	tl_quarantine_set_subscription(st->source);
}

/* ----------------------------------------------------------------
 * Entries waiting in memory for their block
 * ----------------------------------------------------------------
 */

static TlEntry *
copy_entry(const TlEntry *e, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TlEntry    *c = palloc(sizeof(TlEntry));
	int			i;

	*c = *e;
	c->origin = pstrdup(e->origin);
	c->kind = pstrdup(e->kind);
	c->payload = pnstrdup(e->payload, e->payload_len);
	if (e->ndeps > 0)
	{
		c->deps = palloc((size_t) e->ndeps * TL_HASH_LEN);
		memcpy(c->deps, e->deps, (size_t) e->ndeps * TL_HASH_LEN);
	}
	if (e->audience)
	{
		c->audience = palloc(sizeof(char *) * Max(e->naudience, 1));
		for (i = 0; i < e->naudience; i++)
			c->audience[i] = pstrdup(e->audience[i]);
	}
	MemoryContextSwitchTo(old);
	return c;
}

/* Free what copy_entry() allocated. */
static void
free_entry(TlEntry *e)
{
	int			i;

	pfree(e->origin);
	pfree(e->kind);
	pfree(e->payload);
	if (e->ndeps > 0)
		pfree(e->deps);
	if (e->audience)
	{
		for (i = 0; i < e->naudience; i++)
			pfree(e->audience[i]);
		pfree(e->audience);
	}
	pfree(e);
}

/* about the memory an entry takes while it waits */
static Size
entry_bytes(const TlEntry *e)
{
	return sizeof(WaitingEntry) + sizeof(TlEntry) + e->payload_len +
		(Size) e->ndeps * TL_HASH_LEN + strlen(e->kind) + 64;
}

/*
 * Let an entry wait in memory for its block, which comes later.  A large
 * transaction's entries do not all wait in memory: past
 * tracelink.apply_waiting_memory the waiting ones go to the inbox, where
 * their block finds them as it finds entries parked by earlier
 * transactions.
 */
static void
wait_for_block(const TlEntry *e)
{
	ApplyState *st = state();
	WaitingEntry *w = MemoryContextAllocZero(TopTransactionContext, sizeof(WaitingEntry));

	w->e = copy_entry(e, TopTransactionContext);
	dlist_push_tail(&st->waiting, &w->node);
	st->waiting_bytes += entry_bytes(e);
	if (st->waiting_bytes > (Size) tl_apply_waiting_kb * 1024)
	{
		elog(DEBUG1, "tracelink: entries waiting for their block take more than tracelink.apply_waiting_memory: moved to the inbox");
		park_waiting_entries(NULL, -1);
	}
}

/*
 * Take the entries waiting in memory for the block (origin, tx): a list of
 * them (valid until the current row is done), in arrival order.
 */
static List *
take_waiting(const char *origin, int64 tx)
{
	ApplyState *st = state();
	dlist_mutable_iter it;
	List	   *taken = NIL;

	dlist_foreach_modify(it, &st->waiting)
	{
		WaitingEntry *w = dlist_container(WaitingEntry, node, it.cur);

		if (w->e->tx == tx && strcmp(w->e->origin, origin) == 0)
		{
			dlist_delete(&w->node);
			w->taken_in = GetCurrentSubTransactionId();
			dlist_push_tail(&st->taken, &w->node);
			taken = lappend(taken, w->e);
		}
	}
	return taken;
}

/*
 * Free the entries taken while the current row was processed: called
 * outside any subtransaction, when no rollback can give them back.
 */
static void
free_taken(void)
{
	dlist_mutable_iter it;

	if (apply_state == NULL)
		return;
	dlist_foreach_modify(it, &apply_state->taken)
	{
		WaitingEntry *w = dlist_container(WaitingEntry, node, it.cur);

		dlist_delete(&w->node);
		free_entry(w->e);
		pfree(w);
	}
}

/*
 * A subtransaction rolled back: the entries it (or its children, which
 * began after it) took wait again, and the rotation tallies it read or
 * changed are read again.  Entries are taken in time order, so those are
 * the tail of the taken list.
 */
static void
apply_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	if (event != SUBXACT_EVENT_ABORT_SUB || apply_state == NULL)
		return;
	while (!dlist_is_empty(&apply_state->taken))
	{
		WaitingEntry *w = dlist_tail_element(WaitingEntry, node, &apply_state->taken);

		if (w->taken_in < mySubid)
			break;
		dlist_delete(&w->node);
		w->taken_in = InvalidSubTransactionId;
		dlist_push_tail(&apply_state->waiting, &w->node);
	}
	foreach(lc, apply_state->tallies)
	{
		RotationTally *t = lfirst(lc);

		if (t->counted_in >= mySubid)
		{
			apply_state->tallies = foreach_delete_current(apply_state->tallies, lc);
			pfree(t);
		}
	}
}

/* ----------------------------------------------------------------
 * Lookups (SnapshotSelf: committed rows and this transaction's own)
 * ----------------------------------------------------------------
 */

/*
 * The applied block of (origin, tx), or of (origin, block_no) when tx < 0.
 */
static bool
find_block(const char *origin, int64 tx, int64 block_no, TlBlock *out)
{
	Relation	rel = table_open(tl_relid("ledger_blocks"), AccessShareLock);
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	ScanKeyInit(&keys[0], BLOCK_ORIGIN + 1, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(origin));
	keys[0].sk_collation = C_COLLATION_OID;
	if (tx >= 0)
	{
		ScanKeyInit(&keys[1], BLOCK_TX + 1, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(tx));
		scan = systable_beginscan(rel, tl_relid("ledger_blocks_tx"), true,
								  SnapshotSelf, 2, keys);
	}
	else
	{
		ScanKeyInit(&keys[1], BLOCK_NO + 1, BTEqualStrategyNumber, F_INT8EQ,
					Int64GetDatum(block_no));
		scan = systable_beginscan(rel, tl_relid("ledger_blocks_pkey"), true,
								  SnapshotSelf, 2, keys);
	}
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
		found = tl_block_decode(tup, RelationGetDescr(rel), out) == NULL;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The pinned genesis key of a peer; false if the origin is not a peer.
 * Looked up once per transaction and origin.
 */
static bool
peer_key(const char *origin, uint8 *key)
{
	static SPIPlanPtr any_node = NULL;
	static SPIPlanPtr peer_node = NULL;
	int			spi_nest;
	ApplyState *st = state();
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	ListCell   *lc;
	PeerKey    *pk;
	MemoryContext old;

	foreach(lc, st->peer_keys)
	{
		pk = lfirst(lc);
		if (strcmp(pk->name, origin) == 0)
		{
			memcpy(key, pk->key, TL_ED25519_PK_LEN);
			return pk->known;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	pk = palloc0(sizeof(PeerKey));
	strlcpy(pk->name, origin, NAMEDATALEN);
	st->peer_keys = lappend(st->peer_keys, pk);
	MemoryContextSwitchTo(old);

	args[0] = CStringGetTextDatum(origin);
	spi_nest = tl_spi_connect();
	if (SPI_execute_plan(st->recovering_own ?
						 tl_spi_plan(&any_node, "SELECT public_key FROM tracelink.nodes WHERE name = $1",
									 1, types) :
						 tl_spi_plan(&peer_node, "SELECT public_key FROM tracelink.nodes"
									 " WHERE name = $1 AND NOT is_local", 1, types),
						 args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up node \"%s\"", origin);
	if (SPI_processed > 0)
		pk->known = tl_fixed_bytea(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, pk->key,
								   TL_ED25519_PK_LEN);
	tl_spi_finish(spi_nest);
	memcpy(key, pk->key, TL_ED25519_PK_LEN);
	return pk->known;
}

/*
 * The name of this node's subscription to `peer`, exactly as
 * tracelink.peer_subscription_name() (sqlsrc/50_replication.sql) makes it:
 * "tracelink_from_" and the name, or, when that is longer than an
 * identifier, "tracelink_from_0x", 16 hex digits of the SHA-256 of the name,
 * "_" and the name's first 29 characters.
 */
static char *
peer_subscription_name(const char *peer)
{
	static const char prefix[] = "tracelink_from_";
	uint8		hash[TL_HASH_LEN];
	char		hex[2 * 8 + 1];

	if (strlen(prefix) + strlen(peer) < NAMEDATALEN)
		return psprintf("%s%s", prefix, peer);
	tl_sha256(peer, strlen(peer), hash);
	tl_hex_encode(hash, 8, hex);
	return psprintf("%s0x%s_%.29s", prefix, hex, peer);
}

/*
 * Which peers this node takes other origins' rows from (peer_relays.accept):
 * whether the subscription the rows come through is one, and whether any
 * is.  Read once per transaction; absent in a database whose tracelink SQL
 * predates relays.
 */
static ApplyState *
read_relays(void)
{
	ApplyState *st = state();
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	int			spi_nest;
	bool		isnull;
	bool		pushed = false;

	if (st->relays_read)
		return st;
	st->relays_read = true;
	if (!OidIsValid(tl_relid_if_exists("peer_relays")))
		return st;
	args[0] = CStringGetTextDatum(st->source ? st->source : "");
	/* first asked at commit (entries parked then) there may be no snapshot */
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.bool_or(tracelink.peer_subscription_name(r.peer) OPERATOR(pg_catalog.=) $1),"
							  "       pg_catalog.count(*) OPERATOR(pg_catalog.>) 0"
							  "  FROM tracelink.peer_relays r WHERE r.accept",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read tracelink.peer_relays");
	st->source_relays = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
	st->any_relay = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)) && !isnull;
	tl_spi_finish(spi_nest);
	if (pushed)
		PopActiveSnapshot();
	return st;
}

/*
 * Rows heard by several paths (relays; each peer during recover_own_chain()):
 * one the node holds already, or that waits already, is passed over rather
 * than quarantined as a replay.
 */
static bool
passes_duplicates(void)
{
	ApplyState *st = state();

	return st->recovering_own || read_relays()->any_relay;
}

/*
 * Why a row of `origin` must not be accepted through this subscription, or
 * NULL.  Each peer publishes only its own rows: anything else is a forgery
 * or a relay.
 */
static const char *
origin_problem(const char *origin, uint8 *pinned_key)
{
	ApplyState *st = state();

	/* a peer's transaction brings rows of one origin, mostly */
	if (st->accepted_origin[0] != '\0' && strcmp(origin, st->accepted_origin) == 0)
	{
		memcpy(pinned_key, st->accepted_key, TL_ED25519_PK_LEN);
		return NULL;
	}
	if (!tl_valid_node_name(origin))
		return "origin is not a valid node name";
	if (st->local_node && strcmp(origin, st->local_node) == 0 && !st->recovering_own)
		return "row claims to come from this node";
	if (!peer_key(origin, pinned_key))
		return "origin is not a known peer (no pinned key)";
	if (st->source &&
		strcmp(st->source, peer_subscription_name(origin)) != 0 &&
		!read_relays()->source_relays)
		return psprintf("row of origin \"%s\" arrived through subscription \"%s\", which carries only its own peer's rows",
						origin, st->source);
	strlcpy(st->accepted_origin, origin, NAMEDATALEN);
	memcpy(st->accepted_key, pinned_key, TL_ED25519_PK_LEN);
	return NULL;
}

/* ----------------------------------------------------------------
 * Entries of a quarantined block
 * ----------------------------------------------------------------
 */

/*
 * Block b was quarantined for `reason`: the entries waiting for it (in
 * memory and in the inbox) will never be applied, so they are quarantined
 * with that reason rather than wait forever.  Unless (origin, tx) belongs to
 * another block: one applied (then they are checked against it) or one
 * parked (then they go on waiting for it).
 */
static void
release_block_entries(const TlBlock *b, const char *reason)
{
	TlBlock		other;
	List	   *entries;
	ListCell   *lc;
	char	   *why;

	if (find_block(b->h.origin, b->h.tx, -1, &other))
	{
		entries = take_waiting(b->h.origin, b->h.tx);
		if (entries != NIL)
			apply_entries(&other, entries);
		return;
	}
	if (tl_inbox_block_parked_for(b->h.origin, b->h.tx))
		return;
	why = psprintf("its block " INT64_FORMAT " was quarantined: %s", b->h.block_no, reason);
	entries = take_waiting(b->h.origin, b->h.tx);
	do
	{
		foreach(lc, entries)
			tl_quarantine_entry(lfirst(lc), why);
		entries = tl_inbox_unpark_entries(b->h.origin, b->h.tx, TL_APPLY_CHUNK);
	} while (entries != NIL);
}

/*
 * Quarantine a block (its row as received if src is given) and release
 * the entries that waited for it.
 */
static void
quarantine_block(const TlBlock *b, const char *reason, const RowSource *src)
{
	tl_quarantine_block_only(b, reason, src);
	release_block_entries(b, reason);
}

/* ----------------------------------------------------------------
 * Blocks
 * ----------------------------------------------------------------
 */

/*
 * Check a block that should follow the head (block.c), and that its
 * transaction number is not its origin's for another block yet (the
 * ledger keeps one block per transaction); returns why not, or NULL.  On
 * success `frontier` has been extended to the block's tree.
 */
static const char *
check_block(const TlBlock *b, const TlHead *head, const uint8 *pinned_key,
			TlMerkleFrontier *frontier)
{
	const char *problem = tl_check_block(b, head, pinned_key, frontier);
	TlBlock		other;

	if (problem == NULL && find_block(b->h.origin, b->h.tx, -1, &other))
		problem = psprintf("block seals transaction " INT64_FORMAT
						   ", which block " INT64_FORMAT " of its origin sealed already",
						   b->h.tx, other.h.block_no);
	return problem;
}

/*
 * A block whose number is already taken: the same block again, or a
 * different one (equivocation, recorded as evidence by witness.c when both
 * blocks are validly signed by one key).
 */
static void
reject_known_block_number(const TlBlock *b, const uint8 *stored_hash, const char *where)
{
	const char *unproven;

	if (memcmp(stored_hash, b->block_hash, TL_HASH_LEN) == 0)
	{
		/*
		 * Heard by another path too (relays, recover_own_chain()): the
		 * entries that came with it are checked against the block held (or
		 * wait with the one parked).
		 */
		if (passes_duplicates())
			release_block_entries(b, NULL);
		else
			quarantine_block(b, psprintf("replayed block: block " INT64_FORMAT " of \"%s\" is already %s",
										 b->h.block_no, b->h.origin, where), NULL);
		return;
	}
	unproven = tl_witness_block_conflict(&b->h, b->block_hash, b->signature);
	if (unproven != NULL)
	{
		quarantine_block(b, unproven, NULL);
		return;
	}
	quarantine_block(b, psprintf("equivocation: origin \"%s\" shows two different blocks numbered " INT64_FORMAT,
								 b->h.origin, b->h.block_no), NULL);
}

/*
 * Park a block that is ahead of its origin's head (inbox.c), unless a block
 * of that number waits already.
 */
static void
park_block(const TlBlock *b)
{
	uint8		parked[TL_HASH_LEN];

	if (!tl_inbox_park_block(b, parked))
		reject_known_block_number(b, parked, "waiting for its predecessor");
}

/* ----------------------------------------------------------------
 * Entries
 * ----------------------------------------------------------------
 */

/*
 * The rotation tally of block b (which hands over to a new key): how many
 * of its entries are in the ledger, and whether one is a rotation entry.
 */
static RotationTally *
rotation_tally(const TlBlock *b)
{
	ApplyState *st = state();
	ListCell   *lc;
	RotationTally *t;
	int			spi_nest;
	Oid			types[3] = {BYTEAARRAYOID, TEXTOID, INT8OID};
	Datum		args[3];
	Datum	   *hashes;
	bool		isnull;
	int			i;

	foreach(lc, st->tallies)
	{
		t = lfirst(lc);
		if (t->tx == b->h.tx && strcmp(t->origin, b->h.origin) == 0)
			return t;
	}
	hashes = palloc(sizeof(Datum) * Max(b->h.entry_count, 1));
	for (i = 0; i < b->h.entry_count; i++)
		hashes[i] = PointerGetDatum(tl_bytea_from(b->entry_hashes + (size_t) i * TL_HASH_LEN,
												  TL_HASH_LEN));
	args[0] = PointerGetDatum(construct_array(hashes, b->h.entry_count, BYTEAOID, -1, false,
											  TYPALIGN_INT));
	args[1] = CStringGetTextDatum(b->h.origin);
	args[2] = Int64GetDatum(b->h.tx);
	/* entries written directly (rowwriter) become visible to queries */
	CommandCounterIncrement();
	spi_nest = tl_spi_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.count(*)::integer,"
							  "       coalesce(pg_catalog.bool_or(kind = 'tl.key_rotation'), false)"
							  "  FROM tracelink.ledger_entries"
							  " WHERE entry_hash = ANY ($1) AND origin = $2 AND tx = $3",
							  3, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the entries of a block");
	t = MemoryContextAllocZero(TopTransactionContext, sizeof(RotationTally));
	strlcpy(t->origin, b->h.origin, NAMEDATALEN);
	t->tx = b->h.tx;
	t->present = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	t->rotation = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	t->counted_in = GetCurrentSubTransactionId();
	tl_spi_finish(spi_nest);
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		st->tallies = lappend(st->tallies, t);
		MemoryContextSwitchTo(old);
	}
	return t;
}

/*
 * Whether an entry, checked against its block, may be in the ledger
 * already (see ApplyState.fresh_tx): only then is it looked up.
 */
static bool
may_be_in_ledger(const TlEntry *e)
{
	ApplyState *st = state();

	return e->tx != st->fresh_tx || e->seq <= st->fresh_last_seq ||
		strcmp(e->origin, st->fresh_origin) != 0;
}

/* an entry was written: keep ApplyState.fresh_last_seq the highest seq */
static void
written_entry(const TlEntry *e)
{
	ApplyState *st = state();

	if (e->tx == st->fresh_tx && strcmp(e->origin, st->fresh_origin) == 0)
		st->fresh_last_seq = Max(st->fresh_last_seq, e->seq);
}

/*
 * Check an entry against its applied block and write it, or quarantine
 * it; true if it was written.  The checks are verify()'s (block.c), then
 * what only arrival can tell (addressed here, not a replay), then, for a
 * block that hands over to a new key, whether this entry would complete
 * the block without a rotation entry.  May raise on content so broken
 * that checking it fails; the caller's subtransaction turns that into a
 * quarantine too.
 */
static bool
check_and_write_entry(const TlEntry *e, const TlBlock *b)
{
	RotationTally *tally = NULL;
	bool		is_rotation;
	const char *problem = tl_check_entry(e, b, &is_rotation);

	if (problem == NULL)
		problem = tl_audience_problem(e, state()->local_node);
	if (problem == NULL && may_be_in_ledger(e) && tl_entry_exists(e->hash))
	{
		/* heard by another path too (relays, recover_own_chain()) */
		if (passes_duplicates())
			return false;
		problem = "replayed entry: it is already in the ledger";
	}
	if (problem == NULL && b->h.has_next_key)
	{
		tally = rotation_tally(b);
		problem = tl_check_block_complete(&b->h, tally->present + 1,
										  tally->rotation || is_rotation);
	}
	if (problem)
	{
		tl_quarantine_entry(e, problem);
		return false;
	}
	tl_write_entry(state()->entries, e);
	written_entry(e);
	if (tally != NULL)
	{
		tally->present++;
		tally->rotation |= is_rotation;
		tally->counted_in = Max(tally->counted_in, GetCurrentSubTransactionId());
	}
	return true;
}

/* a block's entries to apply, in seq order */
typedef struct EntryBatch
{
	const TlBlock *b;
	TlEntry   **entries;
	int			n;
	int			current;		/* for the one-by-one steps */
	bool		written;
} EntryBatch;

/*
 * Check, write and give effect to every entry of a batch (run in a
 * subtransaction).  What checking and projecting an entry allocates is
 * freed after each: a block may hold thousands of entries (a bulk import
 * of trace data).
 */
static void
apply_entry_batch(void *arg)
{
	EntryBatch *batch = arg;
	MemoryContext entry_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink applied entry",
													ALLOCSET_DEFAULT_SIZES);
	int			i;

	for (i = 0; i < batch->n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(entry_cxt);

		if (check_and_write_entry(batch->entries[i], batch->b))
			tl_apply_effect(batch->entries[i]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(entry_cxt);
	}
	MemoryContextDelete(entry_cxt);
}

/* one entry of a batch: check and write it (run in a subtransaction) */
static void
write_one_entry(void *arg)
{
	EntryBatch *batch = arg;

	batch->written = check_and_write_entry(batch->entries[batch->current], batch->b);
}

/* one entry of a batch: its effect (run in a subtransaction) */
static void
effect_of_one_entry(void *arg)
{
	EntryBatch *batch = arg;

	tl_apply_effect(batch->entries[batch->current]);
}

static int
entry_seq_cmp(const void *a, const void *b)
{
	const TlEntry *ea = *(TlEntry *const *) a;
	const TlEntry *eb = *(TlEntry *const *) b;

	return ea->seq < eb->seq ? -1 : ea->seq > eb->seq ? 1 : 0;
}

/*
 * Apply entries of an applied block, in seq order, in one subtransaction.
 * If something raises there, they are applied again one by one, each in a
 * subtransaction: an entry whose check or write fails is quarantined, an
 * entry whose effect fails keeps its place in the ledger without effect
 * (what = 'effect'), and the others are applied.
 */
static void
apply_entries(const TlBlock *b, List *entries)
{
	EntryBatch	batch = {0};
	ErrorData  *failure;
	ListCell   *lc;

	batch.b = b;
	batch.n = list_length(entries);
	batch.entries = palloc(sizeof(TlEntry *) * Max(batch.n, 1));
	foreach(lc, entries)
		batch.entries[foreach_current_index(lc)] = lfirst(lc);
	/* stable enough: entries with one seq keep their order of arrival */
	qsort(batch.entries, batch.n, sizeof(TlEntry *), entry_seq_cmp);

	failure = tl_run_in_subtransaction(apply_entry_batch, &batch);
	if (failure == NULL)
		return;
	for (batch.current = 0; batch.current < batch.n; batch.current++)
	{
		TlEntry    *e = batch.entries[batch.current];

		batch.written = false;
		failure = tl_run_in_subtransaction(write_one_entry, &batch);
		if (failure != NULL)
			tl_quarantine_entry(e, psprintf("row could not be processed: %s", failure->message));
		else if (batch.written)
		{
			failure = tl_run_in_subtransaction(effect_of_one_entry, &batch);
			if (failure != NULL)
				tl_quarantine_effect(e, failure->message);
		}
	}
}

/*
 * Apply every waiting entry of a block just applied: those waiting in
 * memory since earlier in this transaction and those parked in the inbox
 * by earlier transactions.
 */
static void
apply_waiting_entries(const TlBlock *b)
{
	MemoryContext chunk_cxt;
	MemoryContext old;
	List	   *entries;

	if (!tl_inbox_entries_parked_for(b->h.origin, b->h.tx))
	{
		entries = take_waiting(b->h.origin, b->h.tx);
		if (entries != NIL)
			apply_entries(b, entries);
		return;
	}

	/*
	 * Some wait in the inbox (a large transaction, or an earlier one): so do
	 * the rest, and they are taken out in order of seq, TL_APPLY_CHUNK at a
	 * time, so that memory does not grow with the block.
	 */
	park_waiting_entries(b->h.origin, b->h.tx);
	chunk_cxt = AllocSetContextCreate(CurrentMemoryContext, "tracelink entries of a block",
									  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		old = MemoryContextSwitchTo(chunk_cxt);
		entries = tl_inbox_unpark_entries(b->h.origin, b->h.tx, TL_APPLY_CHUNK);
		if (entries != NIL)
			apply_entries(b, entries);
		MemoryContextSwitchTo(old);
		MemoryContextReset(chunk_cxt);
		if (entries == NIL)
			break;
	}
	MemoryContextDelete(chunk_cxt);
}

/* ----------------------------------------------------------------
 * Receiving rows
 * ----------------------------------------------------------------
 */

/*
 * Apply a block known to follow its origin's head, and its waiting
 * entries; false (and the block quarantined) if it does not verify.
 */
static bool
apply_block(const TlBlock *b)
{
	ApplyState *st = state();
	Relation	heads = table_open(tl_relid("ledger_heads"), RowExclusiveLock);
	uint8		pinned[TL_ED25519_PK_LEN];
	TlHead		head;
	bool		have_head;
	TlMerkleFrontier frontier;
	const char *problem;

	memset(&head, 0, sizeof(head));
	have_head = tl_read_head(heads, SnapshotSelf, b->h.origin, &head);
	if (!peer_key(b->h.origin, pinned))
		problem = "origin is not a known peer (no pinned key)";
	else
		problem = check_block(b, have_head ? &head : NULL, pinned, &frontier);
	if (problem)
	{
		table_close(heads, NoLock);
		quarantine_block(b, problem, NULL);
		return false;
	}

	tl_write_block(st->blocks, &b->h, b->entry_hashes, b->block_hash, b->signature);
	/* no block was stored for (origin, tx), so none of its entries are */
	st->blockless_tx = -1;
	strlcpy(st->fresh_origin, b->h.origin, NAMEDATALEN);
	st->fresh_tx = b->h.tx;
	st->fresh_last_seq = -1;
	tl_head_after_block(&head, b, &frontier);
	tl_write_head(st->heads, b->h.origin, &head, have_head, SnapshotSelf);
	table_close(heads, NoLock);
	CommandCounterIncrement();

	apply_waiting_entries(b);
	/* heads witnessed at this number; witness if it is time */
	tl_witness_block_applied(&b->h, b->block_hash, b->signature);
	return true;
}

/* a parked block to apply, for apply_parked_block() */
typedef struct ParkedBlock
{
	TlBlock    *b;
	bool		applied;
} ParkedBlock;

/* apply a block taken out of the inbox (run in a subtransaction) */
static void
apply_parked_block(void *arg)
{
	ParkedBlock *p = arg;

	p->applied = apply_block(p->b);
}

/*
 * Apply a block known to follow its origin's head, and then any parked
 * blocks that now follow it, each in a subtransaction of its own: a parked
 * block that fails in an unexpected way is quarantined without taking its
 * predecessors with it.
 */
static void
apply_block_and_successors(TlBlock *b)
{
	TlBlock		next;

	if (!apply_block(b))
		return;
	while (tl_inbox_unpark_block(b->h.origin, b->h.block_no + 1, &next))
	{
		ParkedBlock p = {&next, false};
		ErrorData  *failure = tl_run_in_subtransaction(apply_parked_block, &p);

		if (failure != NULL)
			quarantine_block(&next, psprintf("row could not be processed: %s", failure->message),
							 NULL);
		if (!p.applied)
			break;
		b = &next;
	}
}

/* a decoded block and where it came from, for receive_block() */
typedef struct BlockArrival
{
	TlBlock    *b;
	const RowSource *src;
} BlockArrival;

/*
 * Receive a decoded block (run in a subtransaction): refuse it, park it,
 * or apply it and what follows it.
 */
static void
receive_block(void *arg)
{
	BlockArrival *arrival = arg;
	TlBlock    *b = arrival->b;
	const char *problem;
	uint8		pinned[TL_ED25519_PK_LEN];
	Relation	heads;
	TlHead		head;
	bool		have_head;
	int64		expected;

	problem = origin_problem(b->h.origin, pinned);
	if (problem)
	{
		tl_quarantine_source("block", b->h.origin, problem, arrival->src);
		return;
	}

	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
	have_head = tl_read_head(heads, SnapshotSelf, b->h.origin, &head);
	table_close(heads, AccessShareLock);
	expected = have_head ? head.block_no + 1 : 0;

	if (b->h.block_no < expected)
	{
		TlBlock		stored;

		if (find_block(b->h.origin, -1, b->h.block_no, &stored))
			reject_known_block_number(b, stored.block_hash, "in the ledger");
		else
			quarantine_block(b, "block number is below the origin's head but no such block is stored",
							 NULL);
		return;
	}
	if (b->h.block_no > expected)
	{
		park_block(b);
		return;
	}
	apply_block_and_successors(b);
}

/*
 * A block row or line, decoded (decode_problem: why it is not a block):
 * received in a subtransaction; if that fails in an unexpected way, the
 * block is quarantined as received, with the entries waiting for it.
 * Called outside any subtransaction of ours.
 */
void
tl_apply_receive_block(TlBlock *b, const char *decode_problem, const RowSource *src)
{
	BlockArrival arrival = {b, src};
	ErrorData  *failure;

	if (decode_problem != NULL)
	{
		tl_quarantine_source("block", b->h.origin, decode_problem, src);
		return;
	}
	failure = tl_run_in_subtransaction(receive_block, &arrival);
	if (failure != NULL)
	{
		char	   *reason = psprintf("row could not be processed: %s", failure->message);

		tl_quarantine_block_only(b, reason, src);
		if (tl_known_origin(b->h.origin) != NULL)
			release_block_entries(b, reason);
	}
	free_taken();
}

/*
 * An entry row or line, decoded: refused, applied if its block is, or left
 * to wait for its block.  Called outside any subtransaction of ours.
 */
void
tl_apply_receive_entry(TlEntry *e, const RowSource *src)
{
	ApplyState *st = state();
	TlBlock		b;
	uint8		pinned[TL_ED25519_PK_LEN];
	const char *problem;

	problem = origin_problem(e->origin, pinned);
	if (problem)
	{
		tl_quarantine_entry_as_received(e, problem, src);
		return;
	}
	if (e->tx == st->blockless_tx && strcmp(e->origin, st->blockless_origin) == 0)
		wait_for_block(e);
	else if (find_block(e->origin, e->tx, -1, &b))
		apply_entries(&b, list_make1(e));
	else
	{
		strlcpy(st->blockless_origin, e->origin, NAMEDATALEN);
		st->blockless_tx = e->tx;
		wait_for_block(e);
	}
}

/*
 * Entries waiting in memory for their block go to the inbox (inbox.c): all
 * of them (origin NULL; at commit, or when too many wait), or those of one
 * (origin, tx).  They are freed here.
 */
static void
park_waiting_entries(const char *origin, int64 tx)
{
	dlist_mutable_iter it;
	List	   *entries = NIL;
	List	   *parked = NIL;
	ListCell   *lc;

	dlist_foreach_modify(it, &apply_state->waiting)
	{
		WaitingEntry *w = dlist_container(WaitingEntry, node, it.cur);

		if (origin != NULL && (w->e->tx != tx || strcmp(w->e->origin, origin) != 0))
			continue;
		dlist_delete(&w->node);
		apply_state->waiting_bytes -= Min(apply_state->waiting_bytes, entry_bytes(w->e));
		entries = lappend(entries, w->e);
		parked = lappend(parked, w);
	}
	if (entries != NIL)
		tl_inbox_park_entries(entries, apply_state->local_node, passes_duplicates());
	foreach(lc, parked)
	{
		WaitingEntry *w = lfirst(lc);

		free_entry(w->e);
		pfree(w);
	}
	list_free(entries);
	list_free(parked);
}

/*
 * At commit, entries still waiting for their block go to the inbox, and
 * the writers are closed.  No snapshot is active at pre-commit, and writing
 * a table that has a TOAST table needs one (heap_insert asserts it): the
 * inbox is written under a snapshot pushed for it.
 */
static void
apply_xact_callback(XactEvent event, void *arg)
{
	if (apply_state == NULL)
		return;
	if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE)
	{
		/* as for the seal: work under the top transaction's owner */
		ResourceOwner save_owner = CurrentResourceOwner;

		CurrentResourceOwner = TopTransactionResourceOwner;
		park_waiting_entries(NULL, -1);
		tl_writer_close(apply_state->entries);
		tl_writer_close(apply_state->blocks);
		tl_writer_close(apply_state->heads);
		CurrentResourceOwner = save_owner;
		apply_state = NULL;
		tl_quarantine_set_subscription(NULL);
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
			 event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE)
	{
		apply_state = NULL;
		tl_quarantine_set_subscription(NULL);
	}
}
