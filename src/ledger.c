/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  Appending entries to this node's chain and sealing them into blocks.
 *
 * An entry is written the moment it is appended (so the rest of the
 * transaction sees it), identified by (origin, tx, seq): tx numbers the
 * appending transaction, seq counts its entries from 0.  Its hash covers
 * those and its content, so it is known at once and returned to the caller.
 *
 * Block number, ordinals and tree head are only assigned when the
 * transaction commits: the pre-commit callback takes the origin's seal lock,
 * reads the head, computes the block's Merkle root and the origin's new tree
 * head, signs the block and writes it with the head.  Concurrent writers thus
 * serialise only for the seal, never fork the chain (the lock orders them,
 * and each reads the head its predecessor committed) and never leave a gap
 * (a transaction that aborts takes its block with it).  Savepoints that roll
 * back take their entries with them: seq is rewound so a block's entries are
 * always numbered 0..n-1.
 *
 * Locking: the seal lock is a transaction-duration ExclusiveLock on the
 * database object (pg_extension, tracelink's oid, 1).  Sealing takes it, and
 * so does the commit-time re-check of entries waiting in apply_queue
 * (project.c, "Entries that wait, and commits"), which must be ordered with
 * sealers; whoever holds it waits for nothing but other sealers.
 *
 *-------------------------------------------------------------------------
 */
#include "tracelink.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(tl_append);
PG_FUNCTION_INFO_V1(tl_init_node);
PG_FUNCTION_INFO_V1(tl_node_name);
PG_FUNCTION_INFO_V1(tl_node_public_key);
PG_FUNCTION_INFO_V1(tl_check_signing_key);
PG_FUNCTION_INFO_V1(tl_rotate_key);
PG_FUNCTION_INFO_V1(tl_entry_preimage_sql);
PG_FUNCTION_INFO_V1(tl_refuse_ledger_change);

#define MAX_DEPS 1024

/*
 * This transaction's unsealed block, in TopTransactionContext.
 */
typedef struct PendingBlock
{
	char	   *origin;
	int64		tx;
	int32		count;			/* entries appended so far = next seq */
	int32		capacity;
	uint8	   *hashes;			/* count entry hashes */
	SubTransactionId *subids;	/* the subtransaction each was appended in */
	bool	   *has_effect;		/* whether each was given an effect here */
	bool		genesis;		/* first block of a node created now */
	uint8		genesis_key[TL_ED25519_PK_LEN];
	int32		rotation_at;	/* seq of the key hand-over entry, or -1 */
	uint8		next_key[TL_ED25519_PK_LEN];
	TlRowWriter *entries;		/* open on ledger_entries */
} PendingBlock;

static PendingBlock *pending = NULL;

/*
 * Whether this transaction has appended entries whose kind has an effect
 * (a projector): their effects write rows an apply worker may also lock.
 */
bool
tl_ledger_appended_effects(void)
{
	int			i;

	if (pending == NULL)
		return false;
	for (i = 0; i < pending->count; i++)
		if (pending->has_effect[i])
			return true;
	return false;
}

/*
 * Refuse a call that would take the apply lock (ingest(), witness(),
 * rotate_key()) after this transaction recorded trace data or appended an
 * entry with an effect (a vote, any workflow step).  The apply workers take
 * the apply lock before anything else (the order in tracelink.c), then the
 * trace lock and the rows effects write (a proposal's, a link's); a
 * transaction already holding those and then waiting for the apply lock
 * could deadlock with a worker.  Entries without an effect (append() of an
 * application's kinds) lock nothing a worker waits for; holding the apply
 * lock already is fine.
 */
void
tl_require_apply_lock_first(const char *function)
{
	if (tl_extension_lock_held(TL_LOCK_APPLY))
		return;
	if (tl_ledger_appended_effects() || tl_extension_lock_held(TL_LOCK_TRACE))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run after this transaction recorded trace data or took a workflow step", function),
				 errdetail("It takes the lock the apply workers take first; taken after rows and locks they wait for, it could deadlock with them."),
				 errhint("Call %s in a transaction of its own, or first in this one.", function)));
}

/* the local node's name, cached across transactions (ledger_relcache_callback) */
static char cached_node[NAMEDATALEN] = "";

static void ledger_xact_callback(XactEvent event, void *arg);
static void ledger_relcache_callback(Datum arg, Oid relid);
static void ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);

void
tl_ledger_init(void)
{
	RegisterXactCallback(ledger_xact_callback, NULL);
	RegisterSubXactCallback(ledger_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(ledger_relcache_callback, (Datum) 0);
}

/*
 * The local node's name holds until the relation cache is invalidated (DROP
 * EXTENSION drops the tables, which does that).  A node's name never
 * changes once it is set.
 */
static void
ledger_relcache_callback(Datum arg, Oid relid)
{
	cached_node[0] = '\0';
}

/* ----------------------------------------------------------------
 * The pending block
 * ----------------------------------------------------------------
 */

/*
 * The local node's name, or NULL if this database is not a node yet.
 */
char *
tl_local_node(void)
{
	int			spi_nest;
	MemoryContext caller = CurrentMemoryContext;
	char	   *name = NULL;

	if (pending != NULL)
		return pstrdup(pending->origin);
	if (cached_node[0] != '\0')
		return pstrdup(cached_node);
	spi_nest = tl_spi_connect();
	if (SPI_execute("SELECT name FROM tracelink.nodes WHERE is_local", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the local node");
	if (SPI_processed > 0)
		name = MemoryContextStrdup(caller,
								   SPI_getvalue(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1));
	tl_spi_finish(spi_nest);
	/* only a committed name is cached: init_node's transaction may abort */
	if (name != NULL)
		strlcpy(cached_node, name, NAMEDATALEN);
	return name;
}

/*
 * Start this transaction's block for `origin` if not started yet.
 */
static PendingBlock *
pending_block(const char *origin)
{
	MemoryContext old;

	if (pending != NULL)
		return pending;

	PreventCommandIfReadOnly("tracelink.append()");
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot append to the ledger during recovery")));
	/* once per transaction: is this role a member of this node? (roles.c) */
	tl_require_database_member(GetUserId());
	/* a restored node signs nothing before finish_restore() */
	tl_restore_check_hold();

	old = MemoryContextSwitchTo(TopTransactionContext);
	pending = palloc0(sizeof(PendingBlock));
	pending->origin = pstrdup(origin);
	pending->tx = nextval_internal(tl_relid("ledger_tx_seq"), false);
	pending->capacity = 16;
	pending->hashes = palloc(TL_HASH_LEN * pending->capacity);
	pending->subids = palloc(sizeof(SubTransactionId) * pending->capacity);
	pending->has_effect = palloc(sizeof(bool) * pending->capacity);
	pending->rotation_at = -1;

	/* the writer outlives savepoints that roll back */
	pending->entries = tl_writer_open_for_xact(tl_relid("ledger_entries"));
	MemoryContextSwitchTo(old);
	return pending;
}

static int
hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, TL_HASH_LEN);
}

/*
 * Sort, de-duplicate and check dependencies: each must be a 32-byte hash of
 * an existing entry.  Returns the number kept (in place).
 */
static int
normalise_deps(uint8 *deps, int ndeps)
{
	int			kept = 0;
	int			i;

	if (ndeps > 1)
		qsort(deps, ndeps, TL_HASH_LEN, hash_cmp);
	for (i = 0; i < ndeps; i++)
	{
		uint8	   *d = deps + i * TL_HASH_LEN;

		if (kept > 0 && memcmp(deps + (kept - 1) * TL_HASH_LEN, d, TL_HASH_LEN) == 0)
			continue;
		if (!tl_entry_exists(d))
		{
			char		hex[2 * TL_HASH_LEN + 1];

			tl_hex_encode(d, TL_HASH_LEN, hex);
			ereport(ERROR,
					(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
					 errmsg("dependency \\x%s is not a ledger entry", hex),
					 errdetail("An entry may only depend on entries already in the ledger.")));
		}
		if (kept != i)
			memmove(deps + kept * TL_HASH_LEN, d, TL_HASH_LEN);
		kept++;
	}
	return kept;
}

/*
 * Append an entry to the local chain (any kind, reserved ones included: this
 * is the internal entry point).  The payload must be canonical JSON.
 * Returns the entry hash in `hash_out`.
 */
void
tl_ledger_append(const char *origin, const char *kind, const char *payload,
				 int payload_len, uint8 *deps, int ndeps,
				 const char *const *audience, int naudience, uint8 *hash_out)
{
	tl_ledger_append_arg(origin, kind, payload, payload_len, deps, ndeps,
						 audience, naudience, hash_out, NULL);
}

/*
 * The same, handing `local_arg` to the kind's projector as the entry's
 * local_arg, for what the appender knows and the payload does not say (as
 * the tree it serialised the payload from): an argument of this one call,
 * not state left behind for the projector.
 */
void
tl_ledger_append_arg(const char *origin, const char *kind, const char *payload,
					 int payload_len, uint8 *deps, int ndeps,
					 const char *const *audience, int naudience, uint8 *hash_out,
					 const void *local_arg)
{
	PendingBlock *pb;
	TlEntry		e;

	if (ndeps > MAX_DEPS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("an entry may have at most %d dependencies", MAX_DEPS)));
	ndeps = normalise_deps(deps, ndeps);

	pb = pending_block(origin);
	if (strcmp(pb->origin, origin) != 0)
		elog(ERROR, "entries of one transaction must share one origin");
	if (pb->count >= TL_BLOCK_MAX_ENTRIES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a transaction may append at most %d ledger entries",
						TL_BLOCK_MAX_ENTRIES),
				 errdetail("A transaction's entries make one block, whose export line must stay within the size limit of JSON documents."),
				 errhint("Append the rest in another transaction.")));

	e.origin = (char *) origin;
	e.tx = pb->tx;
	e.seq = pb->count;
	e.kind = (char *) kind;
	e.payload = (char *) payload;
	e.payload_len = payload_len;
	e.deps = deps;
	e.ndeps = ndeps;
	e.audience = (char **) audience;
	e.naudience = naudience;
	e.local_arg = local_arg;
	tl_entry_hash(&e, e.hash);
	tl_write_entry(pb->entries, &e);
	memcpy(hash_out, e.hash, TL_HASH_LEN);

	if (pb->count == pb->capacity)
	{
		pb->capacity *= 2;
		pb->hashes = repalloc(pb->hashes, TL_HASH_LEN * pb->capacity);
		pb->subids = repalloc(pb->subids, sizeof(SubTransactionId) * pb->capacity);
		pb->has_effect = repalloc(pb->has_effect, sizeof(bool) * pb->capacity);
	}
	memcpy(pb->hashes + pb->count * TL_HASH_LEN, hash_out, TL_HASH_LEN);
	pb->subids[pb->count] = GetCurrentSubTransactionId();
	pb->has_effect[pb->count] = strncmp(kind, "tl.", 3) == 0 && tl_kind_has_effect(kind);
	pb->count++;

	/* last: a projector may append entries of its own */
	if (strncmp(kind, "tl.", 3) == 0)
		tl_project_entry(&e, true);
}

/* ----------------------------------------------------------------
 * Sealing
 * ----------------------------------------------------------------
 */

/*
 * Seal the pending block: runs in the pre-commit callback, so it writes with
 * rowwriter (no triggers, no user code) and any error aborts the commit.
 */
static void
seal_pending_block(void)
{
	PendingBlock *pb = pending;
	Relation	heads;
	Snapshot	snapshot;
	TlHead		head;
	bool		have_head;
	TlBlockHeader h;
	uint8		block_hash[TL_HASH_LEN];
	uint8		signature[TL_ED25519_SIG_LEN];
	TlRowWriter *blocks;
	TlRowWriter *heads_writer;

	/* serialise sealers, then read what the previous one committed */
	tl_lock_extension(TL_LOCK_SEAL);
	snapshot = RegisterSnapshot(GetLatestSnapshot());

	heads = table_open(tl_relid("ledger_heads"), RowExclusiveLock);
	have_head = tl_read_head(heads, snapshot, pb->origin, &head);

	memset(&h, 0, sizeof(h));
	strlcpy(h.origin, pb->origin, sizeof(h.origin));
	h.tx = pb->tx;
	h.entry_count = pb->count;
	if (have_head)
	{
		h.block_no = head.block_no + 1;
		memcpy(h.prev_hash, head.block_hash, TL_HASH_LEN);
		memcpy(h.signer_key, head.signer_key, TL_ED25519_PK_LEN);
	}
	else
	{
		if (!pb->genesis)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("node \"%s\" has no genesis block", pb->origin),
					 errdetail("tracelink.ledger_heads has no row for this node.")));
		tl_frontier_init(&head.frontier);
		h.block_no = 0;
		memcpy(h.signer_key, pb->genesis_key, TL_ED25519_PK_LEN);
	}
	tl_extend_tree(&head.frontier, pb->hashes, pb->count, h.entries_root, h.tree_root);
	h.tree_size = head.frontier.size;
	h.has_next_key = pb->rotation_at >= 0;
	if (h.has_next_key)
		memcpy(h.next_key, pb->next_key, TL_ED25519_PK_LEN);
	h.sealed_at = GetCurrentTimestamp();

	tl_block_hash(&h, block_hash);
	tl_keys_sign(pb->origin, h.signer_key, block_hash, TL_HASH_LEN, signature);
	if (h.has_next_key)
		tl_keys_rotation_sealed(pb->origin, h.next_key);

	blocks = tl_writer_open(tl_relid("ledger_blocks"));
	tl_write_block(blocks, &h, pb->hashes, block_hash, signature);
	tl_writer_close(blocks);

	head.block_no = h.block_no;
	memcpy(head.block_hash, block_hash, TL_HASH_LEN);
	head.tree_size = h.tree_size;
	memcpy(head.signer_key, h.has_next_key ? h.next_key : h.signer_key,
		   TL_ED25519_PK_LEN);
	heads_writer = tl_writer_open(RelationGetRelid(heads));
	tl_write_head(heads_writer, pb->origin, &head, have_head, snapshot);
	tl_writer_close(heads_writer);

	table_close(heads, NoLock);
	UnregisterSnapshot(snapshot);
}

static void
ledger_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			{
				/*
				 * Under a procedure's COMMIT the current owner is the
				 * portal's, which is being detached: seal under the top
				 * transaction's.
				 */
				ResourceOwner save_owner = CurrentResourceOwner;
				bool		appended = pending != NULL && pending->count > 0;

				CurrentResourceOwner = TopTransactionResourceOwner;
				/* first the peers' entries waiting for this transaction */
				tl_release_waiting_at_commit(appended ? pending->hashes : NULL,
											 appended ? pending->count : 0);
				if (pending != NULL)
				{
					if (pending->count > 0)
						seal_pending_block();
					tl_writer_close(pending->entries);
				}
				CurrentResourceOwner = save_owner;
			}
			pending = NULL;
			break;
		case XACT_EVENT_PRE_PREPARE:
			tl_release_waiting_at_prepare();
			if (pending != NULL && pending->count > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that appended ledger entries"),
						 errdetail("Blocks are sealed and signed at commit.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* memory went with TopTransactionContext, resources with the owner */
			pending = NULL;
			break;
		default:
			break;
	}
}

/*
 * A savepoint rolling back takes its entries with it.  Everything appended
 * since the savepoint began belongs to it or to its (higher-numbered)
 * children, so those entries are exactly the tail whose subtransaction ids
 * are not below its own: drop that tail, and the numbering rewinds.
 */
static void
ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB || pending == NULL)
		return;
	while (pending->count > 0 && pending->subids[pending->count - 1] >= mySubid)
		pending->count--;
	if (pending->rotation_at >= pending->count)
		pending->rotation_at = -1;
	if (pending->count == 0)
		pending->genesis = false;
}

/* ----------------------------------------------------------------
 * SQL: appending
 * ----------------------------------------------------------------
 */

/*
 * The local node, or an error saying how to become one.
 */
char *
tl_require_local_node(void)
{
	char	   *node = tl_local_node();

	if (node == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database is not a tracelink node yet"),
				 errhint("Run SELECT tracelink.init_node('name') first.")));
	return node;
}

/*
 * tracelink.append(kind text, payload jsonb, deps bytea[] default '{}')
 */
Datum
tl_append(PG_FUNCTION_ARGS)
{
	char	   *kind;
	Jsonb	   *payload;
	StringInfoData canon;
	uint8	   *deps = NULL;
	int			ndeps = 0;
	uint8		hash[TL_HASH_LEN];
	char	   *origin;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind and payload of a ledger entry must not be null")));
	kind = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!tl_valid_kind(kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid entry kind \"%s\"", kind),
				 errdetail("A kind is up to 63 characters: lowercase words of letters, digits and underscores, separated by dots, e.g. \"acme.scan\".")));
	if (strncmp(kind, "tl.", 3) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("entry kind \"%s\" is reserved", kind),
				 errdetail("Kinds starting with \"tl.\" are written only by tracelink's own functions.")));
	payload = PG_GETARG_JSONB_P(1);
	if (!PG_ARGISNULL(2))
		ndeps = tl_hash_array(PG_GETARG_ARRAYTYPE_P(2), "deps", &deps);

	origin = tl_require_local_node();
	initStringInfo(&canon);
	jcs_serialize_jsonb(&canon, payload);
	tl_ledger_append(origin, kind, canon.data, canon.len, deps, ndeps, NULL, 0, hash);
	PG_RETURN_BYTEA_P(tl_bytea_from(hash, TL_HASH_LEN));
}

/*
 * tracelink.entry_preimage(kind, payload, deps, origin, tx, seq, audience)
 */
Datum
tl_entry_preimage_sql(PG_FUNCTION_ARGS)
{
	StringInfoData canon;
	StringInfoData out;
	uint8	   *deps = NULL;
	int			ndeps = 0;
	const char **audience = NULL;
	int			naudience = 0;
	int			i;

	/* deps NULL means none, as in the ledger */
	for (i = 0; i < 6; i++)
		if (i != 2 && PG_ARGISNULL(i))
			PG_RETURN_NULL();
	initStringInfo(&canon);
	jcs_serialize_jsonb(&canon, PG_GETARG_JSONB_P(1));
	if (!PG_ARGISNULL(2))
		ndeps = tl_hash_array(PG_GETARG_ARRAYTYPE_P(2), "deps", &deps);
	if (ndeps > 1)
		qsort(deps, ndeps, TL_HASH_LEN, hash_cmp);
	if (!PG_ARGISNULL(6))
	{
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &naudience);
		audience = palloc(sizeof(char *) * Max(naudience, 1));
		for (i = 0; i < naudience; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("audience must not contain NULL")));
			audience[i] = TextDatumGetCString(elems[i]);
		}
	}
	initStringInfo(&out);
	tl_entry_preimage(&out, text_to_cstring(PG_GETARG_TEXT_PP(3)),
					  PG_GETARG_INT64(4), PG_GETARG_INT32(5),
					  text_to_cstring(PG_GETARG_TEXT_PP(0)), canon.data, canon.len,
					  deps, ndeps, audience, naudience);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

/* ----------------------------------------------------------------
 * SQL: node identity
 * ----------------------------------------------------------------
 */

/*
 * tracelink.init_node(name text) returns bytea
 */
Datum
tl_init_node(PG_FUNCTION_ARGS)
{
	int			spi_nest;
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *existing;
	uint8		pk[TL_ED25519_PK_LEN];
	char		pkhex[2 * TL_ED25519_PK_LEN + 1];
	Oid			argtypes[2] = {TEXTOID, BYTEAOID};
	Datum		args[2];
	StringInfoData payload;
	uint8		hash[TL_HASH_LEN];
	PendingBlock *pb;
	Oid			save_userid;
	int			save_sec_context;

	if (!tl_valid_node_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid node name \"%s\"", name),
				 errdetail("A node name is 1 to 63 characters: a lowercase letter, then lowercase letters, digits or underscores.")));
	existing = tl_local_node();
	if (existing != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("this database is already node \"%s\"", existing)));

	/*
	 * tracelink_admin may call init_node() but holds no write privilege on
	 * tracelink's tables: the node row is written as the extension's owner.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(tl_extension_owner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	spi_nest = tl_spi_connect();
	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT 1 FROM tracelink.nodes WHERE name = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up node \"%s\"", name);
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("node name \"%s\" is already used by a peer", name)));

	/*
	 * A chain this database holds of a node it does not know is a local
	 * node's chain whose tracelink.nodes row is missing (a partial restore,
	 * or rows written behind tracelink's back): a new genesis would fork it
	 * (same name) or leave it orphaned (another name).
	 */
	if (SPI_execute_with_args("SELECT o.origin, o.origin OPERATOR(pg_catalog.=) $1"
							  "  FROM (SELECT origin FROM tracelink.ledger_blocks"
							  "        UNION SELECT origin FROM tracelink.ledger_entries"
							  "        UNION SELECT origin FROM tracelink.ledger_heads) o"
							  " WHERE NOT EXISTS (SELECT 1 FROM tracelink.nodes n"
							  "                    WHERE n.name OPERATOR(pg_catalog.=) o.origin)"
							  " ORDER BY 2 DESC LIMIT 1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for chains of unknown nodes");
	if (SPI_processed > 0)
	{
		bool		isnull;
		char	   *origin = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("the ledger already holds the chain of node \"%s\"", name),
					 errdetail("A second genesis block would fork that chain."),
					 errhint("The database was restored without its tracelink.nodes rows: restore the whole dump, then run CALL tracelink.finish_restore();.")));
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this database already holds the chain of node \"%s\", which is not a known node",
						origin),
				 errdetail("A node's chain without its tracelink.nodes row is left by a partial restore or by rows written behind tracelink's back."),
				 errhint("Restore the whole dump, then run CALL tracelink.finish_restore();.")));
	}

	tl_keys_create(name, pk);
	args[1] = PointerGetDatum(tl_bytea_from(pk, TL_ED25519_PK_LEN));
	if (SPI_execute_with_args("INSERT INTO tracelink.nodes (name, public_key, is_local) "
							  "VALUES ($1, $2, true)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not register node \"%s\"", name);
	tl_spi_finish(spi_nest);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	pb = pending_block(name);
	pb->genesis = true;
	memcpy(pb->genesis_key, pk, TL_ED25519_PK_LEN);

	tl_hex_encode(pk, TL_ED25519_PK_LEN, pkhex);
	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"node\":\"%s\",\"public_key\":\"%s\"}", name, pkhex);
	tl_ledger_append(name, "tl.genesis", payload.data, payload.len, NULL, 0, NULL, 0, hash);

	PG_RETURN_BYTEA_P(tl_bytea_from(pk, TL_ED25519_PK_LEN));
}

/*
 * tracelink.node_name() returns text
 */
Datum
tl_node_name(PG_FUNCTION_ARGS)
{
	char	   *node = tl_local_node();

	if (node == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(node));
}

/*
 * The key that signs the local node's next block: the head's (read with
 * `snapshot`), or for a node created in this transaction its genesis key.
 */
static bool
current_signer_key(const char *node, uint8 *key, Snapshot snapshot)
{
	Relation	heads;
	TlHead		head;
	bool		found;

	if (pending != NULL && pending->genesis)
	{
		memcpy(key, pending->genesis_key, TL_ED25519_PK_LEN);
		return true;
	}
	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
	found = tl_read_head(heads, snapshot, node, &head);
	table_close(heads, AccessShareLock);
	if (found)
		memcpy(key, head.signer_key, TL_ED25519_PK_LEN);
	return found;
}

/*
 * tracelink.node_public_key() returns bytea
 */
Datum
tl_node_public_key(PG_FUNCTION_ARGS)
{
	char	   *node = tl_local_node();
	uint8		key[TL_ED25519_PK_LEN];

	if (node == NULL || !current_signer_key(node, key, GetActiveSnapshot()))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(tl_bytea_from(key, TL_ED25519_PK_LEN));
}

/*
 * tracelink._check_signing_key() returns bytea
 *
 * Signs a test message with the key file of the local node and checks the
 * signature against the key the node's ledger head names (the key of its
 * next block); returns that public key.  Raises what signing at commit
 * would raise: key file missing, or holding another key.
 */
Datum
tl_check_signing_key(PG_FUNCTION_ARGS)
{
	static const char message[] = "tracelink: check of the node key after a restore";
	char	   *node = tl_require_local_node();
	Relation	heads;
	TlHead		head;
	bool		found;
	uint8		signature[TL_ED25519_SIG_LEN];

	heads = table_open(tl_relid("ledger_heads"), AccessShareLock);
	found = tl_read_head(heads, GetActiveSnapshot(), node, &head);
	table_close(heads, AccessShareLock);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("node \"%s\" has no ledger here", node),
				 errdetail("tracelink.ledger_heads has no row for this node: its chain was not restored."),
				 errhint("Restore the whole dump, tracelink's ledger tables included.")));
	tl_keys_sign(node, head.signer_key, (const uint8 *) message, sizeof(message) - 1,
				 signature);
	if (!tl_ed25519_verify(head.signer_key, (const uint8 *) message, sizeof(message) - 1,
						   signature))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the key file of node \"%s\" does not sign with the key its ledger names",
						node)));
	PG_RETURN_BYTEA_P(tl_bytea_from(head.signer_key, TL_ED25519_PK_LEN));
}

/*
 * tracelink.rotate_key() returns bytea
 */
Datum
tl_rotate_key(PG_FUNCTION_ARGS)
{
	char	   *node = tl_require_local_node();
	uint8		current_key[TL_ED25519_PK_LEN];
	uint8		new_key[TL_ED25519_PK_LEN];
	char		hex[2 * TL_ED25519_PK_LEN + 1];
	StringInfoData payload;
	uint8		hash[TL_HASH_LEN];
	PendingBlock *pb;
	Snapshot	snapshot;
	bool		found;

	/*
	 * One rotation at a time, to the end of this transaction; and while the
	 * key files are settled against the current head (keys.c), no block is
	 * sealed.  The head is read after the locks are taken.
	 */
	tl_require_apply_lock_first("tracelink.rotate_key()");
	tl_lock_extension(TL_LOCK_ROTATION);
	tl_lock_extension(TL_LOCK_SEAL);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	found = current_signer_key(node, current_key, snapshot);
	UnregisterSnapshot(snapshot);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("node \"%s\" has no genesis block", node),
				 errdetail("tracelink.ledger_heads has no row for this node.")));
	tl_keys_begin_rotation(node, current_key, new_key);
	tl_unlock_extension(TL_LOCK_SEAL);
	tl_hex_encode(new_key, TL_ED25519_PK_LEN, hex);
	initStringInfo(&payload);
	appendStringInfo(&payload, "{\"public_key\":\"%s\"}", hex);
	tl_ledger_append(node, "tl.key_rotation", payload.data, payload.len,
					 NULL, 0, NULL, 0, hash);
	pb = pending_block(node);
	pb->rotation_at = pb->count - 1;
	memcpy(pb->next_key, new_key, TL_ED25519_PK_LEN);
	PG_RETURN_BYTEA_P(tl_bytea_from(new_key, TL_ED25519_PK_LEN));
}

/* ----------------------------------------------------------------
 * Triggers guarding the ledger tables
 * ----------------------------------------------------------------
 */

/*
 * BEFORE UPDATE/DELETE (row) and TRUNCATE (statement): always refused.
 */
Datum
tl_refuse_ledger_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "tl_refuse_ledger_change: not called by trigger manager");
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		op = "DELETE";
	else
		op = "TRUNCATE";
	ereport(ERROR,
			(errcode(ERRCODE_TL_APPEND_ONLY),
			 errmsg("ledger table \"%s\" is append-only",
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s is refused: the ledger only grows, through tracelink's functions.", op)));
	PG_RETURN_NULL();
}
